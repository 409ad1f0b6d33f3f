/**
 * Just enough of the `vscode` API for extension/ctx.ts to run under plain Node: output channel,
 * events, notifications, context keys and a file watcher. Messages shown to the user are kept so
 * tests can read them. `install()` makes `require('vscode')` return it and lets a test replace
 * extension/sidecar.ts (the vscode-languageclient side) with its own module.
 */
import Module from 'node:module';
import * as path from 'node:path';

export interface Shown {
  severity: 'info' | 'warning' | 'error';
  message: string;
}

export const shown: Shown[] = [];
export const logLines: string[] = [];

class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  readonly event = (listener: (e: T) => void) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

function logChannel() {
  const line = (level: string) => (m: string) => {
    logLines.push(`${level} ${m}`);
  };
  return {
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    debug: line('debug'),
    trace: line('trace'),
    appendLine: line('line'),
    show: () => undefined,
    dispose: () => undefined,
  };
}

const api = {
  EventEmitter,
  window: {
    createOutputChannel: () => logChannel(),
    showInformationMessage: (message: string) => Promise.resolve(void shown.push({ severity: 'info', message })),
    showWarningMessage: (message: string) => Promise.resolve(void shown.push({ severity: 'warning', message })),
    showErrorMessage: (message: string) => Promise.resolve(void shown.push({ severity: 'error', message })),
  },
  commands: { executeCommand: () => Promise.resolve(undefined) },
  workspace: {
    createFileSystemWatcher: () => ({
      dispose: () => undefined,
      onDidChange: () => ({ dispose() {} }),
      onDidCreate: () => ({ dispose() {} }),
      onDidDelete: () => ({ dispose() {} }),
    }),
    getConfiguration: () => ({ get: () => undefined, inspect: () => undefined }),
  },
  Uri: { file: (p: string) => ({ fsPath: p, scheme: 'file', toString: () => `file://${p}` }) },
};

let installed = false;

/**
 * Route `require('vscode')` to this stand-in, and `require` of extension/sidecar.js (resolved from
 * out/extension/) to `sidecarModule`.
 */
export function install(sidecarModule: object): void {
  const sidecarPath = path.resolve(__dirname, '..', '..', 'extension', 'sidecar.js');
  const m = Module as unknown as { _load: (request: string, parent: { filename?: string } | null, isMain: boolean) => unknown };
  if (installed) return;
  installed = true;
  const load = m._load;
  m._load = function (request, parent, isMain) {
    if (request === 'vscode') return api;
    if (parent?.filename && path.resolve(path.dirname(parent.filename), request) === sidecarPath) return sidecarModule;
    return load.call(this, request, parent, isMain);
  };
}

/** A minimal ExtensionContext: storage in `storageDir`, the extension at the repository root. */
export function extensionContext(repoRoot: string, storageDir: string): object {
  return {
    extensionPath: repoRoot,
    asAbsolutePath: (p: string) => path.join(repoRoot, p),
    storageUri: { fsPath: storageDir },
    globalStorageUri: { fsPath: storageDir },
    subscriptions: [],
  };
}
