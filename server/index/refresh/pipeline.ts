/**
 * What every stage of one root's indexing pipeline shares: the store, the two tiers' embedders
 * (static, written with the chunks; transformer, filled in behind), the chunker and options, the
 * pause gate, progress reporting, and the per-file bookkeeping (warnings, skips).
 * The stages themselves (fileStage, embedStage, fullRefresh, update) are functions over it; the
 * Indexer (indexer.ts) owns one and runs its jobs.
 */
import * as path from 'node:path';
import { relativeInside } from '../../common/paths';
import type { EmbedOptions } from '../../model/embedder';
import type { IndexProgress } from '../../protocol';
import type { Chunk, ChunkOptions } from '../chunk';
import { isIndexFileName } from '../store/location';
import type { SkippedRecord, Store } from '../store';
import type { SkippedFile, WalkOptions } from '../walk';
import { MAX_LISTED, RefreshSummary, Run, toRecord } from './run';

/** What the indexer needs of an embedder (model/embedder.ts's Embedder fits). */
export interface EmbedderLike {
  readonly info: { model: string; fingerprint: string; dim: number; maxTokens: number; dir?: string };
  embed(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]>;
  countTokens(text: string): number;
}

/** What the indexer needs of the static tier's model (model/static.ts's StaticEmbedder fits). */
export interface StaticEmbedderLike {
  readonly info: { model: string; fingerprint: string; dim: number };
  /** One vector per text, null for a text without a token the model knows. */
  embed(texts: readonly string[]): Promise<(Float32Array | null)[]>;
}

/** How chunks are sized: a token budget and a counter, as the transformer sees text (or the static model, without one). */
export interface ChunkSizer {
  maxTokens: number;
  countTokens(text: string): number;
}

/** What the indexer needs of a chunker (chunk/'s Chunker fits). */
export interface ChunkerLike {
  chunk(relPath: string, text: string, options: ChunkOptions): Promise<Chunk[]>;
}

export interface IndexerOptions {
  /** Workspace root (absolute or relative to the working directory). */
  root: string;
  /** Opened with the embedders' fingerprints and `chunkerVersionFor(sizer)` (see openStore). */
  store: Store;
  /** The transformer tier; null: the static tier only (`tiers: static`, or no transformer could load). */
  embedder: EmbedderLike | null;
  /** The static tier; null: none (chunks get transformer vectors only). */
  staticEmbedder?: StaticEmbedderLike | null;
  /** How chunks are sized; default: the transformer's token limit and counter. */
  sizer?: ChunkSizer;
  chunker: ChunkerLike;
  walk?: WalkOptions;
  /** Distinct texts per embedder call and per vector transaction. Default 64. */
  embedBatchSize?: number;
  /** Files read and chunked at once. Default 4. */
  readConcurrency?: number;
  /** Lines of context repeated when a chunk is split (ChunkOptions.overlapLines). */
  overlapLines?: number;
  /** Least time between two progress reports (phase changes and the end always report). Default 250. */
  progressIntervalMs?: number;
  onProgress?: (p: IndexProgress) => void;
  /** Each per-file failure, as `path: reason`, when it happens. */
  onWarning?: (message: string) => void;
  /** Quiet time that ends a burst of scheduled events. Default 300. */
  debounceMs?: number;
  /** Longest a scheduled event waits while events keep coming. Default 2000. */
  maxDebounceMs?: number;
  /** The summary of each job started by scheduleUpdate. */
  onUpdate?: (summary: RefreshSummary) => void;
}

export class Pipeline {
  readonly root: string;
  readonly store: Store;
  readonly embedder: EmbedderLike | null;
  readonly staticEmbedder: StaticEmbedderLike | null;
  readonly chunker: ChunkerLike;
  readonly walkOptions: WalkOptions;
  readonly batchSize: number;
  readonly readConcurrency: number;
  readonly chunkOptions: ChunkOptions;
  /** Totals over the indexer's life, all jobs together. */
  readonly totals = { textsEmbedded: 0, chunksWritten: 0, embedCalls: 0, staticEmbedded: 0 };
  /** The folder of the database file relative to root when it lies inside it: the index files
   * there (store/location.ts isIndexFileName: databases, -wal, -shm, .corrupt-…, index.current)
   * are never indexed, and their changes are not events. */
  private readonly ownDir: string | null;
  private readonly progressIntervalMs: number;
  private pausedGate: { promise: Promise<void>; release: () => void } | null = null;
  private lastProgressAt = 0;
  private lastPhase: string | null = null;

  constructor(readonly options: IndexerOptions) {
    this.root = path.resolve(options.root);
    this.store = options.store;
    this.embedder = options.embedder;
    this.staticEmbedder = options.staticEmbedder ?? null;
    this.chunker = options.chunker;
    this.walkOptions = options.walk ?? {};
    this.batchSize = Math.max(1, options.embedBatchSize ?? 64);
    this.readConcurrency = Math.max(1, options.readConcurrency ?? 4);
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    const sizer = options.sizer ?? sizerOf(this.embedder);
    this.chunkOptions = {
      maxTokens: sizer.maxTokens,
      countTokens: (t) => sizer.countTokens(t),
      ...(options.overlapLines !== undefined ? { overlapLines: options.overlapLines } : {}),
    };
    const rel = path.relative(this.root, path.dirname(this.store.file)).split(path.sep).join('/');
    this.ownDir = rel.startsWith('..') || path.isAbsolute(rel) ? null : rel || '.';
  }

  // --- pause -----------------------------------------------------------------------------------

  /** Hold every stage before its next unit of work (a file, a batch). */
  pause(): void {
    if (this.pausedGate) return;
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.pausedGate = { promise, release };
  }

  resume(): void {
    const g = this.pausedGate;
    this.pausedGate = null;
    g?.release();
  }

  get paused(): boolean {
    return this.pausedGate !== null;
  }

  /** Wait while paused (returns at once when `signal` aborts). */
  async gate(signal: AbortSignal): Promise<void> {
    while (this.pausedGate && !signal.aborted) {
      await Promise.race([this.pausedGate.promise, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
    }
  }

  // --- bookkeeping -----------------------------------------------------------------------------

  recordSkip(run: Run, s: SkippedFile | SkippedRecord): void {
    const rec = 'relPath' in s ? toRecord(s) : s;
    run.summary.filesSkipped++;
    run.summary.skippedByReason[rec.reason] = (run.summary.skippedByReason[rec.reason] ?? 0) + 1;
    if (run.summary.skipped.length < MAX_LISTED) run.summary.skipped.push(rec);
  }

  warn(run: Run, message: string): void {
    if (run.summary.warnings.length < MAX_LISTED) run.summary.warnings.push(message);
    this.options.onWarning?.(message);
  }

  /** True for the index's own files when the index folder lies inside the root. */
  isOwnPath(rel: string): boolean {
    return this.ownDir !== null && path.posix.dirname(rel) === this.ownDir && isIndexFileName(path.posix.basename(rel));
  }

  /** `p` (absolute or relative to the root) relative to the root with '/', '' for the root, null outside it. */
  toRel(p: string): string | null {
    return relativeInside(this.root, p);
  }

  /** Report progress, at most every progressIntervalMs unless the phase changed or `force`. */
  progress(run: Run, force = false): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = Date.now();
    if (!force && run.phase === this.lastPhase && now - this.lastProgressAt < this.progressIntervalMs) return;
    this.lastProgressAt = now;
    this.lastPhase = run.phase;
    const s = run.summary;
    const rate = s.embedSeconds > 0 ? s.textsEmbedded / s.embedSeconds : 0;
    cb({
      phase: run.phase,
      filesSeen: s.filesSeen,
      filesIndexed: s.filesIndexed,
      filesSkipped: s.filesSkipped,
      chunks: s.chunks,
      chunksEmbedded: s.chunksEmbedded,
      chunksPending: run.pending,
      transformer: this.embedder !== null && run.withTransformer,
      ...(this.staticEmbedder ? { staticPending: run.staticPending } : {}),
      // The ETA counts distinct texts at the rate of distinct texts; pending chunks that share a text are a slight overcount.
      ...(rate > 0 ? { chunksPerSecond: rate, etaSeconds: run.pending / rate } : {}),
      ...(run.phase === 'done' && s.cancelled ? { message: 'cancelled' } : {}),
    });
  }
}

/** The transformer's chunk sizing. */
export function sizerOf(embedder: EmbedderLike | null): ChunkSizer {
  if (!embedder) throw new Error('the indexer needs a transformer embedder or a chunk sizer');
  return { maxTokens: embedder.info.maxTokens, countTokens: (t) => embedder.countTokens(t) };
}
