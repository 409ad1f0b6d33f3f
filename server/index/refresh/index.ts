/**
 * Keeps the index of one workspace root equal to the disk: stat → hash → plan → apply.
 *
 * A full refresh (`Indexer.refresh`, fullRefresh.ts), the algorithm in five steps:
 * 1. Load the store's file list (path → size, mtime, hash).
 * 2. Walk the root (walk.ts). A file whose size and mtime equal the stored ones is unchanged; any
 *    other file is read (readEntry) and hashed. Same hash: only its stat is updated. A new file
 *    whose hash equals that of a stored file that the walk has not (yet) seen is a rename
 *    candidate, decided after the walk. Otherwise the file is chunked and its chunks and FTS rows
 *    are written at once, in one transaction per file (fileStage.ts), so keyword search covers it
 *    immediately.
 * 3. Meanwhile the embed stage (embedStage.ts) takes chunks lacking a vector from the store
 *    (oldest first), embeds each distinct text once, in batches of `embedBatchSize`, and writes
 *    each batch's vectors in one transaction. The store is the queue between the stages: a killed
 *    run loses at most the batch in flight and the next run resumes from what the store says is
 *    missing; memory holds one batch, not the backlog.
 * 4. After the walk: rename candidates whose old path is gone are moved (renameFile: no chunking,
 *    no embedding); stored files the walk did not yield (deleted, now ignored, now skipped) are
 *    deleted with their chunks and FTS rows.
 * 5. When the embed stage has drained: meta `complete` is set and vectors nobody uses (other
 *    models, texts no chunk has any more) are pruned. A cancelled or killed run claims nothing.
 *
 * Incremental updates (`update`, `scheduleUpdate`; update.ts) apply file events between
 * refreshes: events are coalesced for `debounceMs` and processed serially, after any job already
 * running.
 *
 * Failures of one file (unreadable, chunker error, embedding error) are warnings `path: reason`
 * and never stop the run; files left out are counted by reason and listed. Errors of the store
 * itself (disk full, I/O) end the run: they are not about one file.
 */
export type { IndexProgress } from '../../protocol';
export { Indexer } from './indexer';
export type { ChunkerLike, ChunkSizer, EmbedderLike, IndexerOptions, StaticEmbedderLike } from './pipeline';
export { sizerOf } from './pipeline';
export { chunkerVersionFor, openStore } from './openStore';
export type { OpenStoreOptions } from './openStore';
export { MAX_LISTED } from './run';
export type { RefreshSummary } from './run';
export { watchRoot } from './watch';
export type { Watch } from './watch';
