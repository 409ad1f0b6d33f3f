/** A command-line mistake: printed as `semsearch <command>: <message>` with exit code 2, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}
