/**
 * The native addon (native/ → out/native/semsearch.node): BERT and ModernBERT encoders and a
 * resident vector matrix on MLX. This is the only module that loads it; everything else imports the types and
 * functions below.
 *
 * The addon is found at `out/native/semsearch.node` under the package root (the nearest folder
 * above this file whose package.json is named "semsearch"), or at `$SEMSEARCH_ADDON`.
 *
 * Every model and matrix runs its MLX work on a thread of its own, so no call here blocks the
 * JavaScript thread while the encoder or a search runs. Inputs are copied before a call returns;
 * callers may reuse their arrays at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Device = 'auto' | 'cpu' | 'gpu';

/** What every encoder's config holds. */
interface EncoderShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  vocabSize: number;
  /** Longest input the model takes, in tokens. */
  maxPositions: number;
  pooling: 'cls' | 'mean';
  /** The exact (erf) GELU; no other activation is supported. */
  hiddenAct: 'gelu';
}

/** A BERT encoder (MiniLM, BGE, …): post-norm, absolute positions, biases everywhere. */
export interface BertModelConfig extends EncoderShape {
  architecture: 'bert';
  typeVocabSize: number;
  layerNormEps: number;
}

/**
 * A ModernBERT encoder: pre-norm, rotary positions, GeGLU MLP, global attention on some layers and
 * sliding-window attention (a token sees `localAttention / 2` tokens each side) on the others.
 */
export interface ModernBertModelConfig extends EncoderShape {
  architecture: 'modernbert';
  normEps: number;
  normBias: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  /** One entry per layer. */
  layerTypes: ('global' | 'local')[];
  globalRopeTheta: number;
  localRopeTheta: number;
  localAttention: number;
}

/**
 * The encoder's shape, as parsed from a model folder's config.json and pooling config
 * (model/folder.ts); `architecture` selects the forward pass.
 */
export type ModelConfig = BertModelConfig | ModernBertModelConfig;

export interface LoadOptions {
  /** 'auto' (default): the GPU when MLX has Metal or CUDA, else the CPU. */
  device?: Device;
  /**
   * 'fused' (default): on the CPU, attention and GELU run in the addon's vectorised multi-core
   * kernels. 'mlx': MLX's own ops only (the reference the fused path is tested against). The GPU
   * always uses MLX's ops.
   */
  kernels?: 'fused' | 'mlx';
  /**
   * Most CPU threads this model's work uses at once, an integer in [1, 1024] (the pool's size,
   * `nativeInfo().cpuThreads`, bounds it too); undefined: the whole pool. It covers the fused
   * kernels and, where the BLAS is OpenBLAS, the matrix products: the addon then runs them itself
   * over blocks of rows and sets OpenBLAS to one thread for the whole process (its own thread
   * count is process-wide, and its threaded calls wait for each other's). With another BLAS the
   * products keep to that library's own threads.
   */
  threads?: number;
}

export interface ShareOptions {
  /** As LoadOptions.threads, for the new model's fused kernels only; default the source model's. */
  threads?: number;
}

export interface NativeModelInfo {
  architecture: ModelConfig['architecture'];
  device: 'cpu' | 'gpu';
  /** float32 on the CPU; float16 on the GPU (weights cast at load). Outputs are always float32. */
  dtype: 'float32' | 'float16';
  dim: number;
  maxPositions: number;
  vocabSize: number;
  numLayers: number;
  pooling: 'cls' | 'mean';
  /** The safetensors file the weights came from. */
  path: string;
  kernels: 'fused' | 'mlx';
  /** Most CPU threads this model uses (its cap, or the whole pool). */
  threads: number;
  disposed: boolean;
}

export interface NativeModel {
  readonly info: NativeModelInfo;
  /**
   * Encode a padded batch: `ids` holds batch × seqLen token ids, row-major; `lengths[b]` counts
   * the real tokens of row b (1..seqLen; the rest is padding, masked out). token_type_ids are 0
   * (BERT); positions count from 0 at each row's first token.
   * Resolves to batch × dim float32: pooled (CLS or mean over real tokens), L2-normalised.
   * Rejects with an Error on bad input ("embed: …"), never crashes.
   */
  embed(ids: Int32Array, lengths: Int32Array, seqLen: number): Promise<Float32Array>;
  /**
   * Let go of the weights once the calls already made have finished; later calls reject. The
   * weights are freed when no model made by `shareWeights` holds them either.
   */
  dispose(): Promise<void>;
  /**
   * A second model over the same weight arrays (no copy, no file read), with a worker thread of
   * its own: its calls run beside this model's instead of queueing behind them. Either may be
   * disposed first. Throws once this model is disposed.
   */
  shareWeights(options?: ShareOptions): NativeModel;
}

export interface TopKResult {
  /** queries × k row ids, best first; -1 where the matrix holds fewer than k rows. */
  ids: Int32Array;
  /** queries × k dot products, matching `ids`; -Infinity in padded slots. */
  scores: Float32Array;
}

/**
 * Stored vectors, resident on the device, searched by dot product. Rows are addressed by
 * non-negative int32 ids (SQLite rowids). add/remove are O(batch) (amortised capacity doubling,
 * swap-remove) and apply in call order; `size` is exact at once.
 */
export interface VectorMatrix {
  readonly dim: number;
  readonly size: number;
  readonly device: 'cpu' | 'gpu';
  /** Store vectors (ids.length × dim); an id already present is replaced, and within one call the last occurrence of an id wins. */
  add(ids: Int32Array, vectors: Float32Array): void;
  /** Remove ids; returns how many were present. */
  remove(ids: Int32Array): number;
  has(id: number): boolean;
  /** The k best rows (k ≥ 0) for each of queries.length / dim queries. k may exceed size: see TopKResult. */
  topK(queries: Float32Array, k: number): Promise<TopKResult>;
  /** Free the matrix (after queued work); later calls throw or reject. */
  dispose(): void;
}

export interface VectorMatrixConstructor {
  new (dim: number, options?: { device?: Device }): VectorMatrix;
}

export interface BlasInfo {
  /** The library cblas_sgemm resolves to in the addon's lookup scope ('' if none was found). */
  library: string;
  /** openblas_get_config() when that library is OpenBLAS, else ''. */
  config: string;
  /**
   * BLAS threads (OpenBLAS's count as of now; 1 for other libraries). Loading a model on the CPU
   * sets OpenBLAS to 1: the addon spreads the model's matrix products over its own threads.
   */
  threads: number;
}

interface Addon {
  loadModel(dir: string, config: ModelConfig, options?: LoadOptions): Promise<NativeModel>;
  VectorMatrix: VectorMatrixConstructor;
  sgemmGflops(n: number): number;
  mlxVersion: string;
  gpuAvailable: boolean;
  /** Absent from addons built before it existed. */
  gpuMemory?: number;
  cpuThreads: number;
  cpuVectorScan: 'float16' | 'float32';
  blas: BlasInfo;
}

let cached: Addon | undefined;

/** Return the folder of the semsearch package that holds `from`. */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'semsearch') return dir;
    } catch {
      // no package.json here (or an unreadable one): keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`${from}: no package.json named "semsearch" above this folder`);
  }
}

/** Path of the addon this process loads (or would load). */
export function addonPath(): string {
  const override = process.env.SEMSEARCH_ADDON;
  if (override) return path.resolve(override);
  return path.join(packageRoot(__dirname), 'out', 'native', 'semsearch.node');
}

function addon(): Addon {
  if (cached) return cached;
  const file = addonPath();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node file found at run time
    cached = require(file) as Addon;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(
      `${file}: cannot load the native addon (${reason}). ` + 'Build it with `npm run build:native` (after `bash scripts/setup.sh`, which fetches MLX).',
      { cause: e },
    );
  }
  return cached;
}

/** Load an encoder from `dir/model.safetensors`, checked strictly against `config`. */
export function loadModel(dir: string, config: ModelConfig, options: LoadOptions = {}): Promise<NativeModel> {
  return addon().loadModel(dir, config, options);
}

/** The resident vector matrix class (see VectorMatrix). */
export const VectorMatrix: VectorMatrixConstructor = class {
  constructor(dim: number, options?: { device?: Device }) {
    // Returning an object from a constructor makes `new` yield it: the native instance.
    return new (addon().VectorMatrix)(dim, options);
  }
} as unknown as VectorMatrixConstructor;

/** Best GFLOP/s of an n×n×n float32 matmul through MLX's CPU path (blocks for about a second). */
export function sgemmGflops(n = 1024): number {
  return addon().sgemmGflops(n);
}

export interface NativeInfo {
  mlxVersion: string;
  gpuAvailable: boolean;
  /** Total memory of the GPU in bytes; 0 without a GPU or when MLX does not report it. */
  gpuMemory: number;
  /** Threads of the addon's fused CPU kernels (the BLAS has its own count, in `blas`). */
  cpuThreads: number;
  /**
   * How a CPU VectorMatrix scans its rows: `float16` (a float16 copy, then exact float32 rescoring
   * of the rows that could rank; needs AVX2/FMA/F16C) or `float32` (BLAS sgemv).
   */
  cpuVectorScan: 'float16' | 'float32';
  blas: BlasInfo;
  /** The addon file loaded. */
  addon: string;
}

/** What the addon runs on: MLX version, GPU availability, threads, and the BLAS behind CPU matmuls. */
export function nativeInfo(): NativeInfo {
  const a = addon();
  return {
    mlxVersion: a.mlxVersion,
    gpuAvailable: a.gpuAvailable,
    gpuMemory: a.gpuMemory ?? 0,
    cpuThreads: a.cpuThreads,
    cpuVectorScan: a.cpuVectorScan,
    blas: { ...a.blas },
    addon: addonPath(),
  };
}
