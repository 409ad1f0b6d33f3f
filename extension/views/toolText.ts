/**
 * What the language model tools (lmTools.ts) hand to a chat model: input checks, one text part per
 * result (location, symbol, kind, the first lines of code), and a note, or an error, when the index
 * is partial. No vscode import: the unit tests render every case with plain mocha.
 */
import type { FindSimilarResult, Hit, SearchMode, SearchResult, StatusResult } from '../../server/protocol';

export const DEFAULT_TOP = 10;
export const MAX_TOP = 50;
const MODES: readonly SearchMode[] = ['hybrid', 'semantic', 'keyword'];

export interface SearchInput {
  query: string;
  top?: number;
  mode?: SearchMode;
}

export interface FindSimilarInput {
  path: string;
  line: number;
  top?: number;
}

/** A mistake in a tool's input; its message tells the model what to send instead. */
export class ToolInputError extends Error {
  override name = 'ToolInputError';
}

function checkTop(top: unknown): number {
  if (top === undefined) return DEFAULT_TOP;
  if (typeof top !== 'number' || !Number.isInteger(top) || top < 1 || top > MAX_TOP)
    throw new ToolInputError(`top must be an integer from 1 to ${MAX_TOP}, not ${JSON.stringify(top)}`);
  return top;
}

/** Return the search input with defaults, or throw ToolInputError. */
export function checkSearchInput(input: unknown): Required<SearchInput> {
  const i = (input ?? {}) as Record<string, unknown>;
  if (typeof i.query !== 'string' || !i.query.trim()) throw new ToolInputError('query must be a non-empty string');
  if (i.mode !== undefined && !MODES.includes(i.mode as SearchMode))
    throw new ToolInputError(`mode must be one of ${MODES.join(', ')}, not ${JSON.stringify(i.mode)}`);
  return { query: i.query.trim(), top: checkTop(i.top), mode: (i.mode as SearchMode | undefined) ?? 'hybrid' };
}

/** Return the find-similar input with defaults, or throw ToolInputError. */
export function checkFindSimilarInput(input: unknown): Required<FindSimilarInput> {
  const i = (input ?? {}) as Record<string, unknown>;
  if (typeof i.path !== 'string' || !i.path.trim()) throw new ToolInputError('path must be a file path (absolute, or relative to the workspace folder)');
  if (typeof i.line !== 'number' || !Number.isInteger(i.line) || i.line < 1)
    throw new ToolInputError(`line must be a 1-based line number, not ${JSON.stringify(i.line)}`);
  return { path: i.path.trim(), line: i.line, top: checkTop(i.top) };
}

/** Why results may be incomplete, from the sidecar's status; undefined when they are not. */
export function partialNote(partial: boolean, status: StatusResult | undefined): string | undefined {
  if (!partial) return undefined;
  const chunks = status?.folders.reduce((n, f) => n + f.chunks, 0) ?? 0;
  const withVectors = status?.folders.reduce((n, f) => n + f.chunksWithVectors, 0) ?? 0;
  if (status?.health === 'indexing') {
    return (
      `The workspace index is still being built (${status.message}; ${withVectors} of ${chunks} chunks embedded so far): keyword matches ` +
      'cover only the files read so far and semantic matches only the embedded chunks, so relevant code may be missing. Search again in a moment for complete results.'
    );
  }
  const missing = chunks - withVectors;
  return (
    (missing > 0
      ? `${missing} of ${chunks} chunks have no vector yet, so semantic matches miss them`
      : 'The last indexing did not finish, so some files may be missing') + '. The user can run "Semantic Search: Reindex Workspace" to complete the index.'
  );
}

/** Return the error for a search that found nothing while the index is incomplete, else undefined. */
export function emptyPartialError(hits: number, note: string | undefined): string | undefined {
  return hits === 0 && note ? `No results, but the index is incomplete: ${note}` : undefined;
}

/** The part for one hit: `<file>:<start>-<end> <symbol> (<kind>, <language>)` and a fenced snippet. */
export function hitText(hit: Hit, file: string): string {
  const what = [hit.kind, hit.language].filter(Boolean).join(', ');
  const fence = hit.snippet.includes('```') ? '````' : '```';
  return `${file}:${hit.startLine}-${hit.endLine}${hit.symbol ? ` ${hit.symbol}` : ''}${what ? ` (${what})` : ''}\n${fence}${hit.language}\n${hit.snippet}\n${fence}`;
}

/** The first part of a search's answer: what was found, and the note when the index is partial. */
export function searchHeader(input: Required<SearchInput>, r: SearchResult, note: string | undefined): string {
  const n = r.hits.length;
  const head = n
    ? `${n} result${n === 1 ? '' : 's'} for "${input.query}" (${input.mode}), best first:`
    : `No results for "${input.query}" (${input.mode}). Try other words, or mode hybrid.`;
  return note ? `${head}\nNote: ${note}` : head;
}

/** The first part of a find-similar answer. */
export function similarHeader(r: FindSimilarResult, note: string | undefined, sourceFile: string): string {
  const src = r.source;
  const n = r.hits.length;
  const of = src ? `${sourceFile}:${src.startLine}-${src.endLine}${src.symbol ? ` ${src.symbol}` : ''}` : sourceFile;
  const head = n ? `${n} result${n === 1 ? '' : 's'} similar to ${of}, most similar first:` : `Nothing similar to ${of} was found.`;
  return note ? `${head}\nNote: ${note}` : head;
}
