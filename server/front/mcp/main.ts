/**
 * `semsearch mcp`: a Model Context Protocol server over stdio, so that agents search a folder by
 * meaning. It runs the CLI's engine (engine.ts openStandalone) on one folder and offers four tools:
 *
 *   search        ranked code locations for a query (filters inside it: lang:go path:src/** -path:…)
 *   find_similar  code like the chunk at path:line
 *   index_status  the index's state, counts and model
 *   reindex       bring the index up to date (or rebuild it from scratch), optionally waiting
 *
 * Start-up: the transport is connected first, so `initialize` is answered at once; then the model
 * loads and the index opens (tools wait for that, a few seconds at most), and a refresh of the
 * index starts in the background, followed by a watch of the folder (unless --no-watch).
 *
 * While the index is being built, search does not wait: it answers from what is indexed so far
 * (keyword ranking over the files already read, semantic ranking over the chunks already embedded)
 * and says so: `partial: true`, `indexing: true` and a note with the progress, in the text and in
 * the structured result. find_similar on a file not indexed yet is an error that says why.
 *
 * Every result has a short text for the model (path:start-end, symbol, kind, a few lines of code)
 * and the same data as `structuredContent` (see each tool's output schema). Errors of a tool are
 * results with `isError` (invalid arguments too, as the SDK reports them), never a crash.
 *
 * stdout carries protocol messages only; logs go to stderr as `semsearch mcp: …`. A rejection that
 * nothing handles is logged there too, and the server goes on (see guardRejections).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { packageRoot } from '../../model/locate';
import { MODEL_OPTIONS } from '../cli/modelFlags';
import { existingFolder, parseDevice, parseTier, UsageError } from '../cli/usage';
import { log, ServedFolder } from './servedFolder';
import { buildServer } from './tools';

function packageVersion(): string {
  try {
    const root = packageRoot();
    if (root) return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    /* unreadable: no version */
  }
  return '0.0.0';
}

/**
 * Log unhandled rejections instead of ending the process (Node's default): a background task
 * that fails unobserved must not take the agent's search tools away for the rest of its session.
 */
function guardRejections(): void {
  process.on('unhandledRejection', (reason) => log(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
}

/** Test hook: the tests force one unhandled rejection through this variable, to see the guard at work. */
const FORCE_REJECTION_ENV = 'SEMSEARCH_MCP_TEST_UNHANDLED_REJECTION';

// --- the command -------------------------------------------------------------------------------

/** `semsearch mcp [--dir D] [--index-dir P] [--tier full|static] [--model M] [--device D] [--exclude GLOB]... [--no-watch]` */
export async function mcpCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'index-dir': { type: 'string' },
      ...MODEL_OPTIONS,
      tier: { type: 'string', default: 'full' },
      exclude: { type: 'string', multiple: true, default: [] },
      'no-watch': { type: 'boolean', default: false },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (the folder is given with --dir)`);
  const device = parseDevice(values.device);
  const root = path.resolve(values.dir ?? '.');
  // Hosts often start servers in / or the home folder: indexing all of it is never what was meant.
  if (values.dir === undefined && (root === path.parse(root).root || root === os.homedir())) {
    throw new UsageError(`no --dir given and the working directory is ${root}; name the folder to serve with --dir`);
  }
  existingFolder(root);
  guardRejections();

  // stdout belongs to the protocol: anything a library prints goes to stderr instead.
  console.log = console.info = console.debug = console.warn = (...a: unknown[]) => console.error(...a);

  const folder = new ServedFolder({
    root,
    indexDir: values['index-dir'],
    model: values.model,
    offline: values.offline,
    device,
    tiers: parseTier(values.tier),
    exclude: values.exclude ?? [],
    watch: !values['no-watch'],
  });
  const server = buildServer(folder, packageVersion());
  const transport = new StdioServerTransport();

  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((r) => (stop = r));
  transport.onclose = () => stop('the client closed the connection');
  process.stdin.once('end', () => stop('the client closed stdin'));
  process.stdin.once('close', () => stop('stdin closed'));
  const onSignal = (sig: NodeJS.Signals) => stop(`received ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  await server.connect(transport);
  log(`serving ${root} over stdio`);
  void folder.start();
  const forced = process.env[FORCE_REJECTION_ENV];
  if (forced) void Promise.reject(new Error(forced));

  const reason = await stopped;
  log(`stopping: ${reason}`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await folder.close();
  await server.close().catch(() => undefined);
  process.stdin.destroy();
  return 0;
}
