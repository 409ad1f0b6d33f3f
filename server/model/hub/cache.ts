/**
 * The Hugging Face cache as a model store, read only: which files a model needs (MODEL_FILES and
 * the safetensors weights), where a model's cached copy is, and whether it is complete.
 *
 *   <cache>/models--<org>--<name>/blobs/<etag>             file contents, named by their hash
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<path> relative symlink to the blob
 *   <cache>/models--<org>--<name>/refs/main                the commit `main` pointed to
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hubCacheDir } from './settings';

/** Files of a model folder that semsearch reads (model/folder.ts, model/tokenizer.ts), besides the weights. */
export const MODEL_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
] as const;
/** Files without which a model cannot load (besides the weights). */
export const REQUIRED_FILES = ['config.json', 'tokenizer.json'];
/** Pooling settings of sentence-transformers (`1_Pooling/config.json`, named in modules.json). */
export const POOLING_CONFIG = /^\d+_Pooling\/config\.json$/;
export const SAFETENSORS = 'model.safetensors';
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
/** Weights in Python's pickle format: loading one can run arbitrary code, so they are never fetched. */
export const PICKLE_WEIGHTS = /\.(bin|pt|pth|ckpt|pkl|pickle)$/i;

/** The cache folder of one model: `models--org--name`. */
export function repoCacheDir(id: string, cacheDir = hubCacheDir()): string {
  return path.join(cacheDir, `models--${id.split('/').join('--')}`);
}

/**
 * The weight files of a snapshot folder (or listing): `model.safetensors`, or the index and every
 * shard it names. Undefined when there are no safetensors weights.
 */
function weightFiles(has: (p: string) => boolean, readIndex: () => unknown): string[] | undefined {
  if (has(SAFETENSORS)) return [SAFETENSORS];
  if (!has(SAFETENSORS_INDEX)) return undefined;
  const index = readIndex() as { weight_map?: Record<string, string> } | undefined;
  const shards = [...new Set(Object.values(index?.weight_map ?? {}))].sort();
  return shards.length ? [SAFETENSORS_INDEX, ...shards] : undefined;
}

/**
 * The cached snapshot of `id` that `refs/<revision>` points to, when it holds everything a model
 * needs (config, tokenizer, safetensors weights); `missing` names what a partial one lacks.
 * Reads the disk only.
 */
export function cachedSnapshot(id: string, options: { cacheDir?: string; revision?: string } = {}): { dir: string; missing: string[] } | undefined {
  const repo = repoCacheDir(id, options.cacheDir);
  let commit: string;
  try {
    commit = fs.readFileSync(path.join(repo, 'refs', options.revision ?? 'main'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) return undefined;
  const dir = path.join(repo, 'snapshots', commit);
  if (!fs.existsSync(dir)) return undefined;
  const has = (p: string) => fs.existsSync(path.join(dir, p)); // follows the symlink: a dangling one is missing
  const missing = REQUIRED_FILES.filter((f) => !has(f));
  const weights = weightFiles(has, () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, SAFETENSORS_INDEX), 'utf8'));
    } catch {
      return undefined;
    }
  });
  if (!weights) missing.push(SAFETENSORS);
  else missing.push(...weights.filter((f) => !has(f)));
  return { dir, missing };
}
