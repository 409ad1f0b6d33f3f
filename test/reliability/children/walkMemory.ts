/**
 * Child process of the reliability suite: walks a folder (server/index/walk.ts) and prints one JSON line
 * {files, ms, maxRssMB, liveHeapMB}: live heap is sampled after a forced GC every 10,000 files, so
 * it counts what the walk holds, not garbage. Run with --expose-gc.
 *
 * Usage: node --expose-gc walkMemory.js ROOT
 */
import * as fs from 'node:fs';
import { walk } from '../../../server/index/walk';

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const t0 = performance.now();
  let files = 0;
  let liveHeap = 0;
  for await (const item of walk(process.argv[2], {})) {
    if (item.type !== 'file') continue;
    if (++files % 10_000 === 0) {
      gc();
      liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
    }
  }
  const ms = performance.now() - t0;
  // VmHWM, not getrusage's maxRSS: that one carries the parent's resident size over fork and exec.
  const hwmKb = fs.existsSync('/proc/self/status')
    ? Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1])
    : process.resourceUsage().maxRSS;
  process.stdout.write(`${JSON.stringify({ files, ms, maxRssMB: hwmKb / 1024, liveHeapMB: liveHeap / 2 ** 20 })}\n`);
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
  });
}
