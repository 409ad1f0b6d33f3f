/**
 * The sidecar process behind a vscode-languageclient LanguageClient, and one typed method per
 * custom request of server/protocol.ts.
 *
 * This module (with vscode-languageclient and the protocol's RequestTypes) is bundled apart, as
 * out/sidecar.js, and loaded by ctx.ts only when the sidecar starts: loading the client library
 * takes longer than the whole activation budget, so it stays out of activate().
 */
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';
import {
  ChunkAtParams,
  ChunkAtRequest,
  ChunkAtResult,
  FindSimilarParams,
  FindSimilarRequest,
  FindSimilarResult,
  IndexProgress,
  ProgressNotification,
  ReindexParams,
  ReindexRequest,
  ReindexResult,
  SearchParams,
  SearchRequest,
  SearchResult,
  StatusNotification,
  StatusRequest,
  StatusResult,
} from '../server/protocol';

export interface SidecarHooks {
  log: vscode.LogOutputChannel;
  /** The process went away without being asked to: the library will not restart it; the caller decides. */
  onExit(): void;
  onStatus(s: StatusResult): void;
  onProgress(p: IndexProgress): void;
}

export interface SidecarOptions {
  /** Out folder of the bundles (holds server.js). */
  module: string;
  initializationOptions: { storageDir: string; extensionDir: string };
  watcher: vscode.FileSystemWatcher;
  configurationSection: string;
}

/** The library reports its own errors with a notification; ours are shown by Ctx, so log only. */
class QuietClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

export class Sidecar {
  private readonly client: LanguageClient;
  private stopping = false;

  constructor(opts: SidecarOptions, hooks: SidecarHooks) {
    // No `runtime`: the sidecar runs on the extension host's own Node (Electron in desktop VS Code),
    // so its native modules must be Node-API.
    const serverOptions: ServerOptions = {
      run: { module: opts.module, transport: TransportKind.ipc },
      debug: { module: opts.module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const clientOptions: LanguageClientOptions = {
      // The sidecar reads files from disk; it needs no open-document sync.
      documentSelector: [],
      synchronize: { fileEvents: opts.watcher, configurationSection: opts.configurationSection },
      initializationOptions: opts.initializationOptions,
      outputChannel: hooks.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: {
        error: (error, _message, count) => {
          hooks.log.error(`connection error: ${error.message}`);
          return { action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true };
        },
        // Never the library's immediate restart: Ctx restarts with back-off.
        closed: () => {
          if (!this.stopping) hooks.onExit();
          return { action: CloseAction.DoNotRestart, handled: true, message: 'sidecar exited' };
        },
      },
      initializationFailedHandler: (error) => {
        hooks.log.error(`sidecar initialization failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
    };
    this.client = new QuietClient('semsearch', 'Semantic Search', serverOptions, clientOptions);
    // Handlers go on before start: the sidecar reports status as soon as it is initialized.
    this.client.onNotification(StatusNotification, (s) => {
      hooks.onStatus(s);
    });
    this.client.onNotification(ProgressNotification, (p) => {
      hooks.onProgress(p);
    });
  }

  /** Start the process; resolves once it answered `initialize`. */
  start(): Promise<void> {
    return this.client.start();
  }

  /** Stop (shutdown + exit, killed after `timeoutMs`) and release the client. */
  async dispose(timeoutMs: number): Promise<void> {
    this.stopping = true;
    try {
      if (this.client.needsStop()) await this.client.stop(timeoutMs);
    } finally {
      await this.client.dispose(timeoutMs).catch(() => undefined);
    }
  }

  /** The sidecar's process id while it runs (tests kill it to check crash recovery). */
  get pid(): number | undefined {
    return (this.client as unknown as { _serverProcess?: { pid?: number } })._serverProcess?.pid;
  }

  search(p: SearchParams, token?: vscode.CancellationToken): Promise<SearchResult> {
    return this.client.sendRequest(SearchRequest, p, token);
  }
  findSimilar(p: FindSimilarParams, token?: vscode.CancellationToken): Promise<FindSimilarResult> {
    return this.client.sendRequest(FindSimilarRequest, p, token);
  }
  reindex(p: ReindexParams, token?: vscode.CancellationToken): Promise<ReindexResult> {
    return this.client.sendRequest(ReindexRequest, p, token);
  }
  status(token?: vscode.CancellationToken): Promise<StatusResult> {
    return this.client.sendRequest(StatusRequest, {}, token);
  }
  chunkAt(p: ChunkAtParams, token?: vscode.CancellationToken): Promise<ChunkAtResult> {
    return this.client.sendRequest(ChunkAtRequest, p, token);
  }
}
