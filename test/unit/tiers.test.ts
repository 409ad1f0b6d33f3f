// The two embedding tiers of an index: the static tier written with the chunks, the transformer's
// filling in behind; what each change re-does; how searches fuse them; `tiers: static`.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FolderEngine, openStandalone } from '../../server/engine';
import { Chunker } from '../../server/index/chunk';
import { EmbedderLike, Indexer, openStore, StaticEmbedderLike } from '../../server/index/refresh';
import { indexPathFor, Store } from '../../server/index/store';
import { Embedder } from '../../server/model/embedder';
import { StaticEmbedder } from '../../server/model/static';
import { fuseTiers, TierRanking } from '../../server/search/fusion';
import { Searcher } from '../../server/search';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';
import { rng } from '../support/random';

function makeWorkspace(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-tiers-'));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

function tsFile(name: string, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(`/** Compute the ${name} value number ${i}. */\nexport function ${name}Value${i}(input: number): number {\n  return input * ${i + 1};\n}\n`);
  return out.join('\n');
}

const FILES = {
  'src/users.ts': tsFile('user', 4),
  'src/orders.ts': tsFile('order', 3),
  'lib/geo.py':
    'def haversine(a, b):\n    """Great-circle distance between two points on a sphere."""\n    return 0.0\n\n\ndef bearing(a, b):\n    """Initial compass bearing from a to b."""\n    return 0.0\n',
};

/** Counts the texts each model is asked to embed; `fingerprint` pretends to be another model. */
class CountingTransformer implements EmbedderLike {
  texts = 0;
  readonly info: EmbedderLike['info'] & { device: string };
  constructor(
    private readonly inner: Embedder,
    fingerprint?: string,
  ) {
    this.info = { ...inner.info, fingerprint: fingerprint ?? inner.info.fingerprint };
  }
  embed(texts: readonly string[], options: { kind: 'document' | 'query'; signal?: AbortSignal }): Promise<Float32Array[]> {
    this.texts += texts.length;
    return this.inner.embed(texts, options);
  }
  countTokens(text: string): number {
    return this.inner.countTokens(text);
  }
}

class CountingStatic implements StaticEmbedderLike {
  texts = 0;
  readonly info: StaticEmbedderLike['info'];
  constructor(
    private readonly inner: StaticEmbedder,
    fingerprint?: string,
  ) {
    this.info = { ...inner.info, fingerprint: fingerprint ?? inner.info.fingerprint };
  }
  embed(texts: readonly string[]): Promise<(Float32Array | null)[]> {
    this.texts += texts.length;
    return this.inner.embed(texts);
  }
}

describe('embedding tiers', function () {
  this.timeout(180_000);
  let transformer: Embedder;
  let staticModel: StaticEmbedder;
  let chunker: Chunker;
  const cleanup: string[] = [];
  const stores: Store[] = [];

  before(async function () {
    transformer = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    staticModel = StaticEmbedder.loadDefault();
    chunker = await Chunker.create();
  });
  after(async function () {
    for (const s of stores) await s.close().catch(() => undefined);
    chunker?.dispose();
    transformer?.dispose();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  async function open(root: string, file: string, t: CountingTransformer, s: CountingStatic) {
    const store = await openStore(file, t, { staticEmbedder: s });
    stores.push(store);
    return { store, indexer: new Indexer({ root, store, embedder: t, staticEmbedder: s, chunker }) };
  }

  async function setup() {
    const root = makeWorkspace(FILES);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-tiers-idx-'));
    cleanup.push(root, dir);
    const t = new CountingTransformer(transformer);
    const s = new CountingStatic(staticModel);
    return { root, file: path.join(dir, 'index.sqlite'), t, s, ...(await open(root, path.join(dir, 'index.sqlite'), t, s)) };
  }

  it('writes the static tier with the chunks; the transformer tier follows in a later pass', async function () {
    const { store, indexer, t, s } = await setup();
    const fast = await indexer.refresh({ transformer: false });
    assert.equal(t.texts, 0, 'the fast pass embeds nothing with the transformer');
    assert.equal(await store.pendingCount('static'), 0);
    assert.equal(await store.pendingCount(), fast.chunks);
    assert.equal(s.texts, fast.chunks);
    const full = await indexer.refresh();
    assert.equal(full.chunksPending, 0);
    assert.equal(t.texts, fast.chunks);
    assert.equal(s.texts, fast.chunks, 'the second pass computes no static vector again');
  });

  it('a changed file replaces only its changed chunks’ vectors, in both tiers', async function () {
    const { root, store, indexer, t, s } = await setup();
    await indexer.refresh();
    const staticBefore = await store.vectorChunkHashes('static');
    const [t0, s0] = [t.texts, s.texts];
    const file = path.join(root, 'src/users.ts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('return input * 3;', 'return input * 333;'));
    const r = await indexer.refresh();
    assert.equal(r.filesIndexed, 1);
    assert.equal(t.texts - t0, 1, 'one chunk changed: one transformer vector');
    assert.equal(s.texts - s0, 1, 'one chunk changed: one static vector');
    assert.equal(await store.pendingCount(), 0);
    assert.equal(await store.pendingCount('static'), 0);
    const staticAfter = await store.vectorChunkHashes('static');
    const changed = [...staticAfter.values()].filter((h) => ![...staticBefore.values()].includes(h));
    assert.equal(changed.length, 1);
  });

  it('a transformer change re-does only the transformer tier; a static model change only the static tier', async function () {
    const { root, file, store, indexer } = await setup();
    const first = await indexer.refresh();
    await store.close();
    const other = new CountingTransformer(transformer, 'another-transformer');
    const sameStatic = new CountingStatic(staticModel);
    const a = await open(root, file, other, sameStatic);
    await a.indexer.refresh();
    assert.equal(other.texts, first.chunks, 'every chunk gets the new transformer’s vector');
    assert.equal(sameStatic.texts, 0, 'no static vector is computed again');
    await a.store.close();

    const sameTransformer = new CountingTransformer(transformer, 'another-transformer');
    const otherStatic = new CountingStatic(staticModel, 'another-static-model');
    const b = await open(root, file, sameTransformer, otherStatic);
    await b.indexer.refresh();
    assert.equal(sameTransformer.texts, 0, 'no transformer vector is computed again');
    assert.equal(otherStatic.texts, first.chunks, 'every chunk gets the new static model’s vector');
  });

  it('a model switch of the engine starts its new index with the serving index’s static tier', async function () {
    const root = makeWorkspace(FILES);
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-tiers-sw-'));
    cleanup.push(root, indexDir);
    const s = new CountingStatic(staticModel);
    const opts = { indexDir, staticEmbedder: s, sizer: staticModel.sizer() };
    const e1 = await FolderEngine.open(root, new CountingTransformer(transformer), chunker, opts);
    const first = await e1.refresh();
    await e1.close();
    const computed = s.texts;
    const other = new CountingTransformer(transformer, 'switched-transformer');
    const e2 = await FolderEngine.open(root, other, chunker, opts);
    assert.ok(e2.switching, 'a different transformer switches to a new index');
    const r = await e2.refresh();
    assert.ok(r.complete);
    assert.equal(s.texts, computed, 'the static tier was copied, not computed again');
    assert.equal(other.texts, first.chunks);
    await e2.close();
  });

  it('with tiers "static" the transformer is never resolved nor loaded', async function () {
    const root = makeWorkspace(FILES);
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-tiers-st-'));
    cleanup.push(root, indexDir);
    // A model that does not exist anywhere: resolving or loading it would throw.
    const opened = await openStandalone(root, { tiers: 'static', model: '/nonexistent/model/folder', offline: true, indexDir });
    try {
      assert.equal(opened.embedder, null);
      const r = await opened.engine.refresh();
      assert.ok(r.complete, 'complete with the static tier alone');
      const out = await opened.engine.search('great-circle distance on a sphere', { mode: 'semantic' });
      assert.deepEqual(out.tiers, ['static']);
      assert.equal(out.hits[0]?.symbol, 'haversine');
      assert.equal(out.partial, false);
    } finally {
      await opened.close();
    }
  });

  it('answers from the static tier and keywords while the transformer tier is missing, naming the tiers', async function () {
    const { root, store, indexer } = await setup();
    await indexer.refresh({ transformer: false });
    const searcher = new Searcher(root, store, transformer, { staticEmbedder: staticModel });
    await searcher.sync();
    const out = await searcher.search('great-circle distance on a sphere', { mode: 'hybrid' });
    assert.equal(out.partial, true);
    assert.deepEqual([...out.tiers].sort(), ['keyword', 'static']);
    assert.equal(out.hits[0]?.symbol, 'haversine');
    searcher.dispose();
  });

  it('SIGKILL during the transformer tier: the next run resumes it and computes no static vector again', async function () {
    this.timeout(300_000);
    const root = makeWorkspace({ ...FILES, 'src/many.ts': tsFile('many', 120) });
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-tiers-kill-'));
    cleanup.push(root, indexDir);
    const cli = path.join(REPO_ROOT, 'bin', 'semsearch');
    const args = ['index', root, '--index-dir', indexDir, '--model', MINILM_DIR, '--device', 'cpu', '--json', '-q'];
    const file = indexPathFor(root, indexDir);
    const child = spawn(process.execPath, [cli, ...args], { stdio: 'ignore' });
    // Kill once some transformer vectors are in (the static tier is then complete: it is written with the chunks).
    await new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        void (async () => {
          if (Date.now() - started > 240_000) return reject(new Error('no transformer vector after 240 s'));
          if (!fs.existsSync(file)) return;
          const st = await Store.open(file, { readonly: true }).catch(() => null);
          if (!st) return;
          const stats = await st.stats().catch(() => null);
          await st.close();
          if (stats && stats.chunksWithVectors > 0 && stats.chunksWithVectors < stats.chunks && stats.staticTier?.pending === 0) {
            clearInterval(poll);
            child.kill('SIGKILL');
            resolve();
          }
        })();
      }, 100);
      child.once('exit', () => {
        clearInterval(poll);
        resolve();
      });
    });
    const resumed = await new Promise<{ staticEmbedded: number; textsEmbedded: number; complete: boolean; chunks: number }>((resolve, reject) => {
      const c = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as never) : reject(new Error(`index exited with ${code}`))));
    });
    assert.equal(resumed.complete, true);
    assert.equal(resumed.staticEmbedded, 0, 'the static tier was complete before the kill');
    assert.ok(resumed.textsEmbedded > 0, 'the transformer tier resumed where it stopped');
  });
});

describe('fusion over tiers', () => {
  /** Convex fusion of keyword and static rankings alone (the transformer tier absent). */
  function twoWay(keyword: TierRanking, stat: TierRanking) {
    return new Map(fuseTiers([keyword, stat]).map((r) => [r.id, r.score]));
  }

  it('a chunk without its transformer vector scores exactly as static + BM25 alone would score it', () => {
    const rand = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 40 }, (_, i) => i + 1);
      const ranking = (w: number): TierRanking => {
        const chosen = ids.filter(() => rand() < 0.6);
        const scored = chosen.map((id) => ({ id, s: rand() })).sort((a, b) => b.s - a.s);
        return { ids: scored.map((x) => x.id), scores: scored.map((x) => x.s), weight: w };
      };
      const keyword = ranking(0.1);
      const stat = ranking(0.3);
      const embedded = new Set(ids.filter(() => rand() < 0.5));
      const deep = { ...ranking(0.6), covers: (id: number) => embedded.has(id) };
      deep.ids = deep.ids.filter((id) => embedded.has(id));
      deep.scores = deep.scores.slice(0, deep.ids.length);
      const fused = new Map(fuseTiers([keyword, stat, deep]).map((r) => [r.id, r.score]));
      const alone = twoWay(keyword, stat);
      for (const [id, score] of fused) {
        if (embedded.has(id)) continue;
        assert.ok(Math.abs(score - (alone.get(id) ?? 0)) < 1e-12, `trial ${trial}, chunk ${id}: ${score} vs ${alone.get(id)}`);
      }
    }
  });

  it('with every chunk embedded, it is the plain convex combination of the three', () => {
    const a: TierRanking = { ids: [1, 2, 3], scores: [3, 2, 1], weight: 0.2 };
    const b: TierRanking = { ids: [3, 1], scores: [0.9, 0.1], weight: 0.3 };
    const c: TierRanking = { ids: [2, 3, 1], scores: [0.8, 0.5, 0.2], weight: 0.5, covers: () => true };
    const fused = new Map(fuseTiers([a, b, c]).map((r) => [r.id, r.score]));
    assert.ok(Math.abs(fused.get(1)! - (0.2 * 1 + 0.3 * 0 + 0.5 * 0)) < 1e-12);
    assert.ok(Math.abs(fused.get(3)! - (0.2 * 0 + 0.3 * 1 + 0.5 * 0.5)) < 1e-12);
  });
});
