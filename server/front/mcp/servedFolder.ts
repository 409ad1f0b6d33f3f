/**
 * One folder's engine behind the MCP tools: start-up (the model loads and the index opens in the
 * background), builds (through the engine's build queue: a reindex joins a running build, a full
 * one restarts a running update as a rebuild), the watch, the status and the coverage note that
 * tells an agent when results may be incomplete, and shutdown.
 *
 * The server holds every build it starts until it ends: an agent that stops waiting for a reindex
 * (its request cancelled) leaves the build running, to be followed with index_status.
 *
 * The index is read only inside the engine's lease (engine.use, search, stats, sync): a model
 * switch that completes closes the old store once the reads on it have finished.
 */
import { relativeInsideReal } from '../../common/paths';
import { addPass, BuildQueue, BuildRun, Built, openStandalone, StandaloneEngine } from '../../engine';
import { RefreshSummary, watchRoot, Watch } from '../../index/refresh';
import { indexPathFor } from '../../index/store';
import type { IndexProgress, Tiers } from '../../protocol';
import type { StatusJson } from './schemas';
import { progressText, summaryText } from './text';

/** Log to stderr (stdout carries the protocol). */
export function log(message: string): void {
  process.stderr.write(`semsearch mcp: ${message}\n`);
}

export interface ServeOptions {
  root: string;
  indexDir?: string;
  model?: string;
  offline?: boolean;
  device: 'auto' | 'cpu' | 'gpu';
  /** `static`: the transformer never loads (search uses keywords and the static tier). */
  tiers: Tiers;
  exclude: string[];
  watch: boolean;
}

/** One folder's engine behind the tools: start-up, background builds, the watch, shutdown. */
export class ServedFolder {
  readonly indexPath: string;
  private opened: StandaloneEngine | undefined;
  private openError: string | undefined;
  private opening: Promise<void> | undefined;
  private builds: BuildQueue<RefreshSummary> | null = null;
  private progress: IndexProgress | null = null;
  private readonly progressListeners = new Set<(p: IndexProgress) => void>();
  private buildError: string | undefined;
  private watch: Watch | null = null;
  private watchError: string | undefined;
  private lastSync = 0;
  private closed = false;

  constructor(private readonly options: ServeOptions) {
    this.indexPath = indexPathFor(options.root, options.indexDir);
  }

  get root(): string {
    return this.options.root;
  }

  /** Load the model and open the index, then start a build and the watch (not awaited by callers of tools). */
  start(): Promise<void> {
    this.opening ??= this.open();
    return this.opening;
  }

  private async open(): Promise<void> {
    const t0 = Date.now();
    try {
      this.opened = await openStandalone(this.root, {
        model: this.options.model,
        offline: this.options.offline,
        device: this.options.device,
        tiers: this.options.tiers,
        indexDir: this.options.indexDir,
        walk: { exclude: this.options.exclude },
        onProgress: (p) => this.onProgress(p),
        onWarning: (m) => log(`${this.root}/${m}`),
      });
    } catch (e) {
      this.openError = `cannot start: ${(e as Error).message}`;
      log(this.openError);
      return;
    }
    if (this.closed) return;
    const { engine, embedder, staticEmbedder } = this.opened;
    const o = engine.store.opened;
    const transformer = embedder ? `model ${embedder.info.model} on ${embedder.info.device} (${embedder.info.dtype})` : 'no transformer (--tier static)';
    log(`${transformer} and static model ${staticEmbedder.info.model}, loaded in ${Date.now() - t0} ms; index ${this.indexPath}`);
    if (o.recovered) log(`${this.indexPath}: the index was damaged (${o.recovered.reason}); moved to ${o.recovered.movedTo}, rebuilding`);
    if (o.modelChanged) log(`${this.indexPath}: model changed (${o.modelChanged.from} → ${o.modelChanged.to}); every chunk is embedded again`);
    this.builds = new BuildQueue(this.indexPath, (b) => this.build(b));
    void this.startBuild(false);
    if (this.options.watch && engine.indexer) {
      try {
        this.watch = watchRoot(engine.indexer, (e) => {
          this.watchError = e.message;
          log(`${this.root}: watching stopped: ${e.message}; use the reindex tool after changes`);
          this.watch?.close();
          this.watch = null;
        });
      } catch (e) {
        this.watchError = (e as Error).message;
        log(`${this.root}: cannot watch for changes: ${this.watchError}; use the reindex tool after changes`);
      }
    }
  }

  /** The open engine; throws the reason when the model could not be loaded. */
  async engine(): Promise<StandaloneEngine> {
    await this.start();
    if (!this.opened) throw new Error(`${this.root}: ${this.openError ?? 'not open'}`);
    return this.opened;
  }

  get indexing(): boolean {
    return this.builds !== null && this.builds.running !== null;
  }

  private onProgress(p: IndexProgress): void {
    const phaseChanged = p.phase !== this.progress?.phase;
    this.progress = p;
    if (phaseChanged && this.indexing) log(`indexing: ${progressText(p)}`);
    for (const l of this.progressListeners) l(p);
    // Searches during a build see vectors as they arrive, at most every two seconds.
    if (Date.now() - this.lastSync > 2000) {
      this.lastSync = Date.now();
      void this.opened?.engine.sync().catch((e: Error) => log(`${this.indexPath}: ${e.message}`));
    }
  }

  /** Follow the progress of builds until the returned function is called. */
  onBuildProgress(listener: (p: IndexProgress) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /**
   * Start a build (or join the one running): reconcile the index with the disk, or with `full`
   * drop everything, vectors included, and embed again (a running reconcile is restarted as a
   * rebuild). `signal` cancels the wait only: the build goes on.
   */
  async reindex(full: boolean, signal?: AbortSignal): Promise<Built<RefreshSummary>> {
    await this.engine();
    const held = this.startBuild(full);
    if (!signal) return held;
    return this.builds!.request({ full, signal });
  }

  /** Ask for a build now, held by the server until it ends (from here on, `indexing` is true until then). */
  private startBuild(full: boolean): Promise<Built<RefreshSummary>> {
    const held = this.builds!.request({ full });
    held.catch(() => undefined); // its failure is logged by build()
    return held;
  }

  /** One build: the static tier first, then the transformer tier. */
  private async build({ full, signal }: BuildRun): Promise<RefreshSummary> {
    const { engine } = this.opened!;
    const t0 = Date.now();
    log(full ? 'rebuilding the index from scratch' : `indexing ${this.root}`);
    this.buildError = undefined;
    try {
      // As the editor's Rebuild: files and chunks go, vectors stay (keyed by content, so unchanged text is not embedded again).
      if (full) await engine.clear();
      // The static tier first, on its own (seconds), so that searches rank semantically while the transformer tier fills in.
      let s = await engine.refresh(signal, { transformer: false });
      if (!s.cancelled && this.opened?.embedder) s = addPass(s, await engine.refresh(signal));
      log(`${s.cancelled ? 'indexing cancelled' : 'indexed'}: ${summaryText(s)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return s;
    } catch (e) {
      this.buildError = (e as Error).message;
      log(`indexing failed: ${this.buildError}`);
      throw e;
    } finally {
      this.progress = null;
    }
  }

  async status(): Promise<StatusJson> {
    const base = { root: this.root, indexPath: this.indexPath, watching: this.watch !== null };
    if (!this.opened) {
      const loading = !this.openError;
      return {
        ...base,
        state: loading ? 'loading' : 'error',
        message: loading ? 'the model is loading' : this.openError!,
        model: null,
        files: 0,
        chunks: 0,
        chunksWithVectors: 0,
        skippedByReason: {},
        lastIndexed: null,
        progress: null,
      };
    }
    const { engine, embedder } = this.opened;
    const s = await engine.stats();
    const p = this.progress;
    let state: StatusJson['state'];
    let message: string;
    if (this.indexing) {
      state = 'indexing';
      message = p ? `indexing: ${progressText(p)}` : 'indexing';
    } else if (this.buildError) {
      state = 'error';
      message = `the last indexing failed: ${this.buildError}`;
    } else if (s.partial) {
      state = 'partial';
      message = `${s.chunks - s.chunksWithVectors} of ${s.chunks} chunks have no vector${s.complete ? '' : '; the last build did not finish'} (run reindex)`;
    } else {
      state = 'ready';
      message = 'the index is complete';
    }
    if (this.watchError) message += `; not watching for changes: ${this.watchError}`;
    return {
      ...base,
      state,
      message,
      model: embedder ? { id: embedder.info.model, device: embedder.info.device, dtype: embedder.info.dtype, dim: embedder.info.dim } : null,
      files: s.files,
      chunks: s.chunks,
      chunksWithVectors: s.chunksWithVectors,
      skippedByReason: s.skippedByReason,
      lastIndexed: s.lastIndexedAt ? new Date(s.lastIndexedAt).toISOString() : null,
      progress:
        this.indexing && p
          ? {
              phase: p.phase,
              filesSeen: p.filesSeen,
              filesIndexed: p.filesIndexed,
              chunks: p.chunks,
              chunksEmbedded: p.chunksEmbedded,
              chunksPending: p.chunksPending,
            }
          : null,
    };
  }

  /** Whether results cover the whole folder, and if not, a note saying why and what to do. */
  async coverage(): Promise<{ partial: boolean; indexing: boolean; note?: string }> {
    if (this.indexing) {
      const p = this.progress;
      return {
        partial: true,
        indexing: true,
        note:
          `The index is still being built${p ? ` (${progressText(p)})` : ''}: keyword matches cover only the files read so far and ` +
          'semantic matches only the chunks embedded so far, so relevant code may be missing. Call index_status and search again once it reports "ready".',
      };
    }
    const s = await this.opened!.engine.stats();
    if (!s.partial) return { partial: false, indexing: false };
    const missing = s.chunks - s.chunksWithVectors;
    return {
      partial: true,
      indexing: false,
      note:
        (missing > 0
          ? `${missing} of ${s.chunks} chunks have no vector, so semantic matches miss them`
          : 'The last build did not finish, so files may be missing') +
        `${this.buildError ? ` (indexing failed: ${this.buildError})` : ''}. Call reindex to complete the index.`,
    };
  }

  /** Make the searcher see vectors embedded since its last sync (during a build). */
  async freshen(): Promise<void> {
    if (this.indexing && this.opened) {
      this.lastSync = Date.now();
      await this.opened.engine.sync();
    }
  }

  /** Resolve a path relative to the folder (or absolute inside it) to the index's relative form. */
  relativePath(p: string): string {
    // The folder or the file may be reached through a symbolic link.
    const rel = relativeInsideReal(this.root, p);
    if (!rel) throw new Error(`${p}: outside the served folder ${this.root}`);
    return rel;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.builds?.cancelBuild();
    await this.opening?.catch(() => undefined);
    this.watch?.close();
    await this.builds?.cancelBuild(); // a build that start() began meanwhile
    await this.opened?.close().catch((e: Error) => log(`closing the index: ${e.message}`));
  }
}
