/**
 * Indexing benchmark: files, chunks, chunks/s and peak RSS of `semsearch index` at two (or more)
 * repository sizes, to show that peak memory does not grow with the repository.
 *
 * The repositories are built, reproducibly, from this checkout's node_modules (pinned by
 * package-lock.json): source and text files (.js .ts .mjs .cjs .json .md .py .c .h .cc, at most
 * --max-bytes, default 4 KiB, no .min.) are listed in sorted order and every k-th one is copied
 * (k = candidates / N), keeping its path with `node_modules/` renamed `pkgs/` (the walker
 * excludes node_modules). They live in a temporary folder, removed at the end unless --keep.
 *
 * Each size is indexed by a fresh `node bin/semsearch index DIR --index-dir TMP --json` child, so
 * peak RSS (the child's process.resourceUsage().maxRSS, reported in its JSON summary) covers one
 * run only. A one-file run gives the baseline (runtime + model + grammars).
 *
 * Embedding dominates the time (CPU MiniLM: tens of chunks/s on 2 cores), hence the 4 KiB cap:
 * files ≤ 32 KiB average ~7.6 chunks each (4,000 files ≈ 30k chunks, hours on a loaded 2-core
 * machine); ≤ 4 KiB keeps the two runs under an hour there. The machine's load average is
 * printed: chunks/s on a shared machine says little; peak RSS does not depend on load.
 *
 * Tiers: `--tier static` indexes keywords and the static tier only (no transformer loads), so
 * `total s` is the time until the static tier is complete and searchable; the stage columns
 * (busy seconds summed over the file workers: read+hash, tree-sitter, static vectors, SQLite)
 * say where it goes. `--repo DIR` (repeatable) also indexes existing folders, e.g. vuejs/core.
 * `--reference-cli PATH` indexes every tree a second time with another build (e.g. the previous
 * release's bin/semsearch) and prints the ratio of chunks/s and total seconds, measured in the
 * same run.
 *
 * usage: node out/bench/index.js [--sizes 1000,4000] [--max-bytes 4096] [--device cpu|gpu|auto]
 *        [--model DIR] [--source DIR] [--tier full|static] [--repo DIR]... [--reference-cli PATH]
 *        [--keep] [--json]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO_ROOT, 'bin', 'semsearch');

interface RunOptions {
  bin: string;
  device: string;
  model?: string;
  /** Undefined: the build's default (and no --tier flag, which older builds do not know). */
  tier?: string;
}
const EXTS = new Set(['.js', '.ts', '.mjs', '.cjs', '.json', '.md', '.py', '.c', '.h', '.cc']);

function candidates(source: string, maxBytes: number): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) visit(abs);
      else if (d.isFile() && EXTS.has(path.extname(d.name)) && !d.name.includes('.min.')) {
        if (fs.statSync(abs).size <= maxBytes) out.push(path.relative(source, abs));
      }
    }
  };
  visit(source);
  return out;
}

/** Copy every k-th candidate into `dest`; returns the list's hash (same list → same hash). */
function buildRepo(source: string, all: string[], n: number, dest: string): string {
  const stride = Math.max(1, Math.floor(all.length / n));
  const chosen = all.filter((_, i) => i % stride === 0).slice(0, n);
  const h = createHash('sha256');
  for (const rel of chosen) {
    const to = path.join(
      dest,
      'pkgs',
      rel
        .split(path.sep)
        .map((p) => (p === 'node_modules' ? 'pkgs' : p))
        .join(path.sep),
    );
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(source, rel), to);
    h.update(rel).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

interface Row {
  files: number;
  listHash: string;
  filesIndexed: number;
  filesSkipped: number;
  chunks: number;
  textsEmbedded: number;
  embedSeconds: number;
  chunksPerSecond: number;
  seconds: number;
  peakRssMB: number;
  indexMB: number;
  stageSeconds: { read: number; chunk: number; static: number; write: number } | null;
}

function indexOnce(dir: string, idx: string, o: RunOptions): Row & { json: Record<string, unknown> } {
  const args = [
    o.bin,
    'index',
    dir,
    '--index-dir',
    idx,
    '--device',
    o.device,
    '--json',
    '-q',
    ...(o.model ? ['--model', o.model] : []),
    ...(o.tier ? ['--tier', o.tier] : []),
  ];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`semsearch index ${dir} exited ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as Record<string, number> & Record<string, unknown>;
  return {
    json: j,
    files: 0,
    listHash: '',
    filesIndexed: j.filesIndexed,
    filesSkipped: j.filesSkipped,
    chunks: j.chunks,
    textsEmbedded: j.textsEmbedded,
    embedSeconds: j.embedSeconds,
    chunksPerSecond: j.chunksPerSecond,
    seconds: j.seconds,
    peakRssMB: j.peakRssBytes / 1024 / 1024,
    indexMB: fs.statSync(path.join(idx, 'index.sqlite')).size / 1024 / 1024,
    stageSeconds: (j.stageSeconds as unknown as Row['stageSeconds']) ?? null,
  };
}

const HEADER =
  'files  list          indexed  skipped  chunks  embedded  embed s  chunks/s  total s  peak RSS MB  index MB  read s  chunk s  static s  sqlite s';

function rowText(r: Row, label: string): string {
  const st = r.stageSeconds;
  const stages = st ? `  ${[st.read, st.chunk, st.static, st.write].map((x, i) => x.toFixed(1).padStart([6, 7, 8, 8][i])).join('  ')}` : '';
  return (
    `${label.padStart(5)}  ${r.listHash.padEnd(12)}  ${String(r.filesIndexed).padStart(7)}  ${String(r.filesSkipped).padStart(7)}  ${String(r.chunks).padStart(6)}  ` +
    `${String(r.textsEmbedded).padStart(8)}  ${r.embedSeconds.toFixed(1).padStart(7)}  ${r.chunksPerSecond.toFixed(1).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}  ` +
    `${r.peakRssMB.toFixed(0).padStart(11)}  ${r.indexMB.toFixed(1).padStart(8)}${stages}`
  );
}

function main(): void {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,4000' },
      device: { type: 'string', default: 'cpu' },
      model: { type: 'string' },
      source: { type: 'string', default: path.join(REPO_ROOT, 'node_modules') },
      'max-bytes': { type: 'string', default: '4096' },
      tier: { type: 'string' },
      repo: { type: 'string', multiple: true, default: [] },
      'reference-cli': { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').filter(Boolean).map(Number);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-bench-index-'));
  const all = candidates(values.source, Number(values['max-bytes']));
  const loadBefore = os.loadavg()[0];
  const builds: { name: string; options: RunOptions }[] = [
    { name: 'this', options: { bin: BIN, device: values.device, model: values.model, tier: values.tier } },
  ];
  if (values['reference-cli'])
    builds.push({ name: 'reference', options: { bin: path.resolve(values['reference-cli']), device: values.device, model: values.model } });
  const rows: (Row & { label: string; build: string })[] = [];
  const measure = (dir: string, label: string, listHash: string) => {
    for (const b of builds) {
      const r = indexOnce(dir, path.join(work, `idx-${b.name}-${rows.length}`), b.options);
      rows.push({ ...r, files: r.filesIndexed, listHash, label, build: b.name });
      process.stderr.write(`bench index: ${label} with ${b.name} done (${r.seconds.toFixed(0)} s)\n`);
    }
  };
  try {
    // Baseline: one small file (runtime, model and grammars loaded; nothing to speak of indexed).
    const base = path.join(work, 'baseline');
    fs.mkdirSync(base);
    fs.writeFileSync(path.join(base, 'a.ts'), 'export const a = 1;\n');
    measure(base, '1', '-');
    for (const n of sizes) {
      const dir = path.join(work, `repo-${n}`);
      measure(dir, String(n), buildRepo(values.source, all, n, dir));
    }
    for (const repo of values.repo) measure(path.resolve(repo), path.basename(repo), 'repo');
  } finally {
    if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`bench index: kept ${work}\n`);
  }
  const load = `load average ${loadBefore.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end`;
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, device ${values.device}, tier ${values.tier ?? 'default'}; ${load}`;
  if (values.json) {
    process.stdout.write(JSON.stringify({ machine, candidates: all.length, rows }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`machine: ${machine}\nsource: ${values.source} (${all.length} candidate files)\n\n`);
  for (const b of builds) {
    if (builds.length > 1) process.stdout.write(`${b.name} (${b.options.bin})\n`);
    process.stdout.write(HEADER + '\n');
    for (const r of rows.filter((x) => x.build === b.name)) process.stdout.write(rowText(r, r.label) + '\n');
    process.stdout.write('\n');
  }
  if (builds.length > 1) {
    process.stdout.write('this / reference: chunks/s, total s\n');
    for (const r of rows.filter((x) => x.build === 'this')) {
      const ref = rows.find((x) => x.build === 'reference' && x.label === r.label)!;
      process.stdout.write(`${r.label.padStart(8)}  ${(r.chunksPerSecond / ref.chunksPerSecond).toFixed(2)}×  ${(r.seconds / ref.seconds).toFixed(2)}×\n`);
    }
  }
}

main();
