/**
 * Warm query latency of hybrid search at 10k and 100k chunks, split into query embedding, vector
 * search, BM25 and fusion (which includes reading the hits' rows).
 *
 * The index is synthetic but shaped like a real one: chunk texts are 20–60-line runs of real
 * source lines (TypeScript's compiler, from node_modules), so BM25 sees a real vocabulary and
 * real posting-list lengths; vectors are random unit vectors (the vector search's cost does not
 * depend on their values). The query embedding uses the real model. As a same-run reference the
 * vector search is also timed as a plain JavaScript scan over the same vectors.
 *
 * usage: node out/bench/query.js [--sizes 10000,100000] [--queries 200] [--model DIR] [--keep DIR]
 *   --keep DIR   build each index as DIR/query-<size>.sqlite and keep it; a later run reuses it
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Embedder } from '../server/model/embedder';
import { nativeInfo } from '../server/model/native';
import { resolveModel } from '../server/model/locate';
import { Searcher, Timings } from '../server/search';
import { contentHash, Store } from '../server/index/store';

const REPO = path.resolve(__dirname, '..', '..');
const SYNTHETIC_MODEL = 'synthetic-random-unit-vectors';

const QUERIES = [
  'where do we retry failed uploads',
  'parse the command line arguments',
  'check if a node is a type reference',
  'emit a diagnostic for an unused variable',
  'resolve a module name to a file',
  'create a source file from text',
  'get the text span of a node',
  'walk all children of a syntax tree',
  'compare two strings ignoring case',
  'format a number with thousands separators',
  'read a file and split it into lines',
  'cache the result of a function',
  'binary search in a sorted array',
  'convert a path to forward slashes',
  'is this identifier a reserved word',
  'merge two maps',
  'print the help text',
  'find the nearest enclosing function',
  'escape a string for a regular expression',
  'compute the hash of a string',
  'scanner reads the next token',
  'watch a directory for changes',
  'get the default compiler options',
  'check whether a type is assignable to another',
  'create a program from root files',
];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function sourceLines(): string[] {
  const dir = path.join(REPO, 'node_modules', 'typescript', 'lib');
  const lines: string[] = [];
  for (const f of ['typescript.js', '_tsc.js']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) for (const l of fs.readFileSync(p, 'utf8').split('\n')) if (l.trim().length > 0 && l.length < 200) lines.push(l);
  }
  if (lines.length < 1000) throw new Error(`${dir}: TypeScript's sources are needed for the synthetic corpus (npm ci)`);
  return lines;
}

/** A seeded generator, so runs build the same index. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

async function buildIndex(file: string, chunks: number, dim: number, lines: string[], modelId: string, fingerprint: string): Promise<Store> {
  const store = await Store.open(file, { modelId, modelFingerprint: fingerprint, dim, chunkerVersion: 'bench' });
  const rand = rng(chunks);
  const perFile = 20;
  for (let f = 0, made = 0; made < chunks; f++) {
    const inputs = [];
    const vectors = new Map<string, Float32Array>();
    let line = 1;
    for (let c = 0; c < perFile && made < chunks; c++, made++) {
      const n = 20 + Math.floor(rand() * 40);
      const start = Math.floor(rand() * (lines.length - n));
      const text = lines.slice(start, start + n).join('\n');
      const embedText = `// path: src/mod${f % 97}/file${f}.ts\n${text}\n// ${made}`;
      inputs.push({ startLine: line, endLine: line + n - 1, language: 'typescript', kind: 'function', symbol: `fn${made}`, container: null, text, embedText });
      line += n;
      const v = new Float32Array(dim);
      let norm = 0;
      for (let i = 0; i < dim; i++) {
        v[i] = rand() * 2 - 1;
        norm += v[i] * v[i];
      }
      for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(norm);
      vectors.set(contentHash(embedText), v);
    }
    await store.replaceFileChunks({ path: `src/mod${f % 97}/file${f}.ts`, size: 1000, mtimeMs: 0, hash: `h${f}` }, inputs, vectors);
  }
  await store.setComplete(true);
  return store;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '10000,100000' },
      queries: { type: 'string', default: '200' },
      model: { type: 'string' },
      keep: { type: 'string' },
    },
  });
  const embedder = await Embedder.load(await resolveModel(values.model), { device: 'cpu' });
  const lines = sourceLines();
  const nQueries = Number(values.queries);
  console.log(
    `machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; model ${embedder.info.model} on ${embedder.info.device}; CPU vector scan ${nativeInfo().cpuVectorScan}`,
  );
  // The stored vectors are random, not the model's: they are recorded under a fingerprint of their
  // own, so a kept index serves every model of the same dimension.
  const synthetic = `${SYNTHETIC_MODEL}-${embedder.info.dim}`;
  for (const size of values.sizes.split(',').map(Number)) {
    const dir = values.keep ? path.resolve(values.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-bench-query-'));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, values.keep ? `query-${size}.sqlite` : 'index.sqlite');
    const t0 = performance.now();
    let store: Store | undefined;
    if (values.keep && fs.existsSync(file)) {
      store = await Store.open(file, { modelId: SYNTHETIC_MODEL, modelFingerprint: synthetic, dim: embedder.info.dim, chunkerVersion: 'bench' });
      if (!(await store.stats()).complete) {
        await store.close();
        store = undefined;
        fs.rmSync(file, { force: true });
      }
    }
    store ??= await buildIndex(file, size, embedder.info.dim, lines, SYNTHETIC_MODEL, synthetic);
    const searcher = new Searcher(dir, store, embedder);
    await searcher.sync();
    console.log(
      `\n${size} chunks: index ${values.keep ? 'ready' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${searcher.vectorCount} vectors resident`,
    );
    // Warm up: first queries pay for page-cache and lazy initialisation.
    for (const q of QUERIES.slice(0, 5)) await searcher.search(q, { top: 10 });
    const samples: Timings[] = [];
    for (let i = 0; i < nQueries; i++) samples.push((await searcher.search(QUERIES[i % QUERIES.length], { top: 10 })).timings);

    // Same-run reference for the vector part: a plain JavaScript scan over the same vectors.
    const all: Float32Array[] = [];
    for await (const page of store.chunkVectors()) for (const r of page) all.push(r.vector);
    const [q] = await embedder.embed(['reference query'], { kind: 'query' });
    const scan: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const scores = new Float32Array(all.length);
      for (let r = 0; r < all.length; r++) {
        let s = 0;
        const v = all[r];
        for (let d = 0; d < v.length; d++) s += v[d] * q[d];
        scores[r] = s;
      }
      Array.from(scores.keys())
        .sort((a, b) => scores[b] - scores[a])
        .slice(0, 100);
      scan.push(performance.now() - t);
    }
    const row = (name: string, xs: number[]) =>
      console.log(`  ${name.padEnd(16)} p50 ${percentile(xs, 50).toFixed(2).padStart(7)} ms   p95 ${percentile(xs, 95).toFixed(2).padStart(7)} ms`);
    row(
      'query embedding',
      samples.map((s) => s.embedMs),
    );
    row(
      'vector search',
      samples.map((s) => s.vectorMs),
    );
    row(
      'BM25',
      samples.map((s) => s.keywordMs),
    );
    row(
      'fusion + rows',
      samples.map((s) => s.fuseMs),
    );
    row(
      'total',
      samples.map((s) => s.totalMs),
    );
    row('reference: JS scan', scan);
    const p95 = percentile(
      samples.map((s) => s.totalMs),
      95,
    );
    console.log(
      `  vector search vs JS scan (p50): ${(
        percentile(scan, 50) /
        percentile(
          samples.map((s) => s.vectorMs),
          50,
        )
      ).toFixed(1)}× faster; total p95 ${p95.toFixed(1)} ms (target ≤ 50 ms at 100k)`,
    );
    searcher.dispose();
    await store.close();
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  embedder.dispose();
}

main().catch((e: Error) => {
  process.stderr.write(`bench/query: ${e.stack ?? e.message}\n`);
  process.exit(2);
});
