import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RefreshSummary } from '../../server/index/refresh';
import { Store, StoreStats } from '../../server/index/store';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';

const BIN = path.join(REPO_ROOT, 'bin', 'semsearch');

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Result>; out: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, out: () => stdout };
}

function run(args: string[]): Promise<Result> {
  return start(args).done;
}

function makeWorkspace(nFiles: number, fnsPerFile: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-cli-'));
  for (let f = 0; f < nFiles; f++) {
    const dir = path.join(root, `pkg${f % 7}`);
    fs.mkdirSync(dir, { recursive: true });
    const body: string[] = [];
    for (let i = 0; i < fnsPerFile; i++) {
      body.push(
        `/** Handle request kind ${i} of service ${f}. */\nexport function service${f}Handle${i}(request: { id: number }): number {\n  const weight = request.id * ${f + 1} + ${i};\n  return weight % ${97 + i};\n}\n`,
      );
    }
    fs.writeFileSync(path.join(dir, `service${f}.ts`), body.join('\n'));
  }
  return root;
}

/** files (path → hash), chunks (location → content hash) and vectors (hash → vector) of an index. */
async function dump(indexPath: string) {
  const store = await Store.open(indexPath, { readonly: true, check: false });
  try {
    const stats = await store.stats();
    const files = new Map([...(await store.listFiles()).values()].map((f) => [f.path, f.hash]));
    const chunks: string[] = [];
    for (const p of [...files.keys()].sort()) for (const c of await store.chunksOfFile(p)) chunks.push(`${p}:${c.startLine}-${c.endLine}:${c.contentHash}`);
    const vectors = new Map<string, Float32Array>();
    for await (const page of store.chunkVectors({ fingerprint: stats.model!.fingerprint })) for (const r of page) vectors.set(r.contentHash, r.vector);
    return { stats, files, chunks, vectors };
  } finally {
    await store.close();
  }
}

describe('semsearch index / status (CLI)', function () {
  this.timeout(180_000);
  const cleanup: string[] = [];
  after(() => {
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });
  function tmp(prefix: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    cleanup.push(d);
    return d;
  }

  it('indexes a folder, prints a JSON summary, and status reports it complete', async function () {
    const root = makeWorkspace(3, 2);
    cleanup.push(root);
    fs.writeFileSync(path.join(root, 'blob.bin'), Buffer.from([1, 0, 2]));
    const idx = tmp('semsearch-idx-');
    const r = await run(['index', root, '--index-dir', idx, '--model', MINILM_DIR, '--device', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as RefreshSummary;
    assert.equal(s.filesIndexed, 3);
    assert.equal(s.complete, true);
    assert.deepEqual(s.skippedByReason, { binary: 1 });
    assert.deepEqual(s.skipped, [{ path: 'blob.bin', reason: 'binary', detail: 'NUL byte in the first 8 KiB' }]);
    assert.ok(s.chunksPerSecond > 0);

    const st = await run(['status', root, '--index-dir', idx, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const j = JSON.parse(st.stdout) as { exists: boolean; stats: StoreStats };
    assert.equal(j.exists, true);
    assert.deepEqual([j.stats.files, j.stats.chunks, j.stats.chunksWithVectors, j.stats.partial], [3, s.chunks, s.chunks, false]);
    assert.equal(j.stats.model?.dim, 384);
    const text = await run(['status', root, '--index-dir', idx]);
    assert.match(text.stdout, /^state +complete$/m);
    assert.match(text.stdout, /^skipped +binary 1$/m);

    const plain = await run(['index', root, '--index-dir', idx, '--model', MINILM_DIR, '--device', 'cpu']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^files +0 indexed, 3 unchanged/m);
    assert.match(plain.stderr, /^semsearch: done /m, 'plain progress lines when stderr is not a terminal');
  });

  it('exit code 2 and "path: reason" for a missing folder, a missing index and a bad option', async function () {
    const r = await run(['index', '/nonexistent/folder', '--model', MINILM_DIR]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^semsearch index: \/nonexistent\/folder: no such folder$/m);
    const empty = tmp('semsearch-empty-');
    const st = await run(['status', empty, '--index-dir', path.join(empty, 'idx')]);
    assert.equal(st.code, 2);
    assert.match(st.stderr, /no index at .*index\.sqlite/);
    const bad = await run(['index', empty, '--max-file-size', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-file-size must be a number/);
  });

  it('SIGKILL mid-run, then a restart, ends with the same index as an uninterrupted run', async function () {
    const root = makeWorkspace(32, 8); // 256 functions: four 64-text batches
    cleanup.push(root);
    const killedIdx = tmp('semsearch-killed-');
    const cleanIdx = tmp('semsearch-clean-');
    const args = (idx: string) => ['index', root, '--index-dir', idx, '--model', MINILM_DIR, '--device', 'cpu', '--json'];

    const first = start(args(killedIdx));
    const dbFile = path.join(killedIdx, 'index.sqlite');
    // Kill once at least two embedding batches (64 texts each) are committed, and before the end.
    let vectorsAtKill = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      if (first.child.exitCode !== null) break;
      if (!fs.existsSync(dbFile)) continue;
      try {
        const s = await Store.open(dbFile, { readonly: true, check: false });
        const st = await s.stats();
        await s.close();
        if (st.vectors >= 128) {
          vectorsAtKill = st.vectors;
          first.child.kill('SIGKILL');
          break;
        }
      } catch {
        /* schema being created */
      }
    }
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL', `the run ended before it could be killed: ${killed.stdout}`);
    const mid = await dump(dbFile);
    assert.ok(mid.stats.partial && mid.stats.chunksWithVectors < mid.stats.chunks, 'killed mid-way: partial');
    assert.ok(mid.vectors.size >= vectorsAtKill);

    const resumed = await run(args(killedIdx));
    assert.equal(resumed.code, 0, resumed.stderr);
    const rs = JSON.parse(resumed.stdout) as RefreshSummary;
    assert.equal(rs.complete, true);
    assert.ok(rs.textsEmbedded <= mid.stats.chunks - mid.vectors.size + 64, `resume embedded ${rs.textsEmbedded}: only what was missing`);

    const clean = await run(args(cleanIdx));
    assert.equal(clean.code, 0, clean.stderr);
    const a = await dump(dbFile);
    const b = await dump(path.join(cleanIdx, 'index.sqlite'));
    assert.deepEqual(a.files, b.files);
    assert.deepEqual(a.chunks, b.chunks);
    assert.deepEqual([...a.vectors.keys()].sort(), [...b.vectors.keys()].sort());
    let worst = 0;
    for (const [h, v] of a.vectors) {
      const w = b.vectors.get(h)!;
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - w[i]));
    }
    assert.ok(worst < 1e-4, `largest vector difference ${worst}`);
    assert.equal(a.stats.partial, false);
  });

  it('--watch applies edits, creations and deletions, and stops on SIGINT', async function () {
    const root = makeWorkspace(4, 1);
    cleanup.push(root);
    // The index lives inside the watched folder: its own writes must not feed the watcher.
    const idx = path.join(root, 'index-here');
    const w = start(['index', root, '--index-dir', idx, '--model', MINILM_DIR, '--device', 'cpu', '--watch']);
    let exited = false;
    void w.done.then(() => (exited = true));
    const waitFor = async (re: RegExp, what: string) => {
      for (const t0 = Date.now(); !re.test(w.out());) {
        if (exited) assert.fail(`the watcher exited waiting for ${what}: ${(await w.done).stderr}`);
        if (Date.now() - t0 > 30_000) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await waitFor(/^indexed /m, 'the first index');
    await new Promise((r) => setTimeout(r, 500)); // the recursive watcher registers its folders
    fs.writeFileSync(path.join(root, 'pkg0', 'added.ts'), 'export function watchedAddition() { return 42; }\n');
    fs.rmSync(path.join(root, 'pkg1', 'service1.ts'));
    await waitFor(/ (update|refresh): /, 'the update');
    for (let i = 0; i < 100; i++) {
      const s = await Store.open(path.join(idx, 'index.sqlite'), { readonly: true, check: false });
      const has = (await s.getFile('pkg0/added.ts')) !== undefined && (await s.getFile('pkg1/service1.ts')) === undefined;
      const st = await s.stats();
      await s.close();
      if (has && !st.partial) break;
      if (i === 99) assert.fail('the index did not follow the edits');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Quiet once the edits are in: no update triggered by the index's own files.
    await new Promise((r) => setTimeout(r, 1500));
    const settled = w.out();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(w.out(), settled, 'no further updates without edits');
    assert.ok(settled.split('\n').filter((l) => / (update|refresh): /.test(l)).length <= 2, settled);
    w.child.kill('SIGINT');
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr);
  });
});
