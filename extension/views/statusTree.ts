/**
 * The "Index Status" view of the Semantic Search container: the rows of statusNodes.ts as a tree,
 * redrawn whenever the sidecar's state, status or progress changes. "Show Index Status" reveals it.
 */
import * as vscode from 'vscode';
import { Ctx } from '../ctx';
import { StatusNode, statusNodes } from './statusNodes';

export const STATUS_VIEW_ID = 'semsearch.indexStatus';
/** Redraws at most this often while progress reports stream in. */
const REDRAW_MS = 500;

export class StatusTree implements vscode.TreeDataProvider<StatusNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<StatusNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<StatusNode>;
  private readonly subs: vscode.Disposable[];
  private roots: StatusNode[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: Ctx) {
    this.view = vscode.window.createTreeView(STATUS_VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    this.subs = [
      ctx.onDidChangeState(() => this.redraw()),
      ctx.onDidChangeStatus(() => this.redraw()),
      ctx.onProgress(() => this.schedule()),
      this.view.onDidChangeVisibility((e) => {
        if (e.visible) this.redraw();
      }),
    ];
    this.render();
  }

  /** The rows shown now (for tests). */
  get nodes(): StatusNode[] {
    return this.roots;
  }

  /** Show the view and focus it. */
  async reveal(): Promise<void> {
    this.redraw();
    await vscode.commands.executeCommand(`${STATUS_VIEW_ID}.focus`);
  }

  getChildren(node?: StatusNode): StatusNode[] {
    return node ? (node.children ?? []) : this.roots;
  }

  getTreeItem(node: StatusNode): vscode.TreeItem {
    const state = !node.children?.length
      ? vscode.TreeItemCollapsibleState.None
      : node.collapsed
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.Expanded;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    if (node.description !== undefined) item.description = node.description;
    if (node.tooltip !== undefined) item.tooltip = node.tooltip;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    if (node.command) item.command = node.command;
    item.accessibilityInformation = { label: node.description ? `${node.label}: ${node.description}` : node.label };
    return item;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
    this.view.dispose();
    this.changed.dispose();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.redraw(), REDRAW_MS);
  }

  private redraw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.render();
    this.changed.fire(undefined);
  }

  private render(): void {
    const c = this.ctx;
    this.roots = statusNodes(c.state, c.stateMessage, c.status, c.progress);
    const health = c.state === 'running' ? c.status?.health : c.state;
    this.view.description = health && health !== 'ok' ? health : undefined;
  }
}
