/**
 * Model catalogue and model-folder reading.
 *
 * A model folder is what the Hugging Face Hub holds for a sentence-transformers model:
 * `config.json`, `model.safetensors`, `tokenizer.json`, and optionally `modules.json`,
 * `1_Pooling/config.json`, `sentence_bert_config.json`, `config_sentence_transformers.json`.
 * This module turns such a folder into a `ModelDescription`: everything the encoder, the tokenizer
 * and the index need to know, checked before any native code sees the files. It reads files only;
 * it never downloads (see hub.ts) and never loads weights (see native.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type { ModelConfig } from './native';

export type Pooling = 'cls' | 'mean';

/** What we know about a model before reading its folder: the catalogue entry. */
export interface CatalogueEntry {
  /** Hub id, e.g. `BAAI/bge-small-en-v1.5`. */
  id: string;
  /** Prefix added to queries (asymmetric retrieval models are trained with one). */
  queryPrefix: string;
  /** Prefix added to documents (chunks). */
  documentPrefix: string;
}

/**
 * Known models. Pooling, dimension and token limit are read from the folder itself; the catalogue
 * holds what the folder does not say reliably: the instruction prefixes the model was trained with.
 */
export const CATALOGUE: readonly CatalogueEntry[] = [
  { id: 'sentence-transformers/all-MiniLM-L6-v2', queryPrefix: '', documentPrefix: '' },
  { id: 'BAAI/bge-small-en-v1.5', queryPrefix: 'Represent this sentence for searching relevant passages: ', documentPrefix: '' },
  { id: 'BAAI/bge-base-en-v1.5', queryPrefix: 'Represent this sentence for searching relevant passages: ', documentPrefix: '' },
];

export const DEFAULT_MODEL_ID = 'sentence-transformers/all-MiniLM-L6-v2';

/** A model folder, read and checked. */
export interface ModelDescription {
  /** Catalogue id when known, else the folder's base name. */
  id: string;
  dir: string;
  config: ModelConfig;
  /** Longest input in tokens, special tokens included (sentence-transformers' max_seq_length). */
  maxTokens: number;
  dim: number;
  queryPrefix: string;
  documentPrefix: string;
  /**
   * Identifies the exact weights and settings: vectors from two different fingerprints are never
   * mixed in one index. Hashes the config files and the safetensors header (which lists every
   * tensor's dtype, shape and byte range) plus the file size: cheap, and changes with the weights'
   * layout; two checkpoints of identical layout and size are told apart by the header's metadata
   * or not at all, which is acceptable for a cache key.
   */
  fingerprint: string;
}

export class ModelError extends Error {
  constructor(readonly dir: string, reason: string) {
    super(`${dir}: ${reason}`);
    this.name = 'ModelError';
  }
}

/**
 * Throw unless `file` is a regular file (links to one are fine): a FIFO or device under a model
 * file's name would block a reader forever or never end.
 */
function requireRegularFile(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new ModelError(path.dirname(file), `cannot read ${path.basename(file)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!st.isFile()) throw new ModelError(path.dirname(file), `${path.basename(file)} is not a regular file`);
}

function readJson(file: string): unknown {
  requireRegularFile(file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelError(path.dirname(file), `cannot read ${path.basename(file)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelError(path.dirname(file), `${path.basename(file)} is not valid JSON (${(e as Error).message})`);
  }
}

function readJsonIfPresent(file: string): Record<string, unknown> | undefined {
  return fs.existsSync(file) ? (readJson(file) as Record<string, unknown>) : undefined;
}

function num(obj: Record<string, unknown>, key: string, dir: string, fallback?: number): number {
  const v = obj[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined) return fallback;
  throw new ModelError(dir, `config.json lacks the number "${key}"`);
}

/** Pooling as the sentence-transformers files declare it; CLS when nothing is declared (BERT's default). */
function readPooling(dir: string): Pooling {
  const modules = readJsonIfPresent(path.join(dir, 'modules.json'));
  let poolingDir = '1_Pooling';
  if (Array.isArray(modules)) {
    const pool = modules.find((m) => typeof m === 'object' && m && String((m as Record<string, unknown>).type).endsWith('.Pooling'));
    if (pool && typeof (pool as Record<string, unknown>).path === 'string') poolingDir = (pool as Record<string, string>).path;
  }
  const cfg = readJsonIfPresent(path.join(dir, poolingDir, 'config.json'));
  if (!cfg) return 'cls';
  if (cfg.pooling_mode_mean_tokens === true) return 'mean';
  if (cfg.pooling_mode_cls_token === true) return 'cls';
  const declared = Object.keys(cfg).filter((k) => k.startsWith('pooling_mode_') && cfg[k] === true);
  throw new ModelError(dir, `unsupported pooling ${declared.join(', ') || '(none declared)'}; supported: cls, mean`);
}

function fingerprintOf(dir: string, files: string[]): string {
  const h = crypto.createHash('sha256');
  for (const f of files) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) {
      requireRegularFile(p);
      h.update(f).update(fs.readFileSync(p));
    }
  }
  const weights = path.join(dir, 'model.safetensors');
  requireRegularFile(weights);
  const fd = fs.openSync(weights, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > 100 * 1024 * 1024 || 8 + headerLen > size) {
      throw new ModelError(dir, `model.safetensors is not a safetensors file (header length ${headerLen}, file size ${size})`);
    }
    const header = Buffer.alloc(headerLen);
    fs.readSync(fd, header, 0, headerLen, 8);
    h.update(String(size)).update(header);
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex').slice(0, 16);
}

/** Read and check a model folder; throws ModelError naming the folder and what is wrong. */
export function describeModel(dir: string, catalogueId?: string): ModelDescription {
  dir = path.resolve(dir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelError(dir, 'model folder not found');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    if (!fs.existsSync(path.join(dir, f))) {
      const hint = f === 'model.safetensors' && fs.existsSync(path.join(dir, 'pytorch_model.bin'))
        ? ' (only pytorch_model.bin is present; pickle weights are never loaded, use a safetensors export)'
        : '';
      throw new ModelError(dir, `missing ${f}${hint}`);
    }
  }
  const cfg = readJson(path.join(dir, 'config.json')) as Record<string, unknown>;
  const modelType = String(cfg.model_type ?? '');
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures.map(String) : [];
  if (modelType !== 'bert') {
    throw new ModelError(dir, `unsupported architecture "${modelType || archs.join(',') || 'unknown'}"; supported: bert (BGE, MiniLM, …)`);
  }
  const act = String(cfg.hidden_act ?? 'gelu');
  if (act !== 'gelu') throw new ModelError(dir, `unsupported hidden_act "${act}"; supported: gelu`);
  if ((cfg.position_embedding_type ?? 'absolute') !== 'absolute') {
    throw new ModelError(dir, `unsupported position_embedding_type "${String(cfg.position_embedding_type)}"; supported: absolute`);
  }
  const pooling = readPooling(dir);
  const config: ModelConfig = {
    architecture: 'bert',
    hiddenSize: num(cfg, 'hidden_size', dir),
    numLayers: num(cfg, 'num_hidden_layers', dir),
    numHeads: num(cfg, 'num_attention_heads', dir),
    intermediateSize: num(cfg, 'intermediate_size', dir),
    vocabSize: num(cfg, 'vocab_size', dir),
    maxPositions: num(cfg, 'max_position_embeddings', dir),
    typeVocabSize: num(cfg, 'type_vocab_size', dir, 2),
    layerNormEps: num(cfg, 'layer_norm_eps', dir, 1e-12),
    pooling,
    hiddenAct: 'gelu',
  };
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new ModelError(dir, `hidden_size ${config.hiddenSize} is not a multiple of num_attention_heads ${config.numHeads}`);
  }
  const st = readJsonIfPresent(path.join(dir, 'sentence_bert_config.json'));
  const declaredMax = st && typeof st.max_seq_length === 'number' ? st.max_seq_length : config.maxPositions;
  const maxTokens = Math.min(declaredMax, config.maxPositions);

  const base = path.basename(dir);
  const entry = CATALOGUE.find((c) => c.id === catalogueId) ?? CATALOGUE.find((c) => c.id.split('/')[1] === base);
  // A model folder may declare its own prompts (sentence-transformers >= 3: "prompts": {"query": …}).
  const stCfg = readJsonIfPresent(path.join(dir, 'config_sentence_transformers.json'));
  const prompts = (stCfg?.prompts ?? {}) as Record<string, unknown>;
  const queryPrefix = typeof prompts.query === 'string' ? prompts.query : entry?.queryPrefix ?? '';
  const documentPrefix = typeof prompts.document === 'string' ? prompts.document : entry?.documentPrefix ?? '';

  return {
    id: entry?.id ?? catalogueId ?? base,
    dir,
    config,
    maxTokens,
    dim: config.hiddenSize,
    queryPrefix,
    documentPrefix,
    fingerprint: fingerprintOf(dir, ['config.json', 'tokenizer.json', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json']),
  };
}
