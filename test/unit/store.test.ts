import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sqlite3 from 'sqlite3';
import { ChunkInput, contentHash, indexDirFor, indexPathFor, Store } from '../../server/index/store';
import { ftsQuery, splitIdentifiers } from '../../server/index/identifiers';

const FP_A = 'aaaaaaaaaaaaaaaa';
const FP_B = 'bbbbbbbbbbbbbbbb';

function chunk(text: string, extra: Partial<ChunkInput> = {}): ChunkInput {
  return {
    startLine: 1,
    endLine: text.split('\n').length,
    language: 'typescript',
    kind: 'function',
    symbol: null,
    container: null,
    text,
    embedText: `// header\n${text}`,
    ...extra,
  };
}

function vec(seed: number, dim = 4): Float32Array {
  return Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 7.1 + i));
}

function rawQuery<T>(file: string, sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all<T>(sql, (e, rows) => db.close(() => (e ? reject(e) : resolve(rows))));
    });
  });
}

const FILE = { size: 10, mtimeMs: 1000, hash: 'h1' };

describe('tokens: identifier splitting', function () {
  it('splits camelCase, snake_case, acronyms and digits, keeping the joined word', function () {
    assert.equal(splitIdentifiers('getUserName'), 'getusername get user name');
    assert.equal(splitIdentifiers('get_user_name'), 'getusername get user name');
    assert.equal(splitIdentifiers('HTTPServer2.listen()'), 'httpserver2 http server 2 listen');
    assert.equal(splitIdentifiers('src/userService.ts'), 'src userservice user service ts');
    assert.equal(splitIdentifiers('plain words'), 'plain words');
  });

  it('builds quoted MATCH expressions that survive FTS5 operators and punctuation', function () {
    assert.equal(ftsQuery('getUserName'), '("getusername" OR "get user name")');
    assert.equal(ftsQuery('a AND "b'), '"a" OR "and" OR "b"');
    assert.equal(ftsQuery('  ()*: '), null);
    assert.equal(ftsQuery('x y', 'all'), '"x" AND "y"');
  });
});

describe('store', function () {
  let dir: string;
  let file: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-store-'));
    file = path.join(dir, 'index.sqlite');
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the database with 8 KiB pages, WAL and the documented tables', async function () {
    const store = await Store.open(file, { modelId: 'm', modelFingerprint: FP_A, dim: 4, chunkerVersion: '1' });
    assert.equal(store.opened.created, true);
    await store.close();
    const [{ page_size }] = await rawQuery<{ page_size: number }>(file, 'PRAGMA page_size');
    const [{ journal_mode }] = await rawQuery<{ journal_mode: string }>(file, 'PRAGMA journal_mode');
    assert.equal(page_size, 8192);
    assert.equal(journal_mode, 'wal');
    const names = (await rawQuery<{ name: string }>(file, `SELECT name FROM sqlite_schema WHERE type = 'table'`)).map((r) => r.name);
    for (const t of ['meta', 'files', 'chunks', 'vectors', 'skipped', 'fts']) assert.ok(names.includes(t), t);
    const again = await Store.open(file, { modelId: 'm', modelFingerprint: FP_A, dim: 4, chunkerVersion: '1' });
    assert.equal(again.opened.created, false);
    assert.equal(again.opened.reset, undefined);
    await again.close();
  });

  it('finds identifiers by their parts and ranks a symbol match above a text match', async function () {
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    await store.replaceFileChunks({ path: 'src/users.ts', ...FILE }, [
      chunk('function getUserName(u) { return u.name }', { symbol: 'getUserName' }),
      chunk('const x = 1; // calls get_user_name elsewhere', { startLine: 5, endLine: 5 }),
      chunk('unrelated text about parsing', { startLine: 9, endLine: 9 }),
    ]);
    for (const q of ['getUserName', 'get_user_name', 'user name', 'GetUserName']) {
      const hits = await store.keywordSearch(ftsQuery(q)!, 10);
      // Porter stemming: the word "user" also meets the path users.ts, which every chunk shares.
      assert.equal(hits.length, q === 'user name' ? 3 : 2, q);
      const [first] = await store.chunksByIds([hits[0].id]);
      assert.equal(first.symbol, 'getUserName', `${q}: symbol column weighs more`);
      assert.ok(hits[0].score >= hits[1].score && hits[0].bm25 < 0);
    }
    // Path column: a file found by a word of its path.
    assert.equal((await store.keywordSearch(ftsQuery('users')!, 10)).length, 3);
    // Filters.
    assert.equal((await store.keywordSearch(ftsQuery('user')!, 10, { languages: ['python'] })).length, 0);
    assert.equal((await store.keywordSearch(ftsQuery('user')!, 10, { path: (p) => p.startsWith('src/') })).length, 3); // stemmed: the path users.ts too
    await assert.rejects(store.keywordSearch('"unterminated', 10), /unterminated|syntax/);
    await store.close();
  });

  it('replacing and deleting a file leaves no stale chunk or FTS row', async function () {
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('alpha beta'), chunk('gamma')]);
    await store.replaceFileChunks({ path: 'a.ts', ...FILE, hash: 'h2' }, [chunk('delta')]);
    assert.equal((await store.keywordSearch('alpha', 10)).length, 0);
    assert.equal((await store.keywordSearch('delta', 10)).length, 1);
    assert.equal((await store.getFile('a.ts'))?.hash, 'h2');
    assert.equal(await store.deleteFile('a.ts'), true);
    assert.equal(await store.deleteFile('a.ts'), false);
    assert.equal((await store.keywordSearch('delta', 10)).length, 0);
    const s = await store.stats();
    assert.equal(s.files, 0);
    assert.equal(s.chunks, 0);
    await store.close();
    const [{ n }] = await rawQuery<{ n: number }>(file, `SELECT count(*) AS n FROM fts WHERE fts MATCH 'delta OR alpha OR gamma'`);
    assert.equal(n, 0);
  });

  it('stores vectors by text hash: duplicates and re-chunked files reuse them', async function () {
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    const r1 = await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('one'), chunk('two')]);
    assert.equal(r1.pending, 2);
    const pending = await store.missingVectorChunks(10);
    assert.deepEqual(
      pending.map((p) => p.embedText),
      ['// header\none', '// header\ntwo'],
    );
    assert.equal(pending[0].contentHash, contentHash('// header\none'));
    await store.putVectors(new Map(pending.map((p, i) => [p.contentHash, vec(i)])));
    assert.equal((await store.missingVectorChunks(10)).length, 0);
    // The same text in another file, and a re-chunk of the same file: no pending vector.
    assert.equal((await store.replaceFileChunks({ path: 'b.ts', ...FILE }, [chunk('two')])).pending, 0);
    assert.equal((await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('one'), chunk('three')])).pending, 1);
    const rows = [];
    for await (const page of store.chunkVectors({ pageSize: 1 })) rows.push(...page);
    assert.equal(rows.length, 2); // a.ts 'one', b.ts 'two'; 'three' has none yet
    const one = rows.find((r) => r.contentHash === contentHash('// header\none'))!;
    assert.deepEqual(Array.from(one.vector), Array.from(vec(0)));
    const s = await store.stats();
    assert.deepEqual([s.files, s.chunks, s.chunksWithVectors, s.vectors, s.partial], [2, 3, 2, 2, true]);
    // Vectors handed in with the chunks are stored in the same transaction.
    const r3 = await store.replaceFileChunks({ path: 'c.ts', ...FILE }, [chunk('four')], new Map([[contentHash('// header\nfour'), vec(4)]]));
    assert.equal(r3.pending, 0);
    await store.close();
  });

  it('a different model fingerprint never reads the old vectors; prune drops them', async function () {
    let store = await Store.open(file, { modelId: 'A', modelFingerprint: FP_A, dim: 4 });
    await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('one')]);
    const [p] = await store.missingVectorChunks(10);
    await store.putVectors(new Map([[p.contentHash, vec(1)]]));
    await store.close();

    store = await Store.open(file, { modelId: 'B', modelFingerprint: FP_B, dim: 8 });
    assert.deepEqual(store.opened.modelChanged, { from: FP_A, to: FP_B });
    assert.equal((await store.missingVectorChunks(10)).length, 1);
    const newRows = [];
    for await (const page of store.chunkVectors()) newRows.push(...page);
    assert.equal(newRows.length, 0);
    const oldRows = [];
    for await (const page of store.chunkVectors({ fingerprint: FP_A })) oldRows.push(...page);
    assert.equal(oldRows.length, 1, 'the old model stays readable by name until pruned');
    let s = await store.stats();
    assert.deepEqual([s.model?.id, s.model?.dim, s.chunksWithVectors, s.vectors, s.partial], ['B', 8, 0, 0, true]);
    await store.putVectors(new Map([[p.contentHash, vec(2, 8)]]));
    assert.equal(await store.pruneVectors(), 1);
    s = await store.stats();
    assert.equal(s.chunksWithVectors, 1);
    await store.close();

    // Back to model A: its vectors were pruned, so everything is pending again.
    store = await Store.open(file, { modelId: 'A', modelFingerprint: FP_A, dim: 4 });
    assert.equal((await store.missingVectorChunks(10)).length, 1);
    await store.close();
  });

  it('a different chunker version drops chunks but keeps vectors; chunk ids are never reused', async function () {
    let store = await Store.open(file, { modelFingerprint: FP_A, dim: 4, chunkerVersion: '1' });
    const { chunkIds } = await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('one'), chunk('two')]);
    await store.putVectors(new Map((await store.missingVectorChunks(10)).map((p, i) => [p.contentHash, vec(i)])));
    await store.close();
    store = await Store.open(file, { modelFingerprint: FP_A, dim: 4, chunkerVersion: '2' });
    assert.equal(store.opened.reset, 'chunker');
    assert.equal((await store.stats()).files, 0);
    assert.equal((await store.keywordSearch('one', 5)).length, 0);
    const r = await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('one')]);
    assert.equal(r.pending, 0, 'the same text reuses its vector');
    assert.ok(r.chunkIds[0] > Math.max(...chunkIds));
    await store.close();
  });

  it('documentFrequencies counts chunks per word as the keyword index sees it (stemmed, case-folded)', async function () {
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    await store.replaceFileChunks({ path: 'a/one.ts', ...FILE }, [chunk('retry the upload'), chunk('uploads failed'), chunk('nothing here')]);
    await store.replaceFileChunks({ path: 'b/two.ts', ...FILE }, [chunk('Uploading again')]);
    const { counts, total } = await store.documentFrequencies(['uploads', 'UPLOAD', 'retrying', 'absentword', 'one']);
    assert.equal(total, 4);
    // 'uploads', 'upload' and 'uploading' stem alike; 'one' is in the path column of a/one.ts's chunks.
    assert.deepEqual(counts, [3, 3, 1, 0, 3]);
    assert.deepEqual(await store.documentFrequencies([]), { counts: [], total: 4 });
    // Concurrent calls each get their own answer.
    const both = await Promise.all([store.documentFrequencies(['again']), store.documentFrequencies(['nothing', 'again'])]);
    assert.deepEqual(
      both.map((r) => r.counts),
      [[1], [1, 1]],
    );
    // Answers are remembered only while the index is unchanged.
    await store.replaceFileChunks({ path: 'c/three.ts', ...FILE }, [chunk('again and again'), chunk('upload it')]);
    assert.deepEqual(await store.documentFrequencies(['again', 'uploads']), { counts: [2, 4], total: 6 });
    await store.deleteFiles(['b/two.ts']);
    assert.deepEqual(await store.documentFrequencies(['again', 'uploads']), { counts: [1, 3], total: 5 });
    // A write through another connection (another process indexing) is seen too.
    const other = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    await other.replaceFileChunks({ path: 'd/four.ts', ...FILE }, [chunk('again')]);
    await other.close();
    assert.deepEqual(await store.documentFrequencies(['again']), { counts: [2], total: 6 });
    await store.close();
  });

  it('renameFile moves chunks, vectors and the FTS path without re-chunking', async function () {
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    const { chunkIds } = await store.replaceFileChunks({ path: 'old/place.ts', ...FILE }, [chunk('payload text', { symbol: 'doThing' })]);
    assert.equal(await store.renameFile('old/place.ts', 'new/spot.ts', { size: 11, mtimeMs: 2000 }), true);
    assert.equal(await store.renameFile('missing.ts', 'x.ts'), false);
    assert.equal(await store.getFile('old/place.ts'), undefined);
    assert.deepEqual(await store.getFile('new/spot.ts').then((f) => [f?.size, f?.mtimeMs, f?.hash]), [11, 2000, 'h1']);
    assert.equal((await store.keywordSearch('place', 5)).length, 0);
    const hits = await store.keywordSearch('spot', 5);
    assert.deepEqual(
      hits.map((h) => [h.id, h.path]),
      [[chunkIds[0], 'new/spot.ts']],
    );
    assert.equal((await store.keywordSearch('thing', 5)).length, 1);
    await store.close();
  });

  it('a file that is not a database is moved aside and replaced by a fresh index', async function () {
    fs.writeFileSync(file, 'this is not a sqlite database '.repeat(500));
    const store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    assert.ok(store.opened.recovered, 'recovery reported');
    assert.match(store.opened.recovered.movedTo, /index\.sqlite\.corrupt-/);
    assert.ok(fs.existsSync(store.opened.recovered.movedTo));
    assert.equal(store.opened.created, true);
    await store.replaceFileChunks({ path: 'a.ts', ...FILE }, [chunk('works')]);
    assert.equal((await store.keywordSearch('works', 5)).length, 1);
    await store.close();
  });

  it('a database with damaged pages fails quick_check and is replaced', async function () {
    let store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    for (let i = 0; i < 40; i++) await store.replaceFileChunks({ path: `f${i}.ts`, ...FILE }, [chunk(`text number ${i} `.repeat(200))]);
    await store.close();
    // Overwrite pages in the middle of the file (past the header page) with garbage.
    const fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, Buffer.alloc(8192 * 3, 0xa5), 0, 8192 * 3, 8192 * 2);
    fs.closeSync(fd);
    assert.ok(size > 8192 * 6);
    store = await Store.open(file, { modelFingerprint: FP_A, dim: 4 });
    assert.ok(store.opened.recovered, 'damage detected');
    assert.equal((await store.stats()).files, 0);
    await store.close();
  });

  it('read-only open of a missing index fails with "path: reason"', async function () {
    await assert.rejects(Store.open(file, { readonly: true }), (e: Error) => e.message === `${file}: no index here`);
  });

  it('places indexes per root under the cache folder', function () {
    const a = indexDirFor(dir, '/cache/semsearch');
    assert.match(a, new RegExp(`^/cache/semsearch/[0-9a-f]{16}-${path.basename(dir)}$`));
    assert.equal(indexPathFor(dir, '/x/y'), '/x/y/index.sqlite');
    assert.notEqual(indexDirFor('/tmp/a', '/c'), indexDirFor('/tmp/b', '/c'));
  });
});
