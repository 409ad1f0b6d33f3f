/**
 * Fusion of rankings: the convex combination of min-max normalised scores (hybrid mode's default)
 * and reciprocal-rank fusion (the alternative, and the scale of a single ranking). Pure functions.
 */

/**
 * Reciprocal-rank fusion (Cormack et al., 2009): score(d) = Σ_i w_i / (k + rank_i(d)), ranks
 * 1-based. It needs no score calibration between rankings. Returns ids best first with their fused
 * scores; ties keep the order of first appearance.
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
    let lo = Infinity,
      hi = -Infinity;
    for (const s of scores) {
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    const w = weight / total;
    ids.forEach((id, i) => fused.set(id, (fused.get(id) ?? 0) + w * (hi > lo ? (scores[i] - lo) / (hi - lo) : 1)));
  }
  return [...fused.entries()].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}

/** One ranking for fuseTiers: ids best first with scores, a weight, and which chunks the ranking could score. */
export interface TierRanking {
  ids: readonly number[];
  scores: readonly number[];
  weight: number;
  /** True when the ranking's tier holds chunk `id` (absent: it covers every chunk, as BM25 does). */
  covers?: (id: number) => boolean;
}

/**
 * Convex combination over rankings that may cover only part of the chunks (a tier still filling
 * in behind another): each ranking's scores are min-max normalised as in convexCombination; a
 * chunk's score is Σ w·s over the rankings whose tier holds it, divided by the sum of those
 * rankings' weights. A chunk the transformer has not embedded yet is thus ranked by the static and
 * keyword rankings as if the transformer did not exist, instead of being pushed down by a zero;
 * a chunk the transformer holds but did not rank gets 0 from it, as in convexCombination. Rankings
 * with no ids or no weight take no part. With every chunk covered this is convexCombination.
 */
export function fuseTiers(lists: readonly TierRanking[]): { id: number; score: number }[] {
  const active = lists.filter((l) => l.weight > 0 && l.ids.length > 0);
  const normalised = active.map((l) => {
    let lo = Infinity,
      hi = -Infinity;
    for (const s of l.scores) {
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    const byId = new Map<number, number>();
    l.ids.forEach((id, i) => byId.set(id, hi > lo ? (l.scores[i] - lo) / (hi - lo) : 1));
    return { list: l, byId };
  });
  const candidates = new Set<number>();
  for (const l of active) for (const id of l.ids) candidates.add(id);
  const out: { id: number; score: number }[] = [];
  for (const id of candidates) {
    let sum = 0;
    let weight = 0;
    for (const { list, byId } of normalised) {
      if (list.covers && !list.covers(id)) continue;
      sum += list.weight * (byId.get(id) ?? 0);
      weight += list.weight;
    }
    out.push({ id, score: weight > 0 ? sum / weight : 0 });
  }
  return out.sort((a, b) => b.score - a.score);
}
