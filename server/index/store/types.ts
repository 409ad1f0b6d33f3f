/** The store's types: what it takes, what it returns, and its errors; plus the vector blob format. */
import { createHash } from 'node:crypto';

export interface StoreOptions {
  /** The model whose vectors this store reads and writes. Leave the model fields out to open an
   * index only to read its state (`semsearch status`): then meta is left as found. */
  modelId?: string;
  modelFingerprint?: string;
  /** The model folder (recorded so that the model can be loaded again for queries during a switch). */
  modelDir?: string;
  dim?: number;
  /** The static tier's model (its vectors are written with the chunks). */
  staticModelId?: string;
  staticFingerprint?: string;
  staticDim?: number;
  /** Version of the chunker's output; a different one drops all chunks. */
  chunkerVersion?: string;
  /**
   * Open read-only: no schema creation, no recovery (errors are thrown). A store opened for
   * writing falls back to read-only by itself when its folder or file is not writable
   * (`opened.readOnly` says why).
   */
  readonly?: boolean;
  /** Run `PRAGMA quick_check` on open (default true). It reads the whole file. */
  check?: boolean;
}

/** What happened when the store was opened. */
export interface OpenReport {
  /** The database file did not exist (or was replaced after corruption or a schema change). */
  created: boolean;
  /** The file was unreadable or failed the integrity check; it was moved to `movedTo`. */
  recovered?: { movedTo: string; reason: string };
  /** Content dropped on open: 'schema' (everything; other schema version), 'chunker' (files and chunks). */
  reset?: 'schema' | 'chunker';
  /** The active model changed; vectors of `from` are kept until pruneVectors(). */
  modelChanged?: { from: string; to: string };
  /** The static tier's model changed: only the static vectors are computed again. */
  staticModelChanged?: { from: string; to: string };
  /** Asked for writing, opened read-only: the folder or file is not writable (`path: reason`). */
  readOnly?: string;
}

/** The two kinds of vectors an index holds: the transformer's (filled in behind) and the static model's (written with the chunks). */
export type VectorTier = 'transformer' | 'static';

/** A file as the index knows it. */
export interface FileRecord {
  path: string;
  size: number;
  mtimeMs: number;
  /** sha256 (hex) of the bytes that were indexed. */
  hash: string;
  /** When its chunks were written (ms since the epoch). */
  indexedAt: number;
}

/** What the store needs of a chunk (a chunk/ Chunk fits). */
export interface ChunkInput {
  startLine: number;
  endLine: number;
  language: string;
  kind: string;
  symbol: string | null;
  container: string | null;
  text: string;
  embedText: string;
}

/** A chunk read back from the store. */
export interface StoredChunk extends Omit<ChunkInput, 'embedText'> {
  id: number;
  path: string;
  contentHash: string;
  /** A vector of the active model exists for it. */
  hasVector: boolean;
}

/** A chunk waiting for its vector. */
export interface PendingChunk {
  id: number;
  contentHash: string;
  embedText: string;
}

export interface KeywordFilter {
  /** Chunk languages to keep (chunker names, e.g. 'typescript'). */
  languages?: string[];
  /** Keep a hit only if this returns true for its file path (e.g. a picomatch matcher). */
  path?: (relPath: string) => boolean;
}

export interface KeywordHit {
  id: number;
  path: string;
  language: string;
  /** bm25() as SQLite returns it: negative, lower is better. */
  bm25: number;
  /** -bm25: positive, higher is better. */
  score: number;
}

/** One page row of chunkVectors(). */
export interface ChunkVector {
  chunkId: number;
  contentHash: string;
  vector: Float32Array;
}

export interface SkippedRecord {
  path: string;
  reason: string;
  detail?: string;
}

export interface StoreStats {
  files: number;
  chunks: number;
  /** Chunks whose vector (active model) exists. */
  chunksWithVectors: number;
  /** Distinct vectors of the active model. */
  vectors: number;
  /** True while chunks lack vectors or the last full refresh did not finish. */
  partial: boolean;
  /** The last full refresh finished. */
  complete: boolean;
  lastIndexedAt: number | null;
  model: { id: string; fingerprint: string; dim: number; dir: string | null } | null;
  /** The static tier: its model, chunks done (with a vector, or known to have no token) and pending. */
  staticTier: { id: string; fingerprint: string; dim: number; chunksDone: number; pending: number } | null;
  chunkerVersion: string | null;
  skippedByReason: Record<string, number>;
  /** Bytes of the database file (WAL not counted). */
  bytes: number;
}

/** First 32 hex digits of sha256(embedText): the key of a chunk's vector. */
export function contentHash(embedText: string): string {
  return createHash('sha256').update(embedText).digest('hex').slice(0, 32);
}

export function vectorToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function blobToVector(b: Buffer | Uint8Array): Float32Array {
  // Copy: the blob's offset in its buffer need not be a multiple of 4.
  const out = new Float32Array(b.byteLength >>> 2);
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 4));
  return out;
}

export class StoreError extends Error {
  constructor(
    readonly file: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${reason}`, options);
    this.name = 'StoreError';
  }
}
