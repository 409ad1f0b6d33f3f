// Process faults: the real sidecar SIGKILLed while indexing, while answering searches, and between
// a SQLite write and its COMMIT; the extension's restart of a sidecar that died.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { Ctx as CtxClass } from '../../extension/ctx';
import type { SearchResult, StatusResult } from '../../server/protocol';
import { chunksOf, FINGERPRINT } from './children/storeWriter';
import { extensionContext, install, logLines, shown } from './fakeVscode';
import {
  indexContent,
  IndexContent,
  indexFileOf,
  integrityCheck,
  copyStorage,
  SHARED_FILES,
  SHARED_PER_FILE,
  sharedIndex,
  rawQuery,
  REPO_ROOT,
  sleep,
  tempDir,
  TestSidecar,
  withTimeout,
} from './support';
import { record } from './table';

const FILES = SHARED_FILES;
const TOTAL = SHARED_FILES * SHARED_PER_FILE;

/** The index is sound on its own terms: integrity_check, one FTS row per chunk, vector marks true. */
async function assertSound(file: string): Promise<IndexContent> {
  assert.equal(await integrityCheck(file), 'ok', `${file}: integrity_check`);
  const c = await indexContent(file);
  assert.equal(c.ftsRows, c.chunkRows, 'one FTS row per chunk');
  const [{ n: falseMarks }] = await rawQuery<{ n: number }>(
    file,
    `SELECT count(*) AS n FROM chunks c WHERE c.vector_state = 1 AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.content_hash AND v.fingerprint = (SELECT value FROM meta WHERE key = 'model_fingerprint'))`,
  );
  assert.equal(falseMarks, 0, 'every chunk marked embedded has its vector');
  return c;
}

/** Everything `before` held is still in `after`: files with the same hash, at least as many vectors. */
function assertKept(before: IndexContent, after: IndexContent): void {
  for (const [p, hash] of before.files) {
    assert.equal(after.files.get(p), hash, `${p}: committed before the kill, gone after it`);
    assert.equal(after.chunks.get(p), before.chunks.get(p), `${p}: chunk count changed`);
    assert.ok((after.embedded.get(p) ?? 0) >= (before.embedded.get(p) ?? 0), `${p}: committed vectors lost`);
  }
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('reliability: process faults', function () {
  this.timeout(180_000);
  let root: string;
  let indexed: string;
  before(async function () {
    ({ root, storageDir: indexed } = await sharedIndex());
  });

  it('SIGKILL while indexing, three times: nothing committed is lost, a fresh sidecar finishes and answers', async function () {
    const storageDir = tempDir('kill-index');
    const file = indexFileOf(root, storageDir);
    // Kill points: as soon as files are written; after some vectors; after most of them.
    const killAt = [
      (s: StatusResult) => s.folders[0]?.files > 0,
      (s: StatusResult) => s.folders[0]?.chunksWithVectors >= 60,
      (s: StatusResult) => s.folders[0]?.chunksWithVectors >= 150,
    ];
    const seen: string[] = [];
    for (const when of killAt) {
      const sidecar = await TestSidecar.start({ roots: [root], storageDir });
      const s = await sidecar.waitForStatus((x) => when(x) || (x.health === 'ok' && !x.partial), 60_000, 'the kill point');
      assert.notEqual(s.health, 'ok', 'the index finished before the kill point: the workspace is too small for this test');
      const committed = await indexContent(file); // WAL: a second reader sees exactly what is committed
      await sidecar.kill('SIGKILL');
      const after = await assertSound(file);
      assertKept(committed, after);
      seen.push(`${after.files.size} files/${sum(after.embedded)} vectors`);
    }
    const fresh = await TestSidecar.start({ roots: [root], storageDir });
    const beforeLast = sum((await indexContent(file)).embedded);
    const done = await fresh.waitIndexed();
    assert.deepEqual([done.folders[0].files, done.folders[0].chunks, done.folders[0].chunksWithVectors], [FILES, TOTAL, TOTAL]);
    const embeddedByLastRun = Math.max(...fresh.progress.map((p) => p.chunksEmbedded));
    assert.ok(embeddedByLastRun <= TOTAL - beforeLast, `the last run embedded ${embeddedByLastRun}, but only ${TOTAL - beforeLast} were missing`);
    const t0 = Date.now();
    const r = await fresh.request<SearchResult>('semsearch/search', { query: 'mod17Value3', top: 3 });
    const ms = Date.now() - t0;
    assert.equal(r.hits[0]?.symbol, 'mod17Value3');
    await fresh.stop();
    await assertSound(file);
    record({
      area: 'process',
      what: 'sidecar SIGKILLed while indexing (walk/chunk, embed 25 %, embed 60 %)',
      cases: `3 kills, ${FILES} files / ${TOTAL} chunks`,
      outcome: `integrity_check ok after each (${seen.join(', ')}); every committed file and vector kept; a fresh sidecar embedded only the ${TOTAL - beforeLast} missing chunks (${embeddedByLastRun}) and answered in ${ms} ms`,
    });
  });

  it('SIGKILL while answering 20 searches: requests fail at once (no hang), a fresh sidecar answers the same', async function () {
    const storageDir = copyStorage(indexed);
    const file = indexFileOf(root, storageDir);
    const first = await TestSidecar.start({ roots: [root], storageDir });
    await first.waitIndexed();
    const reference = await first.request<SearchResult>('semsearch/search', { query: 'scaled value number 7', top: 10 });
    const queries = Array.from({ length: 20 }, (_, i) =>
      first.request<SearchResult>('semsearch/search', { query: `compute the mod${i} value`, top: 10 }, 60_000),
    );
    const answered = Promise.race(queries.map((q) => q.catch(() => undefined)));
    await answered; // at least one is through: the rest are in flight
    const t0 = Date.now();
    await first.kill('SIGKILL');
    const outcomes = await Promise.allSettled(queries);
    const failedWithin = Date.now() - t0;
    const failed = outcomes.filter((o) => o.status === 'rejected');
    for (const f of failed) assert.doesNotMatch(String(f.reason), /no answer within/, 'a request hung instead of failing');
    await assertSound(file);
    const second = await TestSidecar.start({ roots: [root], storageDir });
    const again = await second.request<SearchResult>('semsearch/search', { query: 'scaled value number 7', top: 10 }, 60_000);
    assert.deepEqual(
      again.hits.map((h) => `${h.path}:${h.startLine}`),
      reference.hits.map((h) => `${h.path}:${h.startLine}`),
    );
    await second.stop();
    record({
      area: 'process',
      what: 'sidecar SIGKILLed while answering concurrent searches',
      cases: `20 searches, ${outcomes.length - failed.length} answered before the kill`,
      outcome: `${failed.length} in flight failed with a closed connection within ${failedWithin} ms (none hung); integrity_check ok; a fresh sidecar returned the same top 10`,
    });
  });

  it('killed between a SQLite write and its COMMIT: committed transactions all there, the open one absent', async function () {
    const writer = path.join(__dirname, 'children', 'storeWriter.js');
    const points = [1, 2, 5, 9, 16];
    for (const n of points) {
      const file = path.join(tempDir('kill-commit'), 'index.sqlite');
      const r = spawnSync(process.execPath, [writer, file, '20'], { env: { ...process.env, SEMSEARCH_TEST_KILL_BEFORE_COMMIT: String(n) }, encoding: 'utf8' });
      assert.equal(r.signal, 'SIGKILL', `writer was not killed at transaction ${n}: ${r.stderr}`);
      const committed = r.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(l.split(' ')[1]));
      assert.deepEqual(
        committed,
        Array.from({ length: n - 1 }, (_, i) => i),
        'transactions before the n-th committed',
      );
      assert.equal(await integrityCheck(file), 'ok');
      const files = (await rawQuery<{ path: string }>(file, 'SELECT path FROM files ORDER BY id')).map((f) => f.path);
      assert.deepEqual(
        files,
        committed.map((i) => `f${i}.ts`),
        `the file of transaction ${n} must be absent`,
      );
      for (const i of committed) {
        const symbols = (
          await rawQuery<{ symbol: string }>(file, 'SELECT c.symbol FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.start_line', [
            `f${i}.ts`,
          ])
        ).map((c) => c.symbol);
        assert.deepEqual(
          symbols,
          chunksOf(i).map((c) => c.symbol),
        );
      }
      const [{ v }] = await rawQuery<{ v: number }>(file, 'SELECT count(*) AS v FROM vectors WHERE fingerprint = ?', [FINGERPRINT]);
      assert.equal(v, committed.length * 3, 'exactly the committed vectors');
      const [{ n: fts }] = await rawQuery<{ n: number }>(file, 'SELECT count(*) AS n FROM fts_docsize');
      assert.equal(fts, committed.length * 3, 'exactly the committed FTS rows');
    }
    record({
      area: 'process',
      what: 'process SIGKILLed inside a write transaction, after its writes, before COMMIT (store fault hook)',
      cases: `${points.length} kill points (transactions ${points.join(', ')})`,
      outcome: 'integrity_check ok; every committed file, chunk, FTS row and vector present; the killed transaction left nothing',
    });
  });

  it('sidecar killed before COMMIT while indexing: the index stays sound and the next sidecar completes it', async function () {
    const outcomes: string[] = [];
    for (const n of [30, 65]) {
      const storageDir = tempDir('kill-commit-sidecar');
      const file = indexFileOf(root, storageDir);
      const doomed = await TestSidecar.start({ roots: [root], storageDir, env: { SEMSEARCH_TEST_KILL_BEFORE_COMMIT: String(n) } });
      const exit = await withTimeout(doomed.exited, 60_000, 'the fault hook');
      assert.equal(exit.signal, 'SIGKILL');
      const killed = await assertSound(file);
      const fresh = await TestSidecar.start({ roots: [root], storageDir });
      const done = await fresh.waitIndexed();
      assert.deepEqual([done.folders[0].files, done.folders[0].chunksWithVectors], [FILES, TOTAL]);
      const final = await indexContent(file);
      assertKept(killed, final);
      await fresh.stop();
      outcomes.push(`tx ${n}: ${killed.files.size} files/${sum(killed.embedded)} vectors at the kill`);
    }
    record({
      area: 'process',
      what: 'sidecar SIGKILLed inside a write transaction while indexing (store fault hook)',
      cases: '2 kill points (writing files; writing vectors)',
      outcome: `integrity_check ok, FTS rows = chunk rows (${outcomes.join('; ')}); the next sidecar completed the index`,
    });
  });

  it('the extension restarts a SIGKILLed sidecar with back-off; the index is intact and the next search answers', async function () {
    const storageDir = copyStorage(indexed);
    // extension/ctx.ts under a stand-in vscode API; its sidecar module is replaced by one that runs
    // the real sidecar process (vscode-languageclient needs a real VS Code).
    class ProcessSidecar {
      private stopping = false;
      private sidecar: TestSidecar | undefined;
      constructor(
        private readonly opts: { initializationOptions: { storageDir: string } },
        private readonly hooks: { onExit(): void; onStatus(s: StatusResult): void },
      ) {}
      async start(): Promise<void> {
        this.sidecar = await TestSidecar.start({ roots: [root], storageDir: this.opts.initializationOptions.storageDir });
        void this.sidecar.exited.then(() => !this.stopping && this.hooks.onExit());
      }
      async dispose(): Promise<void> {
        this.stopping = true;
        await this.sidecar?.stop();
      }
      get pid(): number | undefined {
        return this.sidecar?.pid;
      }
      search(p: object): Promise<SearchResult> {
        return this.sidecar!.request('semsearch/search', p, 60_000);
      }
      status(): Promise<StatusResult> {
        return this.sidecar!.status();
      }
    }
    install({ Sidecar: ProcessSidecar });
    // Loaded only now: it requires 'vscode', which install() provides.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Ctx } = require('../../extension/ctx') as { Ctx: typeof CtxClass };
    const ctx = new Ctx(extensionContext(REPO_ROOT, storageDir) as never);
    const states: string[] = [];
    ctx.onDidChangeState((s) => states.push(s));
    try {
      await ctx.start();
      assert.equal(ctx.state, 'running');
      const sidecar = () => ctx.running() as unknown as ProcessSidecar;
      await withTimeout(
        (async () => {
          for (;;) {
            const s = await sidecar().status();
            if (s.health === 'ok' && !s.partial && s.folders.length > 0) return;
            await sleep(100);
          }
        })(),
        120_000,
        'the index up to date',
      );
      const pids: number[] = [];
      const restartMs: number[] = [];
      for (let crash = 1; crash <= 2; crash++) {
        const pid = sidecar().pid!;
        pids.push(pid);
        const t0 = Date.now();
        process.kill(pid, 'SIGKILL');
        await withTimeout(
          (async () => {
            while (ctx.state !== 'crashed') await sleep(10);
          })(),
          10_000,
          'crash noticed',
        );
        assert.match(ctx.stateMessage, new RegExp(`restarting in ${crash === 1 ? 1 : 2} s`), 'back-off doubles');
        await withTimeout(
          (async () => {
            while (ctx.state !== 'running') await sleep(20);
          })(),
          30_000,
          'restart',
        );
        restartMs.push(Date.now() - t0);
        assert.notEqual(sidecar().pid, pid);
        const r = await sidecar().search({ query: 'mod42Value1', top: 3 });
        assert.equal(r.hits[0]?.symbol, 'mod42Value1');
      }
      assert.ok(
        shown.some((m) => m.severity === 'warning' && /stopped unexpectedly; restarting in 1 s/.test(m.message)),
        'the user is told',
      );
      const file = indexFileOf(root, storageDir);
      await assertSound(file);
      record({
        area: 'process',
        what: 'sidecar SIGKILLed under the extension (extension/ctx.ts, stand-in VS Code API, real sidecar process)',
        cases: '2 crashes',
        outcome: `restarted after the 1 s then 2 s back-off (back up in ${restartMs.map((m) => `${(m / 1000).toFixed(1)} s`).join(', ')}); index intact; the next search answered`,
      });
      assert.ok(logLines.some((l) => /restarting the sidecar after a crash/.test(l)));
    } finally {
      await ctx.stop();
      ctx.dispose();
    }
    assert.deepEqual(states.filter((s) => s === 'crashed').length, 2);
  });
});
