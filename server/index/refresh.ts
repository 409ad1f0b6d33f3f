/**
 * Keeps the index of one workspace root equal to the disk: stat → hash → plan → apply.
 *
 * A full refresh (`Indexer.refresh`), the algorithm in five steps:
 * 1. Load the store's file list (path → size, mtime, hash).
 * 2. Walk the root (walk.ts). A file whose size and mtime equal the stored ones is unchanged; any
 *    other file is read (readEntry) and hashed. Same hash: only its stat is updated. A new file
 *    whose hash equals that of a stored file that the walk has not (yet) seen is a rename
 *    candidate, decided after the walk. Otherwise the file is chunked and its chunks and FTS rows
 *    are written at once, in one transaction per file, so keyword search covers it immediately.
 * 3. Meanwhile the embed stage takes chunks lacking a vector from the store (oldest first), embeds
 *    each distinct text once, in batches of `embedBatchSize`, and writes each batch's vectors in one
 *    transaction. The store is the queue between the stages: a killed run loses at most the batch
 *    in flight and the next run resumes from what the store says is missing; memory holds one
 *    batch, not the backlog.
 * 4. After the walk: rename candidates whose old path is gone are moved (renameFile: no chunking,
 *    no embedding); stored files the walk did not yield (deleted, now ignored, now skipped) are
 *    deleted with their chunks and FTS rows.
 * 5. When the embed stage has drained: meta `complete` is set and vectors nobody uses (other
 *    models, texts no chunk has any more) are pruned. A cancelled or killed run claims nothing.
 *
 * Incremental updates (`update`, `scheduleUpdate`) apply file events between refreshes: events are
 * coalesced for `debounceMs` and processed serially, after any job already running. A path the
 * store knows (or skipped for its content) is re-read directly; a deleted path is removed (with
 * everything under it); a path the index has never seen, a folder, or an ignore file
 * (.gitignore, .semsearchignore) needs the walk's rules, so it turns the update into a full
 * refresh (cheap: unchanged files cost one stat).
 *
 * Failures of one file (unreadable, chunker error, embedding error) are warnings `path: reason`
 * and never stop the run; files left out are counted by reason and listed. Errors of the store
 * itself (disk full, I/O) end the run: they are not about one file.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { IndexProgress } from '../protocol';
import { FileEntry, IGNORE_FILES, readEntry, SkippedFile, walk, WalkOptions } from './walk';
import type { Chunk, ChunkOptions } from './chunk';
import * as chunkModule from './chunk';
import type { EmbedOptions } from '../model/embedder';
import { FileRecord, FTS_TOKENIZER, isIndexFileName, SkippedRecord, Store } from './store/store';

export type { IndexProgress } from '../protocol';

/** What the indexer needs of an embedder (embed.ts's Embedder fits). */
export interface EmbedderLike {
  readonly info: { model: string; fingerprint: string; dim: number; maxTokens: number; dir?: string };
  embed(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]>;
  countTokens(text: string): number;
}

/** What the indexer needs of a chunker (chunk/'s Chunker fits). */
export interface ChunkerLike {
  chunk(relPath: string, text: string, options: ChunkOptions): Promise<Chunk[]>;
}

export interface IndexerOptions {
  /** Workspace root (absolute or relative to the working directory). */
  root: string;
  /** Opened with this embedder's fingerprint and `chunkerVersionFor(embedder.info)` (see openStore). */
  store: Store;
  embedder: EmbedderLike;
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
const RULE_REASONS = new Set(['ignored', 'excluded', 'hidden']);

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
    const dir = path.join(__dirname, 'chunk');
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

// ---------------------------------------------------------------------------------------------

/** A bounded queue: put() waits while it is full; take() waits while it is empty and open. */
class Channel<T> {
  private readonly items: T[] = [];
  private readonly putters: (() => void)[] = [];
  private readonly takers: (() => void)[] = [];
  private closed = false;
  constructor(private readonly capacity: number) {}

  async put(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) await new Promise<void>((r) => this.putters.push(r));
    this.items.push(item);
    this.takers.shift()?.();
  }
  async take(): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.takers.push(r));
    }
    const item = this.items.shift()!;
    this.putters.shift()?.();
    return item;
  }
  close(): void {
    this.closed = true;
    for (const w of this.takers.splice(0)) w();
    for (const w of this.putters.splice(0)) w();
  }
}

/** Counters and coordination of one job (a refresh or an update). */
class Run {
  readonly started = Date.now();
  readonly summary: RefreshSummary;
  /** Stage still producing chunks (the embed stage ends only after it is false and it drained). */
  producing = true;
  /** Bumped on every chunk write, so the embed stage never misses a wake-up. */
  writes = 0;
  phase: IndexProgress['phase'] = 'walk';
  pending = 0;
  private wake: (() => void) | null = null;

  /** Aborts the run's stages when the run fails (the caller's signal is combined with it). */
  private readonly failure = new AbortController();
  readonly signal: AbortSignal;

  constructor(kind: 'refresh' | 'update', callerSignal: AbortSignal) {
    this.signal = AbortSignal.any([callerSignal, this.failure.signal]);
    this.summary = {
      kind, filesSeen: 0, filesIndexed: 0, filesUnchanged: 0, filesRenamed: 0, filesDeleted: 0, filesSkipped: 0,
      skippedByReason: {}, skipped: [], chunks: 0, chunksEmbedded: 0, textsEmbedded: 0, embedSeconds: 0,
      chunksPerSecond: 0, chunksPending: 0, warnings: [], seconds: 0, cancelled: false, complete: false,
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

/**
 * The indexing pipeline of one root. Jobs (refresh, update) run one at a time, in call order.
 */
export class Indexer {
  readonly root: string;
  readonly store: Store;
  private readonly embedder: EmbedderLike;
  private readonly chunker: ChunkerLike;
  private readonly walkOptions: WalkOptions;
  private readonly batchSize: number;
  private readonly readConcurrency: number;
  private readonly progressIntervalMs: number;
  private readonly chunkOptions: ChunkOptions;
  /** The folder of the database file relative to root when it lies inside it: the index files
   * there (store.ts isIndexFileName: databases, -wal, -shm, .corrupt-…, index.current) are never
   * indexed, and their changes are not events. */
  private readonly ownDir: string | null;

  private jobs: Promise<unknown> = Promise.resolve();
  private running = 0;
  private pausedGate: { promise: Promise<void>; release: () => void } | null = null;
  private scheduled = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private firstScheduledAt = 0;
  private idleWaiters: (() => void)[] = [];
  private lastProgressAt = 0;
  private lastPhase: string | null = null;
  /** Totals over the indexer's life, all jobs together. */
  readonly totals = { textsEmbedded: 0, chunksWritten: 0, embedCalls: 0 };

  constructor(private readonly options: IndexerOptions) {
    this.root = path.resolve(options.root);
    this.store = options.store;
    this.embedder = options.embedder;
    this.chunker = options.chunker;
    this.walkOptions = options.walk ?? {};
    this.batchSize = Math.max(1, options.embedBatchSize ?? 64);
    this.readConcurrency = Math.max(1, options.readConcurrency ?? 4);
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    const embedder = this.embedder;
    this.chunkOptions = {
      maxTokens: embedder.info.maxTokens,
      countTokens: (t) => embedder.countTokens(t),
      ...(options.overlapLines !== undefined ? { overlapLines: options.overlapLines } : {}),
    };
    const rel = path.relative(this.root, path.dirname(this.store.file)).split(path.sep).join('/');
    this.ownDir = rel.startsWith('..') || path.isAbsolute(rel) ? null : rel || '.';
  }

  // --- control ---------------------------------------------------------------------------------

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

  private async gate(signal: AbortSignal): Promise<void> {
    while (this.pausedGate && !signal.aborted) {
      await Promise.race([this.pausedGate.promise, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    const job = this.jobs.then(fn, fn).finally(() => {
      this.running--;
      this.checkIdle();
    });
    this.jobs = job.catch(() => undefined);
    return job;
  }

  // --- full refresh ----------------------------------------------------------------------------

  /** Reconcile the index with the disk (see the module comment). Resolves when done or cancelled. */
  refresh(options: { signal?: AbortSignal } = {}): Promise<RefreshSummary> {
    return this.enqueue(() => this.doRefresh(new Run('refresh', options.signal ?? new AbortController().signal)));
  }

  private async doRefresh(run: Run): Promise<RefreshSummary> {
    const { store } = this;
    const embedding = this.startEmbedStage(run);
    try {
      await store.setComplete(false);
      await store.replaceSkipped([]);
      const known = await store.listFiles();
      const byHash = new Map<string, string[]>();
      for (const rec of known.values()) {
        const list = byHash.get(rec.hash);
        if (list) list.push(rec.path);
        else byHash.set(rec.hash, [rec.path]);
      }
      const seen = new Set<string>();
      const deferred: FileEntry[] = [];
      const skippedBatch: SkippedRecord[] = [];
      const flushSkipped = async (force: boolean) => {
        if (skippedBatch.length >= 500 || (force && skippedBatch.length > 0)) await store.updateSkipped(skippedBatch.splice(0), []);
      };
      const onSkip = (s: SkippedFile) => {
        this.recordSkip(run, s);
        skippedBatch.push(toRecord(s));
      };
      // A stored file whose content moved: its hash matches and the walk has not seen its path yet.
      const renameCandidate = (hash: string) => (byHash.get(hash) ?? []).some((p) => !seen.has(p));

      const queue = new Channel<FileEntry>(this.readConcurrency * 4);
      const workers = Array.from({ length: this.readConcurrency }, async () => {
        try {
          for (let entry = await queue.take(); entry !== undefined; entry = await queue.take()) {
            await this.gate(run.signal);
            if (run.signal.aborted) continue; // drain
            const rec = known.get(entry.relPath);
            const result = await this.processEntry(run, entry, rec, !rec ? renameCandidate : null);
            if (result === 'defer') deferred.push(entry);
            else if (result === 'skipped') seen.delete(entry.relPath);
            if (skippedBatch.length >= 500) await flushSkipped(false);
            this.progress(run);
          }
        } catch (e) {
          // The store failed (disk full, I/O): stop the walk, which would otherwise wait on a
          // full queue. The error comes out of Promise.all(workers) below.
          run.fail();
          queue.close();
          throw e;
        }
      });
      for (const w of workers) w.catch(() => undefined); // handled: awaited below

      try {
        for await (const item of walk(this.root, this.walkOptions, run.signal)) {
          await this.gate(run.signal);
          if (item.type === 'skip') {
            if (!this.isOwnPath(item.skipped.relPath)) onSkip(item.skipped);
            continue;
          }
          const e = item.entry;
          if (this.isOwnPath(e.relPath)) continue;
          run.summary.filesSeen++;
          seen.add(e.relPath);
          const rec = known.get(e.relPath);
          if (rec && rec.size === e.size && rec.mtimeMs === e.mtimeMs) {
            run.summary.filesUnchanged++;
          } else {
            await queue.put(e);
          }
          this.progress(run);
        }
      } catch (e) {
        if (!run.signal.aborted) throw new Error(`${this.root}: ${errorText(e)}`);
      } finally {
        queue.close();
        await Promise.all(workers);
      }
      if (run.signal.aborted) return await this.finish(run, embedding);
      run.phase = 'chunk';
      this.progress(run, true);

      // Renames: the old path is gone and not yet claimed by another new path.
      const claimed = new Set<string>();
      for (const entry of deferred) {
        await this.gate(run.signal);
        if (run.signal.aborted) break;
        const read = await readEntry(entry, this.walkOptions);
        const from = read.type === 'text' ? (byHash.get(read.hash) ?? []).find((p) => !seen.has(p) && !claimed.has(p)) : undefined;
        if (from !== undefined && (await store.renameFile(from, entry.relPath, { size: entry.size, mtimeMs: entry.mtimeMs }))) {
          claimed.add(from);
          run.summary.filesRenamed++;
        } else {
          const r = await this.processEntry(run, entry, undefined, null, read);
          if (r === 'skipped') seen.delete(entry.relPath);
        }
      }
      if (run.signal.aborted) return await this.finish(run, embedding);

      const gone = [...known.keys()].filter((p) => !seen.has(p) && !claimed.has(p));
      for (let i = 0; i < gone.length; i += 500) run.summary.filesDeleted += await store.deleteFiles(gone.slice(i, i + 500));
      await flushSkipped(true);
      return await this.finish(run, embedding, true);
    } catch (e) {
      run.fail();
      await embedding.catch(() => undefined);
      throw e;
    }
  }

  /**
   * Read, hash, chunk and write one file. Returns 'skipped' when the file is left out (its old
   * chunks, if any, are deleted), 'defer' for a rename candidate, else 'done'.
   */
  private async processEntry(
    run: Run,
    entry: FileEntry,
    rec: FileRecord | undefined,
    renameCandidate: ((hash: string) => boolean) | null,
    preRead?: Awaited<ReturnType<typeof readEntry>>,
  ): Promise<'done' | 'skipped' | 'defer'> {
    const rel = entry.relPath;
    const read = preRead ?? (await readEntry(entry, this.walkOptions));
    if (read.type === 'skip') {
      this.recordSkip(run, read.skipped);
      await this.store.updateSkipped([toRecord(read.skipped)], []);
      if (rec && (await this.store.deleteFile(rel))) run.summary.filesDeleted++;
      return 'skipped';
    }
    if (rec && rec.hash === read.hash) {
      await this.store.touchFile(rel, entry.size, entry.mtimeMs);
      run.summary.filesUnchanged++;
      return 'done';
    }
    if (!rec && renameCandidate?.(read.hash)) return 'defer';
    let chunks: Chunk[];
    try {
      chunks = await this.chunker.chunk(rel, read.text, this.chunkOptions);
    } catch (e) {
      this.warn(run, `${rel}: chunking failed: ${errorText(e)}`);
      const skipped: SkippedFile = { relPath: rel, reason: 'unreadable', detail: `chunking failed: ${errorText(e)}` };
      this.recordSkip(run, skipped);
      await this.store.updateSkipped([{ ...toRecord(skipped), reason: 'error' }], []);
      if (rec && (await this.store.deleteFile(rel))) run.summary.filesDeleted++;
      return 'skipped';
    }
    const res = await this.store.replaceFileChunks({ path: rel, size: entry.size, mtimeMs: entry.mtimeMs, hash: read.hash }, chunks);
    run.summary.filesIndexed++;
    run.summary.chunks += chunks.length;
    this.totals.chunksWritten += chunks.length;
    run.pending += res.pending;
    run.writes++;
    run.notify();
    return 'done';
  }

  private recordSkip(run: Run, s: SkippedFile | SkippedRecord): void {
    const rec = 'relPath' in s ? toRecord(s) : s;
    run.summary.filesSkipped++;
    run.summary.skippedByReason[rec.reason] = (run.summary.skippedByReason[rec.reason] ?? 0) + 1;
    if (run.summary.skipped.length < MAX_LISTED) run.summary.skipped.push(rec);
  }

  private warn(run: Run, message: string): void {
    if (run.summary.warnings.length < MAX_LISTED) run.summary.warnings.push(message);
    this.options.onWarning?.(message);
  }

  private isOwnPath(rel: string): boolean {
    return this.ownDir !== null && path.posix.dirname(rel) === this.ownDir && isIndexFileName(path.posix.basename(rel));
  }

  // --- embed stage -----------------------------------------------------------------------------

  /**
   * Start the embed stage beside the producers. If it fails (the store cannot write: disk full),
   * the producers stop at once and finish() rethrows its error; until then the rejection is
   * handled here, so it never surfaces as an unhandled rejection (which ends a Node process).
   */
  private startEmbedStage(run: Run): Promise<void> {
    const embedding = this.embedStage(run);
    embedding.catch(() => run.fail());
    return embedding;
  }

  /** Embed what the store says is missing until the producers are done and nothing is left. */
  private async embedStage(run: Run): Promise<void> {
    const { store } = this;
    run.pending = await store.pendingCount();
    let cursor = 0;
    const failed = new Set<number>();
    while (!run.signal.aborted) {
      await this.gate(run.signal);
      if (run.signal.aborted) break;
      const doneBefore = !run.producing;
      const writesBefore = run.writes;
      const rows = (await store.missingVectorChunks(this.batchSize * 2, cursor)).filter((r) => !failed.has(r.id));
      if (rows.length === 0) {
        if (doneBefore) break;
        if (run.writes === writesBefore && run.producing && !run.signal.aborted) await run.waitForWork();
        continue;
      }
      // Each distinct text once; a batch holds at most batchSize texts.
      const texts = new Map<string, string>();
      const taken: typeof rows = [];
      for (const r of rows) {
        if (!texts.has(r.contentHash)) {
          if (texts.size >= this.batchSize) break;
          texts.set(r.contentHash, r.embedText);
        }
        taken.push(r);
      }
      cursor = taken[taken.length - 1].id;
      const hashes = [...texts.keys()];
      const vectors = await this.embedTexts(run, hashes.map((h) => texts.get(h)!));
      if (run.signal.aborted) break;
      const out = new Map<string, Float32Array>();
      vectors.forEach((v, i) => v && out.set(hashes[i], v));
      const missed = taken.filter((r) => !out.has(r.contentHash));
      if (missed.length > 0) {
        for (const r of missed) failed.add(r.id);
        const where = await store.chunksByIds(missed.map((r) => r.id));
        for (const c of where) this.warn(run, `${c.path}:${c.startLine}: not embedded: ${vectors.error ?? 'embedder failed'}`);
      }
      await store.putVectors(out);
      run.summary.textsEmbedded += out.size;
      run.summary.chunksEmbedded += taken.length - missed.length;
      this.totals.textsEmbedded += out.size;
      run.pending = await store.pendingCount();
      this.progress(run);
    }
  }

  /** Embed texts; a failed batch is retried one text at a time so one bad text costs only itself. */
  private async embedTexts(run: Run, texts: string[]): Promise<(Float32Array | undefined)[] & { error?: string }> {
    const dim = this.embedder.info.dim;
    const call = async (batch: string[]) => {
      const t0 = performance.now();
      this.totals.embedCalls++;
      try {
        const v = await this.embedder.embed(batch, { kind: 'document', signal: run.signal });
        if (v.length !== batch.length || v.some((x) => x.length !== dim)) throw new Error(`embedder returned ${v.length} vectors of ${v[0]?.length} values for ${batch.length} texts of dim ${dim}`);
        return v;
      } finally {
        run.summary.embedSeconds += (performance.now() - t0) / 1000;
      }
    };
    try {
      return await call(texts);
    } catch (e) {
      if (run.signal.aborted) return [];
      const out: (Float32Array | undefined)[] & { error?: string } = [];
      out.error = errorText(e);
      if (texts.length === 1) return Object.assign([undefined], { error: out.error });
      for (const t of texts) {
        try {
          out.push((await call([t]))[0]);
        } catch (e2) {
          if (run.signal.aborted) return [];
          out.error = errorText(e2);
          out.push(undefined);
        }
      }
      return out;
    }
  }

  /** Wait for the embed stage, then seal the summary (and the store, after a complete refresh). */
  private async finish(run: Run, embedding: Promise<void>, refreshed = false): Promise<RefreshSummary> {
    run.producing = false;
    run.phase = 'embed';
    run.notify();
    this.progress(run, true);
    await embedding;
    const s = run.summary;
    s.cancelled = run.signal.aborted;
    s.chunksPending = await this.store.pendingCount();
    s.chunksPerSecond = s.embedSeconds > 0 ? s.textsEmbedded / s.embedSeconds : 0;
    if (refreshed && !s.cancelled) {
      await this.store.setComplete(true);
      if (s.chunksPending === 0) await this.store.pruneVectors();
    }
    s.complete = !s.cancelled && s.chunksPending === 0 && (await this.store.getMeta('complete')) === '1';
    s.seconds = (Date.now() - run.started) / 1000;
    run.phase = 'done';
    run.pending = s.chunksPending;
    this.progress(run, true);
    return s;
  }

  private progress(run: Run, force = false): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = Date.now();
    if (!force && run.phase === this.lastPhase && now - this.lastProgressAt < this.progressIntervalMs) return;
    this.lastProgressAt = now;
    this.lastPhase = run.phase;
    const s = run.summary;
    cb({
      phase: run.phase,
      filesSeen: s.filesSeen,
      filesIndexed: s.filesIndexed,
      filesSkipped: s.filesSkipped,
      chunks: s.chunks,
      chunksEmbedded: s.chunksEmbedded,
      chunksPending: run.pending,
      ...(run.phase === 'done' && s.cancelled ? { message: 'cancelled' } : {}),
    });
  }

  // --- incremental updates ---------------------------------------------------------------------

  /**
   * Apply file events now (after any job already running): `changed` and `deleted` paths,
   * absolute or relative to the root. Each path is looked at on disk, so a stale event is harmless.
   */
  update(changed: readonly string[], deleted: readonly string[] = [], options: { signal?: AbortSignal } = {}): Promise<RefreshSummary> {
    const paths = [...changed, ...deleted];
    return this.enqueue(() => this.doUpdate(paths, new Run('update', options.signal ?? new AbortController().signal)));
  }

  /**
   * Coalesce file events (absolute or root-relative paths; null means "something changed") and
   * apply them after `debounceMs` of quiet (at most `maxDebounceMs` after the first), serially.
   */
  scheduleUpdate(paths: readonly (string | null)[]): void {
    if (this.scheduled.size === 0 && this.timer === null) this.firstScheduledAt = Date.now();
    for (const p of paths) this.scheduled.add(p === null ? '\0all' : p);
    if (this.timer) clearTimeout(this.timer);
    const debounce = this.options.debounceMs ?? 300;
    const maxWait = this.options.maxDebounceMs ?? 2000;
    const wait = Math.max(0, Math.min(debounce, this.firstScheduledAt + maxWait - Date.now()));
    this.timer = setTimeout(() => this.flushScheduled(), wait);
  }

  private flushScheduled(): void {
    this.timer = null;
    const batch = [...this.scheduled].filter((p) => {
      const rel = p === '\0all' ? '' : this.toRel(p);
      return rel !== null && !this.isOwnPath(rel);
    });
    this.scheduled.clear();
    if (batch.length === 0) return this.checkIdle();
    const job = batch.includes('\0all')
      ? this.enqueue(() => this.doRefresh(new Run('refresh', new AbortController().signal)))
      : this.enqueue(() => this.doUpdate(batch, new Run('update', new AbortController().signal)));
    job.then(
      (s) => this.options.onUpdate?.(s),
      (e) => this.options.onWarning?.(errorText(e)),
    );
  }

  /** Resolves when no event is scheduled and no job runs. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.running === 0 && this.scheduled.size === 0 && this.timer === null;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Drop scheduled events (a running job finishes). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled.clear();
    this.checkIdle();
  }

  private toRel(p: string): string | null {
    const abs = path.resolve(this.root, p);
    const rel = path.relative(this.root, abs);
    if (rel === '') return '';
    if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
    return rel.split(path.sep).join('/');
  }

  private async doUpdate(paths: readonly string[], run: Run): Promise<RefreshSummary> {
    const { store } = this;
    const rels = [...new Set(paths.map((p) => this.toRel(p)).filter((p): p is string => p !== null))]
      .filter((r) => !this.isOwnPath(r) && r !== '.git' && !r.startsWith('.git/'));
    const changed: { rel: string; entry: FileEntry; rec: FileRecord | undefined }[] = [];
    const deleted: string[] = [];
    let needWalk = rels.includes('');
    for (const rel of rels) {
      if (needWalk) break;
      if (IGNORE_FILES.includes(path.posix.basename(rel))) {
        needWalk = true;
        break;
      }
      const abs = path.join(this.root, rel);
      let st: fs.Stats | null = null;
      try {
        st = await fsp.stat(abs);
      } catch {
        st = null; // gone (or a broken link): remove
      }
      if (st === null) {
        deleted.push(rel);
        continue;
      }
      if (await this.underRuleSkippedDir(rel)) continue;
      if (st.isDirectory()) {
        needWalk = true;
        continue;
      }
      const rec = await store.getFile(rel);
      const skipped = rec ? undefined : await store.skippedEntry(rel);
      if (!rec && (!skipped || RULE_REASONS.has(skipped.reason))) {
        if (skipped) continue; // left out by the rules before, and the rules did not change
        needWalk = true; // new to the index: only the walk knows whether the rules admit it
        continue;
      }
      changed.push({ rel, rec, entry: { root: this.root, absPath: abs, relPath: rel, size: st.size, mtimeMs: st.mtimeMs } });
    }
    if (needWalk) return this.doRefresh(new Run('refresh', run.signal));

    run.summary.filesSeen = rels.length;
    const embedding = this.startEmbedStage(run);
    try {
      run.phase = 'chunk';
      // Deletions first: a rename's new path then finds its content among the deleted files.
      const goneHashes = new Map<string, string>();
      for (const rel of deleted) {
        const rec = await store.getFile(rel);
        if (rec) goneHashes.set(rec.hash, rel);
      }
      const renamedTo = new Set<string>();
      for (const c of changed) {
        await this.gate(run.signal);
        if (run.signal.aborted) break;
        if (c.rec && c.rec.size === c.entry.size && c.rec.mtimeMs === c.entry.mtimeMs) {
          run.summary.filesUnchanged++;
          continue;
        }
        const read = await readEntry(c.entry, this.walkOptions);
        const from = !c.rec && read.type === 'text' ? goneHashes.get(read.hash) : undefined;
        if (from !== undefined && !renamedTo.has(from) && (await store.renameFile(from, c.rel, { size: c.entry.size, mtimeMs: c.entry.mtimeMs }))) {
          renamedTo.add(from);
          run.summary.filesRenamed++;
        } else {
          const r = await this.processEntry(run, c.entry, c.rec, null, read);
          if (r !== 'skipped') await store.updateSkipped([], [c.rel]);
        }
        this.progress(run);
      }
      if (!run.signal.aborted) {
        const gone: string[] = [];
        for (const rel of deleted) {
          if (renamedTo.has(rel)) continue;
          gone.push(rel, ...(await store.filesUnder(rel)));
        }
        run.summary.filesDeleted += await store.deleteFiles(gone);
        await store.updateSkipped([], [...deleted, ...(await Promise.all(deleted.map((d) => store.skippedUnder(d)))).flat()]);
      }
      return await this.finish(run, embedding);
    } catch (e) {
      run.fail();
      await embedding.catch(() => undefined);
      throw e;
    }
  }

  /** True when a folder above `rel` was left out by the rules (ignored, excluded or hidden). */
  private async underRuleSkippedDir(rel: string): Promise<boolean> {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const s = await this.store.skippedEntry(parts.slice(0, i).join('/'));
      if (s && RULE_REASONS.has(s.reason)) return true;
    }
    return false;
  }
}

function toRecord(s: SkippedFile): SkippedRecord {
  return s.detail === undefined ? { path: s.relPath, reason: s.reason } : { path: s.relPath, reason: s.reason, detail: s.detail };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// ---------------------------------------------------------------------------------------------

/** A running watch: close() stops it (scheduled events are dropped). */
export interface Watch {
  close(): void;
}

/**
 * Watch the indexer's root (fs.watch, recursive; Linux needs Node ≥ 19.1) and feed every event
 * to `indexer.scheduleUpdate`. Events under .git are dropped here; the rest are sorted out by
 * update(). An error of the watcher itself is reported and ends the watch.
 */
export function watchRoot(indexer: Indexer, onError: (e: Error) => void): Watch {
  const watcher = fs.watch(indexer.root, { recursive: true, persistent: true }, (_event, filename) => {
    if (filename === null) {
      indexer.scheduleUpdate([null]);
      return;
    }
    const rel = String(filename).split(path.sep).join('/');
    if (rel === '.git' || rel.startsWith('.git/')) return;
    indexer.scheduleUpdate([rel]);
  });
  watcher.on('error', (e) => onError(e));
  return {
    close() {
      watcher.close();
      indexer.dispose();
    },
  };
}
