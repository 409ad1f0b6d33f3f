/** Opening a root's store for the embedder and chunker that will write it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as chunkModule from '../chunk';
import { FTS_TOKENIZER } from '../store/schema';
import { Store } from '../store';
import type { EmbedderLike } from './pipeline';

/**
 * Version of the chunker's output, as the store records it: CHUNKER_VERSION when chunk/ exports
 * one, else a hash of chunk/'s compiled files (any change there re-chunks; vectors of unchanged
 * texts are reused), plus the model's token limit, which decides where chunks are cut.
 */
export function chunkerVersionFor(info: { maxTokens: number }, overlapLines?: number): string {
  const declared = (chunkModule as unknown as { CHUNKER_VERSION?: unknown }).CHUNKER_VERSION;
  let base: string;
  if (typeof declared === 'string' || typeof declared === 'number') {
    base = String(declared);
  } else {
    const h = createHash('sha256');
    const dir = path.join(__dirname, '..', 'chunk');
    let files: string[] = [];
    try {
      files = fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
    } catch { /* bundled: no chunk/ folder */ }
    if (files.length === 0) files = [__filename];
    for (const f of files) h.update(f).update(fs.readFileSync(path.isAbsolute(f) ? f : path.join(dir, f)));
    base = `src-${h.digest('hex').slice(0, 12)}`;
  }
  return `${base}/max${info.maxTokens}/overlap${overlapLines ?? 'default'}/fts:${FTS_TOKENIZER}`;
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
