// What the status bar item and the Index Status view say in each state: the sidecar's, and the two
// embedding tiers' (a static-only pass, the deep tier filling in with its rate and time left, both
// complete, the deep tier off by setting, the transformer failed to load). extension/views/
// statusView.ts and statusNodes.ts have no vscode import.
import { strict as assert } from 'node:assert';
import type { FolderStatus, IndexProgress, StatusResult } from '../../server/protocol';
import { statusNodes, StatusNode, ago } from '../../extension/views/statusNodes';
import { statusView } from '../../extension/views/statusView';

const MODEL = { id: 'sentence-transformers/all-MiniLM-L6-v2', device: 'cpu', dtype: 'float32', dim: 384 };
const STATIC = { id: 'semsearch/static-code-256', dim: 256 };

function folder(files: number, chunks: number, withVectors: number, withStatic: number | null = null): FolderStatus {
  return {
    root: '/w',
    indexPath: '/s/index.db',
    files,
    chunks,
    chunksWithVectors: withVectors,
    chunksWithStatic: withStatic,
    skippedByReason: {},
    lastIndexed: null,
  };
}

/** A status of one folder without a static tier (an index from before the tiers). */
function status(over: Partial<StatusResult> = {}, files = 12, chunks = 40, withVectors = 40): StatusResult {
  return { health: 'ok', message: '', model: MODEL, staticModel: null, tiers: 'full', partial: false, folders: [folder(files, chunks, withVectors)], ...over };
}

/** A status of one folder with both tiers. */
function tiered(over: Partial<StatusResult>, files: number, chunks: number, withVectors: number, withStatic: number): StatusResult {
  return {
    health: 'ok',
    message: 'ready',
    model: MODEL,
    staticModel: STATIC,
    tiers: 'full',
    partial: withVectors < chunks || withStatic < chunks,
    folders: [folder(files, chunks, withVectors, withStatic)],
    ...over,
  };
}

const progress: IndexProgress = { phase: 'chunk', filesSeen: 900, filesIndexed: 100, filesSkipped: 20, chunks: 300, chunksEmbedded: 0, chunksPending: 300 };
const deepRun: IndexProgress = {
  phase: 'embed',
  filesSeen: 900,
  filesIndexed: 900,
  filesSkipped: 0,
  chunks: 0,
  chunksEmbedded: 120,
  chunksPending: 9880,
  transformer: true,
  staticPending: 0,
  chunksPerSecond: 4.1,
  etaSeconds: 2410,
};

describe('status bar text', () => {
  it('shows counts when the index is ready', () => {
    const v = statusView('running', '', status({}, 1234, 5678, 5678), undefined);
    assert.equal(v.text, '$(search) 1,234 files · 5,678 chunks');
    assert.equal(v.severity, 'ok');
    assert.equal(v.command, 'semsearch.showStatus');
  });

  it('shows progress while indexing', () => {
    assert.match(statusView('running', '', status({ health: 'indexing' }), progress).text, /indexing 120\/900 files$/);
    const embed: IndexProgress = { ...progress, phase: 'embed', chunksEmbedded: 50, chunksPending: 250 };
    assert.match(statusView('running', '', status({ health: 'indexing' }, 12, 300, 50), embed).text, /embedding 50\/300/);
  });

  it("shows a model download's progress", () => {
    const download: IndexProgress = {
      phase: 'download',
      filesSeen: 0,
      filesIndexed: 0,
      filesSkipped: 0,
      chunks: 0,
      chunksEmbedded: 0,
      chunksPending: 0,
      bytesDone: 45,
      bytesTotal: 100,
      message: 'downloading org/m: 45% of 90.9 MB (model.safetensors)',
    };
    const v = statusView('running', '', status({ health: 'indexing', model: null }), download);
    assert.equal(v.text, '$(cloud-download) Semantic Search: downloading model 45%');
    assert.match(v.tooltip, /org\/m: 45% of 90\.9 MB \(model\.safetensors\)/);
    // With the fast tier ready, semantic search already works while the deep model downloads.
    const ready = statusView('running', '', tiered({ health: 'indexing', model: null }, 10, 200, 0, 200), download);
    assert.equal(ready.text, '$(search) semantic (fast) ready · downloading deep model 45 %');
  });

  it('says "partial" while vectors are missing (no static tier)', () => {
    const v = statusView('running', '', status({ partial: true }, 10, 200, 50), undefined);
    assert.match(v.text, /partial \(25% embedded\)/);
    assert.equal(v.severity, 'warning');
  });

  it('offers the fix for an error (model folder) and keeps the message', () => {
    const v = statusView('running', '', status({ health: 'error', message: 'model: cannot read config.json', model: null }), undefined);
    assert.equal(v.severity, 'error');
    assert.equal(v.text, '$(error) Semantic Search: no model');
    assert.match(v.tooltip, /cannot read config\.json/);
    assert.match(v.tooltip, /command:semsearch\.selectModel/);
    assert.equal(v.command, 'semsearch.selectModel');
  });

  it('offers a reindex when indexing failed with a model loaded', () => {
    const v = statusView('running', '', status({ health: 'error', message: 'indexing failed: disk full' }), undefined);
    assert.match(v.tooltip, /command:semsearch\.reindex/);
    assert.doesNotMatch(v.tooltip, /selectModel/);
  });

  it('offers a restart when the sidecar is down', () => {
    for (const state of ['crashed', 'failed'] as const) {
      const v = statusView(state, 'stopped 6 times', undefined, undefined);
      assert.equal(v.command, 'semsearch.restart');
      assert.match(v.tooltip, /stopped 6 times/);
    }
    assert.equal(statusView('stopped', '', undefined, undefined).command, 'semsearch.restart');
    assert.match(statusView('starting', '', undefined, undefined).text, /starting/);
  });
});

describe('status bar text with two tiers', () => {
  it('says a static-only pass writes the fast tier', () => {
    const chunking: IndexProgress = { ...progress, transformer: false, staticPending: 300 };
    const s = tiered({ health: 'indexing', model: null, message: 'indexing' }, 120, 300, 0, 0);
    assert.equal(statusView('running', '', s, chunking).text, '$(sync~spin) Semantic Search: indexing 120/900 files (fast tier)');
    const embedding: IndexProgress = { ...progress, phase: 'embed', transformer: false, staticPending: 3000 };
    const v = statusView('running', '', tiered({ health: 'indexing', model: null }, 900, 5000, 0, 2000), embedding);
    assert.equal(v.text, '$(sync~spin) Semantic Search: fast tier 40 %');
    assert.match(v.tooltip, /Fast tier: 2,000 of 5,000 chunks \(40 %\), being written/);
    assert.match(v.tooltip, /Deep tier: loading the model/);
    assert.equal(v.severity, 'busy');
  });

  it('shows the fast tier ready and the deep tier filling in, with rate and time left', () => {
    for (const health of ['indexing', 'ok'] as const) {
      const v = statusView('running', '', tiered({ health }, 900, 15000, 5120, 15000), deepRun);
      assert.equal(v.text, '$(search) semantic (fast) ready · deep 34 %', health);
      assert.match(v.tooltip, /Deep tier: 5,120 of 15,000 chunks, 4\.1 chunks\/s, about 40 min left/);
      assert.match(v.tooltip, /Fast tier: 15,000 of 15,000 chunks \(complete\) · `semsearch\/static-code-256`/);
      assert.match(v.tooltip, /`sentence-transformers\/all-MiniLM-L6-v2` \(cpu, float32, 384-d\)/);
      assert.equal(v.command, 'semsearch.showStatus');
    }
    // Before a rate is known.
    const early = statusView('running', '', tiered({ health: 'indexing' }, 900, 15000, 0, 15000), {
      ...deepRun,
      chunksPerSecond: undefined,
      etaSeconds: undefined,
    });
    assert.equal(early.text, '$(search) semantic (fast) ready · deep 0 %');
    assert.match(early.tooltip, /Deep tier: 0 of 15,000 chunks, measuring the rate/);
  });

  it('says where the deep tier stands when no pass runs', () => {
    const v = statusView('running', '', tiered({}, 900, 15000, 5120, 15000), { ...deepRun, phase: 'done' });
    assert.equal(v.text, '$(search) semantic (fast) ready · deep 34 %');
    assert.match(v.tooltip, /Deep tier: 5,120 of 15,000 chunks \(34 %\), not running now/);
    assert.match(v.tooltip, /command:semsearch\.reindex/);
    assert.equal(v.severity, 'warning');
  });

  it('shows counts once both tiers are complete', () => {
    const v = statusView('running', '', tiered({}, 1234, 5678, 5678, 5678), { ...deepRun, phase: 'done' });
    assert.equal(v.text, '$(search) 1,234 files · 5,678 chunks');
    assert.equal(v.severity, 'ok');
    assert.match(v.tooltip, /Fast tier: 5,678 of 5,678 chunks \(complete\)/);
    assert.match(v.tooltip, /Deep tier: 5,678 of 5,678 chunks \(complete\)/);
  });

  it('says the deep tier is off by setting (semsearch.tiers: static)', () => {
    const v = statusView('running', '', tiered({ tiers: 'static', model: null, partial: false }, 1234, 5678, 0, 5678), undefined);
    assert.equal(v.text, '$(search) 1,234 files · 5,678 chunks (fast tier)');
    assert.equal(v.severity, 'ok');
    assert.match(v.tooltip, /Deep tier: off \(the `semsearch\.tiers` setting is `static`\)/);
    assert.match(v.tooltip, /command:workbench\.action\.openSettings\?%5B%22semsearch\.tiers%22%5D/);
  });

  it('says semantic search runs on the fast tier when the transformer failed to load, and why', () => {
    const why = 'The model could not be loaded: /m: missing config.json. Set "semsearch.model" to a model folder or Hub id.';
    for (const health of ['error', 'warning'] as const) {
      const v = statusView('running', '', tiered({ health, model: null, message: why }, 900, 15000, 0, 15000), undefined);
      assert.equal(v.text, '$(warning) Semantic Search: fast tier only (deep tier failed)', health);
      assert.equal(v.severity, 'warning');
      assert.match(v.tooltip, /^Semantic search runs on the fast tier only: the deep tier's model did not load\./);
      assert.ok(v.tooltip.includes(why));
      assert.match(v.tooltip, /command:semsearch\.selectModel/);
      assert.equal(v.command, 'semsearch.selectModel');
    }
  });

  it('ignores a progress report left over from a pass that ended', () => {
    const v = statusView('running', '', tiered({}, 1234, 5678, 5678, 5678), { ...progress, transformer: false });
    assert.equal(v.text, '$(search) 1,234 files · 5,678 chunks');
  });
});

function find(nodes: StatusNode[], id: string): StatusNode {
  for (const n of nodes) {
    if (n.id === id) return n;
    const below = n.children && findOrUndefined(n.children, id);
    if (below) return below;
  }
  throw new Error(`no row ${id} in ${JSON.stringify(nodes.map((n) => n.id))}`);
}
function findOrUndefined(nodes: StatusNode[], id: string): StatusNode | undefined {
  try {
    return find(nodes, id);
  } catch {
    return undefined;
  }
}

describe('Index Status view rows', () => {
  const NOW = Date.parse('2026-03-01T12:00:00Z');

  it('shows the sidecar state and its fixes when it is not running', () => {
    const rows = statusNodes('failed', 'stopped 6 times in 3 minutes', undefined, undefined, NOW);
    assert.equal(find(rows, 'sidecar').description, 'failed: stopped 6 times in 3 minutes');
    assert.equal(find(rows, 'restart').command?.command, 'semsearch.restart');
    assert.equal(find(rows, 'log').command?.command, 'semsearch.showLog');
  });

  it('lists folders with counts, both tiers, skipped files by reason and when last indexed', () => {
    const s = tiered({}, 1234, 5678, 5678, 5678);
    s.folders[0] = { ...s.folders[0], skippedByReason: { binary: 3, 'too large': 12, minified: 0 }, lastIndexed: '2026-03-01T11:55:00Z' };
    const rows = statusNodes('running', '', s, undefined, NOW);
    assert.equal(find(rows, 'health').label, 'Health: ok');
    assert.equal(find(rows, 'counts').description, '1,234 files · 5,678 chunks');
    assert.equal(find(rows, 'fast').description, 'ready');
    assert.equal(find(rows, 'deep').description, 'ready');
    assert.equal(find(rows, 'folder:/w').label, 'w');
    assert.equal(find(rows, 'folder:/w/fast').description, '5,678 (100 %)');
    const skipped = find(rows, 'folder:/w/skipped');
    assert.equal(skipped.description, '15 files');
    assert.deepEqual(
      skipped.children?.map((c) => `${c.label}: ${c.description}`),
      ['too large: 12', 'binary: 3'],
    );
    assert.equal(find(rows, 'folder:/w/last').description, '5 min ago');
    assert.equal(find(rows, 'folder:/w/index').description, '/s/index.db');
  });

  it('shows the deep tier filling in with rate and time left', () => {
    const rows = statusNodes('running', '', tiered({ health: 'indexing' }, 900, 15000, 5120, 15000), deepRun, NOW);
    assert.equal(find(rows, 'deep').description, '34 %, filling in');
    assert.equal(find(rows, 'deep/chunks').description, '5,120 of 15,000 (34 %)');
    assert.equal(find(rows, 'deep/rate').description, '4.1 chunks/s, about 40 min left');
    assert.equal(find(rows, 'deep/model').description, 'sentence-transformers/all-MiniLM-L6-v2 (cpu, float32, 384-d)');
  });

  it('shows a static-only pass', () => {
    const rows = statusNodes('running', '', tiered({ health: 'indexing', model: null }, 120, 300, 0, 100), { ...progress, transformer: false }, NOW);
    assert.equal(find(rows, 'activity').description, '120 of 900 files');
    assert.equal(find(rows, 'fast').description, '33 %, being written');
    assert.equal(find(rows, 'deep').description, 'loading the model');
  });

  it('says the deep tier is off by setting, with a link to the setting', () => {
    const deep = find(statusNodes('running', '', tiered({ tiers: 'static', model: null }, 10, 50, 0, 50), undefined, NOW), 'deep');
    assert.equal(deep.description, 'off by setting (semsearch.tiers: static)');
    assert.deepEqual(deep.command?.arguments, ['semsearch.tiers']);
  });

  it('says why the deep tier failed and offers another model', () => {
    const why = 'The model could not be loaded: /m: missing config.json.';
    const rows = statusNodes('running', '', tiered({ health: 'error', model: null, message: why }, 10, 50, 0, 50), undefined, NOW);
    assert.equal(find(rows, 'deep').description, 'not loaded: semantic search runs on the fast tier');
    assert.equal(find(rows, 'deep/reason').description, why);
    assert.equal(find(rows, 'deep/fix').command?.command, 'semsearch.selectModel');
  });

  it('offers the fix for an error without any model', () => {
    const rows = statusNodes('running', '', status({ health: 'error', model: null, message: 'no model' }), undefined, NOW);
    assert.equal(find(rows, 'fix').command?.command, 'semsearch.selectModel');
    assert.equal(find(rows, 'fast').description, 'none (no static model)');
    assert.equal(find(rows, 'deep').description, 'not loaded: keyword search only');
  });

  it('says how long ago, coarsely', () => {
    assert.equal(ago('2026-03-01T11:59:30Z', NOW), 'just now');
    assert.equal(ago('2026-03-01T09:00:00Z', NOW), '3 h ago');
    assert.equal(ago('2026-02-28T10:00:00Z', NOW), 'yesterday');
    assert.equal(ago('2026-02-20T10:00:00Z', NOW), '9 days ago');
  });
});
