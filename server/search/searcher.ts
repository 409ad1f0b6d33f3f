/**
 * The query path: a query → BM25 top-N over the FTS5 postings and vector top-N over the resident
 * matrix → reciprocal-rank fusion → filters → merged, ranked hits. Also find-similar, which starts
 * from a chunk's stored vector instead of a query's.
 *
 * The vector matrix mirrors the store's vectors of the active model; `sync()` brings it up to date
 * by diffing chunk ids and content hashes, so an index that changes by a few files costs a few rows.
 */
import { performance } from 'node:perf_hooks';
import type { FusionMethod, Hit, SearchMode } from '../protocol';
import { compileFilters, convexCombination, mergeOverlaps, parseQuery, QueryFilters, reciprocalRankFusion, snippetOf } from './rank';
import type { StoredChunk, Store } from '../index/store';
import { ftsQueryOf, QueryTerm, queryTerms } from '../index/identifiers';
import { VectorMatrix } from '../model/native';
import type { EmbedOptions } from '../model/embedder';

/** What the searcher needs of an embedder (embed.ts's Embedder fits). */
export interface QueryEmbedder {
  readonly info: { dim: number; device: string };
  embed(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]>;
}

export interface SearchOptions {
  mode?: SearchMode;
  top?: number;
  filters?: Partial<QueryFilters>;
  /** How hybrid mode fuses the two rankings (protocol.ts FusionMethod). */
  fusion?: FusionMethod;
  /** RRF constant k (fusion 'rrf'); larger flattens the difference between ranks. */
  rrfK?: number;
  keywordWeight?: number;
  semanticWeight?: number;
  signal?: AbortSignal;
}

export interface Timings { embedMs: number; vectorMs: number; keywordMs: number; fuseMs: number; totalMs: number }

export interface SearchOutcome {
  hits: Hit[];
  partial: boolean;
  timings: Timings;
}

export interface SimilarOutcome {
  source: { path: string; startLine: number; endLine: number; symbol: string | null } | null;
  hits: Hit[];
  partial: boolean;
}

/**
 * Words that carry no meaning for BM25 in a natural-language query ("how do i check if a file is
 * empty"). Removing them keeps the OR query from matching nearly every chunk, which costs time and
 * adds noise; identifiers are never in this list.
 */
const QUERY_STOPWORDS = new Set(
  ('a an and are as at be by can do does for from how i if in into is it its of on or so that the their then there these ' +
    'this to was we what when where which who why will with without you your my me get gets using use used ' +
    'way ways code function functions method methods')
    .split(' '),
);

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
const COMMON_TERM_MIN_CHUNKS = 5000;

/**
 * `terms` less the common plain words (COMMON_TERM_FRACTION), given how many of `total` chunks hold
 * each term (`counts`, in order). When every word is common, `keepRarest` keeps the rarest (keyword
 * mode: the user asked for words); otherwise none stay, since ranking thousands of chunks by how
 * often they repeat a word found everywhere says little, and the embedding ranking answers alone.
 */
export function dropCommonTerms(terms: readonly QueryTerm[], counts: readonly number[], total: number, keepRarest: boolean, minChunks = COMMON_TERM_MIN_CHUNKS): QueryTerm[] {
  const common = (i: number) => terms[i].parts.length === 1 && counts[i] > minChunks && counts[i] > COMMON_TERM_FRACTION * total;
  const kept = terms.filter((_, i) => !common(i));
  if (kept.length > 0 || terms.length === 0 || !keepRarest) return kept;
  let rarest = 0;
  counts.forEach((n, i) => { if (n < counts[rarest]) rarest = i; });
  return [terms[rarest]];
}

/**
 * Hybrid mode's defaults: a convex combination weighted 0.9 to the embedding ranking. The weight
 * follows how much stronger the embedding ranking is than BM25 for sentence queries with the
 * default model (development set, README "Search quality": MRR@10 0.528 against 0.350 on the
 * docstring queries, 0.527 against 0.339 on the human ones), and BM25 stays a tie-breaker (a
 * query without a vector still gets the BM25 ranking alone). With bge-small-en-v1.5 0.7 did best;
 * RRF (k 60, equal or 1:2 weights) fell below the embedding ranking with bge-small-en-v1.5 and
 * MiniLM (not retried with the adapter).
 */
export const DEFAULTS = { top: 10, fusion: 'convex', rrfK: 60, keywordWeight: 0.1, semanticWeight: 0.9 } as const;

/** Score factor of test code and prose against implementation code (see Searcher.applyPriors). */
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

export class Searcher {
  /** chunk id → content hash of the row in the matrix. */
  private readonly rows = new Map<number, string>();
  private pending = 0;
  private syncing: Promise<void> | null = null;

  constructor(
    readonly root: string,
    private readonly store: Store,
    private readonly embedder: QueryEmbedder | null,
    // Without a model there are no query vectors: no matrix (nor the native addon) is needed.
    private readonly matrix: VectorMatrix | null = embedder ? new VectorMatrix(embedder.info.dim) : null,
  ) {}

  /** Rows in the resident matrix. */
  get vectorCount(): number {
    return this.rows.size;
  }

  /** Bring the matrix up to the store's vectors (serialised; concurrent calls share one run). */
  sync(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.syncOnce().finally(() => {
        this.syncing = null;
      });
    }
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const matrix = this.matrix;
    if (!this.embedder || !matrix) return;
    const current = await this.store.vectorChunkHashes();
    const gone: number[] = [];
    for (const [id, hash] of this.rows) if (current.get(id) !== hash) gone.push(id);
    if (gone.length) {
      matrix.remove(Int32Array.from(gone));
      for (const id of gone) this.rows.delete(id);
    }
    const added: [number, string][] = [];
    for (const [id, hash] of current) if (!this.rows.has(id)) added.push([id, hash]);
    for (let i = 0; i < added.length; i += 4096) {
      const part = added.slice(i, i + 4096);
      const vectors = await this.store.vectorsByHash([...new Set(part.map(([, h]) => h))]);
      const ids: number[] = [];
      const flat = new Float32Array(part.length * matrix.dim);
      for (const [id, hash] of part) {
        const v = vectors.get(hash);
        if (!v) continue; // pruned between the two reads; the next sync sees it
        flat.set(v, ids.length * matrix.dim);
        ids.push(id);
        this.rows.set(id, hash);
      }
      if (ids.length) matrix.add(Int32Array.from(ids), flat.subarray(0, ids.length * matrix.dim));
    }
    this.pending = await this.store.pendingCount();
  }

  /** True while some chunks have no vector (as of the last sync): semantic ranking sees only part of the workspace. */
  get partial(): boolean {
    return this.pending > 0 || !this.embedder;
  }

  /**
   * `partial` as the store says now: chunks written since the last sync (while indexing) have no
   * vector yet either. Cheap: it counts the pending chunks through their partial index.
   */
  private async partialNow(): Promise<boolean> {
    if (!this.embedder) return true;
    this.pending = await this.store.pendingCount();
    return this.pending > 0;
  }

  async search(query: string, options: SearchOptions = {}): Promise<SearchOutcome> {
    const t0 = performance.now();
    const top = Math.max(1, Math.min(options.top ?? DEFAULTS.top, 1000));
    const parsed = parseQuery(query, options.filters);
    const accept = compileFilters(parsed);
    // Languages are filtered in SQL on the keyword side; paths by predicate.
    const pathOnly = compileFilters({ languages: [], pathGlobs: parsed.pathGlobs, excludePathGlobs: parsed.excludePathGlobs });
    let mode = options.mode ?? 'hybrid';
    if (!this.embedder && mode !== 'keyword') mode = 'keyword'; // no model: keyword search still answers
    const depth = Math.max(100, top * 5);
    const timings: Timings = { embedMs: 0, vectorMs: 0, keywordMs: 0, fuseMs: 0, totalMs: 0 };
    if (!parsed.text.trim()) return { hits: [], partial: await this.partialNow(), timings };

    const none = { ids: [] as number[], scores: [] as number[] };
    const keywordRanking = async (): Promise<{ ids: number[]; scores: number[] }> => {
      if (mode === 'semantic') return none;
      const t = performance.now();
      // The rarest of all-common words stays where nothing else ranks (keyword mode, no query
      // vector) and for a query of one or two words, which is most often a name to match as typed.
      const terms = queryTerms(keywordText(parsed.text));
      const keepRarest = mode === 'keyword' || queryVector === null || terms.length <= 2;
      const match = ftsQueryOf(await this.selectiveTerms(terms, keepRarest));
      const hits = match
        ? await this.store.keywordSearch(match, depth, {
            languages: parsed.languages.length ? parsed.languages : undefined,
            path: pathOnly ? (p) => pathOnly(p, '') : undefined,
          })
        : [];
      timings.keywordMs = performance.now() - t;
      return { ids: hits.map((h) => h.id), scores: hits.map((h) => h.score) };
    };
    const vectorRanking = async (q: Float32Array | null): Promise<{ ids: number[]; scores: number[] }> => {
      if (!q || !this.matrix) return none;
      const t = performance.now();
      // With filters, look deeper so that enough candidates survive them.
      const k = Math.min(this.rows.size, accept ? depth * 8 : depth);
      const { ids, scores } = await this.matrix.topK(q, k);
      timings.vectorMs = performance.now() - t;
      const ranking = { ids: [] as number[], scores: [] as number[] };
      ids.forEach((id, i) => {
        if (id >= 0) { ranking.ids.push(id); ranking.scores.push(scores[i]); }
      });
      return ranking;
    };
    // The query embedding runs alone: the encoder uses every core, and a BM25 query beside it
    // slowed both (p50 6 ms alone, 34 ms beside SQLite on 2 cores). The vector scan and BM25 are
    // one thread each and overlap.
    let queryVector: Float32Array | null = null;
    if (mode !== 'keyword' && this.embedder && this.matrix && this.rows.size > 0) {
      const t = performance.now();
      [queryVector] = await this.embedder.embed([parsed.text], { kind: 'query', signal: options.signal });
      timings.embedMs = performance.now() - t;
      options.signal?.throwIfAborted();
    }
    const [kw, vec] = await Promise.all([keywordRanking(), vectorRanking(queryVector)]);
    options.signal?.throwIfAborted();

    const t = performance.now();
    const keywordWeight = options.keywordWeight ?? DEFAULTS.keywordWeight;
    const semanticWeight = options.semanticWeight ?? DEFAULTS.semanticWeight;
    // One ranking alone (a single mode, a query without keywords, no vectors yet) keeps its order;
    // its rank-based RRF score gives the priors the same scale in every mode.
    const fused =
      (options.fusion ?? DEFAULTS.fusion) === 'convex' && kw.ids.length > 0 && vec.ids.length > 0
        ? convexCombination([{ ...kw, weight: keywordWeight }, { ...vec, weight: semanticWeight }])
        : reciprocalRankFusion([{ ids: kw.ids, weight: keywordWeight }, { ids: vec.ids, weight: semanticWeight }], options.rrfK ?? DEFAULTS.rrfK);
    const hits = await this.toHits(await this.applyPriors(fused, top, parsed.text), top, accept);
    timings.fuseMs = performance.now() - t;
    const partial = await this.partialNow();
    timings.totalMs = performance.now() - t0;
    return { hits, partial, timings };
  }

  /** `terms` without the common plain words (dropCommonTerms), by this index's counts. */
  private async selectiveTerms(terms: QueryTerm[], keepRarest: boolean): Promise<QueryTerm[]> {
    // Below the floor no word can be dropped: skip the lookup (most workspaces, every keystroke).
    if ((keepRarest && terms.length < 2) || (await this.store.chunkTotal()) <= COMMON_TERM_MIN_CHUNKS) return terms;
    const { counts, total } = await this.store.documentFrequencies(terms.map((t) => t.joined));
    return dropCommonTerms(terms, counts, total, keepRarest);
  }

  /**
   * Chunks like the one at `relPath:line` (or like `text`, when given: an unsaved editor's
   * selection). The source chunk itself, and anything overlapping it, is left out.
   */
  async similar(relPath: string, line: number, options: { top?: number; endLine?: number; text?: string; signal?: AbortSignal } = {}): Promise<SimilarOutcome> {
    const top = Math.max(1, Math.min(options.top ?? DEFAULTS.top, 1000));
    const endLine = options.endLine ?? line;
    const chunks = await this.store.chunksOfFile(relPath);
    // The smallest chunk covering the start line is the most specific source.
    const covering = chunks
      .filter((c) => c.startLine <= line && line <= c.endLine)
      .sort((a, b) => a.endLine - a.startLine - (b.endLine - b.startLine));
    const source = covering[0] ?? null;
    let vector: Float32Array | undefined;
    if (options.text !== undefined && options.text.trim()) {
      if (!this.embedder) return { source: null, hits: [], partial: true };
      [vector] = await this.embedder.embed([options.text], { kind: 'document', signal: options.signal });
    } else if (source) {
      vector = (await this.store.vectorsByHash([source.contentHash])).get(source.contentHash);
      if (!vector && this.embedder) {
        const text = await this.store.embedTextOf(source.id);
        if (text !== undefined) [vector] = await this.embedder.embed([text], { kind: 'document', signal: options.signal });
      }
    }
    const sourceInfo = source ? { path: source.path, startLine: source.startLine, endLine: source.endLine, symbol: source.symbol } : null;
    if (!vector || !this.matrix || this.rows.size === 0) return { source: sourceInfo, hits: [], partial: await this.partialNow() };
    options.signal?.throwIfAborted();
    const { ids, scores } = await this.matrix.topK(vector, Math.min(this.rows.size, top * 3 + 10));
    const lo = Math.min(line, source?.startLine ?? line);
    const hi = Math.max(endLine, source?.endLine ?? endLine);
    const ranked: { id: number; score: number }[] = [];
    ids.forEach((id, i) => id >= 0 && ranked.push({ id, score: scores[i] }));
    const hits = (await this.toHits(ranked, top + covering.length, null)).filter(
      (h) => !(h.path === relPath && h.startLine <= hi && lo <= h.endLine),
    );
    return { source: sourceInfo, hits: hits.slice(0, top), partial: await this.partialNow() };
  }

  /**
   * Ranking priors that hold for code search in general, not for one workspace: a query is most
   * often after the code that does something, so tests and prose (docs, text, data files) rank
   * below implementation code of equal relevance, unless the query itself asks for tests or docs.
   * Applied to the head of the fused list, where it can change the top results.
   */
  private async applyPriors(fused: { id: number; score: number }[], top: number, query: string): Promise<{ id: number; score: number }[]> {
    const wantsTests = /\b(test|tests|testing|spec|specs|unittest|pytest)\b/i.test(query);
    const wantsDocs = /\b(doc|docs|documentation|readme|guide|tutorial|changelog)\b/i.test(query);
    if (wantsTests && wantsDocs) return fused;
    const head = fused.slice(0, top * 5 + 50);
    const meta = new Map((await this.store.chunksByIds(head.map((f) => f.id))).map((c) => [c.id, c]));
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

  /** Resolve ranked ids to hits: filter, merge overlaps, keep `top`. */
  private async toHits(
    ranked: readonly { id: number; score: number }[],
    top: number,
    accept: ((relPath: string, language: string) => boolean) | null,
  ): Promise<Hit[]> {
    const out: Hit[] = [];
    // Fetch in slices: filters and merging may discard some, so read on until `top` remain.
    for (let i = 0; i < ranked.length && out.length < top; i += top * 2) {
      const slice = ranked.slice(i, i + top * 2);
      const chunks = new Map((await this.store.chunksByIds(slice.map((r) => r.id))).map((c) => [c.id, c]));
      const candidates: Hit[] = [...out];
      for (const r of slice) {
        const c = chunks.get(r.id);
        if (!c || (accept && !accept(c.path, c.language))) continue;
        candidates.push(this.hitOf(c, r.score));
      }
      out.splice(0, out.length, ...mergeOverlaps(candidates));
    }
    return out.slice(0, top);
  }

  private hitOf(c: StoredChunk, score: number): Hit {
    return {
      root: this.root,
      path: c.path,
      startLine: c.startLine,
      endLine: c.endLine,
      symbol: c.symbol,
      kind: c.kind,
      language: c.language,
      score,
      snippet: snippetOf(c.text),
    };
  }

  dispose(): void {
    this.matrix?.dispose();
  }
}
