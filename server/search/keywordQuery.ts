/**
 * Planning the keyword (BM25) side of a query: which words go to FTS5. Stop words of sentence
 * queries are dropped, and in a large index plain words found almost everywhere are left out,
 * since they weigh little and cost the most. Pure functions over counts the store provides.
 */
import type { QueryTerm } from '../index/identifiers';

/**
 * Words that carry no meaning for BM25 in a natural-language query ("how do i check if a file is
 * empty"). Removing them keeps the OR query from matching nearly every chunk, which costs time and
 * adds noise; identifiers are never in this list.
 */
const QUERY_STOPWORDS = new Set(
  (
    'a an and are as at be by can do does for from how i if in into is it its of on or so that the their then there these ' +
    'this to was we what when where which who why will with without you your my me get gets using use used ' +
    'way ways code function functions method methods'
  ).split(' '),
);

/** The query less its stop words (a query of stop words only is kept as it is). */
export function keywordText(query: string): string {
  const words = query.split(/\s+/).filter((w) => w && !QUERY_STOPWORDS.has(w.toLowerCase()));
  // A query made only of stop words still searches for them rather than for nothing.
  return words.length ? words.join(' ') : query;
}

/**
 * A plain query word is left out of the BM25 query when more than COMMON_TERM_FRACTION of all
 * chunks and more than COMMON_TERM_MIN_CHUNKS chunks hold it. Such a word weighs little (its IDF is
 * below ln 9 ≈ 2.2, against 5 or more for a distinctive word in a large index) but costs the most:
 * FTS5 scores every chunk that holds any query word, so one word found in half of 100,000 chunks
 * makes a query scan 50,000 of them. The floor keeps small and medium workspaces on exact BM25.
 * Identifiers with several parts (`getUserName`) are never left out.
 */
const COMMON_TERM_FRACTION = 0.1;
export const COMMON_TERM_MIN_CHUNKS = 5000;

/**
 * `terms` less the common plain words (COMMON_TERM_FRACTION), given how many of `total` chunks hold
 * each term (`counts`, in order). When every word is common, `keepRarest` keeps the rarest (keyword
 * mode: the user asked for words); otherwise none stay, since ranking thousands of chunks by how
 * often they repeat a word found everywhere says little, and the embedding ranking answers alone.
 */
export function dropCommonTerms(
  terms: readonly QueryTerm[],
  counts: readonly number[],
  total: number,
  keepRarest: boolean,
  minChunks = COMMON_TERM_MIN_CHUNKS,
): QueryTerm[] {
  const common = (i: number) => terms[i].parts.length === 1 && counts[i] > minChunks && counts[i] > COMMON_TERM_FRACTION * total;
  const kept = terms.filter((_, i) => !common(i));
  if (kept.length > 0 || terms.length === 0 || !keepRarest) return kept;
  let rarest = 0;
  counts.forEach((n, i) => {
    if (n < counts[rarest]) rarest = i;
  });
  return [terms[rarest]];
}
