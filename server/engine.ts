/**
 * One workspace folder's engine: its store, indexer and searcher over a shared model and chunker.
 * The CLI and the sidecar both build on this, so the two never drift apart.
 *
 * Without a model (it failed to load) the engine answers keyword searches from the index as it
 * is; with a read-only index folder, every search from the index as it is. Neither has an
 * indexer: `indexingOff` says why.
 */
import * as path from 'node:path';
import type { Chunker } from './chunk';
import type { Embedder } from './embed';
import { Indexer, IndexerOptions, openStore } from './refresh';
import { Searcher } from './search';
import { indexPathFor, Store, StoreError } from './store';
import type { WalkOptions } from './walk';

export interface EngineOptions {
  /** Index file location; default: the per-user cache (store.ts indexPathFor). */
  indexDir?: string;
  walk?: WalkOptions;
  onProgress?: IndexerOptions['onProgress'];
  onWarning?: IndexerOptions['onWarning'];
  onUpdate?: IndexerOptions['onUpdate'];
}

export class FolderEngine {
  private constructor(
    readonly root: string,
    readonly indexPath: string,
    readonly store: Store,
    /** Null when the index cannot be updated (see indexingOff). */
    readonly indexer: Indexer | null,
    readonly searcher: Searcher,
    /** Why the index is not updated (no model, read-only folder); null when it is. */
    readonly indexingOff: string | null,
  ) {}

  /**
   * Open the engine of `root`. `embedder` and `chunker` null: no model could be loaded; the index
   * is opened as it is, for keyword search.
   */
  static async open(root: string, embedder: Embedder | null, chunker: Chunker | null, options: EngineOptions = {}): Promise<FolderEngine> {
    root = path.resolve(root);
    const indexPath = indexPathFor(root, options.indexDir);
    const store = embedder ? await openStore(indexPath, embedder) : await Store.open(indexPath);
    let indexingOff: string | null = null;
    if (store.opened.readOnly) indexingOff = `the index folder is read-only (${store.opened.readOnly})`;
    else if (!embedder || !chunker) indexingOff = 'no model is loaded';
    // A read-only index of another model: its vectors do not match this model's queries.
    const queryEmbedder = embedder && store.modelFingerprint === embedder.info.fingerprint ? embedder : null;
    let searcher: Searcher | undefined;
    const indexer =
      indexingOff === null && embedder && chunker
        ? new Indexer({
            root,
            store,
            embedder,
            chunker,
            walk: options.walk,
            onProgress: options.onProgress,
            onWarning: options.onWarning,
            onUpdate: (s) => {
              void searcher?.sync();
              options.onUpdate?.(s);
            },
          })
        : null;
    searcher = new Searcher(root, store, queryEmbedder);
    await searcher.sync();
    return new FolderEngine(root, indexPath, store, indexer, searcher, indexingOff);
  }

  /** Reconcile the index with the disk, then refresh the searcher's vectors. */
  async refresh(signal?: AbortSignal) {
    if (!this.indexer) throw new StoreError(this.indexPath, `the index cannot be updated: ${this.indexingOff}`);
    const summary = await this.indexer.refresh({ signal });
    await this.searcher.sync();
    return summary;
  }

  async close(): Promise<void> {
    this.indexer?.dispose();
    this.searcher.dispose();
    await this.store.close();
  }
}
