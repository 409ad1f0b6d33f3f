/**
 * Model-folder reading.
 *
 * A model folder is what the Hugging Face Hub holds for a sentence-transformers model:
 * `config.json`, `model.safetensors`, `tokenizer.json`, and optionally `modules.json`,
 * `1_Pooling/config.json`, `sentence_bert_config.json`, `config_sentence_transformers.json`.
 * This module turns such a folder into a `ModelDescription`: everything the encoder, the tokenizer
 * and the index need to know, checked before any native code sees the files. It reads files only;
 * it never downloads (see hub/) and never loads weights (see native.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { CATALOGUE, CatalogueEntry, Pooling } from './catalogue';
import type { ModelConfig } from './native';
import { RawHeader, readRawHeader, SafetensorsError } from './safetensors';

/** A model folder, read and checked. */
export interface ModelDescription {
  /** Catalogue id when known, else the folder's base name. */
  id: string;
  dir: string;
  config: ModelConfig;
  /**
   * Longest input the model takes, in tokens, special tokens included: sentence-transformers'
   * max_seq_length, else the catalogue's, else the position limit. The embedder may cut inputs
   * shorter (embedder.ts, DEFAULT_MAX_TOKENS) to bound the cost of indexing.
   */
  maxTokens: number;
  dim: number;
  queryPrefix: string;
  documentPrefix: string;
  /**
   * Identifies the exact weights and settings: vectors from two different fingerprints are never
   * mixed in one index. Hashes the config files, the safetensors header (which lists every
   * tensor's dtype, shape and byte range) plus the file size, and what the vectors depend on that
   * may come from the catalogue rather than a file: architecture, pooling and document prefix.
   * Cheap, and changes with the weights' layout; two checkpoints of identical layout and size are
   * told apart by the header's metadata or not at all, which is acceptable for a cache key. The
   * query prefix is left out: stored vectors do not depend on it.
   */
  fingerprint: string;
}

export class ModelError extends Error {
  constructor(
    readonly dir: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${dir}: ${reason}`, options);
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

/** A config value as text for checks and messages: strings as they are, other values as JSON. */
function textOf(v: unknown, fallback: string): string {
  if (v === undefined || v === null) return fallback;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function num(obj: Record<string, unknown>, key: string, dir: string, fallback?: number): number {
  const v = obj[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined) return fallback;
  throw new ModelError(dir, `config.json lacks the number "${key}"`);
}

function bool(obj: Record<string, unknown>, key: string, dir: string, fallback: boolean): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new ModelError(dir, `config.json: "${key}" must be true or false`);
  return v;
}

/** Pooling as the sentence-transformers files declare it; undefined when they declare none. */
function declaredPooling(dir: string): Pooling | undefined {
  const modules = readJsonIfPresent(path.join(dir, 'modules.json'));
  let poolingDir = '1_Pooling';
  if (Array.isArray(modules)) {
    const pool = (modules as unknown[]).find((m) => typeof m === 'object' && m && textOf((m as Record<string, unknown>).type, '').endsWith('.Pooling')) as
      Record<string, unknown> | undefined;
    if (pool && typeof pool.path === 'string') poolingDir = pool.path;
  }
  const cfg = readJsonIfPresent(path.join(dir, poolingDir, 'config.json'));
  if (!cfg) return undefined;
  if (cfg.pooling_mode_mean_tokens === true) return 'mean';
  if (cfg.pooling_mode_cls_token === true) return 'cls';
  const declared = Object.keys(cfg).filter((k) => k.startsWith('pooling_mode_') && cfg[k] === true);
  throw new ModelError(dir, `unsupported pooling ${declared.join(', ') || '(none declared)'}; supported: cls, mean`);
}

/** ModernBERT's per-layer attention kinds and rotary bases, from either spelling of config.json. */
function modernBertLayout(cfg: Record<string, unknown>, dir: string, numLayers: number) {
  // transformers >= 5 writes layer_types and rope_parameters; the Hub's folders (written by 4.48
  // and later 4.x) hold global_attn_every_n_layers, global_rope_theta and local_rope_theta.
  let layerTypes: ('global' | 'local')[];
  if (Array.isArray(cfg.layer_types)) {
    layerTypes = cfg.layer_types.map((t, i) => {
      if (t === 'full_attention') return 'global';
      if (t === 'sliding_attention') return 'local';
      throw new ModelError(dir, `config.json: layer_types[${i}] is ${JSON.stringify(t)}; supported: full_attention, sliding_attention`);
    });
    if (layerTypes.length !== numLayers) {
      throw new ModelError(dir, `config.json: layer_types lists ${layerTypes.length} layers, num_hidden_layers is ${numLayers}`);
    }
  } else {
    const every = num(cfg, 'global_attn_every_n_layers', dir, 3);
    if (!Number.isInteger(every) || every < 1) throw new ModelError(dir, 'config.json: "global_attn_every_n_layers" must be a positive integer');
    layerTypes = Array.from({ length: numLayers }, (_, i) => (i % every === 0 ? 'global' : 'local'));
  }
  if (cfg.rope_scaling !== undefined && cfg.rope_scaling !== null) {
    throw new ModelError(dir, `config.json: rope_scaling ${JSON.stringify(cfg.rope_scaling)} is not supported (only plain rotary embeddings)`);
  }
  const rope = (cfg.rope_parameters ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const theta = (kind: 'full_attention' | 'sliding_attention', legacy: string, fallback: number): number => {
    const params = rope[kind];
    const type = params?.rope_type ?? 'default';
    if (type !== 'default') throw new ModelError(dir, `config.json: rope_type ${JSON.stringify(type)} for ${kind} is not supported (only "default")`);
    return typeof params?.rope_theta === 'number' ? params.rope_theta : num(cfg, legacy, dir, fallback);
  };
  return {
    layerTypes,
    globalRopeTheta: theta('full_attention', 'global_rope_theta', 160000),
    localRopeTheta: theta('sliding_attention', 'local_rope_theta', 10000),
  };
}

/**
 * Return the encoder's ModelConfig from a folder's config.json and pooling files; `entry` (the
 * catalogue's, when known) decides pooling where the folder declares none. Throws ModelError
 * naming the folder and what is unsupported.
 */
export function encoderConfigOf(dir: string, entry?: CatalogueEntry): ModelConfig {
  const cfg = readJson(path.join(dir, 'config.json')) as Record<string, unknown>;
  const modelType = textOf(cfg.model_type, '');
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures.map(String) : [];
  const shape = () => ({
    hiddenSize: num(cfg, 'hidden_size', dir),
    numLayers: num(cfg, 'num_hidden_layers', dir),
    numHeads: num(cfg, 'num_attention_heads', dir),
    intermediateSize: num(cfg, 'intermediate_size', dir),
    vocabSize: num(cfg, 'vocab_size', dir),
    maxPositions: num(cfg, 'max_position_embeddings', dir),
    hiddenAct: 'gelu' as const,
  });
  let config: ModelConfig;
  if (modelType === 'bert') {
    const act = textOf(cfg.hidden_act, 'gelu');
    if (act !== 'gelu') throw new ModelError(dir, `unsupported hidden_act "${act}"; supported: gelu`);
    if ((cfg.position_embedding_type ?? 'absolute') !== 'absolute') {
      throw new ModelError(dir, `unsupported position_embedding_type "${String(cfg.position_embedding_type)}"; supported: absolute`);
    }
    config = {
      architecture: 'bert',
      ...shape(),
      typeVocabSize: num(cfg, 'type_vocab_size', dir, 2),
      layerNormEps: num(cfg, 'layer_norm_eps', dir, 1e-12),
      // A BERT folder that declares no pooling is a classification-style checkpoint: CLS.
      pooling: declaredPooling(dir) ?? entry?.pooling ?? 'cls',
    };
  } else if (modelType === 'modernbert') {
    const act = textOf(cfg.hidden_activation, 'gelu');
    if (act !== 'gelu') throw new ModelError(dir, `unsupported hidden_activation "${act}"; supported: gelu`);
    const classifierPooling = cfg.classifier_pooling ?? 'cls';
    if (classifierPooling !== 'cls' && classifierPooling !== 'mean') {
      throw new ModelError(dir, `config.json: unsupported classifier_pooling ${JSON.stringify(classifierPooling)}; supported: cls, mean`);
    }
    const base = shape();
    config = {
      architecture: 'modernbert',
      ...base,
      normEps: num(cfg, 'norm_eps', dir, 1e-5),
      normBias: bool(cfg, 'norm_bias', dir, false),
      attentionBias: bool(cfg, 'attention_bias', dir, false),
      mlpBias: bool(cfg, 'mlp_bias', dir, false),
      ...modernBertLayout(cfg, dir, base.numLayers),
      localAttention: num(cfg, 'local_attention', dir, 128),
      pooling: declaredPooling(dir) ?? entry?.pooling ?? classifierPooling,
    };
  } else {
    throw new ModelError(
      dir,
      `unsupported architecture "${modelType || archs.join(',') || 'unknown'}"; ` +
        'supported: bert (MiniLM, BGE, …), modernbert (nomic, granite r2, gte-modernbert, …)',
    );
  }
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new ModelError(dir, `hidden_size ${config.hiddenSize} is not a multiple of num_attention_heads ${config.numHeads}`);
  }
  if (config.architecture === 'modernbert' && (config.hiddenSize / config.numHeads) % 2 !== 0) {
    throw new ModelError(dir, `head size ${config.hiddenSize / config.numHeads} is odd; rotary embeddings need an even one`);
  }
  return config;
}

function fingerprintOf(dir: string, files: string[], settings: object): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify(settings));
  for (const f of files) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) {
      requireRegularFile(p);
      h.update(f).update(fs.readFileSync(p));
    }
  }
  const weights = path.join(dir, 'model.safetensors');
  requireRegularFile(weights);
  let raw: RawHeader;
  try {
    raw = readRawHeader(weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ModelError(dir, `model.safetensors is ${e.message}`);
    throw e;
  }
  h.update(String(raw.fileSize)).update(raw.headerBytes);
  return h.digest('hex').slice(0, 16);
}

/** Read and check a model folder; throws ModelError naming the folder and what is wrong. */
export function describeModel(dir: string, catalogueId?: string): ModelDescription {
  dir = path.resolve(dir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelError(dir, 'model folder not found');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    if (!fs.existsSync(path.join(dir, f))) {
      const hint =
        f === 'model.safetensors' && fs.existsSync(path.join(dir, 'pytorch_model.bin'))
          ? ' (only pytorch_model.bin is present; pickle weights are never loaded, use a safetensors export)'
          : '';
      throw new ModelError(dir, `missing ${f}${hint}`);
    }
  }
  const base = path.basename(dir);
  // An id given by the caller must agree with the folder; a folder that merely shares a catalogue
  // model's name is taken for that model only when it has that model's shape.
  const named = CATALOGUE.find((c) => c.id === catalogueId);
  let entry = named ?? CATALOGUE.find((c) => c.id.split('/')[1] === base);
  let config = encoderConfigOf(dir, entry);
  if (entry && (entry.architecture !== config.architecture || entry.dim !== config.hiddenSize)) {
    if (named) {
      throw new ModelError(
        dir,
        `config.json describes a ${config.architecture} encoder of ${config.hiddenSize} dimensions, ` +
          `but ${named.id} is a ${named.architecture} encoder of ${named.dim}: the folder holds another model`,
      );
    }
    entry = undefined;
    config = encoderConfigOf(dir);
  }

  const st = readJsonIfPresent(path.join(dir, 'sentence_bert_config.json'));
  const declaredMax = st && typeof st.max_seq_length === 'number' ? st.max_seq_length : (entry?.maxTokens ?? config.maxPositions);
  const maxTokens = Math.min(declaredMax, config.maxPositions);

  // A model folder may declare its own prompts (sentence-transformers >= 3: "prompts": {"query": …}).
  const stCfg = readJsonIfPresent(path.join(dir, 'config_sentence_transformers.json'));
  const prompts = (stCfg?.prompts ?? {}) as Record<string, unknown>;
  const queryPrefix = typeof prompts.query === 'string' ? prompts.query : (entry?.queryPrefix ?? '');
  const documentPrefix = typeof prompts.document === 'string' ? prompts.document : (entry?.documentPrefix ?? '');

  return {
    id: entry?.id ?? catalogueId ?? base,
    dir,
    config,
    maxTokens,
    dim: config.hiddenSize,
    queryPrefix,
    documentPrefix,
    fingerprint: fingerprintOf(dir, ['config.json', 'tokenizer.json', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json'], {
      architecture: config.architecture,
      pooling: config.pooling,
      documentPrefix,
    }),
  };
}
