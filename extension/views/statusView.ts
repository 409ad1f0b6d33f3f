/**
 * What the status bar item shows for a sidecar state, status and progress report. No vscode import:
 * the unit tests render every state with plain mocha.
 */
import type { IndexProgress, StatusResult } from '../../server/protocol';
import type { SidecarState } from '../ctx';

/** What the item shows, independent of vscode (unit-testable). */
export interface StatusView {
  text: string;
  /** Markdown with command links. */
  tooltip: string;
  severity: 'ok' | 'busy' | 'warning' | 'error';
  /** Command run on click. */
  command: string;
}

const LINKS = '[Show status](command:semsearch.showStatus) · [Show log](command:semsearch.showLog) · [Restart sidecar](command:semsearch.restart)';

function n(x: number): string {
  return x.toLocaleString('en-US');
}

/** Return the item's look for a sidecar state, its last status and the last progress report. */
export function statusView(state: SidecarState, stateMessage: string, status: StatusResult | undefined, progress: IndexProgress | undefined): StatusView {
  switch (state) {
    case 'stopped':
      return { text: '$(search) Semantic Search: off', tooltip: `The sidecar is not running. ${LINKS}`, severity: 'warning', command: 'semsearch.restart' };
    case 'starting':
      return { text: '$(loading~spin) Semantic Search: starting', tooltip: `Starting the sidecar… ${LINKS}`, severity: 'busy', command: 'semsearch.showLog' };
    case 'crashed':
    case 'failed':
      return {
        text: '$(error) Semantic Search: sidecar stopped',
        tooltip: `${stateMessage || 'The sidecar stopped.'}\n\n${LINKS}`,
        severity: 'error',
        command: 'semsearch.restart',
      };
    case 'running':
      break;
  }
  if (!status)
    return { text: '$(loading~spin) Semantic Search', tooltip: `Waiting for the index status… ${LINKS}`, severity: 'busy', command: 'semsearch.showStatus' };
  const files = status.folders.reduce((a, f) => a + f.files, 0);
  const chunks = status.folders.reduce((a, f) => a + f.chunks, 0);
  const withVectors = status.folders.reduce((a, f) => a + f.chunksWithVectors, 0);
  const model = status.model ? `Model: \`${status.model.id}\` (${status.model.device}, ${status.model.dtype}, ${status.model.dim}-d)` : 'Model: not loaded';
  const counts = `${n(files)} files · ${n(chunks)} chunks`;
  const message = status.message ? `${status.message}\n\n` : '';
  if (status.health === 'error') {
    // Without a model the fix is another model folder; otherwise indexing failed: reindex.
    const fix = status.model ? '[Reindex](command:semsearch.reindex)' : '[Select model folder…](command:semsearch.selectModel)';
    return {
      text: status.model ? '$(error) Semantic Search: error' : '$(error) Semantic Search: no model',
      tooltip: `${message}${model}\n\n${fix} · ${LINKS}`,
      severity: 'error',
      command: status.model ? 'semsearch.showStatus' : 'semsearch.selectModel',
    };
  }
  if (status.health === 'indexing') {
    const p = progress && progress.phase !== 'done' && progress.phase !== 'error' ? progress : undefined;
    if (p?.phase === 'download') {
      const pct = p.bytesTotal ? Math.floor((100 * (p.bytesDone ?? 0)) / p.bytesTotal) : 0;
      return {
        text: `$(cloud-download) Semantic Search: downloading model ${pct}%`,
        tooltip: `${p.message ?? 'Downloading the model'}\n\n${LINKS}`,
        severity: 'busy',
        command: 'semsearch.showLog',
      };
    }
    const what = p
      ? p.phase === 'embed'
        ? `embedding ${n(p.chunksEmbedded)}/${n(p.chunksEmbedded + p.chunksPending)}`
        : `indexing ${n(p.filesIndexed + p.filesSkipped)}/${n(p.filesSeen)} files`
      : 'indexing';
    return {
      text: `$(sync~spin) Semantic Search: ${what}`,
      tooltip: `${message}${counts}\n\n${model}\n\n${LINKS}`,
      severity: 'busy',
      command: 'semsearch.showStatus',
    };
  }
  if (status.partial) {
    const pct = chunks ? Math.floor((100 * withVectors) / chunks) : 0;
    return {
      text: `$(search) ${counts} · partial (${pct}% embedded)`,
      tooltip: `${message}Semantic ranking covers ${n(withVectors)} of ${n(chunks)} chunks; keyword search covers all.\n\n${model}\n\n${LINKS}`,
      severity: 'warning',
      command: 'semsearch.showStatus',
    };
  }
  return {
    text: `$(search) ${counts}`,
    tooltip: `${message}Semantic Search index: ${counts}\n\n${model}\n\n${LINKS}`,
    severity: status.health === 'warning' ? 'warning' : 'ok',
    command: 'semsearch.showStatus',
  };
}
