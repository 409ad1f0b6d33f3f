/**
 * The index's two embedding tiers as the views describe them: the fast tier (static vectors,
 * written with every chunk) and the deep tier (transformer vectors, filled in behind it), read from
 * the sidecar's status and its last progress report. Also the wording the views share: counts,
 * percentages, rates, the time left, and which tiers answered a search. No vscode import: the unit
 * tests read every state with plain mocha.
 */
import type { IndexProgress, SearchTier, StatusResult } from '../../server/protocol';

/** The fast tier: null when the index has none (no static model, no static vectors). */
export interface FastTier {
  /** The static model's id, null when none is loaded. */
  model: string | null;
  /** Chunks with a static vector, of `TierSummary.chunks`. */
  done: number;
  complete: boolean;
  /** The tier is being written now (a static-only pass, or chunking with static vectors). */
  running: boolean;
}

/** The deep tier, by what keeps it from being complete. */
export type DeepTier =
  /** `semsearch.tiers` is `static`: no transformer ever loads. */
  | { state: 'off' }
  /** The transformer did not load; `reason` is the sidecar's message (with its fix). */
  | { state: 'failed'; reason: string }
  /** The transformer is still loading (or downloading); no vectors are written yet. */
  | { state: 'loading' }
  | {
      /** running: vectors are being written now; waiting: some are missing but no pass runs. */
      state: 'running' | 'waiting' | 'complete';
      model: { id: string; device: string; dtype: string; dim: number };
      /** Chunks with a transformer vector, of `TierSummary.chunks`. */
      done: number;
      /** Whole percent of the chunks done, floored (99 until the last chunk). */
      pct: number;
      /** Chunks per second in this pass (running only, once known). */
      rate?: number;
      /** Seconds left at that rate (running only, once known). */
      eta?: number;
    };

export interface TierSummary {
  files: number;
  chunks: number;
  fast: FastTier | null;
  deep: DeepTier;
  /** The progress report of the pass running now, if one is (never `done`, `error` or stale). */
  live: IndexProgress | undefined;
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((a, x) => a + f(x), 0);
}

/** Return whole percent, floored, so that 100 means all of it. */
export function percent(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((100 * done) / total)));
}

/** Return `progress` when it describes a pass that runs now. */
export function liveProgress(status: StatusResult, progress: IndexProgress | undefined): IndexProgress | undefined {
  if (!progress || progress.phase === 'done' || progress.phase === 'error') return undefined;
  // A report left over from a pass that ended without `done` (cancelled, failed): the sidecar's
  // health no longer says indexing. Background embedding may run under any health but an error.
  if (status.health === 'error') return undefined;
  if (status.health !== 'indexing' && progress.phase !== 'embed') return undefined;
  return progress;
}

/** Return both tiers' state from the sidecar's status and its last progress report. */
export function tierSummary(status: StatusResult, progress: IndexProgress | undefined): TierSummary {
  const folders = status.folders;
  const files = sum(folders, (f) => f.files);
  const chunks = sum(folders, (f) => f.chunks);
  const live = liveProgress(status, progress);

  let fast: FastTier | null = null;
  // A sidecar from before the tiers sends neither field: no fast tier, the deep tier as before.
  const staticCounts = folders.map((f) => (typeof f.chunksWithStatic === 'number' ? f.chunksWithStatic : null));
  if (staticCounts.some((n) => n !== null) || status.staticModel) {
    const done = Math.min(
      chunks,
      sum(staticCounts, (n) => n ?? 0),
    );
    const running = !!live && live.phase !== 'download' && done < chunks;
    fast = { model: status.staticModel?.id ?? null, done, complete: done >= chunks, running };
  }

  let deep: DeepTier;
  if (status.tiers === 'static') deep = { state: 'off' };
  else if (!status.model) {
    const failed = status.health === 'error' || status.health === 'warning';
    deep = failed ? { state: 'failed', reason: status.message } : { state: 'loading' };
  } else {
    const done = Math.min(
      chunks,
      sum(folders, (f) => f.chunksWithVectors),
    );
    const pct = percent(done, chunks);
    if (done >= chunks) deep = { state: 'complete', model: status.model, done, pct };
    else if (live && live.phase === 'embed' && live.transformer !== false) {
      deep = { state: 'running', model: status.model, done, pct };
      if (live.chunksPerSecond !== undefined && live.chunksPerSecond > 0) deep.rate = live.chunksPerSecond;
      if (live.etaSeconds !== undefined && live.etaSeconds >= 0) deep.eta = live.etaSeconds;
    } else deep = { state: 'waiting', model: status.model, done, pct };
  }
  return { files, chunks, fast, deep, live };
}

/** Return a count with thousands separators: 15,000. */
export function count(x: number): string {
  return x.toLocaleString('en-US');
}

/** Return a rate for people: 4.1 chunks/s, 230 chunks/s. */
export function rateText(chunksPerSecond: number): string {
  const r =
    chunksPerSecond >= 100
      ? Math.round(chunksPerSecond).toLocaleString('en-US')
      : chunksPerSecond >= 10
        ? chunksPerSecond.toFixed(0)
        : chunksPerSecond.toFixed(1);
  return `${r} chunks/s`;
}

/**
 * Return the time left for people, rounded as far as an estimate deserves: "less than a minute
 * left", "about 3 min left", "about 40 min left" (5-minute steps), "about 1 h 20 min left"
 * (10-minute steps), "about 5 h left", "about 2 days left".
 */
export function etaText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'time left unknown';
  if (seconds < 50) return 'less than a minute left';
  const minutes = seconds / 60;
  if (minutes < 10) return `about ${Math.max(1, Math.round(minutes))} min left`;
  if (minutes < 57.5) return `about ${Math.round(minutes / 5) * 5} min left`;
  if (minutes < 175) {
    const tens = Math.round(minutes / 10) * 10;
    const h = Math.floor(tens / 60);
    const m = tens % 60;
    return m === 0 ? `about ${h} h left` : `about ${h} h ${m} min left`;
  }
  const hours = minutes / 60;
  if (hours < 36) return `about ${Math.round(hours)} h left`;
  return `about ${Math.round(hours / 24)} days left`;
}

/** Return the fast tier's line: "fast tier: 5,678 of 5,678 chunks (complete)". */
export function fastTierLine(t: TierSummary): string {
  const f = t.fast;
  if (!f) return 'fast tier: none (no static model)';
  if (f.complete) return `fast tier: ${count(f.done)} of ${count(t.chunks)} chunks (complete)`;
  return `fast tier: ${count(f.done)} of ${count(t.chunks)} chunks (${percent(f.done, t.chunks)} %)${f.running ? ', being written' : ''}`;
}

/** Return the deep tier's line: "deep tier: 5,120 of 15,000 chunks, 4.1 chunks/s, about 40 min left". */
export function deepTierLine(t: TierSummary): string {
  const d = t.deep;
  switch (d.state) {
    case 'off':
      return 'deep tier: off (the `semsearch.tiers` setting is `static`)';
    case 'failed':
      return 'deep tier: not loaded';
    case 'loading':
      return 'deep tier: loading the model';
    case 'complete':
      return `deep tier: ${count(d.done)} of ${count(t.chunks)} chunks (complete)`;
    case 'waiting':
      return `deep tier: ${count(d.done)} of ${count(t.chunks)} chunks (${d.pct} %), not running now`;
    case 'running': {
      const parts = [`deep tier: ${count(d.done)} of ${count(t.chunks)} chunks`];
      parts.push(d.rate !== undefined ? rateText(d.rate) : 'measuring the rate');
      if (d.eta !== undefined) parts.push(etaText(d.eta));
      return parts.join(', ');
    }
  }
}

const TIER_NAMES: Record<'static' | 'transformer', string> = { static: 'fast', transformer: 'deep' };

/**
 * Return a short note on the tiers that answered a result set from a partial index, e.g. "fast
 * tier; deep tier 34 %" (undefined when the index is complete, or in keyword mode, where the
 * embedding tiers play no part). Without `tiers` (find-similar results, an older sidecar) it
 * starts "partial index" and says how far the tiers are.
 */
export function resultTiersNote(
  tiers: readonly SearchTier[] | undefined,
  partial: boolean,
  t: TierSummary | undefined,
  keywordMode = false,
): string | undefined {
  if (!partial || keywordMode) return undefined;
  const semantic = (['static', 'transformer'] as const).filter((x) => tiers?.includes(x));
  const answered = !tiers
    ? 'partial index'
    : semantic.length === 0
      ? 'keyword only'
      : semantic.length === 2
        ? 'fast + deep tiers'
        : `${TIER_NAMES[semantic[0]]} tier`;
  const coverage: string[] = [];
  if (t?.fast && !t.fast.complete) coverage.push(`fast tier ${percent(t.fast.done, t.chunks)} %`);
  const d = t?.deep;
  if (d && (d.state === 'running' || d.state === 'waiting')) coverage.push(`deep tier ${d.pct} %`);
  else if (d?.state === 'loading') coverage.push('deep tier loading');
  else if (d?.state === 'failed') coverage.push('deep tier not loaded');
  if (coverage.length === 0 && tiers && semantic.length === 0) coverage.push('partial index');
  return [answered, ...coverage].join('; ');
}

/** Return the share of the reindex notification's bar a progress report stands for (0-1). */
export function progressFraction(p: IndexProgress): number {
  if (p.phase === 'download') return 0;
  if (p.phase === 'done') return 1;
  const files = p.filesSeen ? (p.filesIndexed + p.filesSkipped) / p.filesSeen : 0;
  // A static-only pass writes the fast tier with the chunks: the files are the whole of it.
  if (p.transformer === false) return Math.min(1, files);
  const total = p.chunksEmbedded + p.chunksPending;
  const embedded = total ? p.chunksEmbedded / total : 0;
  return Math.min(1, 0.3 * files + 0.7 * embedded);
}

/** Return the reindex notification's line for a progress report. */
export function progressMessage(p: IndexProgress): string {
  const total = p.chunksEmbedded + p.chunksPending;
  switch (p.phase) {
    case 'download':
      return p.message ?? 'downloading the model';
    case 'walk':
      return `listing files (${count(p.filesSeen)} so far)`;
    case 'chunk':
      return `${count(p.filesIndexed + p.filesSkipped)}/${count(p.filesSeen)} files, ${count(p.chunks)} chunks`;
    case 'embed': {
      if (p.transformer === false) return `fast tier: ${count(p.staticPending ?? 0)} chunks to go (${count(p.filesIndexed)} files)`;
      const parts = [`deep tier: ${count(p.chunksEmbedded)}/${count(total)} chunks`];
      if (p.chunksPerSecond !== undefined && p.chunksPerSecond > 0) parts.push(rateText(p.chunksPerSecond));
      if (p.etaSeconds !== undefined) parts.push(etaText(p.etaSeconds));
      return parts.join(', ');
    }
    case 'done':
      return `done: ${count(p.filesIndexed)} files, ${count(p.chunks)} chunks`;
    case 'error':
      return p.message ?? 'failed';
  }
}
