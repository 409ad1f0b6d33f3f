/** A command-line mistake: printed as `semsearch <command>: <message>` with exit code 2, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The `--device` value, checked. */
export function parseDevice(value: string): 'auto' | 'cpu' | 'gpu' {
  if (value !== 'auto' && value !== 'cpu' && value !== 'gpu') throw new UsageError(`--device must be auto, cpu or gpu, not "${value}"`);
  return value;
}
