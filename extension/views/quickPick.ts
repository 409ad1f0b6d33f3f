/**
 * QuickPicks over hits: the live search picker (debounced requests as you type, each cancelling the
 * one before) and the Find Similar picker (open and busy while its request runs; closing it cancels
 * the request, see similarFlow.ts). Moving through items previews the location; Enter opens it; a
 * title button sends the results to the results view instead; hiding without a choice puts the
 * previous editor back. A result set from a partial index says which tiers answered it.
 */
import * as vscode from 'vscode';
import type { FindSimilarResult, Hit, SearchMode, SearchResult } from '../../server/protocol';
import * as config from '../config';
import { Ctx, errorText, isCancellation } from '../ctx';
import { clearHighlight, hitName, kindIcon, showHit, snippetLine } from './hits';
import { ResultsView } from './resultsTree';
import type { SimilarView } from './similarFlow';
import { resultTiersNote, tierSummary } from './tiers';

/** Pause between the last keystroke and the request. */
export const DEBOUNCE_MS = 150;

const MODES: readonly SearchMode[] = ['hybrid', 'semantic', 'keyword'];
const MODE_ICONS: Record<SearchMode, string> = { hybrid: 'combine', semantic: 'sparkle', keyword: 'whole-word' };
const PLACEHOLDER = 'Describe the code you want, e.g. "retry with exponential backoff". Filters: lang:py  path:src/**  -path:**/test/**';

export interface HitItem extends vscode.QuickPickItem {
  hit: Hit;
}

const similarButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('references'), tooltip: 'Find Similar Code' };

function showInViewButton(): vscode.QuickInputButton {
  return { iconPath: new vscode.ThemeIcon('list-tree'), tooltip: 'Show Results in the Results View' };
}

/** Return the note on the tiers behind a result set ("fast tier; deep tier 34 %"), if it is partial. */
export function tiersNote(ctx: Ctx, result: { partial: boolean; tiers?: SearchResult['tiers'] }, mode?: SearchMode): string | undefined {
  const t = ctx.status ? tierSummary(ctx.status, ctx.progress) : undefined;
  return resultTiersNote(result.tiers, result.partial, t, mode === 'keyword');
}

/** Return the QuickPick row for a hit: symbol + kind, `path:line`, snippet. */
export function hitItem(hit: Hit): HitItem {
  return {
    // alwaysShow: the sidecar ranks; the picker must not filter its rows by the typed text.
    alwaysShow: true,
    label: `$(${kindIcon(hit.kind)}) ${hitName(hit)}`,
    description: `${hit.kind} · ${hit.path}:${hit.startLine}`,
    detail: snippetLine(hit.snippet),
    hit,
    buttons: [similarButton],
  };
}

/**
 * Remembers the editor that was active and the tabs that were open before a picker previewed
 * anything; closing the picker without a choice closes the preview tabs it opened and puts the
 * previous editor back.
 */
class PreviewSession {
  private readonly before = vscode.window.activeTextEditor;
  private readonly openBefore = new Set(openTabs().map((t) => tabUri(t)));
  private previewed = false;
  accepted = false;

  async preview(hit: Hit | undefined): Promise<void> {
    if (!hit) return;
    this.previewed = true;
    try {
      await showHit(hit, 'preview');
    } catch {
      /* file gone since indexing: nothing to show */
    }
  }

  async open(hit: Hit): Promise<void> {
    this.accepted = true;
    await showHit(hit, 'open');
  }

  async end(): Promise<void> {
    clearHighlight();
    if (this.accepted || !this.previewed) return;
    try {
      const opened = openTabs().filter((t) => t.isPreview && !t.isDirty && !this.openBefore.has(tabUri(t)));
      if (opened.length) await vscode.window.tabGroups.close(opened, true);
      const b = this.before;
      if (b && !b.document.isClosed)
        await vscode.window.showTextDocument(b.document, { viewColumn: b.viewColumn, selection: b.selection, preserveFocus: false });
    } catch {
      /* the editor went away meanwhile */
    }
  }
}

function openTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((g) => g.tabs);
}

function tabUri(t: vscode.Tab): string {
  return t.input instanceof vscode.TabInputText ? t.input.uri.toString() : `${t.group.viewColumn}:${t.label}`;
}

export interface SearchPickOptions {
  query?: string;
  mode?: SearchMode;
}

/** The live search picker. */
export class SearchPick {
  private readonly qp = vscode.window.createQuickPick<HitItem>();
  private readonly session = new PreviewSession();
  private mode: SearchMode;
  private timer: NodeJS.Timeout | undefined;
  private inflight: vscode.CancellationTokenSource | undefined;
  private last: SearchResult | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly showInView = showInViewButton();

  constructor(
    private readonly ctx: Ctx,
    private readonly results: ResultsView,
    opts: SearchPickOptions = {},
  ) {
    this.mode = opts.mode ?? config.defaultMode();
    const qp = this.qp;
    qp.placeholder = PLACEHOLDER;
    qp.matchOnDescription = false;
    qp.matchOnDetail = false;
    qp.keepScrollPosition = false;
    this.updateChrome();
    this.disposables.push(
      qp.onDidChangeValue(() => this.schedule()),
      qp.onDidChangeActive((items) => void this.session.preview(items[0]?.hit)),
      qp.onDidAccept(() => this.accept()),
      qp.onDidTriggerButton((b) => this.button(b)),
      qp.onDidTriggerItemButton((e) => {
        qp.hide();
        void vscode.commands.executeCommand('semsearch.findSimilar', { file: hitFile(e.item.hit), line: e.item.hit.startLine });
      }),
      qp.onDidHide(() => this.dispose()),
    );
    if (opts.query) qp.value = opts.query;
  }

  show(): void {
    this.qp.show();
    if (this.qp.value) this.schedule(0);
  }

  private updateChrome(): void {
    const next = MODES[(MODES.indexOf(this.mode) + 1) % MODES.length];
    const modeButton: vscode.QuickInputButton = {
      iconPath: new vscode.ThemeIcon(MODE_ICONS[this.mode]),
      tooltip: `Mode: ${this.mode} (click for ${next})`,
    };
    this.qp.buttons = [modeButton, this.showInView];
    const r = this.last;
    const parts = [`Semantic Search (${this.mode})`];
    if (r) parts.push(`${r.hits.length} result${r.hits.length === 1 ? '' : 's'} in ${Math.round(r.timings.totalMs)} ms`);
    const note = r && tiersNote(this.ctx, r, this.mode);
    if (note) parts.push(note);
    this.qp.title = parts.join(' · ');
  }

  private schedule(delay = DEBOUNCE_MS): void {
    if (this.timer) clearTimeout(this.timer);
    this.inflight?.cancel();
    if (!this.qp.value.trim()) {
      this.qp.items = [];
      this.qp.busy = false;
      this.last = undefined;
      this.updateChrome();
      return;
    }
    this.qp.busy = true;
    this.timer = setTimeout(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    const cts = new vscode.CancellationTokenSource();
    this.inflight = cts;
    const query = this.qp.value;
    try {
      const result = await this.ctx.running().search({ query, mode: this.mode, top: config.resultCount() }, cts.token);
      if (cts.token.isCancellationRequested) return;
      this.last = result;
      this.qp.items = result.hits.map(hitItem);
      this.updateChrome();
    } catch (e) {
      if (cts.token.isCancellationRequested || isCancellation(e)) return;
      this.last = undefined;
      this.qp.items = [];
      this.qp.title = `Semantic Search: ${errorText(e)}`;
      this.ctx.log.warn(`search "${query}": ${errorText(e)}`);
    } finally {
      if (this.inflight === cts) {
        this.inflight = undefined;
        this.qp.busy = false;
      }
      cts.dispose();
    }
  }

  private accept(): void {
    const item = this.qp.selectedItems[0] ?? this.qp.activeItems[0];
    if (!item) return;
    void this.session.open(item.hit).then(undefined, (e) => void vscode.window.showErrorMessage(`Semantic Search: ${errorText(e)}`));
    this.qp.hide();
  }

  private button(b: vscode.QuickInputButton): void {
    if (b === this.showInView) {
      const hits = this.last?.hits ?? [];
      const note = this.last && tiersNote(this.ctx, this.last, this.mode);
      const title = `"${this.qp.value}" (${this.mode})${note ? ` · ${note}` : ''}`;
      this.session.accepted = true;
      this.qp.hide();
      void this.results.show(title, hits);
      return;
    }
    this.mode = MODES[(MODES.indexOf(this.mode) + 1) % MODES.length];
    this.updateChrome();
    this.schedule(0);
  }

  private dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.inflight?.cancel();
    void this.session.end();
    for (const d of this.disposables) d.dispose();
    this.qp.dispose();
  }
}

/**
 * The Find Similar picker: opened busy while the request runs, then filled with the answer (a
 * filter over the names, preview while moving, Enter opens, a title button sends the results to
 * the results view). It stays open when focus moves (it is often opened from a hover link).
 */
export class SimilarPick implements SimilarView {
  private readonly qp = vscode.window.createQuickPick<HitItem>();
  private readonly session = new PreviewSession();
  private readonly showInView = showInViewButton();
  private readonly subs: vscode.Disposable[];
  private title = '';
  private hits: Hit[] = [];
  private disposed = false;

  /** `describe` titles the answer: "Similar to haversineDistance (src/geo.ts:14) · partial index". */
  constructor(
    private readonly results: ResultsView,
    private readonly describe: (result: FindSimilarResult) => string,
  ) {
    const qp = this.qp;
    qp.matchOnDescription = true;
    qp.ignoreFocusOut = true;
    this.subs = [
      qp.onDidChangeActive((items) => void this.session.preview(items[0]?.hit)),
      qp.onDidAccept(() => {
        const item = qp.selectedItems[0] ?? qp.activeItems[0];
        if (!item) return;
        void this.session.open(item.hit).then(undefined, (e) => void vscode.window.showErrorMessage(`Semantic Search: ${errorText(e)}`));
        qp.hide();
      }),
      qp.onDidTriggerButton(() => {
        this.session.accepted = true;
        qp.hide();
        void this.results.show(this.title, this.hits);
      }),
      qp.onDidHide(() => this.dispose()),
    ];
  }

  /** The picker's title and rows now (for tests). */
  get shown(): { title: string; busy: boolean; labels: string[] } {
    return { title: this.qp.title ?? '', busy: this.qp.busy, labels: this.qp.items.map((i) => i.label) };
  }

  open(title: string): void {
    this.qp.title = title;
    this.qp.placeholder = 'Finding similar code… (Esc cancels)';
    this.qp.busy = true;
    this.qp.show();
  }

  fill(result: FindSimilarResult): void {
    if (this.disposed) return;
    this.title = this.describe(result);
    this.hits = result.hits;
    this.qp.title = this.title;
    this.qp.busy = false;
    this.qp.placeholder = result.hits.length ? 'Filter the results by name' : 'No similar code found';
    this.qp.items = result.hits.map((h) => ({ ...hitItem(h), alwaysShow: false, buttons: [] }));
    this.qp.buttons = [this.showInView];
  }

  close(): void {
    this.qp.hide();
  }

  onDidHide(listener: () => void): vscode.Disposable {
    return this.qp.onDidHide(listener);
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.session.end();
    for (const s of this.subs) s.dispose();
    // After the flow's own hide listener has run (listeners fire in order; ours was first).
    setTimeout(() => this.qp.dispose(), 0);
  }
}

/** Return the absolute path of a hit's file. */
export function hitFile(hit: Hit): string {
  return vscode.Uri.joinPath(vscode.Uri.file(hit.root), ...hit.path.split('/')).fsPath;
}
