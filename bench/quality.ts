/**
 * Retrieval quality on the development set (../shared/eval-dev): indexes each workspace with the
 * CLI, runs every query in keyword, semantic and hybrid mode through `semsearch search --stdin
 * --json`, and scores the results with the set's own scorer (score.py), with `--max-span 60`
 * (primary) and without.
 *
 * usage: node out/bench/quality.js --eval-dir ../shared/eval-dev --workspaces DIR [--docstring FILE]
 *        [--modes keyword,semantic,hybrid] [--only flask,vue] [--out test-output/quality]
 *        [--index DIR] [--model M] [--cli PATH] [--tier full|static] [--search-args="…"] [--label L]
 * --model is handed to the CLI (a folder or Hub id; default: the CLI's default model); --cli runs
 * another build of the CLI (e.g. the bundle out/cli.js) instead of bin/semsearch. The first search
 * of a workspace indexes it (with `--wait`: both tiers; `--tier static`: keywords and the static
 * tier only). --search-args adds flags to every search (e.g. `--static-weight 0.5 --keyword-weight
 * 0.2` for a sweep); --label names the results files and summary keys of such a run.
 * DIR holds the extracted workspaces (flask/, vue/, …, cosqa-dev/); --docstring is the locally
 * built docstring.jsonl (see the set's README). Writes results files and a summary JSON to --out.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

interface GoldLine {
  id: string;
  query: string;
  workspace: string;
}

const REPO = path.resolve(__dirname, '..', '..');

function readJsonl(file: string): GoldLine[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as GoldLine);
}

/** Run queries of one workspace through the CLI; returns one result line per query, in order. */
function runQueries(
  cli: { path: string; model?: string; tier: string; extra: string[] },
  workspace: string,
  indexDir: string,
  mode: string,
  queries: GoldLine[],
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        cli.path,
        'search',
        '--stdin',
        '--json',
        '--quiet',
        '--dir',
        workspace,
        '--index-dir',
        indexDir,
        '--top',
        '10',
        '--mode',
        mode,
        ...(cli.model ? ['--model', cli.model] : []),
        // --tier and --wait are newer than some builds this bench compares: pass them only when they mean something.
        ...(cli.tier === 'static' ? ['--tier', 'static'] : cli.extra.includes('--no-wait') ? [] : ['--wait']),
        ...cli.extra.filter((a) => a !== '--no-wait'),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`search in ${workspace} exited with ${code}`));
      const lines = out.split('\n').filter(Boolean);
      if (lines.length !== queries.length) return reject(new Error(`${workspace}: ${lines.length} answers for ${queries.length} queries`));
      resolve(lines.map((l, i) => JSON.stringify({ id: queries[i].id, results: (JSON.parse(l) as { results: unknown[] }).results })));
    });
    child.stdin.end(queries.map((q) => q.query.replace(/\s+/g, ' ')).join('\n') + '\n');
  });
}

function score(evalDir: string, gold: string, results: string, maxSpan: boolean): Score {
  const args = [path.join(evalDir, 'score.py'), '--gold', gold, '--results', results, '--json'];
  if (maxSpan) args.push('--max-span', '60');
  const r = spawnSync('python3', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`score.py failed: ${r.stderr}`);
  // score.py prints its table, then the JSON object.
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n{') + 1)) as Score;
  return json;
}

interface Score {
  metrics: Record<string, Record<string, number>>;
  info: { mean_result_span_top10: number; missing_queries: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'eval-dir': { type: 'string', default: path.join(REPO, '..', 'shared', 'eval-dev') },
      workspaces: { type: 'string' },
      docstring: { type: 'string' },
      modes: { type: 'string', default: 'keyword,semantic,hybrid' },
      only: { type: 'string' },
      out: { type: 'string', default: path.join(REPO, 'test-output', 'quality') },
      index: { type: 'string' },
      model: { type: 'string' },
      cli: { type: 'string', default: path.join(REPO, 'bin', 'semsearch') },
      tier: { type: 'string', default: 'full' },
      'search-args': { type: 'string', default: '' },
      label: { type: 'string', default: '' },
    },
  });
  const cli = { path: path.resolve(values.cli), model: values.model, tier: values.tier, extra: values['search-args'].split(/\s+/).filter(Boolean) };
  const label = values.label ? `.${values.label}` : '';
  const evalDir = path.resolve(values['eval-dir']);
  if (!values.workspaces) throw new Error('--workspaces DIR is required (the extracted workspaces)');
  const wsDir = path.resolve(values.workspaces);
  const out = path.resolve(values.out);
  const indexRoot = path.resolve(values.index ?? path.join(out, 'index'));
  fs.mkdirSync(out, { recursive: true });
  const sets: { name: string; gold: string }[] = [];
  if (values.docstring) sets.push({ name: 'docstring', gold: path.resolve(values.docstring) });
  sets.push({ name: 'human', gold: path.join(evalDir, 'human.jsonl') });
  const only = values.only ? new Set(values.only.split(',')) : null;
  const summary: Record<string, unknown> = {};
  for (const set of sets) {
    const gold = readJsonl(set.gold).filter((g) => !only || only.has(g.workspace));
    const byWorkspace = new Map<string, GoldLine[]>();
    for (const g of gold) byWorkspace.set(g.workspace, [...(byWorkspace.get(g.workspace) ?? []), g]);
    const goldFile = path.join(out, `${set.name}.gold.jsonl`);
    fs.writeFileSync(
      goldFile,
      fs
        .readFileSync(set.gold, 'utf8')
        .split('\n')
        .filter((l) => l && (!only || only.has((JSON.parse(l) as GoldLine).workspace)))
        .join('\n') + '\n',
    );
    for (const mode of values.modes.split(',')) {
      const lines: string[] = [];
      for (const [ws, queries] of byWorkspace) {
        const t0 = Date.now();
        lines.push(...(await runQueries(cli, path.join(wsDir, ws), path.join(indexRoot, ws), mode, queries)));
        process.stderr.write(`${set.name} ${mode} ${ws}: ${queries.length} queries, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      }
      const resultsFile = path.join(out, `${set.name}.${mode}${label}.jsonl`);
      fs.writeFileSync(resultsFile, lines.join('\n') + '\n');
      const capped = score(evalDir, goldFile, resultsFile, true);
      const open = score(evalDir, goldFile, resultsFile, false);
      summary[`${set.name}.${mode}${label}`] = { maxSpan60: capped, unrestricted: open };
      const a = capped.metrics.ALL;
      const o = open.metrics.ALL;
      console.log(
        `${set.name.padEnd(9)} ${(mode + label).padEnd(8)} MRR@10 ${fmt(a['MRR@10'])} nDCG@10 ${fmt(a['nDCG@10'])} R@10 ${fmt(a['R@10'])} ` +
          `span ${fmt(capped.info.mean_result_span_top10, 1)} | unrestricted MRR@10 ${fmt(o['MRR@10'])} nDCG@10 ${fmt(o['nDCG@10'])} R@10 ${fmt(o['R@10'])}`,
      );
    }
  }
  fs.writeFileSync(path.join(out, `summary${label}.json`), JSON.stringify(summary, null, 1));
}

function fmt(x: number | undefined, digits = 3): string {
  return x === undefined ? '?' : x.toFixed(digits);
}

main().catch((e: Error) => {
  process.stderr.write(`quality: ${e.message}\n`);
  process.exit(2);
});
