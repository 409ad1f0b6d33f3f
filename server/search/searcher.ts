/**
 * The query path: a query → three rankings — BM25 top-N over the FTS5 postings (keywordQuery.ts
 * plans it), the static tier's nearest chunks and the transformer tier's (tierIndex.ts, resident
 * matrices) → fusion (fusion.ts fuseTiers: a convex combination in which a chunk a tier has not
 * reached yet is ranked by the others) → priors (priors.ts) → filters (query.ts) → merged, ranked
 * hits (hits.ts). Also find-similar, which starts from a chunk's stored vectors instead of a
 * query's.
 *
 * The static tier covers every chunk as soon as its file is indexed; the transformer tier fills
 * in behind it. `partial` stays true until the transformer tier is complete (or, without a
 * transformer, the static tier).
 */
import { performance } from 'node:perf_hooks';
import { ftsQueryOf, QueryTerm, queryTerms } from '../index/identifiers';
import type { StoredChunk, Store } from '../index/store';
import type { EmbedOptions } from '../model/embedder';
import { VectorMatrix } from '../model/native';
import { TierIndex } from './tierIndex';
import { DEFAULT_SETTINGS, DEFAULT_TOP, FusionMethod, Hit, MAX_TOP, SearchMode, SearchTier } from '../protocol';
import { fuseTiers, reciprocalRankFusion, TierRanking } from './fusion';
import { mergeOverlaps, snippetOf } from './hits';
import { COMMON_TERM_MIN_CHUNKS, dropCommonTerms, keywordText } from './keywordQuery';
import { applyPriors } from './priors';
import { compileFilters, ParsedQuery, parseQuery, QueryFilters } from './query';

/** A ranking of chunk ids, best first, with their scores. */
interface Ranking {
  ids: number[];
  scores: number[];
}

const NO_RANKING: Ranking = { ids: [], scores: [] };

/** `top` as asked (default DEFAULT_TOP), within 1..MAX_TOP. */
function clampTop(top: number | undefined): number {
  return Math.max(1, Math.min(top ?? DEFAULT_TOP, MAX_TOP));
}

/** What the searcher needs of the transformer (model/embedder.ts's Embedder fits). */
export interface QueryEmbedder {
  readonly info: { dim: number; device: string };
  embed(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]>;
}

/** What the searcher needs of the static model (model/static.ts's StaticEmbedder fits). */
export interface StaticQueryEmbedder {
  readonly info: { dim: number };
  embed(texts: readonly string[]): Promise<(Float32Array | null)[]>;
}

/** A ranking tier, as results name the ones that answered. */
export type Tier = SearchTier;

export interface SearchOptions {
  mode?: SearchMode;
  top?: number;
  filters?: Partial<QueryFilters>;
  /** How hybrid mode fuses the rankings (protocol.ts FusionMethod). */
  fusion?: FusionMethod;
  /** RRF constant k (fusion 'rrf'); larger flattens the difference between ranks. */
  rrfK?: number;
  keywordWeight?: number;
  /** Weight of the transformer tier. */
  semanticWeight?: number;
  /** Weight of the static tier. */
  staticWeight?: number;
  signal?: AbortSignal;
}

export interface Timings {
  embedMs: number;
  vectorMs: number;
  keywordMs: number;
  fuseMs: number;
  totalMs: number;
}

export interface SearchOutcome {
  hits: Hit[];
  partial: boolean;
  /** The tiers that ranked chunks for this query. */
  tiers: Tier[];
  timings: Timings;
}

export interface SimilarOutcome {
  source: { path: string; startLine: number; endLine: number; symbol: string | null } | null;
  hits: Hit[];
  partial: boolean;
}

/** The searcher's models: the transformer's and the static model's query embedders (either may be absent). */
export interface SearcherModels {
  staticEmbedder?: StaticQueryEmbedder | null;
}

export class Searcher {
  /** The transformer tier's vectors (null without a transformer). */
  private readonly transformer: TierIndex | null;
  /** The static tier's vectors (null without a static model). */
  private readonly staticTier: TierIndex | null;
  private readonly staticEmbedder: StaticQueryEmbedder | null;
  private pending = 0;

  constructor(
    readonly root: string,
    private readonly store: Store,
    private readonly embedder: QueryEmbedder | null,
    models: SearcherModels = {},
  ) {
    // Without a model there are no query vectors: no matrix (nor the native addon) is needed.
    this.transformer = embedder ? new TierIndex(store, 'transformer', () => store.modelFingerprint, new VectorMatrix(embedder.info.dim)) : null;
    this.staticEmbedder = models.staticEmbedder ?? null;
    this.staticTier = this.staticEmbedder
      ? new TierIndex(store, 'static', () => store.staticFingerprint, new VectorMatrix(this.staticEmbedder.info.dim, { device: 'cpu' }))
      : null;
  }

  /** Rows in the transformer tier's resident matrix. */
  get vectorCount(): number {
    return this.transformer?.size ?? 0;
  }

  /** Rows in the static tier's resident matrix. */
  get staticVectorCount(): number {
    return this.staticTier?.size ?? 0;
  }

  /** Bring the resident matrices up to the store's vectors. */
  async sync(): Promise<void> {
    await Promise.all([this.transformer?.sync(), this.staticTier?.sync()]);
    await this.partialNow();
  }

  /** True while some chunks have no vector (as of the last sync): semantic ranking sees only part of the workspace. */
  get partial(): boolean {
    return this.pending > 0 || (!this.embedder && !this.staticEmbedder);
  }

  /**
   * `partial` as the store says now: chunks written since the last sync (while indexing) have no
   * vector yet either. Cheap: it counts the pending chunks through their partial index. The
   * transformer tier decides when there is one, else the static tier.
   */
  private async partialNow(): Promise<boolean> {
    if (this.embedder) this.pending = await this.store.pendingCount('transformer');
    else if (this.staticEmbedder) this.pending = await this.store.pendingCount('static');
    else return true;
    return this.pending > 0;
  }

  async search(query: string, options: SearchOptions = {}): Promise<SearchOutcome> {
    const t0 = performance.now();
    const top = clampTop(options.top);
    const parsed = parseQuery(query, options.filters);
    const accept = compileFilters(parsed);
    let mode = options.mode ?? 'hybrid';
    if (!this.embedder && !this.staticEmbedder && mode !== 'keyword') mode = 'keyword'; // no model: keyword search still answers
    const depth = Math.max(100, top * 5);
    const timings: Timings = { embedMs: 0, vectorMs: 0, keywordMs: 0, fuseMs: 0, totalMs: 0 };
    if (!parsed.text.trim()) return { hits: [], partial: await this.partialNow(), tiers: [], timings };

    // The query embedding runs alone: the encoder uses every core, and a BM25 query beside it
    // slowed both (p50 6 ms alone, 34 ms beside SQLite on 2 cores). The vector scans and BM25 are
    // one thread each and overlap.
    const weights = weightsOf(options);
    const wantVectors = mode !== 'keyword';
    const [staticQuery, transformerQuery] = wantVectors ? await this.embedQuery(parsed.text, weights, timings, options.signal) : [null, null];
    options.signal?.throwIfAborted();
    // With filters, look deeper so that enough candidates survive them.
    const vectorDepth = accept ? depth * 8 : depth;
    const tv = performance.now();
    const [kw, st, tr] = await Promise.all([
      mode === 'semantic' || weights.keyword <= 0
        ? NO_RANKING
        : this.keywordRanking(parsed, mode === 'keyword' || (!staticQuery && !transformerQuery), depth, timings),
      staticQuery && this.staticTier ? this.staticTier.nearest(staticQuery, vectorDepth) : NO_RANKING,
      transformerQuery && this.transformer ? this.transformer.nearest(transformerQuery, vectorDepth) : NO_RANKING,
    ]);
    timings.vectorMs = staticQuery || transformerQuery ? performance.now() - tv : 0;
    options.signal?.throwIfAborted();

    const t = performance.now();
    const rankings: (TierRanking & { tier: Tier })[] = [
      { tier: 'keyword', ...kw, weight: weights.keyword },
      { tier: 'static', ...st, weight: weights.static, covers: (id) => this.staticTier!.has(id) },
      { tier: 'transformer', ...tr, weight: weights.transformer, covers: (id) => this.transformer!.has(id) },
    ];
    const fused = fuse(rankings, options);
    const hits = await this.toHits(await applyPriors(this.store, fused, top, parsed.text), top, accept);
    timings.fuseMs = performance.now() - t;
    const partial = await this.partialNow();
    timings.totalMs = performance.now() - t0;
    const tiers = rankings.filter((r) => r.ids.length > 0 && r.weight > 0).map((r) => r.tier);
    return { hits, partial, tiers, timings };
  }

  /** The query's static and transformer vectors; null for a tier that has nothing to compare them with or no weight. */
  private async embedQuery(
    text: string,
    weights: { static: number; transformer: number },
    timings: Timings,
    signal: AbortSignal | undefined,
  ): Promise<[Float32Array | null, Float32Array | null]> {
    const t = performance.now();
    // No instruction prefix for the static model: a mean over tokens, it would drag every query to one point.
    const staticQuery =
      this.staticEmbedder && this.staticTier && this.staticTier.size > 0 && weights.static > 0 ? ((await this.staticEmbedder.embed([text]))[0] ?? null) : null;
    let transformerQuery: Float32Array | null = null;
    if (this.embedder && this.transformer && this.transformer.size > 0 && weights.transformer > 0) {
      [transformerQuery] = await this.embedder.embed([text], { kind: 'query', signal });
    }
    timings.embedMs = performance.now() - t;
    return [staticQuery, transformerQuery];
  }

  /**
   * BM25 top-`depth` for the query's words. `nothingElseRanks`: keyword mode, or no query vector;
   * then, as for a query of one or two words (most often a name to match as typed), the rarest of
   * all-common words stays.
   */
  private async keywordRanking(parsed: ParsedQuery, nothingElseRanks: boolean, depth: number, timings: Timings): Promise<Ranking> {
    const t = performance.now();
    // Languages are filtered in SQL on the keyword side; paths by predicate.
    const pathOnly = compileFilters({ languages: [], pathGlobs: parsed.pathGlobs, excludePathGlobs: parsed.excludePathGlobs });
    const terms = queryTerms(keywordText(parsed.text));
    const keepRarest = nothingElseRanks || terms.length <= 2;
    const match = ftsQueryOf(await this.selectiveTerms(terms, keepRarest));
    const hits = match
      ? await this.store.keywordSearch(match, depth, {
          languages: parsed.languages.length ? parsed.languages : undefined,
          path: pathOnly ? (p) => pathOnly(p, '') : undefined,
        })
      : [];
    timings.keywordMs = performance.now() - t;
    return { ids: hits.map((h) => h.id), scores: hits.map((h) => h.score) };
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
   * selection), by both tiers' vectors, fused as a search is. The source chunk itself, and
   * anything overlapping it, is left out.
   */
  async similar(
    relPath: string,
    line: number,
    options: { top?: number; endLine?: number; text?: string; signal?: AbortSignal; staticWeight?: number; semanticWeight?: number } = {},
  ): Promise<SimilarOutcome> {
    const top = clampTop(options.top);
    const endLine = options.endLine ?? line;
    const chunks = await this.store.chunksOfFile(relPath);
    // The smallest chunk covering the start line is the most specific source.
    const covering = chunks.filter((c) => c.startLine <= line && line <= c.endLine).sort((a, b) => a.endLine - a.startLine - (b.endLine - b.startLine));
    const source = covering[0] ?? null;
    const sourceInfo = source ? { path: source.path, startLine: source.startLine, endLine: source.endLine, symbol: source.symbol } : null;
    const text = options.text !== undefined && options.text.trim() ? options.text : undefined;
    if (text === undefined && !source) return { source: null, hits: [], partial: await this.partialNow() };
    const [staticVector, transformerVector] = await this.sourceVectors(source, text, options.signal);
    options.signal?.throwIfAborted();
    const k = top * 3 + 10;
    const [st, tr] = await Promise.all([
      staticVector && this.staticTier && this.staticTier.size > 0 ? this.staticTier.nearest(staticVector, k) : NO_RANKING,
      transformerVector && this.transformer && this.transformer.size > 0 ? this.transformer.nearest(transformerVector, k) : NO_RANKING,
    ]);
    if (st.ids.length === 0 && tr.ids.length === 0) return { source: sourceInfo, hits: [], partial: await this.partialNow() };
    const weights = weightsOf(options);
    const ranked = fuse(
      [
        { ...st, weight: weights.static, covers: (id) => this.staticTier!.has(id) },
        { ...tr, weight: weights.transformer, covers: (id) => this.transformer!.has(id) },
      ],
      {},
    );
    const lo = Math.min(line, source?.startLine ?? line);
    const hi = Math.max(endLine, source?.endLine ?? endLine);
    const hits = (await this.toHits(ranked, top + covering.length, null)).filter((h) => !(h.path === relPath && h.startLine <= hi && lo <= h.endLine));
    return { source: sourceInfo, hits: hits.slice(0, top), partial: await this.partialNow() };
  }

  /** The static and transformer vectors of find-similar's source: `text` embedded afresh, else the chunk's stored vectors (or its text embedded). */
  private async sourceVectors(
    source: StoredChunk | null,
    text: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<[Float32Array | null, Float32Array | null]> {
    if (text !== undefined) {
      const s = this.staticEmbedder ? ((await this.staticEmbedder.embed([text]))[0] ?? null) : null;
      const t = this.embedder ? (await this.embedder.embed([text], { kind: 'document', signal }))[0] : null;
      return [s, t];
    }
    if (!source) return [null, null];
    const fp = this.store.staticFingerprint;
    let s = this.staticEmbedder && fp ? ((await this.store.vectorsByHash([source.contentHash], fp)).get(source.contentHash) ?? null) : null;
    let t = this.embedder ? ((await this.store.vectorsByHash([source.contentHash])).get(source.contentHash) ?? null) : null;
    const needs = (this.staticEmbedder && !s) || (this.embedder && !t);
    const embedText = needs ? await this.store.embedTextOf(source.id) : undefined;
    if (embedText !== undefined) {
      if (this.staticEmbedder && !s) s = (await this.staticEmbedder.embed([embedText]))[0] ?? null;
      if (this.embedder && !t) [t] = await this.embedder.embed([embedText], { kind: 'document', signal });
    }
    return [s, t];
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
    this.transformer?.dispose();
    this.staticTier?.dispose();
  }
}

/** The tiers' weights for a search: the options', else the settings' defaults. */
function weightsOf(options: { keywordWeight?: number; staticWeight?: number; semanticWeight?: number }): {
  keyword: number;
  static: number;
  transformer: number;
} {
  return {
    keyword: options.keywordWeight ?? DEFAULT_SETTINGS.keywordWeight,
    static: options.staticWeight ?? DEFAULT_SETTINGS.staticWeight,
    transformer: options.semanticWeight ?? DEFAULT_SETTINGS.semanticWeight,
  };
}

/**
 * Fuse the rankings. Two or more with results (convex): fuseTiers, so a chunk a tier has not
 * reached yet is ranked by the others. One ranking alone (a single mode, a query without keywords,
 * no vectors yet) keeps its order; its rank-based RRF score gives the priors the same scale in
 * every mode, as does fusion 'rrf'.
 */
function fuse(rankings: readonly TierRanking[], options: SearchOptions): { id: number; score: number }[] {
  const withResults = rankings.filter((r) => r.ids.length > 0 && r.weight > 0);
  if ((options.fusion ?? DEFAULT_SETTINGS.fusion) === 'convex' && withResults.length >= 2) return fuseTiers(withResults);
  return reciprocalRankFusion(
    rankings.map((r) => ({ ids: r.ids, weight: r.weight })),
    options.rrfK ?? DEFAULT_SETTINGS.rrfK,
  );
}
