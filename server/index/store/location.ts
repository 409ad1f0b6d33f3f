/**
 * The files of an index folder, and where a root's index folder is:
 *   `index.sqlite`                  the first index of the root;
 *   `index-<fingerprint>.sqlite`    an index built for another model by a model switch (engine/);
 *   `index.current`                 written when a switch completes, names the file that answers
 *                                   queries (servingIndexFile); without it, index.sqlite does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { semsearchCacheDir } from '../../common/cacheDir';

export const INDEX_FILE_NAME = 'index.sqlite';

/** Folder under which per-root index folders live: $SEMSEARCH_INDEX_DIR, else $XDG_CACHE_HOME/semsearch, else ~/.cache/semsearch. */
export function indexBaseDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SEMSEARCH_INDEX_DIR) return path.resolve(env.SEMSEARCH_INDEX_DIR);
  return semsearchCacheDir(env);
}

/** The folder holding the index of `root`: `<base>/<first 16 hex of sha256(realpath(root))>-<basename>`. */
export function indexDirFor(root: string, baseDir: string = indexBaseDir()): string {
  let real: string;
  try {
    real = fs.realpathSync(root);
  } catch {
    real = path.resolve(root);
  }
  const key = createHash('sha256').update(real).digest('hex').slice(0, 16);
  const name = path.basename(real).replace(/[^A-Za-z0-9._-]/g, '_') || 'root';
  return path.join(baseDir, `${key}-${name}`);
}

/**
 * The database file that answers queries for `root`: servingIndexFile() of `indexDir` when a folder
 * is given, else of indexDirFor(root). Without a model switch: `index.sqlite`.
 */
export function indexPathFor(root: string, indexDir?: string): string {
  return servingIndexFile(indexDir ? path.resolve(indexDir) : indexDirFor(root));
}

/** Names the serving database file of an index folder once a model switch has completed. */
export const CURRENT_FILE_NAME = 'index.current';

/** True for the names of an index folder's own files (databases, their -wal/-shm/.corrupt-…, the pointer). */
export function isIndexFileName(name: string): boolean {
  return /^index(-[0-9a-f]{8,64})?\.sqlite([-.].*)?$/.test(name) || name === CURRENT_FILE_NAME || name.startsWith(`${CURRENT_FILE_NAME}.tmp-`);
}

/** The database file of `indexDir` that answers queries: the one `index.current` names, else index.sqlite. */
export function servingIndexFile(indexDir: string): string {
  try {
    const name = fs.readFileSync(path.join(indexDir, CURRENT_FILE_NAME), 'utf8').trim();
    if (isIndexFileName(name) && name.endsWith('.sqlite') && fs.existsSync(path.join(indexDir, name))) return path.join(indexDir, name);
  } catch {
    /* no switch has completed here */
  }
  return path.join(indexDir, INDEX_FILE_NAME);
}

/** The database file a switch to the model with `fingerprint` builds in `indexDir`. */
export function buildIndexFile(indexDir: string, fingerprint: string): string {
  return path.join(indexDir, `index-${fingerprint}.sqlite`);
}

/** Databases of `indexDir` built by model switches (`index-<fingerprint>.sqlite`) other than the serving one. */
export function switchIndexFiles(indexDir: string): string[] {
  const serving = path.basename(servingIndexFile(indexDir));
  let names: string[];
  try {
    names = fs.readdirSync(indexDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^index-[0-9a-f]{8,64}\.sqlite$/.test(n) && n !== serving)
    .sort()
    .map((n) => path.join(indexDir, n));
}

/** Make `file` (in its folder) the serving index: `index.current` is replaced atomically. */
export function setServingIndexFile(file: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `${CURRENT_FILE_NAME}.tmp-${process.pid}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, `${path.basename(file)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, CURRENT_FILE_NAME));
}

/** Delete a (closed) database file with its -wal and -shm. */
export function removeIndexFile(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}
