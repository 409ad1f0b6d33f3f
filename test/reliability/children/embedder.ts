/**
 * Child process of the reliability suite: loads the embedder, then answers one command per stdin
 * line, `embed N`: embeds N fixed texts of 256 tokens in one call (no batch limit of its own: the
 * encoder's out-of-memory handling decides) and prints one JSON line {ok, n, head | error}.
 * The parent lowers and raises this process's address-space limit (prlimit) between commands.
 *
 * Usage: node embedder.js MODEL_DIR
 */
import * as readline from 'node:readline';
import { Embedder } from '../../../server/model/embedder';

/** The i-th text: long enough to fill the model's 256-token window. */
export function longText(i: number): string {
  return `function handler${i}(request, response) { ` + Array.from({ length: 120 }, (_, k) => `value${(i * 7 + k) % 97} = compute(${k});`).join(' ');
}

async function main(): Promise<void> {
  const embedder = await Embedder.load(process.argv[2], { device: 'cpu', maxBatch: 1 << 20, maxBatchTokens: 1 << 30 });
  process.stdout.write('ready\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const n = Number(line.split(' ')[1]);
    try {
      const vectors = await embedder.embed(
        Array.from({ length: n }, (_, i) => longText(i)),
        { kind: 'document' },
      );
      process.stdout.write(`${JSON.stringify({ ok: true, n: vectors.length, head: vectors.map((v) => Array.from(v.slice(0, 4))) })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message })}\n`);
    }
  }
  embedder.dispose();
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
  });
}
