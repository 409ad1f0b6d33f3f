/**
 * `semsearch search` and `semsearch similar`: the query path from a terminal.
 *
 * JSON output (`--json`), one object per query:
 *   {"query": "...", "mode": "hybrid", "partial": false, "tiers": ["keyword", "static", "transformer"],
 *    "results": [{"path", "startLine", "endLine", "score", "symbol", "kind", "language"}]}
 * `tiers` names the rankings that answered; `partial` is true while the transformer tier lacks chunks.
 *
 * Tiers. Before answering, the index is brought up to date with the disk for keywords and the
 * static tier (seconds, even on a folder never indexed); the transformer tier is embedded then
 * only when few chunks lack it (QUICK_TRANSFORMER_CHUNKS) or with `--wait`, since on a CPU a whole
 * folder takes minutes to hours. Otherwise the answer comes at once from what is there and says
 * what is missing (`semsearch index` fills it in). `--tier static` never loads the transformer.
 * `path` is relative to --dir with `/` separators; lines are 1-based and inclusive.
 * With `--stdin`, one query per input line and one JSON object per output line, in order; the
 * index and model are loaded once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { relativeInside } from '../../common/paths';
import { openStandalone, StandaloneEngine } from '../../engine';
import { MODEL_OPTIONS, resolveModelFromFlags } from './modelFlags';
import type { Hit, SearchMode } from '../../protocol';
import { indexProgressLine, ProgressLine } from './progress';
import { indexPathFor } from '../../index/store';
import { existingFolder, parseDevice, parseTier, parseWeight, UsageError } from './usage';

/** At most this many chunks without their transformer vector are embedded before answering (a few seconds on a CPU). */
const QUICK_TRANSFORMER_CHUNKS = 32;

const MODES: readonly SearchMode[] = ['hybrid', 'semantic', 'keyword'];

const common = {
  dir: { type: 'string', default: '.' },
  top: { type: 'string', default: '10' },
  json: { type: 'boolean', default: false },
  ...MODEL_OPTIONS,
  'index-dir': { type: 'string' },
  'no-refresh': { type: 'boolean', default: false },
  tier: { type: 'string', default: 'full' },
  wait: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
} as const;

interface CommonValues {
  dir: string;
  top: string;
  json: boolean;
  model?: string;
  offline: boolean;
  device: string;
  'index-dir'?: string;
  'no-refresh': boolean;
  tier: string;
  wait: boolean;
  quiet: boolean;
}

function topOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--top must be an integer from 1 to 1000, not "${s}"`);
  return n;
}

/** Open the engine for --dir and bring its index up to date (see the module comment on tiers). */
async function openEngine(values: CommonValues): Promise<StandaloneEngine> {
  const root = existingFolder(values.dir);
  const device = parseDevice(values.device);
  const tiers = parseTier(values.tier);
  const model = tiers === 'static' ? undefined : await resolveModelFromFlags(values, values.quiet);
  const indexPath = indexPathFor(root, values['index-dir']);
  const existed = fs.existsSync(indexPath);
  const started = Date.now();
  const view = new ProgressLine({ quiet: values.quiet, terminalOnly: true });
  const opened = await openStandalone(root, {
    model,
    device,
    tiers,
    indexDir: values['index-dir'],
    onProgress: (p) => view.show(indexProgressLine(p, started), p.phase),
    onWarning: values.quiet ? undefined : (m) => process.stderr.write(`\rsemsearch: ${m}\x1b[K\n`),
  });
  const st = await opened.engine.store.stats();
  const staticDone = !st.staticTier || st.staticTier.pending === 0;
  const transformerDone = !opened.embedder || (!st.partial && st.model?.fingerprint === opened.embedder.info.fingerprint);
  const complete = existed && st.complete && staticDone && transformerDone;
  if (complete && values['no-refresh']) return opened;
  const sw = opened.engine.switching;
  if (sw && !values.quiet)
    process.stderr.write(
      `semsearch: ${root}: model changed (${sw.from.id} → ${sw.to.id}); embedding the workspace with ${sw.to.id} (it resumes if interrupted)\n`,
    );
  else if (!complete && !values.quiet) process.stderr.write(`semsearch: indexing ${root} (${existed ? 'incomplete index' : 'no index yet'})\n`);
  if (values.wait || !opened.embedder) await opened.engine.refresh();
  else {
    const fast = await opened.engine.refresh(undefined, { transformer: false });
    if (fast.chunksPending > 0 && fast.chunksPending <= QUICK_TRANSFORMER_CHUNKS) await opened.engine.refresh();
  }
  view.clear();
  return opened;
}

/** What a partial answer lacks, and how to complete it (stderr, unless quiet). */
async function notePartial(opened: StandaloneEngine, root: string): Promise<void> {
  const st = await opened.engine.stats();
  const missing = st.chunks - st.chunksWithVectors;
  if (!opened.embedder) return;
  process.stderr.write(
    `semsearch: the transformer tier has ${st.chunksWithVectors} of ${st.chunks} chunks; the other ${missing} are ranked by keywords and the static tier. ` +
      `\`semsearch index ${root}\` embeds them (or pass --wait)\n`,
  );
}

/** Fusion weights given on the command line (absent ones keep their defaults). */
function weightsOf(values: { 'keyword-weight'?: string; 'static-weight'?: string; 'semantic-weight'?: string }) {
  const out: { keywordWeight?: number; staticWeight?: number; semanticWeight?: number } = {};
  const k = parseWeight('keyword-weight', values['keyword-weight']);
  const s = parseWeight('static-weight', values['static-weight']);
  const t = parseWeight('semantic-weight', values['semantic-weight']);
  if (k !== undefined) out.keywordWeight = k;
  if (s !== undefined) out.staticWeight = s;
  if (t !== undefined) out.semanticWeight = t;
  return out;
}

function jsonResult(hit: Hit) {
  return { path: hit.path, startLine: hit.startLine, endLine: hit.endLine, score: hit.score, symbol: hit.symbol, kind: hit.kind, language: hit.language };
}

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** ripgrep-like human output: `path:line` (magenta/green), symbol, then an indented snippet. */
function printHuman(hits: Hit[], queryWords: string[]): void {
  const words = queryWords.filter((w) => w.length > 2).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = words.length ? new RegExp(`(${words.join('|')})`, 'gi') : null;
  for (const h of hits) {
    const where = `${paint('35', h.path)}:${paint('32', String(h.startLine))}-${h.endLine}`;
    process.stdout.write(`${where}  ${paint('1', h.symbol ?? '')} ${paint('2', `${h.kind} · ${h.score.toFixed(4)}`)}\n`);
    for (const line of h.snippet.split('\n')) {
      process.stdout.write(`    ${re && color ? line.replace(re, (m) => paint('1;31', m)) : line}\n`);
    }
    process.stdout.write('\n');
  }
}

export async function searchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...common,
      mode: { type: 'string', default: 'hybrid' },
      stdin: { type: 'boolean', default: false },
      'keyword-weight': { type: 'string' },
      'static-weight': { type: 'string' },
      'semantic-weight': { type: 'string' },
    },
  });
  const weights = weightsOf(values);
  const mode = values.mode as SearchMode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}, not "${values.mode}"`);
  const top = topOf(values.top);
  if (values.stdin ? positionals.length !== 0 : positionals.length !== 1) {
    throw new UsageError(values.stdin ? 'with --stdin, queries come from standard input, one per line' : 'expected one query (quote it)');
  }
  const opened = await openEngine(values);
  try {
    const run = async (query: string) => {
      const r = await opened.engine.search(query, { mode, top, ...weights });
      return { query, mode, partial: r.partial, tiers: r.tiers, results: r.hits };
    };
    if (values.stdin) {
      const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
      for await (const line of rl) {
        const r = await run(line);
        process.stdout.write(JSON.stringify({ ...r, results: r.results.map(jsonResult) }) + '\n');
      }
      return 0;
    }
    const r = await run(positionals[0]);
    if (values.json) process.stdout.write(JSON.stringify({ ...r, results: r.results.map(jsonResult) }) + '\n');
    else {
      if (r.partial && !values.quiet) await notePartial(opened, existingFolder(values.dir));
      printHuman(r.results, positionals[0].split(/\s+/));
    }
    return r.results.length ? 0 : 1;
  } finally {
    await opened.close();
  }
}

export async function similarCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: common });
  const top = topOf(values.top);
  const m = positionals.length === 1 ? /^(.*):(\d+)$/.exec(positionals[0]) : null;
  if (!m) throw new UsageError('expected <path>:<line>');
  const root = path.resolve(values.dir);
  // A path relative to the working directory, or else to --dir.
  let abs = path.resolve(m[1]);
  if (!fs.existsSync(abs)) abs = path.resolve(root, m[1]);
  const relPath = relativeInside(root, abs);
  if (relPath === null) throw new UsageError(`${m[1]}: outside ${root}`);
  const opened = await openEngine(values);
  try {
    const r = await opened.engine.similar(relPath, Number(m[2]), { top });
    if (!r.source) {
      process.stderr.write(`semsearch: ${relPath}:${m[2]}: no indexed chunk there\n`);
      return 2;
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ source: r.source, partial: r.partial, results: r.hits.map(jsonResult) }) + '\n');
    } else {
      if (r.partial && !values.quiet) await notePartial(opened, root);
      process.stdout.write(`${paint('2', `similar to ${r.source.path}:${r.source.startLine}-${r.source.endLine} ${r.source.symbol ?? ''}`)}\n\n`);
      printHuman(r.hits, []);
    }
    return r.hits.length ? 0 : 1;
  } finally {
    await opened.close();
  }
}
