/**
 * Query embedding latency while an index is being built: p50/p95 of embedding one query idle, and
 * while the indexing Embedder embeds document batches back to back, in the same run. The queries
 * go to `Embedder.forQueries()` (same weights, a worker of its own), as search does during
 * indexing; a few also go to the indexing Embedder itself, to show what they would wait for
 * there. Also: the memory forQueries() costs, against loading the model a second time.
 *
 * Documents are 40-line runs of TypeScript's compiler source (node_modules), cut to the model's
 * limit (256 tokens for all-MiniLM-L6-v2), in batches as the indexer sends them (32 rows).
 *
 * usage: node out/bench/latency.js [--threads N] [--query-threads N] [--queries 30] [--parent-queries 3] [--batch 32] [--model DIR] [--json]
 *   --threads N        semsearch.embedThreads for the indexing Embedder (0, the default: all cores but one)
 *   --query-threads N  threads for forQueries() (0, the default: every core)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Embedder } from '../server/model/embedder';
import { nativeInfo } from '../server/model/native';

const REPO = path.resolve(__dirname, '..', '..');

const QUERIES = [
  'where do we retry failed uploads',
  'parse the command line arguments',
  'check if a node is a type reference',
  'emit a diagnostic for an unused variable',
  'resolve a module name to a file',
  'create a source file from text',
  'walk all children of a syntax tree',
  'compare two strings ignoring case',
  'read a file and split it into lines',
  'cache the result of a function',
  'binary search in a sorted array',
  'escape a string for a regular expression',
];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** `count` documents of 40 consecutive source lines, from spread-out offsets. */
function documents(count: number): string[] {
  const file = path.join(REPO, 'node_modules', 'typescript', 'lib', 'typescript.js');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines.length < 10_000) throw new Error(`${file}: TypeScript's sources are needed for the documents (npm ci)`);
  const step = Math.floor((lines.length - 40) / count);
  return Array.from({ length: count }, (_, i) => lines.slice(i * step, i * step + 40).join('\n'));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Embed queries one after another on `e`, `gapMs` apart; milliseconds per query. */
async function timeQueries(e: Embedder, count: number, gapMs: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await e.embed([QUERIES[i % QUERIES.length]], { kind: 'query' });
    ms.push(performance.now() - start);
    if (gapMs > 0) await sleep(gapMs);
  }
  return ms;
}

interface Phase {
  queries: number;
  p50: number;
  p95: number;
}

function phase(ms: number[]): Phase {
  return { queries: ms.length, p50: percentile(ms, 50), p95: percentile(ms, 95) };
}

/** Resident memory in MB after a collection where --expose-gc allows one. */
function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

/** RSS growth for forQueries() against a second Embedder.load of the same model. */
async function memoryCost(model: string, threads: number): Promise<{ forQueriesMb: number; secondLoadMb: number }> {
  const first = await Embedder.load(model, { device: 'cpu', threads });
  await first.embed(['warm up'], { kind: 'query' });
  const base = rssMb();
  const shared = first.forQueries();
  await shared.embed(['warm up'], { kind: 'query' });
  const afterShare = rssMb();
  const second = await Embedder.load(model, { device: 'cpu', threads });
  await second.embed(['warm up'], { kind: 'query' });
  const afterSecond = rssMb();
  second.dispose();
  first.dispose();
  return { forQueriesMb: afterShare - base, secondLoadMb: afterSecond - afterShare };
}

/** Keeps the indexing Embedder busy with document batches until stop() resolves. */
function indexLoop(indexer: Embedder, docs: string[]): { stop: () => Promise<{ batches: number; chunksPerSecond: number }> } {
  let running = true;
  let batches = 0;
  const start = performance.now();
  const loop = (async () => {
    while (running) {
      await indexer.embed(docs, { kind: 'document' });
      batches++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { batches, chunksPerSecond: (batches * docs.length) / ((performance.now() - start) / 1000) };
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '0' },
      'query-threads': { type: 'string', default: '0' },
      queries: { type: 'string', default: '30' },
      'parent-queries': { type: 'string', default: '3' },
      batch: { type: 'string', default: '32' },
      model: { type: 'string', default: path.join(REPO, '.models', 'all-MiniLM-L6-v2') },
      json: { type: 'boolean', default: false },
    },
  });
  const setting = Number(values.threads);
  const queries = Number(values.queries);
  const parentQueries = Number(values['parent-queries']);
  const loadStart = os.loadavg()[0];

  const memory = await memoryCost(values.model, setting);

  const indexer = await Embedder.load(values.model, { device: 'cpu', threads: setting });
  const forQueries = indexer.forQueries({ threads: Number(values['query-threads']) });
  const docs = documents(Number(values.batch));
  await timeQueries(forQueries, 5, 0); // warm-up
  await indexer.embed(docs.slice(0, 4), { kind: 'document' });

  const idle = phase(await timeQueries(forQueries, queries, 20));
  const loop = indexLoop(indexer, docs);
  await sleep(200); // the first batch is in the encoder
  const busy = phase(await timeQueries(forQueries, queries, 20));
  const queued = phase(await timeQueries(indexer, parentQueries, 0));
  const indexing = await loop.stop();
  indexer.dispose();

  const info = nativeInfo();
  const result = {
    model: indexer.info.model,
    cores: info.cpuThreads,
    embedThreadsSetting: setting,
    threads: indexer.info.threads,
    queryThreads: forQueries.info.threads,
    blasThreads: info.blas.threads,
    loadAverage: { start: loadStart, end: os.loadavg()[0] },
    idle,
    busy,
    sameEmbedderBusy: queued,
    ratio: { p50: busy.p50 / idle.p50, p95: busy.p95 / idle.p95, sameEmbedderP50: queued.p50 / idle.p50 },
    indexing: { batchRows: docs.length, batches: indexing.batches, chunksPerSecond: indexing.chunksPerSecond },
    memory,
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const f = (x: number) => x.toFixed(1);
  console.log(
    `${result.model}: indexing on ${result.threads} thread(s) of ${result.cores} (embedThreads ${setting}), queries on ${result.queryThreads}, OpenBLAS ${result.blasThreads}`,
  );
  console.log(`load average ${f(loadStart)} at start, ${f(result.loadAverage.end)} at end`);
  console.log(`query embedding, forQueries():  idle p50 ${f(idle.p50)} ms  p95 ${f(idle.p95)} ms  (${idle.queries} queries)`);
  console.log(`                 while indexing: p50 ${f(busy.p50)} ms  p95 ${f(busy.p95)} ms  (${busy.queries} queries)`);
  console.log(`                 ratio busy/idle: p50 ${result.ratio.p50.toFixed(2)}×  p95 ${result.ratio.p95.toFixed(2)}×`);
  console.log(
    `same Embedder as the indexer, while indexing: p50 ${f(queued.p50)} ms  (${queued.queries} queries; ${result.ratio.sameEmbedderP50.toFixed(0)}× idle)`,
  );
  console.log(`indexing meanwhile: ${indexing.batches} batches of ${docs.length} documents, ${f(indexing.chunksPerSecond)} chunks/s`);
  console.log(`memory: forQueries() +${f(memory.forQueriesMb)} MB RSS, a second Embedder.load +${f(memory.secondLoadMb)} MB`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
