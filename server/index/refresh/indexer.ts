/**
 * The Indexer of one root: runs its jobs (full refreshes and incremental updates) one at a time,
 * in call order, and coalesces file events into updates. The jobs' work is fullRefresh.ts's and
 * update.ts's; what they share is the Pipeline.
 */
import type { Store } from '../store';
import { fullRefresh } from './fullRefresh';
import { IndexerOptions, Pipeline } from './pipeline';
import { errorText, RefreshSummary, Run } from './run';
import { applyUpdate } from './update';

/** Marks "something changed, walk everything" among scheduled paths. */
const EVERYTHING = '\0all';

export class Indexer {
  readonly root: string;
  readonly store: Store;
  private readonly pipeline: Pipeline;
  private jobs: Promise<unknown> = Promise.resolve();
  private running = 0;
  private scheduled = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private firstScheduledAt = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: IndexerOptions) {
    this.pipeline = new Pipeline(options);
    this.root = this.pipeline.root;
    this.store = this.pipeline.store;
  }

  /** Totals over the indexer's life, all jobs together. */
  get totals(): Pipeline['totals'] {
    return this.pipeline.totals;
  }

  // --- control ---------------------------------------------------------------------------------

  /** Hold every stage before its next unit of work (a file, a batch). */
  pause(): void {
    this.pipeline.pause();
  }

  resume(): void {
    this.pipeline.resume();
  }

  get paused(): boolean {
    return this.pipeline.paused;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    const job = this.jobs.then(fn, fn).finally(() => {
      this.running--;
      this.checkIdle();
    });
    this.jobs = job.catch(() => undefined);
    return job;
  }

  // --- jobs ------------------------------------------------------------------------------------

  /**
   * Reconcile the index with the disk (see refresh/index.ts). Resolves when done or cancelled.
   * `transformer: false` leaves the transformer tier to a later run (files, keywords and the static
   * tier are brought up to date: quick).
   */
  refresh(options: { signal?: AbortSignal; transformer?: boolean } = {}): Promise<RefreshSummary> {
    return this.enqueue(() => fullRefresh(this.pipeline, new Run('refresh', options.signal ?? new AbortController().signal, options.transformer ?? true)));
  }

  /**
   * Apply file events now (after any job already running): `changed` and `deleted` paths,
   * absolute or relative to the root. Each path is looked at on disk, so a stale event is harmless.
   */
  update(changed: readonly string[], deleted: readonly string[] = [], options: { signal?: AbortSignal } = {}): Promise<RefreshSummary> {
    const paths = [...changed, ...deleted];
    return this.enqueue(() => applyUpdate(this.pipeline, new Run('update', options.signal ?? new AbortController().signal), paths));
  }

  /**
   * Coalesce file events (absolute or root-relative paths; null means "something changed") and
   * apply them after `debounceMs` of quiet (at most `maxDebounceMs` after the first), serially.
   */
  scheduleUpdate(paths: readonly (string | null)[]): void {
    if (this.scheduled.size === 0 && this.timer === null) this.firstScheduledAt = Date.now();
    for (const p of paths) this.scheduled.add(p === null ? EVERYTHING : p);
    if (this.timer) clearTimeout(this.timer);
    const debounce = this.options.debounceMs ?? 300;
    const maxWait = this.options.maxDebounceMs ?? 2000;
    const wait = Math.max(0, Math.min(debounce, this.firstScheduledAt + maxWait - Date.now()));
    this.timer = setTimeout(() => this.flushScheduled(), wait);
  }

  private flushScheduled(): void {
    this.timer = null;
    const batch = [...this.scheduled].filter((p) => {
      const rel = p === EVERYTHING ? '' : this.pipeline.toRel(p);
      return rel !== null && !this.pipeline.isOwnPath(rel);
    });
    this.scheduled.clear();
    if (batch.length === 0) return this.checkIdle();
    const signal = new AbortController().signal;
    const job = batch.includes(EVERYTHING)
      ? this.enqueue(() => fullRefresh(this.pipeline, new Run('refresh', signal)))
      : this.enqueue(() => applyUpdate(this.pipeline, new Run('update', signal), batch));
    job.then(
      (s) => this.options.onUpdate?.(s),
      (e) => this.options.onWarning?.(errorText(e)),
    );
  }

  // --- idle and disposal -----------------------------------------------------------------------

  /** Resolves when no event is scheduled and no job runs. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.running === 0 && this.scheduled.size === 0 && this.timer === null;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Drop scheduled events (a running job finishes). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled.clear();
    this.checkIdle();
  }
}
