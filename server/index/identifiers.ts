/**
 * Identifier splitting for the keyword (BM25) index, shared by the index side (store/) and the
 * query side (search/), so that both see the same terms.
 *
 * SQLite's `unicode61` tokenizer lower-cases and splits on anything that is not a letter, digit or
 * mark, so `get_user_name` becomes three tokens but `getUserName` stays one. `splitIdentifiers`
 * rewrites a text so that every word appears joined (lower-cased, underscores dropped) and, when it
 * has several parts, part by part: `getUserName` and `get_user_name` both become
 * `getusername get user name`; `HTTPServer2` becomes `httpserver2 http server 2`. Punctuation is
 * dropped (the tokenizer would drop it anyway). A query for `getUserName`, `get_user_name`,
 * `GetUserName` or `user` thus finds the same code.
 */

/** Words of a text: letters, marks, digits and underscores. */
const WORD = /[\p{L}\p{M}\p{N}_]+/gu;
/** Parts of one word without underscores: `XMLHttpRequest2` → XML, Http, Request, 2. */
const PART = /\p{Lu}+(?=\p{Lu}[\p{Ll}\p{M}])|\p{Lu}?[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[\p{Lu}\p{Lt}]+|\p{N}+/gu;
/** Words longer than this (base64, hashes, minified blobs) are kept whole and not split. */
const MAX_SPLIT = 64;

/** The lower-cased parts of one identifier (`getUserName` → get, user, name). */
export function identifierParts(word: string): string[] {
  if (word.length > MAX_SPLIT) return [word.replace(/_/g, '').toLowerCase()].filter(Boolean);
  const parts: string[] = [];
  for (const piece of word.split('_')) {
    if (!piece) continue;
    const found = piece.match(PART);
    if (found) for (const p of found) parts.push(p.toLowerCase());
    else parts.push(piece.toLowerCase());
  }
  return parts;
}

/**
 * Return the text the keyword index holds for `text`: each word joined and lower-cased, followed by
 * its parts when it has more than one. Deterministic; queries must go through the same function.
 */
export function splitIdentifiers(text: string): string {
  const out: string[] = [];
  for (const m of text.matchAll(WORD)) {
    const parts = identifierParts(m[0]);
    if (parts.length === 0) continue;
    out.push(parts.join(''));
    if (parts.length > 1) out.push(...parts);
  }
  return out.join(' ');
}

/** One query word: its joined form and its parts (`getUserName` → 'getusername', get/user/name). */
export interface QueryTerm {
  joined: string;
  parts: string[];
}

/**
 * Terms of a query, for building an FTS5 MATCH expression: one entry per query word with its joined
 * form and its parts (`getUserName` → {joined: 'getusername', parts: ['get','user','name']}).
 */
export function queryTerms(query: string): QueryTerm[] {
  const terms: QueryTerm[] = [];
  const seen = new Set<string>();
  for (const m of query.matchAll(WORD)) {
    const parts = identifierParts(m[0]);
    if (parts.length === 0) continue;
    const joined = parts.join('');
    if (seen.has(joined)) continue;
    seen.add(joined);
    terms.push({ joined, parts });
  }
  return terms;
}

/**
 * Return an FTS5 MATCH expression for a free-text query, or null when it has no words.
 * Each word matches its joined form or the phrase of its parts (`getUserName` →
 * `("getusername" OR "get user name")`); words are combined with OR (`any`, BM25 ranks documents
 * holding more of them higher) or AND (`all`). Every term is quoted, so FTS5 operators and
 * punctuation in the query never cause a syntax error.
 */
export function ftsQuery(query: string, mode: 'any' | 'all' = 'any'): string | null {
  return ftsQueryOf(queryTerms(query), mode);
}

/** ftsQuery for terms already taken from a query (queryTerms), e.g. after some were dropped. */
export function ftsQueryOf(terms: readonly QueryTerm[], mode: 'any' | 'all' = 'any'): string | null {
  if (terms.length === 0) return null;
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const clauses = terms.map((t) => (t.parts.length > 1 ? `(${q(t.joined)} OR ${q(t.parts.join(' '))})` : q(t.joined)));
  return clauses.join(mode === 'all' ? ' AND ' : ' OR ');
}
