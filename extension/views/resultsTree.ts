/**
 * The "Results" view of the Semantic Search container: the last result list, grouped by file in
 * rank order of each file's best hit. Clicking a hit opens it at its lines.
 */
import * as vscode from 'vscode';
import type { Hit } from '../../server/protocol';
import { hitName, hitRange, hitUri, kindIcon, snippetLine } from './hits';

export const RESULTS_VIEW_ID = 'semsearch.results';

interface FileNode {
  type: 'file';
  uri: vscode.Uri;
  path: string;
  hits: Hit[];
}
interface HitNode {
  type: 'hit';
  hit: Hit;
  rank: number;
}
type Node = FileNode | HitNode;

export class ResultsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private files: FileNode[] = [];
  private ranks = new Map<Hit, number>();
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<Node>;
  /** The hits shown, in rank order (for tests and the "Show in view" round trip). */
  hits: Hit[] = [];
  title = '';

  constructor() {
    this.view = vscode.window.createTreeView(RESULTS_VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
  }

  /** Replace the view's content with `hits` under `title`, and reveal the view unless `quiet`. */
  async show(title: string, hits: Hit[], opts: { quiet?: boolean } = {}): Promise<void> {
    this.title = title;
    this.hits = hits;
    this.ranks = new Map(hits.map((h, i) => [h, i + 1]));
    const byFile = new Map<string, FileNode>();
    for (const hit of hits) {
      const key = `${hit.root}\0${hit.path}`;
      let node = byFile.get(key);
      if (!node) byFile.set(key, (node = { type: 'file', uri: hitUri(hit), path: hit.path, hits: [] }));
      node.hits.push(hit);
    }
    this.files = [...byFile.values()];
    this.view.message = hits.length === 0 ? `No results for ${title}` : undefined;
    this.view.description = hits.length ? `${title} · ${hits.length} in ${this.files.length} files` : title;
    void vscode.commands.executeCommand('setContext', 'semsearch.hasResults', hits.length > 0);
    this.changed.fire(undefined);
    if (!opts.quiet) await vscode.commands.executeCommand(`${RESULTS_VIEW_ID}.focus`);
  }

  clear(): void {
    this.files = [];
    this.hits = [];
    this.title = '';
    this.view.description = undefined;
    this.view.message = undefined;
    void vscode.commands.executeCommand('setContext', 'semsearch.hasResults', false);
    this.changed.fire(undefined);
  }

  getChildren(node?: Node): Node[] {
    if (!node) return this.files;
    if (node.type === 'file') return node.hits.map((hit) => ({ type: 'hit', hit, rank: this.ranks.get(hit) ?? 0 }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.type === 'file') {
      const item = new vscode.TreeItem(node.uri, vscode.TreeItemCollapsibleState.Expanded);
      item.description = node.path.includes('/') ? node.path.slice(0, node.path.lastIndexOf('/')) : '';
      item.tooltip = `${node.path} · ${node.hits.length} result${node.hits.length === 1 ? '' : 's'}`;
      item.contextValue = 'file';
      return item;
    }
    const { hit } = node;
    const item = new vscode.TreeItem(hitName(hit), vscode.TreeItemCollapsibleState.None);
    item.iconPath = new vscode.ThemeIcon(kindIcon(hit.kind));
    const lines = hit.startLine === hit.endLine ? `${hit.startLine}` : `${hit.startLine}–${hit.endLine}`;
    item.description = `${hit.kind} · L${lines} · #${node.rank}`;
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**${hitName(hit)}** (${hit.kind}) — \`${hit.path}:${hit.startLine}\` · score ${hit.score.toFixed(4)}\n\n`);
    tip.appendCodeblock(hit.snippet, hit.language);
    item.tooltip = tip;
    item.accessibilityInformation = { label: `${hitName(hit)}, ${hit.kind}, ${hit.path} line ${hit.startLine}: ${snippetLine(hit.snippet, 80)}` };
    item.contextValue = 'hit';
    const range = hitRange(hit);
    item.command = {
      command: 'vscode.open',
      title: 'Open',
      arguments: [hitUri(hit), { selection: new vscode.Range(range.start, range.start), preview: false } satisfies vscode.TextDocumentShowOptions],
    };
    return item;
  }

  dispose(): void {
    this.view.dispose();
    this.changed.dispose();
  }
}
