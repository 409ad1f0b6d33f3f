/**
 * Ranking priors that hold for code search in general, not for one workspace: a query is most
 * often after the code that does something, so tests and prose (docs, text, data files) rank
 * below implementation code of equal relevance, unless the query itself asks for tests or docs.
 */
import type { Store } from '../index/store';

/** Score factor of test code and prose against implementation code. */
const SECONDARY_WEIGHT = 0.5;
/** Chunk languages that are prose or data rather than code. */
const PROSE_LANGUAGES = new Set(['markdown', 'restructuredtext', 'text', 'asciidoc', 'html', 'json', 'yaml', 'toml', 'xml', 'csv', 'ini']);

/** Test files and folders by the conventions of the common languages and frameworks. */
export function isTestPath(relPath: string): boolean {
  return (
    /(^|\/)(tests?|__tests__|spec|specs|testdata|test-data|testing|e2e)\//i.test(relPath) ||
    /(^|\/)(test_[^/]*|[^/]*_test\.[a-z]+|[^/]*\.(test|spec)\.[a-z]+|[^/]*Tests?\.(java|kt|cs|scala|swift))$/.test(relPath)
  );
}

/**
 * Apply the priors to the head of the fused list (top × 5 + 50 entries, where they can change the
 * top results) and re-sort it; the tail is kept as it is.
 */
export async function applyPriors(store: Store, fused: { id: number; score: number }[], top: number, query: string): Promise<{ id: number; score: number }[]> {
  const wantsTests = /\b(test|tests|testing|spec|specs|unittest|pytest)\b/i.test(query);
  const wantsDocs = /\b(doc|docs|documentation|readme|guide|tutorial|changelog)\b/i.test(query);
  if (wantsTests && wantsDocs) return fused;
  const head = fused.slice(0, top * 5 + 50);
  const meta = new Map((await store.chunksByIds(head.map((f) => f.id))).map((c) => [c.id, c]));
  const adjusted = head.map((f) => {
    const c = meta.get(f.id);
    let score = f.score;
    if (c && !wantsTests && isTestPath(c.path)) score *= SECONDARY_WEIGHT;
    else if (c && !wantsDocs && PROSE_LANGUAGES.has(c.language)) score *= SECONDARY_WEIGHT;
    return { id: f.id, score };
  });
  adjusted.sort((a, b) => b.score - a.score);
  return [...adjusted, ...fused.slice(head.length)];
}
