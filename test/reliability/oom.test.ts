// Model faults: the encoder out of memory. Batches shrink until they fit; one text that does not
// fit is an error with the fix; the process never crashes.
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Embedder } from '../../server/model/embedder';
import { longText } from './children/embedder';
import { MINILM_DIR, withTimeout } from './support';
import { record } from './table';

describe('reliability: model out of memory', function () {
  this.timeout(180_000);

  it('the encoder out of memory (address-space limit): batches shrink until they fit; one text that does not fit is a clear error; nothing crashes', async function () {
    const prlimit = spawnSync('prlimit', ['--version']);
    if (process.platform !== 'linux' || prlimit.error || prlimit.status !== 0) {
      const why = process.platform !== 'linux' ? `platform ${process.platform}` : 'prlimit (util-linux) is not installed';
      console.log(`      not exercised: out of memory is simulated with prlimit on Linux (${why})`);
      record({ area: 'model', what: 'encoder out of memory', cases: '0', outcome: `NOT EXERCISED on this machine: ${why}` });
      this.skip();
    }
    // Simulated: the child's address space is capped (prlimit RLIMIT_AS) between commands, so
    // allocations fail as they do when memory runs out. Before the addon's allocation check, MLX's
    // CPU backend crashed the process (SIGSEGV) on such a failure.
    // glibc tuned so that the cap meets every large allocation: one arena, large blocks mapped
    // afresh and freed memory handed back (otherwise reserved-but-free heap absorbs them).
    const child = spawn(process.execPath, [path.join(__dirname, 'children', 'embedder.js'), MINILM_DIR], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (what: string) => {
      const r = await withTimeout(lines.next(), 240_000, what);
      if (r.done) throw new Error(`${what}: the child ended (${child.exitCode ?? child.signalCode}); stderr: ${stderr.slice(-1000)}`);
      return r.value;
    };
    const command = async (n: number) => {
      child.stdin.write(`embed ${n}\n`);
      return JSON.parse(await next(`embed ${n}`)) as { ok: boolean; n?: number; head?: number[][]; error?: string };
    };
    try {
      assert.equal(await next('model load'), 'ready');
      // Warm up first: OpenBLAS allocates its work buffers on first use and waits forever when
      // that allocation fails, which a cap would otherwise provoke.
      assert.equal((await command(2)).ok, true);
      const base = vmSize(child);
      const reference = await Embedder.load(MINILM_DIR, { device: 'cpu' });
      let refHeads: number[][];
      try {
        refHeads = (
          await reference.embed(
            Array.from({ length: 64 }, (_, i) => longText(i)),
            { kind: 'document' },
          )
        ).map((v) => Array.from(v.slice(0, 4)));
      } finally {
        reference.dispose();
      }

      // 64 texts × 256 tokens in one call under base + 0.75 GB: the first tries do not fit.
      limitAddressSpace(child, base + 0.75 * 2 ** 30);
      const t0 = Date.now();
      const shrunk = await command(64);
      const shrunkMs = Date.now() - t0;
      assert.equal(shrunk.ok, true, shrunk.error);
      assert.equal(shrunk.n, 64);
      shrunk.head!.forEach((h, i) => h.forEach((x, k) => assert.ok(Math.abs(x - refHeads[i][k]) < 1e-4, `text ${i}: vector differs`)));

      // Room for nothing: even one text is refused, with the fix; the process lives on.
      limitAddressSpace(child, vmSize(child) + 8 * 2 ** 20);
      const refused = await command(1);
      limitAddressSpace(child, null);
      assert.equal(refused.ok, false);
      assert.match(
        refused.error!,
        /^embed: out of memory: a batch of 1 × 256 tokens needs about \d+ MB: out of memory on the cpu even for one text of 256 tokens\. Free memory \(close other programs\) or choose a smaller model in "semsearch\.model"; keyword search works meanwhile\.$/,
      );
      // Memory back: the same process embeds again.
      const again = await command(2);
      assert.equal(again.ok, true, again.error);
      assert.ok(again.head![0].every((x, k) => Math.abs(x - refHeads[0][k]) < 1e-4));
      assert.equal(child.exitCode, null);
      record({
        area: 'model',
        what: 'encoder out of memory (simulated: the process address space capped with prlimit RLIMIT_AS)',
        cases: '64 × 256-token texts in one call under +0.75 GB; 1 text under +8 MB; then no cap',
        outcome: `batches halved until they fit, vectors equal to an uncapped run (${(shrunkMs / 1000).toFixed(1)} s); one text: "…out of memory on the cpu even for one text of 256 tokens. Free memory … or choose a smaller model…"; no crash (MLX's CPU backend segfaulted before the addon's allocation check); embedding worked again with memory back`,
      });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Virtual memory size of a process, in bytes. */
function vmSize(p: ChildProcess): number {
  const kb = /VmSize:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))![1];
  return Number(kb) * 1024;
}

/** Set the address-space limit (RLIMIT_AS) of a running process; null lifts it. */
function limitAddressSpace(p: ChildProcess, bytes: number | null): void {
  const value = bytes === null ? 'unlimited' : String(Math.floor(bytes));
  const r = spawnSync('prlimit', ['--pid', String(p.pid), `--as=${value}:${value === 'unlimited' ? value : 'unlimited'}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prlimit: ${r.stderr}`);
}
