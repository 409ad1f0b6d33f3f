/**
 * Hover over a line inside an indexed function or class: a "Find similar code" link. The check is
 * one cheap `semsearch/chunkAt` lookup in the index; no embedding is done until the link is used.
 */
import * as vscode from 'vscode';
import * as config from '../config';
import { Ctx } from '../ctx';

export class SimilarCodeHover implements vscode.HoverProvider {
  constructor(private readonly ctx: Ctx) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    if (!config.hoverEnabled() || this.ctx.state !== 'running') return undefined;
    // Only over words: hovering whitespace or punctuation should stay quiet.
    const word = doc.getWordRangeAtPosition(pos);
    if (!word) return undefined;
    let chunk;
    try {
      ({ chunk } = await this.ctx.running().chunkAt({ file: doc.uri.fsPath, line: pos.line + 1 }, token));
    } catch {
      return undefined;
    }
    if (!chunk || !chunk.symbol || token.isCancellationRequested) return undefined;
    return new vscode.Hover(similarCodeMarkdown(doc.uri.fsPath, pos.line + 1, chunk), word);
  }
}

/** Return the hover text: a trusted command link that runs only `semsearch.findSimilar`. */
export function similarCodeMarkdown(
  file: string,
  line: number,
  chunk: { symbol: string | null; kind: string; startLine: number; endLine: number },
): vscode.MarkdownString {
  const args = encodeURIComponent(JSON.stringify([{ file, line }]));
  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = { enabledCommands: ['semsearch.findSimilar'] };
  const name = (chunk.symbol ?? '').replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
  md.appendMarkdown(`$(search) [Find similar code](command:semsearch.findSimilar?${args} "Find code similar to ${name.replace(/"/g, '')}")`);
  md.appendMarkdown(` &nbsp;·&nbsp; ${chunk.kind} \`${chunk.symbol}\`, lines ${chunk.startLine}–${chunk.endLine}`);
  return md;
}
