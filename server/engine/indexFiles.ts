/** What the engine reads of an index folder before it opens a store: the serving index's model, leftovers of a switch. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { INDEX_FILE_NAME, removeIndexFile, servingIndexFile, Store } from '../index/store';

/** A model as an index records it. */
export interface IndexModel {
  id: string;
  fingerprint: string;
  /** The model folder, when recorded. */
  dir: string | null;
}

/** Why nothing can be written in `dir` (a read-only file system or folder), or null. */
export function folderReadOnly(dir: string): string | null {
  try {
    fs.accessSync(fs.existsSync(dir) ? dir : path.dirname(dir), fs.constants.W_OK);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'not writable';
  }
}

/** The model of the index that answers queries in `indexDir`, if any (what a switch would keep serving). */
export function servingModel(indexDir: string): Promise<IndexModel | null> {
  return modelOf(servingIndexFile(indexDir));
}

/** The model recorded in an index file, if the file exists and has indexed anything with one. */
export async function modelOf(file: string): Promise<IndexModel | null> {
  if (!fs.existsSync(file)) return null;
  let store: Store;
  try {
    store = await Store.open(file, { readonly: true, check: false });
  } catch {
    return null; // unreadable: opening it for writing recovers it (index/store/open.ts)
  }
  try {
    const s = await store.stats();
    // An index with no vector answers no semantic query: nothing to keep serving, so no switch.
    return s.model && s.vectors > 0 ? { id: s.model.id, fingerprint: s.model.fingerprint, dir: s.model.dir } : null;
  } catch {
    return null;
  } finally {
    await store.close();
  }
}

/**
 * Delete index.sqlite when another file serves: it is the old index of a switch that completed
 * just before the process stopped. The unfinished index of a switch that was given up stays (a
 * later switch to that model resumes it; `semsearch status` lists it).
 */
export function removeSupersededIndex(indexDir: string, servingFile: string): void {
  const first = path.join(indexDir, INDEX_FILE_NAME);
  if (servingFile !== first && fs.existsSync(first)) removeIndexFile(first);
}
