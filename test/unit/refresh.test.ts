import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chunker } from '../../server/index/chunk';
import { Embedder } from '../../server/model/embedder';
import { EmbedderLike, Indexer, IndexerOptions, IndexProgress, openStore } from '../../server/index/refresh';
import { Store } from '../../server/index/store';
import { ftsQuery } from '../../server/index/identifiers';
import { walk } from '../../server/index/walk';
import { MINILM_DIR } from '../support/paths';

/** Write `files` (relative path → content) under a new temporary folder. */
function makeWorkspace(files: Record<string, string | Buffer>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-ws-'));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

/** A TypeScript file with `n` distinct functions (so each is its own chunk). */
function tsFile(name: string, n: number, salt = ''): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      `/** Compute the ${name} value number ${i}${salt}. */\nexport function ${name}Value${i}(input: number): number {\n  const scaled = input * ${i + 1};\n  return scaled + ${name.length};\n}\n`,
    );
  }
  return out.join('\n');
}

/** Counts what reaches the real embedder; `fingerprint` pretends to be another model. */
class CountingEmbedder implements EmbedderLike {
  texts = 0;
  calls = 0;
  gate: Promise<void> | null = null;
  failOn: RegExp | null = null;
  readonly info: EmbedderLike['info'];
  constructor(
    private readonly inner: Embedder,
    fingerprint?: string,
  ) {
    this.info = { ...inner.info, fingerprint: fingerprint ?? inner.info.fingerprint };
  }
  async embed(texts: readonly string[], options: { kind: 'document' | 'query'; signal?: AbortSignal }): Promise<Float32Array[]> {
    if (this.gate) await this.gate;
    if (this.failOn && texts.some((t) => this.failOn!.test(t))) throw new Error('synthetic embedding failure');
    this.calls++;
    this.texts += texts.length;
    return this.inner.embed(texts, options);
  }
  countTokens(text: string): number {
    return this.inner.countTokens(text);
  }
}

/** The index as comparable data: files (path → hash) and chunks (path:start-end → content hash). */
async function snapshot(store: Store): Promise<{ files: Map<string, string>; chunks: string[] }> {
  const files = new Map([...(await store.listFiles()).values()].map((f) => [f.path, f.hash]));
  const chunks: string[] = [];
  for (const p of [...files.keys()].sort())
    for (const c of await store.chunksOfFile(p)) chunks.push(`${p}:${c.startLine}-${c.endLine}:${c.contentHash}:${c.hasVector}`);
  return { files, chunks };
}

/** What the disk says: every file the walk yields that is text, with its sha256. */
async function diskFiles(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const item of walk(root, {})) {
    if (item.type !== 'file') continue;
    const bytes = fs.readFileSync(item.entry.absPath);
    out.set(item.entry.relPath, createHash('sha256').update(bytes).digest('hex'));
  }
  return out;
}

describe('refresh pipeline (real all-MiniLM-L6-v2)', function () {
  this.timeout(120_000);
  let embedder: Embedder;
  let chunker: Chunker;
  const cleanup: string[] = [];
  const stores: Store[] = [];

  before(async function () {
    embedder = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    chunker = await Chunker.create();
  });
  after(async function () {
    for (const s of stores) await s.close().catch(() => undefined);
    chunker?.dispose();
    embedder?.dispose();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  async function setup(files: Record<string, string | Buffer>, extra: Partial<IndexerOptions> = {}, fingerprint?: string) {
    const root = makeWorkspace(files);
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-idx-'));
    cleanup.push(root, indexDir);
    const counting = new CountingEmbedder(embedder, fingerprint);
    const store = await openStore(path.join(indexDir, 'index.sqlite'), counting);
    stores.push(store);
    const warnings: string[] = [];
    const indexer = new Indexer({ root, store, embedder: counting, chunker, embedBatchSize: 32, onWarning: (w) => warnings.push(w), ...extra });
    return { root, indexDir, store, indexer, counting, warnings };
  }

  const BASE = {
    'src/users.ts': tsFile('user', 4),
    'src/orders.ts': tsFile('order', 3),
    'lib/math.py': 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n\n\ndef mul(a, b):\n    """Multiply two numbers."""\n    return a * b\n',
    'README.md': '# Demo\n\nA small workspace for the refresh tests.\n\n## Usage\n\nRun it.\n',
  };

  it('indexes a workspace: every chunk embedded once, keyword search works, a second run does nothing', async function () {
    const { store, indexer, counting } = await setup(BASE);
    const s = await indexer.refresh();
    assert.equal(s.filesIndexed, 4);
    assert.ok(s.chunks >= 9, `chunks ${s.chunks}`);
    assert.equal(s.textsEmbedded, counting.texts);
    assert.equal(s.chunksPending, 0);
    assert.equal(s.complete, true);
    const st = await store.stats();
    assert.deepEqual([st.files, st.chunks, st.chunksWithVectors, st.partial], [4, s.chunks, s.chunks, false]);
    const hits = await store.keywordSearch(ftsQuery('orderValue2')!, 5);
    const [top] = await store.chunksByIds([hits[0].id]);
    assert.equal(top.symbol, 'orderValue2');

    const again = await indexer.refresh();
    assert.deepEqual([again.filesIndexed, again.filesUnchanged, again.textsEmbedded, again.complete], [0, 4, 0, true]);
  });

  it('changing one function re-embeds only that chunk; touching without a change embeds nothing', async function () {
    const { root, store, indexer, counting } = await setup(BASE);
    await indexer.refresh();
    const before = counting.texts;
    const file = path.join(root, 'src/users.ts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('const scaled = input * 3;', 'const scaled = input * 333;'));
    const s = await indexer.refresh();
    assert.equal(s.filesIndexed, 1);
    assert.equal(s.textsEmbedded, 1, 'one function changed: one new text');
    assert.equal(counting.texts - before, 1);
    assert.equal((await store.keywordSearch('"333"', 5)).length, 1);

    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(root, 'src/orders.ts'), t, t);
    const touched = await indexer.refresh();
    assert.deepEqual([touched.filesIndexed, touched.filesUnchanged, touched.textsEmbedded], [0, 4, 0]);
    assert.equal((await store.getFile('src/orders.ts'))?.mtimeMs, fs.statSync(path.join(root, 'src/orders.ts')).mtimeMs);
  });

  it('deleting a file removes its chunks and FTS rows', async function () {
    const { root, store, indexer } = await setup(BASE);
    await indexer.refresh();
    assert.ok((await store.keywordSearch(ftsQuery('multiply')!, 5)).length > 0);
    fs.rmSync(path.join(root, 'lib'), { recursive: true });
    const s = await indexer.refresh();
    assert.equal(s.filesDeleted, 1);
    assert.equal((await store.keywordSearch(ftsQuery('multiply')!, 5)).length, 0);
    assert.equal(await store.getFile('lib/math.py'), undefined);
    assert.equal((await store.chunksOfFile('lib/math.py')).length, 0);
  });

  it('a renamed file reuses its chunks and vectors: zero embeddings', async function () {
    const { root, store, indexer, counting } = await setup(BASE);
    await indexer.refresh();
    const before = counting.calls;
    const old = await store.chunksOfFile('src/orders.ts');
    fs.mkdirSync(path.join(root, 'moved'));
    fs.renameSync(path.join(root, 'src/orders.ts'), path.join(root, 'moved/orders2.ts'));
    const s = await indexer.refresh();
    assert.deepEqual([s.filesRenamed, s.filesIndexed, s.filesDeleted, s.textsEmbedded], [1, 0, 0, 0]);
    assert.equal(counting.calls, before);
    const moved = await store.chunksOfFile('moved/orders2.ts');
    assert.deepEqual(
      moved.map((c) => c.contentHash),
      old.map((c) => c.contentHash),
    );
    assert.ok(moved.every((c) => c.hasVector));
    const hits = await store.keywordSearch(ftsQuery('orders2')!, 10);
    assert.equal(hits.length, moved.length, 'the FTS path column follows the rename');
    // A copy (old path still present) is indexed as a new file; its texts differ only by the
    // path in the chunk header, so they are embedded.
    fs.copyFileSync(path.join(root, 'moved/orders2.ts'), path.join(root, 'moved/copy.ts'));
    const c = await indexer.refresh();
    assert.deepEqual([c.filesRenamed, c.filesIndexed], [0, 1]);
  });

  it('a model change re-embeds everything and never mixes the two models', async function () {
    const first = await setup(BASE);
    const s1 = await first.indexer.refresh();
    const file = first.store.file;
    await first.store.close();

    // The same weights under another fingerprint stand for another model.
    const other = new CountingEmbedder(embedder, 'ffffffffffffffff');
    const store = await openStore(file, other);
    stores.push(store);
    assert.deepEqual(store.opened.modelChanged, { from: embedder.info.fingerprint, to: 'ffffffffffffffff' });
    assert.equal((await store.stats()).chunksWithVectors, 0, 'old vectors do not count for the new model');

    // Stop after the first batch: a partial index holds only new-model vectors.
    const ctrl = new AbortController();
    const indexer = new Indexer({
      root: first.root,
      store,
      embedder: other,
      chunker,
      embedBatchSize: 4,
      progressIntervalMs: 0,
      onProgress: (p) => p.chunksEmbedded >= 4 && ctrl.abort(),
    });
    const partial = await indexer.refresh({ signal: ctrl.signal });
    assert.equal(partial.cancelled, true);
    let rows = 0;
    for await (const page of store.chunkVectors()) rows += page.length;
    assert.ok(rows >= 4 && rows < s1.chunks, `rows ${rows}`);
    assert.equal((await store.stats()).partial, true);

    const done = await new Indexer({ root: first.root, store, embedder: other, chunker }).refresh();
    assert.equal(done.complete, true);
    assert.equal(other.texts, s1.textsEmbedded, 'every distinct text embedded once for the new model');
    const vectors: Float32Array[] = [];
    for await (const page of store.chunkVectors()) vectors.push(...page.map((p) => p.vector));
    assert.equal(vectors.length, s1.chunks);
    let oldLeft = 0;
    for await (const page of store.chunkVectors({ fingerprint: embedder.info.fingerprint })) oldLeft += page.length;
    assert.equal(oldLeft, 0, 'the old model is pruned once the new index is complete');
  });

  it('keyword search works while vectors are missing; pause, resume and cancel', async function () {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`pkg/mod${i}.ts`] = tsFile(`mod${i}thing`, 3);
    const { store, indexer, counting } = await setup(files);
    let release!: () => void;
    counting.gate = new Promise<void>((r) => (release = r));
    const progress: IndexProgress[] = [];
    const run = new Indexer({ root: indexer.root, store, embedder: counting, chunker, onProgress: (p) => progress.push(p), progressIntervalMs: 0 });
    const done = run.refresh();
    // Wait until every file is written while the embedder is held.
    while (!progress.some((p) => p.phase === 'embed')) await new Promise((r) => setTimeout(r, 20));
    const st = await store.stats();
    assert.equal(st.files, 12);
    assert.equal(st.chunksWithVectors, 0);
    assert.equal(st.partial, true);
    const hits = await store.keywordSearch(ftsQuery('mod7thingValue1')!, 3);
    assert.equal((await store.chunksByIds([hits[0].id]))[0].symbol, 'mod7thingValue1');

    run.pause();
    release();
    counting.gate = null;
    await new Promise((r) => setTimeout(r, 300));
    const heldAt = counting.texts;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(counting.texts, heldAt, 'paused: nothing embedded');
    run.resume();
    const s = await done;
    assert.equal(s.complete, true);
    assert.ok(progress.at(-1)!.phase === 'done' && progress.at(-1)!.chunksPending === 0);

    // Cancel: a run that is aborted claims nothing, and the next one completes.
    fs.writeFileSync(path.join(run.root, 'pkg/extra.ts'), tsFile('extrastuff', 6));
    const ctrl = new AbortController();
    ctrl.abort();
    const cancelled = await run.refresh({ signal: ctrl.signal });
    assert.equal(cancelled.cancelled, true);
    assert.equal((await store.stats()).complete, false);
    const after = await run.refresh();
    assert.equal(after.complete, true);
    assert.equal((await store.stats()).partial, false);
  });

  it('a burst of 10,000 scheduled events ends with the index equal to the disk', async function () {
    const files: Record<string, string> = {};
    for (let i = 0; i < 60; i++) files[`d${i % 6}/f${i}.ts`] = `export const value${i} = ${i};\nexport function fn${i}() { return value${i} * 2; }\n`;
    const { root, store, indexer } = await setup(files, { debounceMs: 50, maxDebounceMs: 400 });
    await indexer.refresh();
    let events = 0;
    // Rewrite, delete and create files while scheduling events for them (several per file).
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 10; k++) {
        const i = (round * 7 + k) % 60;
        const rel = `d${i % 6}/f${i}.ts`;
        const abs = path.join(root, rel);
        if ((round + k) % 11 === 0 && fs.existsSync(abs)) fs.rmSync(abs);
        else fs.writeFileSync(abs, `export const value${i} = ${i + round};\nexport function fn${i}() { return value${i} * ${round}; }\n`);
        for (let e = 0; e < 19; e++) indexer.scheduleUpdate([rel]);
        events += 19;
      }
      if (round % 10 === 0) {
        fs.writeFileSync(path.join(root, `d0/new_n${round}.ts`), `export const fresh${round} = true;\n`);
        indexer.scheduleUpdate([`d0/new_n${round}.ts`]);
        events++;
      }
      if (round % 5 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    while (events < 10_000) {
      indexer.scheduleUpdate([`d1/f${events % 60}.ts`]);
      events++;
    }
    await indexer.idle();
    const disk = await diskFiles(root);
    const snap = await snapshot(store);
    assert.deepEqual(new Map([...snap.files].sort()), new Map([...disk].sort()));
    assert.ok(
      snap.chunks.every((c) => c.endsWith(':true')),
      'every chunk has its vector',
    );
  });

  it('bad inputs: every file is indexed or skipped with its reason, and nothing crashes', async function () {
    const bigMinified = 'var a=' + '[' + '1,'.repeat(25 * 1024 * 1024) + '1];';
    const smallMinified = 'var q={' + Array.from({ length: 6000 }, (_, i) => `k${i}:${i}`).join(',') + '};';
    const files: Record<string, string | Buffer> = {
      'ok/good.ts': tsFile('good', 2),
      'ok/empty.ts': '',
      'ok/blank.txt': '\n\n   \n',
      'bad/binary.bin': Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 3]),
      'bad/huge.min.js': bigMinified,
      'bad/small.min.js': smallMinified,
      'bad/latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe, 0x0a]),
      'bad/long.txt': 'const repeated = 1;\n'.repeat(20_000),
      'vanish/a.ts': tsFile('vanisher', 1),
      'vanish/b.ts': tsFile('doomed', 1),
      'locked/secret.ts': tsFile('secret', 1),
    };
    let deep = 'deep';
    for (let i = 0; i < 60; i++) deep += `/d${i}`;
    files[`${deep}/bottom.ts`] = tsFile('bottom', 1);
    let rootDir = '';
    const wrapped = {
      // Delete vanish/b.ts after the walk listed it and before it is read: the walk stats a
      // folder's entries before it yields any of them, so b.ts (after a.ts) is already listed.
      chunk: (rel: string, text: string, opts: Parameters<Chunker['chunk']>[2]) => {
        if (rel === 'vanish/a.ts') fs.rmSync(path.join(rootDir, 'vanish/b.ts'), { force: true });
        return chunker.chunk(rel, text, opts);
      },
    };
    const { root, store, indexer, warnings } = await setup(files, { chunker: wrapped, readConcurrency: 1 });
    rootDir = root;
    fs.symlinkSync('..', path.join(root, 'ok/loop'));
    fs.symlinkSync('/etc/passwd', path.join(root, 'ok/outside'));
    fs.symlinkSync('nowhere', path.join(root, 'ok/dangling'));
    fs.chmodSync(path.join(root, 'locked/secret.ts'), 0o000);
    const asRoot = process.getuid?.() === 0;

    const s = await indexer.refresh();
    assert.deepEqual(warnings, []);
    const skipped = new Map(s.skipped.map((k) => [k.path, k.reason]));
    assert.equal(skipped.get('bad/binary.bin'), 'binary');
    assert.equal(skipped.get('bad/huge.min.js'), 'too-large');
    assert.equal(skipped.get('bad/small.min.js'), 'minified');
    assert.equal(skipped.get('bad/latin1.txt'), 'not-utf8');
    assert.equal(skipped.get('ok/loop'), 'symlink-loop');
    assert.equal(skipped.get('ok/outside'), 'symlink-outside');
    assert.equal(skipped.get('ok/dangling'), 'symlink-broken');
    assert.equal(skipped.get('vanish/b.ts'), 'vanished');
    // As root, mode 000 does not stop a read: the file is indexed, and the 'unreadable' path is
    // covered only when the suite runs as another user.
    if (asRoot) assert.ok((await store.getFile('locked/secret.ts')) !== undefined);
    else assert.equal(skipped.get('locked/secret.ts'), 'unreadable');

    const indexed = new Set((await store.listFiles()).keys());
    for (const p of ['ok/good.ts', 'ok/empty.ts', 'ok/blank.txt', 'bad/long.txt', 'vanish/a.ts', `${deep}/bottom.ts`]) assert.ok(indexed.has(p), p);
    assert.equal((await store.chunksOfFile('ok/empty.ts')).length, 0);
    const long = await store.chunksOfFile('bad/long.txt');
    assert.equal(long[0].startLine, 1);
    assert.equal(long.at(-1)!.endLine, 20_000);
    assert.equal((await store.keywordSearch(ftsQuery('bottomValue0')!, 3)).length, 1);
    // Every file on disk is either indexed or reported skipped.
    for (const rel of ['ok/good.ts', 'bad/binary.bin', 'bad/huge.min.js', 'bad/small.min.js', 'bad/latin1.txt', 'vanish/b.ts']) {
      assert.ok(indexed.has(rel) || skipped.has(rel), rel);
    }
    assert.equal(s.complete, true);
    const st = await store.stats();
    assert.equal(st.skippedByReason['symlink-loop'], 1);
  });

  it('a file that fails to embed is a warning naming it; the run finishes and the rest is indexed', async function () {
    const { store, indexer, counting, warnings } = await setup({ 'a.ts': tsFile('alpha', 2), 'poison.ts': tsFile('poisoned', 1) });
    counting.failOn = /poisonedValue0/;
    const s = await indexer.refresh();
    assert.equal(s.warnings.length, 1);
    assert.match(warnings[0], /^poison\.ts:\d+: not embedded: synthetic embedding failure$/);
    assert.equal(s.chunksPending, 1);
    assert.equal(s.complete, false);
    assert.equal((await store.stats()).chunksWithVectors, s.chunks - 1);
    counting.failOn = null;
    const again = await indexer.refresh();
    assert.deepEqual([again.textsEmbedded, again.complete], [1, true]);
  });
});
