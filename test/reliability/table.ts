/**
 * The suite's results table, "Faults survived, inputs tried": each test records one row of what
 * it did and what it measured; after the run the rows are printed and written to
 * test-output/reliability/table.md (the README's table is generated from that file).
 *
 * Loaded by mocha with `--require` (test/.mocharc.reliability.json) for its root hook.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../support/paths';
import { cleanupFolders, SEED } from './support';

export interface Row {
  /** Area of the issue: process, storage, model, load, fuzzing, security. */
  area: string;
  /** The fault injected or the inputs tried. */
  what: string;
  /** How many cases (kills, files, requests, inputs). */
  cases: string;
  /** What was checked and measured. */
  outcome: string;
}

const rows: Row[] = [];
export const OUTPUT_DIR = path.join(REPO_ROOT, 'test-output', 'reliability');

/** Add a row to the table (in the order the tests run). */
export function record(row: Row): void {
  rows.push(row);
}

/** Areas in the order the table lists them. */
const AREAS = ['process', 'storage', 'model', 'load', 'fuzzing', 'security'];

/** The table as Markdown, by area. */
export function markdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| area | fault or input | cases | survived: what was checked |', '|---|---|---|---|'];
  const order = (r: Row) => (AREAS.includes(r.area) ? AREAS.indexOf(r.area) : AREAS.length);
  for (const r of [...rows].sort((a, b) => order(a) - order(b))) lines.push(`| ${esc(r.area)} | ${esc(r.what)} | ${esc(r.cases)} | ${esc(r.outcome)} |`);
  return lines.join('\n') + '\n';
}

export const mochaHooks = {
  beforeAll(): void {
    console.log(`reliability seed ${SEED} (replay a run with SEMSEARCH_FUZZ_SEED=${SEED})`);
  },
  afterAll(): void {
    cleanupFolders();
    if (rows.length === 0) return;
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    const file = path.join(OUTPUT_DIR, 'table.md');
    fs.writeFileSync(file, markdown());
    console.log(`\nFaults survived, inputs tried (${path.relative(REPO_ROOT, file)}):\n\n${markdown()}`);
  },
};
