/** semsearch's own cache folder, shared by the indexes (index/store/location.ts) and derived models (model/locate.ts). */
import * as os from 'node:os';
import * as path from 'node:path';

/** $XDG_CACHE_HOME/semsearch (an absolute $XDG_CACHE_HOME only, as the XDG spec says), else ~/.cache/semsearch. */
export function semsearchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(cache, 'semsearch');
}
