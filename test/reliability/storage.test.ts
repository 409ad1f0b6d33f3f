// Storage faults: a damaged index database (truncated, random bytes), a full disk while indexing,
// a read-only storage folder.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Chunker } from '../../server/index/chunk';
import { Embedder } from '../../server/model/embedder';
import type { SearchResult } from '../../server/protocol';
import { Indexer, openStore } from '../../server/index/refresh';
import { Store } from '../../server/index/store';
import { ftsQuery } from '../../server/index/identifiers';
import {
  canMount,
  copyStorage,
  indexContent,
  indexFileOf,
  integrityCheck,
  makeWorkspace,
  MINILM_DIR,
  rawQuery,
  Random,
  run,
  runSeed,
  SHARED_FILES,
  SHARED_PER_FILE,
  sharedIndex,
  sleep,
  tempDir,
  TestSidecar,
  withTimeout,
} from './support';
import { record } from './table';

const PAGE = 8192;

/** Ways to damage a database file; each returns what it did. */
const DAMAGE: { name: string; apply(file: string, random: Random, btreePages: number[]): string }[] = [
  {
    name: 'truncated to half',
    apply(file) {
      const size = fs.statSync(file).size;
      fs.truncateSync(file, Math.floor(size / 2));
      return `${size} → ${Math.floor(size / 2)} bytes`;
    },
  },
  {
    name: 'truncated inside the first page',
    apply(file) {
      fs.truncateSync(file, 1000);
      return '1000 bytes left';
    },
  },
  {
    name: 'random bytes over the 100-byte header',
    apply(file, random) {
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, random.bytes(100), 0, 100, 0);
      fs.closeSync(fd);
      return 'bytes 0-99';
    },
  },
  {
    name: 'random bytes over 3 b-tree pages',
    apply(file, random, btreePages) {
      const fd = fs.openSync(file, 'r+');
      const picked: number[] = [];
      for (let i = 0; i < 3; i++) {
        const page = random.pick(btreePages);
        picked.push(page);
        fs.writeSync(fd, random.bytes(PAGE), 0, PAGE, (page - 1) * PAGE);
      }
      fs.closeSync(fd);
      return `pages ${picked.join(', ')}`;
    },
  },
  {
    name: 'random 16-byte spans at the start of 24 b-tree pages',
    apply(file, random, btreePages) {
      const fd = fs.openSync(file, 'r+');
      for (let i = 0; i < 24; i++) fs.writeSync(fd, random.bytes(16), 0, 16, (random.pick(btreePages) - 1) * PAGE);
      fs.closeSync(fd);
      return '24 page headers';
    },
  },
];

/** B-tree pages (tables and indexes, not page 1) of a database, from SQLite's dbstat table. */
async function btreePagesOf(file: string): Promise<number[]> {
  const rows = await rawQuery<{ pageno: number }>(file, `SELECT pageno FROM dbstat WHERE pagetype IN ('internal', 'leaf') AND pageno > 1`);
  return rows.map((r) => r.pageno);
}

describe('reliability: storage faults', function () {
  this.timeout(180_000);
  let root: string;
  let template: string;
  before(async function () {
    ({ root, storageDir: template } = await sharedIndex());
  });

  it('a damaged index database is detected on open, set aside and rebuilt (5 kinds of damage)', async function () {
    const seed = runSeed();
    const random = new Random(seed);
    const btree = await btreePagesOf(indexFileOf(root, template));
    const done: string[] = [];
    for (const damage of DAMAGE) {
      const storageDir = copyStorage(template);
      const file = indexFileOf(root, storageDir);
      const what = damage.apply(file, random, btree);
      const store = await Store.open(file, { modelFingerprint: 'x', dim: 4 });
      try {
        assert.ok(store.opened.recovered, `${damage.name} (${what}, seed ${seed}): not detected`);
        assert.ok(fs.existsSync(store.opened.recovered.movedTo), 'the damaged file is kept beside');
        assert.equal((await store.stats()).files, 0, 'a fresh index');
      } finally {
        await store.close();
      }
      assert.equal(await integrityCheck(file), 'ok');
      done.push(damage.name);
    }
    record({
      area: 'storage',
      what: `index database damaged: ${done.join('; ')}`,
      cases: `${DAMAGE.length} kinds (seed ${seed})`,
      outcome: 'each detected on open (quick_check or "not a database"), moved to index.sqlite.corrupt-<time>, a fresh index created',
    });
  });

  it('through the sidecar: the user is told once, the index is rebuilt, search answers', async function () {
    const random = new Random(runSeed());
    const storageDir = copyStorage(template);
    const file = indexFileOf(root, storageDir);
    DAMAGE[3].apply(file, random, await btreePagesOf(file));
    const first = await TestSidecar.start({ roots: [root], storageDir });
    const s = await first.waitIndexed();
    assert.deepEqual([s.folders[0].files, s.folders[0].chunks], [SHARED_FILES, SHARED_FILES * SHARED_PER_FILE]);
    const r = await first.request<SearchResult>('semsearch/search', { query: 'mod33Value1', top: 3 });
    assert.equal(r.hits[0]?.symbol, 'mod33Value1');
    await first.stop();
    const told = first.shown.filter((m) => /was damaged/.test(m.message));
    assert.equal(told.length, 1, `told ${told.length} times: ${JSON.stringify(first.shown)}`);
    assert.match(told[0].message, /set aside and is being rebuilt/);
    const aside = fs.readdirSync(path.dirname(file)).filter((f) => f.includes('.corrupt-'));
    assert.ok(aside.length >= 1, 'the damaged file is kept beside the new one');
    // The next start has nothing to report.
    const second = await TestSidecar.start({ roots: [root], storageDir });
    await second.waitIndexed();
    await second.stop();
    assert.equal(second.shown.filter((m) => /damaged/.test(m.message)).length, 0, 'told once, not at every start');
    assert.equal(await integrityCheck(file), 'ok');
    record({
      area: 'storage',
      what: 'damaged index under the running extension (random bytes over b-tree pages)',
      cases: '1 damage, 2 starts',
      outcome: `one warning ("${told[0].message.replace(/^semsearch: the index of \S+ /, '… ').slice(0, 60)}…"), none at the next start; rebuilt to ${s.folders[0].files} files; search answered`,
    });
  });

  describe('disk full', function () {
    let embedder: Embedder;
    let chunker: Chunker;
    before(async function () {
      embedder = await Embedder.load(MINILM_DIR, { device: 'cpu' });
      chunker = await Chunker.create();
    });
    after(function () {
      chunker?.dispose();
      embedder?.dispose();
    });

    it('SQLITE_FULL mid-index (page limit): a clear error, the index stays readable, indexing resumes with room', async function () {
      // Deterministic, on any machine: SQLite's max_page_count makes the database "full".
      const ws = makeWorkspace(40, 3);
      const file = path.join(tempDir('full'), 'index.sqlite');
      const store = await openStore(file, embedder);
      const pragma = (sql: string) => (store as unknown as { db: { get(sql: string): Promise<unknown> } }).db.get(sql);
      try {
        // Files and chunks first (an encoder that fails leaves every vector missing), then room
        // for a few more pages only: the vector writes (1.5 KB each) hit the limit.
        const failing = { info: embedder.info, countTokens: (t: string) => embedder.countTokens(t), embed: async () => Promise.reject(new Error('held back')) };
        await new Indexer({ root: ws, store, embedder: failing, chunker, onWarning: () => undefined }).refresh();
        const { page_count: pages } = (await pragma('PRAGMA page_count')) as { page_count: number };
        await pragma(`PRAGMA max_page_count = ${pages + 8}`);
        const indexer = new Indexer({ root: ws, store, embedder, chunker, embedBatchSize: 16 });
        const failure = await indexer.refresh().then(
          () => null,
          (e: Error & { code?: string }) => e,
        );
        assert.ok(failure, 'the refresh must fail when the database cannot grow');
        assert.equal(failure.code, 'SQLITE_FULL', failure.message);
        assert.match(failure.message, /database or disk is full/);
        assert.equal(await integrityCheck(file), 'ok');
        const partial = await store.stats();
        assert.ok(partial.chunksWithVectors < partial.chunks, 'stopped part-way');
        assert.equal((await store.keywordSearch(ftsQuery('mod7Value2')!, 3)).length, 1, 'keyword search still answers');
        await pragma('PRAGMA max_page_count = 1073741823');
        const resumed = await indexer.refresh();
        assert.equal(resumed.complete, true);
        const c = await indexContent(file);
        assert.equal(c.files.size, 40);
        assert.equal(
          [...c.embedded.values()].reduce((a, b) => a + b, 0),
          120,
        );
        record({
          area: 'storage',
          what: 'database full while indexing (SQLite max_page_count: SQLITE_FULL on a vector write)',
          cases: `40 files, stopped at ${partial.chunksWithVectors}/${partial.chunks} vectors`,
          outcome: `"${failure.message}"; integrity_check ok; keyword search answered; with room again the next refresh completed (${resumed.textsEmbedded} embedded)`,
        });
      } finally {
        await store.close();
      }
    });

    it('a store write failing mid-walk ends the run with that error, not the process (vector write; file write)', async function () {
      // Before the fix such a rejection went unhandled while the walk ran on, and Node ended the
      // sidecar (found by the tmpfs test below); a failed file write could also leave the walk
      // waiting forever on its full queue.
      const full = Object.assign(new Error('SQLITE_FULL: database or disk is full'), { code: 'SQLITE_FULL' });
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => void unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      const slow = { chunk: async (rel: string, text: string, o: Parameters<Chunker['chunk']>[2]) => (await sleep(40), chunker.chunk(rel, text, o)) };
      const outcomes: string[] = [];
      try {
        for (const failing of ['putVectors', 'replaceFileChunks'] as const) {
          const ws = makeWorkspace(30, 2);
          const store = await openStore(path.join(tempDir('full-early'), 'index.sqlite'), embedder);
          try {
            let calls = 0;
            const real = store[failing].bind(store) as (...a: unknown[]) => Promise<never>;
            (store as unknown as Record<string, unknown>)[failing] = (...a: unknown[]) => (++calls >= 2 ? Promise.reject(full) : real(...a));
            const outcome = await withTimeout(
              new Indexer({ root: ws, store, embedder, chunker: slow, embedBatchSize: 4, readConcurrency: 1 }).refresh().then(
                () => null,
                (e: unknown) => e,
              ),
              60_000,
              `refresh with ${failing} failing`,
            );
            await sleep(100);
            assert.equal(outcome, full, `${failing}: the refresh rejects with the store error`);
            assert.deepEqual(unhandled, [], `${failing}: no unhandled rejection`);
            const files = (await store.stats()).files;
            assert.ok(files < 30, `${failing}: the walk stopped early (${files} of 30 files written)`);
            outcomes.push(`${failing}: stopped after ${files}/30 files`);
          } finally {
            await store.close();
          }
        }
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      record({
        area: 'storage',
        what: 'a store write failing (SQLITE_FULL) while the walk still runs: a vector write, a file write',
        cases: '2',
        outcome: `the refresh rejected with the store's error, no unhandled rejection, no hang (${outcomes.join('; ')})`,
      });
    });

    it('a full tmpfs under the running sidecar: clear message, search answers, indexing resumes when space returns', async function () {
      const mount = canMount();
      if (!mount.ok) {
        console.log(`      not exercised: disk full on a real file system needs a tmpfs mount (${mount.reason}); the page-limit test above covers SQLITE_FULL`);
        record({ area: 'storage', what: 'disk full on a real file system (tmpfs)', cases: '0', outcome: `NOT EXERCISED on this machine: ${mount.reason}` });
        this.skip();
      }
      const ws = makeWorkspace(80, 4);
      const storageDir = tempDir('tmpfs');
      run('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', storageDir]);
      let sidecar: TestSidecar | undefined;
      try {
        const file = indexFileOf(ws, storageDir);
        // Leave 1.5 MB free: the index starts, and runs out of room a few files in.
        const filler = path.join(storageDir, 'filler');
        const st = fs.statfsSync(storageDir);
        fs.writeFileSync(filler, Buffer.alloc(st.bavail * st.bsize - 1.5 * 2 ** 20, 1));
        sidecar = await TestSidecar.start({ roots: [ws], storageDir });
        const full = await sidecar.waitForStatus((s) => s.health === 'error', 60_000, 'the disk-full error');
        const filled = fs.statSync(filler).size;
        assert.match(
          full.message,
          /index\.sqlite: SQLITE_FULL: database or disk is full\. The disk is full: search uses the index as it is; indexing resumes by itself once space is freed/,
        );
        const stored = await rawQuery<{ path: string }>(file, 'SELECT path FROM files ORDER BY id LIMIT 1');
        assert.equal(stored.length, 1, 'some files were indexed before the disk filled');
        const symbol = `mod${/m(\d+)\.ts$/.exec(stored[0].path)![1]}Value1`;
        const hits = await sidecar.request<SearchResult>('semsearch/search', { query: symbol, top: 3 });
        assert.equal(hits.hits[0]?.symbol, symbol, 'search answers while the disk is full');
        assert.equal(await integrityCheck(file), 'ok');
        const stuck = (await sidecar.status()).folders[0];
        fs.rmSync(filler);
        const t0 = Date.now();
        const done = await sidecar.waitIndexed(120_000);
        const resumedMs = Date.now() - t0;
        assert.deepEqual([done.folders[0].files, done.folders[0].chunksWithVectors], [80, 320]);
        await sidecar.stop();
        assert.equal(await integrityCheck(file), 'ok');
        record({
          area: 'storage',
          what: `disk full while indexing (32 MB tmpfs, ${(filled / 2 ** 20).toFixed(1)} MB taken by a filler file, under the running sidecar)`,
          cases: `80 files, stopped at ${stuck.chunksWithVectors}/${stuck.chunks} vectors`,
          outcome: `status: "…SQLITE_FULL: database or disk is full. The disk is full: search uses the index as it is; indexing resumes by itself…"; search answered; integrity_check ok; space freed → index complete ${(resumedMs / 1000).toFixed(1)} s later, without a request`,
        });
      } finally {
        await sidecar?.kill();
        spawnSync('umount', [storageDir]);
      }
    });
  });

  it('a read-only storage folder: search answers from the index as it is, with a clear message', async function () {
    const mount = canMount();
    if (!mount.ok) {
      console.log(`      not exercised: a read-only folder needs a read-only bind mount when running as root (${mount.reason})`);
      record({ area: 'storage', what: 'read-only storage folder', cases: '0', outcome: `NOT EXERCISED on this machine: ${mount.reason}` });
      this.skip();
    }
    const storageDir = copyStorage(template);
    const file = indexFileOf(root, storageDir);
    run('mount', ['--bind', storageDir, storageDir]);
    let sidecar: TestSidecar | undefined;
    try {
      run('mount', ['-o', 'remount,ro,bind', storageDir]);
      assert.throws(() => fs.writeFileSync(path.join(storageDir, 'probe'), 'x'), /EROFS/);
      sidecar = await TestSidecar.start({ roots: [root], storageDir });
      const s = await sidecar.waitForStatus((x) => x.health !== 'indexing', 60_000, 'start-up');
      assert.equal(s.health, 'warning');
      assert.match(s.message, /the index folder is read-only \(.*read-only file system\); search uses the index as it is/);
      assert.equal(s.folders[0].files, SHARED_FILES);
      const semantic = await sidecar.request<SearchResult>('semsearch/search', { query: 'compute the mod21 value number 3', top: 5 });
      assert.ok(
        semantic.hits.some((h) => h.symbol === 'mod21Value3'),
        JSON.stringify(semantic.hits.map((h) => h.symbol)),
      );
      const keyword = await sidecar.request<SearchResult>('semsearch/search', { query: 'mod44Value0', mode: 'keyword', top: 3 });
      assert.equal(keyword.hits[0]?.symbol, 'mod44Value0');
      const warned = sidecar.shown.filter((m) => /cannot be written/.test(m.message));
      assert.equal(warned.length, 1);
      await assert.rejects(sidecar.request('semsearch/reindex', {}), /read-only/);
      await sidecar.stop();
      record({
        area: 'storage',
        what: 'read-only storage folder (read-only bind mount over a complete index)',
        cases: '1 folder, hybrid + keyword search, reindex',
        outcome: `status warning "${s.message
          .split(storageDir)
          .join('<storage>')
          .split(root)
          .join('<root>')
          .replace(
            /<storage>\/[^/:]+/,
            '<storage>/…',
          )}"; one notification; hybrid and keyword search answered from the existing index; reindex refused with the reason`,
      });
    } finally {
      await sidecar?.kill();
      spawnSync('umount', [storageDir]);
    }
    assert.equal(await integrityCheck(file), 'ok');
  });

  it('a read-only folder with no index: the folder reports why, the sidecar keeps running', async function () {
    const mount = canMount();
    if (!mount.ok) this.skip();
    const ws = makeWorkspace(3, 1);
    const storageDir = tempDir('ro-empty');
    run('mount', ['--bind', storageDir, storageDir]);
    let sidecar: TestSidecar | undefined;
    try {
      run('mount', ['-o', 'remount,ro,bind', storageDir]);
      sidecar = await TestSidecar.start({ roots: [ws], storageDir });
      const s = await sidecar.waitForStatus((x) => x.health !== 'indexing', 60_000, 'start-up');
      assert.equal(s.health, 'error');
      assert.match(s.message, /cannot open its index: .*index\.sqlite: cannot create the index: .*: read-only file system/);
      const r = await sidecar.request<SearchResult>('semsearch/search', { query: 'anything' });
      assert.deepEqual([r.hits.length, r.partial], [0, true]);
      await sidecar.stop();
      await sleep(0);
    } finally {
      await sidecar?.kill();
      spawnSync('umount', [storageDir]);
    }
  });
});
