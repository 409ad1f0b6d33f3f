/**
 * The rows of the Index Status view: the sidecar, health and message, both embedding tiers (model,
 * counts, rate, time left), and per workspace folder its files, chunks, tiers, skipped files by
 * reason, when it was last indexed and where the index lives; a problem comes with the command
 * that fixes it. No vscode import: statusTree.ts turns the rows into tree items, and the unit tests
 * read them with plain mocha.
 */
import type { FolderStatus, IndexProgress, StatusResult } from '../../server/protocol';
import type { SidecarState } from '../ctx';
import { count, deepTierLine, etaText, fastTierLine, percent, rateText, TierSummary, tierSummary } from './tiers';

/** One row of the view. */
export interface StatusNode {
  /** Stable across refreshes (the tree keeps a row's expansion by it). */
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon id (`pass`, `warning`, `sync~spin`…). */
  icon?: string;
  /** Run on click. */
  command?: { command: string; title: string; arguments?: unknown[] };
  children?: StatusNode[];
  /** Shown collapsed (children only). */
  collapsed?: boolean;
}

const HEALTH_ICONS: Record<StatusResult['health'], string> = { ok: 'pass', indexing: 'sync~spin', warning: 'warning', error: 'error' };

function action(id: string, label: string, command: string, icon: string, args?: unknown[]): StatusNode {
  return { id, label, icon, command: { command, title: label, ...(args ? { arguments: args } : {}) } };
}

/** Return "3 min ago", "2 h ago", "5 days ago" for an ISO time, relative to `now`. */
export function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, (now - t) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  const days = Math.floor(s / 86400);
  return days === 1 ? 'yesterday' : `${days} days ago`;
}

function baseName(root: string): string {
  const parts = root.split(/[\\/]/).filter((p) => p);
  return parts[parts.length - 1] ?? root;
}

/** Return the tiers' rows: fast (static model) and deep (transformer). */
function tierNodes(t: TierSummary): StatusNode[] {
  const out: StatusNode[] = [];
  const f = t.fast;
  if (f) {
    const children: StatusNode[] = [
      { id: 'fast/model', label: 'Model', description: f.model ?? 'not loaded', icon: 'symbol-constant' },
      { id: 'fast/chunks', label: 'Chunks', description: `${count(f.done)} of ${count(t.chunks)} (${percent(f.done, t.chunks)} %)`, icon: 'symbol-number' },
    ];
    out.push({
      id: 'fast',
      label: 'Fast tier',
      description: f.complete ? 'ready' : `${percent(f.done, t.chunks)} %${f.running ? ', being written' : ''}`,
      tooltip: `${fastTierLine(t)}: static vectors, written with every chunk; semantic search answers from them within seconds`,
      icon: f.complete ? 'zap' : f.running ? 'sync~spin' : 'circle-large-outline',
      children,
    });
  } else {
    out.push({ id: 'fast', label: 'Fast tier', description: 'none (no static model)', icon: 'circle-slash' });
  }

  const d = t.deep;
  const tooltip = `${deepTierLine(t)}: transformer vectors, filled in behind the fast tier`;
  switch (d.state) {
    case 'off':
      out.push({
        id: 'deep',
        label: 'Deep tier',
        description: 'off by setting (semsearch.tiers: static)',
        tooltip: 'The semsearch.tiers setting is "static": no transformer model is loaded. Click to change the setting.',
        icon: 'circle-slash',
        command: { command: 'workbench.action.openSettings', title: 'Change the setting', arguments: ['semsearch.tiers'] },
      });
      break;
    case 'failed':
      out.push({
        id: 'deep',
        label: 'Deep tier',
        description: t.fast ? 'not loaded: semantic search runs on the fast tier' : 'not loaded: keyword search only',
        tooltip: d.reason || 'The transformer model did not load.',
        icon: 'warning',
        children: [
          { id: 'deep/reason', label: 'Why', description: d.reason || 'the model did not load (see the log)', tooltip: d.reason, icon: 'info' },
          action('deep/fix', 'Select Model Folder…', 'semsearch.selectModel', 'folder-opened'),
        ],
      });
      break;
    case 'loading':
      out.push({ id: 'deep', label: 'Deep tier', description: 'loading the model', tooltip, icon: 'sync~spin' });
      break;
    default: {
      const m = d.model;
      const children: StatusNode[] = [
        { id: 'deep/model', label: 'Model', description: `${m.id} (${m.device}, ${m.dtype}, ${m.dim}-d)`, icon: 'symbol-constant' },
        { id: 'deep/chunks', label: 'Chunks', description: `${count(d.done)} of ${count(t.chunks)} (${d.pct} %)`, icon: 'symbol-number' },
      ];
      if (d.state === 'running') {
        const speed = [d.rate !== undefined ? rateText(d.rate) : 'measuring the rate', ...(d.eta !== undefined ? [etaText(d.eta)] : [])].join(', ');
        children.push({ id: 'deep/rate', label: 'Rate', description: speed, icon: 'dashboard' });
      }
      const description = d.state === 'complete' ? 'ready' : d.state === 'running' ? `${d.pct} %, filling in` : `${d.pct} %, not running now`;
      const icon = d.state === 'complete' ? 'pass' : d.state === 'running' ? 'sync~spin' : 'circle-large-outline';
      out.push({ id: 'deep', label: 'Deep tier', description, tooltip, icon, children });
    }
  }
  return out;
}

function folderNode(f: FolderStatus, now: number): StatusNode {
  const id = `folder:${f.root}`;
  const children: StatusNode[] = [
    { id: `${id}/files`, label: 'Files', description: count(f.files), icon: 'files' },
    { id: `${id}/chunks`, label: 'Chunks', description: count(f.chunks), icon: 'symbol-number' },
  ];
  if (typeof f.chunksWithStatic === 'number')
    children.push({
      id: `${id}/fast`,
      label: 'Fast tier',
      description: `${count(f.chunksWithStatic)} (${percent(f.chunksWithStatic, f.chunks)} %)`,
      icon: 'zap',
    });
  children.push({
    id: `${id}/deep`,
    label: 'Deep tier',
    description: `${count(f.chunksWithVectors)} (${percent(f.chunksWithVectors, f.chunks)} %)`,
    icon: 'layers',
  });
  const skipped = Object.entries(f.skippedByReason)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const skippedTotal = skipped.reduce((a, [, v]) => a + v, 0);
  children.push({
    id: `${id}/skipped`,
    label: 'Skipped',
    description: skippedTotal ? `${count(skippedTotal)} files` : 'none',
    icon: 'eye-closed',
    ...(skipped.length
      ? { collapsed: true, children: skipped.map(([reason, v]) => ({ id: `${id}/skipped/${reason}`, label: reason, description: count(v), icon: 'dash' })) }
      : {}),
  });
  children.push({
    id: `${id}/last`,
    label: 'Last indexed',
    description: f.lastIndexed ? ago(f.lastIndexed, now) : 'never',
    ...(f.lastIndexed ? { tooltip: f.lastIndexed } : {}),
    icon: 'history',
  });
  children.push({ id: `${id}/index`, label: 'Index file', description: f.indexPath, tooltip: f.indexPath, icon: 'database' });
  return { id, label: baseName(f.root), description: f.root, tooltip: f.root, icon: 'root-folder', children };
}

/** Return the view's rows for a sidecar state, its last status and progress report, at time `now`. */
export function statusNodes(
  state: SidecarState,
  stateMessage: string,
  status: StatusResult | undefined,
  progress: IndexProgress | undefined,
  now = Date.now(),
): StatusNode[] {
  if (state !== 'running') {
    const icon = state === 'starting' ? 'loading~spin' : state === 'stopped' ? 'circle-slash' : 'error';
    const out: StatusNode[] = [
      { id: 'sidecar', label: 'Sidecar', description: stateMessage ? `${state}: ${stateMessage}` : state, tooltip: stateMessage || state, icon },
    ];
    if (state !== 'starting') out.push(action('restart', 'Restart Sidecar', 'semsearch.restart', 'debug-restart'));
    out.push(action('log', 'Show Log', 'semsearch.showLog', 'output'));
    return out;
  }
  if (!status) return [{ id: 'waiting', label: 'Waiting for the index status…', icon: 'loading~spin' }];

  const t = tierSummary(status, progress);
  const firstLine = status.message.split('\n')[0];
  const out: StatusNode[] = [
    {
      id: 'health',
      label: `Health: ${status.health}`,
      ...(firstLine ? { description: firstLine } : {}),
      ...(status.message ? { tooltip: status.message } : {}),
      icon: HEALTH_ICONS[status.health],
    },
  ];
  const p = t.live;
  if (p && p.phase !== 'embed') {
    const what =
      p.phase === 'download'
        ? (p.message ?? 'downloading the model')
        : p.phase === 'walk'
          ? `listing files (${count(p.filesSeen)} so far)`
          : `${count(p.filesIndexed + p.filesSkipped)} of ${count(p.filesSeen)} files`;
    out.push({ id: 'activity', label: 'Indexing', description: what, icon: 'sync~spin' });
  }
  if (status.health === 'error') {
    // With the fast tier answering, the deep tier's row carries this fix.
    if (!status.model && status.tiers !== 'static' && !t.fast) out.push(action('fix', 'Select Model Folder…', 'semsearch.selectModel', 'folder-opened'));
    else if (status.model) out.push(action('fix', 'Reindex Workspace', 'semsearch.reindex', 'refresh'));
  }
  if (status.folders.length) out.push({ id: 'counts', label: 'Index', description: `${count(t.files)} files · ${count(t.chunks)} chunks`, icon: 'database' });
  out.push(...tierNodes(t));
  for (const f of status.folders) out.push(folderNode(f, now));
  if (status.folders.length === 0) out.push({ id: 'nofolders', label: 'No workspace folder is indexed.', icon: 'info' });
  return out;
}
