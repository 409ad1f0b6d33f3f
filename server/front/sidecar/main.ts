/**
 * The sidecar: a language-server-style process that the extension starts. It maps each protocol
 * method (protocol.ts) to the engine of the workspace folder concerned, and owns the model, the
 * chunker and one FolderEngine per folder. All model and index work happens here, never in the
 * editor's extension host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CancellationToken,
  createConnection,
  DataCallback,
  Disposable,
  IPCMessageReader,
  IPCMessageWriter,
  DidChangeWatchedFilesParams,
  InitializeParams,
  InitializeResult,
  ProposedFeatures,
  ResponseError,
  ErrorCodes,
  LSPErrorCodes,
} from 'vscode-languageserver/node';
import { Chunker } from '../../index/chunk';
import { Embedder } from '../../model/embedder';
import { FolderEngine, IndexModel, OwnedQueryEmbedder, servingModel } from '../../engine/folderEngine';
import { QueryError } from '../../search';
import { indexDirFor } from '../../index/store';
import type { DownloadProgress } from '../../model/hub';
import { needsDownload, resolveModel } from '../../model/locate';
import { describeModel } from '../../model/folder';
import {
  ChunkAtParams,
  ChunkAtRequest,
  ChunkAtResult,
  DEFAULT_SETTINGS,
  FindSimilarParams,
  FindSimilarRequest,
  FindSimilarResult,
  FolderStatus,
  Health,
  Hit,
  IndexProgress,
  ProgressNotification,
  ReindexParams,
  ReindexRequest,
  ReindexResult,
  SearchParams,
  SearchRequest,
  SearchResult,
  Settings,
  settingsFromSection,
  StatusNotification,
  StatusRequest,
  StatusResult,
} from '../../protocol';

interface InitOptions {
  /** Where indexes live (the extension's workspace storage). */
  storageDir?: string;
  /** The installed extension's folder (holds wasm/ in a package). */
  extensionDir?: string;
}

/**
 * The client's messages over node IPC (how the extension starts the sidecar), less malformed
 * cancellations: vscode-jsonrpc 10 reads `params.id` of a `$/cancelRequest` without checking it,
 * inside the process's 'message' listener, so one without an id would end the sidecar.
 */
class CheckedIPCMessageReader extends IPCMessageReader {
  override listen(callback: DataCallback): Disposable {
    return super.listen((m) => {
      const { method, params } = m as { method?: unknown; params?: { id?: unknown } | null };
      if (method === '$/cancelRequest' && !(typeof params?.id === 'number' || typeof params?.id === 'string')) return;
      callback(m);
    });
  }
}

const connection = process.argv.includes('--node-ipc')
  ? createConnection(ProposedFeatures.all, new CheckedIPCMessageReader(process), new IPCMessageWriter(process))
  : createConnection(ProposedFeatures.all);
const log = (m: string) => connection.console.log(m);

let roots: string[] = [];
let init: InitOptions = {};
let settings: Settings = { ...DEFAULT_SETTINGS };
let embedder: Embedder | null = null;
let chunker: Chunker | null = null;
const engines = new Map<string, FolderEngine>();
let health: Health = 'indexing';
let message = 'starting';
let indexing: { ctrl: AbortController; done: Promise<ReindexResult> } | null = null;
/**
 * Settles when the engines can answer: after start-up (model load, engines open), or earlier, as
 * soon as the existing indexes are open, when the model must be downloaded first.
 */
let ready: Promise<void> = Promise.resolve();
let markReady: () => void = () => undefined;
/** Engines over the existing indexes, with the models that built them, while the configured model downloads. */
const interim = new Map<string, FolderEngine>();
let interimModels: Embedder[] = [];

connection.onInitialize((params: InitializeParams): InitializeResult => {
  init = (params.initializationOptions ?? {}) as InitOptions;
  roots = (params.workspaceFolders ?? []).map((f) => fileURLToPath(f.uri));
  if (roots.length === 0 && params.rootUri) roots = [fileURLToPath(params.rootUri)];
  return { capabilities: { workspace: { workspaceFolders: { supported: true, changeNotifications: true } } } };
});

connection.onInitialized(() => {
  ready = new Promise<void>((resolve) => (markReady = resolve));
  start()
    .catch((e: Error) => setHealth('error', e.message))
    .finally(() => markReady());
});

async function readSettings(): Promise<Settings> {
  try {
    return settingsFromSection(await connection.workspace.getConfiguration('semsearch'));
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

/** The index folder of `root` in the extension's storage; without one, the per-user cache. */
function indexDirOf(root: string): string | undefined {
  return init.storageDir ? indexDirFor(root, init.storageDir) : undefined;
}

/** Why the model could not be loaded, with the fix; null once it is loaded. */
let modelProblem: string | null = null;
/** Folders whose index could not be opened at all: `root: reason`. */
const openProblems: string[] = [];

async function start(): Promise<void> {
  settings = await readSettings();
  setHealth('indexing', 'loading the model');
  const wasmDir = init.extensionDir && fs.existsSync(path.join(init.extensionDir, 'out', 'wasm')) ? path.join(init.extensionDir, 'out', 'wasm') : undefined;
  chunker = await Chunker.create(wasmDir ? { wasmDir } : undefined);
  const resolveOptions = { offline: settings.offline || undefined, onProgress: onDownload };
  try {
    // A download can take minutes: meanwhile the existing indexes answer, each with its own model.
    if (needsDownload(settings.model, resolveOptions)) await openInterimEngines();
    embedder = await Embedder.load(await resolveModel(settings.model, resolveOptions), { device: settings.device });
  } catch (e) {
    modelProblem = `The model could not be loaded: ${(e as Error).message}. Set "semsearch.model" to a model folder or Hub id.`;
  }
  if (embedder) log(`model ${embedder.info.model} on ${embedder.info.device} (${embedder.info.dtype}), dim ${embedder.info.dim}`);
  // Without a model the folders still open: keyword search answers from their indexes as they are.
  for (const root of roots) await openEngine(root);
  for (const m of interimModels.splice(0)) m.dispose();
  if (modelProblem) return setHealth('error', `${modelProblem} Until then, keyword search answers from the existing index, which is not updated.`);
  const idle = idleHealth();
  // A model switch under way only advances by indexing: it runs whatever indexOnStartup says.
  const engineList = [...engines.values()];
  if (engineList.some((e) => e.indexer) && (settings.indexOnStartup || engineList.some((e) => e.switching))) void reindex({});
  else setHealth(idle.health, idle.message);
}

/** Health and message when no indexing runs: 'ok', or what keeps some folder from being indexed. */
function idleHealth(): { health: Health; message: string } {
  if (modelProblem) return { health: 'error', message: modelProblem };
  const off = [...engines.values()].filter((e) => e.indexingOff).map((e) => `${e.root}: ${e.indexingOff}; search uses the index as it is`);
  const problems = [...openProblems, ...off];
  return problems.length ? { health: openProblems.length ? 'error' : 'warning', message: problems.join('\n') } : { health: 'ok', message: 'ready' };
}

/**
 * Open the existing index of each folder with the model that built it, so that searches answer
 * while the configured model downloads; openEngine() replaces them when it is ready.
 */
async function openInterimEngines(): Promise<void> {
  for (const root of roots) {
    const model = await servingModel(indexDirOf(root) ?? indexDirFor(root));
    const m = model && (await loadModelOf(model).catch(() => null));
    if (!m || !chunker) continue;
    interimModels.push(m);
    const engine = await FolderEngine.open(root, m, chunker, { indexDir: indexDirOf(root), onWarning: (w) => log(`${root}/${w}`) });
    interim.set(root, engine);
    engines.set(root, engine);
    log(`${root}: answering with ${model.id} while ${settings.model} downloads`);
  }
  if (engines.size > 0) markReady();
}

/**
 * The model that built an index, loaded again to embed queries while a switch builds the new
 * index (only from the folder it was loaded from, and only if it is still the same model).
 */
function loadServingModel(model: IndexModel): Promise<OwnedQueryEmbedder | null> {
  return loadModelOf(model);
}

async function loadModelOf(model: IndexModel): Promise<Embedder | null> {
  if (!model.dir || !fs.existsSync(model.dir)) {
    log(`${model.id}: the previous model's folder is gone; until the new index is ready, searches use keywords only`);
    return null;
  }
  const desc = describeModel(model.dir, model.id);
  if (desc.fingerprint !== model.fingerprint) return null;
  return Embedder.load(desc, { device: settings.device });
}

async function openEngine(root: string): Promise<void> {
  if (engines.has(root) && !interim.has(root)) return;
  let engine: FolderEngine;
  try {
    engine = await FolderEngine.open(root, embedder ?? null, embedder ? (chunker ?? null) : null, {
      indexDir: indexDirOf(root),
      walk: { exclude: settings.exclude, maxFileBytes: settings.maxFileSize },
      onProgress: (p) => onProgress(p),
      onWarning: (m) => log(`${root}/${m}`),
      // An update from file events ends like a reindex: the status leaves "indexing".
      onUpdate: () => {
        if (indexing) return sendStatus();
        const idle = idleHealth();
        setHealth(idle.health, idle.message);
      },
      loadServingModel,
      onSwitched: (from, to) => {
        log(`${root}: model switch done (${from.id} → ${to.id}); the new index answers`);
        void sendStatus();
      },
    });
  } catch (e) {
    // One folder whose index cannot be opened leaves the others working.
    openProblems.push(`${root}: cannot open its index: ${(e as Error).message}`);
    log(openProblems[openProblems.length - 1]);
    return;
  }
  const sw = engine.switching;
  if (sw) log(`${root}: switching model ${sw.from.id} → ${sw.to.id}: building ${sw.buildPath}; ${sw.semantic ? 'searches use the previous model' : 'searches use keywords only'} until it is complete`);
  const o = (engine.indexer?.store ?? engine.store).opened;
  if (o.recovered) void connection.window.showWarningMessage(`semsearch: the index of ${root} was damaged (${o.recovered.reason}); it was set aside and is being rebuilt.`);
  if (engine.indexingOff && embedder) void connection.window.showWarningMessage(`semsearch: the index of ${root} cannot be written (${engine.indexingOff}); search uses the index as it is, which is not updated.`);
  engines.set(root, engine);
  const before = interim.get(root);
  interim.delete(root);
  await before?.close();
}

let lastDownloadReport = 0;
/** A Hub model's first use: its download's progress, as a `download` phase of the progress notification. */
function onDownload(p: DownloadProgress): void {
  const now = Date.now();
  if (now - lastDownloadReport < 250 && p.filesDone < p.fileCount) return;
  lastDownloadReport = now;
  const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  const message = `downloading ${p.model}: ${pct}% of ${(p.bytesTotal / 1024 / 1024).toFixed(1)} MB (${p.file})`;
  void connection.sendNotification(ProgressNotification, {
    phase: 'download', filesSeen: 0, filesIndexed: 0, filesSkipped: 0, chunks: 0, chunksEmbedded: 0, chunksPending: 0,
    message, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal,
  });
  setHealth('indexing', message);
}

let lastSync = 0;
function onProgress(p: IndexProgress): void {

  void connection.sendNotification(ProgressNotification, p);
  // Searches during indexing see vectors as they arrive, at most every two seconds.
  if (Date.now() - lastSync > 2000) {
    lastSync = Date.now();
    for (const e of engines.values()) void e.sync();
  }
  const sw = [...engines.values()].map((e) => e.switching).find((s) => s);
  const what = sw ? `switching model to ${sw.to.id} (searches use ${sw.semantic ? sw.from.id : 'keywords'} until done)` : 'indexing';
  if (p.phase !== 'done') setHealth('indexing', `${what}: ${p.filesIndexed} files, ${p.chunksEmbedded}/${p.chunksEmbedded + p.chunksPending} chunks embedded`);
}

function setHealth(h: Health, m: string): void {
  health = h;
  message = m;
  void sendStatus();
}

let statusTimer: NodeJS.Timeout | null = null;
function sendStatus(): void {
  if (statusTimer) return;
  statusTimer = setTimeout(async () => {
    statusTimer = null;
    connection.sendNotification(StatusNotification, await status()).catch(() => undefined);
  }, 250);
}

async function status(): Promise<StatusResult> {
  const folders: FolderStatus[] = [];
  let partial = false;
  for (const [root, e] of engines) {
    const s = await e.stats();
    partial ||= s.partial;
    folders.push({
      root,
      indexPath: e.indexPath,
      files: s.files,
      chunks: s.chunks,
      chunksWithVectors: s.chunksWithVectors,
      skippedByReason: s.skippedByReason,
      lastIndexed: s.lastIndexedAt ? new Date(s.lastIndexedAt).toISOString() : null,
    });
  }
  const model = embedder ? { id: embedder.info.model, device: embedder.info.device, dtype: embedder.info.dtype, dim: embedder.info.dim } : null;
  return { health, message, model, partial, folders };
}

/** Run a refresh of every folder; one at a time (a second request waits for and shares the first). */
function reindex(params: ReindexParams, token?: CancellationToken): Promise<ReindexResult> {
  if (indexing) {
    token?.onCancellationRequested(() => indexing?.ctrl.abort());
    return indexing.done;
  }
  const ctrl = new AbortController();
  token?.onCancellationRequested(() => ctrl.abort());
  const done = (async (): Promise<ReindexResult> => {
    const t0 = Date.now();
    const total: ReindexResult = { files: 0, chunks: 0, skipped: 0, seconds: 0, cancelled: false };
    for (const e of engines.values()) {
      if (!e.indexer) continue; // read-only or no model: idleHealth() says so
      let s: Awaited<ReturnType<FolderEngine['refresh']>>;
      try {
        if (params.full) await e.clear();
        s = await e.refresh(ctrl.signal);
      } catch (err) {
        // Say which index failed (`path: reason`), keeping the code that classifies the failure.
        throw Object.assign(new Error(`${e.indexer.store.file}: ${(err as Error).message}`), { code: (err as { code?: unknown }).code });
      }
      total.files += s.filesSeen - s.filesSkipped;
      total.chunks += s.chunks;
      total.skipped += s.filesSkipped;
      if (s.cancelled) {
        total.cancelled = true;
        break;
      }
    }
    total.seconds = (Date.now() - t0) / 1000;
    return total;
  })();
  indexing = { ctrl, done };
  done
    .then((r) => {
      retryDelayMs = FIRST_RETRY_MS;
      const idle = idleHealth();
      setHealth(idle.health, r.cancelled ? 'indexing cancelled; the index is partial' : idle.message);
    })
    .catch((e: Error) => {
      if (!isStorageFull(e)) return setHealth('error', `indexing failed: ${e.message}`);
      // Nothing is lost (each write is one transaction) and search goes on from what is stored;
      // try again with back-off until space is freed.
      const delay = retryDelayMs;
      retryDelayMs = Math.min(retryDelayMs * 2, MAX_RETRY_MS);
      setHealth('error', `${e.message}. The disk is full: search uses the index as it is; indexing resumes by itself once space is freed (next try in ${Math.round(delay / 1000)} s).`);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        void reindex({}).catch(() => undefined);
      }, delay);
    })
    .finally(() => {
      indexing = null;
    });
  return done;
}

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;
let retryDelayMs = FIRST_RETRY_MS;
let retryTimer: NodeJS.Timeout | null = null;

/** SQLite's "database or disk is full", or the file system's ENOSPC. */
function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || /\b(SQLITE_FULL|ENOSPC)\b/.test((e as Error).message ?? '');
}

/** The folder holding `file`, and the path relative to it; refuses anything outside the folders. */
function locate(file: string): { engine: FolderEngine; relPath: string } {
  let real: string;
  try {
    real = fs.realpathSync(path.resolve(file));
  } catch {
    real = path.resolve(file);
  }
  for (const [root, engine] of engines) {
    const realRoot = fs.existsSync(root) ? fs.realpathSync(root) : root;
    const rel = path.relative(realRoot, real);
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return { engine, relPath: rel.split(path.sep).join('/') };
  }
  throw new ResponseError(ErrorCodes.InvalidParams, `${file}: outside the workspace folders`);
}

function abortOn(token: CancellationToken): AbortSignal {
  const ctrl = new AbortController();
  token.onCancellationRequested(() => ctrl.abort());
  return ctrl.signal;
}

/** Absent (undefined or null), or an integer in [min, max]. */
function optionalInt(v: unknown, min: number, max: number): boolean {
  return v === undefined || v === null || (Number.isInteger(v) && (v as number) >= min && (v as number) <= max);
}

/** Absent (undefined or null), or an array of strings. */
function optionalStrings(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new ResponseError(ErrorCodes.InvalidParams, what);
}

async function guarded<T>(token: CancellationToken, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  await ready;
  const signal = abortOn(token);
  try {
    return await run(signal);
  } catch (e) {
    if (signal.aborted || token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
    if (e instanceof ResponseError) throw e;
    if (e instanceof QueryError) throw new ResponseError(ErrorCodes.InvalidParams, e.message);
    throw new ResponseError(ErrorCodes.InternalError, (e as Error).message);
  }
}

connection.onRequest(SearchRequest, (params: SearchParams, token): Promise<SearchResult> =>
  guarded(token, async (signal) => {
    check(typeof params?.query === 'string', 'query must be a string');
    check(optionalInt(params.top, 1, 1000), 'top must be an integer from 1 to 1000');
    check(params.mode === undefined || params.mode === null || ['hybrid', 'semantic', 'keyword'].includes(params.mode), 'mode must be hybrid, semantic or keyword');
    check(
      optionalStrings(params.languages) && optionalStrings(params.pathGlobs) && optionalStrings(params.excludePathGlobs),
      'languages, pathGlobs and excludePathGlobs must be arrays of strings',
    );
    const t0 = Date.now();
    const top = params.top ?? settings.resultCount;
    const results = await Promise.all(
      [...engines.values()].map((e) =>
        e.search(params.query, {
          mode: params.mode ?? settings.defaultMode,
          top,
          filters: { languages: params.languages, pathGlobs: params.pathGlobs, excludePathGlobs: params.excludePathGlobs },
          fusion: settings.fusion,
          rrfK: settings.rrfK,
          keywordWeight: settings.keywordWeight,
          semanticWeight: settings.semanticWeight,
          signal,
        }),
      ),
    );
    const hits: Hit[] = results.flatMap((r) => r.hits).sort((a, b) => b.score - a.score).slice(0, top);
    const sum = (k: keyof SearchResult['timings']) => results.reduce((n, r) => n + r.timings[k], 0);
    return {
      query: params.query,
      hits,
      partial: results.some((r) => r.partial) || engines.size === 0,
      timings: { embedMs: sum('embedMs'), vectorMs: sum('vectorMs'), keywordMs: sum('keywordMs'), fuseMs: sum('fuseMs'), totalMs: Date.now() - t0 },
    };
  }),
);

connection.onRequest(FindSimilarRequest, (params: FindSimilarParams, token): Promise<FindSimilarResult> =>
  guarded(token, async (signal) => {
    check(typeof params?.file === 'string' && Number.isInteger(params.line) && params.line >= 1, 'file must be a path and line a positive integer');
    check(optionalInt(params.endLine, params.line, Number.MAX_SAFE_INTEGER), 'endLine must be an integer not below line');
    check(optionalInt(params.top, 1, 1000), 'top must be an integer from 1 to 1000');
    check(params.text === undefined || params.text === null || typeof params.text === 'string', 'text must be a string');
    const { engine, relPath } = locate(params.file);
    const r = await engine.similar(relPath, params.line, { top: params.top ?? settings.resultCount, endLine: params.endLine ?? undefined, text: params.text ?? undefined, signal });
    return { source: r.source, hits: r.hits, partial: r.partial };
  }),
);

connection.onRequest(ChunkAtRequest, (params: ChunkAtParams, token): Promise<ChunkAtResult> =>
  guarded(token, async () => {
    check(typeof params?.file === 'string' && Number.isInteger(params.line), 'file must be a path and line an integer');
    let where: { engine: FolderEngine; relPath: string };
    try {
      where = locate(params.file);
    } catch {
      return { chunk: null }; // a hover outside the folders is not an error
    }
    const chunks = await where.engine.chunksOfFile(where.relPath);
    const c = chunks
      .filter((x) => x.startLine <= params.line && params.line <= x.endLine && x.kind !== 'window' && x.kind !== 'section')
      .sort((a, b) => a.endLine - a.startLine - (b.endLine - b.startLine))[0];
    return { chunk: c ? { path: c.path, startLine: c.startLine, endLine: c.endLine, symbol: c.symbol, kind: c.kind } : null };
  }),
);

connection.onRequest(ReindexRequest, async (params: ReindexParams, token): Promise<ReindexResult> => {
  const full = (params as { full?: unknown } | null | undefined)?.full;
  check(full === undefined || full === null || typeof full === 'boolean', 'full must be a boolean');
  await ready;
  if (modelProblem) throw new ResponseError(ErrorCodes.InternalError, modelProblem);
  if (![...engines.values()].some((e) => e.indexer)) throw new ResponseError(ErrorCodes.InternalError, idleHealth().message || 'no workspace folder to index');
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  return reindex(params ?? {}, token);
});

connection.onRequest(StatusRequest, async () => status());

connection.onDidChangeWatchedFiles((params: DidChangeWatchedFilesParams) => {
  const byRoot = new Map<FolderEngine, string[]>();
  for (const change of params.changes) {
    let file: string;
    try {
      file = fileURLToPath(change.uri);
    } catch {
      continue;
    }
    // Created, changed and deleted alike: the indexer looks at the disk to see which it was.
    for (const [root, engine] of engines) {
      const rel = path.relative(root, file);
      if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) continue;
      byRoot.set(engine, [...(byRoot.get(engine) ?? []), rel.split(path.sep).join('/')]);
    }
  }
  for (const [engine, paths] of byRoot) engine.indexer?.scheduleUpdate(paths);
});

connection.onDidChangeConfiguration(async () => {
  // Search settings apply at once; the model and device are read at start (the client offers a
  // restart when they change).
  settings = await readSettings();
});

connection.onShutdown(async () => {
  if (retryTimer) clearTimeout(retryTimer);
  indexing?.ctrl.abort();
  for (const e of engines.values()) await e.close().catch(() => undefined);
  for (const m of interimModels) m.dispose();
  chunker?.dispose();
  embedder?.dispose();
});

connection.listen();
