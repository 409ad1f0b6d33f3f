/**
 * A promise layer over sqlite3's callback API: a connection (Db) with prepared-statement caching,
 * and settleAll for pipelined statements. Only what the store needs.
 */
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';

export type Params = unknown[] | Record<string, unknown>;

/** A prepared statement. Runs of one statement execute in call order. */
export class Stmt {
  constructor(private readonly st: sqlite3.Statement) {}
  run(params: Params = []): Promise<{ lastID: number; changes: number }> {
    return new Promise((resolve, reject) => {
      this.st.run(params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ lastID: this.lastID, changes: this.changes });
      });
    });
  }
  get<T>(params: Params = []): Promise<T | undefined> {
    // get() leaves the statement open on its row; reset it, or the table stays locked for DDL
    // (DROP TABLE fails with SQLITE_LOCKED while a read statement is mid-step).
    return new Promise((resolve, reject) => this.st.get<T>(params, (err, row) => (err ? reject(err) : this.st.reset(() => resolve(row)))));
  }
  all<T>(params: Params = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.st.all<T>(params, (err, rows) => (err ? reject(err) : resolve(rows))));
  }
  finalize(): Promise<void> {
    return new Promise((resolve) => this.st.finalize(() => resolve()));
  }
}

/** A connection. `run`/`get`/`all`/`exec` prepare the SQL each time; hot paths use `stmt()`. */
export class Db {
  private readonly cache = new Map<string, Stmt>();
  private constructor(private readonly db: sqlite3.Database) {}

  /**
   * `immutable`: read-only, with no -wal or -shm file (a WAL database in a folder that cannot
   * hold them cannot be opened otherwise); commits still in an old -wal file are not seen.
   */
  static open(file: string, readonly = false, immutable = false): Promise<Db> {
    return new Promise((resolve, reject) => {
      const mode = immutable ? sqlite3.OPEN_READONLY | sqlite3.OPEN_URI : readonly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
      const name = immutable ? `${pathToFileURL(file).href}?immutable=1` : file;
      const db = new sqlite3.Database(name, mode, (err) => (err ? reject(err) : resolve(new Db(db))));
    });
  }
  configureBusyTimeout(ms: number): void {
    this.db.configure('busyTimeout', ms);
  }
  run(sql: string, params: Params = []): Promise<{ lastID: number; changes: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ lastID: this.lastID, changes: this.changes });
      });
    });
  }
  get<T>(sql: string, params: Params = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row))));
  }
  all<T>(sql: string, params: Params = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all<T>(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
  }
  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }
  /** A cached prepared statement for `sql`. */
  async stmt(sql: string): Promise<Stmt> {
    const hit = this.cache.get(sql);
    if (hit) return hit;
    const st = await new Promise<sqlite3.Statement>((resolve, reject) => {
      const s = this.db.prepare(sql, (err) => (err ? reject(err) : resolve(s)));
    });
    const wrapped = new Stmt(st);
    this.cache.set(sql, wrapped);
    return wrapped;
  }
  async close(): Promise<void> {
    for (const s of this.cache.values()) await s.finalize();
    this.cache.clear();
    await new Promise<void>((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}

/** Run every promise to completion (so none is left in flight), then throw the first error. */
export async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A database the integrity check failed on (set aside and rebuilt, like SQLITE_CORRUPT). */
export class CorruptionError extends Error {}

/** True for errors that say the file is not a sound database. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || e instanceof CorruptionError;
}
