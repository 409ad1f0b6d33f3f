/**
 * The `semsearch` command line: the same engine as the editor's sidecar, driven from a terminal.
 *
 * Exit codes follow ripgrep: 0 success (or results found), 1 nothing found, 2 error.
 * Errors go to stderr as `semsearch: <reason>`; data goes to stdout.
 */
import { embedCommand } from './embedCommand';
import { indexCommand } from './indexCommand';
import { statusCommand } from './statusCommand';
import { searchCommand, similarCommand } from './searchCommand';
import { UsageError } from './usage';

type Command = (args: string[]) => Promise<number>;

const USAGE = `usage: semsearch <command> [options]

commands:
  embed "<text>" [--model M] [--device auto|cpu|gpu] [--query] [--json]
                       print the embedding of a text
  index [DIR] [--tier full|static] [--model M] [--device D] [--index-dir P] [--exclude GLOB]...
        [--max-file-size BYTES] [--watch] [--json] [-q]
                       build or update the index of DIR (default .); --watch keeps it up to date;
                       --tier static: keywords and the fast (static) tier only, no transformer
                       (index location: --index-dir, else $SEMSEARCH_INDEX_DIR or
                       $XDG_CACHE_HOME/semsearch, per folder)
  status [DIR] [--index-dir P] [--json]
                       where the index of DIR is, its model, files, chunks, vectors, and whether
                       it is complete
  search "<query>" [--dir D] [--top K] [--mode hybrid|semantic|keyword] [--json] [--stdin]
         [--wait] [--tier full|static] [--keyword-weight W] [--static-weight W] [--semantic-weight W]
                       ranked code locations; filters inside the query: lang:go path:src/**
                       -path:**/test/**; --stdin reads one query per line (JSON lines out);
                       brings keywords and the fast tier up to date first and answers at once,
                       saying what the transformer tier has not reached (--wait: embed it all
                       first; --no-refresh: skip the check of a complete index against the disk)
  similar <path>:<line> [--dir D] [--top K] [--json] [--wait] [--tier full|static]
                       code like the chunk at that line
  mcp [--dir D] [--index-dir P] [--tier full|static] [--model M] [--device D] [--exclude GLOB]...
      [--no-watch]
                       Model Context Protocol server over stdio for agents (tools: search,
                       find_similar, index_status, reindex) on D (default: the working directory,
                       unless it is / or the home folder); indexes D in the background and keeps
                       the index up to date while it runs (--no-watch: only on reindex)

options common to all commands:
  --model M            a model folder or a Hugging Face id (default: $SEMSEARCH_MODEL or
                       semsearch/bge-small-en-v1.5-code, bge-small-en-v1.5 with the code
                       adapter, built on first use); a Hub model not found locally
                       is downloaded into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or
                       ~/.cache/huggingface/hub) from $HF_ENDPOINT (default huggingface.co), with
                       $HF_TOKEN for gated models
  --offline            never contact the Hub (also $HF_HUB_OFFLINE=1)
  --device D           auto (default), cpu or gpu
  -h, --help           this text
`;

export { UsageError };

const commands: Record<string, Command> = {
  embed: embedCommand,
  index: indexCommand,
  status: statusCommand,
  search: searchCommand,
  similar: similarCommand,
  // Loaded on use: the MCP SDK and its schema libraries would slow every other command's start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use, see above
  mcp: (args) => (require('../mcp/main') as typeof import('../mcp/main')).mcpCommand(args),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`semsearch: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`semsearch ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
