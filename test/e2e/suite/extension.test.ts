// The extension inside a real extension host, driven through its API and commands: activation cost,
// the sidecar's lifecycle (ready, restart, crash recovery), search, hover, find similar, reindex
// with progress and cancellation, the Index Status view, the default keybinding.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SemsearchApi } from '../../../extension/main';
import type { FindSimilarResult, IndexProgress, StatusResult } from '../../../server/protocol';

const EXTENSION_ID = 'semsearch.semsearch';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

function folder(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'no workspace folder open');
  return f.uri.fsPath;
}

async function ready(api: SemsearchApi): Promise<StatusResult> {
  return until('the index to be ready', 240_000, async () => {
    if (api.ctx.state !== 'running') return undefined;
    const s = await api.ctx.refreshStatus().catch(() => undefined);
    if (s?.health === 'error') throw new Error(`sidecar reports an error: ${s.message}`);
    return s && s.health === 'ok' && !s.partial && s.folders.some((f) => f.chunks > 0) ? s : undefined;
  });
}

/** The text of each part of a tool result (LanguageModelTextPart only). */
function textParts(r: vscode.LanguageModelToolResult): string[] {
  return r.content.filter((p): p is vscode.LanguageModelTextPart => p instanceof vscode.LanguageModelTextPart).map((p) => p.value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function lineOf(file: string, re: RegExp): number {
  return (
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .findIndex((l) => re.test(l)) + 1
  );
}

describe('Semantic Search in the extension host', function () {
  let api: SemsearchApi;

  before(async function () {
    const ext = vscode.extensions.getExtension<SemsearchApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed`);
    api = ext.isActive ? ext.exports : await ext.activate();
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  });

  it('activates in under 50 ms (bundle load + activate())', () => {
    const a = api.activation;
    console.log(`activation: ${a.totalMs} ms (load ${a.loadMs} ms, activate() ${a.activateMs} ms)`);
    assert.ok(a.totalMs < 50, `activation took ${a.totalMs} ms`);
  });

  it('registers every command', async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    for (const c of api.commands) assert.ok(all.has(c), c);
  });

  it('starts the sidecar and builds the index of the workspace', async () => {
    const t0 = Date.now();
    const s = await ready(api);
    console.log(`index ready after ${Date.now() - t0} ms: ${JSON.stringify(s.folders.map((f) => [f.files, f.chunks]))}, model ${s.model?.id}`);
    assert.equal(s.folders[0].root, folder());
    assert.ok(s.folders[0].files >= 6, `${s.folders[0].files} files`);
    assert.match(api.statusBar.text, /\d+ files · \d+ chunks/);
  });

  it('loads every native library of the sidecar from the package, none from the repository', function () {
    if (process.platform !== 'linux') this.skip();
    const pid = api.ctx.running().pid;
    assert.ok(pid);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath;
    const repo = path.resolve(__dirname, '..', '..', '..', '..');
    const mapped = [
      ...new Set(
        fs
          .readFileSync(`/proc/${pid}/maps`, 'utf8')
          .split('\n')
          .map((l) => l.split(/\s+/).slice(5).join(' '))
          .filter((p) => p.startsWith('/')),
      ),
    ];
    const ours = mapped.filter((p) => /semsearch\.node|node_sqlite3|libmlx|mlx_cpu\.libs|openblas|gfortran|quadmath/.test(p));
    console.log(`sidecar native libraries:\n  ${ours.join('\n  ')}`);
    assert.ok(
      ours.some((p) => p.endsWith('semsearch.node')),
      'semsearch.node is not loaded',
    );
    assert.ok(
      ours.some((p) => p.endsWith('node_sqlite3.node')),
      'node_sqlite3.node is not loaded',
    );
    assert.ok(
      ours.some((p) => p.includes('libmlx')),
      'libmlx is not loaded',
    );
    for (const p of ours) assert.ok(p.startsWith(ext + path.sep), `${p} is not inside ${ext}`);
    // The model folder is the one thing the e2e settings take from the repository.
    const fromRepo = mapped.filter((p) => p.startsWith(repo + path.sep) && !p.startsWith(path.join(repo, '.models') + path.sep));
    assert.deepEqual(fromRepo, []);
  });

  it('answers a search with the expected function first', async () => {
    const r = await api.ctx.running().search({ query: 'retry a call with exponential backoff and jitter' });
    console.log(
      `search: ${r.hits
        .slice(0, 3)
        .map((h) => `${h.symbol}@${h.path}:${h.startLine}`)
        .join(', ')} in ${r.timings.totalMs.toFixed(1)} ms`,
    );
    assert.equal(r.hits[0]?.symbol, 'retry_with_backoff');
    assert.equal(r.partial, false);
  });

  it('applies lang: filters', async () => {
    const r = await api.ctx.running().search({ query: 'lang:go cache eviction' });
    assert.ok(r.hits.length > 0);
    for (const h of r.hits) assert.equal(h.language, 'go', `${h.path}`);
  });

  it('lists its language model tools in vscode.lm.tools', () => {
    const ours = vscode.lm.tools.filter((t) => t.name.startsWith('semsearch_'));
    assert.deepEqual(ours.map((t) => t.name).sort(), ['semsearch_findSimilar', 'semsearch_search']);
    const search = ours.find((t) => t.name === 'semsearch_search')!;
    assert.deepEqual((search.inputSchema as { required?: string[] }).required, ['query']);
    assert.match(search.description, /by meaning/);
    assert.ok(search.tags.includes('code-search'));
  });

  it('answers semsearch_search through vscode.lm.invokeTool', async () => {
    const t0 = Date.now();
    const r = await vscode.lm.invokeTool('semsearch_search', {
      input: { query: 'retry a call with exponential backoff and jitter', top: 3 },
      toolInvocationToken: undefined,
    });
    const parts = textParts(r);
    console.log(`lm tool search (${Date.now() - t0} ms):\n${parts.join('\n---\n')}`);
    assert.equal(parts.length, r.content.length, 'every part is a LanguageModelTextPart');
    assert.match(parts[0], /^3 results for "retry a call with exponential backoff and jitter" \(hybrid\), best first:$/);
    const file = path.join(folder(), 'src', 'retry.py');
    const line = lineOf(file, /def retry_with_backoff/);
    const m = new RegExp(`^${escapeRegExp(file)}:(\\d+)-(\\d+) retry_with_backoff \\(function, python\\)\n\`\`\`python\ndef retry_with_backoff`).exec(parts[1]);
    assert.ok(m, `first result: ${parts[1]}`);
    assert.ok(+m[1] <= line && line <= +m[2], `lines ${m[1]}-${m[2]} do not cover ${line}`);
  });

  it('applies filters written inside the semsearch_search query', async () => {
    const r = await vscode.lm.invokeTool('semsearch_search', { input: { query: 'lang:go cache eviction', mode: 'keyword' }, toolInvocationToken: undefined });
    const hits = textParts(r).slice(1);
    assert.ok(hits.length > 0);
    for (const h of hits) assert.match(h.split('\n')[0], /\.go:\d+-\d+ .*\(\w+, go\)$/);
  });

  it('answers semsearch_findSimilar through vscode.lm.invokeTool', async () => {
    const file = path.join(folder(), 'src', 'geo.ts');
    const line = lineOf(file, /export function haversineDistance/);
    const r = await vscode.lm.invokeTool('semsearch_findSimilar', { input: { path: 'src/geo.ts', line, top: 3 }, toolInvocationToken: undefined });
    const parts = textParts(r);
    console.log(`lm tool findSimilar:\n${parts.join('\n---\n')}`);
    assert.match(parts[0], new RegExp(`^3 results similar to ${escapeRegExp(file)}:\\d+-\\d+ haversineDistance, most similar first:$`));
    const heads = parts.slice(1).map((p) => p.split('\n')[0]);
    assert.ok(
      heads.some((h) => h.startsWith(`${path.join(folder(), 'src', 'distance.py')}:`) && h.includes(' great_circle_km (function, python)')),
      heads.join('\n'),
    );
    assert.ok(!heads.some((h) => h.includes(' haversineDistance ')), 'the source itself is listed');
  });

  it('reports bad input and unknown files from the language model tools as errors', async () => {
    await assert.rejects(
      Promise.resolve(vscode.lm.invokeTool('semsearch_findSimilar', { input: { path: 'src/nope.ts', line: 1 }, toolInvocationToken: undefined })),
      /src\/nope\.ts: no such file in the workspace/,
    );
    await assert.rejects(
      Promise.resolve(vscode.lm.invokeTool('semsearch_search', { input: { query: 'x', mode: 'fuzzy' }, toolInvocationToken: undefined })),
      /mode must be one of hybrid, semantic, keyword/,
    );
  });

  it('offers "Find similar code" in the hover of an indexed function', async () => {
    const file = path.join(folder(), 'src', 'geo.ts');
    const line = lineOf(file, /export function haversineDistance/);
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const col = doc.lineAt(line - 1).text.indexOf('haversineDistance') + 2;
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(line - 1, col));
    const ours = hovers
      .flatMap((h) => h.contents)
      .map((c) => (typeof c === 'string' ? c : c.value))
      .find((v) => v.includes('Find similar code'));
    assert.ok(ours, `no "Find similar code" hover among: ${JSON.stringify(hovers.map((h) => h.contents))}`);
    assert.match(ours, /command:semsearch\.findSimilar\?/);
    const args = JSON.parse(decodeURIComponent(/command:semsearch\.findSimilar\?([^ )]+)/.exec(ours)![1])) as [{ file: string; line: number }];
    assert.equal(args[0].file, file);
    assert.equal(args[0].line, line);
  });

  it('shows no hover on a blank line', async () => {
    const file = path.join(folder(), 'src', 'geo.ts');
    const doc = await vscode.workspace.openTextDocument(file);
    const blank = doc
      .getText()
      .split('\n')
      .findIndex((l) => l.trim() === '');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(blank, 0));
    const ours = hovers
      .flatMap((h) => h.contents)
      .map((c) => (typeof c === 'string' ? c : c.value))
      .filter((v) => v.includes('Find similar code'));
    assert.equal(ours.length, 0);
  });

  it('finds similar code from {file, line} in one picker', async () => {
    const file = path.join(folder(), 'src', 'geo.ts');
    const line = lineOf(file, /export function haversineDistance/);
    const r = await vscode.commands.executeCommand<FindSimilarResult | undefined>('semsearch.findSimilar', { file, line });
    assert.ok(r, 'no answer');
    const top = r.hits.slice(0, 3).map((h) => h.symbol);
    console.log(`similar to haversineDistance: ${top.join(', ')}`);
    assert.ok(top.includes('great_circle_km'), `top 3: ${top.join(', ')}`);
    assert.ok(!r.hits.some((h) => h.symbol === 'haversineDistance' && h.path === 'src/geo.ts'), 'the source itself is listed');
    const shown = api.views.similar?.shown;
    assert.match(shown?.title ?? '', /^Similar to haversineDistance/);
    assert.equal(shown?.busy, false);
    assert.equal(shown?.labels.length, r.hits.length);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  });

  it('finds similar code from a selection in an unsaved editor (sends the text)', async () => {
    const file = path.join(folder(), 'src', 'checksum.js');
    const doc = await vscode.workspace.openTextDocument(file);
    const editor = await vscode.window.showTextDocument(doc);
    const start = lineOf(file, /function formatBytes/) - 1;
    await editor.edit((e) => e.insert(new vscode.Position(start, 0), '// edited\n'));
    assert.ok(doc.isDirty);
    editor.selection = new vscode.Selection(start + 1, 0, start + 6, 0);
    const r = await vscode.commands.executeCommand<FindSimilarResult | undefined>('semsearch.findSimilar');
    assert.match(api.views.similar?.shown.title ?? '', /Similar to/);
    assert.ok(r && r.hits.length > 0);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('reindexes with progress reports', async () => {
    const seen: IndexProgress[] = [];
    const sub = api.ctx.onProgress((p) => seen.push(p));
    try {
      const t0 = Date.now();
      await vscode.commands.executeCommand('semsearch.reindex');
      console.log(`reindex: ${Date.now() - t0} ms, ${seen.length} progress reports, phases ${[...new Set(seen.map((p) => p.phase))].join(',')}`);
    } finally {
      sub.dispose();
    }
    assert.ok(seen.length > 0, 'no semsearch/progress notification');
    const s = await ready(api);
    assert.ok(s.folders[0].chunks > 0);
  });

  it('rebuilds the index from scratch', async () => {
    const seen: IndexProgress[] = [];
    const sub = api.ctx.onProgress((p) => seen.push(p));
    try {
      const t0 = Date.now();
      // The command reports a failure as a notification; the status below tells.
      await vscode.commands.executeCommand('semsearch.rebuildIndex');
      console.log(`rebuild: ${Date.now() - t0} ms, ${seen.length} progress reports, last ${JSON.stringify(seen[seen.length - 1])}`);
    } finally {
      sub.dispose();
    }
    assert.ok(
      seen.some((p) => p.phase === 'embed'),
      'no embed progress during a rebuild',
    );
    const s = await ready(api);
    assert.equal(s.health, 'ok', s.message);
    assert.ok(s.folders[0].chunksWithVectors > 0);
  });

  it('indexes a new file through the file watcher', async () => {
    const file = vscode.Uri.file(path.join(folder(), 'src', 'temperature.go'));
    await vscode.workspace.fs.writeFile(
      file,
      Buffer.from(
        'package units\n\n// CelsiusToFahrenheit converts a temperature in degrees Celsius to degrees Fahrenheit.\nfunc CelsiusToFahrenheit(c float64) float64 {\n\treturn c*9/5 + 32\n}\n',
      ),
    );
    const t0 = Date.now();
    const hit = await until('the new function in search results', 60_000, async () => {
      const r = await api.ctx.running().search({ query: 'CelsiusToFahrenheit', mode: 'keyword' });
      return r.hits.find((h) => h.symbol === 'CelsiusToFahrenheit');
    });
    console.log(`watcher: new file searchable after ${Date.now() - t0} ms (${hit.path}:${hit.startLine})`);
    await vscode.workspace.fs.delete(file);
    await until('the deleted file to leave the index', 60_000, async () => {
      const r = await api.ctx.running().search({ query: 'CelsiusToFahrenheit', mode: 'keyword' });
      return !r.hits.some((h) => h.symbol === 'CelsiusToFahrenheit');
    });
  });

  it('cancels a reindex through $/cancelRequest', async () => {
    const cts = new vscode.CancellationTokenSource();
    const pending = api.ctx.running().reindex({ full: true }, cts.token);
    // At once: on this small workspace a rebuild takes tens of milliseconds.
    cts.cancel();
    const outcome = await pending.then(
      (r) => (r.cancelled ? 'cancelled-result' : 'completed'),
      (e: { code?: number }) => (e.code === -32800 ? 'cancelled-error' : `error ${JSON.stringify(e)}`),
    );
    console.log(`reindex cancel: ${outcome}`);
    assert.ok(['cancelled-result', 'cancelled-error'].includes(outcome), outcome);
    // The index recovers with a reconcile.
    await api.ctx.running().reindex({});
    await ready(api);
  });

  it('reveals the Index Status view', async () => {
    await vscode.commands.executeCommand('semsearch.showStatus');
    const rows = api.statusTree.nodes;
    console.log(`index status: ${rows.map((r) => `${r.label}: ${r.description ?? ''}`).join(' | ')}`);
    assert.equal(rows.find((r) => r.id === 'health')?.label, 'Health: ok');
    const deep = rows.find((r) => r.id === 'deep');
    assert.equal(deep?.description, 'ready');
    assert.match(deep?.children?.find((c) => c.id === 'deep/model')?.description ?? '', /\S+ \(\w+, \w+, \d+-d\)/);
    assert.ok(rows.some((r) => r.id === `folder:${folder()}`));
  });

  it('binds Search Workspace to a key that no default keybinding uses', async () => {
    await vscode.commands.executeCommand('workbench.action.openDefaultKeybindingsFile');
    const doc = await until('the default keybindings', 10_000, () => {
      const d = vscode.window.activeTextEditor?.document;
      return d?.uri.path.endsWith('keybindings.json') ? d : undefined;
    });
    // JSON with comments: one binding per object, keys written as VS Code normalises them.
    const entries = [...doc.getText().matchAll(/"key":\s*"([^"]+)",\s*"command":\s*"([^"]+)"/g)].map((m) => ({ key: m[1], command: m[2] }));
    assert.ok(entries.length > 500, `only ${entries.length} default keybindings read`);
    const norm = (k: string): string =>
      k
        .split(' ')
        .map((part) => part.split('+').sort().join('+'))
        .join(' ');
    const ours = norm('ctrl+shift+alt+f');
    const same = entries.filter((e) => norm(e.key) === ours || norm(e.key).startsWith(`${ours} `));
    console.log(`keybindings on ${ours}: ${JSON.stringify(same)} (of ${entries.length})`);
    assert.deepEqual(
      same.map((e) => e.command),
      ['semsearch.search'],
    );
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('restarts the sidecar on request', async () => {
    await vscode.commands.executeCommand('semsearch.restart');
    assert.equal(api.ctx.state, 'running');
    await ready(api);
  });

  it('restarts the sidecar after it crashes', async () => {
    const pid = api.ctx.running().pid;
    assert.ok(pid, 'no sidecar pid');
    const states: string[] = [];
    const sub = api.ctx.onDidChangeState((s) => states.push(s));
    try {
      process.kill(pid, 'SIGKILL');
      await until('the crash to be noticed', 10_000, () => states.includes('crashed'));
      await until('the sidecar to be back', 30_000, () => api.ctx.state === 'running');
    } finally {
      sub.dispose();
    }
    console.log(`crash recovery states: ${states.join(' → ')}`);
    assert.notEqual(api.ctx.running().pid, pid);
    const r = await api.ctx.running().search({ query: 'slugify a title' });
    assert.equal(r.hits[0]?.symbol, 'slugify');
  });
});
