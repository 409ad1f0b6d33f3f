/**
 * The index database's schema, its creation and its migration to what the opener asks for (the
 * model and the chunker version).
 *
 * Schema (version SCHEMA_VERSION; version 1 is upgraded in place, any other is rebuilt from scratch):
 *   meta(key, value)          schema_version, chunker_version, model_id, model_fingerprint, dim,
 *                             model_dir (the model folder, to load it again for queries while a
 *                             switch to another model builds a new index beside this one),
 *                             previous_model_fingerprint, static_model_id, static_fingerprint,
 *                             static_dim (the static tier's model), complete ('1' after a full
 *                             refresh ended with every chunk embedded), last_indexed_at (ms since
 *                             the epoch)
 *   files(id, path UNIQUE, size, mtime, hash, indexed_at)
 *                             path relative to the root with '/'; mtime in ms; hash = sha256 (hex)
 *                             of the file's bytes
 *   chunks(id, file_id → files ON DELETE CASCADE, start_line, end_line, language, kind, symbol,
 *          container, text, embed_prefix, embed_text, content_hash, vector_state, static_state)
 *                             lines 1-based inclusive; the text that was embedded is
 *                             `embed_text ?? embed_prefix || text` (stored as a prefix when it is
 *                             header + text, to not keep the text twice); content_hash = first 32 hex
 *                             digits of sha256(embedText); vector_state 1 when `vectors` holds a
 *                             vector for (active model fingerprint, content_hash), else 0;
 *                             static_state the same for the static tier's fingerprint, and 2 when
 *                             the text has no token the static model knows (no vector to hold).
 *                             Ids are AUTOINCREMENT: a deleted chunk's id is never reused.
 *   vectors(id, fingerprint, hash, vector)   UNIQUE(fingerprint, hash); vector = float32
 *                             little-endian, L2-normalised by the embedder; both tiers' vectors
 *                             live here, told apart by their models' fingerprints
 *   skipped(path, reason, detail)            files the last refresh left out, and why
 *   fts                       FTS5, contentless (content='', contentless_delete=1), rowid = chunk id,
 *                             columns (symbol, path, text), tokenizer FTS_TOKENIZER (Porter stems over unicode61).
 *                             Each column holds splitIdentifiers() of: the chunk's symbol; its file
 *                             path; its container and text. A trigger deletes a chunk's row with the
 *                             chunk. Rank with bm25(fts, 3, 1.5, 1) (keywords.ts BM25_WEIGHTS).
 */
import { Db, isCorruption } from './db';
import { OpenReport, StoreError, StoreOptions } from './types';

export const SCHEMA_VERSION = 2;
/**
 * FTS5 tokenizer of the keyword index. Porter stemming lets a natural-language query ("creates",
 * "registers a handler") meet the identifiers it describes (`create`, `register_handler`); it is
 * applied to queries too. Part of the chunker version (refresh/openStore.ts), so a change re-tokenizes
 * every file without embedding anything again.
 */
export const FTS_TOKENIZER = 'porter unicode61 remove_diacritics 2';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  mtime REAL NOT NULL,
  hash TEXT NOT NULL,
  indexed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  start_line INTEGER NOT NULL,
  end_line INTEGER NOT NULL,
  language TEXT NOT NULL,
  kind TEXT NOT NULL,
  symbol TEXT,
  container TEXT,
  text TEXT NOT NULL,
  embed_prefix TEXT,
  embed_text TEXT,
  content_hash TEXT NOT NULL,
  vector_state INTEGER NOT NULL DEFAULT 0,
  static_state INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(content_hash);
CREATE INDEX IF NOT EXISTS chunks_pending ON chunks(id) WHERE vector_state = 0;
CREATE INDEX IF NOT EXISTS chunks_static_pending ON chunks(id) WHERE static_state = 0;
CREATE TABLE IF NOT EXISTS vectors (
  id INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  hash TEXT NOT NULL,
  vector BLOB NOT NULL,
  UNIQUE (fingerprint, hash)
);
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL, detail TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
  symbol, path, text,
  content='', contentless_delete=1,
  tokenize='${FTS_TOKENIZER}'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
  DELETE FROM fts WHERE rowid = old.id;
END;
`;

/** Tables dropped when the chunker changes (vectors and meta stay). */
const CONTENT_TABLES = ['fts', 'chunks', 'files', 'skipped'];

/** Create missing tables. */
export async function createSchema(db: Db): Promise<void> {
  await db.exec(SCHEMA);
}

/** Drop and recreate files, chunks, FTS and skipped; chunk ids keep counting up (never reused). */
export async function dropContent(db: Db): Promise<void> {
  const seq = await db.get<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'chunks'`).catch(() => undefined);
  for (const t of CONTENT_TABLES) await db.exec(`DROP TABLE IF EXISTS ${t}`);
  await createSchema(db);
  if (seq) await db.run(`INSERT INTO sqlite_sequence (name, seq) VALUES ('chunks', ?)`, [seq.seq]);
}

/** Create the schema, or bring an existing database in line with `options`. */
export async function migrate(db: Db, file: string, options: StoreOptions, report: OpenReport): Promise<void> {
  const hasMeta = await db.get(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'`);
  if (hasMeta) {
    const v = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`);
    if (v && Number(v.value) === 1) await upgradeFromVersion1(db);
    else if (!v || Number(v.value) !== SCHEMA_VERSION) {
      // Another layout: rebuild. Drop every object (page_size cannot change on a non-empty file,
      // so it stays as it was; that costs space, not correctness).
      const objects = await db.all<{ type: string; name: string }>(
        `SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'fts_%'`,
      );
      await db.exec('PRAGMA foreign_keys = OFF');
      for (const o of objects) await db.exec(`DROP ${o.type === 'view' ? 'VIEW' : 'TABLE'} IF EXISTS "${o.name.replace(/"/g, '""')}"`);
      await db.exec('PRAGMA foreign_keys = ON');
      report.reset = 'schema';
    }
  }
  await db.exec('BEGIN IMMEDIATE');
  try {
    await createSchema(db);
    await db.run(`INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?), ('complete', '0')`, [String(SCHEMA_VERSION)]);
    const meta = new Map((await db.all<{ key: string; value: string }>('SELECT key, value FROM meta')).map((r) => [r.key, r.value]));
    const setMeta = (key: string, value: string) => db.run('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)', [key, value]);

    if (options.chunkerVersion !== undefined && meta.get('chunker_version') !== options.chunkerVersion) {
      if (meta.has('chunker_version')) {
        // Stale chunks: drop them with their files (so every file is read again); vectors stay.
        await dropContent(db);
        await setMeta('complete', '0');
        report.reset ??= 'chunker';
      }
      await setMeta('chunker_version', options.chunkerVersion);
    }
    if (options.modelFingerprint !== undefined) {
      const was = meta.get('model_fingerprint');
      if (was !== options.modelFingerprint) {
        if (was !== undefined) {
          await setMeta('previous_model_fingerprint', was);
          await setMeta('complete', '0');
          report.modelChanged = { from: was, to: options.modelFingerprint };
        }
        await setMeta('model_fingerprint', options.modelFingerprint);
        await db.run(`UPDATE chunks SET vector_state = EXISTS (SELECT 1 FROM vectors v WHERE v.fingerprint = ? AND v.hash = chunks.content_hash)`, [
          options.modelFingerprint,
        ]);
      }
      if (options.modelId !== undefined) await setMeta('model_id', options.modelId);
      if (options.modelDir !== undefined) await setMeta('model_dir', options.modelDir);
      if (options.dim !== undefined) await setMeta('dim', String(options.dim));
    }
    if (options.staticFingerprint !== undefined) {
      const was = meta.get('static_fingerprint');
      if (was !== options.staticFingerprint) {
        // Only the static tier is redone: its vectors are looked up again under the new model.
        if (was !== undefined) report.staticModelChanged = { from: was, to: options.staticFingerprint };
        await setMeta('static_fingerprint', options.staticFingerprint);
        await db.run(`UPDATE chunks SET static_state = EXISTS (SELECT 1 FROM vectors v WHERE v.fingerprint = ? AND v.hash = chunks.content_hash)`, [
          options.staticFingerprint,
        ]);
      }
      if (options.staticModelId !== undefined) await setMeta('static_model_id', options.staticModelId);
      if (options.staticDim !== undefined) await setMeta('static_dim', String(options.staticDim));
    }
    await db.exec('COMMIT');
  } catch (e) {
    await db.exec('ROLLBACK').catch(() => undefined);
    if (isCorruption(e)) throw e;
    throw new StoreError(file, `cannot prepare the index: ${(e as Error).message}`);
  }
}

/**
 * Version 1 → 2: the static tier's column and its index, added in place, so that an index keeps
 * its chunks and transformer vectors (its static vectors are computed at the next refresh).
 */
async function upgradeFromVersion1(db: Db): Promise<void> {
  await db.exec('BEGIN IMMEDIATE');
  try {
    const columns = await db.all<{ name: string }>(`SELECT name FROM pragma_table_info('chunks')`);
    if (!columns.some((c) => c.name === 'static_state')) await db.exec('ALTER TABLE chunks ADD COLUMN static_state INTEGER NOT NULL DEFAULT 0');
    await db.exec('CREATE INDEX IF NOT EXISTS chunks_static_pending ON chunks(id) WHERE static_state = 0');
    await db.run(`UPDATE meta SET value = ? WHERE key = 'schema_version'`, [String(SCHEMA_VERSION)]);
    await db.exec('COMMIT');
  } catch (e) {
    await db.exec('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
