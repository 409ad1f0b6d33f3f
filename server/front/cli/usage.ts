/** Command-line argument helpers shared by the commands: usage errors, devices, folders. */
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

/** The `--tier` value, checked: `full` (static tier, then the transformer's) or `static` (no transformer loads). */
export function parseTier(value: string): 'full' | 'static' {
  if (value !== 'full' && value !== 'static') throw new UsageError(`--tier must be full or static, not "${value}"`);
  return value;
}

/** A fusion weight flag (`--keyword-weight` …): a number from 0 to 1, or undefined when not given. */
export function parseWeight(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${flag} must be a number from 0 to 1, not "${value}"`);
  return n;
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

/** The one folder a command takes (default: the working directory), checked. */
export function rootOf(positionals: string[]): string {
  if (positionals.length > 1) throw new UsageError(`expected at most one folder, got ${positionals.length}`);
  return existingFolder(positionals[0] ?? '.');
}

/** Skip counts by reason, most first: `binary 3, too-large 1` (or `none`). */
export function skipReasonsText(byReason: Record<string, number>): string {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([r, n]) => `${r} ${n}`).join(', ');
}
