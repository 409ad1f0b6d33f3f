/** What the MCP tools say: short texts for the model, and the structured results beside them. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { RefreshSummary } from '../../index/refresh';
import type { Hit, IndexProgress } from '../../protocol';
import type { HitJson } from './schemas';

export function progressText(p: IndexProgress): string {
  const total = p.chunksEmbedded + p.chunksPending;
  switch (p.phase) {
    case 'download':
      return `downloading the model: ${p.bytesDone ?? 0} of ${p.bytesTotal ?? 0} bytes`;
    case 'walk':
      return `listing files, ${p.filesSeen} so far`;
    case 'chunk':
      return `reading files: ${p.filesIndexed + p.filesSkipped} of ${p.filesSeen}, ${p.chunks} chunks`;
    case 'embed':
      return `embedding: ${p.chunksEmbedded} of ${total} chunks, ${p.filesIndexed} files read`;
    case 'done':
      return `done: ${p.filesIndexed} files, ${p.chunks} chunks`;
    case 'error':
      return p.message ?? 'failed';
  }
}

export function summaryText(s: RefreshSummary): string {
  return (
    `${s.filesSeen} files checked (${s.filesIndexed} indexed, ${s.filesUnchanged} unchanged, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ` +
    `${s.filesSkipped} skipped), ${s.chunks} chunks written, ${s.chunksEmbedded} embedded; ` +
    (s.complete ? 'the index is complete' : `${s.chunksPending} chunks still without vectors`)
  );
}

export function hitJson(h: Hit): HitJson {
  return { path: h.path, startLine: h.startLine, endLine: h.endLine, symbol: h.symbol, kind: h.kind, language: h.language, score: h.score, snippet: h.snippet };
}

/** `1. src/geo.ts:12-30  haversineDistance (function, typescript)` and the snippet, indented. */
export function hitsText(hits: readonly HitJson[]): string {
  return hits
    .map((h, i) => {
      const what = [h.kind, h.language].filter(Boolean).join(', ');
      const head = `${i + 1}. ${h.path}:${h.startLine}-${h.endLine}${h.symbol ? `  ${h.symbol}` : ''}${what ? ` (${what})` : ''}`;
      const code = h.snippet
        .split('\n')
        .map((l) => `   ${l}`)
        .join('\n');
      return `${head}\n${code}`;
    })
    .join('\n\n');
}

export function result<T extends Record<string, unknown>>(text: string, structured: T): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}
