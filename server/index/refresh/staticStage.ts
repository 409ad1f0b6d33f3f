/**
 * The static tier in the pipeline: static vectors are computed with the chunks of each file and
 * written in the same transaction (fileStage.ts), so a file is searchable by meaning as soon as it
 * is indexed. fillStaticTier() catches up the chunks written without one: an index from before the
 * static tier, a static model change, or a file whose static vectors failed.
 */
import { contentHash } from '../store';
import type { Pipeline } from './pipeline';
import { errorText, Run } from './run';

/** Texts per static embedder call in the catch-up. */
const FILL_BATCH = 512;

/** The static vectors of those `embedTexts` the store lacks, by content hash (null: no known token); timed into the run. */
export async function staticVectorsOf(p: Pipeline, run: Run, embedTexts: readonly string[]): Promise<Map<string, Float32Array | null>> {
  const model = p.staticEmbedder;
  const out = new Map<string, Float32Array | null>();
  if (!model || embedTexts.length === 0) return out;
  const byHash = new Map<string, string>();
  for (const t of embedTexts) byHash.set(contentHash(t), t);
  // A static vector is a pure function of its text: those stored already (unchanged chunks) are not computed again.
  const stored = await p.store.hasVectors([...byHash.keys()], 'static');
  const hashes = [...byHash.keys()].filter((h) => !stored.has(h));
  if (hashes.length === 0) return out;
  const t0 = performance.now();
  const vectors = await model.embed(hashes.map((h) => byHash.get(h)!));
  run.summary.staticSeconds += (performance.now() - t0) / 1000;
  hashes.forEach((h, i) => out.set(h, vectors[i]));
  run.summary.staticEmbedded += hashes.length;
  p.totals.staticEmbedded += hashes.length;
  return out;
}

/** Give every chunk that lacks one its static vector, in batches; stops when the run is cancelled. */
export async function fillStaticTier(p: Pipeline, run: Run): Promise<void> {
  if (!p.staticEmbedder) return;
  const { store } = p;
  run.staticPending = await store.pendingCount('static');
  let cursor = 0;
  while (run.staticPending > 0 && !run.signal.aborted) {
    await p.gate(run.signal);
    const rows = await store.missingVectorChunks(FILL_BATCH, cursor, 'static');
    if (rows.length === 0) break;
    cursor = rows[rows.length - 1].id;
    let vectors: Map<string, Float32Array | null>;
    try {
      vectors = await staticVectorsOf(
        p,
        run,
        rows.map((r) => r.embedText),
      );
    } catch (e) {
      p.warn(run, `${p.root}: static vectors failed: ${errorText(e)}`);
      return;
    }
    await store.putVectors(vectors, 'static');
    run.staticPending = await store.pendingCount('static');
    p.progress(run);
  }
}
