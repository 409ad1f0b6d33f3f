/**
 * The sidecar's protocol: every custom request and notification between the extension and the
 * sidecar, named and typed once. Both sides import this module and nothing else of each other.
 * No vscode, no fs: types, method names and setting defaults only.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

export type SearchMode = 'hybrid' | 'semantic' | 'keyword';
/** Which embedding tiers run: `full`, the static tier at once and the transformer filling in behind; `static`, the static tier only (no transformer ever loads). */
export type Tiers = 'full' | 'static';
export type Device = 'auto' | 'cpu' | 'gpu';

/** One ranked code location. Lines are 1-based and inclusive; `path` is workspace-relative with `/`. */
export interface Hit {
  /** Workspace folder (absolute path) the hit belongs to. */
  root: string;
  path: string;
  startLine: number;
  endLine: number;
  symbol: string | null;
  kind: string;
  language: string;
  score: number;
  /** A few lines of the chunk, for display. */
  snippet: string;
}

export interface SearchParams {
  query: string;
  /** Most results; default the `semsearch.search.resultCount` setting. */
  top?: number;
  mode?: SearchMode;
  /** Filters may also be written inside the query: `lang:go path:src/** -path:**\/test/**`. */
  languages?: string[];
  pathGlobs?: string[];
  excludePathGlobs?: string[];
}
export interface SearchResult {
  query: string;
  hits: Hit[];
  /** True while some chunks have no vector yet: semantic ranking covers only part of the workspace. */
  partial: boolean;
  /** The rankings that answered this query (keyword, static, transformer). */
  tiers: SearchTier[];
  timings: { embedMs: number; vectorMs: number; keywordMs: number; fuseMs: number; totalMs: number };
}

/** A ranking tier, as results name the ones that answered. */
export type SearchTier = 'keyword' | 'static' | 'transformer';

export interface FindSimilarParams {
  /** Absolute file path (must be inside a workspace folder). */
  file: string;
  /** 1-based line; the chunk covering it is the source. */
  line: number;
  /** A selected range; with `text` it is embedded afresh (for unsaved or dirty editors). */
  endLine?: number;
  text?: string;
  top?: number;
}
export interface FindSimilarResult {
  source: { path: string; startLine: number; endLine: number; symbol: string | null } | null;
  hits: Hit[];
  partial: boolean;
}

export interface ReindexParams {
  /** Drop everything and rebuild, rather than reconcile with the disk. */
  full?: boolean;
}
export interface ReindexResult {
  files: number;
  chunks: number;
  skipped: number;
  seconds: number;
  cancelled: boolean;
  /** Every folder was dropped and built again (a full reindex, or a reindex that a full one restarted). */
  rebuilt: boolean;
}

/** The status request takes no parameters. */
export type StatusParams = Record<string, never>;
export interface FolderStatus {
  root: string;
  indexPath: string;
  files: number;
  chunks: number;
  /** Chunks with their transformer vector (the deep tier). */
  chunksWithVectors: number;
  /** Chunks the static tier has done (null: no static tier in this index). */
  chunksWithStatic: number | null;
  skippedByReason: Record<string, number>;
  lastIndexed: string | null;
}
export type Health = 'ok' | 'indexing' | 'warning' | 'error';
export interface StatusResult {
  health: Health;
  /** Human-readable state, e.g. "indexing 120/900 files" or the model's load error with its fix. */
  message: string;
  /** The transformer (deep tier); null when none is loaded (`tiers: static`, or it failed to load: see message). */
  model: { id: string; device: string; dtype: string; dim: number } | null;
  /** The static model (fast tier); null when none is loaded. */
  staticModel: { id: string; dim: number } | null;
  tiers: Tiers;
  partial: boolean;
  folders: FolderStatus[];
}

/** Is the index usable for the position under the cursor (cheap: no embedding). */
export interface ChunkAtParams {
  file: string;
  line: number;
}
export interface ChunkAtResult {
  chunk: { path: string; startLine: number; endLine: number; symbol: string | null; kind: string } | null;
}

/**
 * Progress of the sidecar's long work: indexing (walk, chunk, embed, done) and, before it, the
 * download of a model from the Hugging Face Hub (`download`: the counts are 0, `bytesDone` and
 * `bytesTotal` cover the model's files, `message` names the model and the file).
 */
export interface IndexProgress {
  phase: 'download' | 'walk' | 'chunk' | 'embed' | 'done' | 'error';
  filesSeen: number;
  filesIndexed: number;
  filesSkipped: number;
  chunks: number;
  /** Transformer tier: chunks embedded by this run, and chunks still without a vector. */
  chunksEmbedded: number;
  chunksPending: number;
  /** The transformer tier runs (false: the static tier only). */
  transformer?: boolean;
  /** Static tier: chunks still without a static vector (0 once the static tier is complete). */
  staticPending?: number;
  /** The transformer's rate so far in this run (distinct texts per second of embedding). */
  chunksPerSecond?: number;
  /** Seconds the transformer tier needs at that rate for the chunks still pending (absent until a rate is known). */
  etaSeconds?: number;
  message?: string;
  bytesDone?: number;
  bytesTotal?: number;
}

export const SearchRequest = new RequestType<SearchParams, SearchResult, void>('semsearch/search');
export const FindSimilarRequest = new RequestType<FindSimilarParams, FindSimilarResult, void>('semsearch/findSimilar');
export const ReindexRequest = new RequestType<ReindexParams, ReindexResult, void>('semsearch/reindex');
export const StatusRequest = new RequestType<StatusParams, StatusResult, void>('semsearch/status');
export const ChunkAtRequest = new RequestType<ChunkAtParams, ChunkAtResult, void>('semsearch/chunkAt');
/** Sent by the sidecar whenever health, counts or the message change (throttled). */
export const StatusNotification = new NotificationType<StatusResult>('semsearch/statusChanged');
/** Indexing progress, throttled to a few per second. */
export const ProgressNotification = new NotificationType<IndexProgress>('semsearch/progress');

/**
 * How hybrid mode fuses the keyword and embedding rankings: `convex`, a weighted sum of min-max
 * normalised scores (default), or `rrf`, reciprocal rank fusion with constant rrfK.
 */
export type FusionMethod = 'convex' | 'rrf';

/** Settings the sidecar reads; names match `contributes.configuration` in package.json. */
export interface Settings {
  model: string;
  /** Never contact the Hugging Face Hub (also on when $HF_HUB_OFFLINE is set). */
  offline: boolean;
  device: Device;
  exclude: string[];
  maxFileSize: number;
  indexOnStartup: boolean;
  resultCount: number;
  defaultMode: SearchMode;
  fusion: FusionMethod;
  rrfK: number;
  keywordWeight: number;
  /** Weight of the transformer tier's ranking in hybrid mode. */
  semanticWeight: number;
  /** Weight of the static tier's ranking in hybrid mode. */
  staticWeight: number;
  tiers: Tiers;
  /** Threads the transformer may use while indexing in the background; 0: all cores but one. */
  embedThreads: number;
}

/** Results a search or find-similar returns when the caller names no number (the CLI, MCP, chat tools). */
export const DEFAULT_TOP = 10;
/** Most results one request may ask for. */
export const MAX_TOP = 1000;

export const DEFAULT_SETTINGS: Settings = {
  model: 'semsearch/bge-small-en-v1.5-code',
  offline: false,
  device: 'auto',
  exclude: [],
  maxFileSize: 1024 * 1024,
  indexOnStartup: true,
  resultCount: 20,
  defaultMode: 'hybrid',
  fusion: 'convex',
  rrfK: 60,
  keywordWeight: 0.1,
  semanticWeight: 0.9,
  staticWeight: 0.05,
  tiers: 'full',
  embedThreads: 0,
};

/**
 * Where each setting lives in `contributes.configuration`, relative to the `semsearch` section
 * (`search.rrfK` is the user-visible `semsearch.search.rrfK`). A unit test checks package.json
 * against this table and DEFAULT_SETTINGS.
 */
export const SETTING_KEYS: { readonly [K in keyof Settings]: string } = {
  model: 'model',
  offline: 'offline',
  device: 'device',
  exclude: 'exclude',
  maxFileSize: 'maxFileSize',
  indexOnStartup: 'indexOnStartup',
  resultCount: 'search.resultCount',
  defaultMode: 'search.defaultMode',
  fusion: 'search.fusion',
  rrfK: 'search.rrfK',
  keywordWeight: 'search.keywordWeight',
  semanticWeight: 'search.semanticWeight',
  staticWeight: 'search.staticWeight',
  tiers: 'tiers',
  embedThreads: 'embedThreads',
};

/** The values an enumerated setting may take (package.json's `enum`s). */
const CHOICES: { readonly [K in keyof Settings]?: readonly string[] } = {
  device: ['auto', 'cpu', 'gpu'],
  defaultMode: ['hybrid', 'semantic', 'keyword'],
  fusion: ['convex', 'rrf'],
  tiers: ['full', 'static'],
};

/**
 * Return Settings from the value of the `semsearch` section as `workspace/configuration` sends it
 * (nested: `{model, search: {rrfK}}`); missing or mistyped values fall back to DEFAULT_SETTINGS.
 */
export function settingsFromSection(section: unknown): Settings {
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const [name, key] of Object.entries(SETTING_KEYS)) {
    let v: unknown = section;
    for (const part of key.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    const def = (DEFAULT_SETTINGS as unknown as Record<string, unknown>)[name];
    if (v === undefined || v === null) continue;
    const allowed = CHOICES[name as keyof Settings];
    if (allowed && !allowed.includes(v as string)) continue;
    if (Array.isArray(def) ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === typeof def) out[name] = v;
  }
  return out as unknown as Settings;
}
