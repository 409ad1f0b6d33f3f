/**
 * Extension entry point: build the Ctx, register commands and views, start the sidecar. Activation
 * does no indexing and loads no model: all of that happens in the sidecar process, started without
 * waiting for it. The time this module took to load and activate is logged to the output channel.
 */
import * as vscode from 'vscode';
import { COMMANDS, registerCommands, Views } from './commands';
import * as config from './config';
import { Ctx } from './ctx';
import { registerLanguageModelTools } from './lmTools';
import { SimilarCodeHover } from './views/hover';
import { ResultsView } from './views/resultsTree';
import { StatusBar } from './views/statusBar';
import { StatusTree } from './views/statusTree';

/** Set by the bundle's banner (scripts/bundle.mjs) to `performance.now()` before any module code runs. */
declare const __semsearchLoadStart: number | undefined;
const loadStart = typeof __semsearchLoadStart === 'number' ? __semsearchLoadStart : performance.now();
const loadEnd = performance.now();

/** What activate() returns; the in-host tests read it. */
export interface SemsearchApi {
  ctx: Ctx;
  results: ResultsView;
  statusBar: StatusBar;
  statusTree: StatusTree;
  /** The views the commands fill (the Find Similar picker last opened is `views.similar`). */
  views: Views;
  /** Milliseconds spent loading this bundle and running activate(). */
  activation: { loadMs: number; activateMs: number; totalMs: number };
  commands: string[];
}

let ctx: Ctx | undefined;

export function activate(context: vscode.ExtensionContext): SemsearchApi {
  const t0 = performance.now();
  ctx = new Ctx(context);
  const c = ctx;
  const results = new ResultsView();
  const statusTree = new StatusTree(c);
  const statusBar = new StatusBar(c);
  const views: Views = { results, statusTree };
  context.subscriptions.push(
    c,
    results,
    statusTree,
    statusBar,
    ...registerCommands(c, views),
    ...registerLanguageModelTools(c),
    vscode.languages.registerHoverProvider({ scheme: 'file' }, new SimilarCodeHover(c)),
    vscode.workspace.onDidChangeConfiguration((e) => void onConfigurationChanged(c, e)),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      if (c.state === 'stopped' && hasFolders()) c.queueStart();
    }),
  );

  // Nothing to index without a folder: the sidecar starts when one is added. The start is queued
  // rather than run here: it loads the client library (out/sidecar.js), which would double the
  // time activation holds the extension host.
  if (hasFolders()) c.queueStart();
  else c.log.info('no workspace folder open: the sidecar starts when one is added');

  const t1 = performance.now();
  const activation = { loadMs: round(loadEnd - loadStart), activateMs: round(t1 - t0), totalMs: round(loadEnd - loadStart + (t1 - t0)) };
  c.log.info(`activated in ${activation.totalMs} ms (bundle load ${activation.loadMs} ms, activate() ${activation.activateMs} ms)`);
  return { ctx: c, results, statusBar, statusTree, views, activation, commands: Object.keys(COMMANDS) };
}

export async function deactivate(): Promise<void> {
  await ctx?.stop();
  ctx = undefined;
}

function hasFolders(): boolean {
  return (vscode.workspace.workspaceFolders?.length ?? 0) > 0;
}

async function onConfigurationChanged(c: Ctx, e: vscode.ConfigurationChangeEvent): Promise<void> {
  const key = config.restartKeyChanged(e);
  if (!key || config.selfUpdating() || c.state === 'stopped') return;
  const then =
    key === 'semsearch.model'
      ? ' The workspace is then embedded with the new model (downloaded first if needed); searches use the current index until that is done.'
      : '';
  const pick = await vscode.window.showInformationMessage(`Semantic Search: changing ${key} takes a sidecar restart.${then}`, 'Restart Now');
  if (pick === 'Restart Now') await c.restart();
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
