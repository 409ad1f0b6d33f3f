/**
 * The sidecar's lifecycle as the extension sees it: start, stop, restart after a crash with
 * back-off, and the sidecar's notifications turned into events the views subscribe to.
 *
 * Each start builds a fresh client (as rust-analyzer does): one that failed or was stopped is never
 * reused. The client library itself lives in sidecar.ts, loaded on first start (see there).
 * Indexing and the model live in the sidecar process; nothing here computes.
 */
import * as vscode from 'vscode';
import type { IndexProgress, StatusResult } from '../server/protocol';
import type { Sidecar } from './sidecar';
import { SECTION } from './config';

export type SidecarState =
  /** Not started (no workspace folder yet) or stopped on purpose. */
  | 'stopped'
  | 'starting'
  | 'running'
  /** Exited unexpectedly; a restart is scheduled. */
  | 'crashed'
  /** Crashed too often or could not start; waits for "Restart Sidecar". */
  | 'failed';

/** Crashes within CRASH_WINDOW_MS beyond which the sidecar is left stopped. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 3 * 60_000;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const STOP_TIMEOUT_MS = 2_000;

export class NotRunningError extends Error {
  constructor(readonly state: SidecarState) {
    super(`the Semantic Search sidecar is not running (${state})`);
  }
}

/** Return true for the error of a request cancelled through its token (LSP RequestCancelled). */
export function isCancellation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === -32800;
}

/** Return a one-line description of an error. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e);
}

let sidecarModule: typeof import('./sidecar') | undefined;
/** Load the client library bundle (out/sidecar.js beside out/extension.js) on first use. */
function loadSidecarModule(log: vscode.LogOutputChannel): typeof import('./sidecar') {
  if (!sidecarModule) {
    const t0 = performance.now();
    // A literal path: the bundler keeps this require external (scripts/bundle.mjs).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
    sidecarModule = require('./sidecar.js') as typeof import('./sidecar');
    log.info(`client library loaded in ${(performance.now() - t0).toFixed(1)} ms`);
  }
  return sidecarModule;
}

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private sidecar: Sidecar | undefined;
  private _state: SidecarState = 'stopped';
  private _status: StatusResult | undefined;
  private _progress: IndexProgress | undefined;
  private _stateMessage = '';
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** One watcher for the Ctx's life: clients hook listeners onto it and drop only those. */
  private watcher: vscode.FileSystemWatcher | undefined;
  /** Bumped by every start and stop, so that a late callback of an old client changes nothing. */
  private generation = 0;

  private readonly onStateEmitter = new vscode.EventEmitter<SidecarState>();
  private readonly onStatusEmitter = new vscode.EventEmitter<StatusResult>();
  private readonly onProgressEmitter = new vscode.EventEmitter<IndexProgress>();
  /** Fires when the sidecar process starts, stops, crashes. */
  readonly onDidChangeState = this.onStateEmitter.event;
  /** Fires on `semsearch/statusChanged` and after each status request. */
  readonly onDidChangeStatus = this.onStatusEmitter.event;
  /** Fires on `semsearch/progress` (after `progress` is set). */
  readonly onProgress = this.onProgressEmitter.event;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('Semantic Search', { log: true });
  }

  get state(): SidecarState {
    return this._state;
  }
  /** Why the sidecar is not running, when it is not. */
  get stateMessage(): string {
    return this._stateMessage;
  }
  /** The last status the sidecar reported (undefined until it first does). */
  get status(): StatusResult | undefined {
    return this._status;
  }

  /** The last progress report of the running sidecar (undefined until it first sends one). */
  get progress(): IndexProgress | undefined {
    return this._progress;
  }

  /** Return the running sidecar, or throw NotRunningError. */
  running(): Sidecar {
    if (this._state !== 'running' || !this.sidecar) throw new NotRunningError(this._state);
    return this.sidecar;
  }

  /**
   * Start the sidecar on the next turn of the event loop (activation should not pay for loading
   * the client library); shows "starting" meanwhile.
   */
  queueStart(): void {
    if (this._state !== 'stopped') return;
    this.setState('starting');
    setTimeout(() => {
      if (this._state === 'starting' && !this.sidecar) void this.start();
    }, 0);
  }

  /** Start the sidecar unless it is already up; resolves once it answered `initialize`. */
  async start(): Promise<void> {
    // `sidecar` is set before the first await below: a second call while starting returns here.
    if (this.sidecar && (this._state === 'running' || this._state === 'starting')) return;
    this.clearRestartTimer();
    const gen = ++this.generation;
    this.setState('starting');
    const t0 = Date.now();
    let sidecar: Sidecar;
    try {
      const { Sidecar } = loadSidecarModule(this.log);
      const ext = this.extension;
      sidecar = new Sidecar(
        {
          module: ext.asAbsolutePath('out/server.js'),
          initializationOptions: { storageDir: ext.storageUri?.fsPath ?? ext.globalStorageUri.fsPath, extensionDir: ext.extensionPath },
          watcher: (this.watcher ??= vscode.workspace.createFileSystemWatcher('**/*')),
          configurationSection: SECTION,
        },
        {
          log: this.log,
          onExit: () => gen === this.generation && this.crashed(gen),
          onStatus: (s) => gen === this.generation && this.setStatus(s),
          onProgress: (p) => gen === this.generation && this.setProgress(p),
        },
      );
      this.sidecar = sidecar;
      await sidecar.start();
    } catch (e) {
      if (gen !== this.generation) return;
      this.log.error(`sidecar failed to start: ${errorText(e)}`);
      // A crash during start was handled by crashed() (back-off); anything else needs the user.
      if (this._state === 'starting') {
        this.setState('failed', `could not start: ${errorText(e)}`);
        void vscode.window.showErrorMessage(`Semantic Search: the sidecar could not start: ${errorText(e)}`, 'Show Log').then((p) => p && this.log.show(true));
      }
      return;
    }
    if (gen !== this.generation) return;
    this.log.info(`sidecar started in ${Date.now() - t0} ms (pid ${sidecar.pid ?? '?'})`);
    this.setState('running');
    this.refreshStatus().catch((e) => this.log.warn(`status request failed: ${errorText(e)}`));
  }

  /** Stop the sidecar and forget its client (it is never reused). */
  async stop(): Promise<void> {
    this.clearRestartTimer();
    ++this.generation;
    const sidecar = this.sidecar;
    this.sidecar = undefined;
    if (sidecar) {
      try {
        await sidecar.dispose(STOP_TIMEOUT_MS);
      } catch (e) {
        this.log.warn(`stopping the sidecar: ${errorText(e)}`);
      }
    }
    this.setState('stopped');
  }

  /** Stop, then start a fresh sidecar; forgets earlier crashes (the user asked for it). */
  async restart(): Promise<void> {
    this.crashes = [];
    await this.stop();
    await this.start();
  }

  /** Ask the sidecar for its status now (also updates views). */
  async refreshStatus(token?: vscode.CancellationToken): Promise<StatusResult> {
    const s = await this.running().status(token);
    this.setStatus(s);
    return s;
  }

  dispose(): void {
    this.clearRestartTimer();
    void this.stop();
    this.watcher?.dispose();
    this.onStateEmitter.dispose();
    this.onStatusEmitter.dispose();
    this.onProgressEmitter.dispose();
    this.log.dispose();
  }

  /** The process exited unexpectedly: restart with exponential back-off, give up after MAX_CRASHES. */
  private crashed(gen: number): void {
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    const old = this.sidecar;
    this.sidecar = undefined;
    void old?.dispose(STOP_TIMEOUT_MS).catch(() => undefined);
    if (this.crashes.length > MAX_CRASHES) {
      const message = `The Semantic Search sidecar stopped ${this.crashes.length} times in ${CRASH_WINDOW_MS / 60_000} minutes and will not be restarted.`;
      this.log.error(message);
      this.setState('failed', message);
      void vscode.window.showErrorMessage(message, 'Show Log', 'Restart').then((pick) => {
        if (pick === 'Show Log') this.log.show(true);
        if (pick === 'Restart') void this.restart();
      });
      return;
    }
    const delay = Math.min(FIRST_BACKOFF_MS * 2 ** (this.crashes.length - 1), MAX_BACKOFF_MS);
    const message = `The Semantic Search sidecar stopped unexpectedly; restarting in ${delay / 1000} s.`;
    this.log.warn(message);
    this.setState('crashed', message);
    void vscode.window.showWarningMessage(message, 'Show Log').then((pick) => pick && this.log.show(true));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (gen !== this.generation) return;
      this.log.info('restarting the sidecar after a crash');
      void this.start();
    }, delay);
  }

  private setState(state: SidecarState, message = ''): void {
    this._stateMessage = message;
    if (state !== 'running') {
      this._status = undefined;
      this._progress = undefined;
    }
    this._state = state;
    void vscode.commands.executeCommand('setContext', 'semsearch.running', state === 'running');
    this.onStateEmitter.fire(state);
  }

  private setStatus(s: StatusResult): void {
    this._status = s;
    this.onStatusEmitter.fire(s);
  }

  private setProgress(p: IndexProgress): void {
    this._progress = p;
    this.onProgressEmitter.fire(p);
  }

  private clearRestartTimer(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}
