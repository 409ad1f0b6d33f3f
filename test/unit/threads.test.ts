// The fused CPU kernels' thread pool (native/kernels/thread_pool.h), through the addon's test-only
// export _testParallelThrow: every item runs, on the pool's threads too; an exception thrown inside
// an item becomes the JS call's Error (a thread of its own used to end the process with
// std::terminate) whether a pool thread or the calling one threw it; the pool, and the encoder's
// kernels on it, keep working afterwards; and a thread cap bounds the threads of a call.
import assert from 'node:assert/strict';
import { encoderConfigOf } from '../../server/model/folder';
import { addonPath, loadModel, nativeInfo } from '../../server/model/native';
import { MINILM_DIR } from '../support/paths';

interface ProbeAddon {
  /**
   * Runs n items (item i adds i to `sum`) on the pool, under a thread cap of `cap` (0: none); item
   * throwAt throws, and so does the call.
   */
  _testParallelThrow(n: number, throwAt: number, cap?: number): { sum: number; threads: number };
}

/** The addon as loaded by server/model/native.ts (Node caches it by path: one instance). */
function probe(n: number, throwAt: number, cap?: number): { sum: number; threads: number } {
  nativeInfo(); // loads the addon, with server/model/native.ts's error message if it cannot
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon's test-only export, absent from server/model/native.ts
  const addon = require(addonPath()) as ProbeAddon;
  return cap === undefined ? addon._testParallelThrow(n, throwAt) : addon._testParallelThrow(n, throwAt, cap);
}

const ITEM_ERROR = /^_testParallelThrow: item (\d+) threw on (a pool thread|the calling thread)$/;

describe('native thread pool', function () {
  this.timeout(120_000);
  const cores = nativeInfo().cpuThreads;

  it('runs every item once, on more than one thread where there are cores', () => {
    for (const n of [1, 2, 7, 64, 1000]) assert.equal(probe(n, -1).sum, (n * (n - 1)) / 2, `n = ${n}`);
    const { threads } = probe(64, -1);
    assert.ok(threads >= 1 && threads <= cores, `${threads} threads`);
    if (cores > 1) assert.ok(threads >= 2, `64 items ran on ${threads} thread(s) of ${cores}`);
  });

  it('turns an exception inside an item into an Error of the call, from a pool thread or the calling one', () => {
    const throwers = new Set<string>();
    // Which thread claims an item is up to the scheduler: try until both kinds have thrown.
    for (let attempt = 0; attempt < 400 && throwers.size < (cores > 1 ? 2 : 1); attempt++) {
      const at = attempt % 32;
      assert.throws(
        () => probe(32, at),
        (e: unknown) => {
          assert.ok(e instanceof Error, String(e));
          const m = ITEM_ERROR.exec(e.message);
          assert.ok(m, e.message);
          assert.equal(Number(m[1]), at);
          throwers.add(m[2]);
          return true;
        },
      );
    }
    assert.ok(throwers.has('the calling thread'), [...throwers].join(', '));
    if (cores > 1) assert.ok(throwers.has('a pool thread'), [...throwers].join(', '));
    // The process is still here, and so is the pool.
    assert.equal(probe(64, -1).sum, 2016);
    if (cores > 1) assert.ok(probe(64, -1).threads >= 2);
  });

  it("keeps the encoder's fused kernels working after items have thrown", async () => {
    const config = encoderConfigOf(MINILM_DIR);
    const model = await loadModel(MINILM_DIR, config, { device: 'cpu' });
    try {
      assert.equal(model.info.kernels, 'fused');
      const seqLen = 48;
      const ids = Int32Array.from({ length: 4 * seqLen }, (_, i) => (i % seqLen === 0 ? 101 : 1000 + ((i * 37) % 20000)));
      const lengths = Int32Array.of(48, 30, 12, 1);
      const before = await model.embed(ids, lengths, seqLen);
      for (let at = 0; at < 8; at++)
        assert.throws(
          () => probe(16, at),
          (e: unknown) => e instanceof Error && ITEM_ERROR.test(e.message),
        );
      const after = await model.embed(ids, lengths, seqLen);
      assert.deepEqual(after, before);
    } finally {
      await model.dispose();
    }
  });

  it('runs a call under a thread cap on at most that many threads, and still runs every item', () => {
    for (let round = 0; round < 5; round++) {
      const one = probe(256, -1, 1);
      assert.deepEqual(one, { sum: (256 * 255) / 2, threads: 1 });
      const two = probe(256, -1, 2);
      assert.equal(two.sum, (256 * 255) / 2);
      assert.ok(two.threads >= 1 && two.threads <= 2, `${two.threads} threads under a cap of 2`);
    }
    // A cap above the pool's size, or none, leaves every thread to the call.
    if (cores > 1) assert.ok(probe(256, -1, 64).threads >= 2);
    // An item that throws under a cap still fails the call, and the cap is gone afterwards.
    assert.throws(() => probe(64, 10, 1), /^Error: _testParallelThrow: item 10 threw on the calling thread$/);
    if (cores > 1) assert.ok(probe(256, -1).threads >= 2);
  });

  it('refuses bad arguments', () => {
    assert.throws(() => probe(0, -1), /^TypeError: _testParallelThrow: n must be an integer in \[1, 4096\] and throwAt an integer$/);
    assert.throws(() => probe(8, 1.5), /throwAt an integer/);
    assert.throws(() => probe(8, -1, -1), /^TypeError: _testParallelThrow: cap must be an integer in \[0, 1024\]$/);
  });
});
