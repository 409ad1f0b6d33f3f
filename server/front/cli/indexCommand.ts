/**
 * `semsearch index`: build or update the index of a folder from a terminal (the work is
 * index/refresh's), and with `--watch` keep it up to date.
 *
 * Output: data (the summary) on stdout, as text or one JSON object (`--json`); progress
 * (progress.ts) and per-file warnings on stderr.
 * Exit codes: 0 done; 2 error, cancelled (Ctrl-C), or some file failed (its warning says which:
 * the run still finishes). Files skipped by rule or content (binary, too large, …) are not failures.
 */
import { parseArgs } from 'node:util';
import { FolderEngine } from '../../engine';
import { Chunker } from '../../index/chunk';
import { Indexer, RefreshSummary, watchRoot } from '../../index/refresh';
import { indexPathFor } from '../../index/store';
import { Embedder } from '../../model/embedder';
import { StaticEmbedder } from '../../model/static';
import { MODEL_OPTIONS, resolveModelFromFlags } from './modelFlags';
import { indexProgressLine, ProgressLine } from './progress';
import { parseDevice, parseTier, rootOf, skipReasonsText, UsageError } from './usage';

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

function summaryText(s: RefreshSummary, root: string, indexPath: string, transformer: boolean): string {
  const lines: string[] = [];
  const verb = s.cancelled ? 'cancelled' : s.kind === 'refresh' ? 'indexed' : 'updated';
  lines.push(`${verb} ${root}`);
  lines.push(`index    ${indexPath}`);
  lines.push(
    `files    ${s.filesIndexed} indexed, ${s.filesUnchanged} unchanged, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ${s.filesSkipped} skipped`,
  );
  if (s.filesSkipped > 0) lines.push(`skipped  ${skipReasonsText(s.skippedByReason)}`);
  const listed = s.skipped.filter((k) => !RULE_REASONS.has(k.reason));
  for (const k of listed.slice(0, LISTED_SKIPS)) lines.push(`  ${k.reason.padEnd(15)} ${k.path}${k.detail ? ` (${k.detail})` : ''}`);
  if (listed.length > LISTED_SKIPS) lines.push(`  … ${listed.length - LISTED_SKIPS} more (--json lists every skipped path)`);
  const deep = transformer
    ? `${s.chunksEmbedded} embedded by the transformer (${s.textsEmbedded} distinct texts in ${s.embedSeconds.toFixed(1)} s: ${s.chunksPerSecond.toFixed(1)} chunks/s)`
    : 'transformer tier off (--tier static)';
  lines.push(`chunks   ${s.chunks} written with their static vectors, ${deep}`);
  const state = s.complete
    ? 'complete'
    : `partial: ${s.chunksPending} chunks without ${transformer ? 'transformer ' : ''}vectors${s.cancelled ? ', run cancelled' : ''}`;
  lines.push(`state    ${state}`);
  if (s.warnings.length > 0) lines.push(`failed   ${s.warnings.length} (see the warnings above)`);
  lines.push(`time     ${s.seconds.toFixed(1)} s (peak memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB)`);
  return lines.join('\n') + '\n';
}

/** `semsearch index [DIR] [--tier full|static] [--model M] [--device D] [--index-dir P] [--exclude GLOB]… [--max-file-size N] [--watch] [--json] [-q]` */
export const indexCommand = runIndex;

interface IndexArgs {
  root: string;
  indexPath: string;
  indexDir?: string;
  device: 'auto' | 'cpu' | 'gpu';
  model?: string;
  offline: boolean;
  /** `static`: the transformer is never loaded. */
  tier: 'full' | 'static';
  exclude: string[];
  maxFileBytes?: number;
  watch: boolean;
  json: boolean;
  quiet: boolean;
}

function parseIndexArgs(args: string[]): IndexArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      'index-dir': { type: 'string' },
      tier: { type: 'string', default: 'full' },
      exclude: { type: 'string', multiple: true, default: [] },
      'max-file-size': { type: 'string' },
      watch: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  const root = rootOf(positionals);
  return {
    root,
    indexPath: indexPathFor(root, values['index-dir']),
    indexDir: values['index-dir'],
    device: parseDevice(values.device),
    model: values.model,
    offline: values.offline,
    tier: parseTier(values.tier),
    exclude: values.exclude ?? [],
    maxFileBytes: values['max-file-size'] !== undefined ? parseBytes(values['max-file-size']) : undefined,
    watch: values.watch,
    json: values.json,
    quiet: values.quiet,
  };
}

/** What opening the index found that the user should know: a switch, a rebuild, a re-chunk, a re-embed. */
function announceOpened(engine: FolderEngine, indexer: Indexer, indexPath: string, warn: (m: string) => void): void {
  const sw = engine.switching;
  if (sw)
    warn(
      `${indexPath}: model changed (${sw.from.id} → ${sw.to.id}); building a new index in ${sw.buildPath} (it resumes if interrupted); the old one stays in use until it is complete`,
    );
  const o = indexer.store.opened;
  if (o.recovered) warn(`${indexPath}: the index was damaged (${o.recovered.reason}); moved to ${o.recovered.movedTo}, rebuilding`);
  if (o.reset === 'schema') warn(`${indexPath}: index from another version of semsearch; rebuilding`);
  if (o.reset === 'chunker') warn(`${indexPath}: chunking changed; re-chunking every file (vectors of unchanged texts are kept)`);
  if (o.modelChanged) warn(`${indexPath}: model changed (${o.modelChanged.from} → ${o.modelChanged.to}); every chunk is embedded again`);
}

/** One line (or JSON object) on stdout for each update a watch applied. */
function printUpdate(s: RefreshSummary, json: boolean): void {
  if (s.filesIndexed + s.filesRenamed + s.filesDeleted + s.filesSkipped + s.textsEmbedded === 0 && !s.cancelled) return;
  if (json) process.stdout.write(JSON.stringify(s) + '\n');
  else {
    process.stdout.write(
      `${new Date().toISOString()} ${s.kind}: ${s.filesIndexed} indexed, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ${s.filesSkipped} skipped, ` +
        `${s.textsEmbedded} embedded, ${s.complete ? 'complete' : `${s.chunksPending} pending`} (${s.seconds.toFixed(1)} s)\n`,
    );
  }
}

/** Watch the root and apply changes until `signal` aborts or the watch fails; then wait for the last update. */
async function watchUntilStopped(indexer: Indexer, root: string, signal: AbortSignal, warn: (m: string) => void): Promise<void> {
  await new Promise<void>((resolve) => {
    const w = watchRoot(indexer, (e) => {
      warn(`${root}: watch failed: ${e.message}`);
      w.close();
      resolve();
    });
    signal.addEventListener(
      'abort',
      () => {
        w.close();
        resolve();
      },
      { once: true },
    );
  });
  await indexer.idle();
}

/** The run's summary on stdout: text, or one JSON object with the model and the peak memory. */
function printSummary(
  summary: RefreshSummary,
  engine: FolderEngine,
  indexer: Indexer,
  models: { embedder: Embedder | null; staticEmbedder: StaticEmbedder },
  args: IndexArgs,
): void {
  // The index that answers now (a switch completed by this run moved it).
  const servingPath = engine.indexPath;
  if (args.json) {
    // peakRssBytes: the process's peak resident memory so far (bench/index reads it).
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(
      JSON.stringify({
        root: args.root,
        indexPath: servingPath,
        model: models.embedder?.info ?? null,
        staticModel: models.staticEmbedder.info,
        opened: indexer.store.opened,
        ...summary,
        peakRssBytes,
      }) + '\n',
    );
  } else {
    const where = engine.switching ? `${engine.store.file} (until the switch completes; new index: ${indexer.store.file})` : servingPath;
    process.stdout.write(summaryText(summary, args.root, where, models.embedder !== null));
  }
}

async function runIndex(argv: string[]): Promise<number> {
  const args = parseIndexArgs(argv);
  const { root, indexPath } = args;
  const staticEmbedder = StaticEmbedder.loadDefault();
  const embedder = args.tier === 'static' ? null : await Embedder.load(await resolveModelFromFlags(args, args.quiet), { device: args.device });
  let chunker: Chunker | undefined;
  let engine: FolderEngine | undefined;
  const startedAt = Date.now();
  const view = new ProgressLine({ quiet: args.quiet });
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
      indexDir: args.indexDir,
      staticEmbedder,
      sizer: staticEmbedder.sizer(),
      searchable: false,
      walk: { exclude: args.exclude, ...(args.maxFileBytes !== undefined ? { maxFileBytes: args.maxFileBytes } : {}) },
      onProgress: (p) => {
        view.show(indexProgressLine(p, startedAt), p.phase);
        if (p.phase === 'done') view.clear();
      },
      onWarning: warn,
      onUpdate: (s) => printUpdate(s, args.json),
      onSwitched: (from, to) => warn(`${root}: model switch done (${from.id} → ${to.id}); ${engine?.indexPath} is the index now`),
    });
    const { indexer } = engine;
    if (!indexer) throw new Error(`${indexPath}: the index cannot be updated: ${engine.indexingOff}`);
    announceOpened(engine, indexer, indexPath, warn);

    const summary = await engine.refresh(ctrl.signal);
    view.clear();
    printSummary(summary, engine, indexer, { embedder, staticEmbedder }, args);
    if (summary.cancelled) return 2;
    if (args.watch) {
      if (!args.quiet) process.stderr.write(`semsearch: watching ${root} (Ctrl-C stops)\n`);
      await watchUntilStopped(indexer, root, ctrl.signal, warn);
      return 0;
    }
    return summary.warnings.length > 0 ? 2 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    await engine?.close().catch(() => undefined);
    chunker?.dispose();
    embedder?.dispose();
  }
}
