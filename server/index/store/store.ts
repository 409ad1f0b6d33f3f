/**
 * The persistent index of one workspace root: the Store class, all SQL of semsearch over files,
 * chunks, vectors and the skipped list (the schema is schema.ts's, opening open.ts's, keyword
 * ranking keywords.ts's). The refresh stage decides what to write, the search stage what to read.
 *
 * Models: vectors are keyed by (model fingerprint, hash of the embedded text), so vectors of two
 * models are never mixed: every read filters by the active fingerprint. Opening the store with a
 * different fingerprint makes it the active one (meta records the previous one), recomputes
 * vector_state, and keeps the old model's vectors until `pruneVectors()` (which the refresh stage
 * calls only after a complete refresh with the new model), so that switching back soon costs
 * nothing. (A model switch of an index that has vectors does not come here: engine/ builds the
 * new model's index in a second file while this one keeps answering.) Unchanged chunks of a
 * changed file, renamed files and duplicated code reuse vectors because the key is the embedded
 * text, not the location. A different chunker version drops files, chunks and FTS rows (the chunks
 * are stale) but keeps the vectors: identical chunk texts are not embedded again.
 *
 * Concurrency: one connection; every operation runs through one queue, so a transaction never
 * interleaves with other statements. Each write method is one transaction (BEGIN IMMEDIATE …
 * COMMIT): a killed process loses at most the transaction in flight. A second process on the same
 * file waits up to BUSY_TIMEOUT_MS for the write lock (WAL: readers never wait).
 *
 * This file is over 500 lines because it is one class whose methods are each a short statement or
 * transaction: splitting them across files would scatter one table's SQL.
 */
import * as fs from 'node:fs';
import { splitIdentifiers } from '../identifiers';
import { Db, Params, settleAll } from './db';
import { KeywordIndex } from './keywords';
import { openDatabase } from './open';
import { dropContent } from './schema';
import {
  blobToVector,
  VectorTier,
  ChunkInput,
  ChunkVector,
  contentHash,
  FileRecord,
  KeywordFilter,
  KeywordHit,
  OpenReport,
  PendingChunk,
  SkippedRecord,
  StoredChunk,
  StoreError,
  StoreOptions,
  StoreStats,
  vectorToBlob,
} from './types';

/**
 * Fault injection for the reliability suite (test/reliability/), off unless set:
 * SEMSEARCH_TEST_KILL_BEFORE_COMMIT=n makes the n-th write transaction of this process SIGKILL the
 * process after its statements ran and before its COMMIT.
 */
const KILL_BEFORE_COMMIT = Number(process.env.SEMSEARCH_TEST_KILL_BEFORE_COMMIT) || 0;
let writeTransactions = 0;

interface ChunkRow {
  id: number;
  path: string;
  start_line: number;
  end_line: number;
  language: string;
  kind: string;
  symbol: string | null;
  container: string | null;
  text: string;
  content_hash: string;
  vector_state: number;
}

function toStoredChunk(r: ChunkRow): StoredChunk {
  return {
    id: r.id,
    path: r.path,
    startLine: r.start_line,
    endLine: r.end_line,
    language: r.language,
    kind: r.kind,
    symbol: r.symbol,
    container: r.container,
    text: r.text,
    contentHash: r.content_hash,
    hasVector: r.vector_state === 1,
  };
}

const CHUNK_COLUMNS = 'c.id, f.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.container, c.text, c.content_hash, c.vector_state';

export class Store {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly keywords: KeywordIndex;

  private constructor(
    private db: Db,
    readonly file: string,
    readonly opened: OpenReport,
    private fingerprint: string | null,
    private staticFp: string | null,
    readonly readonly: boolean,
  ) {
    this.keywords = new KeywordIndex(db, (fn) => this.serial(fn));
  }

  /** Open (or create) the index database at `file`. Throws StoreError for errors it cannot recover from. */
  static async open(file: string, options: StoreOptions = {}): Promise<Store> {
    const o = await openDatabase(file, options);
    return new Store(o.db, o.file, o.report, o.fingerprint, o.staticFingerprint, o.readonly);
  }

  /** Fingerprint of the model whose vectors this store reads and writes (null: opened without one). */
  get modelFingerprint(): string | null {
    return this.fingerprint;
  }

  /** Fingerprint of the static tier's model (null: the index has no static tier yet). */
  get staticFingerprint(): string | null {
    return this.staticFp;
  }

  // --- plumbing ------------------------------------------------------------------------------

  /** Run `fn` alone on the connection. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(this.file, 'index is closed'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Run `fn` alone, inside one write transaction. */
  private tx<T>(fn: () => Promise<T>): Promise<T> {
    if (this.readonly) return Promise.reject(new StoreError(this.file, 'index opened read-only'));
    return this.serial(async () => {
      await this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        if (KILL_BEFORE_COMMIT && ++writeTransactions === KILL_BEFORE_COMMIT) process.kill(process.pid, 'SIGKILL');
        await this.db.exec('COMMIT');
        return result;
      } catch (e) {
        await this.db.exec('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  private requireModel(): string {
    if (this.fingerprint === null) throw new StoreError(this.file, 'opened without a model; vectors cannot be read or written');
    return this.fingerprint;
  }

  /** The fingerprint and state column of a tier's vectors. */
  private tierOf(tier: VectorTier): { fp: string; column: 'vector_state' | 'static_state' } {
    if (tier === 'transformer') return { fp: this.requireModel(), column: 'vector_state' };
    if (this.staticFp === null) throw new StoreError(this.file, 'opened without a static model; static vectors cannot be read or written');
    return { fp: this.staticFp, column: 'static_state' };
  }

  // --- meta ----------------------------------------------------------------------------------

  async getMeta(key: string): Promise<string | undefined> {
    return this.serial(async () => (await this.db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]))?.value);
  }

  async setMeta(entries: Record<string, string>): Promise<void> {
    await this.tx(async () => {
      const st = await this.db.stmt('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)');
      await settleAll(Object.entries(entries).map(([k, v]) => st.run([k, v])));
    });
  }

  /** Mark the index complete (a full refresh ended) or not, and stamp the time when complete. */
  async setComplete(complete: boolean): Promise<void> {
    const entries: Record<string, string> = { complete: complete ? '1' : '0' };
    if (complete) entries.last_indexed_at = String(Date.now());
    await this.setMeta(entries);
  }

  // --- files ---------------------------------------------------------------------------------

  async getFile(relPath: string): Promise<FileRecord | undefined> {
    return this.serial(async () => {
      const r = await this.db.get<{ path: string; size: number; mtime: number; hash: string; indexed_at: number }>(
        'SELECT path, size, mtime, hash, indexed_at FROM files WHERE path = ?',
        [relPath],
      );
      return r && { path: r.path, size: r.size, mtimeMs: r.mtime, hash: r.hash, indexedAt: r.indexed_at };
    });
  }

  /** Every file of the index, by path (≈ 150 bytes each: 200k files ≈ 30 MB). */
  async listFiles(): Promise<Map<string, FileRecord>> {
    const out = new Map<string, FileRecord>();
    let after = 0;
    for (;;) {
      const rows = await this.serial(() =>
        this.db.all<{ id: number; path: string; size: number; mtime: number; hash: string; indexed_at: number }>(
          'SELECT id, path, size, mtime, hash, indexed_at FROM files WHERE id > ? ORDER BY id LIMIT 10000',
          [after],
        ),
      );
      for (const r of rows) out.set(r.path, { path: r.path, size: r.size, mtimeMs: r.mtime, hash: r.hash, indexedAt: r.indexed_at });
      if (rows.length < 10000) return out;
      after = rows[rows.length - 1].id;
    }
  }

  /** Indexed paths below folder `dir` (not `dir` itself). '0' follows '/' in code point order. */
  async filesUnder(dir: string): Promise<string[]> {
    return this.serial(async () =>
      (await this.db.all<{ path: string }>('SELECT path FROM files WHERE path > ? AND path < ?', [`${dir}/`, `${dir}0`])).map((r) => r.path),
    );
  }

  /** Paths of indexed files whose content hash is `hash`. */
  async filesWithHash(hash: string): Promise<string[]> {
    return this.serial(async () => (await this.db.all<{ path: string }>('SELECT path FROM files WHERE hash = ?', [hash])).map((r) => r.path));
  }

  /**
   * Replace the chunks of `file` (creating the file record if new) in one transaction; FTS rows
   * follow. `vectors` (transformer, by content hash) are stored too, and `staticVectors` (by
   * content hash; null for a text without known tokens), so that the static tier covers the file
   * from this commit on. Returns the new chunk ids (in input order) and how many of the chunks still
   * lack a vector of the active model.
   */
  async replaceFileChunks(
    file: { path: string; size: number; mtimeMs: number; hash: string },
    chunks: readonly ChunkInput[],
    vectors?: ReadonlyMap<string, Float32Array>,
    staticVectors?: ReadonlyMap<string, Float32Array | null>,
  ): Promise<{ chunkIds: number[]; pending: number }> {
    const hashes = chunks.map((c) => contentHash(c.embedText));
    const fts = chunks.map((c) => ({
      symbol: c.symbol ? splitIdentifiers(c.symbol) : '',
      path: splitIdentifiers(file.path),
      text: splitIdentifiers(c.container ? `${c.container}\n${c.text}` : c.text),
    }));
    return this.tx(async () => {
      const fp = this.fingerprint;
      if (vectors && vectors.size > 0) await this.writeVectors(this.requireModel(), 'vector_state', vectors);
      if (staticVectors && staticVectors.size > 0) await this.writeVectors(this.tierOf('static').fp, 'static_state', staticVectors, true);
      const fileId = await this.upsertFile(file);
      await this.db.run('DELETE FROM chunks WHERE file_id = ?', [fileId]);
      // Ids are assigned here (we hold the write lock) so that chunk and FTS inserts can be
      // pipelined as two independent statements.
      const seq = await this.db.get<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'chunks'`);
      const first = (seq?.seq ?? 0) + 1;
      const have = await this.storedHashes(fp, hashes);
      // Static vectors already stored (unchanged chunks; texts shared with other files) count as given.
      const haveStatic = await this.storedHashes(this.staticFp, hashes);
      const insChunk = await this.db.stmt(
        `INSERT INTO chunks (id, file_id, start_line, end_line, language, kind, symbol, container, text, embed_prefix, embed_text, content_hash, vector_state, static_state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insFts = await this.db.stmt('INSERT INTO fts (rowid, symbol, path, text) VALUES (?, ?, ?, ?)');
      const ops: Promise<unknown>[] = [];
      let pending = 0;
      chunks.forEach((c, i) => {
        const id = first + i;
        const asPrefix = c.embedText.endsWith(c.text);
        const state = have.has(hashes[i]) ? 1 : 0;
        if (!state) pending++;
        const s = staticVectors?.get(hashes[i]);
        const staticState = haveStatic.has(hashes[i]) ? 1 : s === undefined ? 0 : s === null ? 2 : 1;
        ops.push(
          insChunk.run([
            id,
            fileId,
            c.startLine,
            c.endLine,
            c.language,
            c.kind,
            c.symbol ?? null,
            c.container ?? null,
            c.text,
            asPrefix ? c.embedText.slice(0, c.embedText.length - c.text.length) : null,
            asPrefix ? null : c.embedText,
            hashes[i],
            state,
            staticState,
          ]),
          insFts.run([id, fts[i].symbol, fts[i].path, fts[i].text]),
        );
      });
      await settleAll(ops);
      return { chunkIds: chunks.map((_, i) => first + i), pending };
    });
  }

  private async upsertFile(file: { path: string; size: number; mtimeMs: number; hash: string }): Promise<number> {
    const now = Date.now();
    const existing = await this.db.get<{ id: number }>('SELECT id FROM files WHERE path = ?', [file.path]);
    if (existing) {
      await this.db.run('UPDATE files SET size = ?, mtime = ?, hash = ?, indexed_at = ? WHERE id = ?', [file.size, file.mtimeMs, file.hash, now, existing.id]);
      return existing.id;
    }
    return (
      await this.db.run('INSERT INTO files (path, size, mtime, hash, indexed_at) VALUES (?, ?, ?, ?, ?)', [file.path, file.size, file.mtimeMs, file.hash, now])
    ).lastID;
  }

  /** Record a new size/mtime for a file whose content hash did not change. */
  async touchFile(relPath: string, size: number, mtimeMs: number): Promise<boolean> {
    return this.tx(async () => (await this.db.run('UPDATE files SET size = ?, mtime = ? WHERE path = ?', [size, mtimeMs, relPath])).changes > 0);
  }

  /** Delete files with their chunks and FTS rows (vectors stay for reuse until pruneVectors). Returns how many existed. */
  async deleteFiles(paths: readonly string[]): Promise<number> {
    if (paths.length === 0) return 0;
    return this.tx(async () => {
      const st = await this.db.stmt('DELETE FROM files WHERE path = ?');
      let n = 0;
      for (const p of paths) n += (await st.run([p])).changes;
      return n;
    });
  }

  async deleteFile(relPath: string): Promise<boolean> {
    return (await this.deleteFiles([relPath])) > 0;
  }

  /**
   * Move a file's record and chunks to a new path (same content): nothing is chunked or embedded
   * again. The chunks keep the vectors of their embedded text, which named the old path in its
   * header if the chunker writes one. An existing record at `to` is replaced. False if `from` is unknown.
   */
  async renameFile(from: string, to: string, stat?: { size: number; mtimeMs: number }): Promise<boolean> {
    return this.tx(async () => {
      const src = await this.db.get<{ id: number }>('SELECT id FROM files WHERE path = ?', [from]);
      if (!src) return false;
      if (from === to) return true;
      await this.db.run('DELETE FROM files WHERE path = ?', [to]);
      await this.db.run('UPDATE files SET path = ? WHERE id = ?', [to, src.id]);
      if (stat) await this.db.run('UPDATE files SET size = ?, mtime = ? WHERE id = ?', [stat.size, stat.mtimeMs, src.id]);
      const rows = await this.db.all<{ id: number; symbol: string | null; container: string | null; text: string }>(
        'SELECT id, symbol, container, text FROM chunks WHERE file_id = ?',
        [src.id],
      );
      const del = await this.db.stmt('DELETE FROM fts WHERE rowid = ?');
      const ins = await this.db.stmt('INSERT INTO fts (rowid, symbol, path, text) VALUES (?, ?, ?, ?)');
      const p = splitIdentifiers(to);
      for (const r of rows) {
        await del.run([r.id]);
        await ins.run([r.id, r.symbol ? splitIdentifiers(r.symbol) : '', p, splitIdentifiers(r.container ? `${r.container}\n${r.text}` : r.text)]);
      }
      return true;
    });
  }

  // --- skipped files -------------------------------------------------------------------------

  /** Replace the list of skipped files (after a full refresh). */
  async replaceSkipped(skipped: readonly SkippedRecord[]): Promise<void> {
    await this.tx(async () => {
      await this.db.run('DELETE FROM skipped');
      const st = await this.db.stmt('INSERT OR REPLACE INTO skipped (path, reason, detail) VALUES (?, ?, ?)');
      await settleAll(skipped.map((s) => st.run([s.path, s.reason, s.detail ?? null])));
    });
  }

  /** Add or remove entries of the skipped list (incremental updates). */
  async updateSkipped(add: readonly SkippedRecord[], remove: readonly string[]): Promise<void> {
    if (add.length === 0 && remove.length === 0) return;
    await this.tx(async () => {
      const del = await this.db.stmt('DELETE FROM skipped WHERE path = ?');
      await settleAll(remove.map((p) => del.run([p])));
      const ins = await this.db.stmt('INSERT OR REPLACE INTO skipped (path, reason, detail) VALUES (?, ?, ?)');
      await settleAll(add.map((s) => ins.run([s.path, s.reason, s.detail ?? null])));
    });
  }

  /** The skipped entry of one path, if the last walk or update left it out. */
  async skippedEntry(relPath: string): Promise<SkippedRecord | undefined> {
    return this.serial(async () => {
      const r = await this.db.get<{ path: string; reason: string; detail: string | null }>('SELECT path, reason, detail FROM skipped WHERE path = ?', [
        relPath,
      ]);
      return r && (r.detail === null ? { path: r.path, reason: r.reason } : { path: r.path, reason: r.reason, detail: r.detail });
    });
  }

  /** Skipped paths below folder `dir` (not `dir` itself). */
  async skippedUnder(dir: string): Promise<string[]> {
    return this.serial(async () =>
      (await this.db.all<{ path: string }>('SELECT path FROM skipped WHERE path > ? AND path < ?', [`${dir}/`, `${dir}0`])).map((r) => r.path),
    );
  }

  async listSkipped(limit = 1000): Promise<SkippedRecord[]> {
    return this.serial(async () =>
      (
        await this.db.all<{ path: string; reason: string; detail: string | null }>('SELECT path, reason, detail FROM skipped ORDER BY path LIMIT ?', [limit])
      ).map((r) => (r.detail === null ? { path: r.path, reason: r.reason } : { path: r.path, reason: r.reason, detail: r.detail })),
    );
  }

  // --- vectors -------------------------------------------------------------------------------
  // Two tiers: 'transformer' (the active model's vectors, filled in behind the chunks) and 'static'
  // (the static model's, written with the chunks). Methods take the tier; the default is the transformer.

  /**
   * Chunks lacking a vector of the tier, oldest first, at most `limit`, with ids above
   * `afterId`. Several chunks may share a content hash (embed it once).
   */
  async missingVectorChunks(limit: number, afterId = 0, tier: VectorTier = 'transformer'): Promise<PendingChunk[]> {
    const { column } = this.tierOf(tier);
    return this.serial(async () => {
      const rows = await this.db.all<{ id: number; content_hash: string; text: string; embed_prefix: string | null; embed_text: string | null }>(
        `SELECT id, content_hash, text, embed_prefix, embed_text FROM chunks WHERE ${column} = 0 AND id > ? ORDER BY id LIMIT ?`,
        [afterId, limit],
      );
      return rows.map((r) => ({ id: r.id, contentHash: r.content_hash, embedText: r.embed_text ?? (r.embed_prefix ?? '') + r.text }));
    });
  }

  /** Number of chunks lacking a vector of the tier (0 for a tier the store has no model for). */
  async pendingCount(tier: VectorTier = 'transformer'): Promise<number> {
    const column = tier === 'transformer' ? 'vector_state' : 'static_state';
    return this.serial(async () => (await this.db.get<{ n: number }>(`SELECT count(*) AS n FROM chunks WHERE ${column} = 0`))!.n);
  }

  /**
   * Chunk id → content hash of every chunk that has a vector of the tier: what the search stage's
   * resident matrix should hold. Ids and hashes only (the vectors are read on demand).
   */
  async vectorChunkHashes(tier: VectorTier = 'transformer'): Promise<Map<number, string>> {
    const column = tier === 'transformer' ? 'vector_state' : 'static_state';
    return this.serial(async () => {
      const rows = await this.db.all<{ id: number; content_hash: string }>(`SELECT id, content_hash FROM chunks WHERE ${column} = 1`);
      return new Map(rows.map((r) => [r.id, r.content_hash]));
    });
  }

  /**
   * Store vectors of the tier (by content hash) in one transaction; marks their chunks. A null
   * static vector marks its chunks as done with no vector (a text without known tokens).
   */
  async putVectors(vectors: ReadonlyMap<string, Float32Array | null>, tier: VectorTier = 'transformer'): Promise<void> {
    if (vectors.size === 0) return;
    const { fp, column } = this.tierOf(tier);
    await this.tx(() => this.writeVectors(fp, column, vectors, tier === 'static'));
  }

  private async writeVectors(
    fp: string,
    column: 'vector_state' | 'static_state',
    vectors: ReadonlyMap<string, Float32Array | null>,
    keepExisting = false,
  ): Promise<void> {
    // A static vector is a pure function of the text: an existing one is kept as it is.
    const ins = await this.db.stmt(`INSERT OR ${keepExisting ? 'IGNORE' : 'REPLACE'} INTO vectors (fingerprint, hash, vector) VALUES (?, ?, ?)`);
    const mark = await this.db.stmt(`UPDATE chunks SET ${column} = ? WHERE content_hash = ? AND ${column} = 0`);
    const ops: Promise<unknown>[] = [];
    for (const [hash, v] of vectors) {
      if (v) ops.push(ins.run([fp, hash, vectorToBlob(v)]));
      ops.push(mark.run([v ? 1 : 2, hash]));
    }
    await settleAll(ops);
  }

  /** The subset of `hashes` that has a vector of the tier's model (the active transformer's by default). */
  async hasVectors(hashes: readonly string[], tier: VectorTier = 'transformer'): Promise<Set<string>> {
    const fp = tier === 'transformer' ? this.requireModel() : this.tierOf('static').fp;
    return this.serial(() => this.storedHashes(fp, hashes));
  }

  /** The subset of `hashes` stored under fingerprint `fp` (none for a null fp). Runs inside serial() or tx(). */
  private async storedHashes(fp: string | null, hashes: readonly string[]): Promise<Set<string>> {
    const have = new Set<string>();
    if (fp === null || hashes.length === 0) return have;
    const st = await this.db.stmt('SELECT 1 AS x FROM vectors WHERE fingerprint = ? AND hash = ?');
    const found = await settleAll(hashes.map((h) => st.get<{ x: number }>([fp, h])));
    found.forEach((f, i) => f && have.add(hashes[i]));
    return have;
  }

  /**
   * Copy the vectors stored under `fingerprint` from another index file, keeping those already
   * here. A model switch's new index takes the static tier's vectors of the serving index this way,
   * so that changing the transformer re-does only the transformer tier. Returns the rows copied.
   */
  async copyVectorsFrom(file: string, fingerprint: string): Promise<number> {
    return this.serial(async () => {
      await this.db.run('ATTACH DATABASE ? AS source', [file]);
      try {
        const r = await this.db.run(
          'INSERT OR IGNORE INTO vectors (fingerprint, hash, vector) SELECT fingerprint, hash, vector FROM source.vectors WHERE fingerprint = ?',
          [fingerprint],
        );
        return r.changes;
      } finally {
        await this.db.run('DETACH DATABASE source');
      }
    });
  }

  /** Vectors of the active model (or of `fingerprint`, e.g. the static tier's) for the given content hashes. */
  async vectorsByHash(hashes: readonly string[], fingerprint?: string): Promise<Map<string, Float32Array>> {
    const fp = fingerprint ?? this.requireModel();
    return this.serial(async () => {
      const st = await this.db.stmt('SELECT vector FROM vectors WHERE fingerprint = ? AND hash = ?');
      const rows = await settleAll(hashes.map((h) => st.get<{ vector: Buffer }>([fp, h])));
      const out = new Map<string, Float32Array>();
      rows.forEach((r, i) => r && out.set(hashes[i], blobToVector(r.vector)));
      return out;
    });
  }

  /**
   * Every chunk that has a vector of the active model (or of `fingerprint`), with that vector, in
   * pages of `pageSize` ordered by chunk id. Each page is one query, so writers can run between
   * pages; a chunk written meanwhile may or may not appear. Chunks sharing a text share a vector
   * (each gets its own copy here).
   */
  async *chunkVectors(options: { pageSize?: number; fingerprint?: string; afterId?: number } = {}): AsyncGenerator<ChunkVector[]> {
    const fp = options.fingerprint ?? this.requireModel();
    const pageSize = options.pageSize ?? 4096;
    let after = options.afterId ?? 0;
    for (;;) {
      const rows = await this.serial(() =>
        this.db.all<{ id: number; content_hash: string; vector: Buffer }>(
          `SELECT c.id, c.content_hash, v.vector FROM chunks c JOIN vectors v ON v.fingerprint = ? AND v.hash = c.content_hash
           WHERE c.id > ? ORDER BY c.id LIMIT ?`,
          [fp, after, pageSize],
        ),
      );
      if (rows.length === 0) return;
      yield rows.map((r) => ({ chunkId: r.id, contentHash: r.content_hash, vector: blobToVector(r.vector) }));
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1].id;
    }
  }

  /**
   * Delete vectors nobody needs: those of other models, and those of the active model whose text
   * no chunk has any more. Call after a complete refresh. Returns the number deleted.
   */
  async pruneVectors(): Promise<number> {
    const fp = this.requireModel();
    return this.tx(async () => {
      const a = await this.db.run('DELETE FROM vectors WHERE fingerprint <> ? AND fingerprint <> ?', [fp, this.staticFp ?? fp]);
      const b = await this.db.run('DELETE FROM vectors WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.content_hash = vectors.hash)');
      await this.db.run(`DELETE FROM meta WHERE key = 'previous_model_fingerprint'`);
      return a.changes + b.changes;
    });
  }

  // --- reading chunks ------------------------------------------------------------------------

  /** Chunks by id, in the order of `ids` (unknown ids are left out). */
  async chunksByIds(ids: readonly number[]): Promise<StoredChunk[]> {
    if (ids.length === 0) return [];
    return this.serial(async () => {
      const byId = new Map<number, StoredChunk>();
      for (let i = 0; i < ids.length; i += 500) {
        const part = ids.slice(i, i + 500);
        const rows = await this.db.all<ChunkRow>(
          `SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN (${part.map(() => '?').join(',')})`,
          part,
        );
        for (const r of rows) byId.set(r.id, toStoredChunk(r));
      }
      return ids.flatMap((id) => byId.get(id) ?? []);
    });
  }

  /** Chunks of one file, by start line. */
  async chunksOfFile(relPath: string): Promise<StoredChunk[]> {
    return this.serial(async () =>
      (
        await this.db.all<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.start_line, c.id`, [
          relPath,
        ])
      ).map(toStoredChunk),
    );
  }

  /** The embedded text of a chunk (what its vector was computed from). */
  async embedTextOf(chunkId: number): Promise<string | undefined> {
    return this.serial(async () => {
      const r = await this.db.get<{ text: string; embed_prefix: string | null; embed_text: string | null }>(
        'SELECT text, embed_prefix, embed_text FROM chunks WHERE id = ?',
        [chunkId],
      );
      return r && (r.embed_text ?? (r.embed_prefix ?? '') + r.text);
    });
  }

  /**
   * For each of `words`, how many chunks hold it as the keyword index sees it, in order, and how
   * many chunks there are in all (keywords.ts).
   */
  documentFrequencies(words: readonly string[]): Promise<{ counts: number[]; total: number }> {
    return this.keywords.documentFrequencies(words);
  }

  /** How many chunks the index holds (for a query planner; remembered while the index is unchanged). */
  chunkTotal(): Promise<number> {
    return this.keywords.chunkTotal();
  }

  /** BM25 top-`limit` for an FTS5 MATCH expression, best first (keywords.ts). */
  keywordSearch(match: string, limit: number, filter: KeywordFilter = {}): Promise<KeywordHit[]> {
    return this.keywords.keywordSearch(match, limit, filter);
  }

  // --- state ---------------------------------------------------------------------------------

  async stats(): Promise<StoreStats> {
    return this.serial(async () => {
      const meta = new Map((await this.db.all<{ key: string; value: string }>('SELECT key, value FROM meta')).map((r) => [r.key, r.value]));
      const n = async (sql: string, params: Params = []) => (await this.db.get<{ n: number }>(sql, params))?.n ?? 0;
      const files = await n('SELECT count(*) AS n FROM files');
      const chunks = await n('SELECT count(*) AS n FROM chunks');
      const pending = await n('SELECT count(*) AS n FROM chunks WHERE vector_state = 0');
      const fp = meta.get('model_fingerprint') ?? null;
      const vectors = fp === null ? 0 : await n('SELECT count(*) AS n FROM vectors WHERE fingerprint = ?', [fp]);
      const skippedRows = await this.db.all<{ reason: string; n: number }>('SELECT reason, count(*) AS n FROM skipped GROUP BY reason ORDER BY reason');
      const complete = meta.get('complete') === '1';
      const staticFp = meta.get('static_fingerprint') ?? null;
      const staticPending = staticFp === null ? chunks : await n('SELECT count(*) AS n FROM chunks WHERE static_state = 0');
      let bytes = 0;
      try {
        bytes = fs.statSync(this.file).size;
      } catch {
        /* gone: 0 */
      }
      return {
        files,
        chunks,
        chunksWithVectors: chunks - pending,
        vectors,
        partial: !complete || pending > 0,
        complete,
        lastIndexedAt: meta.has('last_indexed_at') ? Number(meta.get('last_indexed_at')) : null,
        model: fp === null ? null : { id: meta.get('model_id') ?? '', fingerprint: fp, dim: Number(meta.get('dim') ?? 0), dir: meta.get('model_dir') ?? null },
        staticTier:
          staticFp === null
            ? null
            : {
                id: meta.get('static_model_id') ?? '',
                fingerprint: staticFp,
                dim: Number(meta.get('static_dim') ?? 0),
                chunksDone: chunks - staticPending,
                pending: staticPending,
              },
        chunkerVersion: meta.get('chunker_version') ?? null,
        skippedByReason: Object.fromEntries(skippedRows.map((r) => [r.reason, r.n])),
        bytes,
      };
    });
  }

  /** Drop all files and chunks (and vectors too when `vectors`), for a rebuild from scratch. */
  async clear(options: { vectors?: boolean } = {}): Promise<void> {
    await this.tx(async () => {
      await dropContent(this.db);
      if (options.vectors) await this.db.exec('DELETE FROM vectors');
      await this.db.run(`INSERT OR REPLACE INTO meta(key, value) VALUES ('complete', '0')`);
    });
  }

  /** Checkpoint the WAL and close. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => {
      if (!this.readonly) await this.db.exec('PRAGMA optimize').catch(() => undefined);
    }).catch(() => undefined);
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.db.close();
  }
}
