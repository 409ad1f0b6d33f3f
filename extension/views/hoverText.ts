/**
 * When the hover offers "Find similar code", and its text: only over the name of an indexed
 * definition, on the line that defines it (not over a call of it in its own body, nor its doc
 * comment), with the symbol escaped in the Markdown. No vscode import: the unit tests check the
 * gate and the text with plain mocha.
 */
import { escapeMarkdown } from './markdown';

/** The chunk `semsearch/chunkAt` returns for the hovered line (lines 1-based, inclusive). */
export interface HoverChunk {
  startLine: number;
  endLine: number;
  symbol: string | null;
  kind: string;
}

/** Return the name a symbol is written with in code: the last part of `Outer.inner`, `Type::fn`, `Mod#m`. */
export function symbolName(symbol: string): string {
  const parts = symbol.split(/::|[.#\\/]|\s+/).filter((p) => p);
  return parts[parts.length - 1] ?? symbol;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True for a line that is only a comment (doc comments above a definition often name it). */
function commentLine(text: string): boolean {
  return /^\s*(\/\/|\/\*|\*|#(\s|!|$)|--|;|%|'|"""|''')/.test(text);
}

/**
 * Return the 1-based line on which `chunk` names its symbol: the first line of the chunk, past
 * decorators and doc comments, where the name stands as a whole word. Undefined when the chunk has
 * no symbol or the name is not found (the editor's text differs from the index).
 */
export function definitionLine(chunk: HoverChunk, lineText: (line: number) => string | undefined): number | undefined {
  if (!chunk.symbol) return undefined;
  const name = symbolName(chunk.symbol);
  const word = new RegExp(`(^|[^\\w$])${escapeRegExp(name)}($|[^\\w$])`);
  for (let line = chunk.startLine; line <= chunk.endLine; line++) {
    const text = lineText(line);
    if (text === undefined) return undefined;
    if (!commentLine(text) && word.test(text)) return line;
  }
  return undefined;
}

/**
 * True when the hover over `word` on 1-based `line` is over the name of the chunk's definition:
 * the word is the symbol's name and the line is the one that defines it.
 */
export function offersSimilar(word: string, line: number, chunk: HoverChunk | null, lineText: (line: number) => string | undefined): boolean {
  if (!chunk?.symbol || !word) return false;
  if (word !== symbolName(chunk.symbol) && word !== chunk.symbol) return false;
  return definitionLine(chunk, lineText) === line;
}

/** Return the hover's Markdown: a command link that runs `semsearch.findSimilar` on {file, line}. */
export function similarHoverMarkdown(file: string, line: number, chunk: HoverChunk): string {
  const args = encodeURIComponent(JSON.stringify([{ file, line }]));
  const symbol = chunk.symbol ?? '';
  // The link title is a quoted string: no quotes or backslashes inside.
  const title = `Find code similar to ${symbol.replace(/["\\]/g, '')}`;
  const lines = chunk.startLine === chunk.endLine ? `line ${chunk.startLine}` : `lines ${chunk.startLine}–${chunk.endLine}`;
  return `$(search) [Find similar code](command:semsearch.findSimilar?${args} "${title}") &nbsp;·&nbsp; ${escapeMarkdown(chunk.kind)} **${escapeMarkdown(symbol)}**, ${lines}`;
}
