/**
 * `semsearch mcp`: a Model Context Protocol server over stdio, so that agents search a folder by
 * meaning. It runs the CLI's engine (engine.ts openStandalone) on one folder and offers four tools:
 *
 *   search        ranked code locations for a query (filters inside it: lang:go path:src/** -path:…)
 *   find_similar  code like the chunk at path:line
 *   index_status  the index's state, counts and model
 *   reindex       bring the index up to date (or rebuild it from scratch), optionally waiting
 *
 * Start-up: the transport is connected first, so `initialize` is answered at once; then the model
 * loads and the index opens (tools wait for that, a few seconds at most), and a refresh of the
 * index starts in the background, followed by a watch of the folder (unless --no-watch).
 *
 * While the index is being built, search does not wait: it answers from what is indexed so far
 * (keyword ranking over the files already read, semantic ranking over the chunks already embedded)
 * and says so: `partial: true`, `indexing: true` and a note with the progress, in the text and in
 * the structured result. find_similar on a file not indexed yet is an error that says why.
 *
 * Every result has a short text for the model (path:start-end, symbol, kind, a few lines of code)
 * and the same data as `structuredContent` (see each tool's output schema). Errors of a tool are
 * results with `isError` (invalid arguments too, as the SDK reports them), never a crash.
 *
 * stdout carries protocol messages only; logs go to stderr as `semsearch mcp: …`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { openStandalone, StandaloneEngine } from '../../engine/folderEngine';
import { packageRoot } from '../../model/locate';
import type { Hit, IndexProgress, SearchMode } from '../../protocol';
import { RefreshSummary, watchRoot, Watch } from '../../index/refresh';
import { indexPathFor } from '../../index/store';
import { MODEL_OPTIONS } from '../cli/modelFlags';
import { existingFolder, parseDevice, UsageError } from '../cli/usage';

const MAX_TOP = 50;
const DEFAULT_TOP = 10;

function log(message: string): void {
  process.stderr.write(`semsearch mcp: ${message}\n`);
}

function packageVersion(): string {
  try {
    const root = packageRoot();
    if (root) return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch { /* unreadable: no version */ }
  return '0.0.0';
}

// --- schemas -----------------------------------------------------------------------------------

const hitSchema = z.object({
  path: z.string().describe('Relative to the served folder, with / separators'),
  startLine: z.number().int().describe('1-based, inclusive'),
  endLine: z.number().int().describe('1-based, inclusive'),
  symbol: z.string().nullable(),
  kind: z.string(),
  language: z.string(),
  score: z.number(),
  snippet: z.string().describe('The first lines of the chunk'),
});
type HitJson = z.infer<typeof hitSchema>;

/** Whether results cover the whole folder, shared by search and find_similar. */
const coverageShape = {
  partial: z.boolean().describe('Some chunks have no vector yet (or the index is being built): results may miss code'),
  indexing: z.boolean().describe('An index build is running now'),
  note: z.string().optional().describe('Why the results may be incomplete, and what to do'),
};

const stateSchema = z.enum(['loading', 'indexing', 'ready', 'partial', 'error']);

const statusShape = {
  root: z.string(),
  indexPath: z.string(),
  state: stateSchema.describe('loading: the model loads; indexing: a build runs; ready: complete; partial: some chunks lack vectors; error: see message'),
  message: z.string(),
  model: z.object({ id: z.string(), device: z.string(), dtype: z.string(), dim: z.number() }).nullable(),
  files: z.number().int(),
  chunks: z.number().int(),
  chunksWithVectors: z.number().int(),
  skippedByReason: z.record(z.string(), z.number()),
  lastIndexed: z.string().nullable().describe('When the last complete index finished (ISO 8601)'),
  progress: z
    .object({ phase: z.string(), filesSeen: z.number(), filesIndexed: z.number(), chunks: z.number(), chunksEmbedded: z.number(), chunksPending: z.number() })
    .nullable()
    .describe('The running build, if any'),
  watching: z.boolean().describe('Changes on disk are indexed as they happen'),
};
type StatusJson = z.infer<z.ZodObject<typeof statusShape>>;

// --- the served folder -------------------------------------------------------------------------

interface ServeOptions {
  root: string;
  indexDir?: string;
  model?: string;
  offline?: boolean;
  device: 'auto' | 'cpu' | 'gpu';
  exclude: string[];
  watch: boolean;
}

interface Build {
  full: boolean;
  ctrl: AbortController;
  done: Promise<RefreshSummary>;
}

/** One folder's engine behind the tools: start-up, background builds, the watch, shutdown. */
class ServedFolder {
  readonly indexPath: string;
  private opened: StandaloneEngine | undefined;
  private openError: string | undefined;
  private opening: Promise<void> | undefined;
  private build: Build | null = null;
  private progress: IndexProgress | null = null;
  private readonly progressListeners = new Set<(p: IndexProgress) => void>();
  private buildError: string | undefined;
  private watch: Watch | null = null;
  private watchError: string | undefined;
  private lastSync = 0;
  private closed = false;

  constructor(private readonly options: ServeOptions) {
    this.indexPath = indexPathFor(options.root, options.indexDir);
  }

  get root(): string {
    return this.options.root;
  }

  /** Load the model and open the index, then start a build and the watch (not awaited by callers of tools). */
  start(): Promise<void> {
    this.opening ??= this.open();
    return this.opening;
  }

  private async open(): Promise<void> {
    const t0 = Date.now();
    try {
      this.opened = await openStandalone(this.root, {
        model: this.options.model,
        offline: this.options.offline,
        device: this.options.device,
        indexDir: this.options.indexDir,
        walk: { exclude: this.options.exclude },
        onProgress: (p) => this.onProgress(p),
        onWarning: (m) => log(`${this.root}/${m}`),
      });
    } catch (e) {
      this.openError = `cannot start: ${(e as Error).message}`;
      log(this.openError);
      return;
    }
    if (this.closed) return;
    const { engine, embedder } = this.opened;
    const o = engine.store.opened;
    log(`model ${embedder.info.model} on ${embedder.info.device} (${embedder.info.dtype}), loaded in ${Date.now() - t0} ms; index ${this.indexPath}`);
    if (o.recovered) log(`${this.indexPath}: the index was damaged (${o.recovered.reason}); moved to ${o.recovered.movedTo}, rebuilding`);
    if (o.modelChanged) log(`${this.indexPath}: model changed (${o.modelChanged.from} → ${o.modelChanged.to}); every chunk is embedded again`);
    this.startBuild(false);
    if (this.options.watch && engine.indexer) {
      try {
        this.watch = watchRoot(engine.indexer, (e) => {
          this.watchError = e.message;
          log(`${this.root}: watching stopped: ${e.message}; use the reindex tool after changes`);
          this.watch?.close();
          this.watch = null;
        });
      } catch (e) {
        this.watchError = (e as Error).message;
        log(`${this.root}: cannot watch for changes: ${this.watchError}; use the reindex tool after changes`);
      }
    }
  }

  /** The open engine; throws the reason when the model could not be loaded. */
  async engine(): Promise<StandaloneEngine> {
    await this.start();
    if (!this.opened) throw new Error(`${this.root}: ${this.openError ?? 'not open'}`);
    return this.opened;
  }

  get indexing(): boolean {
    return this.build !== null;
  }

  private onProgress(p: IndexProgress): void {
    const phaseChanged = p.phase !== this.progress?.phase;
    this.progress = p;
    if (phaseChanged && this.build) log(`indexing: ${progressText(p)}`);
    for (const l of this.progressListeners) l(p);
    // Searches during a build see vectors as they arrive, at most every two seconds.
    if (Date.now() - this.lastSync > 2000) {
      this.lastSync = Date.now();
      void this.opened?.engine.searcher.sync();
    }
  }

  /** Follow the progress of builds until the returned function is called. */
  onBuildProgress(listener: (p: IndexProgress) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /**
   * Start a build (or join the one running): reconcile the index with the disk, or with `full`
   * drop everything, vectors included, and embed again (a running reconcile is cancelled for it).
   */
  async reindex(full: boolean): Promise<RefreshSummary> {
    await this.engine();
    if (this.build) {
      if (!full || this.build.full) return this.build.done;
      this.build.ctrl.abort();
      await this.build.done.catch(() => undefined);
      if (this.build) return this.reindex(full); // another caller started one meanwhile
    }
    return this.startBuild(full).done;
  }

  /** Begin a build now (synchronously: from here on, `indexing` is true until it ends). */
  private startBuild(full: boolean): Build {
    const { engine } = this.opened!;
    const ctrl = new AbortController();
    const t0 = Date.now();
    log(full ? 'rebuilding the index from scratch' : `indexing ${this.root}`);
    const done = (async () => {
      // As the editor's Rebuild: files and chunks go, vectors stay (keyed by content, so unchanged text is not embedded again).
      if (full) await engine.clear();
      return engine.refresh(ctrl.signal);
    })();
    const build: Build = { full, ctrl, done };
    this.build = build;
    this.buildError = undefined;
    done
      .then(
        (s) => log(`${s.cancelled ? 'indexing cancelled' : 'indexed'}: ${summaryText(s)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`),
        (e: Error) => {
          this.buildError = e.message;
          log(`indexing failed: ${e.message}`);
        },
      )
      .finally(() => {
        if (this.build !== build) return;
        this.build = null;
        this.progress = null;
      });
    return build;
  }

  async status(): Promise<StatusJson> {
    const base = { root: this.root, indexPath: this.indexPath, watching: this.watch !== null };
    if (!this.opened) {
      const loading = !this.openError;
      return {
        ...base,
        state: loading ? 'loading' : 'error',
        message: loading ? 'the model is loading' : this.openError!,
        model: null,
        files: 0,
        chunks: 0,
        chunksWithVectors: 0,
        skippedByReason: {},
        lastIndexed: null,
        progress: null,
      };
    }
    const { engine, embedder } = this.opened;
    const s = await engine.store.stats();
    const p = this.progress;
    let state: StatusJson['state'];
    let message: string;
    if (this.build) {
      state = 'indexing';
      message = p ? `indexing: ${progressText(p)}` : 'indexing';
    } else if (this.buildError) {
      state = 'error';
      message = `the last indexing failed: ${this.buildError}`;
    } else if (s.partial) {
      state = 'partial';
      message = `${s.chunks - s.chunksWithVectors} of ${s.chunks} chunks have no vector${s.complete ? '' : '; the last build did not finish'} (run reindex)`;
    } else {
      state = 'ready';
      message = 'the index is complete';
    }
    if (this.watchError) message += `; not watching for changes: ${this.watchError}`;
    return {
      ...base,
      state,
      message,
      model: { id: embedder.info.model, device: embedder.info.device, dtype: embedder.info.dtype, dim: embedder.info.dim },
      files: s.files,
      chunks: s.chunks,
      chunksWithVectors: s.chunksWithVectors,
      skippedByReason: s.skippedByReason,
      lastIndexed: s.lastIndexedAt ? new Date(s.lastIndexedAt).toISOString() : null,
      progress:
        this.build && p
          ? { phase: p.phase, filesSeen: p.filesSeen, filesIndexed: p.filesIndexed, chunks: p.chunks, chunksEmbedded: p.chunksEmbedded, chunksPending: p.chunksPending }
          : null,
    };
  }

  /** Whether results cover the whole folder, and if not, a note saying why and what to do. */
  async coverage(): Promise<{ partial: boolean; indexing: boolean; note?: string }> {
    if (this.build) {
      const p = this.progress;
      return {
        partial: true,
        indexing: true,
        note:
          `The index is still being built${p ? ` (${progressText(p)})` : ''}: keyword matches cover only the files read so far and ` +
          'semantic matches only the chunks embedded so far, so relevant code may be missing. Call index_status and search again once it reports "ready".',
      };
    }
    const s = await this.opened!.engine.store.stats();
    if (!s.partial) return { partial: false, indexing: false };
    const missing = s.chunks - s.chunksWithVectors;
    return {
      partial: true,
      indexing: false,
      note:
        (missing > 0 ? `${missing} of ${s.chunks} chunks have no vector, so semantic matches miss them` : 'The last build did not finish, so files may be missing') +
        `${this.buildError ? ` (indexing failed: ${this.buildError})` : ''}. Call reindex to complete the index.`,
    };
  }

  /** Make the searcher see vectors embedded since its last sync (during a build). */
  async freshen(): Promise<void> {
    if (this.build && this.opened) {
      this.lastSync = Date.now();
      await this.opened.engine.searcher.sync();
    }
  }

  /** Resolve a path relative to the folder (or absolute inside it) to the index's relative form. */
  relativePath(p: string): string {
    const abs = path.resolve(this.root, p);
    const inside = (root: string, file: string) => {
      const rel = path.relative(root, file);
      return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : null;
    };
    let rel = inside(this.root, abs);
    if (rel === null) {
      // The folder or the file may be reached through a symbolic link.
      try {
        rel = inside(fs.realpathSync(this.root), fs.realpathSync(abs));
      } catch { /* no such file: stays outside */ }
    }
    if (rel === null) throw new Error(`${p}: outside the served folder ${this.root}`);
    return rel.split(path.sep).join('/');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.build?.ctrl.abort();
    await this.opening?.catch(() => undefined);
    this.watch?.close();
    this.build?.ctrl.abort(); // a build that start() began after the first abort
    await this.build?.done.catch(() => undefined);
    await this.opened?.close().catch((e: Error) => log(`closing the index: ${e.message}`));
  }
}

// --- text for the model ------------------------------------------------------------------------

function progressText(p: IndexProgress): string {
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

function summaryText(s: RefreshSummary): string {
  return (
    `${s.filesSeen} files checked (${s.filesIndexed} indexed, ${s.filesUnchanged} unchanged, ${s.filesRenamed} renamed, ${s.filesDeleted} deleted, ` +
    `${s.filesSkipped} skipped), ${s.chunks} chunks written, ${s.chunksEmbedded} embedded; ` +
    (s.complete ? 'the index is complete' : `${s.chunksPending} chunks still without vectors`)
  );
}

function hitJson(h: Hit): HitJson {
  return { path: h.path, startLine: h.startLine, endLine: h.endLine, symbol: h.symbol, kind: h.kind, language: h.language, score: h.score, snippet: h.snippet };
}

/** `1. src/geo.ts:12-30  haversineDistance (function, typescript)` and the snippet, indented. */
function hitsText(hits: readonly HitJson[]): string {
  return hits
    .map((h, i) => {
      const what = [h.kind, h.language].filter(Boolean).join(', ');
      const head = `${i + 1}. ${h.path}:${h.startLine}-${h.endLine}${h.symbol ? `  ${h.symbol}` : ''}${what ? ` (${what})` : ''}`;
      const code = h.snippet.split('\n').map((l) => `   ${l}`).join('\n');
      return `${head}\n${code}`;
    })
    .join('\n\n');
}

function result<T extends Record<string, unknown>>(text: string, structured: T): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

// --- the server --------------------------------------------------------------------------------

function buildServer(folder: ServedFolder): McpServer {
  const server = new McpServer(
    { name: 'semsearch', title: 'Semantic code search', version: packageVersion() },
    {
      instructions:
        `Semantic code search over ${folder.root}, computed locally. Use search to find code by what it does (natural language or ` +
        'identifiers) before reading files or grepping; paths in results are relative to that folder. Use find_similar with a path and ' +
        'line from a result (or any file there) to find related code. While index_status says "indexing", results may be incomplete.',
    },
  );

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
      const r = await engine.search(query, { mode: mode as SearchMode, top, signal: extra.signal });
      const coverage = await folder.coverage();
      const results = r.hits.map(hitJson);
      const head = results.length
        ? `${results.length} result${results.length === 1 ? '' : 's'} for "${query}" (${mode})`
        : `No results for "${query}" (${mode}).${mode !== 'hybrid' ? ' Try mode hybrid.' : ' Try other words, or fewer filters.'}`;
      const text = [head, coverage.note && `Note: ${coverage.note}`, hitsText(results)].filter(Boolean).join('\n\n');
      return result(text, { query, mode, ...coverage, results });
    },
  );

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
        const known = await engine.store.getFile(rel);
        if (!known && folder.indexing) throw new Error(`${rel}: not indexed yet (the index is being built; call index_status and try again once it reports "ready")`);
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
      const skipped = Object.entries(s.skippedByReason).map(([k, n]) => `${k} ${n}`).join(', ');
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
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ full, wait }, extra) => {
      await folder.engine();
      const t0 = Date.now();
      const done = folder.reindex(full);
      if (!wait) {
        done.catch(() => undefined);
        const s = await folder.status();
        const zero = { filesChecked: 0, filesIndexed: 0, filesDeleted: 0, chunks: 0, chunksEmbedded: 0, chunksPending: 0, seconds: 0, cancelled: false };
        return result(`${full ? 'Rebuild' : 'Update'} of the index started; call index_status to follow it.`, { started: true, state: s.state, ...zero });
      }
      const token = extra._meta?.progressToken;
      let sent = 0;
      const stop = folder.onBuildProgress((p) => {
        if (token === undefined) return;
        const total = p.chunksEmbedded + p.chunksPending;
        const files = p.filesSeen ? (p.filesIndexed + p.filesSkipped) / p.filesSeen : 0;
        const value = Math.floor(100 * (p.phase === 'done' ? 1 : Math.min(1, 0.3 * files + 0.7 * (total ? p.chunksEmbedded / total : 0))));
        if (value <= sent) return; // progress must increase with every notification
        sent = value;
        void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: value, total: 100, message: progressText(p) } }).catch(() => undefined);
      });
      try {
        // A cancelled request stops waiting; the build itself goes on (others may be waiting for it).
        const s = await new Promise<RefreshSummary>((resolve, reject) => {
          const onAbort = () => reject(new Error('cancelled (the build goes on)'));
          extra.signal.addEventListener('abort', onAbort, { once: true });
          done.then(resolve, reject).finally(() => extra.signal.removeEventListener('abort', onAbort));
        });
        const st = await folder.status();
        const seconds = (Date.now() - t0) / 1000;
        const verb = s.cancelled ? 'Indexing was cancelled' : full ? 'Rebuilt the index' : 'Updated the index';
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
        });
      } finally {
        stop();
      }
    },
  );

  return server;
}

// --- the command -------------------------------------------------------------------------------

/** `semsearch mcp [--dir D] [--index-dir P] [--model M] [--device D] [--exclude GLOB]... [--no-watch]` */
export async function mcpCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'index-dir': { type: 'string' },
      ...MODEL_OPTIONS,
      exclude: { type: 'string', multiple: true, default: [] },
      'no-watch': { type: 'boolean', default: false },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (the folder is given with --dir)`);
  const device = parseDevice(values.device);
  const root = path.resolve(values.dir ?? '.');
  // Hosts often start servers in / or the home folder: indexing all of it is never what was meant.
  if (values.dir === undefined && (root === path.parse(root).root || root === os.homedir())) {
    throw new UsageError(`no --dir given and the working directory is ${root}; name the folder to serve with --dir`);
  }
  existingFolder(root);

  // stdout belongs to the protocol: anything a library prints goes to stderr instead.
  console.log = console.info = console.debug = console.warn = (...a: unknown[]) => console.error(...a);

  const folder = new ServedFolder({ root, indexDir: values['index-dir'], model: values.model, offline: values.offline, device, exclude: values.exclude ?? [], watch: !values['no-watch'] });
  const server = buildServer(folder);
  const transport = new StdioServerTransport();

  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((r) => (stop = r));
  transport.onclose = () => stop('the client closed the connection');
  process.stdin.once('end', () => stop('the client closed stdin'));
  process.stdin.once('close', () => stop('stdin closed'));
  const onSignal = (sig: NodeJS.Signals) => stop(`received ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  await server.connect(transport);
  log(`serving ${root} over stdio`);
  void folder.start();

  const reason = await stopped;
  log(`stopping: ${reason}`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await folder.close();
  await server.close().catch(() => undefined);
  process.stdin.destroy();
  return 0;
}
