/**
 * The status bar item: sidecar state, indexing progress, file/chunk counts, both embedding tiers
 * (the fast tier ready, the deep tier's share, rate and time left), and errors with the command
 * that fixes them. Click: Show Index Status (or the fix). The text itself comes from statusView.ts.
 */
import * as vscode from 'vscode';
import { Ctx } from '../ctx';
import { statusView, TOOLTIP_COMMANDS } from './statusView';

export const STATUS_ITEM_ID = 'semsearch.status';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Left, -10);
  private readonly subs: vscode.Disposable[];

  constructor(private readonly ctx: Ctx) {
    this.item.name = 'Semantic Search';
    this.subs = [ctx.onDidChangeState(() => this.update()), ctx.onDidChangeStatus(() => this.update()), ctx.onProgress(() => this.update())];
    this.update();
    this.item.show();
  }

  /** The text shown now (for tests). */
  get text(): string {
    return this.item.text;
  }

  private update(): void {
    const v = statusView(this.ctx.state, this.ctx.stateMessage, this.ctx.status, this.ctx.progress);
    this.item.text = v.text;
    const tip = new vscode.MarkdownString(v.tooltip, true);
    tip.isTrusted = { enabledCommands: TOOLTIP_COMMANDS };
    this.item.tooltip = tip;
    this.item.command = v.command;
    this.item.backgroundColor = v.severity === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    const plain = v.text.replace(/\$\([^)]*\)\s*/g, '');
    this.item.accessibilityInformation = { label: plain.startsWith('Semantic Search') ? plain : `Semantic Search: ${plain}` };
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}
