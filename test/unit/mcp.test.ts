// `semsearch mcp` driven by the MCP SDK's own client over stdio, as an agent's host would run it:
// tools, search, find similar, status, reindex (waiting and not), the watcher, typed errors, a
// clean exit when the client goes away, and a rejection nothing handles logged, not fatal.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { FIXTURES, MINILM_DIR, REPO_ROOT } from '../support/paths';

const BIN = path.join(REPO_ROOT, 'bin', 'semsearch');

interface HitJson {
  path: string;
  startLine: number;
  endLine: number;
  symbol: string | null;
  kind: string;
  language: string;
  score: number;
  snippet: string;
}
interface Coverage {
  partial: boolean;
  indexing: boolean;
  note?: string;
}
interface SearchJson extends Coverage {
  query: string;
  mode: string;
  results: HitJson[];
}
interface SimilarJson extends Coverage {
  source: { path: string; startLine: number; endLine: number; symbol: string | null };
  results: HitJson[];
}
interface StatusJson {
  state: string;
  message: string;
  files: number;
  chunks: number;
  chunksWithVectors: number;
  progress: unknown;
  watching: boolean;
  model: { id: string } | null;
}
interface ReindexJson {
  started: boolean;
  state: string;
  filesChecked: number;
  chunksEmbedded: number;
  cancelled: boolean;
  rebuilt: boolean;
}

interface ToolOutcome<T> {
  isError: boolean;
  text: string;
  json: T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function lineOf(file: string, re: RegExp): number {
  return (
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .findIndex((l) => re.test(l)) + 1
  );
}

/** The e2e fixture plus generated files, so that a rebuild takes long enough to be seen running. */
function makeWorkspace(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-mcp-ws-'));
  fs.cpSync(path.join(FIXTURES, 'e2e-workspace'), root, { recursive: true });
  const gen = path.join(root, 'gen');
  fs.mkdirSync(gen);
  for (let f = 0; f < 30; f++) {
    const body: string[] = [];
    for (let i = 0; i < 4; i++) {
      body.push(
        `/** Compute the invoice total number ${i} for ledger ${f}. */\nexport function ledger${f}Total${i}(items: number[]): number {\n  return items.reduce((sum, x) => sum + x * ${i + 1}, ${f});\n}\n`,
      );
    }
    fs.writeFileSync(path.join(gen, `ledger${f}.ts`), body.join('\n'));
  }
  return root;
}

describe('semsearch mcp (MCP SDK client over stdio)', function () {
  this.timeout(180_000);
  let workspace: string;
  let indexDir: string;
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  const clientErrors: Error[] = [];

  async function call<T>(name: string, args: Record<string, unknown>): Promise<ToolOutcome<T>> {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { type: string; text?: string }[])
      .filter((c) => c.type === 'text')
      .map((c) => c.text ?? '')
      .join('\n');
    return { isError: r.isError === true, text, json: r.structuredContent as T };
  }

  async function waitReady(timeoutMs = 150_000): Promise<StatusJson> {
    const t0 = Date.now();
    for (;;) {
      const s = await call<StatusJson>('index_status', {});
      assert.ok(!s.isError, s.text);
      if (s.json.state === 'error') throw new Error(`index error: ${s.json.message}`);
      if (s.json.state === 'ready') return s.json;
      if (Date.now() - t0 > timeoutMs) throw new Error(`index not ready after ${timeoutMs} ms: ${s.text}`);
      await sleep(250);
    }
  }

  before(async function () {
    workspace = makeWorkspace();
    indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-mcp-idx-'));
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--dir', workspace, '--index-dir', indexDir, '--model', MINILM_DIR, '--device', 'cpu'],
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'semsearch-test', version: '1.0.0' });
    // Anything on the server's stdout that is not a protocol message lands here.
    client.onerror = (e) => clientErrors.push(e);
    await client.connect(transport);
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    for (const d of [workspace, indexDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('lists search, find_similar, index_status and reindex with their input schemas', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['find_similar', 'index_status', 'reindex', 'search']);
    const byName = new Map(tools.map((t) => [t.name, t]));
    const search = byName.get('search')!;
    assert.deepEqual(search.inputSchema.required, ['query']);
    assert.deepEqual(Object.keys(search.inputSchema.properties ?? {}).sort(), ['mode', 'query', 'top']);
    assert.deepEqual((search.inputSchema.properties as Record<string, { enum?: string[] }>).mode.enum, ['hybrid', 'semantic', 'keyword']);
    assert.deepEqual(byName.get('find_similar')!.inputSchema.required, ['path', 'line']);
    assert.equal(search.annotations?.readOnlyHint, true);
    assert.equal(byName.get('reindex')!.annotations?.readOnlyHint, false);
    assert.ok(search.outputSchema, 'search has an output schema');
  });

  it('builds the index in the background and reports it ready', async () => {
    const t0 = Date.now();
    const s = await waitReady();
    console.log(`      index ready after ${Date.now() - t0} ms: ${s.files} files, ${s.chunks} chunks`);
    assert.ok(s.files >= 37, `${s.files} files`);
    assert.equal(s.chunksWithVectors, s.chunks);
    assert.match(s.model?.id ?? '', /all-MiniLM-L6-v2$/);
    assert.equal(s.watching, true);
  });

  it('search finds the great-circle distance functions, with path, lines, symbol and code', async () => {
    const t0 = Date.now();
    const r = await call<SearchJson>('search', { query: 'great circle distance between two points on the earth', top: 5 });
    console.log(
      `      search in ${Date.now() - t0} ms: ${r.json.results
        .slice(0, 3)
        .map((h) => `${h.symbol}@${h.path}:${h.startLine}`)
        .join(', ')}`,
    );
    assert.ok(!r.isError, r.text);
    assert.equal(r.json.partial, false);
    assert.equal(r.json.indexing, false);
    assert.equal(r.json.note, undefined);
    const top3 = r.json.results.slice(0, 3);
    const haversine = top3.find((h) => h.symbol === 'haversineDistance');
    assert.ok(haversine, `top 3: ${top3.map((h) => h.symbol).join(', ')}`);
    assert.ok(
      top3.some((h) => h.symbol === 'great_circle_km'),
      `top 3: ${top3.map((h) => h.symbol).join(', ')}`,
    );
    const file = path.join(workspace, 'src', 'geo.ts');
    assert.equal(haversine.path, 'src/geo.ts');
    assert.ok(
      haversine.startLine <= lineOf(file, /export function haversineDistance/) && lineOf(file, /export function haversineDistance/) <= haversine.endLine,
    );
    assert.match(haversine.snippet, /export function haversineDistance/);
    assert.equal(haversine.kind, 'function');
    // The text the model reads: location, symbol, code.
    assert.match(r.text, new RegExp(`src/geo\\.ts:${haversine.startLine}-${haversine.endLine}\\s+haversineDistance \\(function, typescript\\)`));
    assert.match(r.text, /export function haversineDistance/);
    assert.ok(r.json.results.length <= 5);
  });

  it('search applies filters written inside the query, and keyword mode', async () => {
    const go = await call<SearchJson>('search', { query: 'lang:go cache eviction' });
    assert.ok(go.json.results.length > 0, go.text);
    for (const h of go.json.results) assert.equal(h.language, 'go', h.path);
    const kw = await call<SearchJson>('search', { query: 'slugify -path:gen/**', mode: 'keyword', top: 3 });
    assert.equal(kw.json.mode, 'keyword');
    assert.equal(kw.json.results[0]?.symbol, 'slugify', kw.text);
    for (const h of kw.json.results) assert.ok(!h.path.startsWith('gen/'), h.path);
  });

  it('find_similar returns code like the chunk at path:line, without the chunk itself', async () => {
    const line = lineOf(path.join(workspace, 'src', 'geo.ts'), /export function haversineDistance/);
    const r = await call<SimilarJson>('find_similar', { path: 'src/geo.ts', line, top: 5 });
    console.log(
      `      similar to haversineDistance: ${r.json.results
        .slice(0, 3)
        .map((h) => h.symbol)
        .join(', ')}`,
    );
    assert.ok(!r.isError, r.text);
    assert.equal(r.json.source.symbol, 'haversineDistance');
    assert.ok(
      r.json.results.slice(0, 3).some((h) => h.symbol === 'great_circle_km'),
      r.text,
    );
    assert.ok(!r.json.results.some((h) => h.path === 'src/geo.ts' && h.symbol === 'haversineDistance'), 'the source is listed');
    assert.match(r.text, /similar to src\/geo\.ts:\d+-\d+ haversineDistance/);
    // An absolute path inside the folder works too.
    const abs = await call<SimilarJson>('find_similar', { path: path.join(workspace, 'src', 'geo.ts'), line });
    assert.equal(abs.json.source.symbol, 'haversineDistance');
  });

  it('find_similar reports bad paths and lines as tool errors', async () => {
    const outside = await call('find_similar', { path: '../elsewhere.ts', line: 1 });
    assert.equal(outside.isError, true);
    assert.match(outside.text, /\.\.\/elsewhere\.ts: outside the served folder/);
    const missing = await call('find_similar', { path: 'src/nope.ts', line: 1 });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /src\/nope\.ts: no such file/);
    const past = await call('find_similar', { path: 'src/geo.ts', line: 9999 });
    assert.equal(past.isError, true);
    assert.match(past.text, /src\/geo\.ts:9999: no indexed code covers this line/);
  });

  it('answers invalid arguments with typed MCP errors and keeps serving', async () => {
    const badTop = await call('search', { query: 'distance', top: 0 });
    assert.equal(badTop.isError, true);
    assert.match(badTop.text, /Input validation error: .*top/s);
    const badMode = await call('search', { query: 'distance', mode: 'fuzzy' });
    assert.equal(badMode.isError, true);
    assert.match(badMode.text, /mode/);
    const noQuery = await call('search', {});
    assert.equal(noQuery.isError, true);
    const badLine = await call('find_similar', { path: 'src/geo.ts', line: 'twelve' });
    assert.equal(badLine.isError, true);
    const unknown = await call('grep', { pattern: 'x' });
    assert.equal(unknown.isError, true);
    assert.match(unknown.text, /Tool grep not found/);
    // A malformed request (no tool name) is a JSON-RPC error response, not a dead server.
    await assert.rejects(
      client.request({ method: 'tools/call', params: {} as never }, CallToolResultSchema),
      (e: unknown) => e instanceof McpError && Number.isInteger(e.code) && /name/.test(e.message),
    );
    // So is a method the server does not offer.
    await assert.rejects(
      client.request({ method: 'resources/list', params: {} }, CallToolResultSchema),
      (e: unknown) => e instanceof McpError && e.code === (ErrorCode.MethodNotFound as number),
    );
    const still = await call<SearchJson>('search', { query: 'retry with exponential backoff', top: 1 });
    assert.equal(still.json.results[0]?.symbol, 'retry_with_backoff', still.text);
  });

  it('reindex waits for an update and sends progress notifications', async () => {
    const progress: number[] = [];
    const r = await client.callTool({ name: 'reindex', arguments: {} }, CallToolResultSchema, { onprogress: (p) => progress.push(p.progress) });
    const json = r.structuredContent as ReindexJson;
    assert.ok(!r.isError, JSON.stringify(r.content));
    assert.equal(json.started, false);
    assert.equal(json.cancelled, false);
    assert.equal(json.rebuilt, false);
    assert.equal(json.state, 'ready');
    assert.ok(json.filesChecked >= 37, `${json.filesChecked}`);
    assert.ok(progress.length > 0, 'no progress notification');
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i] > progress[i - 1], `progress not increasing: ${progress.join(', ')}`);
    assert.equal(progress[progress.length - 1], 100);
  });

  it('indexes a new file on disk through the watcher', async () => {
    const file = path.join(workspace, 'src', 'temperature.go');
    fs.writeFileSync(
      file,
      'package units\n\n// CelsiusToFahrenheit converts a temperature in degrees Celsius to degrees Fahrenheit.\nfunc CelsiusToFahrenheit(c float64) float64 {\n\treturn c*9/5 + 32\n}\n',
    );
    const t0 = Date.now();
    let found: HitJson | undefined;
    while (!found && Date.now() - t0 < 60_000) {
      const r = await call<SearchJson>('search', { query: 'CelsiusToFahrenheit', mode: 'keyword' });
      found = r.json.results.find((h) => h.symbol === 'CelsiusToFahrenheit');
      if (!found) await sleep(200);
    }
    console.log(`      new file searchable after ${Date.now() - t0} ms`);
    assert.ok(found, 'the new function never appeared');
    assert.equal(found.path, 'src/temperature.go');
    fs.rmSync(file);
    await waitReady();
  });

  it('while a rebuild runs, search answers at once and says the index is partial', async () => {
    const started = await call<ReindexJson>('reindex', { full: true, wait: false });
    assert.ok(!started.isError, started.text);
    assert.equal(started.json.started, true);
    assert.equal(started.json.state, 'indexing');
    assert.match(started.text, /started; call index_status/);

    const t0 = Date.now();
    const r = await call<SearchJson>('search', { query: 'great circle distance between two points on the earth' });
    console.log(`      search during the rebuild answered in ${Date.now() - t0} ms with ${r.json.results.length} results`);
    assert.ok(!r.isError, r.text);
    assert.equal(r.json.indexing, true);
    assert.equal(r.json.partial, true);
    assert.match(r.json.note ?? '', /still being built/);
    assert.match(r.text, /Note: The index is still being built/);
    const s = await call<StatusJson>('index_status', {});
    assert.equal(s.json.state, 'indexing', s.text);
    assert.match(s.text, /state {4}indexing/);

    await waitReady();
    const after = await call<SearchJson>('search', { query: 'great circle distance between two points on the earth', top: 3 });
    assert.equal(after.json.partial, false);
    assert.ok(
      after.json.results.some((h) => h.symbol === 'haversineDistance'),
      after.text,
    );
  });

  it('a cancelled reindex stops waiting, and the build goes on', async () => {
    // New text to embed, so that the rebuild (which reuses stored vectors) lasts long enough to cancel.
    const extra = path.join(workspace, 'gen', 'extra');
    fs.mkdirSync(extra, { recursive: true });
    for (let f = 0; f < 40; f++) {
      fs.writeFileSync(
        path.join(extra, `rates${f}.ts`),
        Array.from({ length: 6 }, (_, i) => `export function rate${f}x${i}(v: number): number {\n  return v * ${f + 1}.${i} + ${i};\n}\n`).join('\n'),
      );
    }
    const ctrl = new AbortController();
    const pending = client.callTool({ name: 'reindex', arguments: { full: true } }, CallToolResultSchema, { signal: ctrl.signal });
    await sleep(100);
    ctrl.abort();
    await assert.rejects(pending, /abort/i);
    const s = await call<StatusJson>('index_status', {});
    assert.equal(s.json.state, 'indexing', s.text);
    const ready = await waitReady();
    assert.equal(ready.chunksWithVectors, ready.chunks);
  });

  it('wrote nothing but protocol messages to stdout, logged to stderr, and exits when the client closes', async () => {
    assert.deepEqual(
      clientErrors.map((e) => e.message),
      [],
    );
    assert.match(stderr, /semsearch mcp: serving .* over stdio/);
    assert.match(stderr, /semsearch mcp: indexed: /);
    const pid = transport.pid;
    assert.ok(pid);
    const t0 = Date.now();
    await client.close();
    const ms = Date.now() - t0;
    // The transport sends SIGTERM only after waiting 2 s for the process to leave on its own.
    assert.ok(ms < 1900, `closing took ${ms} ms`);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.match(stderr, /stopping: the client closed stdin/);
  });

  it('refuses a folder that does not exist, before speaking the protocol', async () => {
    const child = spawn(process.execPath, [BIN, 'mcp', '--dir', path.join(indexDir, 'nope')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 2);
    assert.equal(out, '');
    assert.match(err, /semsearch mcp: .*nope: no such folder/);
  });

  it('refuses to serve / or the home folder when no --dir is given', async () => {
    for (const cwd of ['/', os.homedir()]) {
      const child = spawn(process.execPath, [BIN, 'mcp'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      assert.equal(code, 2, err);
      assert.match(err, /no --dir given and the working directory is .*; name the folder to serve with --dir/);
    }
  });
});

describe('semsearch mcp process guard', function () {
  this.timeout(120_000);

  it('logs an unhandled rejection to stderr and keeps serving', async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-mcp-guard-'));
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-mcp-guard-idx-'));
    fs.cpSync(path.join(FIXTURES, 'e2e-workspace', 'src'), workspace, { recursive: true });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    // The server's test hook: one rejection that nothing handles, right after it connects.
    env.SEMSEARCH_MCP_TEST_UNHANDLED_REJECTION = 'forced by the test';
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--dir', workspace, '--index-dir', indexDir, '--tier', 'static', '--no-watch'],
      env,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'semsearch-test', version: '1.0.0' });
    try {
      await client.connect(transport);
      for (let i = 0; i < 200 && !/unhandled rejection/.test(stderr); i++) await sleep(50);
      assert.match(stderr, /semsearch mcp: unhandled rejection: Error: forced by the test/);
      const status = await client.callTool({ name: 'index_status', arguments: {} });
      assert.ok(!status.isError, JSON.stringify(status.content));
      assert.ok(transport.pid);
      process.kill(transport.pid, 0); // still running
    } finally {
      await client.close().catch(() => undefined);
      for (const d of [workspace, indexDir]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
