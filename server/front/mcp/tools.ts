/**
 * The MCP server and its four tools (search, find_similar, index_status, reindex), each registered
 * by a function of its own over the served folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { coverageShape, DEFAULT_TOP, hitSchema, MAX_TOP, stateSchema, statusShape } from './schemas';
import type { ServedFolder } from './servedFolder';
import { hitJson, hitsText, progressText, result, summaryText } from './text';

/** The server for `folder`, with its tools registered. */
export function buildServer(folder: ServedFolder, version: string): McpServer {
  const server = new McpServer(
    { name: 'semsearch', title: 'Semantic code search', version },
    {
      instructions:
        `Semantic code search over ${folder.root}, computed locally. Use search to find code by what it does (natural language or ` +
        'identifiers) before reading files or grepping; paths in results are relative to that folder. Use find_similar with a path and ' +
        'line from a result (or any file there) to find related code. While index_status says "indexing", results may be incomplete.',
    },
  );
  registerSearch(server, folder);
  registerFindSimilar(server, folder);
  registerIndexStatus(server, folder);
  registerReindex(server, folder);
  return server;
}

function registerSearch(server: McpServer, folder: ServedFolder): void {
  server.registerTool(
    'search',
    {
      title: 'Search code by meaning',
      description:
        'Find code in the indexed folder by meaning: describe what the code does ("parse a date from a header") or name identifiers. ' +
        'Returns ranked locations (path:startLine-endLine, symbol, kind, the first lines of code). Filters go inside the query: ' +
        'lang:go (or lang:python,ts), path:src/** (only under), -path:**/test/** (not under).',
      inputSchema: {
        query: z.string().trim().min(1).describe('What to look for, optionally with filters: lang:<language>, path:<glob>, -path:<glob>'),
        top: z.number().int().min(1).max(MAX_TOP).default(DEFAULT_TOP).describe(`Most results (1-${MAX_TOP})`),
        mode: z
          .enum(['hybrid', 'semantic', 'keyword'])
          .default('hybrid')
          .describe('hybrid: keyword and embedding rankings fused (best in general); semantic: embeddings only; keyword: BM25 only (exact identifiers)'),
      },
      outputSchema: { query: z.string(), mode: z.enum(['hybrid', 'semantic', 'keyword']), ...coverageShape, results: z.array(hitSchema) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ query, top, mode }, extra) => {
      const { engine } = await folder.engine();
      await folder.freshen();
      const r = await engine.search(query, { mode, top, signal: extra.signal });
      const coverage = await folder.coverage();
      const results = r.hits.map(hitJson);
      const head = results.length
        ? `${results.length} result${results.length === 1 ? '' : 's'} for "${query}" (${mode})`
        : `No results for "${query}" (${mode}).${mode !== 'hybrid' ? ' Try mode hybrid.' : ' Try other words, or fewer filters.'}`;
      const text = [head, coverage.note && `Note: ${coverage.note}`, hitsText(results)].filter(Boolean).join('\n\n');
      return result(text, { query, mode, ...coverage, results });
    },
  );
}

function registerFindSimilar(server: McpServer, folder: ServedFolder): void {
  server.registerTool(
    'find_similar',
    {
      title: 'Find similar code',
      description:
        'Find code similar to the chunk (function, class, block) that covers a line of a file: other implementations of the same idea, ' +
        'duplicates, related helpers. The source chunk itself is left out of the results.',
      inputSchema: {
        path: z.string().trim().min(1).describe('File path relative to the indexed folder (as search prints it), or absolute inside it'),
        line: z.number().int().min(1).describe('1-based line inside the code to start from'),
        top: z.number().int().min(1).max(MAX_TOP).default(DEFAULT_TOP).describe(`Most results (1-${MAX_TOP})`),
      },
      outputSchema: {
        source: z.object({ path: z.string(), startLine: z.number().int(), endLine: z.number().int(), symbol: z.string().nullable() }),
        ...coverageShape,
        results: z.array(hitSchema),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ path: file, line, top }, extra) => {
      const { engine } = await folder.engine();
      const rel = folder.relativePath(file);
      await folder.freshen();
      const r = await engine.similar(rel, line, { top, signal: extra.signal });
      if (!r.source) {
        const abs = path.join(folder.root, rel);
        if (!fs.existsSync(abs)) throw new Error(`${rel}: no such file in ${folder.root}`);
        const known = await engine.use((ix) => ix.store.getFile(rel));
        if (!known && folder.indexing)
          throw new Error(`${rel}: not indexed yet (the index is being built; call index_status and try again once it reports "ready")`);
        if (!known) throw new Error(`${rel}: not in the index (ignored, excluded, or skipped as binary, generated or too large)`);
        throw new Error(`${rel}:${line}: no indexed code covers this line (past the end of the file, or blank)`);
      }
      const coverage = await folder.coverage();
      const results = r.hits.map(hitJson);
      const src = r.source;
      const head = `${results.length ? `${results.length} result${results.length === 1 ? '' : 's'}` : 'Nothing'} similar to ${src.path}:${src.startLine}-${src.endLine}${src.symbol ? ` ${src.symbol}` : ''}`;
      const text = [head, coverage.note && `Note: ${coverage.note}`, hitsText(results)].filter(Boolean).join('\n\n');
      return result(text, { source: src, ...coverage, results });
    },
  );
}

function registerIndexStatus(server: McpServer, folder: ServedFolder): void {
  server.registerTool(
    'index_status',
    {
      title: 'Index status',
      description: 'The state of the index of the folder: ready, indexing (with progress), partial or error; its model, files and chunks.',
      inputSchema: {},
      outputSchema: statusShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const s = await folder.status();
      const skipped = Object.entries(s.skippedByReason)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const lines = [
        `state    ${s.state}: ${s.message}`,
        `folder   ${s.root}`,
        `index    ${s.indexPath}`,
        `model    ${s.model ? `${s.model.id} on ${s.model.device} (${s.model.dtype}, ${s.model.dim} dims)` : 'not loaded'}`,
        `files    ${s.files}${skipped ? ` (skipped: ${skipped})` : ''}`,
        `chunks   ${s.chunks} (${s.chunksWithVectors} with vectors)`,
        `indexed  ${s.lastIndexed ?? 'never completed'}`,
        `watching ${s.watching ? 'yes' : 'no'}`,
      ];
      return result(lines.join('\n'), s);
    },
  );
}

function registerReindex(server: McpServer, folder: ServedFolder): void {
  server.registerTool(
    'reindex',
    {
      title: 'Update the index',
      description:
        'Bring the index up to date with the files on disk (only changed files are read and embedded again). full: drop every file and ' +
        'chunk and read the workspace again (stored vectors of unchanged text are reused). wait: false returns at once; follow the build with index_status.',
      inputSchema: {
        full: z.boolean().default(false).describe('Rebuild from scratch instead of updating'),
        wait: z.boolean().default(true).describe('Wait until the build ends (progress notifications are sent when the request has a progress token)'),
      },
      outputSchema: {
        started: z.boolean().describe('true when wait is false: the build runs on'),
        state: stateSchema,
        filesChecked: z.number().int(),
        filesIndexed: z.number().int(),
        filesDeleted: z.number().int(),
        chunks: z.number().int(),
        chunksEmbedded: z.number().int(),
        chunksPending: z.number().int(),
        seconds: z.number(),
        cancelled: z.boolean(),
        rebuilt: z.boolean().describe('the index was dropped and built again (full, or an update that a full reindex restarted)'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ full, wait }, extra) => {
      await folder.engine();
      const t0 = Date.now();
      if (!wait) {
        folder.reindex(full).catch(() => undefined); // the server logs how it ends
        const s = await folder.status();
        const zero = { filesChecked: 0, filesIndexed: 0, filesDeleted: 0, chunks: 0, chunksEmbedded: 0, chunksPending: 0, seconds: 0, cancelled: false };
        return result(`${full ? 'Rebuild' : 'Update'} of the index started; call index_status to follow it.`, {
          started: true,
          state: s.state,
          ...zero,
          rebuilt: full,
        });
      }
      const stop = sendBuildProgress(folder, extra._meta?.progressToken, (params) => extra.sendNotification({ method: 'notifications/progress', params }));
      try {
        // A cancelled request stops waiting; the build goes on (the server holds it).
        const s = await folder.reindex(full, extra.signal);
        const st = await folder.status();
        const seconds = (Date.now() - t0) / 1000;
        const verb = s.cancelled ? 'Indexing was cancelled' : s.rebuilt ? 'Rebuilt the index' : 'Updated the index';
        return result(`${verb}: ${summaryText(s)} in ${seconds.toFixed(1)} s.`, {
          started: false,
          state: st.state,
          filesChecked: s.filesSeen,
          filesIndexed: s.filesIndexed,
          filesDeleted: s.filesDeleted,
          chunks: s.chunks,
          chunksEmbedded: s.chunksEmbedded,
          chunksPending: s.chunksPending,
          seconds,
          cancelled: s.cancelled,
          rebuilt: s.rebuilt,
        });
      } finally {
        stop();
      }
    },
  );
}

/** The progress of builds as MCP progress notifications (0–100, always increasing) while a request with `token` waits. Returns the stop function. */
function sendBuildProgress(
  folder: ServedFolder,
  token: string | number | undefined,
  send: (params: { progressToken: string | number; progress: number; total: number; message: string }) => Promise<void>,
): () => void {
  let sent = 0;
  return folder.onBuildProgress((p) => {
    if (token === undefined) return;
    const total = p.chunksEmbedded + p.chunksPending;
    const files = p.filesSeen ? (p.filesIndexed + p.filesSkipped) / p.filesSeen : 0;
    const value = Math.floor(100 * (p.phase === 'done' ? 1 : Math.min(1, 0.3 * files + 0.7 * (total ? p.chunksEmbedded / total : 0))));
    if (value <= sent) return; // progress must increase with every notification
    sent = value;
    send({ progressToken: token, progress: value, total: 100, message: progressText(p) }).catch(() => undefined);
  });
}
