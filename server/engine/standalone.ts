/** A FolderEngine that owns its models and chunker: one folder per process (the CLI, `semsearch mcp`). */
import { Chunker } from '../index/chunk';
import { Embedder } from '../model/embedder';
import type { ModelDescription } from '../model/folder';
import { resolveModel } from '../model/locate';
import { StaticEmbedder } from '../model/static';
import type { Device, Tiers } from '../protocol';
import { EngineOptions, FolderEngine } from './folderEngine';

/** A FolderEngine with models and a chunker of its own: one folder per process (the CLI, `semsearch mcp`). */
export interface StandaloneEngine {
  engine: FolderEngine;
  /** The transformer (null with `tiers: static`). */
  embedder: Embedder | null;
  staticEmbedder: StaticEmbedder;
  chunker: Chunker;
  /** Close the engine, then release the chunker and the model. */
  close(): Promise<void>;
}

export interface StandaloneOptions extends EngineOptions {
  /** A model already resolved (the CLI resolves it with its download progress), or a folder or Hub id for model/locate.ts. */
  model?: string | ModelDescription;
  offline?: boolean;
  device?: Device;
  /** `static`: the transformer is never loaded. Default `full`. */
  tiers?: Tiers;
  /** Threads of the transformer's background work (semsearch.embedThreads; 0: all cores but one). Queries get a worker of their own. */
  embedThreads?: number;
}

/**
 * Load the models and the chunker, and open the engine of `root`: the static model always, the
 * transformer unless `tiers` is `static` (downloaded unless `offline`). Opening does not index:
 * call `engine.refresh()`.
 */
export async function openStandalone(root: string, options: StandaloneOptions = {}): Promise<StandaloneEngine> {
  const staticEmbedder = options.staticEmbedder instanceof StaticEmbedder ? options.staticEmbedder : StaticEmbedder.loadDefault();
  let embedder: Embedder | null = null;
  if (options.tiers !== 'static') {
    const model = typeof options.model === 'object' ? options.model : await resolveModel(options.model, { offline: options.offline || undefined });
    embedder = await Embedder.load(model, { device: options.device ?? 'auto', threads: options.embedThreads ?? 0 });
  }
  let chunker: Chunker | undefined;
  try {
    chunker = await Chunker.create();
    const engine = await FolderEngine.open(root, embedder, chunker, {
      ...options,
      staticEmbedder,
      sizer: options.sizer ?? staticEmbedder.sizer(),
      ...(embedder ? { queryEmbedder: embedder.forQueries() } : {}),
    });
    const owned = chunker;
    return {
      engine,
      embedder,
      staticEmbedder,
      chunker,
      async close() {
        await engine.close();
        owned.dispose();
        embedder?.dispose();
      },
    };
  } catch (e) {
    chunker?.dispose();
    embedder?.dispose();
    throw e;
  }
}
