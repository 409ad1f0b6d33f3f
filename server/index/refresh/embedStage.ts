/**
 * The embed stage: runs beside the producers (the file stage), takes chunks lacking a vector from
 * the store (oldest first), embeds each distinct text once in batches of `batchSize`, and writes
 * each batch's vectors in one transaction. The store is the queue between the stages: a killed run
 * loses at most the batch in flight and the next run resumes from what the store says is missing.
 */
import type { Pipeline } from './pipeline';
import { errorText, RefreshSummary, Run } from './run';

/**
 * Start the embed stage beside the producers. If it fails (the store cannot write: disk full),
 * the producers stop at once and finishRun() rethrows its error; until then the rejection is
 * handled here, so it never surfaces as an unhandled rejection (which ends a Node process).
 */
export function startEmbedStage(p: Pipeline, run: Run): Promise<void> {
  if (!p.embedder || !run.withTransformer) return Promise.resolve(); // the static tier only
  const embedding = embedStage(p, run);
  embedding.catch(() => run.fail());
  return embedding;
}

/** Embed what the store says is missing until the producers are done and nothing is left. */
async function embedStage(p: Pipeline, run: Run): Promise<void> {
  const { store } = p;
  run.pending = await store.pendingCount();
  let cursor = 0;
  const failed = new Set<number>();
  while (!run.signal.aborted) {
    await p.gate(run.signal);
    if (run.signal.aborted) break;
    const doneBefore = !run.producing;
    const writesBefore = run.writes;
    const rows = (await store.missingVectorChunks(p.batchSize * 2, cursor)).filter((r) => !failed.has(r.id));
    if (rows.length === 0) {
      if (doneBefore) break;
      if (run.writes === writesBefore && run.producing && !run.signal.aborted) await run.waitForWork();
      continue;
    }
    // Each distinct text once; a batch holds at most batchSize texts.
    const texts = new Map<string, string>();
    const taken: typeof rows = [];
    for (const r of rows) {
      if (!texts.has(r.contentHash)) {
        if (texts.size >= p.batchSize) break;
        texts.set(r.contentHash, r.embedText);
      }
      taken.push(r);
    }
    cursor = taken[taken.length - 1].id;
    const hashes = [...texts.keys()];
    const vectors = await embedTexts(
      p,
      run,
      hashes.map((h) => texts.get(h)!),
    );
    if (run.signal.aborted) break;
    const out = new Map<string, Float32Array>();
    vectors.forEach((v, i) => v && out.set(hashes[i], v));
    const missed = taken.filter((r) => !out.has(r.contentHash));
    if (missed.length > 0) {
      for (const r of missed) failed.add(r.id);
      const where = await store.chunksByIds(missed.map((r) => r.id));
      for (const c of where) p.warn(run, `${c.path}:${c.startLine}: not embedded: ${vectors.error ?? 'embedder failed'}`);
    }
    await store.putVectors(out);
    run.summary.textsEmbedded += out.size;
    run.summary.chunksEmbedded += taken.length - missed.length;
    p.totals.textsEmbedded += out.size;
    run.pending = await store.pendingCount();
    p.progress(run);
  }
}

/** Embed texts; a failed batch is retried one text at a time so one bad text costs only itself. */
async function embedTexts(p: Pipeline, run: Run, texts: string[]): Promise<(Float32Array | undefined)[] & { error?: string }> {
  const embedder = p.embedder!;
  const dim = embedder.info.dim;
  const call = async (batch: string[]) => {
    const t0 = performance.now();
    p.totals.embedCalls++;
    try {
      const v = await embedder.embed(batch, { kind: 'document', signal: run.signal });
      if (v.length !== batch.length || v.some((x) => x.length !== dim))
        throw new Error(`embedder returned ${v.length} vectors of ${v[0]?.length} values for ${batch.length} texts of dim ${dim}`);
      return v;
    } finally {
      run.summary.embedSeconds += (performance.now() - t0) / 1000;
    }
  };
  try {
    return await call(texts);
  } catch (e) {
    if (run.signal.aborted) return [];
    const out: (Float32Array | undefined)[] & { error?: string } = [];
    out.error = errorText(e);
    if (texts.length === 1) return Object.assign([undefined], { error: out.error });
    for (const t of texts) {
      try {
        out.push((await call([t]))[0]);
      } catch (e2) {
        if (run.signal.aborted) return [];
        out.error = errorText(e2);
        out.push(undefined);
      }
    }
    return out;
  }
}

/** Wait for the embed stage, then seal the summary (and the store, after a complete refresh). */
export async function finishRun(p: Pipeline, run: Run, embedding: Promise<void>, refreshed = false): Promise<RefreshSummary> {
  run.producing = false;
  run.phase = 'embed';
  run.notify();
  p.progress(run, true);
  await embedding;
  const s = run.summary;
  s.cancelled = run.signal.aborted;
  s.chunksPending = p.embedder ? await p.store.pendingCount() : 0;
  if (p.staticEmbedder) run.staticPending = await p.store.pendingCount('static');
  s.chunksPerSecond = s.embedSeconds > 0 ? s.textsEmbedded / s.embedSeconds : 0;
  if (refreshed && !s.cancelled) {
    await p.store.setComplete(true);
    if (s.chunksPending === 0 && p.embedder) await p.store.pruneVectors();
  }
  s.complete = !s.cancelled && s.chunksPending === 0 && run.staticPending === 0 && (await p.store.getMeta('complete')) === '1';
  s.seconds = (Date.now() - run.started) / 1000;
  run.phase = 'done';
  run.pending = s.chunksPending;
  p.progress(run, true);
  return s;
}
