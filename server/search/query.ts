/**
 * A query's filters: `lang:`, `path:` and `-path:` tokens split off the text, and the predicate
 * they make over (path, language). Pure functions; searcher.ts applies them.
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
  ts: 'typescript',
  js: 'javascript',
  py: 'python',
  rs: 'rust',
  golang: 'go',
  'c++': 'cpp',
  cxx: 'cpp',
  'c#': 'csharp',
  cs: 'csharp',
  c_sharp: 'csharp',
  rb: 'ruby',
  sh: 'bash',
  shell: 'bash',
  md: 'markdown',
  kt: 'kotlin',
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
    (langs.size === 0 || langs.has(language)) && (include.length === 0 || include.some((m) => m(relPath))) && !exclude.some((m) => m(relPath));
}
