// An encoder's threads and its query twin, on all-MiniLM-L6-v2: a model loaded with `threads`
// runs its fused kernels and matrix products on at most that many threads (counted by the addon's
// test-only _testPeakThreads), with OpenBLAS on one thread; vectors do not depend on the count;
// Embedder.forQueries() shares the weights, gives the same vectors, answers while a long document
// batch runs on its parent instead of after it, and survives either one being disposed first.
import assert from 'node:assert/strict';
import { defaultEmbedThreads, Embedder, embedThreads } from '../../server/model/embedder';
import { encoderConfigOf } from '../../server/model/folder';
import { addonPath, loadModel, nativeInfo } from '../../server/model/native';
import { MINILM_DIR } from '../support/paths';
import { cosine } from '../support/vectors';

interface PeakAddon {
  /** The most threads that ran items of one pool call at once since the last call; resets it. */
  _testPeakThreads(): number;
}

function peakThreads(): number {
  nativeInfo(); // loads the addon, with server/model/native.ts's error message if it cannot
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon's test-only export, absent from server/model/native.ts
  return (require(addonPath()) as PeakAddon)._testPeakThreads();
}

/** A batch large enough that every fused kernel spreads over the pool: 8 rows of 128 tokens. */
function tokenBatch(): { ids: Int32Array; lengths: Int32Array; seqLen: number } {
  const seqLen = 128;
  const ids = Int32Array.from({ length: 8 * seqLen }, (_, i) => (i % seqLen === 0 ? 101 : 1000 + ((i * 37) % 20000)));
  return { ids, lengths: new Int32Array(8).fill(seqLen), seqLen };
}

function assertClose(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(cosine(v, b[i]) >= 0.99999, `${what}, text ${i}: cosine ${cosine(v, b[i])}`));
}

const TEXTS = [
  'read a json config file',
  'function parseConfig(path: string) { return JSON.parse(fs.readFileSync(path, "utf8")); }',
  'class LruCache<K, V> { private map = new Map<K, V>(); get(key: K) { return this.map.get(key); } }',
];

/** Documents that tokenize to the model's limit (256 tokens): a batch of them runs for seconds. */
function longDocuments(count: number): string[] {
  const body =
    'export function merge(a: number[], b: number[]): number[] { const out = []; while (a.length && b.length) out.push(a[0] < b[0] ? a.shift() : b.shift()); return out; }\n';
  return Array.from({ length: count }, (_, i) => `// part ${i}\n${body.repeat(12)}`);
}

describe('encoder threads', function () {
  this.timeout(300_000);
  const cores = nativeInfo().cpuThreads;

  it('leaves one core by default and keeps a setting within the cores', () => {
    assert.equal(defaultEmbedThreads(1), 1);
    assert.equal(defaultEmbedThreads(2), 1);
    assert.equal(defaultEmbedThreads(16), 15);
    assert.equal(embedThreads(0, 8), 7);
    assert.equal(embedThreads(undefined, 8), 7);
    assert.equal(embedThreads(3, 8), 3);
    assert.equal(embedThreads(12, 8), 8);
    assert.equal(embedThreads(1, 1), 1);
    assert.throws(() => embedThreads(-1, 8), RangeError);
    assert.throws(() => embedThreads(1.5, 8), RangeError);
  });

  it('runs a model loaded with threads: 1 on one thread, and one without a cap on several', async () => {
    const config = encoderConfigOf(MINILM_DIR);
    const { ids, lengths, seqLen } = tokenBatch();
    const capped = await loadModel(MINILM_DIR, config, { device: 'cpu', threads: 1 });
    const free = await loadModel(MINILM_DIR, config, { device: 'cpu' });
    try {
      assert.equal(capped.info.threads, 1);
      assert.equal(free.info.threads, cores);
      peakThreads();
      const one = await capped.embed(ids, lengths, seqLen);
      assert.ok(peakThreads() <= 1, 'threads: 1 used more than one thread');
      const all = await free.embed(ids, lengths, seqLen);
      if (cores > 1) assert.ok(peakThreads() >= 2, 'an uncapped model used one thread');
      for (let r = 0; r < 8; r++) {
        const dim = one.length / 8;
        assert.ok(cosine(one.subarray(r * dim, (r + 1) * dim), all.subarray(r * dim, (r + 1) * dim)) >= 0.99999);
      }
    } finally {
      await Promise.all([capped.dispose(), free.dispose()]);
    }
  });

  it('sets OpenBLAS to one thread once a model is loaded on the CPU, and caps the matrix products with the kernels', async function () {
    if (!nativeInfo().blas.config.startsWith('OpenBLAS')) this.skip();
    const config = encoderConfigOf(MINILM_DIR);
    const model = await loadModel(MINILM_DIR, config, { device: 'cpu', threads: 1 });
    try {
      assert.equal(nativeInfo().blas.threads, 1);
      // Rows enough for the matrix products to split into blocks, few enough that attention stays
      // on one thread: a capped model's peak shows the products kept to the cap.
      const seqLen = 16;
      const ids = Int32Array.from({ length: 64 * seqLen }, (_, i) => (i % seqLen === 0 ? 101 : 2000 + ((i * 13) % 9000)));
      const lengths = new Int32Array(64).fill(seqLen);
      peakThreads();
      await model.embed(ids, lengths, seqLen);
      assert.ok(peakThreads() <= 1);
      const shared = model.shareWeights({ threads: 2 });
      assert.equal(shared.info.threads, Math.min(2, cores));
      await shared.embed(ids, lengths, seqLen);
      if (cores > 1) assert.ok(peakThreads() >= 2, 'a model on 2 threads used one');
      await shared.dispose();
    } finally {
      await model.dispose();
    }
  });

  it('gives the same vectors with one thread, every core, the default threads and from forQueries()', async () => {
    // One model at a time: each load sets OpenBLAS's process-wide count to its own.
    const embedAll = async (e: Embedder) => ({ query: await e.embed(TEXTS, { kind: 'query' }), document: await e.embed(TEXTS, { kind: 'document' }) });
    const withThreads = async (threads: number) => {
      const e = await Embedder.load(MINILM_DIR, { device: 'cpu', threads });
      try {
        assert.equal(e.info.threads, threads);
        return await embedAll(e);
      } finally {
        e.dispose();
      }
    };
    const one = await withThreads(1);
    const all = await withThreads(cores);
    const usual = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    try {
      assert.equal(usual.info.threads, defaultEmbedThreads());
      const queries = usual.forQueries();
      assert.equal(usual.forQueries(), queries, 'forQueries() makes one Embedder while it is live');
      assert.equal(queries.info.threads, cores, 'queries may use every core');
      const parent = await embedAll(usual);
      const twin = await embedAll(queries);
      for (const kind of ['query', 'document'] as const) {
        assertClose(one[kind], all[kind], `${kind}: 1 thread vs ${cores}`);
        assertClose(one[kind], parent[kind], `${kind}: 1 thread vs the default ${usual.info.threads}`);
        assertClose(twin[kind], parent[kind], `${kind}: forQueries() vs its parent`);
      }
    } finally {
      usual.dispose();
    }
  });

  it("answers a query from forQueries() while a long document batch runs on the parent, where the parent's own answers after it", async () => {
    const indexer = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    try {
      const queries = indexer.forQueries();
      const idle = await queries.embed([TEXTS[0]], { kind: 'query' });
      const order: string[] = [];
      const batch = indexer.embed(longDocuments(32), { kind: 'document' }).then(() => order.push('batch'));
      // Let the batch reach the encoder before the queries are sent.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      const twin = queries.embed([TEXTS[0]], { kind: 'query' }).then((v) => {
        order.push('forQueries');
        return { v, ms: Date.now() - started };
      });
      const parent = indexer.embed([TEXTS[0]], { kind: 'query' }).then(() => order.push('parent'));
      const [answer] = await Promise.all([twin, batch, parent]);
      assert.deepEqual(order, ['forQueries', 'batch', 'parent']);
      assert.deepEqual(answer.v, idle, 'the query vector does not depend on what runs beside it');
      console.log(`      query beside a 32 × 256-token batch: ${answer.ms} ms`);
    } finally {
      indexer.dispose();
    }
  });

  it('keeps working whichever of the two is disposed first', async () => {
    const expected = await (async () => {
      const e = await Embedder.load(MINILM_DIR, { device: 'cpu' });
      try {
        return await e.embed(TEXTS, { kind: 'query' });
      } finally {
        e.dispose();
      }
    })();
    const config = encoderConfigOf(MINILM_DIR);

    // The parent first: the shared model keeps the weights alive.
    const parent = await loadModel(MINILM_DIR, config, { device: 'cpu' });
    const shared = parent.shareWeights();
    const pending = shared.embed(tokenBatch().ids, tokenBatch().lengths, tokenBatch().seqLen);
    await parent.dispose();
    assert.throws(() => parent.shareWeights(), /^Error: shareWeights: model is disposed$/);
    await assert.rejects(parent.embed(Int32Array.of(101, 102), Int32Array.of(2), 2), /^Error: embed: model is disposed$/);
    await pending;
    const after = await shared.embed(Int32Array.of(101, 7592, 102), Int32Array.of(3), 3);
    assert.equal(after.length, 384);
    await shared.dispose();
    await assert.rejects(shared.embed(Int32Array.of(101, 102), Int32Array.of(2), 2), /disposed/);

    // The query Embedder first: the parent goes on, and forQueries() makes a new one.
    const indexer = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    const first = indexer.forQueries();
    first.dispose();
    await assert.rejects(first.embed(TEXTS, { kind: 'query' }), /disposed/);
    assertClose(await indexer.embed(TEXTS, { kind: 'query' }), expected, 'parent after its query Embedder was disposed');
    const second = indexer.forQueries();
    assert.notEqual(second, first);
    assertClose(await second.embed(TEXTS, { kind: 'query' }), expected, 'a second query Embedder');

    // Disposing the parent disposes its query Embedder, after the calls already made.
    const last = second.embed(TEXTS, { kind: 'query' });
    indexer.dispose();
    assertClose(await last, expected, 'a call made before dispose()');
    await assert.rejects(second.embed(TEXTS, { kind: 'query' }), /disposed/);
    assert.throws(() => indexer.forQueries(), /^Error: forQueries: the embedder is disposed$/);
  });

  it('refuses a bad thread count', async () => {
    const config = encoderConfigOf(MINILM_DIR);
    await assert.rejects(loadModel(MINILM_DIR, config, { device: 'cpu', threads: 0 }), /options\.threads must be an integer in \[1, 1024\]$/);
    await assert.rejects(loadModel(MINILM_DIR, config, { device: 'cpu', threads: 2.5 }), /options\.threads must be an integer/);
    const model = await loadModel(MINILM_DIR, config, { device: 'cpu', threads: 1 });
    try {
      assert.throws(() => model.shareWeights({ threads: -3 }), /^TypeError: shareWeights: options\.threads must be an integer in \[1, 1024\]$/);
    } finally {
      await model.dispose();
    }
  });
});
