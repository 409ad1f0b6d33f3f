/**
 * `semsearch index` and `semsearch status`: build or update the index of a folder from a terminal,
 * and report its state. cli.ts registers them; the work is refresh.ts's and store.ts's.
 *
 * Output: data (the summary, the status) on stdout, as text or one JSON object (`--json`);
 * progress and per-file warnings on stderr. Progress on a terminal is one line redrawn in place;
 * otherwise a plain line every PLAIN_PROGRESS_MS and at each phase change.
 * Exit codes: 0 done; 2 error, cancelled (Ctrl-C), or some file failed (its warning says which:
 * the run still finishes). Files skipped by rule or content (binary, too large, …) are not failures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Embedder } from '../../model/embedder';
import { MODEL_OPTIONS, resolveModelFromFlags } from './modelFlags';
import { Chunker } from '../../index/chunk';
import { Store, indexPathFor, StoreStats, switchIndexFiles } from '../../index/store';
import { FolderEngine } from '../../engine/folderEngine';
import { IndexProgress, RefreshSummary, watchRoot } from '../../index/refresh';
import { existingFolder, parseDevice, UsageError } from './usage';

const PLAIN_PROGRESS_MS = 2000;
/** Skipped paths printed in the text summary (all are in --json). */
const LISTED_SKIPS = 50;
/** Skip reasons that are the rules at work, not worth listing path by path. */
const RULE_REASONS = new Set(['ignored', 'excluded', 'hidden']);


function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--max-file-size must be a number of bytes (optionally with k, m or g), not "${s}"`);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * mult);
}

function rootOf(positionals: string[]): string {
  if (positionals.length > 1) throw new UsageError(`expected at most one folder, got ${positionals.length}`);
  return existingFolder(positionals[0] ?? '.');
}

function reasons(byReason: Record<string, number>): string {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([r, n]) => `${r} ${n}`).join(', ');
}

/** The progress line (without colour; the terminal form is one line, cut to the width). */
function progressLine(p: IndexProgress, startedAt: number): string {
  const secs = (Date.now() - startedAt) / 1000;
  const total = p.chunksEmbedded + p.chunksPending;
  const pct = total > 0 ? Math.floor((100 * p.chunksEmbedded) / total) : 0;
  const width = 20;
  const filled = Math.round((width * pct) / 100);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  return `${p.phase.padEnd(5)} ${bar} ${String(pct).padStart(3)}%  files ${p.filesSeen} seen, ${p.filesIndexed} indexed, ${p.filesSkipped} skipped  chunks ${p.chunks}  embedded ${p.chunksEmbedded}, pending ${p.chunksPending}  ${secs.toFixed(0)}s`;
}

class ProgressView {
  private readonly tty: boolean;
  private lastPlain = 0;
  private lastPhase = '';
  private drawn = false;
  constructor(private readonly startedAt: number, private readonly quiet: boolean) {
    this.tty = !!process.stderr.isTTY;
  }
  update(p: IndexProgress): void {
    if (this.quiet) return;
    const line = progressLine(p, this.startedAt);
    if (this.tty) {
      const cols = process.stderr.columns || 120;
      process.stderr.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
      this.drawn = true;
      if (p.phase === 'done') this.clear();
      return;
    }
    const now = Date.now();
    if (p.phase !== this.lastPhase || now - this.lastPlain >= PLAIN_PROGRESS_MS) {
      this.lastPlain = now;
      this.lastPhase = p.phase;
      process.stderr.write(`semsearch: ${line}\n`);
    }
  }
  /** Erase the redrawn line (before a warning or the summary). */
  clear(): void {
    if (this.tty && this.drawn) {
      process.stderr.write('\r\x1b[K');
      this.drawn = false;
    }
  }
}

function summaryText(s: RefreshSummary, root: string, indexPath: string): string {
  const lines: string[] = [];
  const verb = s.cancelled ? 'cancelled' : s.kind === 'refresh' ? 'indexed' : 'updated';
  lines.push(`${verb} ${root}`);
  lines.push(`index    ${indexPath}`);
  lines.push(
    `files    ${s.filesIndexed} indexed, ${s.filesUnchanged} unchanged, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ${s.filesSkipped} skipped`,
  );
  if (s.filesSkipped > 0) lines.push(`skipped  ${reasons(s.skippedByReason)}`);
  const listed = s.skipped.filter((k) => !RULE_REASONS.has(k.reason));
  for (const k of listed.slice(0, LISTED_SKIPS)) lines.push(`  ${k.reason.padEnd(15)} ${k.path}${k.detail ? ` (${k.detail})` : ''}`);
  if (listed.length > LISTED_SKIPS) lines.push(`  … ${listed.length - LISTED_SKIPS} more (--json lists every skipped path)`);
  lines.push(
    `chunks   ${s.chunks} written, ${s.chunksEmbedded} embedded (${s.textsEmbedded} distinct texts in ${s.embedSeconds.toFixed(1)} s: ${s.chunksPerSecond.toFixed(1)} chunks/s)`,
  );
  lines.push(`state    ${s.complete ? 'complete' : `partial: ${s.chunksPending} chunks without vectors${s.cancelled ? ', run cancelled' : ''}`}`);
  if (s.warnings.length > 0) lines.push(`failed   ${s.warnings.length} (see the warnings above)`);
  lines.push(`time     ${s.seconds.toFixed(1)} s (peak memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB)`);
  return lines.join('\n') + '\n';
}

/** `semsearch index [DIR] [--model M] [--device D] [--index-dir P] [--exclude GLOB]… [--max-file-size N] [--watch] [--json] [-q]` */
export const indexCommand = runIndex;
/** `semsearch status [DIR] [--index-dir P] [--json]` */
export const statusCommand = runStatus;

async function runIndex(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      'index-dir': { type: 'string' },
      exclude: { type: 'string', multiple: true, default: [] },
      'max-file-size': { type: 'string' },
      watch: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  const device = parseDevice(values.device);
  const root = rootOf(positionals);
  const maxFileBytes = values['max-file-size'] !== undefined ? parseBytes(values['max-file-size']) : undefined;
  const indexPath = indexPathFor(root, values['index-dir']);

  const model = await resolveModelFromFlags(values, values.quiet);
  const embedder = await Embedder.load(model, { device });
  let chunker: Chunker | undefined;
  let engine: FolderEngine | undefined;
  const startedAt = Date.now();
  const view = new ProgressView(startedAt, values.quiet);
  const warn = (m: string) => {
    view.clear();
    process.stderr.write(`semsearch: ${m}\n`);
  };
  const ctrl = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    ctrl.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  try {
    chunker = await Chunker.create();
    engine = await FolderEngine.open(root, embedder, chunker, {
      indexDir: values['index-dir'],
      searchable: false,
      walk: { exclude: values.exclude ?? [], ...(maxFileBytes !== undefined ? { maxFileBytes } : {}) },
      onProgress: (p) => view.update(p),
      onWarning: warn,
      onUpdate: (s) => {
        if (s.filesIndexed + s.filesRenamed + s.filesDeleted + s.filesSkipped + s.textsEmbedded === 0 && !s.cancelled) return;
        if (values.json) process.stdout.write(JSON.stringify(s) + '\n');
        else process.stdout.write(`${new Date().toISOString()} ${s.kind}: ${s.filesIndexed} indexed, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ${s.filesSkipped} skipped, ${s.textsEmbedded} embedded, ${s.complete ? 'complete' : `${s.chunksPending} pending`} (${s.seconds.toFixed(1)} s)\n`);
      },
      onSwitched: (from, to) => warn(`${root}: model switch done (${from.id} → ${to.id}); ${engine?.indexPath} is the index now`),
    });
    const { store, indexer } = engine;
    if (!indexer) throw new Error(`${indexPath}: the index cannot be updated: ${engine.indexingOff}`);
    const sw = engine.switching;
    if (sw) warn(`${indexPath}: model changed (${sw.from.id} → ${sw.to.id}); building a new index in ${sw.buildPath} (it resumes if interrupted); the old one stays in use until it is complete`);
    const o = indexer.store.opened;
    if (o.recovered) warn(`${indexPath}: the index was damaged (${o.recovered.reason}); moved to ${o.recovered.movedTo}, rebuilding`);
    if (o.reset === 'schema') warn(`${indexPath}: index from another version of semsearch; rebuilding`);
    if (o.reset === 'chunker') warn(`${indexPath}: chunking changed; re-chunking every file (vectors of unchanged texts are kept)`);
    if (o.modelChanged) warn(`${indexPath}: model changed (${o.modelChanged.from} → ${o.modelChanged.to}); every chunk is embedded again`);

    const summary = await engine.refresh(ctrl.signal);
    view.clear();
    // The index that answers now (a switch completed by this run moved it).
    const servingPath = engine.indexPath;
    if (values.json) {
      // peakRssBytes: the process's peak resident memory so far (bench/index reads it).
      const peakRssBytes = process.resourceUsage().maxRSS * 1024;
      process.stdout.write(JSON.stringify({ root, indexPath: servingPath, model: embedder.info, opened: indexer.store.opened, ...summary, peakRssBytes }) + '\n');
    } else {
      process.stdout.write(summaryText(summary, root, engine.switching ? `${store.file} (until the switch completes; new index: ${indexer.store.file})` : servingPath));
    }
    if (summary.cancelled) return 2;
    if (values.watch) {
      if (!values.quiet) process.stderr.write(`semsearch: watching ${root} (Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        const w = watchRoot(indexer, (e) => {
          warn(`${root}: watch failed: ${e.message}`);
          w.close();
          resolve();
        });
        ctrl.signal.addEventListener('abort', () => {
          w.close();
          resolve();
        }, { once: true });
      });
      await indexer.idle();
      return 0;
    }
    return summary.warnings.length > 0 ? 2 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await engine?.close().catch(() => undefined);
    chunker?.dispose();
    embedder.dispose();
  }
}

interface StatusJson {
  root: string;
  indexPath: string;
  exists: boolean;
  stats?: StoreStats;
  /** Indexes a model switch is building (the serving index answers until one is complete). */
  switching?: { indexPath: string; stats: StoreStats }[];
}

async function runStatus(args: string[]): Promise<number> {
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
      `skipped  ${reasons(stats.skippedByReason)}`,
      ...switching.map(({ indexPath: f, stats: s }) =>
        `switch   to ${s.model?.id ?? 'another model'}: ${s.chunksWithVectors}/${s.chunks} chunks embedded, ${s.files} files, ${s.complete ? 'complete' : 'in progress'} (${f}); this index answers until it is complete`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}
