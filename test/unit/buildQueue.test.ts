// A folder's build queue (engine/buildQueue.ts): joining, a rebuild restarting a reconcile,
// cancellation by one caller, by the last caller and for everyone; then the sidecar over it, where
// Rebuild Index from Scratch during the start-up index really rebuilds (real models).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BuildCancelled, BuildQueue, BuildRun } from '../../server/engine';
import { Sidecar } from '../../server/front/sidecar/sidecar';
import { DEFAULT_SETTINGS } from '../../server/protocol';
import { FIXTURES, MINILM_DIR } from '../support/paths';

interface FakeSummary {
  cancelled: boolean;
  /** Which call of `run` this was (1-based). */
  call: number;
}

/** A `run` whose calls end when the test says so (finish), or when their signal aborts (cancelled). */
class Builds {
  readonly calls: (BuildRun & { finish: () => void })[] = [];

  readonly run = (b: BuildRun): Promise<FakeSummary> =>
    new Promise((resolve) => {
      const call = this.calls.length + 1;
      b.signal.addEventListener('abort', () => resolve({ cancelled: true, call }), { once: true });
      this.calls.push({ ...b, finish: () => resolve({ cancelled: false, call }) });
    });

  /** The latest call, once `run` has been called `n` times. */
  async called(n: number): Promise<BuildRun & { finish: () => void }> {
    for (let i = 0; this.calls.length < n; i++) {
      if (i > 1000) throw new Error(`run was called ${this.calls.length} times, not ${n}`);
      await new Promise((r) => setImmediate(r));
    }
    return this.calls[n - 1];
  }
}

function settled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(false), 20)),
  ]);
}

describe('build queue', function () {
  it('a reconcile during a build joins it', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const a = q.request();
    const b = q.request({ signal: new AbortController().signal });
    (await builds.called(1)).finish();
    assert.deepEqual(await a, { cancelled: false, call: 1, rebuilt: false });
    assert.deepEqual(await b, { cancelled: false, call: 1, rebuilt: false });
    assert.equal(builds.calls.length, 1);
    assert.equal(q.running, null);
  });

  it('a full request restarts a running reconcile as a rebuild, and everyone gets the rebuild', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const reconcile = q.request();
    const first = await builds.called(1);
    assert.equal(first.full, false);
    const full = q.request({ full: true });
    assert.equal(first.signal.aborted, true, 'the reconcile is cancelled');
    const second = await builds.called(2);
    assert.equal(second.full, true);
    assert.deepEqual(q.running, { full: true });
    // A reconcile or a full request now joins the rebuild.
    const later = q.request();
    const fullAgain = q.request({ full: true });
    second.finish();
    for (const p of [reconcile, full, later, fullAgain]) assert.deepEqual(await p, { cancelled: false, call: 2, rebuilt: true });
    assert.equal(builds.calls.length, 2);
  });

  it("a caller's cancel ends its own wait, not another caller's build", async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const mine = new AbortController();
    const a = q.request({ signal: mine.signal });
    const b = q.request({ signal: new AbortController().signal });
    const call = await builds.called(1);
    mine.abort();
    await assert.rejects(a, (e: unknown) => e instanceof BuildCancelled && /^idx: cancelled; the build goes on/.test(e.message));
    assert.equal(call.signal.aborted, false);
    assert.equal(await settled(b), false, 'the other caller still waits');
    call.finish();
    assert.deepEqual(await b, { cancelled: false, call: 1, rebuilt: false });
  });

  it('a caller without a signal keeps the build running when the others cancel', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const held = q.request();
    const ctrl = new AbortController();
    const waiting = q.request({ signal: ctrl.signal });
    const call = await builds.called(1);
    ctrl.abort();
    await assert.rejects(waiting, BuildCancelled);
    assert.equal(call.signal.aborted, false);
    call.finish();
    assert.equal((await held).cancelled, false);
  });

  it('a cancel by the last caller waiting stops the build', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const first = new AbortController();
    const second = new AbortController();
    const a = q.request({ signal: first.signal });
    const b = q.request({ signal: second.signal });
    const call = await builds.called(1);
    first.abort();
    await assert.rejects(a, BuildCancelled);
    assert.equal(call.signal.aborted, false);
    second.abort();
    await assert.rejects(b, (e: unknown) => e instanceof BuildCancelled && /the build stops/.test(e.message));
    assert.equal(call.signal.aborted, true, 'the build is cancelled');
    await q.idle();
    assert.equal(q.running, null);
    // The next request starts a new build.
    const next = q.request();
    (await builds.called(2)).finish();
    assert.deepEqual(await next, { cancelled: false, call: 2, rebuilt: false });
  });

  it('cancelBuild stops the build for everyone, who get its cancelled summary', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const a = q.request();
    const b = q.request({ signal: new AbortController().signal });
    const c = q.request({ full: true });
    const call = await builds.called(1);
    assert.equal(call.full, true);
    await q.cancelBuild();
    assert.equal(call.signal.aborted, true);
    for (const p of [a, b, c]) assert.deepEqual(await p, { cancelled: true, call: 1, rebuilt: true });
    assert.equal(q.running, null);
  });

  it('cancelBuild during a restart ends the build without starting the rebuild', async () => {
    const builds = new Builds();
    const q = new BuildQueue('idx', builds.run);
    const a = q.request();
    await builds.called(1);
    const b = q.request({ full: true });
    const stopped = q.cancelBuild();
    for (const p of [a, b]) assert.deepEqual(await p, { cancelled: true, call: 1, rebuilt: false });
    await stopped;
    assert.equal(builds.calls.length, 1, 'the rebuild was not started (it would have dropped the index)');
  });

  it('a request while a build is being stopped waits for it, then starts the next', async () => {
    let release!: () => void;
    const calls: BuildRun[] = [];
    // A build that takes a while to stop once cancelled.
    const q = new BuildQueue('idx', async (b: BuildRun): Promise<FakeSummary> => {
      calls.push(b);
      if (calls.length === 1) await new Promise<void>((r) => (release = r));
      return { cancelled: b.signal.aborted, call: calls.length };
    });
    const a = q.request();
    while (!calls.length) await new Promise((r) => setImmediate(r));
    const stopping = q.cancelBuild();
    const next = q.request();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls.length, 1, 'the next build waits for the stopping one');
    release();
    await stopping;
    assert.deepEqual(await a, { cancelled: true, call: 1, rebuilt: false });
    assert.deepEqual(await next, { cancelled: false, call: 2, rebuilt: false });
  });

  it('a failed build rejects every caller, and the queue goes on', async () => {
    let fail = true;
    const q = new BuildQueue('idx', (): Promise<FakeSummary> =>
      fail ? Promise.reject(new Error('idx: disk full')) : Promise.resolve({ cancelled: false, call: 2 }),
    );
    const a = q.request();
    const b = q.request({ signal: new AbortController().signal });
    await assert.rejects(a, /idx: disk full/);
    await assert.rejects(b, /idx: disk full/);
    fail = false;
    assert.equal((await q.request()).cancelled, false);
  });
});

describe('build queue in the sidecar', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  const running = new Set<Sidecar>();

  function tmp(tag: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `semsearch-queue-${tag}-`));
    dirs.push(d);
    return d;
  }

  /** A sidecar in this process over `root` (the test is its editor: it reads the settings, and logs go to `logs`). */
  function sidecar(root: string, storageDir: string, logs: string[] = []): Sidecar {
    const s = new Sidecar({
      log: (m) => logs.push(m),
      warn: (m) => logs.push(m),
      sendStatus: () => undefined,
      sendProgress: () => undefined,
      readSettings: () => Promise.resolve({ ...DEFAULT_SETTINGS, model: MINILM_DIR, device: 'cpu', indexOnStartup: true }),
    });
    s.roots = [root];
    s.init = { storageDir };
    running.add(s);
    return s;
  }

  async function shutdown(s: Sidecar): Promise<void> {
    running.delete(s);
    await s.shutdown();
  }

  after(async () => {
    for (const s of running) await shutdown(s).catch(() => undefined);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('Rebuild during the start-up index rebuilds: every chunk is written again, and the result says so', async () => {
    const ws = tmp('ws');
    fs.cpSync(path.join(FIXTURES, 'e2e-workspace'), ws, { recursive: true });
    const storage = tmp('storage');

    // Indexed once completely: the start-up index of a later start has nothing to write.
    const firstLogs: string[] = [];
    const first = sidecar(ws, storage, firstLogs);
    first.begin();
    await first.ready;
    const built = await first.reindex({}); // joins the start-up index
    assert.equal(built.cancelled, false);
    assert.equal(built.rebuilt, false);
    assert.ok(built.chunks > 20, `${built.chunks} chunks; ${JSON.stringify(built)}\n${firstLogs.join('\n')}`);
    await shutdown(first);

    const logs: string[] = [];
    const second = sidecar(ws, storage, logs);
    second.begin();
    await second.ready; // the start-up index runs from here on
    const rebuild = second.reindex({ full: true });
    const reindex = second.reindex({}); // joins the rebuild
    const r = await rebuild;
    assert.equal(r.cancelled, false);
    assert.equal(r.rebuilt, true, 'the result says it rebuilt');
    assert.equal(r.chunks, built.chunks, 'every chunk is written again');
    assert.equal(r.files, built.files);
    const joined = await reindex;
    assert.deepEqual({ ...joined, seconds: 0 }, { ...r, seconds: 0 }, 'a reindex asked for during the rebuild gets the rebuild');
    const status = await second.status();
    assert.equal(status.folders[0].chunks, built.chunks);
    assert.equal(status.folders[0].chunksWithVectors, built.chunks);

    // Afterwards a reconcile finds nothing to write.
    const after = await second.reindex({});
    assert.equal(after.rebuilt, false);
    assert.equal(after.chunks, 0);
    assert.ok(
      logs.some((l) => /fast tier ready/.test(l)),
      logs.join('\n'),
    );
  });
});
