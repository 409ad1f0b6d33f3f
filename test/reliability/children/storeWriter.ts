/**
 * Child process of the reliability suite: writes files f0, f1, … to an index, one transaction each
 * (chunks, FTS rows and their vectors together), and prints `committed <i>` after each commit.
 * Run with SEMSEARCH_TEST_KILL_BEFORE_COMMIT=n, the n-th transaction kills the process between its
 * writes and its COMMIT.
 *
 * Usage: node storeWriter.js INDEX_FILE COUNT
 */
import { ChunkInput, contentHash, Store } from '../../../server/index/store';

export const FINGERPRINT = 'feedfacefeedface';
export const DIM = 8;

/** The chunks written for file i (three functions, each with a distinct text). */
export function chunksOf(i: number): ChunkInput[] {
  return [0, 1, 2].map((j) => {
    const text = `function file${i}Part${j}() {\n  return ${i * 10 + j};\n}`;
    return {
      startLine: j * 4 + 1,
      endLine: j * 4 + 3,
      language: 'typescript',
      kind: 'function',
      symbol: `file${i}Part${j}`,
      container: null,
      text,
      embedText: `// f${i}.ts\n${text}`,
    };
  });
}

export function vectorOf(seed: number): Float32Array {
  return Float32Array.from({ length: DIM }, (_, k) => Math.sin(seed * 13.7 + k));
}

async function main(): Promise<void> {
  const [file, count] = process.argv.slice(2);
  const store = await Store.open(file, { modelId: 'writer', modelFingerprint: FINGERPRINT, dim: DIM, chunkerVersion: 'writer-1' });
  for (let i = 0; i < Number(count); i++) {
    const chunks = chunksOf(i);
    const vectors = new Map(chunks.map((c, j) => [contentHash(c.embedText), vectorOf(i * 3 + j)]));
    await store.replaceFileChunks({ path: `f${i}.ts`, size: 100 + i, mtimeMs: 1000 + i, hash: `hash${i}` }, chunks, vectors);
    process.stdout.write(`committed ${i}\n`);
  }
  await store.close();
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
  });
}
