// package.json's contributions against the code that implements them: settings against Settings and
// DEFAULT_SETTINGS (server/protocol.ts), commands against the command table of extension/commands.ts.
// Plain mocha: nothing here loads vscode.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, SETTING_KEYS, Settings, settingsFromSection } from '../../server/protocol';
import { REPO_ROOT } from '../support/paths';

interface Property {
  type: string;
  default: unknown;
  scope?: string;
  enum?: unknown[];
}
interface Manifest {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations?: string[]; description?: string } };
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    menus: Record<string, { command: string; when?: string }[]>;
    keybindings: { command: string; key: string; mac?: string; when?: string }[];
    viewsContainers: Record<string, { id: string; title: string; icon: string }[]>;
    views: Record<string, { id: string; name: string }[]>;
    configuration: { properties: Record<string, Property> };
  };
}

const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;
const props = manifest.contributes.configuration.properties;
/** Settings only the client reads (they are not part of the sidecar's Settings). */
const CLIENT_ONLY = ['semsearch.hover.enabled', 'semsearch.trace.server'];

describe('package.json configuration', () => {
  for (const [name, key] of Object.entries(SETTING_KEYS) as [keyof Settings, string][]) {
    it(`semsearch.${key} defaults to DEFAULT_SETTINGS.${name}`, () => {
      const p = props[`semsearch.${key}`];
      assert.ok(p, `package.json has no semsearch.${key}`);
      assert.deepEqual(p.default, DEFAULT_SETTINGS[name]);
      const value = DEFAULT_SETTINGS[name];
      const type = Array.isArray(value) ? 'array' : typeof value;
      assert.equal(p.type, type, `semsearch.${key} is declared ${p.type}, Settings.${name} is ${type}`);
      if (p.enum) assert.ok(p.enum.includes(p.default), `default of semsearch.${key} is not one of its enum values`);
    });
  }

  it('declares no setting that neither the sidecar nor the client reads', () => {
    const known = new Set([...Object.values(SETTING_KEYS).map((k) => `semsearch.${k}`), ...CLIENT_ONLY]);
    const unknown = Object.keys(props).filter((k) => !known.has(k));
    assert.deepEqual(unknown, []);
  });

  it('gives every setting an explicit scope', () => {
    const missing = Object.entries(props)
      .filter(([, p]) => !p.scope)
      .map(([k]) => k);
    assert.deepEqual(missing, []);
  });

  it('makes settings that point native code at files machine-scoped and restricted', () => {
    for (const key of ['semsearch.model', 'semsearch.device']) {
      assert.equal(props[key].scope, 'machine', key);
      assert.ok(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations?.includes(key), `${key} is not in restrictedConfigurations`);
    }
    assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.ok(manifest.capabilities.untrustedWorkspaces.description);
  });

  it('keeps engines.vscode at ^1.100.0 (code-server 4.100.3 runs the e2e tests)', () => {
    assert.equal(manifest.engines.vscode, '^1.100.0');
  });
});

describe('README settings table', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const table = /<!-- settings:[^>]*-->([\s\S]*?)<!-- \/settings -->/.exec(readme)?.[1] ?? '';
  const rows = new Map(
    [...table.matchAll(/^\| `(semsearch\.[\w.]+)` \| `([^`]*)` \| (\w[\w-]*) \|/gm)].map((m) => [m[1], { value: JSON.parse(m[2]) as unknown, scope: m[3] }]),
  );

  it('lists every contributed setting once, with package.json default and scope', () => {
    assert.ok(rows.size > 0, 'README.md has no settings table between <!-- settings: --> and <!-- /settings -->');
    assert.deepEqual([...rows.keys()].sort(), Object.keys(props).sort());
    for (const [key, row] of rows) {
      assert.deepEqual(row.value, props[key].default, `README: ${key}`);
      assert.equal(row.scope, props[key].scope, `README: scope of ${key}`);
    }
  });

  it('gives the sidecar settings the defaults of DEFAULT_SETTINGS', () => {
    for (const [name, key] of Object.entries(SETTING_KEYS) as [keyof Settings, string][]) {
      assert.deepEqual(rows.get(`semsearch.${key}`)?.value, DEFAULT_SETTINGS[name], `README: semsearch.${key}`);
    }
  });
});

describe('settingsFromSection', () => {
  it('returns the defaults for an empty or missing section', () => {
    assert.deepEqual(settingsFromSection(undefined), DEFAULT_SETTINGS);
    assert.deepEqual(settingsFromSection({}), DEFAULT_SETTINGS);
  });

  it('reads nested keys and ignores mistyped values', () => {
    const s = settingsFromSection({ model: '/m', exclude: ['**/gen/**', 3], search: { rrfK: 10, resultCount: 'many', defaultMode: 'keyword' } });
    assert.equal(s.model, '/m');
    assert.equal(s.rrfK, 10);
    assert.equal(s.defaultMode, 'keyword');
    assert.equal(s.resultCount, DEFAULT_SETTINGS.resultCount);
    assert.deepEqual(s.exclude, DEFAULT_SETTINGS.exclude);
  });

  it('reads what package.json declares as defaults back as DEFAULT_SETTINGS', () => {
    // Build the section VS Code would send with every setting at its declared default.
    const section: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(props)) {
      const parts = k.split('.').slice(1);
      let o = section;
      for (const part of parts.slice(0, -1)) o = (o[part] ??= {}) as Record<string, unknown>;
      o[parts[parts.length - 1]] = p.default;
    }
    assert.deepEqual(settingsFromSection(section), DEFAULT_SETTINGS);
  });
});

describe('package.json commands', () => {
  const source = fs.readFileSync(path.join(REPO_ROOT, 'extension', 'commands.ts'), 'utf8');
  const table = source.slice(source.indexOf('export const COMMANDS'), source.indexOf('};', source.indexOf('export const COMMANDS')));
  const implemented = new Set([...table.matchAll(/'(semsearch\.[A-Za-z]+)'\s*:/g)].map((m) => m[1]));
  const contributed = manifest.contributes.commands.map((c) => c.command);

  it('contributes every command the extension implements, and no other', () => {
    assert.deepEqual([...contributed].sort(), [...implemented].sort());
  });

  it('puts every command in the "Semantic Search" category', () => {
    for (const c of manifest.contributes.commands) assert.equal(c.category, 'Semantic Search', c.command);
  });

  it('names only contributed commands in menus', () => {
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const item of items) assert.ok(contributed.includes(item.command), `${menu}: ${item.command}`);
    }
  });

  it('activates cheaply: on startup finished (commands and views activate implicitly)', () => {
    assert.deepEqual(manifest.activationEvents, ['onStartupFinished']);
    assert.equal(manifest.main, './out/extension.js');
  });
});

describe('package.json views and keybindings', () => {
  const c = manifest.contributes;
  const containers = new Set(Object.values(c.viewsContainers).flatMap((list) => list.map((v) => v.id)));
  const views = Object.entries(c.views).flatMap(([container, list]) => list.map((v) => ({ container, ...v })));

  it('puts the results and the Index Status view in the Semantic Search container', () => {
    assert.deepEqual(c.viewsContainers.activitybar, [{ id: 'semsearch', title: 'Semantic Search', icon: '$(telescope)' }]);
    assert.deepEqual(
      views.map((v) => `${v.container}/${v.id}`),
      ['semsearch/semsearch.results', 'semsearch/semsearch.indexStatus'],
    );
    for (const v of views) assert.ok(containers.has(v.container), `${v.id} is in the undeclared container ${v.container}`);
  });

  it('names only contributed views in view/title menus', () => {
    const ids = new Set(views.map((v) => v.id));
    for (const item of c.menus['view/title'] ?? []) {
      const m = /view == ([\w.]+)/.exec(item.when ?? '');
      assert.ok(m && ids.has(m[1]), `${item.command}: ${item.when}`);
    }
  });

  it('binds Search Workspace to ctrl+shift+alt+f (cmd+shift+alt+f on macOS), nothing else', () => {
    assert.deepEqual(c.keybindings, [{ command: 'semsearch.search', key: 'ctrl+shift+alt+f', mac: 'cmd+shift+alt+f' }]);
  });
});
