/** Opening a root's store for the embedder and chunker that will write it. */
import { CHUNKER_VERSION } from '../chunk/version';
import { FTS_TOKENIZER } from '../store/schema';
import { Store } from '../store';
import { ChunkSizer, EmbedderLike, sizerOf, StaticEmbedderLike } from './pipeline';

/**
 * Version of the chunker's output, as the store records it: the declared CHUNKER_VERSION, the
 * model's token limit (which decides where chunks are cut), the overlap, and the keyword index's
 * tokenizer. Any change re-chunks every file; vectors of unchanged texts are reused.
 */
export function chunkerVersionFor(info: { maxTokens: number }, overlapLines?: number): string {
  return `${CHUNKER_VERSION}/max${info.maxTokens}/overlap${overlapLines ?? 'default'}/fts:${FTS_TOKENIZER}`;
}

/** The models an index is opened for, beyond the transformer. */
export interface OpenStoreOptions {
  staticEmbedder?: StaticEmbedderLike | null;
  /** How chunks are sized (default: the transformer's); part of the chunker version. */
  sizer?: ChunkSizer;
  overlapLines?: number;
}

/**
 * Open the store of `indexPath` for these models: the transformer's fingerprint (null: the static
 * tier only; the recorded transformer is left as it is), the static model's, and the chunker
 * version of the sizing.
 */
export function openStore(indexPath: string, embedder: EmbedderLike | null, options: OpenStoreOptions = {}): Promise<Store> {
  const info = embedder?.info;
  const sizer = options.sizer ?? sizerOf(embedder);
  const stat = options.staticEmbedder?.info;
  return Store.open(indexPath, {
    ...(info ? { modelId: info.model, modelFingerprint: info.fingerprint, dim: info.dim, ...(info.dir !== undefined ? { modelDir: info.dir } : {}) } : {}),
    ...(stat ? { staticModelId: stat.model, staticFingerprint: stat.fingerprint, staticDim: stat.dim } : {}),
    chunkerVersion: chunkerVersionFor(sizer, options.overlapLines),
  });
}
