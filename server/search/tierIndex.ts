/**
 * One tier's resident vectors: a VectorMatrix (native, on the model's device) mirroring the store's
 * vectors of that tier, kept in step by diffing chunk ids and content hashes, so an index that
 * changes by a few files costs a few rows.
 */
import type { Store, VectorTier } from '../index/store';
import { VectorMatrix } from '../model/native';

export class TierIndex {
  /** chunk id → content hash of the row in the matrix. */
  private readonly rows = new Map<number, string>();
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    readonly tier: VectorTier,
    /** The fingerprint whose vectors are read (the store's active one for the tier). */
    private readonly fingerprint: () => string | null,
    readonly matrix: VectorMatrix,
  ) {}

  /** Rows in the matrix. */
  get size(): number {
    return this.rows.size;
  }

  /** True when chunk `id` has a vector here: the tier can score it. */
  has(id: number): boolean {
    return this.rows.has(id);
  }

  /** Bring the matrix up to the store (serialised; concurrent calls share one run). */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const fp = this.fingerprint();
    if (fp === null) return;
    const current = await this.store.vectorChunkHashes(this.tier);
    const gone: number[] = [];
    for (const [id, hash] of this.rows) if (current.get(id) !== hash) gone.push(id);
    if (gone.length) {
      this.matrix.remove(Int32Array.from(gone));
      for (const id of gone) this.rows.delete(id);
    }
    const added: [number, string][] = [];
    for (const [id, hash] of current) if (!this.rows.has(id)) added.push([id, hash]);
    const dim = this.matrix.dim;
    for (let i = 0; i < added.length; i += 4096) {
      const part = added.slice(i, i + 4096);
      const vectors = await this.store.vectorsByHash([...new Set(part.map(([, h]) => h))], fp);
      const ids: number[] = [];
      const flat = new Float32Array(part.length * dim);
      for (const [id, hash] of part) {
        const v = vectors.get(hash);
        if (!v || v.length !== dim) continue; // pruned between the two reads; the next sync sees it
        flat.set(v, ids.length * dim);
        ids.push(id);
        this.rows.set(id, hash);
      }
      if (ids.length) this.matrix.add(Int32Array.from(ids), flat.subarray(0, ids.length * dim));
    }
  }

  /** The `k` rows nearest to `q` (dot product), best first. */
  async nearest(q: Float32Array, k: number): Promise<{ ids: number[]; scores: number[] }> {
    const { ids, scores } = await this.matrix.topK(q, Math.min(this.rows.size, k));
    const out = { ids: [] as number[], scores: [] as number[] };
    ids.forEach((id, i) => {
      if (id >= 0) {
        out.ids.push(id);
        out.scores.push(scores[i]);
      }
    });
    return out;
  }

  dispose(): void {
    this.matrix.dispose();
  }
}
