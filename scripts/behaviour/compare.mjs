#!/usr/bin/env node
// Compare two behaviour snapshots (snapshot.mjs): chunks and rankings must be identical.
//   node scripts/behaviour/compare.mjs BEFORE.json AFTER.json
// Prints a summary line per workspace and the first differences; exit 0 when identical, 1 if not.
import * as fs from 'node:fs';

const [a, b] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
if (!a || !b) {
  process.stderr.write('usage: compare.mjs BEFORE.json AFTER.json\n');
  process.exit(2);
}
let differences = 0;
const show = (what) => {
  if (differences++ < 20) process.stdout.write(`  ${what}\n`);
};
for (const ws of Object.keys(a.chunks)) {
  const ca = a.chunks[ws].map((c) => JSON.stringify(c));
  const cb = (b.chunks[ws] ?? []).map((c) => JSON.stringify(c));
  const sb = new Set(cb);
  const sa = new Set(ca);
  const onlyA = ca.filter((c) => !sb.has(c));
  const onlyB = cb.filter((c) => !sa.has(c));
  for (const c of onlyA.slice(0, 5)) show(`${ws}: chunk only before: ${c}`);
  for (const c of onlyB.slice(0, 5)) show(`${ws}: chunk only after: ${c}`);
  let rankings = 0;
  let same = 0;
  for (const mode of Object.keys(a.rankings[ws])) {
    a.rankings[ws][mode].forEach((q, i) => {
      rankings++;
      const other = b.rankings[ws]?.[mode]?.[i];
      if (other && other.query === q.query && JSON.stringify(other.results) === JSON.stringify(q.results)) same++;
      else show(`${ws} ${mode} "${q.query}": ${JSON.stringify(q.results.slice(0, 3))} → ${JSON.stringify(other?.results.slice(0, 3))}`);
    });
  }
  process.stdout.write(
    `${ws}: chunks ${ca.length} before, ${cb.length} after, ${onlyA.length + onlyB.length} differ; ` +
      `rankings ${same}/${rankings} identical (top 10, scores to 5 decimals)\n`,
  );
  if (onlyA.length + onlyB.length > 0 || same !== rankings) differences++;
}
process.stdout.write(differences ? 'DIFFERENT\n' : 'identical\n');
process.exit(differences ? 1 : 0);
