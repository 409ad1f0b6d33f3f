/**
 * The sidecar's requests: each protocol method (protocol.ts) checked, mapped to the engine of the
 * folder concerned, and its errors turned into the protocol's codes (InvalidParams for a bad
 * request or query, RequestCancelled, InternalError with `path: reason`).
 */
import { CancellationToken, Connection, ErrorCodes, LSPErrorCodes, ResponseError } from 'vscode-languageserver/node';
import { fileURLToPath } from 'node:url';
import { realPathOr, relativeInside } from '../../common/paths';
import type { FolderEngine } from '../../engine';
import {
  ChunkAtParams,
  ChunkAtRequest,
  ChunkAtResult,
  FindSimilarParams,
  FindSimilarRequest,
  FindSimilarResult,
  Hit,
  MAX_TOP,
  ReindexParams,
  ReindexRequest,
  ReindexResult,
  SearchParams,
  SearchRequest,
  SearchResult,
  StatusRequest,
} from '../../protocol';
import { QueryError } from '../../search';
import type { Sidecar } from './sidecar';

/** Absent (undefined or null), or an integer in [min, max]. */
function optionalInt(v: unknown, min: number, max: number): boolean {
  return v === undefined || v === null || (Number.isInteger(v) && (v as number) >= min && (v as number) <= max);
}

/** Absent (undefined or null), or an array of strings. */
function optionalStrings(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new ResponseError(ErrorCodes.InvalidParams, what);
}

function abortOn(token: CancellationToken): AbortSignal {
  const ctrl = new AbortController();
  token.onCancellationRequested(() => ctrl.abort());
  return ctrl.signal;
}

/** Run a request once the sidecar is ready, with its cancellation as a signal and its errors as protocol codes. */
async function guarded<T>(sidecar: Sidecar, token: CancellationToken, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  await sidecar.ready;
  const signal = abortOn(token);
  try {
    return await run(signal);
  } catch (e) {
    if (signal.aborted || token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
    if (e instanceof ResponseError) throw e;
    if (e instanceof QueryError) throw new ResponseError(ErrorCodes.InvalidParams, e.message);
    throw new ResponseError(ErrorCodes.InternalError, (e as Error).message);
  }
}

/** The folder holding `file`, and the path relative to it; refuses anything outside the folders. */
function locate(sidecar: Sidecar, file: string): { engine: FolderEngine; relPath: string } {
  const real = realPathOr(file);
  for (const [root, engine] of sidecar.engines) {
    const rel = relativeInside(realPathOr(root), real);
    if (rel) return { engine, relPath: rel };
  }
  throw new ResponseError(ErrorCodes.InvalidParams, `${file}: outside the workspace folders`);
}

async function search(sidecar: Sidecar, params: SearchParams, signal: AbortSignal): Promise<SearchResult> {
  check(typeof params?.query === 'string', 'query must be a string');
  check(optionalInt(params.top, 1, MAX_TOP), `top must be an integer from 1 to ${MAX_TOP}`);
  check(
    params.mode === undefined || params.mode === null || ['hybrid', 'semantic', 'keyword'].includes(params.mode),
    'mode must be hybrid, semantic or keyword',
  );
  check(
    optionalStrings(params.languages) && optionalStrings(params.pathGlobs) && optionalStrings(params.excludePathGlobs),
    'languages, pathGlobs and excludePathGlobs must be arrays of strings',
  );
  const t0 = Date.now();
  const { settings, engines } = sidecar;
  const top = params.top ?? settings.resultCount;
  const results = await Promise.all(
    [...engines.values()].map((e) =>
      e.search(params.query, {
        mode: params.mode ?? settings.defaultMode,
        top,
        filters: { languages: params.languages, pathGlobs: params.pathGlobs, excludePathGlobs: params.excludePathGlobs },
        fusion: settings.fusion,
        rrfK: settings.rrfK,
        keywordWeight: settings.keywordWeight,
        semanticWeight: settings.semanticWeight,
        signal,
      }),
    ),
  );
  const hits: Hit[] = results
    .flatMap((r) => r.hits)
    .sort((a, b) => b.score - a.score)
    .slice(0, top);
  const sum = (k: keyof SearchResult['timings']) => results.reduce((n, r) => n + r.timings[k], 0);
  return {
    query: params.query,
    hits,
    partial: results.some((r) => r.partial) || engines.size === 0,
    tiers: [...new Set(results.flatMap((r) => r.tiers))],
    timings: { embedMs: sum('embedMs'), vectorMs: sum('vectorMs'), keywordMs: sum('keywordMs'), fuseMs: sum('fuseMs'), totalMs: Date.now() - t0 },
  };
}

async function findSimilar(sidecar: Sidecar, params: FindSimilarParams, signal: AbortSignal): Promise<FindSimilarResult> {
  check(typeof params?.file === 'string' && Number.isInteger(params.line) && params.line >= 1, 'file must be a path and line a positive integer');
  check(optionalInt(params.endLine, params.line, Number.MAX_SAFE_INTEGER), 'endLine must be an integer not below line');
  check(optionalInt(params.top, 1, MAX_TOP), `top must be an integer from 1 to ${MAX_TOP}`);
  check(params.text === undefined || params.text === null || typeof params.text === 'string', 'text must be a string');
  const { engine, relPath } = locate(sidecar, params.file);
  const r = await engine.similar(relPath, params.line, {
    top: params.top ?? sidecar.settings.resultCount,
    endLine: params.endLine ?? undefined,
    text: params.text ?? undefined,
    signal,
  });
  return { source: r.source, hits: r.hits, partial: r.partial };
}

async function chunkAt(sidecar: Sidecar, params: ChunkAtParams): Promise<ChunkAtResult> {
  check(typeof params?.file === 'string' && Number.isInteger(params.line), 'file must be a path and line an integer');
  let where: { engine: FolderEngine; relPath: string };
  try {
    where = locate(sidecar, params.file);
  } catch {
    return { chunk: null }; // a hover outside the folders is not an error
  }
  const chunks = await where.engine.chunksOfFile(where.relPath);
  const c = chunks
    .filter((x) => x.startLine <= params.line && params.line <= x.endLine && x.kind !== 'window' && x.kind !== 'section')
    .sort((a, b) => a.endLine - a.startLine - (b.endLine - b.startLine))[0];
  return { chunk: c ? { path: c.path, startLine: c.startLine, endLine: c.endLine, symbol: c.symbol, kind: c.kind } : null };
}

async function reindex(sidecar: Sidecar, params: ReindexParams, token: CancellationToken): Promise<ReindexResult> {
  const full = (params as { full?: unknown } | null | undefined)?.full;
  check(full === undefined || full === null || typeof full === 'boolean', 'full must be a boolean');
  await sidecar.ready;
  if (sidecar.modelProblem) throw new ResponseError(ErrorCodes.InternalError, sidecar.modelProblem);
  if (!sidecar.canIndex) throw new ResponseError(ErrorCodes.InternalError, sidecar.idleHealth().message || 'no workspace folder to index');
  sidecar.cancelRetry();
  return sidecar.reindex(params ?? {}, token);
}

/** File events from the editor, by the folder they belong to (created, changed and deleted alike: the indexer looks at the disk). */
function eventsByFolder(sidecar: Sidecar, uris: readonly string[]): Map<FolderEngine, string[]> {
  const byEngine = new Map<FolderEngine, string[]>();
  for (const uri of uris) {
    let file: string;
    try {
      file = fileURLToPath(uri);
    } catch {
      continue;
    }
    for (const [root, engine] of sidecar.engines) {
      const rel = relativeInside(root, file);
      if (rel) byEngine.set(engine, [...(byEngine.get(engine) ?? []), rel]);
    }
  }
  return byEngine;
}

/** Map every request and notification of the connection to the sidecar. */
export function registerRequests(connection: Connection, sidecar: Sidecar): void {
  connection.onRequest(SearchRequest, (params: SearchParams, token): Promise<SearchResult> =>
    guarded(sidecar, token, (signal) => search(sidecar, params, signal)),
  );
  connection.onRequest(FindSimilarRequest, (params: FindSimilarParams, token): Promise<FindSimilarResult> =>
    guarded(sidecar, token, (signal) => findSimilar(sidecar, params, signal)),
  );
  connection.onRequest(ChunkAtRequest, (params: ChunkAtParams, token): Promise<ChunkAtResult> => guarded(sidecar, token, () => chunkAt(sidecar, params)));
  connection.onRequest(ReindexRequest, (params: ReindexParams, token): Promise<ReindexResult> => reindex(sidecar, params, token));
  connection.onRequest(StatusRequest, () => sidecar.status());
  connection.onDidChangeWatchedFiles((params) =>
    sidecar.fileEvents(
      eventsByFolder(
        sidecar,
        params.changes.map((c) => c.uri),
      ),
    ),
  );
  connection.onDidChangeConfiguration(() => sidecar.settingsChanged());
}
