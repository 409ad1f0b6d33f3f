/**
 * Text → vectors: tokenizes with the model's own `tokenizer.json`, truncates to the model's limit,
 * groups inputs of similar length into batches (padding is wasted compute), runs the native encoder,
 * and hands vectors back in input order. The encoder itself lives in the addon (native.ts).
 *
 * Threads: an Embedder's CPU work uses at most `threads` cores (the setting semsearch.embedThreads;
 * by default all but one, left to the editor). Its calls run one after another on the model's own
 * worker thread, so a query embedded on the indexer's Embedder would wait for the batches queued
 * before it: `forQueries()` gives a second Embedder over the same weights whose calls do not, and
 * which may use every core (a query is short, and someone is waiting for it).
 */
import * as path from 'node:path';
import { describeModel, ModelDescription } from './folder';
import { Device, loadModel, nativeInfo, NativeModel } from './native';
import { TextTokenizer } from './tokenizer';

/**
 * Default cap on the tokens of one input, below the model's own limit where that is larger.
 * Long-context models (ModernBERT: 8,192) would otherwise make the chunker emit chunks of
 * thousands of tokens, and attention costs grow with the square of the length: on a CPU one such
 * chunk costs as much as dozens of short ones, and a vector of a whole file says less about each
 * function in it than a vector per function. 512 is what BERT-family models take anyway.
 */
export const DEFAULT_MAX_TOKENS = 512;

export interface EmbedderOptions {
  device?: Device;
  /**
   * Most tokens of one input (prefix and special tokens included), at most the model's own limit;
   * default DEFAULT_MAX_TOKENS. Longer inputs are cut, and the chunker sizes chunks to fit.
   */
  maxTokens?: number;
  /** Most rows in one encoder call. */
  maxBatch?: number;
  /** Most padded tokens (rows × longest row) in one encoder call; bounds activation memory. */
  maxBatchTokens?: number;
  /**
   * Most CPU threads the encoder uses (semsearch.embedThreads); 0 or undefined: defaultEmbedThreads().
   * Kernels and matrix products both keep to it (see LoadOptions.threads).
   */
  threads?: number;
}

export interface EmbedOptions {
  /** Queries and documents get the model's own instruction prefixes. */
  kind: 'query' | 'document';
  signal?: AbortSignal;
}

export interface EmbedderInfo {
  model: string;
  /** The model folder. */
  dir: string;
  fingerprint: string;
  device: 'cpu' | 'gpu';
  dtype: string;
  dim: number;
  /** Most tokens of one input, as this embedder cuts them (the model's limit or a lower cap). */
  maxTokens: number;
  /** Most CPU threads the encoder uses. */
  threads: number;
}

/**
 * Threads an Embedder uses by default: all cores but one, which stays free for the editor (and for
 * queries while an index is built), and at least one. `cores` defaults to the addon's count (the
 * hardware's, at most 16).
 */
export function defaultEmbedThreads(cores: number = nativeInfo().cpuThreads): number {
  return Math.max(1, cores - 1);
}

/** The thread count for semsearch.embedThreads = `setting` (0: the default), at most `cores`. */
export function embedThreads(setting: number | undefined, cores: number = nativeInfo().cpuThreads): number {
  if (setting === undefined || setting === 0) return defaultEmbedThreads(cores);
  if (!Number.isInteger(setting) || setting < 0) throw new RangeError(`threads must be a non-negative integer, got ${setting}`);
  return Math.min(setting, Math.max(1, cores));
}

/**
 * Default size of one encoder call. CPU: 32 rows, 8,192 padded tokens (throughput is flat beyond,
 * and smaller calls keep the process responsive). GPU: larger calls keep it busy (an H100 ran
 * all-MiniLM-L6-v2 at 1.5 M tokens/s in calls of 32 × 256 and 2.6 M in 128 × 256), sized to an
 * eighth of the GPU's memory at 64 KiB per padded token (activations, attention scores and
 * temporaries of a small encoder, with room to spare; an encoder that still runs out halves its
 * calls), between 8,192 and 131,072 tokens; 32,768 when the GPU's size is unknown.
 */
export function batchLimits(device: 'cpu' | 'gpu', gpuMemoryBytes: number): { maxBatch: number; maxBatchTokens: number } {
  if (device === 'cpu') return { maxBatch: 32, maxBatchTokens: 32 * 256 };
  const tokens = gpuMemoryBytes > 0 ? Math.floor(gpuMemoryBytes / 8 / 65536) : 32768;
  return { maxBatch: 256, maxBatchTokens: Math.max(8192, Math.min(131072, tokens)) };
}

export class Embedder {
  readonly info: EmbedderInfo;
  /** forQueries()'s Embedder while it is live. */
  private queries: Embedder | undefined;
  private disposed = false;

  private constructor(
    readonly model: ModelDescription,
    readonly tokenizer: TextTokenizer,
    private readonly native: NativeModel,
    private readonly maxBatch: number,
    private readonly maxBatchTokens: number,
  ) {
    this.info = {
      model: model.id,
      dir: model.dir,
      fingerprint: model.fingerprint,
      device: native.info.device,
      dtype: native.info.dtype,
      dim: model.dim,
      maxTokens: tokenizer.maxTokens,
      threads: native.info.threads,
    };
  }

  /** Load a model folder (or an already described one) onto the device. */
  static async load(model: string | ModelDescription, options: EmbedderOptions = {}): Promise<Embedder> {
    const desc = typeof model === 'string' ? describeModel(model) : model;
    const cap = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(cap) || cap < 8) throw new RangeError(`maxTokens must be an integer >= 8, got ${cap}`);
    const maxTokens = Math.min(desc.maxTokens, cap);
    const tokenizer = TextTokenizer.fromFile(path.join(desc.dir, 'tokenizer.json'), maxTokens);
    const threads = embedThreads(options.threads);
    const native = await loadModel(desc.dir, desc.config, { device: options.device ?? 'auto', threads });
    const limits = batchLimits(native.info.device, nativeInfo().gpuMemory);
    return new Embedder(desc, tokenizer, native, options.maxBatch ?? limits.maxBatch, options.maxBatchTokens ?? limits.maxBatchTokens);
  }

  /** Tokens `text` takes as a document, prefix and special tokens included. */
  countTokens(text: string): number {
    return this.tokenizer.count(this.model.documentPrefix + text);
  }

  /** Embed `texts`; the i-th vector belongs to the i-th text. Vectors are L2-normalised. */
  async embed(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw new TypeError('embed: expected an array of strings');
    if (texts.length === 0) throw new RangeError('embed: empty batch');
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`embed: input ${i} is ${t === null ? 'null' : typeof t}, expected a string`);
    });
    const prefix = options.kind === 'query' ? this.model.queryPrefix : this.model.documentPrefix;
    const encoded = texts.map((t) => this.tokenizer.encode(prefix + t));
    // Longest first, so each batch holds rows of similar length and padding stays small.
    const order = encoded.map((_, i) => i).sort((a, b) => encoded[b].length - encoded[a].length);
    const out = new Array<Float32Array>(texts.length);
    // Rows per call: halved after the encoder runs out of memory, for the rest of this call.
    let cap = this.maxBatch;
    for (let start = 0; start < order.length;) {
      options.signal?.throwIfAborted();
      const seqLen = encoded[order[start]].length;
      const rows = Math.max(1, Math.min(cap, Math.floor(this.maxBatchTokens / seqLen), order.length - start));
      const ids = new Int32Array(rows * seqLen);
      const lengths = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        const row = encoded[order[start + r]];
        ids.set(row, r * seqLen);
        lengths[r] = row.length;
      }
      let flat: Float32Array;
      try {
        flat = await this.native.embed(ids, lengths, seqLen);
      } catch (e) {
        if (!/out of memory/i.test((e as Error).message)) throw e;
        if (rows > 1) {
          cap = Math.ceil(rows / 2);
          continue;
        }
        throw new Error(
          `${(e as Error).message}: out of memory on the ${this.info.device} even for one text of ${seqLen} tokens. ` +
            'Free memory (close other programs) or choose a smaller model in "semsearch.model"; keyword search works meanwhile.',
          { cause: e },
        );
      }
      const dim = this.model.dim;
      for (let r = 0; r < rows; r++) out[order[start + r]] = flat.slice(r * dim, (r + 1) * dim);
      start += rows;
    }
    return out;
  }

  /**
   * An Embedder for queries: the same model, tokenizer and weights (shared in the addon, not
   * loaded again), with a worker thread of its own, so that its calls never wait behind the batches
   * queued on this one. `threads`: 0 or undefined, every core (see embedThreads for others). Made
   * on first call and returned again while live (`options` count only then). Disposing this
   * Embedder disposes it too; it may also be disposed on its own (the next call then makes a new
   * one). Throws once this Embedder is disposed.
   */
  forQueries(options: { threads?: number } = {}): Embedder {
    if (this.disposed) throw new Error('forQueries: the embedder is disposed');
    if (this.queries && !this.queries.disposed) return this.queries;
    const cores = nativeInfo().cpuThreads;
    const threads = options.threads === undefined || options.threads === 0 ? cores : embedThreads(options.threads, cores);
    const native = this.native.shareWeights({ threads });
    this.queries = new Embedder(this.model, this.tokenizer, native, this.maxBatch, this.maxBatchTokens);
    return this.queries;
  }

  /** Free the model once the calls already made have finished (and forQueries()'s Embedder, after its own). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queries?.dispose();
    this.queries = undefined;
    this.native.dispose().catch(() => undefined);
  }
}
