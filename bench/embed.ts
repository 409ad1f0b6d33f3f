/**
 * Encoder throughput through the addon, for bench/embed (which also runs PyTorch and prints the
 * comparison; see bench/README.md). Subcommands:
 *
 *   chunks <model dir> <out.json>   256-token code chunks: texts and their token ids
 *   run <model dir> <chunks.json> <out.json> [--batches 1,8,32,64] [--e2e 32] [--min-seconds 3]
 *       [--device cpu|gpu]
 *   report <bench dir>              the table, from the JSON files of `run` and embed_torch.py
 *   parity <model dir> <reference.json> [--device cpu|gpu]   cosine of the addon's vectors with a
 *                                   PyTorch reference fixture (scripts/reference/make_vectors.py)
 *   matrix [--rows 100000] [--dim 384] [--k 10] [--device cpu|gpu]   VectorMatrix.topK latency for one query
 *
 * FLOPs per token (multiply-adds × 2, matrix products only; LayerNorm, softmax, GELU and the
 * embeddings add well under 1 %):  layers × (8·H² + 4·H·I + 4·L·H)
 *   8·H²   query, key, value and output projections (4 products of H×H)
 *   4·H·I  the MLP (H→I and I→H)
 *   4·L·H  attention: q·kᵀ and p·v over L positions
 * all-MiniLM-L6-v2 (H 384, I 1536, 6 layers) at L = 256: 23.6 MFLOP per token.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Embedder } from '../server/model/embedder';
import { loadModel, ModelConfig, nativeInfo, sgemmGflops, VectorMatrix } from '../server/model/native';
import { describeModel, encoderConfigOf } from '../server/model/folder';

const CHUNK_TOKENS = 256;

interface Chunks {
  model: string;
  tokens: number;
  texts: string[];
  ids: number[][];
}

interface Timing {
  batch: number;
  /** Seconds per call, every repetition after the warm-up. */
  seconds: number[];
}

export interface RunResult {
  round: number;
  /** 'cpu' or 'gpu', and the weights' precision there (float16 on GPUs). */
  device: string;
  dtype: string;
  addon: string;
  mlxVersion: string;
  blas: { library: string; config: string; threads: number };
  cpuThreads: number;
  sgemmGflops: number;
  flopsPerToken: number;
  tokens: number;
  model: Timing[];
  e2e: Timing[];
  /** The first 8 chunks' vectors, for the cross-check against PyTorch. */
  vectors: number[][];
}

function flopsPerToken(c: ModelConfig, len: number): number {
  const h = c.hiddenSize;
  return c.numLayers * (8 * h * h + 4 * h * c.intermediateSize + 4 * len * h);
}

function args(argv: string[]): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) flags.set(argv[i].slice(2), argv[++i] ?? '');
    else positional.push(argv[i]);
  }
  return { positional, flags };
}

/** Code from TypeScript's compiler, cut into pieces long enough to fill `CHUNK_TOKENS` tokens. */
async function makeChunks(modelDir: string, out: string): Promise<void> {
  const embedder = await Embedder.load(modelDir, { device: 'cpu' });
  const source = fs.readFileSync(require.resolve('typescript/lib/typescript.js'), 'utf8');
  const texts: string[] = [];
  const ids: number[][] = [];
  // Fixed offsets spread over the file, so every run and machine embeds the same text.
  for (let at = 200_000; texts.length < 64 && at < source.length; at += 97_003) {
    const text = source.slice(at, at + 4000);
    const row = embedder.tokenizer.encode(text);
    if (row.length !== CHUNK_TOKENS) continue;
    texts.push(text);
    ids.push(row);
  }
  embedder.dispose();
  if (texts.length < 64) throw new Error(`${out}: only ${texts.length} chunks of ${CHUNK_TOKENS} tokens found`);
  const chunks: Chunks = { model: modelDir, tokens: CHUNK_TOKENS, texts, ids };
  fs.writeFileSync(out, JSON.stringify(chunks));
}

/** Call `fn` once to warm up, then until `minSeconds` have passed (at least 2, at most 10 times). */
async function time(fn: () => Promise<unknown>, minSeconds: number): Promise<number[]> {
  await fn();
  const seconds: number[] = [];
  let total = 0;
  while (seconds.length < 2 || (total < minSeconds && seconds.length < 10)) {
    const t = performance.now();
    await fn();
    const s = (performance.now() - t) / 1000;
    seconds.push(s);
    total += s;
  }
  return seconds;
}

async function run(modelDir: string, chunksFile: string, out: string, flags: Map<string, string>): Promise<void> {
  const chunks = JSON.parse(fs.readFileSync(chunksFile, 'utf8')) as Chunks;
  const batches = (flags.get('batches') ?? '1,8,32,64').split(',').map(Number);
  const e2eBatches = (flags.get('e2e') ?? '32').split(',').filter(Boolean).map(Number);
  const minSeconds = Number(flags.get('min-seconds') ?? 3);
  const device = flags.get('device') ?? 'cpu';
  if (device !== 'cpu' && device !== 'gpu') throw new Error(`--device: expected cpu or gpu, got '${device}'`);
  const desc = describeModel(modelDir);
  const info = nativeInfo();
  const limit = sgemmGflops(1024);
  const model = await loadModel(modelDir, desc.config, { device });
  const result: RunResult = {
    round: Number(flags.get('round') ?? 1),
    device: model.info.device,
    dtype: model.info.dtype,
    addon: info.addon,
    mlxVersion: info.mlxVersion,
    blas: info.blas,
    cpuThreads: info.cpuThreads,
    sgemmGflops: limit,
    flopsPerToken: flopsPerToken(desc.config, chunks.tokens),
    tokens: chunks.tokens,
    model: [],
    e2e: [],
    vectors: [],
  };
  const first = await model.embed(Int32Array.from(chunks.ids.slice(0, 8).flat()), new Int32Array(8).fill(chunks.tokens), chunks.tokens);
  const dim = model.info.dim;
  for (let i = 0; i < 8; i++) result.vectors.push(Array.from(first.subarray(i * dim, (i + 1) * dim)));
  for (const batch of batches) {
    const rows = Array.from({ length: batch }, (_, i) => chunks.ids[i % chunks.ids.length]);
    const ids = Int32Array.from(rows.flat());
    const lengths = new Int32Array(batch).fill(chunks.tokens);
    const seconds = await time(() => model.embed(ids, lengths, chunks.tokens), minSeconds);
    result.model.push({ batch, seconds });
    process.stderr.write(`  addon   batch ${batch}: ${((batch * chunks.tokens) / Math.min(...seconds)).toFixed(0)} tokens/s\n`);
  }
  await model.dispose();
  for (const batch of e2eBatches) {
    // Every core, as the model-level runs and PyTorch get (an Embedder leaves one by default).
    const embedder = await Embedder.load(modelDir, { device, maxBatch: batch, maxBatchTokens: batch * chunks.tokens, threads: info.cpuThreads });
    const texts = Array.from({ length: batch }, (_, i) => chunks.texts[i % chunks.texts.length]);
    const seconds = await time(() => embedder.embed(texts, { kind: 'document' }), minSeconds);
    result.e2e.push({ batch, seconds });
    embedder.dispose();
  }
  result.sgemmGflops = Math.max(limit, sgemmGflops(1024));
  fs.writeFileSync(out, JSON.stringify(result, null, 1));
}

interface TorchResult {
  round: number;
  torch: string;
  sentenceTransformers: string;
  threads: number;
  model: Timing[];
  e2e: Timing[];
  minCosine?: number;
}

/** Median over rounds of PyTorch's best time / the addon's best time, per batch. */
function pairedRatios(addon: RunResult[], torch: TorchResult[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const a of addon) {
    for (const t of torch.filter((x) => x.round === a.round)) {
      for (const ta of a.model) {
        const tt = t.model.find((m) => m.batch === ta.batch);
        if (!tt) continue;
        const list = out.get(ta.batch) ?? [];
        list.push(Math.min(...tt.seconds) / Math.min(...ta.seconds));
        out.set(ta.batch, list);
      }
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Best time per batch over several JSON files (runs are interleaved; the machine may be busy). */
function best(files: { model: Timing[]; e2e: Timing[] }[], kind: 'model' | 'e2e'): Map<number, number> {
  const out = new Map<number, number>();
  for (const f of files) {
    for (const t of f[kind]) out.set(t.batch, Math.min(out.get(t.batch) ?? Infinity, ...t.seconds));
  }
  return out;
}

function report(dir: string): void {
  const read = <T>(prefix: string): T[] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as T);
  const addon = read<RunResult>('addon-');
  const torch = read<TorchResult>('torch-');
  const refblas = read<RunResult>('refblas');
  if (!addon.length) throw new Error(`${dir}: no addon-*.json results`);
  const a = addon[0];
  const sgemm = Math.max(...addon.map((r) => r.sgemmGflops));
  const tokens = a.tokens;
  const gflops = (batch: number, s: number) => (batch * tokens * a.flopsPerToken) / s / 1e9;
  const line = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(9) : c.padStart(12))).join(' '));
  const rounds = new Set(addon.map((r) => r.round)).size;

  console.log(
    `MLX ${a.mlxVersion}; BLAS ${a.blas.library} (${a.blas.config || 'not OpenBLAS'}), ${a.blas.threads} BLAS threads, ${a.cpuThreads} kernel threads`,
  );
  if (torch[0]) console.log(`PyTorch ${torch[0].torch}, sentence-transformers ${torch[0].sentenceTransformers}, torch.set_num_threads(${torch[0].threads})`);
  console.log(
    `sgemm 1024³ through MLX: ${sgemm.toFixed(1)} GFLOP/s (best of ${addon.length} runs; median ${median(addon.map((r) => r.sgemmGflops)).toFixed(1)})`,
  );
  console.log(`model FLOPs per token at ${tokens} tokens: ${(a.flopsPerToken / 1e6).toFixed(2)} M  (layers × (8H² + 4HI + 4LH))`);
  console.log(`${rounds} rounds; per batch and round: addon, then PyTorch, each ≥ 2 timed calls after a warm-up`);
  console.log('tokens/s … % sgemm: best over the rounds; addon/torch: best vs best; paired: median over rounds of the same-round ratio\n');

  const ours = best(addon, 'model');
  const theirs = best(torch, 'model');
  const paired = pairedRatios(addon, torch);
  line(['batch', 'tokens/s', 'chunks/s', 'GFLOP/s', '% sgemm', 'torch tok/s', 'addon/torch', 'paired']);
  for (const [batch, s] of [...ours].sort((x, y) => x[0] - y[0])) {
    const t = theirs.get(batch);
    const p = paired.get(batch);
    line([
      String(batch),
      ((batch * tokens) / s).toFixed(0),
      (batch / s).toFixed(2),
      gflops(batch, s).toFixed(1),
      ((100 * gflops(batch, s)) / sgemm).toFixed(0) + ' %',
      t ? ((batch * tokens) / t).toFixed(0) : '-',
      t ? (t / s).toFixed(2) + '×' : '-',
      p ? `${median(p).toFixed(2)}× (${Math.min(...p).toFixed(2)}–${Math.max(...p).toFixed(2)})` : '-',
    ]);
  }
  const e2eOurs = best(addon, 'e2e');
  const e2eTheirs = best(torch, 'e2e');
  if (e2eOurs.size) {
    console.log('\nend to end, text in (tokenization included): Embedder.embed vs SentenceTransformer.encode');
    line(['batch', 'chunks/s', 'torch ch/s', 'addon/torch']);
    for (const [batch, s] of e2eOurs) {
      const t = e2eTheirs.get(batch);
      line([String(batch), (batch / s).toFixed(2), t ? (batch / t).toFixed(2) : '-', t ? (t / s).toFixed(2) + '×' : '-']);
    }
  }
  const cos = torch.map((t) => t.minCosine).filter((c): c is number => c !== undefined);
  if (cos.length) console.log(`\nsame vectors: lowest cosine, addon vs PyTorch, over 8 chunks: ${Math.min(...cos).toFixed(6)}`);
  if (refblas.length) {
    const r = refblas[0];
    console.log(`\nOpenBLAS vs the wheel's bundled BLAS (${r.blas.library}):`);
    line(['', 'sgemm GF/s', ...[...best(refblas, 'model').keys()].map((b) => `b${b} tok/s`)]);
    const refTimes = best(refblas, 'model');
    line(['bundled', r.sgemmGflops.toFixed(1), ...[...refTimes].map(([b, s]) => ((b * tokens) / s).toFixed(0))]);
    line(['OpenBLAS', sgemm.toFixed(1), ...[...refTimes.keys()].map((b) => (ours.has(b) ? ((b * tokens) / ours.get(b)!).toFixed(0) : '-'))]);
  }
}

/** Latency of VectorMatrix.topK for single queries over rows × dim random unit vectors. */
async function matrix(flags: Map<string, string>): Promise<void> {
  const rows = Number(flags.get('rows') ?? 100_000);
  const dim = Number(flags.get('dim') ?? 384);
  const k = Number(flags.get('k') ?? 10);
  let seed = 1;
  const random = () => ((seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) / 2147483647) * 2 - 1;
  const vectors = Float32Array.from({ length: rows * dim }, random);
  const device = flags.get('device') ?? 'cpu';
  if (device !== 'cpu' && device !== 'gpu') throw new Error(`--device: expected cpu or gpu, got '${device}'`);
  const m = new VectorMatrix(dim, { device });
  let t = performance.now();
  m.add(
    Int32Array.from({ length: rows }, (_, i) => i),
    vectors,
  );
  await m.topK(vectors.subarray(0, dim), k); // the add is applied before this query
  const addMs = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const q = vectors.slice(((i * 7919) % rows) * dim, (((i * 7919) % rows) + 1) * dim);
    t = performance.now();
    await m.topK(q, k);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2);
  console.log(
    `VectorMatrix ${rows} × ${dim} on the ${device.toUpperCase()}, top ${k} of one query (50 queries): median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, best ${times[0].toFixed(2)} ms; add of all rows + first query ${addMs.toFixed(0)} ms`,
  );
  const one = new Float32Array(dim).fill(0.01);
  t = performance.now();
  for (let i = 0; i < 100; i++) m.add(Int32Array.of(rows + (i % 10)), one);
  m.remove(Int32Array.from({ length: 10 }, (_, i) => rows + i));
  await m.topK(one, k);
  console.log(`  100 single-row adds + a 10-row remove + a query: ${(performance.now() - t).toFixed(1)} ms (O(batch), no copy of the matrix)`);
  m.dispose();
}

/** Decode a fixture vector: base64 of little-endian float32. */
function fixtureVector(b64: string): Float32Array {
  return new Float32Array(new Uint8Array(Buffer.from(b64, 'base64')).buffer);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

/**
 * Cosine of the addon's vectors on `--device` with a PyTorch reference fixture: the check for
 * devices the unit tests cannot reach (a CUDA or Metal GPU, where the weights are float16).
 * Two fixture forms: texts with `vector` (scripts/reference/make_vectors.py, through the tokenizer)
 * and token ids with `alone` / `batched` (make_modernbert_tiny.py: each case alone, then all cases
 * in one right-padded batch).
 */
async function parity(modelDir: string, referenceFile: string, flags: Map<string, string>): Promise<void> {
  const device = flags.get('device') ?? 'cpu';
  if (device !== 'cpu' && device !== 'gpu') throw new Error(`--device: expected cpu or gpu, got '${device}'`);
  const reference = JSON.parse(fs.readFileSync(referenceFile, 'utf8')) as {
    versions: Record<string, string>;
    cases: { label?: string; text?: string; vector?: string; ids?: number[]; alone?: string; batched?: string }[];
  };
  const cosines: { label: string; cosine: number }[] = [];
  let where: string;
  if (reference.cases.every((c) => c.text !== undefined && c.vector)) {
    const embedder = await Embedder.load(modelDir, { device });
    const vectors = await embedder.embed(
      reference.cases.map((c) => c.text!),
      { kind: 'document' },
    );
    reference.cases.forEach((c, i) => cosines.push({ label: c.label ?? String(i), cosine: cosine(fixtureVector(c.vector!), vectors[i]) }));
    where = `${embedder.info.device} (${embedder.info.dtype})`;
    embedder.dispose();
  } else if (reference.cases.every((c) => c.ids && c.alone && c.batched)) {
    const model = await loadModel(modelDir, encoderConfigOf(modelDir), { device });
    const dim = model.info.dim;
    for (const [i, c] of reference.cases.entries()) {
      const v = await model.embed(Int32Array.from(c.ids!), Int32Array.of(c.ids!.length), c.ids!.length);
      cosines.push({ label: `case ${i} alone (${c.ids!.length} tokens)`, cosine: cosine(fixtureVector(c.alone!), v) });
    }
    const seqLen = Math.max(...reference.cases.map((c) => c.ids!.length));
    const ids = new Int32Array(reference.cases.length * seqLen);
    reference.cases.forEach((c, i) => ids.set(c.ids!, i * seqLen));
    const batch = await model.embed(
      ids,
      Int32Array.from(reference.cases, (c) => c.ids!.length),
      seqLen,
    );
    reference.cases.forEach((c, i) =>
      cosines.push({ label: `case ${i} in the padded batch`, cosine: cosine(fixtureVector(c.batched!), batch.subarray(i * dim, (i + 1) * dim)) }),
    );
    where = `${model.info.device} (${model.info.dtype})`;
    await model.dispose();
  } else {
    throw new Error(`${referenceFile}: cases need text + vector, or ids + alone + batched`);
  }
  cosines.sort((x, y) => x.cosine - y.cosine);
  console.log(`parity ${path.basename(modelDir)} on ${where}, ${cosines.length} comparisons against ${JSON.stringify(reference.versions)}:`);
  console.log(
    `  min cosine ${cosines[0].cosine.toFixed(6)} (${cosines[0].label}), mean ${(cosines.reduce((s, c) => s + c.cosine, 0) / cosines.length).toFixed(6)}`,
  );
}

async function main(): Promise<void> {
  const { positional, flags } = args(process.argv.slice(2));
  const [command, ...rest] = positional;
  if (command === 'chunks' && rest.length === 2) return makeChunks(rest[0], rest[1]);
  if (command === 'run' && rest.length === 3) return run(rest[0], rest[1], rest[2], flags);
  if (command === 'report' && rest.length === 1) return report(rest[0]);
  if (command === 'matrix') return matrix(flags);
  if (command === 'parity' && rest.length === 2) return parity(rest[0], rest[1], flags);
  throw new Error(
    'usage: embed.js chunks <model> <out> | run <model> <chunks> <out> [--batches …] [--e2e …] [--device …] | report <dir> | matrix | parity <model> <reference> [--device …]',
  );
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
