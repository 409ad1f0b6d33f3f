/**
 * A full refresh: reconcile the whole index with the disk (steps 1, 2, 4 and 5 of the algorithm
 * in refresh/index.ts; step 3 is the embed stage running beside it).
 */
import type { FileRecord, SkippedRecord } from '../store';
import { FileEntry, readEntry, SkippedFile, walk } from '../walk';
import { Channel } from './channel';
import { finishRun, startEmbedStage } from './embedStage';
import { processEntry } from './fileStage';
import type { Pipeline } from './pipeline';
import { errorText, RefreshSummary, Run, toRecord } from './run';
import { fillStaticTier } from './staticStage';

/** Skipped entries are written in batches of this many. */
const SKIPPED_BATCH = 500;

/** What the walk has seen so far, against what the store knew before it. */
class WalkState {
  readonly seen = new Set<string>();
  /** Rename candidates, decided after the walk. */
  readonly deferred: FileEntry[] = [];
  private readonly byHash = new Map<string, string[]>();
  private readonly skippedBatch: SkippedRecord[] = [];

  constructor(
    private readonly p: Pipeline,
    private readonly run: Run,
    readonly known: Map<string, FileRecord>,
  ) {
    for (const rec of known.values()) {
      const list = this.byHash.get(rec.hash);
      if (list) list.push(rec.path);
      else this.byHash.set(rec.hash, [rec.path]);
    }
  }

  onSkip(s: SkippedFile): void {
    this.p.recordSkip(this.run, s);
    this.skippedBatch.push(toRecord(s));
  }

  get skippedWaiting(): number {
    return this.skippedBatch.length;
  }

  async flushSkipped(force: boolean): Promise<void> {
    if (this.skippedBatch.length >= SKIPPED_BATCH || (force && this.skippedBatch.length > 0)) await this.p.store.updateSkipped(this.skippedBatch.splice(0), []);
  }

  /** A stored file whose content moved: its hash matches and the walk has not seen its path yet. */
  renameCandidate(hash: string): boolean {
    return (this.byHash.get(hash) ?? []).some((path) => !this.seen.has(path));
  }

  /** The stored path `hash` moved from: not seen by the walk, not claimed by another new path. */
  renamedFrom(hash: string, claimed: ReadonlySet<string>): string | undefined {
    return (this.byHash.get(hash) ?? []).find((path) => !this.seen.has(path) && !claimed.has(path));
  }
}

/** Reconcile the index with the disk. Resolves when done or cancelled. */
export async function fullRefresh(p: Pipeline, run: Run): Promise<RefreshSummary> {
  const { store } = p;
  const embedding = startEmbedStage(p, run);
  try {
    await store.setComplete(false);
    await store.replaceSkipped([]);
    // Chunks from before the static tier (or its model's change) become searchable by meaning first.
    await fillStaticTier(p, run);
    const state = new WalkState(p, run, await store.listFiles());
    await walkAndRead(p, run, state);
    if (run.signal.aborted) return await finishRun(p, run, embedding);
    run.phase = 'chunk';
    p.progress(run, true);
    const claimed = await applyRenames(p, run, state);
    if (run.signal.aborted) return await finishRun(p, run, embedding);
    const gone = [...state.known.keys()].filter((path) => !state.seen.has(path) && !claimed.has(path));
    for (let i = 0; i < gone.length; i += SKIPPED_BATCH) run.summary.filesDeleted += await store.deleteFiles(gone.slice(i, i + SKIPPED_BATCH));
    await state.flushSkipped(true);
    await fillStaticTier(p, run); // files whose static vectors failed while they were written
    return await finishRun(p, run, embedding, true);
  } catch (e) {
    run.fail();
    await embedding.catch(() => undefined);
    throw e;
  }
}

/**
 * Step 2: walk the root; a file whose size and mtime equal the stored ones is unchanged, any other
 * goes to `readConcurrency` readers that hash, chunk and write it (rename candidates are deferred).
 */
async function walkAndRead(p: Pipeline, run: Run, state: WalkState): Promise<void> {
  const queue = new Channel<FileEntry>(p.readConcurrency * 4);
  const workers = Array.from({ length: p.readConcurrency }, async () => {
    try {
      for (let entry = await queue.take(); entry !== undefined; entry = await queue.take()) {
        await p.gate(run.signal);
        if (run.signal.aborted) continue; // drain
        const rec = state.known.get(entry.relPath);
        const result = await processEntry(p, run, entry, rec, !rec ? (hash) => state.renameCandidate(hash) : null);
        if (result === 'defer') state.deferred.push(entry);
        else if (result === 'skipped') state.seen.delete(entry.relPath);
        if (state.skippedWaiting >= SKIPPED_BATCH) await state.flushSkipped(false);
        p.progress(run);
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
    for await (const item of walk(p.root, p.walkOptions, run.signal)) {
      await p.gate(run.signal);
      if (item.type === 'skip') {
        if (!p.isOwnPath(item.skipped.relPath)) state.onSkip(item.skipped);
        continue;
      }
      const e = item.entry;
      if (p.isOwnPath(e.relPath)) continue;
      run.summary.filesSeen++;
      state.seen.add(e.relPath);
      const rec = state.known.get(e.relPath);
      if (rec && rec.size === e.size && rec.mtimeMs === e.mtimeMs) {
        run.summary.filesUnchanged++;
      } else {
        await queue.put(e);
      }
      p.progress(run);
    }
  } catch (e) {
    if (!run.signal.aborted) throw new Error(`${p.root}: ${errorText(e)}`, { cause: e });
  } finally {
    queue.close();
    await Promise.all(workers);
  }
}

/**
 * Step 4 (first half): a deferred file whose content belongs to a stored path that is gone and not
 * yet claimed by another new path is a rename (no chunking, no embedding); the rest are indexed.
 * Returns the old paths that were claimed.
 */
async function applyRenames(p: Pipeline, run: Run, state: WalkState): Promise<Set<string>> {
  const claimed = new Set<string>();
  for (const entry of state.deferred) {
    await p.gate(run.signal);
    if (run.signal.aborted) break;
    const read = await readEntry(entry, p.walkOptions);
    const from = read.type === 'text' ? state.renamedFrom(read.hash, claimed) : undefined;
    if (from !== undefined && (await p.store.renameFile(from, entry.relPath, { size: entry.size, mtimeMs: entry.mtimeMs }))) {
      claimed.add(from);
      run.summary.filesRenamed++;
    } else {
      const r = await processEntry(p, run, entry, undefined, null, read);
      if (r === 'skipped') state.seen.delete(entry.relPath);
    }
  }
  return claimed;
}
