#!/usr/bin/env node
// Behaviour snapshot: what a build of semsearch does on fixed inputs, for comparing two builds
// (before and after a restructuring that must not change behaviour).
//
//   node scripts/behaviour/snapshot.mjs --cli PATH/bin/semsearch --model MODEL --out FILE
//        [--work DIR] [--source REPO --commit REV]
//
// It indexes two workspaces with the given CLI and model: this repository as of --commit
// (`git archive`, so both builds see the same files whatever the working tree holds) and its
// test/fixtures folder on its own. For each it records every chunk (path, lines, language, kind,
// symbol, container, sha256 of the text and of the embedded text) read back from the index
// database, and the top 10 of every query in QUERIES in keyword, semantic and hybrid mode.
// `compare.mjs` reports the differences between two snapshots.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(repo, 'package.json'));
const sqlite3 = require('sqlite3');

/** Queries of several kinds: sentences, identifiers, filters, words found nowhere. */
export const QUERIES = [
  'where is the embedding batch padded to the longest input',
  'split camelCase identifiers into words',
  'reciprocal rank fusion of two rankings',
  'download a model from the hugging face hub with retries',
  'detect minified javascript files',
  'parse the safetensors header',
  'watch the workspace folder for file changes',
  'merge overlapping search hits of one file',
  'open the sqlite database and recover from corruption',
  'mean pooling over token embeddings',
  'layer norm',
  'status bar shows indexing progress',
  'find similar code to the chunk under the cursor',
  'gitignore rules in nested folders',
  'convexCombination',
  'Store.open',
  'tree-sitter grammar wasm files',
  'MCP server tool that searches code',
  'cancel a running reindex',
  'lang:python def greet',
  'path:server/** model switch',
  '-path:test/** vector matrix top k',
  'rotary position embeddings for modernbert',
  'zzqx unmatched nonsense words',
];

const MODES = ['keyword', 'semantic', 'hybrid'];

function sha(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function all(db, sql) {
  return new Promise((resolve, reject) => db.all(sql, (err, rows) => (err ? reject(err) : resolve(rows))));
}

async function chunksOf(indexFile) {
  const db = await new Promise((resolve, reject) => {
    const d = new sqlite3.Database(indexFile, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
  });
  try {
    const rows = await all(
      db,
      `SELECT f.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.container, c.text, c.embed_prefix, c.embed_text
       FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY f.path, c.start_line, c.end_line`,
    );
    return rows.map((r) => ({
      path: r.path,
      lines: `${r.start_line}-${r.end_line}`,
      language: r.language,
      kind: r.kind,
      symbol: r.symbol,
      container: r.container,
      text: sha(r.text),
      embedText: sha(r.embed_text ?? (r.embed_prefix ?? '') + r.text),
    }));
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}

function servingFile(indexDir) {
  const pointer = path.join(indexDir, 'index.current');
  return fs.existsSync(pointer) ? path.join(indexDir, fs.readFileSync(pointer, 'utf8').trim()) : path.join(indexDir, 'index.sqlite');
}

async function main() {
  const { values } = parseArgs({
    options: {
      cli: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      work: { type: 'string' },
      source: { type: 'string', default: repo },
      commit: { type: 'string', default: 'HEAD' },
    },
  });
  if (!values.cli || !values.model || !values.out) throw new Error('--cli, --model and --out are required');
  const work = path.resolve(values.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-behaviour-')));
  const commit = execFileSync('git', ['-C', values.source, 'rev-parse', values.commit], { encoding: 'utf8' }).trim();
  const tree = path.join(work, 'repo');
  if (!fs.existsSync(tree)) {
    fs.mkdirSync(tree, { recursive: true });
    execFileSync('bash', ['-c', `git -C "${values.source}" archive ${commit} | tar -x -C "${tree}"`]);
  }
  const workspaces = { repository: tree, fixtures: path.join(tree, 'test', 'fixtures') };
  const snapshot = { commit, model: values.model, chunks: {}, rankings: {} };
  for (const [name, root] of Object.entries(workspaces)) {
    const indexDir = path.join(work, `index-${name}-${sha(values.cli)}`);
    fs.rmSync(indexDir, { recursive: true, force: true });
    const t0 = Date.now();
    const run = spawnSync(values.cli, ['index', root, '--index-dir', indexDir, '--model', values.model, '--json', '-q'], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    if (run.status !== 0) throw new Error(`index ${root}: exit ${run.status}: ${run.stderr}`);
    process.stderr.write(`${name}: indexed in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    snapshot.chunks[name] = await chunksOf(servingFile(indexDir));
    snapshot.rankings[name] = {};
    for (const mode of MODES) {
      const r = spawnSync(
        values.cli,
        [
          'search',
          '--stdin',
          '--json',
          '--quiet',
          '--no-refresh',
          '--dir',
          root,
          '--index-dir',
          indexDir,
          '--top',
          '10',
          '--mode',
          mode,
          '--model',
          values.model,
        ],
        { input: QUERIES.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 28 },
      );
      if (r.status !== 0) throw new Error(`search ${root} ${mode}: exit ${r.status}: ${r.stderr}`);
      const answers = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      snapshot.rankings[name][mode] = answers.map((a) => ({
        query: a.query,
        results: a.results.map((h) => `${h.path}:${h.startLine}-${h.endLine} ${h.symbol ?? ''} ${h.score.toFixed(5)}`),
      }));
    }
  }
  fs.writeFileSync(values.out, JSON.stringify(snapshot, null, 1) + '\n');
  const n = Object.values(snapshot.chunks).reduce((s, c) => s + c.length, 0);
  process.stderr.write(`wrote ${values.out}: ${n} chunks, ${QUERIES.length} queries × ${MODES.length} modes × ${Object.keys(workspaces).length} workspaces\n`);
}

main().catch((e) => {
  process.stderr.write(`snapshot: ${e.message}\n`);
  process.exit(2);
});
