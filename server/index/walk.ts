/**
 * Workspace walk: root folder → stream of FileEntry (files worth indexing) and SkippedFile (files
 * and folders left out, each with a reason). Reading a file and deciding whether its bytes are
 * indexable text is `readEntry`; cutting text into chunks is left to chunk/.
 *
 * Rules, in the order they are applied to each directory entry:
 * 1. A `.git` folder is never entered, nor a `.git` file read (whatever the exclude settings say).
 * 2. `exclude` globs (picomatch, relative to the root, dotfiles matched): `DEFAULT_EXCLUDES` (or
 *    `defaultExcludes` when given) plus `options.exclude` → reason 'excluded'.
 * 3. Ignore files, gitignore syntax, at every level: `.gitignore`, then `.semsearchignore` (its rules
 *    come after, so they win at the same level: `!dist/` there re-includes a git-ignored folder),
 *    and `<root>/.git/info/exclude` below them all. Deeper files take precedence over shallower ones,
 *    as in git; a file inside an ignored folder cannot be re-included (the folder is not entered).
 *    .gitignore is honoured whether or not the root is a git repository. → 'ignored'.
 * 4. Hidden folders (name starts with '.', e.g. .cache, .venv, .idea) are not entered unless a
 *    negation rule in an ignore file names them (`!.github/`) or `includeHiddenDirs` is set →
 *    'hidden'. Hidden files (.eslintrc.js, .env.example) are indexed like any other file.
 * 5. Symbolic links are followed when their target stays inside the root (files and folders);
 *    a target outside → 'symlink-outside' (never read), a folder that is its own ancestor →
 *    'symlink-loop', a dangling link → 'symlink-broken'. Followed links keep their own path.
 * 6. FIFOs, sockets and devices → 'special' (never opened: reading a FIFO blocks).
 * 7. Files over `maxFileBytes` (from stat, not read) → 'too-large'.
 *
 * An ignored or excluded folder yields one SkippedFile (relPath without a trailing slash, detail
 * 'directory') and nothing below it. Per-entry errors (EACCES, a file deleted mid-walk) become
 * SkippedFile items; the walk never throws for them. It throws only when the root itself cannot be
 * read, or `signal` aborts (`signal.reason`).
 *
 * Memory: one frame per pending directory (a stack, depth-first); a directory's entries are listed
 * and sorted at once, so the peak is the largest directory plus the pending siblings along one path.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import ignore from 'ignore';
import picomatch from 'picomatch';
import { isInsideRealRoot } from '../common/paths';
import { DEFAULT_SETTINGS } from '../protocol';

/** A file to index: where it is, and the stat facts the refresh stage compares. */
export interface FileEntry {
  /** The root as given to `walk`, resolved to an absolute path. */
  root: string;
  absPath: string;
  /** Relative to root, '/' separators, never starting with './'. */
  relPath: string;
  size: number;
  mtimeMs: number;
}

/** Why a file (or folder) is not indexed. */
export type SkipReason =
  | 'ignored' // matched by .gitignore, .semsearchignore or .git/info/exclude
  | 'excluded' // matched by an exclude glob (defaults or settings), or a .git folder
  | 'hidden' // a dot-folder, not entered
  | 'too-large' // over maxFileBytes
  | 'binary' // NUL byte in the first 8 KiB
  | 'not-utf8' // not valid UTF-8
  | 'minified' // see isMinified()
  | 'symlink-loop'
  | 'symlink-outside'
  | 'symlink-broken'
  | 'special' // FIFO, socket, device
  | 'unreadable' // EACCES / EPERM / other I/O error (detail says which)
  | 'vanished'; // deleted between listing and stat/read

export interface SkippedFile {
  relPath: string;
  reason: SkipReason;
  detail?: string;
}

export type WalkItem = { type: 'file'; entry: FileEntry } | { type: 'skip'; skipped: SkippedFile };

export interface WalkOptions {
  /** Extra exclude globs (picomatch, relative to root), e.g. the `semsearch.exclude` setting. */
  exclude?: string[];
  /** Replaces DEFAULT_EXCLUDES when given (`[]` turns the defaults off; .git stays excluded). */
  defaultExcludes?: string[];
  /** Default 1 MiB. */
  maxFileBytes?: number;
  /** Honour .gitignore / .semsearchignore / .git/info/exclude. Default true. */
  useIgnoreFiles?: boolean;
  /** Enter dot-folders. Default false. */
  includeHiddenDirs?: boolean;
  /** Follow symbolic links that stay inside the root. Default true. */
  followSymlinks?: boolean;
}

/** Options readEntry needs (a WalkOptions fits). */
export interface ReadOptions {
  maxFileBytes?: number;
}

export type ReadResult = { type: 'text'; text: string; hash: string } | { type: 'skip'; skipped: SkippedFile };

/**
 * Built-in exclude globs: VS Code's `files.exclude` and `search.exclude` defaults, plus lockfiles
 * (large, machine-written, useless to search by meaning).
 */
export const DEFAULT_EXCLUDES: readonly string[] = [
  '**/.git',
  '**/.svn',
  '**/.hg',
  '**/CVS',
  '**/.DS_Store',
  '**/Thumbs.db',
  '**/node_modules',
  '**/bower_components',
  '**/*.code-search',
  '**/package-lock.json',
  '**/npm-shrinkwrap.json',
  '**/yarn.lock',
  '**/pnpm-lock.yaml',
  '**/Cargo.lock',
  '**/go.sum',
  '**/poetry.lock',
  '**/Pipfile.lock',
  '**/composer.lock',
  '**/Gemfile.lock',
  '**/uv.lock',
  '**/pdm.lock',
  '**/bun.lockb',
  '**/flake.lock',
  '**/packages.lock.json',
  '**/gradle.lockfile',
  '**/Package.resolved',
  '**/mix.lock',
  '**/pubspec.lock',
];

/** Files larger than this are skipped unless the walk is told otherwise (the `semsearch.maxFileSize` default). */
export const DEFAULT_MAX_FILE_BYTES = DEFAULT_SETTINGS.maxFileSize;
/** Ignore files read in every folder, in this order (later rules win). */
export const IGNORE_FILES: readonly string[] = ['.gitignore', '.semsearchignore'];

const STAT_CONCURRENCY = 16;

type Ignore = ReturnType<typeof ignore>;

/** Ignore rules of one folder; `base` is that folder relative to root ('' for the root). */
interface Matcher {
  base: string;
  ig: Ignore;
}

interface DirFrame {
  abs: string;
  rel: string;
  real: string;
  parent: DirFrame | null;
  matchers: readonly Matcher[];
}

/** Yield every file under `root` worth reading, and a SkippedFile for each one left out. */
export async function* walk(root: string, options: WalkOptions = {}, signal?: AbortSignal): AsyncGenerator<WalkItem> {
  const absRoot = path.resolve(root);
  const rootReal = await fsp.realpath(absRoot);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const useIgnore = options.useIgnoreFiles ?? true;
  const followLinks = options.followSymlinks ?? true;
  const globs = [...(options.defaultExcludes ?? DEFAULT_EXCLUDES), ...(options.exclude ?? [])];
  const isExcluded = globs.length > 0 ? picomatch(globs, { dot: true }) : () => false;

  const rootMatchers: Matcher[] = [];
  if (useIgnore) {
    const exclude = await readText(path.join(absRoot, '.git', 'info', 'exclude'));
    if (exclude !== null) rootMatchers.push({ base: '', ig: ignore({ allowRelativePaths: true }).add(exclude) });
  }

  const stack: DirFrame[] = [{ abs: absRoot, rel: '', real: rootReal, parent: null, matchers: rootMatchers }];
  while (stack.length > 0) {
    signal?.throwIfAborted();
    const dir = stack.pop()!;
    let dirents: fs.Dirent[];
    try {
      dirents = await fsp.readdir(dir.abs, { withFileTypes: true });
    } catch (e) {
      if (dir.parent === null) throw e;
      yield skip(dir.rel, errorReason(e), `directory: ${errorText(e)}`);
      continue;
    }
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    let matchers = dir.matchers;
    if (useIgnore) {
      let ig: Ignore | null = null;
      for (const name of IGNORE_FILES) {
        if (!dirents.some((d) => d.name === name)) continue;
        const text = await readText(path.join(dir.abs, name));
        // One add() per file: add() splits a string into lines, but not the strings of an array.
        if (text !== null) ig = (ig ?? ignore({ allowRelativePaths: true })).add(text);
      }
      if (ig !== null) matchers = [...matchers, { base: dir.rel, ig }];
    }

    // Classify the entries a few at a time (stat calls in parallel), yield in name order.
    const subdirs: DirFrame[] = [];
    for (let i = 0; i < dirents.length; i += STAT_CONCURRENCY) {
      if (i > 0) signal?.throwIfAborted();
      const batch = dirents.slice(i, i + STAT_CONCURRENCY);
      const results = await Promise.all(batch.map((d) => classify(d, dir, matchers, { isExcluded, maxBytes, followLinks, rootReal, absRoot, options })));
      for (const r of results) {
        if (r.type === 'dir') subdirs.push(r.frame);
        else yield r.item;
      }
    }
    // Depth-first, in name order: push in reverse so the first name is popped first.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
  }
}

interface ClassifyContext {
  isExcluded: (p: string) => boolean;
  maxBytes: number;
  followLinks: boolean;
  rootReal: string;
  absRoot: string;
  options: WalkOptions;
}

type Classified = { type: 'dir'; frame: DirFrame } | { type: 'item'; item: WalkItem };

async function classify(d: fs.Dirent, dir: DirFrame, matchers: readonly Matcher[], ctx: ClassifyContext): Promise<Classified> {
  const rel = dir.rel === '' ? d.name : `${dir.rel}/${d.name}`;
  const abs = path.join(dir.abs, d.name);
  // The type as listed; DT_UNKNOWN (some file systems) is resolved by lstat.
  let kind = direntKind(d);
  if (kind === 'unknown') {
    try {
      kind = statKind(await fsp.lstat(abs));
    } catch (e) {
      return { type: 'item', item: skip(rel, errorReason(e), errorText(e)) };
    }
  }
  // A .git folder, or the .git file of a worktree or submodule, whatever the exclude settings.
  if (d.name === '.git') return { type: 'item', item: skip(rel, 'excluded', kind === 'dir' ? 'directory' : undefined) };

  // Rules on the name as listed (a link is judged by its own path, before it is followed).
  if (ctx.isExcluded(rel)) return { type: 'item', item: skip(rel, 'excluded', kind === 'dir' ? 'directory' : undefined) };
  let decision = ignoreDecision(matchers, rel, kind === 'dir');
  if (decision === 'none' && kind === 'link') decision = ignoreDecision(matchers, rel, true);
  if (decision === 'ignored') return { type: 'item', item: skip(rel, 'ignored', kind === 'dir' ? 'directory' : undefined) };

  let st: fs.Stats | null = null;
  let real: string | null = null;
  if (kind === 'link') {
    if (!ctx.followLinks) return { type: 'item', item: skip(rel, 'excluded', 'symbolic link (not followed)') };
    try {
      real = await fsp.realpath(abs);
      st = await fsp.stat(abs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { type: 'item', item: skip(rel, 'symlink-broken', errorText(e)) };
      if (code === 'ELOOP') return { type: 'item', item: skip(rel, 'symlink-loop', errorText(e)) };
      return { type: 'item', item: skip(rel, errorReason(e), errorText(e)) };
    }
    if (!isInsideRealRoot(ctx.rootReal, real)) return { type: 'item', item: skip(rel, 'symlink-outside', real) };
    kind = statKind(st);
  } else if (kind === 'file') {
    try {
      st = await fsp.lstat(abs);
    } catch (e) {
      return { type: 'item', item: skip(rel, errorReason(e), errorText(e)) };
    }
  } else if (kind !== 'dir') {
    return { type: 'item', item: skip(rel, 'special', kind) };
  }

  if (kind === 'dir') {
    if (d.name.startsWith('.') && !ctx.options.includeHiddenDirs && decision !== 'unignored') {
      return { type: 'item', item: skip(rel, 'hidden', 'directory') };
    }
    if (real === null) real = path.join(dir.real, d.name);
    for (let f: DirFrame | null = dir; f !== null; f = f.parent) {
      if (f.real === real) return { type: 'item', item: skip(rel, 'symlink-loop', `points to ${f.rel === '' ? '.' : f.rel}`) };
    }
    return { type: 'dir', frame: { abs, rel, real, parent: dir, matchers } };
  }
  if (kind !== 'file' || st === null) return { type: 'item', item: skip(rel, 'special', kind) };
  if (st.size > ctx.maxBytes) return { type: 'item', item: skip(rel, 'too-large', `${st.size} bytes`) };
  return { type: 'item', item: { type: 'file', entry: { root: ctx.absRoot, absPath: abs, relPath: rel, size: st.size, mtimeMs: st.mtimeMs } } };
}

/**
 * Read an entry and decide whether it is indexable text. The file is opened non-blocking (a FIFO
 * put in its place returns at once) and checked again with fstat. A UTF-8 BOM is dropped from the
 * text; `hash` is the sha256 (hex) of the bytes as stored. Never throws for I/O errors.
 */
export async function readEntry(entry: FileEntry, options: ReadOptions = {}): Promise<ReadResult> {
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const rel = entry.relPath;
  let bytes: Buffer;
  try {
    // The file, or a folder on its path, may have become a link since the walk (a file event
    // names a path the index knows): what is read must still lie inside the root.
    const [real, rootReal] = await Promise.all([fsp.realpath(entry.absPath), fsp.realpath(entry.root)]);
    if (!isInsideRealRoot(rootReal, real)) return { type: 'skip', skipped: { relPath: rel, reason: 'symlink-outside', detail: real } };
    const fh = await fsp.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { type: 'skip', skipped: { relPath: rel, reason: 'special', detail: statKind(st) } };
      if (st.size > maxBytes) return { type: 'skip', skipped: { relPath: rel, reason: 'too-large', detail: `${st.size} bytes` } };
      bytes = await readAll(fh, st.size, maxBytes);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as Error).message === 'too-large') return { type: 'skip', skipped: { relPath: rel, reason: 'too-large', detail: 'grew while read' } };
    return { type: 'skip', skipped: { relPath: rel, reason: errorReason(e), detail: errorText(e) } };
  }
  const verdict = classifyBytes(bytes, rel);
  if (verdict.type === 'skip') return verdict;
  return { type: 'text', text: verdict.text, hash: createHash('sha256').update(bytes).digest('hex') };
}

/** Bytes → text, or the reason they are not indexable text (binary, not-utf8, minified). */
export function classifyBytes(bytes: Uint8Array, relPath: string): { type: 'text'; text: string } | { type: 'skip'; skipped: SkippedFile } {
  const head = bytes.subarray(0, 8192);
  if (head.indexOf(0) >= 0) return { type: 'skip', skipped: { relPath, reason: 'binary', detail: 'NUL byte in the first 8 KiB' } };
  let text: string;
  try {
    // fatal: invalid sequences throw; ignoreBOM false (default): a leading BOM is dropped.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { type: 'skip', skipped: { relPath, reason: 'not-utf8' } };
  }
  if (isMinified(text, relPath)) return { type: 'skip', skipped: { relPath, reason: 'minified' } };
  return { type: 'text', text };
}

/** Minimum size before the minified test applies. */
const MINIFIED_MIN_CHARS = 1024;
/** A line this long or longer counts as a long line. */
const LONG_LINE_CHARS = 500;
/** Share of the characters that must sit on long lines. */
const LONG_SHARE = 0.5;
/** Long lines of code-like text have few blanks; prose paragraphs have ~15 % or more. */
const MAX_BLANK_SHARE = 0.12;
/** A run of base64/hex-like characters this long is encoded data, not words. */
const ENCODED_RUN = /[A-Za-z0-9+/=]{40,}/g;
/** Share of the characters in such runs that makes a file encoded data. */
const ENCODED_SHARE = 0.75;
/** Prose formats, where one paragraph per line is normal. */
const PROSE_EXT = new Set(['.md', '.markdown', '.mdx', '.txt', '.rst', '.adoc', '.asciidoc', '.tex', '.org']);

/**
 * Return true for minified or generated text, in two shapes (files under 1 KiB never match):
 * - long lines: lines of ≥ 500 characters carry ≥ 50 % of the text, and those lines are < 12 %
 *   blanks (spaces/tabs). Bundles, source maps, one-line JSON dumps match; prose written one
 *   paragraph per line does not (its blank share is ~15–18 %), and prose formats (.md, .txt, …)
 *   are not tested for this shape.
 * - encoded data: runs of ≥ 40 base64/hex characters (letters, digits, + / =) carry ≥ 75 % of the
 *   text (base64 blobs wrapped at 76 or 100 columns, hex dumps); a changelog full of commit hashes
 *   or long snake_case keys stays well below.
 */
export function isMinified(text: string, relPath: string): boolean {
  if (text.length < MINIFIED_MIN_CHARS) return false;
  let encoded = 0;
  for (const m of text.matchAll(ENCODED_RUN)) encoded += m[0].length;
  if (encoded >= ENCODED_SHARE * text.length) return true;
  if (PROSE_EXT.has(path.extname(relPath).toLowerCase())) return false;
  let longChars = 0;
  let blanks = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start >= LONG_LINE_CHARS) {
      longChars += end - start;
      for (let i = start; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c === 32 || c === 9) blanks++;
      }
    }
    start = end + 1;
  }
  return longChars >= LONG_SHARE * text.length && blanks < MAX_BLANK_SHARE * longChars;
}

async function readAll(fh: fsp.FileHandle, size: number, maxBytes: number): Promise<Buffer> {
  // Read up to the stat size plus one block: a file that grew past the limit is caught here.
  const cap = Math.min(maxBytes + 1, size + 65536);
  const buf = Buffer.allocUnsafe(Math.max(cap, 1));
  let n = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
    if (bytesRead === 0) break;
    n += bytesRead;
    if (n > maxBytes) throw new Error('too-large');
    if (n === buf.length) break;
  }
  return buf.subarray(0, n);
}

type Kind = 'file' | 'dir' | 'link' | 'fifo' | 'socket' | 'device' | 'unknown';

function direntKind(d: fs.Dirent): Kind {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'link';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isBlockDevice() || d.isCharacterDevice()) return 'device';
  return 'unknown';
}

function statKind(st: fs.Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'link';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'device';
}

/** Git precedence: the deepest ignore file with a matching rule decides; 'none' if no rule matches. */
function ignoreDecision(matchers: readonly Matcher[], rel: string, isDir: boolean): 'ignored' | 'unignored' | 'none' {
  for (let i = matchers.length - 1; i >= 0; i--) {
    const m = matchers[i];
    const sub = m.base === '' ? rel : rel.slice(m.base.length + 1);
    let r: { ignored: boolean; unignored: boolean };
    try {
      r = m.ig.test(isDir ? `${sub}/` : sub);
    } catch {
      continue; // a name the library rejects as a path: no rule of this file applies
    }
    if (r.ignored) return 'ignored';
    if (r.unignored) return 'unignored';
  }
  return 'none';
}

async function readText(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return null; // absent or unreadable ignore file: no rules from it
  }
}

function skip(relPath: string, reason: SkipReason, detail?: string): WalkItem {
  return { type: 'skip', skipped: detail === undefined ? { relPath, reason } : { relPath, reason, detail } };
}

function errorReason(e: unknown): SkipReason {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'vanished';
  if (code === 'ELOOP') return 'symlink-loop';
  return 'unreadable';
}

function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message;
}
