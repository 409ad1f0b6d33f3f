/**
 * Pure ranking pieces of the query path: query filters, reciprocal-rank fusion, and merging of
 * overlapping hits. No I/O here; search.ts wires these to the store and the vector matrix.
 */
import picomatch from 'picomatch';

/** Filters written inside a query (`lang:go path:src/** -path:**\/test/**`) or passed apart. */
export interface QueryFilters {
  languages: string[];
  pathGlobs: string[];
  excludePathGlobs: string[];
}

export interface ParsedQuery extends QueryFilters {
  /** The query with the filter tokens removed. */
  text: string;
}

/** A filter of a query that cannot be used (a path glob the matcher refuses): the query's fault, not the engine's. */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** Common spellings users type for a language, mapped to the chunker's language names. */
const LANGUAGE_ALIASES: Record<string, string> = {
  ts: 'typescript', js: 'javascript', py: 'python', rs: 'rust', golang: 'go', 'c++': 'cpp', cxx: 'cpp',
  'c#': 'csharp', cs: 'csharp', 'c_sharp': 'csharp', rb: 'ruby', sh: 'bash', shell: 'bash', md: 'markdown', kt: 'kotlin',
};

export function normaliseLanguage(name: string): string {
  const lower = name.toLowerCase();
  return LANGUAGE_ALIASES[lower] ?? lower;
}

/** Split `lang:`, `path:` and `-path:` tokens off a query. */
export function parseQuery(query: string, extra: Partial<QueryFilters> = {}): ParsedQuery {
  const languages = (extra.languages ?? []).map(normaliseLanguage);
  const pathGlobs = [...(extra.pathGlobs ?? [])];
  const excludePathGlobs = [...(extra.excludePathGlobs ?? [])];
  const words: string[] = [];
  for (const token of query.split(/\s+/)) {
    const m = /^(-?)(lang|language|path):(.+)$/i.exec(token);
    if (!m) {
      if (token) words.push(token);
      continue;
    }
    const [, negate, key, value] = m;
    if (key.toLowerCase() === 'path') (negate ? excludePathGlobs : pathGlobs).push(value);
    else if (!negate) languages.push(...value.split(',').map(normaliseLanguage));
    else words.push(token); // "-lang:" is not a filter we offer; keep it as text rather than drop it
  }
  return { text: words.join(' '), languages, pathGlobs, excludePathGlobs };
}

/**
 * A predicate over (relative path, language) for the filters. A glob without a slash matches at
 * any depth (`*.ts`), one with a slash is anchored at the workspace root, as in .gitignore; a bare
 * folder name matches everything under it (`path:src`).
 */
export function compileFilters(filters: QueryFilters): ((relPath: string, language: string) => boolean) | null {
  if (!filters.languages.length && !filters.pathGlobs.length && !filters.excludePathGlobs.length) return null;
  const toMatcher = (glob: string) => {
    const g = glob.replace(/^\.?\//, '').replace(/\/$/, '');
    const patterns = g.includes('/') ? [g, `${g}/**`] : [`**/${g}`, `**/${g}/**`];
    try {
      const matchers = patterns.map((p) => picomatch(p, { dot: true }));
      // V8 compiles a regular expression on its first use, and refuses one too large only then:
      // use each once here, so a huge glob is a query error now rather than a failure mid-search.
      for (const m of matchers) m('a/b');
      return (relPath: string) => matchers.some((m) => m(relPath));
    } catch (e) {
      throw new QueryError(`path:${glob.length > 60 ? `${glob.slice(0, 60)}…` : glob}: ${(e as Error).message}`);
    }
  };
  const include = filters.pathGlobs.map(toMatcher);
  const exclude = filters.excludePathGlobs.map(toMatcher);
  const langs = new Set(filters.languages);
  return (relPath, language) =>
    (langs.size === 0 || langs.has(language)) &&
    (include.length === 0 || include.some((m) => m(relPath))) &&
    !exclude.some((m) => m(relPath));
}

/**
 * Reciprocal-rank fusion (Cormack et al., 2009): score(d) = Σ_i w_i / (k + rank_i(d)), ranks
 * 1-based. It needs no score calibration between BM25 and cosine, which is why it is used here.
 * Returns ids best first with their fused scores; ties keep the order of first appearance.
 */
export function reciprocalRankFusion(lists: { ids: readonly number[]; weight: number }[], k: number): { id: number; score: number }[] {
  const scores = new Map<number, number>();
  for (const { ids, weight } of lists) {
    if (weight <= 0) continue;
    ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (k + i + 1)));
  }
  return [...scores.entries()].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}

/**
 * Convex combination of min-max normalised scores: each list's scores are mapped onto [0, 1] (its
 * best 1, its worst 0), weighted, and summed per id; an id missing from a list gets 0 from it.
 * Unlike RRF this keeps how far apart the scores are, so a clear winner of the stronger ranking
 * stays on top (Bruch, Gai and Ingber 2023, "An Analysis of Fusion Functions for Hybrid Retrieval",
 * found it ahead of RRF in and out of domain). Weights are normalised to sum to 1.
 */
export function convexCombination(lists: { ids: readonly number[]; scores: readonly number[]; weight: number }[]): { id: number; score: number }[] {
  const total = lists.reduce((sum, l) => sum + Math.max(0, l.weight), 0);
  const fused = new Map<number, number>();
  for (const { ids, scores, weight } of lists) {
    if (weight <= 0 || ids.length === 0) continue;
    let lo = Infinity, hi = -Infinity;
    for (const s of scores) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
    const w = weight / total;
    ids.forEach((id, i) => fused.set(id, (fused.get(id) ?? 0) + w * (hi > lo ? (scores[i] - lo) / (hi - lo) : 1)));
  }
  return [...fused.entries()].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}

export interface Span {
  root?: string;
  path: string;
  startLine: number;
  endLine: number;
}

/**
 * Fold each hit that overlaps a better-ranked hit of the same file into it (the union of their
 * lines), so one place is shown once. Hits that merely touch are kept apart.
 */
export function mergeOverlaps<T extends Span>(ranked: readonly T[]): T[] {
  const kept: T[] = [];
  const byFile = new Map<string, T[]>();
  for (const hit of ranked) {
    const key = `${hit.root ?? ''}\0${hit.path}`;
    const same = byFile.get(key) ?? [];
    const host = same.find((h) => hit.startLine <= h.endLine && h.startLine <= hit.endLine);
    if (host) {
      host.startLine = Math.min(host.startLine, hit.startLine);
      host.endLine = Math.max(host.endLine, hit.endLine);
      continue;
    }
    const copy = { ...hit };
    same.push(copy);
    byFile.set(key, same);
    kept.push(copy);
  }
  return kept;
}

/** The first few non-blank lines of a chunk, trimmed of common indentation, for display. */
export function snippetOf(text: string, maxLines = 6, maxChars = 400): string {
  const lines = text.split(/\r?\n/);
  while (lines.length && !lines[0].trim()) lines.shift();
  const shown = lines.slice(0, maxLines);
  const indent = Math.min(...shown.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
  const out = shown.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join('\n');
  return out.length > maxChars ? out.slice(0, maxChars) + '…' : out;
}
