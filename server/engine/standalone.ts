/** A FolderEngine that owns its model and chunker: one folder per process (the CLI, `semsearch mcp`). */
import { Chunker } from '../index/chunk';
import { Embedder } from '../model/embedder';
import type { ModelDescription } from '../model/folder';
import { resolveModel } from '../model/locate';
import type { Device } from '../protocol';
import { EngineOptions, FolderEngine } from './folderEngine';

/** A FolderEngine with a model and chunker of its own: one folder per process (the CLI, `semsearch mcp`). */
export interface StandaloneEngine {
  engine: FolderEngine;
  embedder: Embedder;
  chunker: Chunker;
  /** Close the engine, then release the chunker and the model. */
  close(): Promise<void>;
}

/**
 * Load the model and the chunker, and open the engine of `root`. `model` is a model already
 * resolved (the CLI resolves it with its download progress), or a folder or Hub id for
 * model/locate.ts (downloaded unless `offline`). Opening does not index: call `engine.refresh()`.
 */
export async function openStandalone(
  root: string,
  options: EngineOptions & { model?: string | ModelDescription; offline?: boolean; device?: Device } = {},
): Promise<StandaloneEngine> {
  const model = typeof options.model === 'object' ? options.model : await resolveModel(options.model, { offline: options.offline || undefined });
  const embedder = await Embedder.load(model, { device: options.device ?? 'auto' });
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
