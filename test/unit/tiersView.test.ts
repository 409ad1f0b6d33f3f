// The wording the views share about the two embedding tiers (extension/views/tiers.ts, no vscode
// import): the time left, rates, which tiers answered a partial result set, reindex progress lines.
import { strict as assert } from 'node:assert';
import type { IndexProgress, StatusResult } from '../../server/protocol';
import { etaText, progressFraction, progressMessage, rateText, resultTiersNote, tierSummary } from '../../extension/views/tiers';

const MODEL = { id: 'm', device: 'cpu', dtype: 'float32', dim: 384 };

function tiered(chunks: number, withVectors: number, withStatic: number | null, over: Partial<StatusResult> = {}): StatusResult {
  return {
    health: 'ok',
    message: 'ready',
    model: MODEL,
    staticModel: withStatic === null ? null : { id: 's', dim: 256 },
    tiers: 'full',
    partial: withVectors < chunks,
    folders: [
      { root: '/w', indexPath: '/i', files: 1, chunks, chunksWithVectors: withVectors, chunksWithStatic: withStatic, skippedByReason: {}, lastIndexed: null },
    ],
    ...over,
  };
}

const base: IndexProgress = { phase: 'embed', filesSeen: 10, filesIndexed: 10, filesSkipped: 0, chunks: 100, chunksEmbedded: 50, chunksPending: 150 };

describe('time left', () => {
  it('rounds as far as an estimate deserves', () => {
    const cases: [number, string][] = [
      [20, 'less than a minute left'],
      [70, 'about 1 min left'],
      [200, 'about 3 min left'],
      [2410, 'about 40 min left'],
      [1530, 'about 25 min left'],
      [3500, 'about 1 h left'],
      [4800, 'about 1 h 20 min left'],
      [4 * 3600 + 600, 'about 4 h left'],
      [3 * 86400, 'about 3 days left'],
      [NaN, 'time left unknown'],
    ];
    for (const [s, text] of cases) assert.equal(etaText(s), text, `${s} s`);
  });

  it('writes rates with sensible digits', () => {
    assert.equal(rateText(4.13), '4.1 chunks/s');
    assert.equal(rateText(42.4), '42 chunks/s');
    assert.equal(rateText(1234.5), '1,235 chunks/s');
  });
});

describe('tiers behind a result set', () => {
  it('says nothing for a complete index or in keyword mode', () => {
    const t = tierSummary(tiered(100, 100, 100), undefined);
    assert.equal(resultTiersNote(['keyword', 'static', 'transformer'], false, t), undefined);
    assert.equal(resultTiersNote(['keyword'], true, tierSummary(tiered(100, 34, 100), undefined), true), undefined);
  });

  it('names the tiers that answered and how far the deep tier is', () => {
    const t = tierSummary(tiered(1000, 340, 1000), undefined);
    assert.equal(resultTiersNote(['keyword', 'static'], true, t), 'fast tier; deep tier 34 %');
    assert.equal(resultTiersNote(['keyword', 'static', 'transformer'], true, t), 'fast + deep tiers; deep tier 34 %');
    assert.equal(resultTiersNote(['keyword', 'transformer'], true, tierSummary(tiered(1000, 340, null), undefined)), 'deep tier; deep tier 34 %');
  });

  it('says when only keywords answered', () => {
    const t = tierSummary(tiered(1000, 0, 200, { model: null, health: 'indexing' }), undefined);
    assert.equal(resultTiersNote(['keyword'], true, t), 'keyword only; fast tier 20 %; deep tier loading');
    assert.equal(resultTiersNote(['keyword'], true, undefined), 'keyword only; partial index');
  });

  it('says the deep tier did not load', () => {
    const t = tierSummary(tiered(1000, 0, 1000, { model: null, health: 'error', message: 'no model' }), undefined);
    assert.equal(resultTiersNote(['keyword', 'static'], true, t), 'fast tier; deep tier not loaded');
  });

  it('describes a partial find-similar answer (no tiers field) by the index', () => {
    const t = tierSummary(tiered(1000, 340, 1000), undefined);
    assert.equal(resultTiersNote(undefined, true, t), 'partial index; deep tier 34 %');
    assert.equal(resultTiersNote(undefined, true, undefined), 'partial index');
  });
});

describe('tier summary', () => {
  it('takes rate and time left from a running transformer pass only', () => {
    const running = tierSummary(tiered(200, 50, 200, { health: 'indexing' }), { ...base, transformer: true, chunksPerSecond: 4, etaSeconds: 40 });
    assert.deepEqual(running.deep, { state: 'running', model: MODEL, done: 50, pct: 25, rate: 4, eta: 40 });
    const staticPass = tierSummary(tiered(200, 50, 100, { health: 'indexing' }), { ...base, transformer: false });
    assert.equal(staticPass.deep.state, 'waiting');
    assert.deepEqual(staticPass.fast, { model: 's', done: 100, complete: false, running: true });
  });

  it('sums the folders', () => {
    const s = tiered(100, 100, 100);
    s.folders.push({ ...s.folders[0], root: '/v', chunks: 300, chunksWithVectors: 0, chunksWithStatic: null });
    const t = tierSummary(s, undefined);
    assert.equal(t.chunks, 400);
    assert.deepEqual(t.fast, { model: 's', done: 100, complete: false, running: false });
    assert.equal(t.deep.state === 'waiting' && t.deep.pct, 25);
  });
});

describe('reindex progress lines', () => {
  it('gives the deep tier its rate and time left', () => {
    assert.equal(progressMessage({ ...base, chunksPerSecond: 4.1, etaSeconds: 2410 }), 'deep tier: 50/200 chunks, 4.1 chunks/s, about 40 min left');
    assert.equal(progressMessage(base), 'deep tier: 50/200 chunks');
  });

  it('counts a static-only pass by files and the fast tier by what is left', () => {
    const p: IndexProgress = { ...base, transformer: false, staticPending: 1200, filesSeen: 20 };
    assert.equal(progressMessage(p), 'fast tier: 1,200 chunks to go (10 files)');
    assert.equal(progressFraction(p), 0.5);
    assert.equal(progressFraction({ ...base, filesSeen: 20 }), 0.3 * 0.5 + 0.7 * 0.25);
    assert.equal(progressFraction({ ...base, phase: 'done' }), 1);
  });
});

describe('a sidecar from before the tiers', () => {
  it('reads a status without the tier fields as the deep tier alone', () => {
    const old = {
      health: 'ok',
      message: 'ready',
      model: MODEL,
      partial: true,
      folders: [{ root: '/w', indexPath: '/i', files: 1, chunks: 100, chunksWithVectors: 40, skippedByReason: {}, lastIndexed: null }],
    } as unknown as StatusResult;
    const t = tierSummary(old, undefined);
    assert.equal(t.fast, null);
    assert.equal(t.deep.state, 'waiting');
  });
});
