/**
 * Hover over the name of an indexed function or class where it is defined: a "Find similar code"
 * link. The check is one cheap `semsearch/chunkAt` lookup in the index, made only over a word;
 * hoverText.ts decides whether the word is the chunk's name on its definition line. No embedding is
 * done until the link is used.
 */
import * as vscode from 'vscode';
import * as config from '../config';
import { Ctx } from '../ctx';
import { offersSimilar, similarHoverMarkdown } from './hoverText';

export class SimilarCodeHover implements vscode.HoverProvider {
  constructor(private readonly ctx: Ctx) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    if (!config.hoverEnabled() || this.ctx.state !== 'running') return undefined;
    // Only over words: hovering whitespace or punctuation should stay quiet.
    const range = doc.getWordRangeAtPosition(pos);
    if (!range) return undefined;
    let chunk;
    try {
      ({ chunk } = await this.ctx.running().chunkAt({ file: doc.uri.fsPath, line: pos.line + 1 }, token));
    } catch {
      return undefined;
    }
    if (token.isCancellationRequested) return undefined;
    const lineText = (line: number): string | undefined => (line >= 1 && line <= doc.lineCount ? doc.lineAt(line - 1).text : undefined);
    if (!offersSimilar(doc.getText(range), pos.line + 1, chunk, lineText) || !chunk) return undefined;
    const md = new vscode.MarkdownString(similarHoverMarkdown(doc.uri.fsPath, pos.line + 1, chunk), true);
    md.isTrusted = { enabledCommands: ['semsearch.findSimilar'] };
    return new vscode.Hover(md, range);
  }
}
