/**
 * Language model tools for chat agents (declared in package.json `languageModelTools`):
 * `semsearch_search` (query, top, mode; filters inside the query) and `semsearch_findSimilar`
 * (path, line, top). Each sends one sidecar request, as a command does, and answers with text parts
 * a model can use (views/toolText.ts): one per result, plus a first part that says what was found
 * and whether the index is still partial.
 *
 * Neither tool changes anything, so neither asks for confirmation: prepareInvocation returns only
 * the progress message chat shows while the tool runs. Errors (bad input, a file not indexed yet, a
 * search that found nothing while the index is still being built, the sidecar not running) are
 * thrown with a message that says what happened and what to do; chat passes it to the model.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { StatusResult } from '../server/protocol';
import { Ctx, NotRunningError } from './ctx';
import type { Sidecar } from './sidecar';
import { hitUri } from './views/hits';
import {
  checkFindSimilarInput,
  checkSearchInput,
  emptyPartialError,
  FindSimilarInput,
  hitText,
  partialNote,
  SearchInput,
  searchHeader,
  similarHeader,
} from './views/toolText';

export const SEARCH_TOOL = 'semsearch_search';
export const FIND_SIMILAR_TOOL = 'semsearch_findSimilar';

/** Longest a tool call waits for a sidecar that is starting (or restarting after a crash). */
const START_WAIT_MS = 60_000;

/** Register both tools; their names and input schemas are in package.json. */
export function registerLanguageModelTools(ctx: Ctx): vscode.Disposable[] {
  return [
    vscode.lm.registerTool<SearchInput>(SEARCH_TOOL, new SearchTool(ctx)),
    vscode.lm.registerTool<FindSimilarInput>(FIND_SIMILAR_TOOL, new FindSimilarTool(ctx)),
  ];
}

class SearchTool implements vscode.LanguageModelTool<SearchInput> {
  constructor(private readonly ctx: Ctx) {}

  prepareInvocation(options: vscode.LanguageModelToolInvocationPrepareOptions<SearchInput>): vscode.PreparedToolInvocation {
    const q = typeof options.input?.query === 'string' ? options.input.query : '';
    return { invocationMessage: `Searching the workspace for "${q}"` };
  }

  async invoke(options: vscode.LanguageModelToolInvocationOptions<SearchInput>, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const input = checkSearchInput(options.input);
    const sidecar = await runningSidecar(this.ctx, token);
    const r = await sidecar.search({ query: input.query, top: input.top, mode: input.mode }, token);
    const note = partialNote(r.partial, r.partial ? await currentStatus(this.ctx, token) : undefined);
    const empty = emptyPartialError(r.hits.length, note);
    if (empty) throw new Error(empty);
    const parts = [searchHeader(input, r, note), ...r.hits.map((h) => hitText(h, hitUri(h).fsPath))];
    return new vscode.LanguageModelToolResult(await fitBudget(parts, options.tokenizationOptions, token));
  }
}

class FindSimilarTool implements vscode.LanguageModelTool<FindSimilarInput> {
  constructor(private readonly ctx: Ctx) {}

  prepareInvocation(options: vscode.LanguageModelToolInvocationPrepareOptions<FindSimilarInput>): vscode.PreparedToolInvocation {
    const { path: p, line } = options.input ?? {};
    return { invocationMessage: `Finding code similar to ${typeof p === 'string' ? p : 'a file'}${typeof line === 'number' ? `:${line}` : ''}` };
  }

  async invoke(options: vscode.LanguageModelToolInvocationOptions<FindSimilarInput>, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const input = checkFindSimilarInput(options.input);
    const file = await resolveFile(input.path);
    const sidecar = await runningSidecar(this.ctx, token);
    const r = await sidecar.findSimilar({ file: file.fsPath, line: input.line, top: input.top }, token);
    const status = r.partial || !r.source ? await currentStatus(this.ctx, token) : undefined;
    const note = partialNote(r.partial, status);
    if (!r.source) {
      if (status?.health === 'indexing') throw new Error(`${file.fsPath}:${input.line} is not in the index yet. ${note ?? 'The workspace is being indexed.'}`);
      throw new Error(
        `${file.fsPath}:${input.line}: no indexed code covers this line (the file is ignored, excluded or skipped, or the line is blank or past its end)`,
      );
    }
    const parts = [similarHeader(r, note, file.fsPath), ...r.hits.map((h) => hitText(h, hitUri(h).fsPath))];
    return new vscode.LanguageModelToolResult(await fitBudget(parts, options.tokenizationOptions, token));
  }
}

/** The running sidecar; waits while it starts; otherwise throws a message that says why not. */
async function runningSidecar(ctx: Ctx, token: vscode.CancellationToken): Promise<Sidecar> {
  const waiting = () => ctx.state === 'starting' || ctx.state === 'crashed';
  if (waiting()) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.dispose();
        cancel.dispose();
        resolve();
      };
      const timer = setTimeout(done, START_WAIT_MS);
      const sub = ctx.onDidChangeState(() => !waiting() && done());
      const cancel = token.onCancellationRequested(done);
    });
  }
  try {
    return ctx.running();
  } catch (e) {
    if (!(e instanceof NotRunningError)) throw e;
    if (!vscode.workspace.workspaceFolders?.length) throw new Error('Semantic Search has nothing to search: no workspace folder is open.', { cause: e });
    throw new Error(
      `Semantic Search is not running (${e.state}${ctx.stateMessage ? `: ${ctx.stateMessage}` : ''}). The user can run "Semantic Search: Restart Sidecar".`,
      {
        cause: e,
      },
    );
  }
}

/** The sidecar's status now; throws when it reports an error (a model that failed to load). */
async function currentStatus(ctx: Ctx, token: vscode.CancellationToken): Promise<StatusResult | undefined> {
  const s = await ctx.refreshStatus(token).catch(() => ctx.status);
  if (s?.health === 'error') throw new Error(`Semantic Search cannot search: ${s.message}`);
  return s;
}

/**
 * The file a tool input names: an absolute path, a path relative to a workspace folder, or (in a
 * multi-root workspace) `<folder name>/<path>`.
 */
async function resolveFile(p: string): Promise<vscode.Uri> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const segments = p.split(/[\\/]+/).filter(Boolean);
  const candidates: vscode.Uri[] = [];
  if (path.isAbsolute(p)) candidates.push(vscode.Uri.file(p));
  else {
    for (const f of folders) candidates.push(vscode.Uri.joinPath(f.uri, ...segments));
    for (const f of folders) if (segments.length > 1 && f.name === segments[0]) candidates.push(vscode.Uri.joinPath(f.uri, ...segments.slice(1)));
  }
  for (const uri of candidates) {
    try {
      if ((await vscode.workspace.fs.stat(uri)).type & vscode.FileType.File) return uri;
    } catch {
      /* not there: try the next folder */
    }
  }
  throw new Error(
    `${p}: no such file in the workspace${path.isAbsolute(p) ? '' : ` (paths are relative to ${folders.map((f) => f.uri.fsPath).join(' or ') || 'a workspace folder'})`}`,
  );
}

/** Text parts in order, leaving out trailing results that would exceed the caller's token budget. */
async function fitBudget(
  parts: string[],
  budget: vscode.LanguageModelToolTokenizationOptions | undefined,
  token: vscode.CancellationToken,
): Promise<vscode.LanguageModelTextPart[]> {
  if (!budget) return parts.map((p) => new vscode.LanguageModelTextPart(p));
  const out: vscode.LanguageModelTextPart[] = [];
  let used = 0;
  for (let i = 0; i < parts.length; i++) {
    const n = await budget.countTokens(parts[i], token);
    if (i > 0 && used + n > budget.tokenBudget) {
      out.push(new vscode.LanguageModelTextPart(`(${parts.length - i} more result${parts.length - i === 1 ? '' : 's'} left out to fit the token budget)`));
      break;
    }
    used += n;
    out.push(new vscode.LanguageModelTextPart(parts[i]));
  }
  return out;
}
