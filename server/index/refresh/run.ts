/**
 * One job of the indexer (a full refresh or an incremental update): its counters, the summary it
 * returns, and the coordination between its stages (the producers that write chunks and the embed
 * stage that follows them through the store).
 */
import type { IndexProgress } from '../../protocol';
import type { SkippedRecord } from '../store';
import type { SkippedFile } from '../walk';

/** What one refresh or update did. */
export interface RefreshSummary {
  kind: 'refresh' | 'update';
  /** Files the walk yielded (refresh) or paths the update looked at. */
  filesSeen: number;
  /** Files chunked and written (new or changed content). */
  filesIndexed: number;
  /** Files found unchanged (same stat, or same hash after a stat change). */
  filesUnchanged: number;
  /** Files moved to a new path without re-chunking. */
  filesRenamed: number;
  /** Files removed from the index (deleted, or now ignored or skipped). */
  filesDeleted: number;
  filesSkipped: number;
  skippedByReason: Record<string, number>;
  /** Skipped paths with reasons (at most MAX_LISTED; `skippedListed` < `filesSkipped` when cut). */
  skipped: SkippedRecord[];
  /** Chunks written. */
  chunks: number;
  /** Chunk rows that received a vector from an embedding made by this run. */
  chunksEmbedded: number;
  /** Distinct texts sent to the embedder (what cost model time). */
  textsEmbedded: number;
  /** Seconds spent inside embedder calls; chunksPerSecond = textsEmbedded / embedSeconds. */
  embedSeconds: number;
  /** Distinct texts given a static vector by this run (with their chunks, or filled in for older chunks). */
  staticEmbedded: number;
  /** Seconds spent computing static vectors (tokenizing included). */
  staticSeconds: number;
  /**
   * Busy seconds of each stage of the file path, summed over the file workers (which overlap, so
   * the sum can exceed the wall time): reading and hashing, tree-sitter chunking, static vectors
   * (tokenizing and pooling), SQLite writes (waiting for the write lock included).
   */
  stageSeconds: { read: number; chunk: number; static: number; write: number };
  chunksPerSecond: number;
  /** Chunks still without a vector when the run ended. */
  chunksPending: number;
  /** Per-file failures, `path: reason` (at most MAX_LISTED). */
  warnings: string[];
  seconds: number;
  cancelled: boolean;
  /** The index equals the disk and every chunk has a vector. */
  complete: boolean;
}

/** Most skipped paths and warnings kept in a summary. */
export const MAX_LISTED = 10_000;
/** Skip reasons that say the rules left a path out (its content was never looked at). */
export const RULE_REASONS: ReadonlySet<string> = new Set(['ignored', 'excluded', 'hidden']);

/** Counters and coordination of one job (a refresh or an update). */
export class Run {
  readonly started = Date.now();
  readonly summary: RefreshSummary;
  /** Stage still producing chunks (the embed stage ends only after it is false and it drained). */
  producing = true;
  /** Bumped on every chunk write, so the embed stage never misses a wake-up. */
  writes = 0;
  phase: IndexProgress['phase'] = 'walk';
  /** Chunks without a transformer vector (0 without a transformer tier). */
  pending = 0;
  /** Chunks without a static vector. */
  staticPending = 0;
  private wake: (() => void) | null = null;

  /** Aborts the run's stages when the run fails (the caller's signal is combined with it). */
  private readonly failure = new AbortController();
  readonly signal: AbortSignal;

  constructor(
    kind: 'refresh' | 'update',
    callerSignal: AbortSignal,
    /** False: this run leaves the transformer tier as it is (`semsearch search` answering from the static tier at once). */
    readonly withTransformer = true,
  ) {
    this.signal = AbortSignal.any([callerSignal, this.failure.signal]);
    this.summary = {
      kind,
      filesSeen: 0,
      filesIndexed: 0,
      filesUnchanged: 0,
      filesRenamed: 0,
      filesDeleted: 0,
      filesSkipped: 0,
      skippedByReason: {},
      skipped: [],
      chunks: 0,
      chunksEmbedded: 0,
      textsEmbedded: 0,
      embedSeconds: 0,
      staticEmbedded: 0,
      staticSeconds: 0,
      stageSeconds: { read: 0, chunk: 0, static: 0, write: 0 },
      chunksPerSecond: 0,
      chunksPending: 0,
      warnings: [],
      seconds: 0,
      cancelled: false,
      complete: false,
    };
    this.signal.addEventListener('abort', () => this.notify(), { once: true });
  }

  /** Stop every stage after an error that ends the run. */
  fail(): void {
    this.producing = false;
    this.failure.abort(new Error('run failed'));
  }

  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  waitForWork(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }
}

export function toRecord(s: SkippedFile): SkippedRecord {
  return s.detail === undefined ? { path: s.relPath, reason: s.reason } : { path: s.relPath, reason: s.reason, detail: s.detail };
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
