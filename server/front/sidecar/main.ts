/**
 * The sidecar: a language-server-style process that the extension starts. It owns the model, the
 * chunker and one FolderEngine per workspace folder (sidecar.ts) and answers the protocol's
 * requests (requests.ts). All model and index work happens here, never in the editor's extension
 * host. This file wires the connection to them.
 */
import { fileURLToPath } from 'node:url';
import {
  createConnection,
  DataCallback,
  Disposable,
  InitializeParams,
  InitializeResult,
  IPCMessageReader,
  IPCMessageWriter,
  ProposedFeatures,
} from 'vscode-languageserver/node';
import { DEFAULT_SETTINGS, ProgressNotification, settingsFromSection, StatusNotification } from '../../protocol';
import { registerRequests } from './requests';
import { InitOptions, Sidecar } from './sidecar';

/**
 * The client's messages over node IPC (how the extension starts the sidecar), less malformed
 * cancellations: vscode-jsonrpc 10 reads `params.id` of a `$/cancelRequest` without checking it,
 * inside the process's 'message' listener, so one without an id would end the sidecar.
 */
class CheckedIPCMessageReader extends IPCMessageReader {
  override listen(callback: DataCallback): Disposable {
    return super.listen((m) => {
      const { method, params } = m as { method?: unknown; params?: { id?: unknown } | null };
      if (method === '$/cancelRequest' && !(typeof params?.id === 'number' || typeof params?.id === 'string')) return;
      callback(m);
    });
  }
}

const connection = process.argv.includes('--node-ipc')
  ? createConnection(ProposedFeatures.all, new CheckedIPCMessageReader(process), new IPCMessageWriter(process))
  : createConnection(ProposedFeatures.all);

const sidecar = new Sidecar({
  log: (m) => connection.console.log(m),
  warn: (m) => void connection.window.showWarningMessage(m),
  sendStatus: (s) => void connection.sendNotification(StatusNotification, s).catch(() => undefined),
  sendProgress: (p) => void connection.sendNotification(ProgressNotification, p).catch(() => undefined),
  readSettings: async () => {
    try {
      return settingsFromSection(await connection.workspace.getConfiguration('semsearch'));
    } catch {
      return { ...DEFAULT_SETTINGS };
    }
  },
});

connection.onInitialize((params: InitializeParams): InitializeResult => {
  sidecar.init = (params.initializationOptions ?? {}) as InitOptions;
  sidecar.roots = (params.workspaceFolders ?? []).map((f) => fileURLToPath(f.uri));
  if (sidecar.roots.length === 0 && params.rootUri) sidecar.roots = [fileURLToPath(params.rootUri)];
  return { capabilities: { workspace: { workspaceFolders: { supported: true, changeNotifications: true } } } };
});
connection.onInitialized(() => sidecar.begin());
registerRequests(connection, sidecar);
connection.onShutdown(() => sidecar.shutdown());
connection.listen();
