/**
 * One workspace folder's engine: its store, indexer and searcher over a shared model and chunker.
 * The CLI and the sidecar both build on this, so the two never drift apart.
 *
 * Model switches. An index answers queries only with the model that built it. When the engine is
 * opened with a model other than the one of the serving index (index/store/location.ts servingIndexFile), it
 * switches, in four steps:
 * 1. The serving index stays open as it is and keeps answering: queries are embedded by the model
 *    that built it (`loadServingModel`; without it, or when that model is gone, keyword search
 *    still answers and semantic ranking is left out). It is not updated during the switch.
 * 2. The indexer builds a second index, `index-<new fingerprint>.sqlite` beside it, with the new
 *    model (same pipeline, same progress reports); file events go to it.
 * 3. When a refresh of the new index ends complete (every file chunked, every chunk embedded), a
 *    searcher over it loads its vectors, `index.current` is pointed at it (atomically: a restart
 *    from now on serves it), and queries move to it in one step: a query runs entirely on one
 *    index, with that index's model, so results never mix models.
 * 4. The old index is closed once the queries running on it have finished, and deleted.
 * A restart during the switch (sidecar or CLI) reopens both and resumes step 2 where it stopped:
 * the new index keeps every vector it already has. Going back to the old model before step 3
 * leaves the unfinished index on disk, and a later switch to that model resumes it.
 *
 * Tiers. The static model (EngineOptions.staticEmbedder) gives every chunk a vector as it is
 * written; the transformer (the `embedder`) fills its tier in behind. Without a transformer (the
 * `static` tiers setting, or a transformer that failed to load) the engine indexes and searches
 * with the static tier and keywords; model switches concern the transformer only.
 *
 * Without any model the engine answers keyword searches from the index as it is; with a
 * read-only index folder, every search from the index as it is. Neither has an indexer:
 * `indexingOff` says why.
 */
import * as path from 'node:path';
import type { Chunker } from '../index/chunk';
import { ChunkSizer, Indexer, IndexerOptions, openStore, RefreshSummary, StaticEmbedderLike } from '../index/refresh';
import {
  buildIndexFile,
  indexDirFor,
  removeIndexFile,
  servingIndexFile,
  setServingIndexFile,
  Store,
  StoredChunk,
  StoreError,
  StoreStats,
} from '../index/store';
import type { WalkOptions } from '../index/walk';
import { QueryEmbedder, SearchOptions, SearchOutcome, Searcher, SimilarOutcome, StaticQueryEmbedder } from '../search';
import { folderReadOnly, IndexModel, modelOf, removeSupersededIndex } from './indexFiles';

export type { IndexModel } from './indexFiles';

/** A query embedder the engine owns (and disposes of when its index is retired). */
export type OwnedQueryEmbedder = QueryEmbedder & { readonly info: QueryEmbedder['info'] & { fingerprint: string }; dispose(): void };

/** What the engine needs of the static model (model/static.ts's StaticEmbedder fits). */
export type StaticEmbedderForEngine = StaticEmbedderLike & StaticQueryEmbedder;

export interface EngineOptions {
  /** Index folder; default: the per-user cache (index/store/location.ts indexDirFor). */
  indexDir?: string;
  /** The static tier's model; absent: no static tier. */
  staticEmbedder?: StaticEmbedderForEngine | null;
  /** How chunks are sized without a transformer (with one, its own limit and tokenizer decide). */
  sizer?: ChunkSizer;
  walk?: WalkOptions;
  onProgress?: IndexerOptions['onProgress'];
  onWarning?: IndexerOptions['onWarning'];
  onUpdate?: IndexerOptions['onUpdate'];
  /**
   * Load the model of the serving index, to embed queries while a switch builds the new index.
   * Return null when it cannot be loaded (keyword search then answers alone until the switch ends).
   */
  loadServingModel?: (model: IndexModel) => Promise<OwnedQueryEmbedder | null>;
  /** A switch has completed: the new index answers from now on. */
  onSwitched?: (from: IndexModel, to: IndexModel) => void;
  /** False: the engine only indexes (`semsearch index`), so no vectors are loaded for searching. Default true. */
  searchable?: boolean;
  /**
   * Embeds the queries for the engine's own model (default: the embedder itself). The editor and
   * the MCP server pass `embedder.forQueries()`: the same weights on a worker of its own, so a query
   * does not wait behind the background indexer's batches.
   */
  queryEmbedder?: QueryEmbedder;
}

/** An index that answers queries, with the searches running on it. */
interface Serving {
  store: Store;
  searcher: Searcher;
  /** The model that built it, when it is not the engine's (a switch is under way). */
  model: IndexModel | null;
  /** Its query embedder when the engine loaded it for the switch (disposed with it). */
  owned: OwnedQueryEmbedder | null;
  leases: number;
  drained: (() => void) | null;
}

export class FolderEngine {
  private flipping: Promise<void> | null = null;

  private constructor(
    readonly root: string,
    readonly indexDir: string,
    private serving: Serving,
    /**
     * Indexes with the engine's model: into the serving store, or into the new one during a switch.
     * Null when the index cannot be updated (see indexingOff).
     */
    readonly indexer: Indexer | null,
    private readonly embedder: EmbedderForEngine | null,
    private readonly options: EngineOptions,
    /** Why the index is not updated (no model, read-only folder); null when it is. */
    readonly indexingOff: string | null,
  ) {}

  /**
   * Open the engine of `root`. `embedder` null: the static tier only (options.staticEmbedder), or,
   * without a static model either (or without a chunker), the index as it is, for keyword search.
   */
  static async open(root: string, embedder: EmbedderForEngine | null, chunker: Chunker | null, options: EngineOptions = {}): Promise<FolderEngine> {
    root = path.resolve(root);
    const indexDir = options.indexDir ? path.resolve(options.indexDir) : indexDirFor(root);
    const servingFile = servingIndexFile(indexDir);
    const staticEmbedder = options.staticEmbedder ?? null;
    if (!chunker || (!embedder && !staticEmbedder)) {
      const store = await Store.open(servingFile);
      const off = store.opened.readOnly ? `the index folder is read-only (${store.opened.readOnly})` : 'no model is loaded';
      return FolderEngine.serveOnly(root, indexDir, store, null, null, options, off);
    }
    if (!embedder) return FolderEngine.openStaticOnly(root, indexDir, servingFile, chunker, options);
    const target = embedder.info.fingerprint;
    const readOnly = folderReadOnly(indexDir);
    if (!readOnly) removeSupersededIndex(indexDir, servingFile);
    const previous = await modelOf(servingFile);
    // With a transformer, its own token limit and counter size the chunks (the chunker version says so).
    const storeOptions = { staticEmbedder };
    let serving: Serving;
    let store: Store;
    if (previous && previous.fingerprint !== target && readOnly) {
      // A switch cannot be built where nothing can be written: the index answers as it is.
      const old = await Store.open(servingFile, { readonly: true });
      return FolderEngine.serveOnly(
        root,
        indexDir,
        old,
        null,
        embedder,
        options,
        `the index folder is read-only (${readOnly}); it was built with ${previous.id}`,
      );
    } else if (previous && previous.fingerprint !== target) {
      // A switch: the serving index stays as it is (read-only: nothing in it changes).
      const old = await Store.open(servingFile, { readonly: true });
      const owned = await FolderEngine.servingModel(previous, options);
      serving = {
        store: old,
        searcher: new Searcher(root, old, owned, { staticEmbedder: staticOf(old, staticEmbedder) }),
        model: previous,
        owned,
        leases: 0,
        drained: null,
      };
      store = await openStore(buildIndexFile(indexDir, target), embedder, storeOptions);
      // The static tier does not change with the transformer: the new index starts with the serving one's.
      if (staticEmbedder && old.staticFingerprint === staticEmbedder.info.fingerprint) await store.copyVectorsFrom(old.file, old.staticFingerprint);
    } else {
      store = await openStore(servingFile, embedder, storeOptions);
      // A read-only index of another model: its vectors do not match this model's queries.
      const queries = store.modelFingerprint === target ? (options.queryEmbedder ?? embedder) : null;
      if (store.opened.readOnly)
        return FolderEngine.serveOnly(root, indexDir, store, queries, embedder, options, `the index folder is read-only (${store.opened.readOnly})`);
      serving = { store, searcher: new Searcher(root, store, queries, { staticEmbedder }), model: null, owned: null, leases: 0, drained: null };
    }
    return FolderEngine.withIndexer(root, indexDir, serving, store, embedder, chunker, options);
  }

  /** The static tier alone: no transformer is loaded, and the transformer's vectors in the index are left as they are. */
  private static async openStaticOnly(root: string, indexDir: string, servingFile: string, chunker: Chunker, options: EngineOptions): Promise<FolderEngine> {
    const staticEmbedder = options.staticEmbedder!;
    if (!options.sizer) throw new Error('a static-only engine needs a chunk sizer (EngineOptions.sizer)');
    const store = await openStore(servingFile, null, { staticEmbedder, sizer: options.sizer });
    const serving: Serving = { store, searcher: new Searcher(root, store, null, { staticEmbedder }), model: null, owned: null, leases: 0, drained: null };
    if (store.opened.readOnly) {
      const engine = new FolderEngine(root, indexDir, serving, null, null, options, `the index folder is read-only (${store.opened.readOnly})`);
      if (options.searchable !== false) await serving.searcher.sync();
      return engine;
    }
    return FolderEngine.withIndexer(root, indexDir, serving, store, null, chunker, options);
  }

  /** The model of the serving index during a switch (loadServingModel), or null: keyword and static search answer meanwhile. */
  private static async servingModel(previous: IndexModel, options: EngineOptions): Promise<OwnedQueryEmbedder | null> {
    let owned: OwnedQueryEmbedder | null = null;
    try {
      owned = (await options.loadServingModel?.(previous)) ?? null;
    } catch (e) {
      options.onWarning?.(
        `${previous.id}: cannot load the previous model for searches during the switch (${(e as Error).message}); keyword search answers until the new index is ready`,
      );
    }
    if (owned && owned.info.fingerprint !== previous.fingerprint) {
      owned.dispose(); // another model now lives in that folder
      owned = null;
    }
    return owned;
  }

  /** An engine whose indexer writes `store` (the serving one, or the new one of a switch). */
  private static async withIndexer(
    root: string,
    indexDir: string,
    serving: Serving,
    store: Store,
    embedder: EmbedderForEngine | null,
    chunker: Chunker,
    options: EngineOptions,
  ): Promise<FolderEngine> {
    const indexer = new Indexer({
      root,
      store,
      embedder,
      staticEmbedder: options.staticEmbedder ?? null,
      ...(options.sizer && !embedder ? { sizer: options.sizer } : {}),
      chunker,
      walk: options.walk,
      onProgress: options.onProgress,
      onWarning: options.onWarning,
      onUpdate: (s) => {
        // Called only after the engine below exists: updates start once it is returned.
        void engine.afterUpdate(s);
        options.onUpdate?.(s);
      },
    });
    const engine = new FolderEngine(root, indexDir, serving, indexer, embedder, options, null);
    if (options.searchable !== false) await serving.searcher.sync();
    return engine;
  }

  /** An engine that answers from `store` as it is, without an indexer (`off` says why). */
  private static async serveOnly(
    root: string,
    indexDir: string,
    store: Store,
    queries: QueryEmbedder | null,
    embedder: EmbedderForEngine | null,
    options: EngineOptions,
    off: string,
  ): Promise<FolderEngine> {
    const searcher = new Searcher(root, store, queries, { staticEmbedder: staticOf(store, options.staticEmbedder ?? null) });
    const serving: Serving = { store, searcher, model: null, owned: null, leases: 0, drained: null };
    const engine = new FolderEngine(root, indexDir, serving, null, embedder, options, off);
    if (options.searchable !== false) await serving.searcher.sync();
    return engine;
  }

  /** The store that answers queries (the old model's during a switch). */
  get store(): Store {
    return this.serving.store;
  }

  /** The searcher that answers queries; for one query, prefer search()/similar() (they hold it until done). */
  get searcher(): Searcher {
    return this.serving.searcher;
  }

  /** The database file that answers queries. */
  get indexPath(): string {
    return this.serving.store.file;
  }

  /** The models of a switch under way, or null. */
  get switching(): { from: IndexModel; to: IndexModel; semantic: boolean; buildPath: string } | null {
    const from = this.serving.model;
    if (!from || !this.embedder || !this.indexer) return null;
    const info = this.embedder.info;
    return {
      from,
      to: { id: info.model, fingerprint: info.fingerprint, dir: info.dir ?? null },
      semantic: this.serving.owned !== null,
      buildPath: this.indexer.store.file,
    };
  }

  /** Run `fn` on the serving index; a switch completing meanwhile waits for it before closing it. */
  use<T>(fn: (serving: { store: Store; searcher: Searcher }) => Promise<T>): Promise<T> {
    return this.lease(fn);
  }

  private async lease<T>(fn: (serving: Serving) => Promise<T>): Promise<T> {
    const s = this.serving;
    s.leases++;
    try {
      return await fn(s);
    } finally {
      s.leases--;
      if (s.leases === 0) s.drained?.();
    }
  }

  search(query: string, options?: SearchOptions): Promise<SearchOutcome> {
    return this.use((s) => s.searcher.search(query, options));
  }

  similar(relPath: string, line: number, options?: Parameters<Searcher['similar']>[2]): Promise<SimilarOutcome> {
    return this.use((s) => s.searcher.similar(relPath, line, options));
  }

  chunksOfFile(relPath: string): Promise<StoredChunk[]> {
    return this.use((s) => s.store.chunksOfFile(relPath));
  }

  stats(): Promise<StoreStats> {
    return this.use((s) => s.store.stats());
  }

  /**
   * Bring the searcher's vectors up to the store (during a switch the serving index does not change).
   * Inside a lease: a switch that completes meanwhile closes the old store only after it.
   */
  async sync(): Promise<void> {
    if (this.options.searchable === false) return;
    await this.lease(async (s) => {
      if (!s.model) await s.searcher.sync();
    });
  }

  /**
   * Reconcile the index with the disk, then refresh the searcher's vectors (or complete a switch).
   * `transformer: false`: files, keywords and the static tier only (the transformer tier waits).
   */
  async refresh(signal?: AbortSignal, options: { transformer?: boolean } = {}): Promise<RefreshSummary> {
    if (!this.indexer) throw new StoreError(this.indexPath, `the index cannot be updated: ${this.indexingOff}`);
    const summary = await this.indexer.refresh({ signal, transformer: options.transformer });
    if (summary.complete && this.serving.model) await this.completeSwitch();
    else await this.sync();
    return summary;
  }

  /** Drop the indexer's files and chunks (the new index's, during a switch) for a rebuild. */
  clear(): Promise<void> {
    if (!this.indexer) return Promise.reject(new StoreError(this.indexPath, `the index cannot be updated: ${this.indexingOff}`));
    return this.indexer.store.clear();
  }

  private async afterUpdate(s: RefreshSummary): Promise<void> {
    try {
      if (s.complete && this.serving.model) await this.completeSwitch();
      else await this.sync();
    } catch (e) {
      this.options.onWarning?.(`${this.root}: ${(e as Error).message}`);
    }
  }

  /** Steps 3 and 4 of a switch (see the module comment). Concurrent calls share one run. */
  private completeSwitch(): Promise<void> {
    this.flipping ??= this.flip().finally(() => {
      this.flipping = null;
    });
    return this.flipping;
  }

  private async flip(): Promise<void> {
    const old = this.serving;
    const from = old.model;
    if (!from || !this.indexer || !this.embedder) return;
    const store = this.indexer.store;
    const searcher = new Searcher(this.root, store, this.options.queryEmbedder ?? this.embedder, { staticEmbedder: this.options.staticEmbedder ?? null });
    if (this.options.searchable !== false) await searcher.sync();
    setServingIndexFile(store.file);
    this.serving = { store, searcher, model: null, owned: null, leases: 0, drained: null };
    if (old.leases > 0) await new Promise<void>((resolve) => (old.drained = resolve));
    old.searcher.dispose();
    await old.store.close();
    old.owned?.dispose();
    removeIndexFile(old.store.file);
    const info = this.embedder.info;
    this.options.onSwitched?.(from, { id: info.model, fingerprint: info.fingerprint, dir: info.dir ?? null });
  }

  async close(): Promise<void> {
    await this.flipping?.catch(() => undefined);
    this.indexer?.dispose();
    const s = this.serving;
    if (s.leases > 0) await new Promise<void>((resolve) => (s.drained = resolve));
    s.searcher.dispose();
    s.owned?.dispose();
    if (this.indexer && this.indexer.store !== s.store) await this.indexer.store.close();
    await s.store.close();
  }
}

/** What the engine needs of an embedder (model/embedder.ts's Embedder fits). */
export type EmbedderForEngine = ConstructorParameters<typeof Indexer>[0]['embedder'] & QueryEmbedder;

/** The static model when `store` holds its vectors (an index opened as it is may have another static model's, or none). */
function staticOf(store: Store, staticEmbedder: StaticEmbedderForEngine | null): StaticEmbedderForEngine | null {
  return staticEmbedder && store.staticFingerprint === staticEmbedder.info.fingerprint ? staticEmbedder : null;
}
