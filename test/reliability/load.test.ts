// Load: 50 concurrent searches during a full index; a burst of 10,000 file events through the
// sidecar (a branch switch); a 200,000-file walk in bounded memory.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SearchResult } from '../../server/protocol';
import { walk } from '../../server/index/walk';
import { indexContent, indexFileOf, integrityCheck, makeWorkspace, percentile, sleep, sharedIndex, tempDir, TestSidecar, tsFile } from './support';
import { record } from './table';

/** What the disk holds: every file the walk yields, path → sha256. */
async function diskFiles(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const item of walk(root, {})) {
    if (item.type === 'file') out.set(item.entry.relPath, createHash('sha256').update(fs.readFileSync(item.entry.absPath)).digest('hex'));
  }
  return out;
}

describe('reliability: load', function () {
  this.timeout(240_000);

  it('50 concurrent searches during a full index: all answered', async function () {
    const root = makeWorkspace(120, 4);
    const storageDir = tempDir('load-search');
    const sidecar = await TestSidecar.start({ roots: [root], storageDir });
    try {
      // A quarter embedded: the searcher holds vectors, so hybrid and semantic queries embed too.
      await sidecar.waitForStatus((s) => s.folders[0]?.chunksWithVectors >= 120, 60_000, 'embedding under way');
      await sleep(2500); // the searcher takes in new vectors every 2 s while indexing
      const modes = ['hybrid', 'hybrid', 'hybrid', 'keyword', 'semantic'] as const;
      const queries = Array.from({ length: 50 }, (_, i) => ({
        query: i % 2 ? `mod${i}Value${i % 4}` : `compute the value number ${i % 4} of module ${i}`,
        mode: modes[i % modes.length],
        top: 10,
      }));
      const t0 = performance.now();
      const answers = await Promise.all(
        queries.map(async (q) => {
          const sent = performance.now();
          const r = await sidecar.request<SearchResult>('semsearch/search', q, 120_000);
          return { ms: performance.now() - sent, r, q };
        }),
      );
      const wallMs = performance.now() - t0;
      const during = (await sidecar.status()).partial;
      for (const a of answers) {
        assert.ok(Array.isArray(a.r.hits), 'an answer with hits');
        if (a.q.mode === 'keyword' && /^mod\d+Value\d$/.test(a.q.query) && a.r.hits.length) assert.equal(a.r.hits[0].symbol, a.q.query);
      }
      const ms = answers.map((a) => a.ms);
      const partialAnswers = answers.filter((a) => a.r.partial).length;
      assert.ok(partialAnswers > 0, 'the searches ran while vectors were still missing');
      assert.ok(
        answers.some((a) => a.r.timings.embedMs > 0),
        'queries were embedded beside the indexing',
      );
      const p50 = percentile(ms, 50);
      const p95 = percentile(ms, 95);
      console.log(
        `      50 searches during indexing: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms, all in ${wallMs.toFixed(0)} ms; ${partialAnswers} answered while partial; indexing still running after: ${during}`,
      );
      const done = await sidecar.waitIndexed(180_000);
      assert.equal(done.folders[0].chunksWithVectors, 480);
      record({
        area: 'load',
        what: '50 concurrent searches (hybrid, keyword, semantic) sent while the index was being built',
        cases: '50 requests, 120 files / 480 chunks indexing',
        outcome: `all answered, none failed; latency p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms (2 shared cores, embedding beside them); ${partialAnswers} said partial; the index then completed`,
      });
    } finally {
      await sidecar.stop();
    }
  });

  it('a burst of 10,000 file events (a branch switch) through the sidecar: debounced, the index equals the disk', async function () {
    const { root: shared, storageDir: indexed } = await sharedIndex();
    // A private copy of the workspace (the events change it) with the shared index moved over.
    const root = tempDir('burst-ws');
    fs.cpSync(shared, root, { recursive: true, preserveTimestamps: true });
    const storageDir = tempDir('burst');
    fs.mkdirSync(path.dirname(indexFileOf(root, storageDir)), { recursive: true });
    fs.copyFileSync(indexFileOf(shared, indexed), indexFileOf(root, storageDir));
    const sidecar = await TestSidecar.start({ roots: [root], storageDir, settings: { indexOnStartup: false } });
    try {
      await sidecar.waitForStatus((s) => s.health === 'ok' && s.folders.length === 1, 60_000, 'ready');
      const before = sidecar.progress.filter((p) => p.phase === 'done').length;
      // The "branch switch": 30 files rewritten, 6 deleted, 12 created, a folder renamed.
      const touched: string[] = [];
      for (let i = 0; i < 30; i++) {
        fs.writeFileSync(path.join(root, `src/m${i}.ts`), tsFile(`branch${i}`, 2));
        touched.push(`src/m${i}.ts`);
      }
      for (let i = 30; i < 36; i++) {
        fs.rmSync(path.join(root, `src/m${i}.ts`));
        touched.push(`src/m${i}.ts`);
      }
      fs.mkdirSync(path.join(root, 'lib'));
      for (let i = 0; i < 12; i++) {
        fs.writeFileSync(path.join(root, `lib/n${i}.ts`), tsFile(`fresh${i}`, 1));
        touched.push(`lib/n${i}.ts`);
      }
      fs.renameSync(path.join(root, 'src/m50.ts'), path.join(root, 'lib/moved50.ts'));
      touched.push('src/m50.ts', 'lib/moved50.ts', 'lib');
      // 10,000 events in notifications of 100, as the client batches them: each touched path many
      // times over (created, changed, deleted types mixed).
      const t0 = performance.now();
      let sent = 0;
      for (let n = 0; n < 100; n++) {
        const changes = Array.from({ length: 100 }, (_, k) => ({
          uri: pathToFileURL(path.join(root, touched[(n * 100 + k) % touched.length])).href,
          type: 1 + ((n + k) % 3),
        }));
        await sidecar.conn.sendNotification('workspace/didChangeWatchedFiles', { changes });
        sent += changes.length;
      }
      assert.equal(sent, 10_000);
      const disk = await diskFiles(root);
      const deadline = Date.now() + 120_000;
      let content = await indexContent(indexFileOf(root, storageDir));
      // Wait for the index to reach the disk, then for the jobs to finish.
      while (Date.now() < deadline) {
        const s = await sidecar.status();
        content = await indexContent(indexFileOf(root, storageDir));
        const same = content.files.size === disk.size && [...disk].every(([p, h]) => content.files.get(p) === h);
        if (same && !s.partial && s.health === 'ok') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const settledMs = performance.now() - t0;
      assert.deepEqual(new Map([...content.files].sort()), new Map([...disk].sort()), 'the index equals the disk');
      assert.equal(
        [...content.embedded.values()].reduce((a, b) => a + b, 0),
        content.chunkRows,
        'every chunk embedded',
      );
      assert.equal(content.ftsRows, content.chunkRows);
      const jobs = sidecar.progress.filter((p) => p.phase === 'done').length - before;
      assert.ok(jobs >= 1 && jobs <= 10, `debounced: ${jobs} update jobs for 10,000 events`);
      const r = await sidecar.request<SearchResult>('semsearch/search', { query: 'fresh7Value0', mode: 'keyword', top: 3 });
      assert.equal(r.hits[0]?.path, 'lib/n7.ts');
      await sidecar.stop();
      assert.equal(await integrityCheck(indexFileOf(root, storageDir)), 'ok');
      record({
        area: 'load',
        what: 'burst of 10,000 file events through the sidecar (30 files rewritten, 6 deleted, 12 created, 1 moved into a new folder)',
        cases: '10,000 events in 100 notifications',
        outcome: `coalesced into ${jobs} update job(s); the index equalled the disk (${disk.size} files, every chunk embedded) ${(settledMs / 1000).toFixed(1)} s after the first event; integrity_check ok (Indexer-level burst: test/unit/refresh.test.ts)`,
      });
    } finally {
      await sidecar.stop();
    }
  });

  it('a 200,000-file workspace walk stays within bounded memory', function () {
    // Two trees in one: small/ (20,000 files) and the whole (200,000); the walk's live heap must
    // not grow with the number of files.
    // On a tmpfs when there is room (200,000 files are written in seconds there), else the disk.
    const shm = '/dev/shm';
    const onShm =
      fs.existsSync(shm) &&
      (() => {
        const st = fs.statfsSync(shm);
        return st.bavail * st.bsize > 512 * 2 ** 20 && st.ffree > 250_000;
      })();
    const root = onShm ? fs.mkdtempSync(path.join(shm, 'semsearch-rel-walk-')) : tempDir('walk200k');
    const t0 = performance.now();
    for (let d = 0; d < 200; d++) {
      const dir = path.join(root, d < 20 ? 'small' : 'large', `pkg${d % 10}`, `mod${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 1000; f++) fs.writeFileSync(path.join(dir, `f${f}.ts`), f % 10 === 0 ? 'export const x = 1;\n' : '');
    }
    const genMs = performance.now() - t0;
    const measure = (dir: string) => {
      const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'children', 'walkMemory.js'), dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { files: number; ms: number; maxRssMB: number; liveHeapMB: number };
    };
    try {
      const small = measure(path.join(root, 'small'));
      const large = measure(root);
      assert.equal(small.files, 20_000);
      assert.equal(large.files, 200_000);
      console.log(
        `      walk (${onShm ? 'tmpfs' : 'disk'}): 20,000 files ${small.ms.toFixed(0)} ms, live heap ${small.liveHeapMB.toFixed(1)} MB, peak RSS ${small.maxRssMB.toFixed(0)} MB; 200,000 files ${large.ms.toFixed(0)} ms, live heap ${large.liveHeapMB.toFixed(1)} MB, peak RSS ${large.maxRssMB.toFixed(0)} MB (tree generated in ${(genMs / 1000).toFixed(1)} s)`,
      );
      assert.ok(
        large.liveHeapMB < small.liveHeapMB + 4,
        `live heap grew with the file count: ${small.liveHeapMB.toFixed(1)} → ${large.liveHeapMB.toFixed(1)} MB`,
      );
      assert.ok(large.maxRssMB < 200, `peak RSS ${large.maxRssMB.toFixed(0)} MB`);
      record({
        area: 'load',
        what: 'walk of a generated 200,000-file workspace (200 folders of 1,000 files) in a child process',
        cases: '20,000 and 200,000 files',
        outcome: `live heap (after GC) ${small.liveHeapMB.toFixed(1)} MB → ${large.liveHeapMB.toFixed(1)} MB, peak RSS ${small.maxRssMB.toFixed(0)} → ${large.maxRssMB.toFixed(0)} MB: flat in the file count; ${(large.ms / 1000).toFixed(1)} s for 200,000 files`,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
