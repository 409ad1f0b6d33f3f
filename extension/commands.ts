/**
 * One small function per command; each sends at most one request and hands the answer to a view.
 * Commands that need the sidecar say so when it is not running (with a Restart button).
 */
import * as vscode from 'vscode';
import type { FindSimilarParams, FindSimilarResult, SearchMode } from '../server/protocol';
import * as config from './config';
import { Ctx, errorText, isCancellation, NotRunningError } from './ctx';
import { hitName } from './views/hits';
import { SearchPick, SimilarPick, tiersNote } from './views/quickPick';
import { ResultsView } from './views/resultsTree';
import { runSimilarFlow } from './views/similarFlow';
import { StatusTree } from './views/statusTree';
import { progressFraction, progressMessage } from './views/tiers';

export interface Views {
  results: ResultsView;
  statusTree: StatusTree;
  /** The Find Similar picker last opened (for tests). */
  similar?: SimilarPick;
}

type Command = (ctx: Ctx, views: Views, ...args: unknown[]) => unknown;

/** The command table: id → implementation (titles and palette entries are in package.json). */
export const COMMANDS: Record<string, Command> = {
  'semsearch.search': search,
  'semsearch.findSimilar': findSimilar,
  'semsearch.reindex': (ctx, views, arg) => reindex(ctx, views, arg, false),
  'semsearch.rebuildIndex': (ctx, views) => reindex(ctx, views, undefined, true),
  'semsearch.showStatus': showStatus,
  'semsearch.showLog': (ctx) => ctx.log.show(true),
  'semsearch.restart': restart,
  'semsearch.selectModel': selectModel,
  'semsearch.clearResults': (_ctx, views) => views.results.clear(),
};

/** Register every command; errors become one notification each, never an unhandled rejection. */
export function registerCommands(ctx: Ctx, views: Views): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, run]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await run(ctx, views, ...args);
      } catch (e) {
        await reportError(ctx, id, e);
        return undefined;
      }
    }),
  );
}

async function reportError(ctx: Ctx, id: string, e: unknown): Promise<void> {
  if (e instanceof NotRunningError) {
    const pick = await vscode.window.showWarningMessage(`Semantic Search: the sidecar is not running (${e.state}).`, 'Restart', 'Show Log');
    if (pick === 'Restart') await ctx.restart();
    if (pick === 'Show Log') ctx.log.show(true);
    return;
  }
  ctx.log.error(`${id}: ${errorText(e)}`);
  void vscode.window.showErrorMessage(`Semantic Search: ${errorText(e)}`);
}

/** Search Workspace: the live picker. Optional arg `{query, mode}` (used by tests and keybindings). */
function search(ctx: Ctx, views: Views, arg?: unknown): void {
  ctx.running();
  const opts = (arg && typeof arg === 'object' ? arg : {}) as { query?: string; mode?: SearchMode };
  new SearchPick(ctx, views.results, opts).show();
}

/** Return the request for "find similar" from a command argument or the active editor. */
export function similarParams(arg: unknown, editor: vscode.TextEditor | undefined): FindSimilarParams | undefined {
  // From the hover link (or a test): {file, line}.
  if (arg && typeof arg === 'object' && typeof (arg as FindSimilarParams).file === 'string' && typeof (arg as FindSimilarParams).line === 'number') {
    const { file, line } = arg as FindSimilarParams;
    return { file, line };
  }
  // From the editor context menu (arg is the document's Uri) or the palette: the cursor/selection.
  if (!editor) return undefined;
  if (arg instanceof vscode.Uri && arg.toString() !== editor.document.uri.toString()) return undefined;
  const doc = editor.document;
  if (doc.uri.scheme !== 'file') return undefined;
  const sel = editor.selection;
  const params: FindSimilarParams = { file: doc.uri.fsPath, line: sel.start.line + 1 };
  if (!sel.isEmpty) {
    // A selection ending at column 0 of a line does not include that line.
    const endLine = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line : sel.end.line + 1;
    params.endLine = endLine;
    // Unsaved edits: the index has the file as it is on disk, so send the text itself.
    if (doc.isDirty) params.text = doc.getText(sel);
  }
  return params;
}

/**
 * Find Similar Code: from the hover link, the context menu on a selection, or the cursor. One
 * picker, open at once and busy while the request runs; Esc cancels the request. Resolves with the
 * answer once it is shown (undefined when cancelled or not in the index), for tests and callers.
 */
async function findSimilar(ctx: Ctx, views: Views, arg?: unknown): Promise<FindSimilarResult | undefined> {
  const sidecar = ctx.running();
  const params = similarParams(arg, vscode.window.activeTextEditor);
  if (!params) {
    void vscode.window.showInformationMessage('Semantic Search: put the cursor in a file of the workspace to find code similar to it.');
    return undefined;
  }
  const rel = vscode.workspace.asRelativePath(params.file);
  const describe = (result: FindSimilarResult): string => {
    const src = result.source;
    const title = src ? `Similar to ${hitName(src)} (${src.path}:${src.startLine})` : `Similar to the selection in ${rel}:${params.line}`;
    const note = tiersNote(ctx, result);
    return note ? `${title} · ${note}` : title;
  };
  const view = new SimilarPick(views.results, describe);
  views.similar = view;
  const outcome = await runSimilarFlow(params, `Finding code similar to ${rel}:${params.line}…`, {
    view,
    tokens: () => new vscode.CancellationTokenSource(),
    request: (p, token) => sidecar.findSimilar(p, token),
  });
  switch (outcome.kind) {
    case 'cancelled':
      ctx.log.info(`find similar ${rel}:${params.line}: cancelled`);
      return undefined;
    case 'notIndexed':
      void vscode.window.showInformationMessage(`Semantic Search: ${rel}:${params.line}: not in the index (yet).`);
      return undefined;
    case 'shown':
      return outcome.result;
  }
}

/**
 * Reindex Workspace: bring the index in line with the disk (changed files are re-chunked and
 * re-embedded, unchanged ones kept); Rebuild Index: drop it and embed everything again (`full`;
 * also Reindex with the argument `{full: true}`). Both show a cancellable progress notification.
 */
async function reindex(ctx: Ctx, _views: Views, arg: unknown, rebuild: boolean): Promise<void> {
  const sidecar = ctx.running();
  const full = rebuild || (!!arg && typeof arg === 'object' && (arg as { full?: boolean }).full === true);
  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: full ? 'Semantic Search: rebuilding the index' : 'Semantic Search: reindexing',
      cancellable: true,
    },
    async (progress, token) => {
      let reported = 0;
      const sub = ctx.onProgress((p) => {
        const f = progressFraction(p);
        progress.report({ message: progressMessage(p), increment: f > reported ? (f - reported) * 100 : undefined });
        reported = Math.max(reported, f);
      });
      try {
        const r = await sidecar.reindex({ full }, token);
        const what = `${r.files} files checked, ${r.chunks} chunks indexed${r.skipped ? `, ${r.skipped} files skipped` : ''} in ${r.seconds.toFixed(1)} s`;
        ctx.log.info(`reindex ${r.cancelled ? 'cancelled' : 'done'}: ${what}`);
        void vscode.window.showInformationMessage(
          r.cancelled ? `Semantic Search: reindex cancelled (${what}).` : `Semantic Search: ${full ? 'rebuilt the index' : 'reindexed'}: ${what}.`,
        );
      } catch (e) {
        if (!token.isCancellationRequested && !isCancellation(e)) throw e;
        ctx.log.info('reindex cancelled');
        void vscode.window.showInformationMessage('Semantic Search: reindex cancelled.');
      } finally {
        sub.dispose();
      }
    },
  );
}

/** Show Index Status: refresh the status, then reveal the Index Status view. */
async function showStatus(ctx: Ctx, views: Views): Promise<void> {
  if (ctx.state === 'running') {
    try {
      await ctx.refreshStatus();
    } catch (e) {
      ctx.log.warn(`status: ${errorText(e)}`);
    }
  }
  await views.statusTree.reveal();
}

async function restart(ctx: Ctx): Promise<void> {
  ctx.log.info('restart requested');
  await ctx.restart();
  if (ctx.state !== 'running')
    void vscode.window
      .showErrorMessage(`Semantic Search: the sidecar did not start: ${ctx.stateMessage || 'see the log'}`, 'Show Log')
      .then((p) => p && ctx.log.show(true));
}

/** Select Model Folder…: writes the machine-scoped `semsearch.model` user setting, then restarts. */
async function selectModel(ctx: Ctx): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFiles: false,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: 'Use this model',
    title: 'Select a model folder (config.json, model.safetensors, tokenizer.json)',
  });
  if (!picked?.[0]) return;
  await config.setModel(picked[0].fsPath);
  await ctx.restart();
}
