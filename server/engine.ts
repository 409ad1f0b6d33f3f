/**
 * One workspace folder's engine: its store, indexer and searcher over a shared model and chunker.
 * The CLI and the sidecar both build on this, so the two never drift apart.
 */
import * as path from 'node:path';
import { Chunker } from './chunk';
import { Embedder } from './embed';
import { resolveModel } from './modelLocation';
import type { Device } from './protocol';
import { Indexer, IndexerOptions, openStore } from './refresh';
import { Searcher } from './search';
import { indexPathFor, Store } from './store';
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
    readonly indexer: Indexer,
    readonly searcher: Searcher,
  ) {}

  static async open(root: string, embedder: Embedder, chunker: Chunker, options: EngineOptions = {}): Promise<FolderEngine> {
    root = path.resolve(root);
    const indexPath = indexPathFor(root, options.indexDir);
    const store = await openStore(indexPath, embedder);
    let searcher: Searcher | undefined;
    const indexer = new Indexer({
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
    });
    searcher = new Searcher(root, store, embedder);
    await searcher.sync();
    return new FolderEngine(root, indexPath, store, indexer, searcher);
  }

  /** Reconcile the index with the disk, then refresh the searcher's vectors. */
  async refresh(signal?: AbortSignal) {
    const summary = await this.indexer.refresh({ signal });
    await this.searcher.sync();
    return summary;
  }

  async close(): Promise<void> {
    this.indexer.dispose();
    this.searcher.dispose();
    await this.store.close();
  }
}

/** A FolderEngine with a model and chunker of its own: one folder per process (the CLI, `semsearch mcp`). */
export interface StandaloneEngine {
  engine: FolderEngine;
  embedder: Embedder;
  chunker: Chunker;
  /** Close the engine, then release the chunker and the model. */
  close(): Promise<void>;
}

/**
 * Load the model (`model`: a folder or Hub id, see modelLocation.ts) and the chunker, and open the
 * engine of `root`. Opening does not index: call `engine.refresh()`.
 */
export async function openStandalone(root: string, options: EngineOptions & { model?: string; device?: Device } = {}): Promise<StandaloneEngine> {
  const embedder = await Embedder.load(await resolveModel(options.model), { device: options.device ?? 'auto' });
  let chunker: Chunker | undefined;
  try {
    chunker = await Chunker.create();
    const engine = await FolderEngine.open(root, embedder, chunker, options);
    const owned = chunker;
    return {
      engine,
      embedder,
      chunker,
      async close() {
        await engine.close();
        owned.dispose();
        embedder.dispose();
      },
    };
  } catch (e) {
    chunker?.dispose();
    embedder.dispose();
    throw e;
  }
}
