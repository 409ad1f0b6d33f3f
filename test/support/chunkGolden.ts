/**
 * The chunker's golden output: every chunk of a fixture tree in every supported language
 * (test/fixtures/chunk/ and test/fixtures/chunk-golden/), cut with all-MiniLM-L6-v2's tokenizer at
 * a small token budget so that splitting and overlap are exercised. The golden file records the
 * output and, per CHUNKER_VERSION, its hash: test/unit/chunkGolden.test.ts fails when the output
 * differs, and writing a new golden file (`npm run golden:chunks`) is refused when the output
 * changed while CHUNKER_VERSION did not. So a change to chunk output needs a version bump, which
 * makes every index re-chunk.
 *
 *   node out/test/support/chunkGolden.js --write    regenerate test/fixtures/chunk-golden/golden.json
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Chunker, CHUNKER_VERSION } from '../../server/index/chunk';
import { TextTokenizer } from '../../server/model/tokenizer';
import { MINILM_DIR, REPO_ROOT } from './paths';

export const GOLDEN_FILE = path.join(REPO_ROOT, 'test', 'fixtures', 'chunk-golden', 'golden.json');
const FOLDERS = [path.join(REPO_ROOT, 'test', 'fixtures', 'chunk'), path.join(REPO_ROOT, 'test', 'fixtures', 'chunk-golden')];
const MAX_TOKENS = 128;

export interface Golden {
  /** CHUNKER_VERSION → sha256 of the output that version produces. */
  versions: Record<string, string>;
  /** file → its chunks: `start-end kind symbol [container]` and the sha256 (16 hex) of text and embedded text. */
  output: Record<string, string[]>;
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The chunks of every fixture file, one line per chunk, files in name order. */
export async function goldenOutput(): Promise<Record<string, string[]>> {
  const tokenizer = TextTokenizer.fromFile(path.join(MINILM_DIR, 'tokenizer.json'), MAX_TOKENS);
  const chunker = await Chunker.create();
  try {
    const out: Record<string, string[]> = {};
    const files = FOLDERS.flatMap((dir) =>
      fs
        .readdirSync(dir)
        .filter((f) => f !== 'golden.json')
        .map((f) => path.join(dir, f)),
    ).sort();
    for (const file of files) {
      const rel = path.relative(REPO_ROOT, file).split(path.sep).join('/');
      const chunks = await chunker.chunk(rel, fs.readFileSync(file, 'utf8'), { maxTokens: MAX_TOKENS, countTokens: (t) => tokenizer.count(t) });
      out[rel] = chunks.map(
        (c) =>
          `${c.startLine}-${c.endLine} ${c.language} ${c.kind} ${c.symbol ?? '-'} [${c.container ?? ''}] ${sha(c.text).slice(0, 16)} ${sha(c.embedText).slice(0, 16)}`,
      );
    }
    return out;
  } finally {
    chunker.dispose();
  }
}

/** The hash a golden file records for an output. */
export function outputHash(output: Record<string, string[]>): string {
  return sha(JSON.stringify(output));
}

export function readGolden(): Golden {
  return JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8')) as Golden;
}

async function write(): Promise<void> {
  const output = await goldenOutput();
  const hash = outputHash(output);
  const previous = fs.existsSync(GOLDEN_FILE) ? readGolden() : { versions: {}, output: {} };
  const recorded = previous.versions[String(CHUNKER_VERSION)];
  if (recorded !== undefined && recorded !== hash) {
    throw new Error(
      `the chunk output changed but CHUNKER_VERSION is still ${CHUNKER_VERSION}: bump it in server/index/chunk/version.ts (every index then re-chunks), then write the golden file again`,
    );
  }
  const golden: Golden = { versions: { ...previous.versions, [String(CHUNKER_VERSION)]: hash }, output };
  fs.writeFileSync(GOLDEN_FILE, JSON.stringify(golden, null, 1) + '\n');
  process.stdout.write(`${GOLDEN_FILE}: version ${CHUNKER_VERSION}, ${Object.values(output).flat().length} chunks\n`);
}

if (require.main === module && process.argv.includes('--write')) {
  write().catch((e: Error) => {
    process.stderr.write(`chunkGolden: ${e.message}\n`);
    process.exitCode = 1;
  });
}
