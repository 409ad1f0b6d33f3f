/**
 * What the reliability suite shares: the real sidecar in a child process, spoken to over JSON-RPC
 * as the extension does (node IPC, or stdio); generated workspaces; direct looks into an index
 * database; a seeded random source.
 */
import { ChildProcess, fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';
import {
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node';
import { StatusRequest, StatusResult, StatusNotification, IndexProgress, ProgressNotification } from '../../server/protocol';
import { indexDirFor, INDEX_FILE_NAME } from '../../server/index/store';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';

export { MINILM_DIR, REPO_ROOT };
export const SIDECAR_MODULE = path.join(REPO_ROOT, 'out', 'server', 'front', 'sidecar', 'main.js');

// ---------------------------------------------------------------------------------------------
// Seeded randomness: every fuzz case derives from a printed seed, so a failure reproduces with
// SEMSEARCH_FUZZ_SEED=<seed>.

/** mulberry32: small, fast, and good enough to pick test inputs. */
export class Random {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

/** The seed of this run, one for every test: $SEMSEARCH_FUZZ_SEED, else from the clock (printed at the start). */
export const SEED = process.env.SEMSEARCH_FUZZ_SEED ? Number(process.env.SEMSEARCH_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

export function runSeed(): number {
  return SEED;
}

// ---------------------------------------------------------------------------------------------
// Folders.

const made: string[] = [];

/** A fresh temporary folder, removed by `cleanupFolders()`. */
export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `semsearch-rel-${prefix}-`));
  made.push(d);
  return d;
}

export function cleanupFolders(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Write `files` (relative path → content) under `root`. */
export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

/** A TypeScript file with `n` distinct functions named `<name>Value<i>` (one chunk each). */
export function tsFile(name: string, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      `/** Compute the ${name} value number ${i}. */\nexport function ${name}Value${i}(input: number): number {\n  const scaled = input * ${i + 1};\n  return scaled + ${name.length};\n}\n`,
    );
  }
  return out.join('\n');
}

/** A workspace of `files` TypeScript files with `perFile` functions each: `src/m<i>.ts`, symbols `mod<i>Value<j>`. */
export function makeWorkspace(files: number, perFile: number): string {
  const root = tempDir('ws');
  const content: Record<string, string> = {};
  for (let i = 0; i < files; i++) content[`src/m${i}.ts`] = tsFile(`mod${i}`, perFile);
  writeFiles(root, content);
  return root;
}

// ---------------------------------------------------------------------------------------------
// The index database, read directly (not through the Store under test).

export function indexFileOf(root: string, storageDir: string): string {
  return path.join(indexDirFor(root, storageDir), INDEX_FILE_NAME);
}

/** Run one query on a read-only connection of its own. */
export function rawQuery<T>(file: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all<T>(sql, params, (e, rows) => db.close(() => (e ? reject(e) : resolve(rows))));
    });
  });
}

/** `PRAGMA integrity_check` (the full check, not quick_check): 'ok' or the problems found. */
export async function integrityCheck(file: string): Promise<string> {
  const rows = await rawQuery<{ integrity_check: string }>(file, 'PRAGMA integrity_check');
  return rows.map((r) => r.integrity_check).join('; ');
}

/** What the index holds, comparable across runs: files (path → hash) and vectors per file. */
export interface IndexContent {
  files: Map<string, string>;
  /** path → number of chunks. */
  chunks: Map<string, number>;
  /** path → number of chunks with a vector. */
  embedded: Map<string, number>;
  ftsRows: number;
  chunkRows: number;
}

export async function indexContent(file: string): Promise<IndexContent> {
  const files = await rawQuery<{ path: string; hash: string }>(file, 'SELECT path, hash FROM files');
  const per = await rawQuery<{ path: string; n: number; v: number }>(
    file,
    'SELECT f.path AS path, count(c.id) AS n, coalesce(sum(c.vector_state), 0) AS v FROM files f LEFT JOIN chunks c ON c.file_id = f.id GROUP BY f.path',
  );
  // Contentless FTS5 with contentless_delete: its docsize table holds one row per indexed rowid.
  const [{ n: ftsRows }] = await rawQuery<{ n: number }>(file, 'SELECT count(*) AS n FROM fts_docsize');
  const [{ n: chunkRows }] = await rawQuery<{ n: number }>(file, 'SELECT count(*) AS n FROM chunks');
  return {
    files: new Map(files.map((f) => [f.path, f.hash])),
    chunks: new Map(per.map((p) => [p.path, p.n])),
    embedded: new Map(per.map((p) => [p.path, p.v])),
    ftsRows,
    chunkRows,
  };
}

// ---------------------------------------------------------------------------------------------
// The sidecar.

/** The `semsearch` settings section as the client sends it (nested like package.json's keys). */
export interface SectionSettings {
  model?: string;
  device?: string;
  exclude?: string[];
  maxFileSize?: number;
  indexOnStartup?: boolean;
  search?: { resultCount?: number; defaultMode?: string };
}

export interface SidecarStart {
  roots: string[];
  storageDir: string;
  settings?: SectionSettings;
  env?: NodeJS.ProcessEnv;
  /** 'ipc' as the extension starts it (default), or 'stdio'. */
  transport?: 'ipc' | 'stdio';
}

export interface ShownMessage {
  type: number;
  message: string;
}

/** A running sidecar process and the client end of its connection. */
export class TestSidecar {
  readonly statuses: StatusResult[] = [];
  readonly progress: IndexProgress[] = [];
  /** window/showMessage and window/showMessageRequest, in order. */
  readonly shown: ShownMessage[] = [];
  readonly logs: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: MessageConnection,
  ) {
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        // Requests still waiting fail now, as they do in the client library.
        conn.dispose();
        resolve(this.exitInfo);
      }),
    );
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }
  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Start a sidecar and complete the `initialize` handshake. */
  static async start(opts: SidecarStart): Promise<TestSidecar> {
    const transport = opts.transport ?? 'ipc';
    const settings: SectionSettings = { model: MINILM_DIR, device: 'cpu', ...opts.settings };
    const env = { ...process.env, ...opts.env };
    const proc = fork(SIDECAR_MODULE, [transport === 'ipc' ? '--node-ipc' : '--stdio', `--clientProcessId=${process.pid}`], {
      env,
      execArgv: [],
      stdio: transport === 'ipc' ? ['ignore', 'ignore', 'pipe', 'ipc'] : ['pipe', 'pipe', 'pipe', 'ipc'],
    });
    const conn =
      transport === 'ipc'
        ? createMessageConnection(new IPCMessageReader(proc), new IPCMessageWriter(proc))
        : createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    const sidecar = new TestSidecar(proc, conn);
    conn.onRequest('workspace/configuration', (params: { items: { section?: string }[] }) =>
      params.items.map((item) => (item.section === 'semsearch' ? settings : null)),
    );
    conn.onRequest('window/showMessageRequest', (p: ShownMessage) => {
      sidecar.shown.push({ type: p.type, message: p.message });
      return null;
    });
    conn.onNotification('window/showMessage', (p: ShownMessage) => {
      sidecar.shown.push({ type: p.type, message: p.message });
    });
    conn.onNotification('window/logMessage', (p: { message: string }) => {
      sidecar.logs.push(p.message);
    });
    conn.onRequest('client/registerCapability', () => null);
    conn.onRequest('window/workDoneProgress/create', () => null);
    conn.onNotification(StatusNotification, (s) => {
      sidecar.statuses.push(s);
    });
    conn.onNotification(ProgressNotification, (p) => {
      sidecar.progress.push(p);
    });
    conn.onError(() => undefined);
    conn.listen();
    await withTimeout(
      conn.sendRequest('initialize', {
        processId: process.pid,
        rootUri: null,
        workspaceFolders: opts.roots.map((r) => ({ uri: pathToFileURL(r).href, name: path.basename(r) })),
        capabilities: { workspace: { configuration: true, didChangeWatchedFiles: { dynamicRegistration: false } } },
        initializationOptions: { storageDir: opts.storageDir, extensionDir: REPO_ROOT },
      }),
      30_000,
      'initialize',
    );
    await conn.sendNotification('initialized', {});
    return sidecar;
  }

  /** Send a request; rejects after `timeoutMs` (a hang is a failure, not a stuck suite). */
  request<R>(method: string, params: unknown, timeoutMs = 30_000): Promise<R> {
    return withTimeout(this.conn.sendRequest<R>(method, params), timeoutMs, method);
  }

  status(timeoutMs = 30_000): Promise<StatusResult> {
    return withTimeout(this.conn.sendRequest(StatusRequest, {}), timeoutMs, 'status');
  }

  /** Poll the status until `pred` holds. */
  async waitForStatus(pred: (s: StatusResult) => boolean, timeoutMs = 120_000, what = 'status'): Promise<StatusResult> {
    const end = Date.now() + timeoutMs;
    let last: StatusResult | undefined;
    while (Date.now() < end) {
      if (!this.running) throw new Error(`sidecar exited while waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`);
      last = await this.status();
      if (pred(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; last status ${JSON.stringify(last)}`);
  }

  /** Wait until the sidecar reports ready with every chunk embedded. */
  waitIndexed(timeoutMs = 120_000): Promise<StatusResult> {
    return this.waitForStatus(
      (s) => s.health === 'ok' && !s.partial && s.folders.length > 0 && s.folders.every((f) => f.chunks > 0 && f.chunks === f.chunksWithVectors),
      timeoutMs,
      'a complete index',
    );
  }

  /** SIGKILL the process and wait for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.proc.kill(signal);
    await this.exited;
    this.conn.dispose();
  }

  /** shutdown + exit, as the client does; SIGKILL if it does not leave within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return this.conn.dispose();
    try {
      await this.request('shutdown', undefined, timeoutMs);
      await this.conn.sendNotification('exit');
    } catch {
      // a sidecar that cannot shut down is killed below
    }
    const left = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!left) await this.kill();
    this.conn.dispose();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Whether this process may mount file systems (root with CAP_SYS_ADMIN and a permissive runtime). */
export function canMount(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `mount is Linux-only here (platform ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root' };
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-mount-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
    if (r.error) return { ok: false, reason: `mount: ${r.error.message}` };
    if (r.status !== 0) return { ok: false, reason: `mount refused: ${(r.stderr || '').trim() || `exit ${r.status}`}` };
    spawnSync('umount', [probe]);
    return { ok: true };
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

/** Run a command; throw with its output when it fails. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// One indexed workspace shared by the tests that need a complete index to start from.

export const SHARED_FILES = 60;
export const SHARED_PER_FILE = 4;
let shared: Promise<{ root: string; storageDir: string }> | undefined;

/**
 * A workspace of SHARED_FILES × SHARED_PER_FILE functions and a storage folder holding its
 * complete index (built once per run by a real sidecar, then stopped cleanly). Copy the storage
 * with `copyStorage` before changing it.
 */
export function sharedIndex(): Promise<{ root: string; storageDir: string }> {
  shared ??= (async () => {
    const root = makeWorkspace(SHARED_FILES, SHARED_PER_FILE);
    const storageDir = tempDir('shared-index');
    const sidecar = await TestSidecar.start({ roots: [root], storageDir });
    await sidecar.waitIndexed();
    await sidecar.stop();
    return { root, storageDir };
  })();
  return shared;
}

/** Copy a storage folder into `into` (default: a new temporary folder); returns the copy. */
export function copyStorage(storageDir: string, into = tempDir('storage')): string {
  fs.cpSync(storageDir, into, { recursive: true });
  return into;
}
