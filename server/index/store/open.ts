/**
 * Opening an index database: WAL and pragmas, the integrity check, the read-only fallback for
 * storage that cannot be written, and recovery from corruption (the damaged file is set aside as
 * `index.sqlite.corrupt-<time>` with its -wal/-shm, and a fresh index is created).
 *
 * Corruption: on open, `PRAGMA quick_check` runs (unless `check: false`); a file SQLite cannot read
 * as a database, or one that fails the check, is set aside and `store.opened.recovered` says so.
 *
 * Read-only storage: an index whose folder or file is not writable (a read-only mount, another
 * user's files) is opened read-only, so it still answers searches; `store.opened.readOnly` says
 * why, and every write rejects. Where SQLite cannot create the WAL's -shm file there, the file is
 * read as immutable (commits left in an old -wal file are then not seen).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptionError, Db, isCorruption } from './db';
import { migrate } from './schema';
import { OpenReport, StoreError, StoreOptions } from './types';

export const BUSY_TIMEOUT_MS = 10_000;

/** A connection ready for the store, and what opening it found. */
export interface OpenedDatabase {
  db: Db;
  file: string;
  report: OpenReport;
  /** The active model's fingerprint as meta records it (null: none yet). */
  fingerprint: string | null;
  /** The static tier's model's fingerprint as meta records it (null: none yet). */
  staticFingerprint: string | null;
  readonly: boolean;
}

/**
 * Open (or create) the index database at `file`: read-only where it cannot be written, recovered
 * (set aside and created anew) when corrupt, migrated to `options`. Throws StoreError otherwise.
 */
export async function openDatabase(file: string, options: StoreOptions): Promise<OpenedDatabase> {
  file = path.resolve(file);
  let readonly = options.readonly ?? false;
  const report: OpenReport = { created: !fs.existsSync(file) };
  if (!readonly) {
    const notWritable = unwritable(file);
    if (notWritable !== null) {
      if (report.created) throw new StoreError(file, `cannot create the index: ${notWritable}`);
      readonly = true;
      report.readOnly = notWritable;
    }
  }
  if (readonly && !fs.existsSync(file)) throw new StoreError(file, 'no index here');
  let db: Db | undefined;
  try {
    db = await connect(file, readonly, options.check ?? true);
    if (!readonly) await migrate(db, file, options, report);
  } catch (e) {
    await db?.close().catch(() => undefined);
    if (readonly || !isCorruption(e)) throw new StoreError(file, (e as Error).message, { cause: e });
    const movedTo = `${file}.corrupt-${timeStamp()}`;
    fs.renameSync(file, movedTo);
    for (const suffix of ['-wal', '-shm']) {
      if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, movedTo + suffix);
    }
    report.created = true;
    report.recovered = { movedTo, reason: (e as Error).message };
    db = await connect(file, false, false);
    try {
      await migrate(db, file, options, report);
    } catch (e2) {
      await db.close().catch(() => undefined);
      throw e2;
    }
  }
  const meta = async (key: string) => (await db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]).catch(() => undefined))?.value ?? null;
  return { db, file, report, fingerprint: await meta('model_fingerprint'), staticFingerprint: await meta('static_fingerprint'), readonly };
}

async function connect(file: string, readonly: boolean, check: boolean): Promise<Db> {
  try {
    return await connectOnce(file, readonly, check, false);
  } catch (e) {
    // A WAL database needs its -shm file, which a read-only folder may neither hold nor let
    // SQLite create: read the file as it is.
    if (!readonly || (e as { code?: string }).code !== 'SQLITE_CANTOPEN') throw e;
    return connectOnce(file, readonly, check, true);
  }
}

async function connectOnce(file: string, readonly: boolean, check: boolean, immutable: boolean): Promise<Db> {
  const db = await Db.open(file, readonly, immutable);
  try {
    db.configureBusyTimeout(BUSY_TIMEOUT_MS);
    if (!readonly) {
      // page_size applies only before the first table is created (1.5 KB vectors fit 8 KB pages better).
      await db.exec('PRAGMA page_size = 8192');
      await db.get('PRAGMA journal_mode = WAL');
      await db.exec('PRAGMA synchronous = NORMAL');
    }
    await db.exec('PRAGMA foreign_keys = ON');
    if (check) {
      const rows = await db.all<{ quick_check: string }>('PRAGMA quick_check');
      if (rows.length !== 1 || rows[0].quick_check !== 'ok') {
        throw new CorruptionError(
          `integrity check failed: ${rows
            .slice(0, 3)
            .map((r) => r.quick_check)
            .join('; ')}`,
        );
      }
    } else {
      await db.get('SELECT count(*) FROM sqlite_schema'); // reading the header catches "not a database"
    }
    return db;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Why the index at `file` cannot be written (its folder cannot be created or written, or the file
 * is read-only), as `path: reason`; null when it can.
 */
function unwritable(file: string): string | null {
  const dir = path.dirname(file);
  const check = (p: string): string | null => {
    try {
      fs.accessSync(p, fs.constants.W_OK);
      return null;
    } catch (e) {
      return `${p}: ${(e as NodeJS.ErrnoException).code === 'EROFS' ? 'read-only file system' : 'not writable'}`;
    }
  };
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    // Name the folder that refused (a recursive mkdir reports ENOENT for a read-only parent).
    let existing = path.dirname(dir);
    while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
    return check(existing) ?? `${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  for (const p of fs.existsSync(file) ? [dir, file] : [dir]) {
    const problem = check(p);
    if (problem) return problem;
  }
  return null;
}

function timeStamp(d = new Date()): string {
  return d.toISOString().replace(/[:.]/g, '-');
}
