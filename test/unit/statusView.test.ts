// What the status bar item says in each state (extension/views/statusView.ts has no vscode import).
import { strict as assert } from 'node:assert';
import type { IndexProgress, StatusResult } from '../../server/protocol';
import { statusView } from '../../extension/views/statusView';

function status(over: Partial<StatusResult> = {}, files = 12, chunks = 40, withVectors = 40): StatusResult {
  return {
    health: 'ok',
    message: '',
    model: { id: 'sentence-transformers/all-MiniLM-L6-v2', device: 'cpu', dtype: 'float32', dim: 384 },
    staticModel: null,
    tiers: 'full',
    partial: false,
    folders: [
      { root: '/w', indexPath: '/s/index.db', files, chunks, chunksWithStatic: null, chunksWithVectors: withVectors, skippedByReason: {}, lastIndexed: null },
    ],
    ...over,
  };
}

const progress: IndexProgress = { phase: 'chunk', filesSeen: 900, filesIndexed: 100, filesSkipped: 20, chunks: 300, chunksEmbedded: 0, chunksPending: 300 };

describe('status bar text', () => {
  it('shows counts when the index is ready', () => {
    const v = statusView('running', '', status({}, 1234, 5678, 5678), undefined);
    assert.equal(v.text, '$(search) 1,234 files · 5,678 chunks');
    assert.equal(v.severity, 'ok');
    assert.equal(v.command, 'semsearch.showStatus');
  });

  it('shows progress while indexing', () => {
    assert.match(statusView('running', '', status({ health: 'indexing' }), progress).text, /indexing 120\/900 files/);
    const embed: IndexProgress = { ...progress, phase: 'embed', chunksEmbedded: 50, chunksPending: 250 };
    assert.match(statusView('running', '', status({ health: 'indexing' }), embed).text, /embedding 50\/300/);
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
  });

  it('says "partial" while vectors are missing', () => {
    const v = statusView('running', '', status({ partial: true }, 10, 200, 50), undefined);
    assert.match(v.text, /partial \(25% embedded\)/);
    assert.equal(v.severity, 'warning');
  });

  it('offers the fix for an error (model folder) and keeps the message', () => {
    const v = statusView('running', '', status({ health: 'error', message: 'model: cannot read config.json', model: null }), undefined);
    assert.equal(v.severity, 'error');
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
