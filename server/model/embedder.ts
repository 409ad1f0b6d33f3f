/**
 * Text → vectors: tokenizes with the model's own `tokenizer.json`, truncates to the model's limit,
 * groups inputs of similar length into batches (padding is wasted compute), runs the native encoder,
 * and hands vectors back in input order. The encoder itself lives in the addon (native.ts).
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
    };
  }

  /** Load a model folder (or an already described one) onto the device. */
  static async load(model: string | ModelDescription, options: EmbedderOptions = {}): Promise<Embedder> {
    const desc = typeof model === 'string' ? describeModel(model) : model;
    const cap = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(cap) || cap < 8) throw new RangeError(`maxTokens must be an integer >= 8, got ${cap}`);
    const maxTokens = Math.min(desc.maxTokens, cap);
    const tokenizer = TextTokenizer.fromFile(path.join(desc.dir, 'tokenizer.json'), maxTokens);
    const native = await loadModel(desc.dir, desc.config, { device: options.device ?? 'auto' });
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

  /** Free the model once the calls already made have finished. */
  dispose(): void {
    this.native.dispose().catch(() => undefined);
  }
}
