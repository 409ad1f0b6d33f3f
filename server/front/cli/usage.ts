import * as fs from 'node:fs';
import * as path from 'node:path';

/** A command-line mistake: printed as `semsearch <command>: <message>` with exit code 2, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The `--device` value, checked. */
export function parseDevice(value: string): 'auto' | 'cpu' | 'gpu' {
  if (value !== 'auto' && value !== 'cpu' && value !== 'gpu') throw new UsageError(`--device must be auto, cpu or gpu, not "${value}"`);
  return value;
}

/** The absolute path of `dir`, which must be an existing folder (else a UsageError saying why). */
export function existingFolder(dir: string): string {
  const root = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${root}: ${code === 'ENOENT' ? 'no such folder' : code === 'EACCES' ? 'permission denied' : (code ?? (e as Error).message)}`);
  }
  if (!st.isDirectory()) throw new UsageError(`${root}: not a folder`);
  return root;
}
