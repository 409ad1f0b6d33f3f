/** The query path: from a query (or a chunk, for find-similar) to ranked hits. */
export { convexCombination, fuseTiers, reciprocalRankFusion } from './fusion';
export type { TierRanking } from './fusion';
export { mergeOverlaps, snippetOf } from './hits';
export type { Span } from './hits';
export { dropCommonTerms, keywordText } from './keywordQuery';
export { isTestPath } from './priors';
export { compileFilters, normaliseLanguage, parseQuery, QueryError } from './query';
export type { ParsedQuery, QueryFilters } from './query';
export { Searcher } from './searcher';
export type { QueryEmbedder, SearcherModels, SearchOptions, SearchOutcome, SimilarOutcome, StaticQueryEmbedder, Tier, Timings } from './searcher';
