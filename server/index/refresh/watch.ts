/** Watching a root for changes on disk and feeding them to its Indexer. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Indexer } from './indexer';

/** A running watch: close() stops it (scheduled events are dropped). */
export interface Watch {
  close(): void;
}

/**
 * Watch the indexer's root (fs.watch, recursive; Linux needs Node ≥ 19.1) and feed every event
 * to `indexer.scheduleUpdate`. Events under .git are dropped here; the rest are sorted out by
 * update(). An error of the watcher itself is reported and ends the watch.
 */
export function watchRoot(indexer: Indexer, onError: (e: Error) => void): Watch {
  const watcher = fs.watch(indexer.root, { recursive: true, persistent: true }, (_event, filename) => {
    if (filename === null) {
      indexer.scheduleUpdate([null]);
      return;
    }
    const rel = String(filename).split(path.sep).join('/');
    if (rel === '.git' || rel.startsWith('.git/')) return;
    indexer.scheduleUpdate([rel]);
  });
  watcher.on('error', (e) => onError(e));
  return {
    close() {
      watcher.close();
      indexer.dispose();
    },
  };
}
