/**
 * One folder's build queue. Every front end asks for builds of a folder's index here, so that two
 * requests never run two builds of one index at once, and a rebuild asked for while another build
 * runs really rebuilds. A build is one call of the front end's `run` function (the sidecar and
 * the MCP server run two passes in it: the static tier, then the transformer tier); the queue
 * sees it as one.
 *
 * - A reconcile request while a build runs joins it: it gets that build's summary.
 * - A full request while a build that is not full runs restarts it as a rebuild: the running call
 *   is cancelled (its signal aborts), then `run` is called again with `full`. Everyone waiting,
 *   the reconcile's callers included, gets the rebuild's summary (a rebuild does what the
 *   reconcile would have). A full request while a rebuild runs joins it.
 * - A caller's signal cancels that caller's wait: its request rejects with BuildCancelled at once.
 *   The build stops only when no other caller still waits for it. A request without a signal
 *   waits until the build ends, so it keeps the build running.
 * - cancelBuild() stops the build for everyone (the user's Cancel): they get its summary, which
 *   says `cancelled`.
 * - A request that comes while a build is being stopped waits for it to end, then starts the next.
 */

/** What a build request asks for. */
export interface BuildRequest {
  /** Drop the index and build it again, rather than reconcile it with the disk. */
  full?: boolean;
  /** Cancels this caller's wait (and the build, when no one else waits for it). */
  signal?: AbortSignal;
}

/** What `run` is asked to do: one build, cancelled through `signal`. */
export interface BuildRun {
  full: boolean;
  signal: AbortSignal;
}

/** A build's summary, and whether the build dropped the index and built it again. */
export type Built<S> = S & { rebuilt: boolean };

/** A request's wait was cancelled, or its build was stopped before it started. */
export class BuildCancelled extends Error {
  override readonly name = 'BuildCancelled';
}

interface Job<S> {
  /** What the job must end up doing: becomes true when a full request restarts it. */
  full: boolean;
  /** What the call of `run` in progress does; null before the first call. */
  runningFull: boolean | null;
  /** Callers waiting; one without a signal never leaves. */
  waiters: number;
  stopping: boolean;
  /** Cancels the call of `run` in progress. */
  ctrl: AbortController;
  done: Promise<Built<S>>;
}

const noop = (): void => undefined;

export class BuildQueue<S extends object> {
  private job: Job<S> | null = null;

  /** `label` names the index in errors (`label: reason`); `run` does one build. */
  constructor(
    private readonly label: string,
    private readonly run: (build: BuildRun) => Promise<S>,
  ) {}

  /** The build that runs (or waits for a stopping one to end), or null. */
  get running(): { full: boolean } | null {
    return this.job ? { full: this.job.full } : null;
  }

  /** Start a build, or join the one running (see the module comment); resolves with its summary. */
  request(req: BuildRequest = {}): Promise<Built<S>> {
    if (req.signal?.aborted) return Promise.reject(new BuildCancelled(`${this.label}: cancelled before the build was asked for`));
    return this.wait(this.jobFor(req.full === true), req.signal);
  }

  /** Stop the build for every caller; resolves once it has ended. */
  async cancelBuild(): Promise<void> {
    const job = this.job;
    if (!job) return;
    this.stop(job);
    await job.done.then(noop, noop);
  }

  /** Resolves when no build runs. */
  async idle(): Promise<void> {
    while (this.job) await this.job.done.then(noop, noop);
  }

  private jobFor(full: boolean): Job<S> {
    const job = this.job;
    if (!job || job.stopping) return this.begin(full, job);
    if (full && !job.full) {
      job.full = true;
      // A reconcile in progress is cancelled; one not started yet starts as the rebuild.
      if (job.runningFull === false) job.ctrl.abort();
    }
    return job;
  }

  private begin(full: boolean, previous: Job<S> | null): Job<S> {
    // `done` is set just below: the job must be the current one before drive() looks at the queue.
    const job = { full, runningFull: null, waiters: 0, stopping: false, ctrl: new AbortController() } as Job<S>;
    this.job = job;
    job.done = this.drive(job, previous);
    const clear = () => {
      if (this.job === job) this.job = null;
    };
    // Callers that have left no longer listen: its failure must not go unhandled.
    void job.done.then(clear, clear);
    return job;
  }

  private async drive(job: Job<S>, previous: Job<S> | null): Promise<Built<S>> {
    // Two builds of one index never overlap: a stopping one ends first.
    await previous?.done.then(noop, noop);
    if (job.stopping) throw new BuildCancelled(`${this.label}: the build was cancelled before it started`);
    for (;;) {
      const full = job.full;
      job.runningFull = full;
      let outcome: { value: S } | { error: unknown };
      try {
        outcome = { value: await this.run({ full, signal: job.ctrl.signal }) };
      } catch (error) {
        outcome = { error };
      }
      // Restarted as a rebuild meanwhile: what the cancelled call did (or how it failed) no longer matters.
      if (job.full !== full && !job.stopping) {
        job.ctrl = new AbortController();
        continue;
      }
      if ('error' in outcome) throw outcome.error;
      return { ...outcome.value, rebuilt: full };
    }
  }

  private wait(job: Job<S>, signal: AbortSignal | undefined): Promise<Built<S>> {
    job.waiters++;
    if (!signal) return job.done;
    return new Promise<Built<S>>((resolve, reject) => {
      const onAbort = () => {
        const last = --job.waiters === 0;
        if (last) this.stop(job);
        reject(
          new BuildCancelled(
            `${this.label}: cancelled; ${last ? 'the build stops (no one else waits for it)' : 'the build goes on (another caller waits for it)'}`,
          ),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void job.done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private stop(job: Job<S>): void {
    job.stopping = true;
    job.ctrl.abort();
  }
}
