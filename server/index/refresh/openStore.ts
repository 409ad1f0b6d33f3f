/** Opening a root's store for the embedder and chunker that will write it. */
import { CHUNKER_VERSION } from '../chunk/version';
import { FTS_TOKENIZER } from '../store/schema';
import { Store } from '../store';
import type { EmbedderLike } from './pipeline';

/**
 * Version of the chunker's output, as the store records it: the declared CHUNKER_VERSION, the
 * model's token limit (which decides where chunks are cut), the overlap, and the keyword index's
 * tokenizer. Any change re-chunks every file; vectors of unchanged texts are reused.
 */
export function chunkerVersionFor(info: { maxTokens: number }, overlapLines?: number): string {
  return `${CHUNKER_VERSION}/max${info.maxTokens}/overlap${overlapLines ?? 'default'}/fts:${FTS_TOKENIZER}`;
}

/** Open the store of `indexPath` for this embedder (model fingerprint and chunker version). */
export function openStore(indexPath: string, embedder: EmbedderLike, overlapLines?: number): Promise<Store> {
  const info = embedder.info;
  return Store.open(indexPath, {
    modelId: info.model,
    modelFingerprint: info.fingerprint,
    dim: info.dim,
    ...(info.dir !== undefined ? { modelDir: info.dir } : {}),
    chunkerVersion: chunkerVersionFor(info, overlapLines),
  });
}
