/**
 * The static embedding model (Model2Vec): a table with one vector per token of its tokenizer. A
 * text's vector is the mean of its tokens' rows, L2-normalised: no transformer runs, so the static
 * tier of an index is ready in seconds on any CPU. The shipped model (`models/static/`) is
 * distilled from the default code model; scripts/static/SOURCES.md says how, and what `encode`
 * must do, step by step, to equal model2vec's `StaticModel.encode` (a unit test checks it against
 * model2vec's own output).
 *
 * Tokenizing is most of the work; it runs in the `tokenizers` binding's threads (BatchTokenizer),
 * so the JavaScript thread only sums rows of a Float32Array.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MAX_TOKENS } from './embedder';
import { ModelError } from './folder';
import { packageRoot } from './locate';
import { readSafetensors, SafetensorsError, tensorFloats } from './safetensors';
import { BatchTokenizer, loadBatchTokenizer, TextTokenizer } from './tokenizer';

/** The shipped static model's name (in the index's meta and in messages). */
export const STATIC_MODEL_ID = 'semsearch/static-bge-small-en-v1.5-code';

/** The static model's folder: $SEMSEARCH_STATIC_MODEL, else `models/static/` of this package. */
export function staticModelDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SEMSEARCH_STATIC_MODEL) return path.resolve(env.SEMSEARCH_STATIC_MODEL);
  const root = packageRoot();
  if (!root)
    throw new ModelError(STATIC_MODEL_ID, 'cannot find the package folder that holds models/static/ (set SEMSEARCH_STATIC_MODEL to a static model folder)');
  return path.join(root, 'models', 'static');
}

export interface StaticModelInfo {
  /** A name for messages and the index's meta. */
  model: string;
  dir: string;
  /** Identifies the table and tokenizer: vectors of two fingerprints are never compared. */
  fingerprint: string;
  dim: number;
  vocabSize: number;
  /** Most tokens of one text (model2vec's max_length). */
  maxTokens: number;
  tokenizer: BatchTokenizer['engine'];
}

interface StaticConfig {
  normalize: boolean;
  maxLength: number;
  /** model2vec cuts a text to max_length × median_token_length code points before tokenizing. */
  medianTokenLength: number;
  unkId: number | null;
}

export class StaticEmbedder {
  private counter: TextTokenizer | null = null;

  private constructor(
    readonly info: StaticModelInfo,
    private readonly table: Float32Array,
    private readonly tokenizer: BatchTokenizer,
    private readonly config: StaticConfig,
  ) {}

  /** The shipped static model ($SEMSEARCH_STATIC_MODEL or `models/static/`). */
  static loadDefault(options: { tokenizer?: 'native' | 'js' | 'auto' } = {}): StaticEmbedder {
    const dir = staticModelDir();
    return StaticEmbedder.load(dir, { id: process.env.SEMSEARCH_STATIC_MODEL ? path.basename(dir) : STATIC_MODEL_ID, ...options });
  }

  /**
   * How chunks are sized when no transformer runs: this tokenizer's count plus the two special
   * tokens a BERT encoder adds, against `maxTokens` (the transformer's default), so that chunks
   * come out the same size as the default transformer would make them.
   */
  sizer(maxTokens = DEFAULT_MAX_TOKENS): { maxTokens: number; countTokens(text: string): number } {
    this.counter ??= TextTokenizer.fromFile(path.join(this.info.dir, 'tokenizer.json'), maxTokens);
    const counter = this.counter;
    return { maxTokens, countTokens: (text) => counter.count(text) + 2 };
  }

  /** Load a static model folder: `model.safetensors` (tensor `embeddings`, vocab × dim), `tokenizer.json`, `config.json`. */
  static load(dir: string, options: { id?: string; tokenizer?: 'native' | 'js' | 'auto' } = {}): StaticEmbedder {
    dir = path.resolve(dir);
    const weights = path.join(dir, 'model.safetensors');
    const tokenizerFile = path.join(dir, 'tokenizer.json');
    const configFile = path.join(dir, 'config.json');
    for (const f of [weights, tokenizerFile, configFile])
      if (!fs.existsSync(f)) throw new ModelError(dir, `missing ${path.basename(f)} (not a static model folder)`);
    let st: ReturnType<typeof readSafetensors>;
    let table: Float32Array;
    try {
      st = readSafetensors(weights);
      table = tensorFloats(st, 'embeddings');
    } catch (e) {
      if (e instanceof SafetensorsError) throw new ModelError(dir, `model.safetensors: ${e.message}`, { cause: e });
      throw e;
    }
    const shape = st.tensors.get('embeddings')!.shape;
    if (shape.length !== 2 || shape[0] < 2 || shape[1] < 1)
      throw new ModelError(dir, `model.safetensors: embeddings has shape ${JSON.stringify(shape)}, expected [vocab, dim]`);
    const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { normalize?: unknown; max_length?: unknown };
    const tokJson = JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')) as { model?: { unk_token?: unknown; vocab?: Record<string, number> } };
    const unkToken = tokJson.model?.unk_token;
    const unkId = typeof unkToken === 'string' ? (tokJson.model?.vocab?.[unkToken] ?? null) : null;
    const config: StaticConfig = {
      normalize: cfg.normalize !== false,
      maxLength: typeof cfg.max_length === 'number' ? cfg.max_length : 512,
      medianTokenLength: Number(st.metadata.median_token_length ?? medianTokenLength(tokJson.model?.vocab ?? {})),
      unkId,
    };
    const fingerprint = crypto
      .createHash('sha256')
      .update(String(st.fileSize))
      .update(st.headerBytes)
      .update(fs.readFileSync(tokenizerFile))
      .update(fs.readFileSync(configFile))
      .digest('hex')
      .slice(0, 16);
    const tokenizer = loadBatchTokenizer(tokenizerFile, options.tokenizer ?? 'auto');
    const info: StaticModelInfo = {
      model: options.id ?? path.basename(dir),
      dir,
      fingerprint,
      dim: shape[1],
      vocabSize: shape[0],
      maxTokens: config.maxLength,
      tokenizer: tokenizer.engine,
    };
    return new StaticEmbedder(info, table, tokenizer, config);
  }

  /** The ids the table sees for each text: the code-point cut, no special tokens, the first maxLength ids, unknown tokens dropped. */
  async tokenize(texts: readonly string[]): Promise<number[][]> {
    const cut = this.config.maxLength * this.config.medianTokenLength;
    const ids = await this.tokenizer.encodeBatch(texts.map((t) => cutCodePoints(t, cut)));
    const unk = this.config.unkId;
    return ids.map((row) => {
      const first = row.length > this.config.maxLength ? row.slice(0, this.config.maxLength) : row;
      return unk === null ? first : first.filter((id) => id !== unk);
    });
  }

  /** The vector of each text; null for a text with no known token (empty, whitespace, only unknown characters). */
  async embed(texts: readonly string[]): Promise<(Float32Array | null)[]> {
    return (await this.tokenize(texts)).map((ids) => this.pool(ids));
  }

  /** Mean of the rows of `ids` (accumulated in float64), L2-normalised; null for no ids. */
  pool(ids: readonly number[]): Float32Array | null {
    if (ids.length === 0) return null;
    const dim = this.info.dim;
    const sum = new Float64Array(dim);
    for (const id of ids) {
      if (id < 0 || id >= this.info.vocabSize) continue;
      const row = id * dim;
      for (let j = 0; j < dim; j++) sum[j] += this.table[row + j];
    }
    const out = new Float32Array(dim);
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = sum[j] / ids.length;
      out[j] = v;
      norm += v * v;
    }
    if (this.config.normalize) {
      const scale = 1 / (Math.sqrt(norm) + 1e-32);
      for (let j = 0; j < dim; j++) out[j] *= scale;
    }
    return out;
  }

  /** Tokens `text` takes (no special tokens, before truncation). */
  async countTokens(text: string): Promise<number> {
    return (await this.tokenizer.encodeBatch([text]))[0].length;
  }
}

/** The first `n` code points of `text` (Python's str slicing, which model2vec uses, counts code points). */
export function cutCodePoints(text: string, n: number): string {
  if (text.length <= n) return text;
  let units = 0;
  let points = 0;
  while (units < text.length && points < n) {
    const c = text.charCodeAt(units);
    units += c >= 0xd800 && c <= 0xdbff && units + 1 < text.length ? 2 : 1;
    points++;
  }
  return text.slice(0, units);
}

/** The median length of the vocabulary's token strings (model2vec's median_token_length), when a header does not record it. */
function medianTokenLength(vocab: Record<string, number>): number {
  const lengths = Object.keys(vocab)
    .map((t) => [...t].length)
    .sort((a, b) => a - b);
  return lengths.length ? lengths[Math.floor(lengths.length / 2)] : 6;
}
