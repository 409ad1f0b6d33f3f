/**
 * What the status bar item shows for a sidecar state, status and progress report: the sidecar's
 * state, both embedding tiers (the fast tier ready in seconds, the deep tier filling in behind it,
 * with its rate and time left), and errors with the command that fixes them. No vscode import: the
 * unit tests render every state with plain mocha.
 */
import type { IndexProgress, StatusResult } from '../../server/protocol';
import type { SidecarState } from '../ctx';
import { markdownCode } from './markdown';
import { count, deepTierLine, fastTierLine, percent, TierSummary, tierSummary } from './tiers';

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
const SELECT_MODEL = '[Select model folder…](command:semsearch.selectModel)';
const REINDEX = '[Reindex](command:semsearch.reindex)';
const TIERS_SETTING = `[Change the setting](command:workbench.action.openSettings?${encodeURIComponent(JSON.stringify(['semsearch.tiers']))})`;
/** Commands the tooltip's links may run (the item's MarkdownString trusts only these). */
export const TOOLTIP_COMMANDS = [
  'semsearch.showStatus',
  'semsearch.showLog',
  'semsearch.restart',
  'semsearch.selectModel',
  'semsearch.reindex',
  'workbench.action.openSettings',
];

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Return the tooltip's model and tier lines. */
function tierLines(status: StatusResult, t: TierSummary): string {
  const lines: string[] = [];
  if (t.fast) lines.push(`${capital(fastTierLine(t))}${t.fast.model ? ` · ${markdownCode(t.fast.model)}` : ''}`);
  const m = status.model;
  lines.push(`${capital(deepTierLine(t))}${m ? ` · ${markdownCode(m.id)} (${m.device}, ${m.dtype}, ${m.dim}-d)` : ''}`);
  return lines.join('\n\n');
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
  const t = tierSummary(status, progress);
  const counts = `${count(t.files)} files · ${count(t.chunks)} chunks`;
  const message = status.message ? `${status.message}\n\n` : '';
  const tiers = tierLines(status, t);
  const fastReady = !!t.fast && t.fast.complete && t.chunks > 0;

  // The transformer did not load, but the fast tier answers by meaning: degraded, not broken.
  if (t.deep.state === 'failed' && t.fast) {
    return {
      text: '$(warning) Semantic Search: fast tier only (deep tier failed)',
      tooltip: `Semantic search runs on the fast tier only: the deep tier's model did not load.\n\n${message}${counts}\n\n${tiers}\n\n${SELECT_MODEL} · ${LINKS}`,
      severity: 'warning',
      command: 'semsearch.selectModel',
    };
  }
  if (status.health === 'error') {
    // Without a model the fix is another model folder; otherwise indexing failed: reindex.
    const noModel = !status.model && status.tiers !== 'static';
    const model = status.model ? '' : noModel ? 'Model: not loaded\n\n' : '';
    return {
      text: noModel ? '$(error) Semantic Search: no model' : '$(error) Semantic Search: error',
      tooltip: `${message}${model}${tiers}\n\n${noModel ? SELECT_MODEL : REINDEX} · ${LINKS}`,
      severity: 'error',
      command: noModel ? 'semsearch.selectModel' : 'semsearch.showStatus',
    };
  }

  const p = t.live;
  if (p?.phase === 'download') {
    const pct = p.bytesTotal ? Math.floor((100 * (p.bytesDone ?? 0)) / p.bytesTotal) : 0;
    return {
      text: fastReady ? `$(search) semantic (fast) ready · downloading deep model ${pct} %` : `$(cloud-download) Semantic Search: downloading model ${pct}%`,
      tooltip: `${p.message ?? 'Downloading the model'}\n\n${fastReady ? `${counts}\n\n${tiers}\n\n` : ''}${LINKS}`,
      severity: 'busy',
      command: 'semsearch.showLog',
    };
  }
  const busy = (text: string): StatusView => ({
    text,
    tooltip: `${message}${counts}\n\n${tiers}\n\n${LINKS}`,
    severity: 'busy',
    command: 'semsearch.showStatus',
  });
  const deep = t.deep;
  if (p && (p.phase === 'walk' || p.phase === 'chunk'))
    return busy(
      `$(sync~spin) Semantic Search: indexing ${count(p.filesIndexed + p.filesSkipped)}/${count(p.filesSeen)} files${p.transformer === false ? ' (fast tier)' : ''}`,
    );
  if (p?.phase === 'embed') {
    if (deep.state === 'running') {
      if (fastReady) return busy(`$(search) semantic (fast) ready · deep ${deep.pct} %`);
      if (t.fast) return busy(`$(sync~spin) Semantic Search: fast ${percent(t.fast.done, t.chunks)} % · deep ${deep.pct} %`);
      return busy(`$(sync~spin) Semantic Search: embedding ${count(p.chunksEmbedded)}/${count(p.chunksEmbedded + p.chunksPending)}`);
    }
    if (t.fast && !t.fast.complete) return busy(`$(sync~spin) Semantic Search: fast tier ${percent(t.fast.done, t.chunks)} %`);
  }
  if (status.health === 'indexing') {
    if (fastReady && deep.state === 'loading') return busy('$(search) semantic (fast) ready · deep tier loading');
    if (fastReady && (deep.state === 'running' || deep.state === 'waiting')) return busy(`$(search) semantic (fast) ready · deep ${deep.pct} %`);
    return busy('$(sync~spin) Semantic Search: indexing');
  }

  // No pass runs. Something may still be missing: say which tier.
  if (t.fast && !t.fast.complete && t.chunks > 0) {
    return {
      text: `$(search) ${counts} · partial (fast ${percent(t.fast.done, t.chunks)} %)`,
      tooltip: `${message}Semantic ranking covers part of the workspace; keyword search covers all.\n\n${tiers}\n\n${REINDEX} · ${LINKS}`,
      severity: 'warning',
      command: 'semsearch.showStatus',
    };
  }
  if (deep.state === 'waiting' || deep.state === 'loading') {
    if (fastReady) {
      return {
        text: deep.state === 'waiting' ? `$(search) semantic (fast) ready · deep ${deep.pct} %` : '$(search) semantic (fast) ready · deep tier loading',
        tooltip: `${message}${counts}\n\n${tiers}\n\n${REINDEX} · ${LINKS}`,
        severity: 'warning',
        command: 'semsearch.showStatus',
      };
    }
    if (deep.state === 'waiting') {
      return {
        text: `$(search) ${counts} · partial (${deep.pct}% embedded)`,
        tooltip: `${message}Semantic ranking covers ${count(deep.done)} of ${count(t.chunks)} chunks; keyword search covers all.\n\n${tiers}\n\n${LINKS}`,
        severity: 'warning',
        command: 'semsearch.showStatus',
      };
    }
  }
  const off = deep.state === 'off';
  return {
    text: `$(search) ${counts}${off ? ' (fast tier)' : ''}`,
    tooltip: `${message}Semantic Search index: ${counts}\n\n${tiers}${off ? ` ${TIERS_SETTING}` : ''}\n\n${LINKS}`,
    severity: status.health === 'warning' ? 'warning' : 'ok',
    command: 'semsearch.showStatus',
  };
}
