/**
 * The one-line account of an indexing job over both tiers, as the status message says it:
 * "1,204 files, 15,320 chunks; semantic (fast) ready · deep 34 %, 4.1 chunks/s, about 12 min left".
 */
import type { IndexProgress } from '../../protocol';
import { timeLeftText } from '../cli/progress';

export function tiersText(p: IndexProgress): string {
  const files = `${p.filesIndexed} files, ${p.chunks} chunks`;
  // The sidecar's first pass: files, keywords and the static tier only.
  if (p.transformer === false) return `${files}; semantic (fast) tier building`;
  const total = p.chunksEmbedded + p.chunksPending;
  const pct = total > 0 ? Math.floor((100 * p.chunksEmbedded) / total) : 100;
  const rate = p.chunksPerSecond ? `, ${p.chunksPerSecond.toFixed(1)} chunks/s` : '';
  const left = p.etaSeconds !== undefined && p.chunksPending > 0 ? `, ${timeLeftText(p.etaSeconds)}` : '';
  const fast = p.staticPending === undefined ? '' : p.staticPending === 0 ? 'semantic (fast) ready · ' : `semantic (fast) ${p.staticPending} to go · `;
  return `${files}; ${fast}deep ${pct} %${rate}${left}`;
}
