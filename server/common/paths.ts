/**
 * The one check that a path lies inside a folder, and its workspace-relative form (the index's
 * spelling: relative to the root, '/' separators). Every front end and stage that takes a path
 * from outside (a request, a file event, a symbolic link's target) goes through these.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * `file` (absolute, or relative to `root`) relative to `root` with '/' separators; '' for the root
 * itself; null when it lies outside. Lexical: symbolic links are not resolved.
 */
export function relativeInside(root: string, file: string): string | null {
  const rel = path.relative(root, path.resolve(root, file));
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

/** The real path of `p` (symbolic links resolved), or `p` resolved when it does not exist. */
export function realPathOr(p: string): string {
  try {
    return fs.realpathSync(path.resolve(p));
  } catch {
    return path.resolve(p);
  }
}

/**
 * relativeInside for a file that may be reached through a symbolic link: first as written, then
 * with both paths resolved. Null when neither lies inside; '' for the root itself.
 */
export function relativeInsideReal(root: string, file: string): string | null {
  return relativeInside(root, file) ?? relativeInside(realPathOr(root), realPathOr(path.resolve(root, file)));
}

/** True when `real` is `rootReal` or below it (both already real paths). */
export function isInsideRealRoot(rootReal: string, real: string): boolean {
  return real === rootReal || real.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep);
}
