/**
 * The sidecar's state and its one owner: the Sidecar object holds the settings, the models (the
 * static one and the transformer), the chunker, one FolderEngine per workspace folder, the health
 * shown in the editor and the indexing job. The connection (main.ts) and the request handlers
 * (requests.ts) act on it; nothing else changes it.
 *
 * Tiers. Every indexing job runs in two passes over the folders: first files, keywords and the
 * static tier (seconds; semantic search works from then on), then the transformer tier (minutes
 * to hours on a CPU). With `semsearch.tiers: static`, or when the transformer cannot be loaded,
 * only the first pass runs and search ranks with keywords and the static tier.
 *
 * Builds. Each folder's builds go through its engine's build queue (engine/buildQueue.ts): the
 * start-up index, the disk-full retry and the editor's Reindex and Rebuild all ask it, so a
 * Reindex during a build joins it and a Rebuild restarts it as a rebuild. A job awaits the queues
 * of all folders; the steps of their builds take turns in one lane (see inLane), so that the
 * first pass is done for every folder before the second begins, as if the folders ran in a row.
 * The editor's Cancel (the reindex request cancelled) stops the builds for everyone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addPass, BuildCancelled, BuildQueue, BuildRun, Built, FolderEngine, IndexModel, OwnedQueryEmbedder, servingModel } from '../../engine';
import { Chunker } from '../../index/chunk';
import type { RefreshSummary } from '../../index/refresh';
import { indexDirFor } from '../../index/store';
import { Embedder } from '../../model/embedder';
import { describeModel } from '../../model/folder';
import type { DownloadProgress } from '../../model/hub';
import { needsDownload, resolveModel } from '../../model/locate';
import { StaticEmbedder } from '../../model/static';
import { DEFAULT_SETTINGS, FolderStatus, Health, IndexProgress, ReindexParams, ReindexResult, Settings, StatusResult } from '../../protocol';
import { tiersText } from './tiersText';

/** Options the extension passes in `initialize`. */
export interface InitOptions {
  /** Where indexes live (the extension's workspace storage). */
  storageDir?: string;
  /** The installed extension's folder (holds wasm/ in a package). */
  extensionDir?: string;
}

/** How the sidecar talks back to the editor (the connection, or a test's stand-in). */
export interface SidecarClient {
  log(message: string): void;
  warn(message: string): void;
  sendStatus(status: StatusResult): void;
  sendProgress(progress: IndexProgress): void;
  readSettings(): Promise<Settings>;
}

/** A cancellation the handlers pass in (vscode-languageserver's CancellationToken fits). */
export interface Cancellation {
  onCancellationRequested(listener: () => void): unknown;
}

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;

/** SQLite's "database or disk is full", or the file system's ENOSPC. */
function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || /\b(SQLITE_FULL|ENOSPC)\b/.test((e as Error).message ?? '');
}

export class Sidecar {
  roots: string[] = [];
  init: InitOptions = {};
  settings: Settings = { ...DEFAULT_SETTINGS };
  embedder: Embedder | null = null;
  /** The static tier's model (null if it could not be loaded: then the transformer and keywords answer alone). */
  staticEmbedder: StaticEmbedder | null = null;
  private chunker: Chunker | null = null;
  readonly engines = new Map<string, FolderEngine>();
  private health: Health = 'indexing';
  private message = 'starting';
  /** Each folder's build queue (engines that can index only). */
  private readonly queues = new Map<FolderEngine, BuildQueue<RefreshSummary>>();
  /** The turn of the next build step, across folders (see inLane). */
  private lane: Promise<unknown> = Promise.resolve();
  /** Indexing jobs (reindex calls) not yet ended. */
  private jobs = 0;
  /**
   * Settles when the engines can answer: after start-up (model load, engines open), or earlier, as
   * soon as the existing indexes are open, when the model must be downloaded first.
   */
  ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => undefined;
  /** Engines over the existing indexes, with the models that built them, while the configured model downloads. */
  private readonly interim = new Map<string, FolderEngine>();
  private interimModels: Embedder[] = [];
  /** Why the model could not be loaded, with the fix; null once it is loaded. */
  modelProblem: string | null = null;
  /** Why the static model could not be loaded; null when it is. */
  private staticProblem: string | null = null;
  /** Folders whose index could not be opened at all: `root: reason`. */
  private readonly openProblems: string[] = [];
  private retryDelayMs = FIRST_RETRY_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private lastDownloadReport = 0;
  private lastSync = 0;

  constructor(private readonly client: SidecarClient) {}

  // --- start-up --------------------------------------------------------------------------------

  /** Begin start-up (after `initialized`): `ready` settles when the engines can answer. */
  begin(): void {
    this.ready = new Promise<void>((resolve) => (this.markReady = resolve));
    this.start()
      .catch((e: Error) => this.setHealth('error', e.message))
      .finally(() => this.markReady());
  }

  /** The index folder of `root` in the extension's storage; without one, the per-user cache. */
  private indexDirOf(root: string): string | undefined {
    return this.init.storageDir ? indexDirFor(root, this.init.storageDir) : undefined;
  }

  private async start(): Promise<void> {
    this.settings = await this.client.readSettings();
    this.setHealth('indexing', 'loading the model');
    const ext = this.init.extensionDir;
    const wasmDir = ext && fs.existsSync(path.join(ext, 'out', 'wasm')) ? path.join(ext, 'out', 'wasm') : undefined;
    this.chunker = await Chunker.create(wasmDir ? { wasmDir } : undefined);
    this.loadStaticModel();
    if (this.settings.tiers === 'static') return this.startEngines();
    const resolveOptions = { offline: this.settings.offline || undefined, onProgress: (p: DownloadProgress) => this.onDownload(p) };
    try {
      // A download can take minutes: meanwhile the existing indexes answer, each with its own model.
      if (needsDownload(this.settings.model, resolveOptions)) await this.openInterimEngines();
      this.embedder = await Embedder.load(await resolveModel(this.settings.model, resolveOptions), {
        device: this.settings.device,
        threads: this.settings.embedThreads,
      });
    } catch (e) {
      this.modelProblem = `The model could not be loaded: ${(e as Error).message}. Set "semsearch.model" to a model folder or Hub id.`;
    }
    const info = this.embedder?.info;
    if (info) this.client.log(`model ${info.model} on ${info.device} (${info.dtype}), dim ${info.dim}`);
    await this.startEngines();
  }

  /** The static model (shipped in models/static/); a failure leaves the transformer tier and keywords. */
  private loadStaticModel(): void {
    try {
      this.staticEmbedder = StaticEmbedder.loadDefault();
      this.client.log(`static model ${this.staticEmbedder.info.model}, dim ${this.staticEmbedder.info.dim} (tokenizer: ${this.staticEmbedder.info.tokenizer})`);
    } catch (e) {
      this.staticProblem = `the static model could not be loaded: ${(e as Error).message}`;
      this.client.log(this.staticProblem);
    }
  }

  /** Open every folder's engine with the models loaded, then index (or say why not). */
  private async startEngines(): Promise<void> {
    // Without a model the folders still open: keyword search answers from their indexes as they are.
    for (const root of this.roots) await this.openEngine(root);
    for (const m of this.interimModels.splice(0)) m.dispose();
    if (this.modelProblem && !this.staticEmbedder)
      return this.setHealth('error', `${this.modelProblem} Until then, keyword search answers from the existing index, which is not updated.`);
    const idle = this.idleHealth();
    // A model switch under way only advances by indexing: it runs whatever indexOnStartup says.
    const engineList = [...this.engines.values()];
    if (engineList.some((e) => e.indexer) && (this.settings.indexOnStartup || engineList.some((e) => e.switching))) void this.reindex({});
    else this.setHealth(idle.health, idle.message);
  }

  /**
   * Open the existing index of each folder with the model that built it, so that searches answer
   * while the configured model downloads; openEngine() replaces them when it is ready.
   */
  private async openInterimEngines(): Promise<void> {
    for (const root of this.roots) {
      const model = await servingModel(this.indexDirOf(root) ?? indexDirFor(root));
      const m = model && (await this.loadModelOf(model).catch(() => null));
      if (!m || !this.chunker) continue;
      this.interimModels.push(m);
      const engine = await FolderEngine.open(root, m, this.chunker, {
        indexDir: this.indexDirOf(root),
        staticEmbedder: this.staticEmbedder,
        onWarning: (w) => this.client.log(`${root}/${w}`),
      });
      this.interim.set(root, engine);
      this.engines.set(root, engine);
      this.client.log(`${root}: answering with ${model.id} while ${this.settings.model} downloads`);
    }
    if (this.engines.size > 0) this.markReady();
  }

  /**
   * The model that built an index, loaded again to embed queries while a switch builds the new
   * index (only from the folder it was loaded from, and only if it is still the same model).
   */
  private async loadModelOf(model: IndexModel): Promise<Embedder | null> {
    if (!model.dir || !fs.existsSync(model.dir)) {
      this.client.log(`${model.id}: the previous model's folder is gone; until the new index is ready, searches use keywords only`);
      return null;
    }
    const desc = describeModel(model.dir, model.id);
    if (desc.fingerprint !== model.fingerprint) return null;
    return Embedder.load(desc, { device: this.settings.device });
  }

  private async openEngine(root: string): Promise<void> {
    if (this.engines.has(root) && !this.interim.has(root)) return;
    let engine: FolderEngine;
    try {
      const canIndex = this.embedder !== null || this.staticEmbedder !== null;
      engine = await FolderEngine.open(root, this.embedder, canIndex ? this.chunker : null, {
        indexDir: this.indexDirOf(root),
        staticEmbedder: this.staticEmbedder,
        ...(this.staticEmbedder ? { sizer: this.staticEmbedder.sizer() } : {}),
        // Queries on a worker of their own (same weights), so they never wait behind the indexer's batches.
        ...(this.embedder ? { queryEmbedder: this.embedder.forQueries() } : {}),
        walk: { exclude: this.settings.exclude, maxFileBytes: this.settings.maxFileSize },
        onProgress: (p) => this.onProgress(p),
        onWarning: (m) => this.client.log(`${root}/${m}`),
        // An update from file events ends like a reindex: the status leaves "indexing".
        onUpdate: () => {
          if (this.jobs > 0) return this.sendStatus();
          const idle = this.idleHealth();
          this.setHealth(idle.health, idle.message);
        },
        loadServingModel: (model): Promise<OwnedQueryEmbedder | null> => this.loadModelOf(model),
        onSwitched: (from, to) => {
          this.client.log(`${root}: model switch done (${from.id} → ${to.id}); the new index answers`);
          this.sendStatus();
        },
      });
    } catch (e) {
      // One folder whose index cannot be opened leaves the others working.
      this.openProblems.push(`${root}: cannot open its index: ${(e as Error).message}`);
      this.client.log(this.openProblems[this.openProblems.length - 1]);
      return;
    }
    this.announceOpened(root, engine);
    this.engines.set(root, engine);
    const before = this.interim.get(root);
    this.interim.delete(root);
    await before?.close();
  }

  /** Say what opening found: a switch under way, a damaged index set aside, an index that cannot be written. */
  private announceOpened(root: string, engine: FolderEngine): void {
    const sw = engine.switching;
    if (sw) {
      this.client.log(
        `${root}: switching model ${sw.from.id} → ${sw.to.id}: building ${sw.buildPath}; ${sw.semantic ? 'searches use the previous model' : 'searches use keywords only'} until it is complete`,
      );
    }
    const o = (engine.indexer?.store ?? engine.store).opened;
    if (o.recovered) this.client.warn(`semsearch: the index of ${root} was damaged (${o.recovered.reason}); it was set aside and is being rebuilt.`);
    if (engine.indexingOff && (this.embedder || this.staticEmbedder))
      this.client.warn(`semsearch: the index of ${root} cannot be written (${engine.indexingOff}); search uses the index as it is, which is not updated.`);
  }

  // --- health and progress ---------------------------------------------------------------------

  /** Health and message when no indexing runs: 'ok', or what keeps some folder from being indexed. */
  idleHealth(): { health: Health; message: string } {
    if (this.modelProblem && !this.staticEmbedder) return { health: 'error', message: this.modelProblem };
    const off = [...this.engines.values()].filter((e) => e.indexingOff).map((e) => `${e.root}: ${e.indexingOff}; search uses the index as it is`);
    const problems = [...this.openProblems, ...off];
    // The transformer failed but the static tier works: semantic search goes on, with the reason shown.
    if (this.modelProblem) problems.push(`${this.modelProblem} Semantic search uses the fast (static) tier meanwhile.`);
    if (this.staticProblem) problems.push(`${this.staticProblem}; search uses keywords and the transformer tier.`);
    return problems.length ? { health: this.openProblems.length ? 'error' : 'warning', message: problems.join('\n') } : { health: 'ok', message: 'ready' };
  }

  /** A Hub model's first use: its download's progress, as a `download` phase of the progress notification. */
  private onDownload(p: DownloadProgress): void {
    const now = Date.now();
    if (now - this.lastDownloadReport < 250 && p.filesDone < p.fileCount) return;
    this.lastDownloadReport = now;
    const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
    const message = `downloading ${p.model}: ${pct}% of ${(p.bytesTotal / 1024 / 1024).toFixed(1)} MB (${p.file})`;
    this.client.sendProgress({
      phase: 'download',
      filesSeen: 0,
      filesIndexed: 0,
      filesSkipped: 0,
      chunks: 0,
      chunksEmbedded: 0,
      chunksPending: 0,
      message,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
    });
    this.setHealth('indexing', message);
  }

  private onProgress(p: IndexProgress): void {
    this.client.sendProgress(p);
    // Searches during indexing see vectors as they arrive, at most every two seconds.
    if (Date.now() - this.lastSync > 2000) {
      this.lastSync = Date.now();
      for (const e of this.engines.values()) void e.sync();
    }
    const sw = [...this.engines.values()].map((e) => e.switching).find((s) => s);
    const what = sw ? `switching model to ${sw.to.id} (searches use ${sw.semantic ? sw.from.id : 'keywords and the fast tier'} until done)` : 'indexing';
    if (p.phase !== 'done') this.setHealth('indexing', `${what}: ${tiersText(p)}`);
  }

  private setHealth(h: Health, m: string): void {
    this.health = h;
    this.message = m;
    this.sendStatus();
  }

  /** Send the status to the editor, at most every 250 ms. */
  private sendStatus(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(async () => {
      this.statusTimer = null;
      try {
        this.client.sendStatus(await this.status());
      } catch {
        /* shutting down */
      }
    }, 250);
  }

  async status(): Promise<StatusResult> {
    const folders: FolderStatus[] = [];
    let partial = false;
    for (const [root, e] of this.engines) {
      const s = await e.stats();
      partial ||= s.partial;
      folders.push({
        root,
        indexPath: e.indexPath,
        files: s.files,
        chunks: s.chunks,
        chunksWithVectors: s.chunksWithVectors,
        chunksWithStatic: s.staticTier ? s.staticTier.chunksDone : null,
        skippedByReason: s.skippedByReason,
        lastIndexed: s.lastIndexedAt ? new Date(s.lastIndexedAt).toISOString() : null,
      });
    }
    const info = this.embedder?.info;
    const model = info ? { id: info.model, device: info.device, dtype: info.dtype, dim: info.dim } : null;
    const st = this.staticEmbedder?.info;
    const staticModel = st ? { id: st.model, dim: st.dim } : null;
    return { health: this.health, message: this.message, model, staticModel, tiers: this.settings.tiers, partial, folders };
  }

  // --- indexing --------------------------------------------------------------------------------

  /** True when some folder has an indexer (a model is loaded and its index can be written). */
  get canIndex(): boolean {
    return [...this.engines.values()].some((e) => e.indexer);
  }

  /** Stop the disk-full retry; a reindex asked for now replaces it. */
  cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /**
   * Build every folder through its queue (a request during a build joins it; `full` restarts a
   * reconcile as a rebuild) and add their summaries up. A cancelled request (the editor's Cancel)
   * stops the builds for every caller.
   */
  reindex(params: ReindexParams, token?: Cancellation): Promise<ReindexResult> {
    token?.onCancellationRequested(() => void this.cancelBuild());
    const t0 = Date.now();
    const engines = [...this.engines.values()].filter((e) => e.indexer); // read-only or no model: idleHealth() says so
    const full = params.full === true;
    this.jobs++;
    const done = Promise.all(engines.map((e) => this.queueOf(e).request({ full }).catch(stoppedBeforeStart))).then((built) => totalOf(built, t0));
    done
      .then((r) => {
        this.retryDelayMs = FIRST_RETRY_MS;
        if (this.jobs > 1) return;
        const idle = this.idleHealth();
        this.setHealth(idle.health, r.cancelled ? 'indexing cancelled; the index is partial' : idle.message);
      })
      .catch((e: Error) => this.indexingFailed(e))
      .finally(() => {
        this.jobs--;
        if (this.jobs > 0) this.sendStatus();
      });
    return done;
  }

  /** Stop every folder's build, for every caller (the editor's Cancel); resolves once they have ended. */
  async cancelBuild(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.cancelBuild()));
  }

  private queueOf(e: FolderEngine): BuildQueue<RefreshSummary> {
    let q = this.queues.get(e);
    if (!q) this.queues.set(e, (q = new BuildQueue(e.indexer?.store.file ?? e.indexPath, (b) => this.buildFolder(e, b))));
    return q;
  }

  /** One folder's build: with `full`, clear it first; pass 1, files, keywords and the static tier; pass 2, the transformer tier. */
  private async buildFolder(e: FolderEngine, { full, signal }: BuildRun): Promise<RefreshSummary> {
    const t0 = Date.now();
    if (full) await this.inLane(() => this.refreshOne(e, signal, 'clear'));
    const passes: ('fast' | 'full')[] = this.staticEmbedder && this.embedder ? ['fast', 'full'] : ['full'];
    let s: RefreshSummary | undefined;
    for (const pass of passes) {
      const done = await this.inLane(() => this.refreshOne(e, signal, pass));
      s = s ? addPass(s, done) : done;
      if (s.cancelled) break;
      if (pass === 'fast') this.client.log(`${e.root}: fast tier ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; the transformer tier fills in`);
    }
    return s!;
  }

  /**
   * Run one step of a build when the steps asked for before it have run. The builds of a job all
   * ask for their first step at once, and each asks for its next when its last is done: so every
   * folder's first pass runs before any folder's second, one folder at a time.
   */
  private inLane<T>(step: () => Promise<T>): Promise<T> {
    const turn = this.lane.then(step);
    this.lane = turn.catch(() => undefined);
    return turn;
  }

  /** One folder's step of a job; a failure says which index failed (`path: reason`), keeping the code that classifies it. */
  private async refreshOne(e: FolderEngine, signal: AbortSignal, step: 'clear'): Promise<void>;
  private async refreshOne(e: FolderEngine, signal: AbortSignal, step: 'fast' | 'full'): Promise<Awaited<ReturnType<FolderEngine['refresh']>>>;
  private async refreshOne(e: FolderEngine, signal: AbortSignal, step: 'clear' | 'fast' | 'full') {
    try {
      if (step === 'clear') return await e.clear();
      return await e.refresh(signal, { transformer: step === 'full' });
    } catch (err) {
      throw Object.assign(new Error(`${e.indexer?.store.file ?? e.indexPath}: ${(err as Error).message}`), { code: (err as { code?: unknown }).code });
    }
  }

  private indexingFailed(e: Error): void {
    if (!isStorageFull(e)) return this.setHealth('error', `indexing failed: ${e.message}`);
    // Nothing is lost (each write is one transaction) and search goes on from what is stored;
    // try again with back-off until space is freed.
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
    this.setHealth(
      'error',
      `${e.message}. The disk is full: search uses the index as it is; indexing resumes by itself once space is freed (next try in ${Math.round(delay / 1000)} s).`,
    );
    this.cancelRetry(); // jobs that shared the failed build each report it
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.reindex({}).catch(() => undefined);
    }, delay);
  }

  /** Hand file events to the indexers of the folders they belong to. */
  fileEvents(byEngine: Map<FolderEngine, string[]>): void {
    for (const [engine, paths] of byEngine) engine.indexer?.scheduleUpdate(paths);
  }

  /** Search settings apply at once; the model and device are read at start (the client offers a restart). */
  async settingsChanged(): Promise<void> {
    this.settings = await this.client.readSettings();
  }

  async shutdown(): Promise<void> {
    this.cancelRetry();
    await this.cancelBuild();
    for (const e of this.engines.values()) await e.close().catch(() => undefined);
    for (const m of this.interimModels) m.dispose();
    this.chunker?.dispose();
    this.embedder?.dispose();
    this.staticEmbedder = null; // plain typed arrays and a tokenizer: nothing to dispose of
  }
}

/** A folder whose build was stopped before it started (BuildCancelled) adds nothing to the job: null. */
function stoppedBeforeStart(e: unknown): null {
  if (e instanceof BuildCancelled) return null;
  throw e;
}

/** A job's result: the folders' summaries added up (a folder stopped before its build started counts as cancelled). */
function totalOf(built: (Built<RefreshSummary> | null)[], t0: number): ReindexResult {
  const total: ReindexResult = { files: 0, chunks: 0, skipped: 0, seconds: (Date.now() - t0) / 1000, cancelled: false, rebuilt: built.length > 0 };
  for (const s of built) {
    total.cancelled ||= !s || s.cancelled;
    total.rebuilt &&= s?.rebuilt === true;
    if (!s) continue;
    total.files += s.filesSeen - s.filesSkipped;
    total.chunks += s.chunks;
    total.skipped += s.filesSkipped;
  }
  return total;
}
