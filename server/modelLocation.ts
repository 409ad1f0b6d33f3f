/**
 * Finds the folder of a model named by the user: a path, or a Hugging Face id looked up in the
 * places where a copy may already be (never the network; downloading is hub.ts's job).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_MODEL_ID, describeModel, ModelDescription, ModelError } from './models';

/** Root of this package (holds package.json), for the project-local `.models/` folder. */
export function packageRoot(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'semsearch') return dir;
      } catch { /* not ours */ }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Standard Hugging Face cache: $HF_HUB_CACHE, $HF_HOME/hub, or ~/.cache/huggingface/hub. */
export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  const home = process.env.HF_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

/** Folders that may hold a copy of Hub model `id`, most specific first. */
export function candidateFolders(id: string): string[] {
  const base = id.split('/').pop() ?? id;
  const out: string[] = [];
  if (process.env.SEMSEARCH_MODELS_DIR) out.push(path.join(process.env.SEMSEARCH_MODELS_DIR, base), path.join(process.env.SEMSEARCH_MODELS_DIR, id.replace('/', '--')));
  const root = packageRoot();
  if (root) out.push(path.join(root, '.models', base));
  // Hub cache layout: models--org--name/refs/main holds the commit; snapshots/<commit>/ the files.
  const repo = path.join(hubCacheDir(), `models--${id.replace('/', '--')}`);
  try {
    const ref = fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8').trim();
    out.push(path.join(repo, 'snapshots', ref));
  } catch { /* not cached */ }
  return out;
}

/**
 * Resolve `spec` (a folder path or a Hub id; default: $SEMSEARCH_MODEL, then the default model)
 * to a described model folder. Throws ModelError with the places searched and the fix.
 */
export async function resolveModel(spec?: string): Promise<ModelDescription> {
  const name = spec ?? process.env.SEMSEARCH_MODEL ?? DEFAULT_MODEL_ID;
  const looksLikePath = name.startsWith('.') || path.isAbsolute(name) || name.startsWith('~') || fs.existsSync(name);
  if (looksLikePath) return describeModel(name.replace(/^~(?=$|\/)/, os.homedir()));
  const tried = candidateFolders(name);
  for (const dir of tried) {
    if (fs.existsSync(path.join(dir, 'model.safetensors'))) return describeModel(dir, name);
  }
  throw new ModelError(name, `no local copy found (looked in ${tried.join(', ') || 'no folders'}); ` +
    'give a model folder with --model, or put one in $SEMSEARCH_MODELS_DIR');
}
