/**
 * "Show Index Status": a read-only Markdown document rendered from `semsearch/status`, refreshed
 * whenever the sidecar reports a change.
 */
import * as vscode from 'vscode';
import type { StatusResult } from '../../server/protocol';
import type { SidecarState } from '../ctx';

export const STATUS_SCHEME = 'semsearch-status';
export const STATUS_URI = vscode.Uri.from({ scheme: STATUS_SCHEME, path: '/Semantic Search Status.md' });

/** Return the status as Markdown. */
export function renderStatus(state: SidecarState, stateMessage: string, s: StatusResult | undefined): string {
  const out: string[] = ['# Semantic Search: index status', ''];
  if (state !== 'running' || !s) {
    out.push(
      `Sidecar: **${state}**${stateMessage ? ` — ${stateMessage}` : ''}`,
      '',
      'Run *Semantic Search: Restart Sidecar* to start it; *Semantic Search: Show Log* has details.',
    );
    return out.join('\n') + '\n';
  }
  out.push(`Health: **${s.health}**${s.partial ? ' (partial: some chunks have no vector yet; semantic ranking covers only part of the workspace)' : ''}`);
  if (s.message) out.push('', s.message);
  out.push('', s.model ? `Model: \`${s.model.id}\` on ${s.model.device}, ${s.model.dtype}, ${s.model.dim} dimensions` : 'Model: not loaded');
  if (s.health === 'error' && !s.model) out.push('', 'To use another model: *Semantic Search: Select Model Folder…* or the `semsearch.model` setting.');
  if (s.health === 'error' && s.model) out.push('', 'To try again: *Semantic Search: Reindex Workspace*; *Semantic Search: Show Log* has details.');
  for (const f of s.folders) {
    const pct = f.chunks ? ((100 * f.chunksWithVectors) / f.chunks).toFixed(1) : '0.0';
    out.push('', `## ${f.root}`, '');
    out.push(`- files: ${f.files}`);
    out.push(`- chunks: ${f.chunks} (${f.chunksWithVectors} with vectors, ${pct}%)`);
    const skipped = Object.entries(f.skippedByReason).filter(([, v]) => v > 0);
    if (skipped.length) out.push(`- skipped: ${skipped.map(([k, v]) => `${v} ${k}`).join(', ')}`);
    out.push(`- last indexed: ${f.lastIndexed ?? 'never'}`);
    out.push(`- index: \`${f.indexPath}\``);
  }
  if (s.folders.length === 0) out.push('', 'No workspace folder is indexed.');
  return out.join('\n') + '\n';
}

export class StatusDocument implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private content = '';

  /** Set the text and tell open editors. */
  update(text: string): void {
    if (text === this.content) return;
    this.content = text;
    this.changed.fire(STATUS_URI);
  }

  provideTextDocumentContent(): string {
    return this.content;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
