/** The file stage: read, hash, chunk and write one file (its chunks and keyword rows in one transaction). */
import type { Chunk } from '../chunk';
import type { FileRecord } from '../store';
import { FileEntry, readEntry, ReadResult, SkippedFile } from '../walk';
import type { Pipeline } from './pipeline';
import { errorText, Run, toRecord } from './run';
import { staticVectorsOf } from './staticStage';

/**
 * Read, hash, chunk and write one file. Returns 'skipped' when the file is left out (its old
 * chunks, if any, are deleted), 'defer' for a rename candidate, else 'done'.
 */
export async function processEntry(
  p: Pipeline,
  run: Run,
  entry: FileEntry,
  rec: FileRecord | undefined,
  renameCandidate: ((hash: string) => boolean) | null,
  preRead?: ReadResult,
): Promise<'done' | 'skipped' | 'defer'> {
  const { store } = p;
  const rel = entry.relPath;
  const stages = run.summary.stageSeconds;
  let t = performance.now();
  const read = preRead ?? (await readEntry(entry, p.walkOptions));
  stages.read += (performance.now() - t) / 1000;
  if (read.type === 'skip') {
    p.recordSkip(run, read.skipped);
    await store.updateSkipped([toRecord(read.skipped)], []);
    if (rec && (await store.deleteFile(rel))) run.summary.filesDeleted++;
    return 'skipped';
  }
  if (rec && rec.hash === read.hash) {
    await store.touchFile(rel, entry.size, entry.mtimeMs);
    run.summary.filesUnchanged++;
    return 'done';
  }
  if (!rec && renameCandidate?.(read.hash)) return 'defer';
  let chunks: Chunk[];
  t = performance.now();
  try {
    chunks = await p.chunker.chunk(rel, read.text, p.chunkOptions);
    stages.chunk += (performance.now() - t) / 1000;
  } catch (e) {
    p.warn(run, `${rel}: chunking failed: ${errorText(e)}`);
    const skipped: SkippedFile = { relPath: rel, reason: 'unreadable', detail: `chunking failed: ${errorText(e)}` };
    p.recordSkip(run, skipped);
    await store.updateSkipped([{ ...toRecord(skipped), reason: 'error' }], []);
    if (rec && (await store.deleteFile(rel))) run.summary.filesDeleted++;
    return 'skipped';
  }
  let staticVectors: Map<string, Float32Array | null> | undefined;
  t = performance.now();
  try {
    staticVectors = await staticVectorsOf(
      p,
      run,
      chunks.map((c) => c.embedText),
    );
  } catch (e) {
    // The chunks are written without them; fillStaticTier() tries again at the next refresh.
    p.warn(run, `${rel}: static vectors failed: ${errorText(e)}`);
  }
  stages.static += (performance.now() - t) / 1000;
  t = performance.now();
  const res = await store.replaceFileChunks({ path: rel, size: entry.size, mtimeMs: entry.mtimeMs, hash: read.hash }, chunks, undefined, staticVectors);
  stages.write += (performance.now() - t) / 1000;
  run.summary.filesIndexed++;
  run.summary.chunks += chunks.length;
  p.totals.chunksWritten += chunks.length;
  run.pending += res.pending;
  run.writes++;
  run.notify();
  return 'done';
}
