/**
 * Finds the folder of a model named by the user: a path, or a Hugging Face id looked up in the
 * places where a copy may already be, and downloaded into the Hugging Face cache (hub/) when
 * there is none and offline mode is off.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DERIVED_MODELS, DerivedModel, deriveModel, isDerivedFolder } from './adapters';
import { semsearchCacheDir } from '../common/cacheDir';
import { cachedSnapshot, downloadModel, hubCacheDir, HubOptions, isHubId, isOffline } from './hub';
import { DEFAULT_SETTINGS } from '../protocol';
import { describeModel, ModelDescription, ModelError } from './folder';

export { hubCacheDir };

/** Root of this package (holds package.json), for the project-local `.models/` folder. */
export function packageRoot(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'semsearch') return dir;
      } catch {
        /* not ours */
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Folders outside the Hugging Face cache that may hold a copy of Hub model `id`, most specific first. */
export function candidateFolders(id: string): string[] {
  const base = id.split('/').pop() ?? id;
  const out: string[] = [];
  if (process.env.SEMSEARCH_MODELS_DIR)
    out.push(path.join(process.env.SEMSEARCH_MODELS_DIR, base), path.join(process.env.SEMSEARCH_MODELS_DIR, id.replace('/', '--')));
  const root = packageRoot();
  if (root) out.push(path.join(root, '.models', base));
  return out;
}

/**
 * Where derived models (adapters.ts) are built when no prepared copy exists:
 * $XDG_CACHE_HOME/semsearch/models, else ~/.cache/semsearch/models.
 */
export function derivedModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(semsearchCacheDir(env), 'models');
}

/** The adapter file of a derived model, shipped in this package's `models/adapters/`. */
export function adapterFile(model: DerivedModel): string {
  const root = packageRoot();
  if (!root) throw new ModelError(model.id, 'cannot find the package folder that holds models/adapters/');
  return path.join(root, 'models', 'adapters', model.adapter);
}

/** Folders that may hold derived model `model` ready-made, the build folder last. */
function derivedFolders(model: DerivedModel): string[] {
  return [...candidateFolders(model.id), path.join(derivedModelsDir(), model.id.replace('/', '--'))];
}

function looksLikePath(name: string): boolean {
  return name.startsWith('.') || path.isAbsolute(name) || name.startsWith('~') || fs.existsSync(name);
}

/**
 * True when resolveModel(`spec`) would download: a Hub id without a complete local copy (and
 * offline mode off). Reads the disk only.
 */
export function needsDownload(spec: string | undefined, options: ResolveOptions = {}): boolean {
  const name = spec ?? process.env.SEMSEARCH_MODEL ?? DEFAULT_SETTINGS.model;
  if (looksLikePath(name)) return false;
  const derived = DERIVED_MODELS.find((d) => d.id === name);
  if (derived) return !derivedFolders(derived).some((dir) => isDerivedFolder(dir, derived.sha256)) && needsDownload(derived.base, options);
  if (!isHubId(name) || isOffline(options)) return false;
  if (candidateFolders(name).some((dir) => fs.existsSync(path.join(dir, 'model.safetensors')))) return false;
  return cachedSnapshot(name, { cacheDir: options.cacheDir ?? hubCacheDir(), revision: options.revision })?.missing.length !== 0;
}

/** How to find and fetch a model (hub/'s options: offline, endpoint, cache, token, progress). */
export type ResolveOptions = HubOptions;

/**
 * Resolve `spec` (a folder path or a Hub id; default: $SEMSEARCH_MODEL, then the default model)
 * to a described model folder. A Hub id is looked up in $SEMSEARCH_MODELS_DIR, `.models/` and the
 * Hugging Face cache, in that order; without a complete copy it is downloaded into the cache
 * (never in offline mode). Throws ModelError (`<model>: reason`) with the places searched and the fix.
 */
export async function resolveModel(spec?: string, options: ResolveOptions = {}): Promise<ModelDescription> {
  const name = spec ?? process.env.SEMSEARCH_MODEL ?? DEFAULT_SETTINGS.model;
  if (looksLikePath(name)) return describeModel(name.replace(/^~(?=$|\/)/, os.homedir()));
  const derived = DERIVED_MODELS.find((d) => d.id === name);
  if (derived) return resolveDerived(derived, options);
  if (!isHubId(name)) throw new ModelError(name, 'not a model folder, and not a Hugging Face model id (org/name)');
  const tried = candidateFolders(name);
  for (const dir of tried) {
    if (fs.existsSync(path.join(dir, 'model.safetensors'))) return describeModel(dir, name);
  }
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const cached = cachedSnapshot(name, { cacheDir, revision: options.revision });
  if (cached && cached.missing.length === 0) return describeModel(cached.dir, name);
  if (isOffline(options)) {
    const where = [...tried, cached?.dir ?? path.join(cacheDir, `models--${name.replace('/', '--')}`)].join(', ');
    throw new ModelError(
      name,
      `no local copy${cached ? ` (the cached one lacks ${cached.missing.join(', ')})` : ''} (looked in ${where}), ` +
        'and offline mode is on (HF_HUB_OFFLINE, --offline or semsearch.offline); go online once to download it, or give a model folder',
    );
  }
  return describeModel(await downloadModel(name, { ...options, cacheDir }), name);
}

/**
 * A derived model: a ready folder made with the shipped adapter, else one built from the base
 * model (found or downloaded as resolveModel does) into derivedModelsDir().
 */
async function resolveDerived(model: DerivedModel, options: ResolveOptions): Promise<ModelDescription> {
  const folders = derivedFolders(model);
  const ready = folders.find((dir) => isDerivedFolder(dir, model.sha256));
  if (ready) return describeModel(ready, model.id);
  const base = await resolveModel(model.base, options);
  const out = folders[folders.length - 1];
  deriveModel(model, base.dir, adapterFile(model), out);
  return describeModel(out, model.id);
}
