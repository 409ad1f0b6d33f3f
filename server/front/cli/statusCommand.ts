/**
 * `semsearch status`: where the index of a folder is, its model, files, chunks and vectors, whether
 * it is complete, and any model switch building beside it. Text, or one JSON object (`--json`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { indexPathFor, Store, StoreStats, switchIndexFiles } from '../../index/store';
import { rootOf, skipReasonsText } from './usage';

interface StatusJson {
  root: string;
  indexPath: string;
  exists: boolean;
  stats?: StoreStats;
  /** Indexes a model switch is building (the serving index answers until one is complete). */
  switching?: { indexPath: string; stats: StoreStats }[];
}

/** `semsearch status [DIR] [--index-dir P] [--json]` */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'index-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const root = rootOf(positionals);
  const indexPath = indexPathFor(root, values['index-dir']);
  if (!fs.existsSync(indexPath)) {
    if (values.json) process.stdout.write(JSON.stringify({ root, indexPath, exists: false } satisfies StatusJson) + '\n');
    process.stderr.write(`semsearch: ${root}: no index at ${indexPath} (run: semsearch index ${positionals[0] ?? '.'})\n`);
    return 2;
  }
  const switching: { indexPath: string; stats: StoreStats }[] = [];
  for (const file of switchIndexFiles(path.dirname(indexPath))) {
    const s = await Store.open(file, { readonly: true, check: false }).catch(() => undefined);
    if (!s) continue;
    try {
      switching.push({ indexPath: file, stats: await s.stats() });
    } finally {
      await s.close();
    }
  }
  const store = await Store.open(indexPath, { readonly: true, check: false });
  try {
    const stats = await store.stats();
    if (values.json) {
      process.stdout.write(JSON.stringify({ root, indexPath, exists: true, stats, ...(switching.length ? { switching } : {}) } satisfies StatusJson) + '\n');
      return 0;
    }
    const mb = (stats.bytes / 1024 / 1024).toFixed(1);
    const lines = [
      `index    ${indexPath} (${mb} MB)`,
      `root     ${root}`,
      `model    ${stats.model ? `${stats.model.id} (fingerprint ${stats.model.fingerprint}, ${stats.model.dim} dims)` : 'none'}`,
      `files    ${stats.files}`,
      `chunks   ${stats.chunks} (${stats.chunksWithVectors} with vectors, ${stats.chunks - stats.chunksWithVectors} pending; ${stats.vectors} distinct vectors)`,
      `state    ${stats.partial ? `partial${stats.complete ? '' : ' (the last full index did not finish)'}${stats.chunks > stats.chunksWithVectors ? `; ${stats.chunks - stats.chunksWithVectors} chunks lack vectors` : ''}` : 'complete'}`,
      `indexed  ${stats.lastIndexedAt ? new Date(stats.lastIndexedAt).toISOString() : 'never completed'}`,
      `skipped  ${skipReasonsText(stats.skippedByReason)}`,
      ...switching.map(
        ({ indexPath: f, stats: s }) =>
          `switch   to ${s.model?.id ?? 'another model'}: ${s.chunksWithVectors}/${s.chunks} chunks embedded, ${s.files} files, ${s.complete ? 'complete' : 'in progress'} (${f}); this index answers until it is complete`,
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}
