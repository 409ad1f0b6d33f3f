/**
 * The query path: a query → BM25 top-N over the FTS5 postings (keywordQuery.ts plans it) and
 * vector top-N over the resident matrix → fusion (fusion.ts: a convex combination by default) →
 * priors (priors.ts) → filters (query.ts) → merged, ranked hits (hits.ts). Also find-similar,
 * which starts from a chunk's stored vector instead of a query's.
 *
 * The vector matrix mirrors the store's vectors of the active model; `sync()` brings it up to date
 * by diffing chunk ids and content hashes, so an index that changes by a few files costs a few rows.
 */
import { performance } from 'node:perf_hooks';
import { ftsQueryOf, QueryTerm, queryTerms } from '../index/identifiers';
import type { StoredChunk, Store } from '../index/store';
import type { EmbedOptions } from '../model/embedder';
import { VectorMatrix } from '../model/native';
import { DEFAULT_SETTINGS, DEFAULT_TOP, FusionMethod, Hit, MAX_TOP, SearchMode } from '../protocol';
import { convexCombination, reciprocalRankFusion } from './fusion';
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

/** What the searcher needs of an embedder (model/embedder.ts's Embedder fits). */
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
  timings: Timings;
}

export interface SimilarOutcome {
  source: { path: string; startLine: number; endLine: number; symbol: string | null } | null;
  hits: Hit[];
  partial: boolean;
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
    const top = clampTop(options.top);
    const parsed = parseQuery(query, options.filters);
    const accept = compileFilters(parsed);
    let mode = options.mode ?? 'hybrid';
    if (!this.embedder && mode !== 'keyword') mode = 'keyword'; // no model: keyword search still answers
    const depth = Math.max(100, top * 5);
    const timings: Timings = { embedMs: 0, vectorMs: 0, keywordMs: 0, fuseMs: 0, totalMs: 0 };
    if (!parsed.text.trim()) return { hits: [], partial: await this.partialNow(), timings };

    // The query embedding runs alone: the encoder uses every core, and a BM25 query beside it
    // slowed both (p50 6 ms alone, 34 ms beside SQLite on 2 cores). The vector scan and BM25 are
    // one thread each and overlap.
    const queryVector = mode !== 'keyword' ? await this.embedQuery(parsed.text, timings, options.signal) : null;
    options.signal?.throwIfAborted();
    const [kw, vec] = await Promise.all([
      mode === 'semantic' ? NO_RANKING : this.keywordRanking(parsed, mode === 'keyword' || queryVector === null, depth, timings),
      // With filters, look deeper so that enough candidates survive them.
      this.vectorRanking(queryVector, accept ? depth * 8 : depth, timings),
    ]);
    options.signal?.throwIfAborted();

    const t = performance.now();
    const fused = fuse(kw, vec, options);
    const hits = await this.toHits(await applyPriors(this.store, fused, top, parsed.text), top, accept);
    timings.fuseMs = performance.now() - t;
    const partial = await this.partialNow();
    timings.totalMs = performance.now() - t0;
    return { hits, partial, timings };
  }

  /** The query's vector, or null when there is nothing to compare it with. */
  private async embedQuery(text: string, timings: Timings, signal: AbortSignal | undefined): Promise<Float32Array | null> {
    if (!this.embedder || !this.matrix || this.rows.size === 0) return null;
    const t = performance.now();
    const [vector] = await this.embedder.embed([text], { kind: 'query', signal });
    timings.embedMs = performance.now() - t;
    return vector;
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

  /** The `depth` rows of the matrix nearest to `q` (none without a query vector). */
  private async vectorRanking(q: Float32Array | null, depth: number, timings: Timings): Promise<Ranking> {
    if (!q || !this.matrix) return NO_RANKING;
    const t = performance.now();
    const { ids, scores } = await this.matrix.topK(q, Math.min(this.rows.size, depth));
    timings.vectorMs = performance.now() - t;
    const ranking: Ranking = { ids: [], scores: [] };
    ids.forEach((id, i) => {
      if (id >= 0) {
        ranking.ids.push(id);
        ranking.scores.push(scores[i]);
      }
    });
    return ranking;
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
    const top = clampTop(options.top);
    const endLine = options.endLine ?? line;
    const chunks = await this.store.chunksOfFile(relPath);
    // The smallest chunk covering the start line is the most specific source.
    const covering = chunks.filter((c) => c.startLine <= line && line <= c.endLine).sort((a, b) => a.endLine - a.startLine - (b.endLine - b.startLine));
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
    const hits = (await this.toHits(ranked, top + covering.length, null)).filter((h) => !(h.path === relPath && h.startLine <= hi && lo <= h.endLine));
    return { source: sourceInfo, hits: hits.slice(0, top), partial: await this.partialNow() };
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

/**
 * Fuse the keyword and vector rankings. One ranking alone (a single mode, a query without
 * keywords, no vectors yet) keeps its order; its rank-based RRF score gives the priors the same
 * scale in every mode.
 */
function fuse(kw: Ranking, vec: Ranking, options: SearchOptions): { id: number; score: number }[] {
  const keywordWeight = options.keywordWeight ?? DEFAULT_SETTINGS.keywordWeight;
  const semanticWeight = options.semanticWeight ?? DEFAULT_SETTINGS.semanticWeight;
  if ((options.fusion ?? DEFAULT_SETTINGS.fusion) === 'convex' && kw.ids.length > 0 && vec.ids.length > 0) {
    return convexCombination([
      { ...kw, weight: keywordWeight },
      { ...vec, weight: semanticWeight },
    ]);
  }
  return reciprocalRankFusion(
    [
      { ids: kw.ids, weight: keywordWeight },
      { ids: vec.ids, weight: semanticWeight },
    ],
    options.rrfK ?? DEFAULT_SETTINGS.rrfK,
  );
}
