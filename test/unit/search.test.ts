import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { Chunker } from '../../server/index/chunk';
import { Embedder } from '../../server/model/embedder';
import { FolderEngine } from '../../server/engine';
import { dropCommonTerms, isTestPath } from '../../server/search';
import { queryTerms } from '../../server/index/identifiers';
import { FindSimilarRequest, SearchRequest, StatusRequest } from '../../server/protocol';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';

/** A small workspace whose functions each do one recognisable thing. */
const FILES: Record<string, string> = {
  'src/upload.py': `import time


def put_with_backoff(client, path, attempts=3):
    for i in range(attempts):
        try:
            return client.put(path)
        except IOError:
            time.sleep(2 ** i)
    raise RuntimeError(path)


def human_size(n):
    for unit in ["B", "KB", "MB", "GB"]:
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
`,
  'src/cache.ts': `export class LruCache<K, V> {
  private map = new Map<K, V>();
  constructor(private capacity: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) { this.map.delete(key); this.map.set(key, v); }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
}

export function parseHttpDate(text: string): Date {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error('bad date: ' + text);
  return new Date(ms);
}
`,
  'lib/retry.go': `package lib

import "time"

// Retry calls fn until it succeeds or attempts run out, sleeping longer each time.
func Retry(attempts int, fn func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		time.Sleep(time.Duration(1<<i) * time.Second)
	}
	return err
}
`,
  'test/upload_test.py': `from src.upload import put_with_backoff


def test_put_with_backoff_gives_up():
    class Failing:
        def put(self, path):
            raise IOError("down")
    try:
        put_with_backoff(Failing(), "x", attempts=1)
    except RuntimeError:
        pass
`,
};

function makeWorkspace(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-search-'));
  for (const [rel, text] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('search over an indexed workspace', function () {
  let root: string;
  let indexDir: string;
  let embedder: Embedder;
  let chunker: Chunker;
  let engine: FolderEngine;

  before(async function () {
    root = makeWorkspace();
    indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-search-index-'));
    embedder = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    chunker = await Chunker.create();
    engine = await FolderEngine.open(root, embedder, chunker, { indexDir });
    const summary = await engine.refresh();
    assert.equal(summary.complete, true);
  });
  after(async function () {
    await engine?.close();
    chunker?.dispose();
    embedder?.dispose();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(indexDir, { recursive: true, force: true });
  });

  it('semantic mode finds a function by meaning, without its words', async function () {
    const r = await engine.searcher.search('retry failed uploads with exponential wait', { mode: 'semantic', top: 3 });
    assert.ok(
      r.hits.some((h) => h.symbol === 'put_with_backoff'),
      JSON.stringify(r.hits.map((h) => h.symbol)),
    );
    assert.equal(r.partial, false);
  });

  it('keyword mode finds identifiers split on camelCase', async function () {
    const r = await engine.searcher.search('http date', { mode: 'keyword', top: 3 });
    assert.equal(r.hits[0]?.symbol, 'parseHttpDate');
  });

  it('hybrid results carry path, 1-based inclusive lines, kind, language and a snippet', async function () {
    const r = await engine.searcher.search('least recently used cache eviction', { top: 5 });
    const hit = r.hits.find((h) => h.path === 'src/cache.ts');
    assert.ok(hit, JSON.stringify(r.hits));
    const lines = FILES['src/cache.ts'].split('\n');
    assert.ok(hit.startLine >= 1 && hit.endLine <= lines.length && hit.startLine <= hit.endLine);
    assert.equal(hit.language, 'typescript');
    assert.ok(hit.snippet.length > 0 && lines.join('\n').includes(hit.snippet.split('\n')[0].trim()));
    assert.ok(r.timings.totalMs >= 0 && r.timings.embedMs > 0);
  });

  it('filters: lang:, path: and -path: inside the query', async function () {
    const go = await engine.searcher.search('retry with backoff lang:go', { top: 10 });
    assert.ok(go.hits.length > 0 && go.hits.every((h) => h.language === 'go'));
    const noTests = await engine.searcher.search('put with backoff -path:test/**', { top: 10 });
    assert.ok(noTests.hits.length > 0 && noTests.hits.every((h) => !h.path.startsWith('test/')));
    const onlySrc = await engine.searcher.search('backoff path:src', { top: 10 });
    assert.ok(onlySrc.hits.length > 0 && onlySrc.hits.every((h) => h.path.startsWith('src/')));
  });

  it('no two hits of one file overlap', async function () {
    const r = await engine.searcher.search('cache get set capacity map', { top: 20 });
    for (const a of r.hits) {
      for (const b of r.hits) {
        if (a !== b && a.path === b.path)
          assert.ok(a.endLine < b.startLine || b.endLine < a.startLine, `${a.path} ${a.startLine}-${a.endLine} / ${b.startLine}-${b.endLine}`);
      }
    }
  });

  it('find-similar excludes the source chunk and finds its sibling in another language', async function () {
    const line = FILES['src/upload.py'].split('\n').findIndex((l) => l.startsWith('def put_with_backoff')) + 1;
    const r = await engine.searcher.similar('src/upload.py', line, { top: 5 });
    assert.equal(r.source?.symbol, 'put_with_backoff');
    assert.ok(!r.hits.some((h) => h.path === 'src/upload.py' && h.startLine <= line && line <= h.endLine), 'source excluded');
    assert.ok(
      r.hits.some((h) => h.symbol === 'Retry'),
      JSON.stringify(r.hits.map((h) => h.symbol)),
    );
  });

  it('find-similar for unsaved text embeds the text', async function () {
    const r = await engine.searcher.similar('src/cache.ts', 1, {
      text: 'def lru_get(cache, key):\n    value = cache.pop(key)\n    cache[key] = value\n    return value',
      top: 3,
    });
    assert.ok(r.hits.length > 0);
  });

  it('a cancelled search rejects with the abort reason', async function () {
    const ctrl = new AbortController();
    ctrl.abort(new Error('user cancelled'));
    await assert.rejects(engine.searcher.search('anything at all', { signal: ctrl.signal }), /user cancelled/);
  });
});

describe('sidecar over JSON-RPC', function () {
  let root: string;
  let storage: string;
  let child: ChildProcess;
  let conn: MessageConnection;

  before(async function () {
    root = makeWorkspace();
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-sidecar-'));
    child = spawn(process.execPath, [path.join(REPO_ROOT, 'out', 'server', 'front', 'sidecar', 'main.js'), '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    conn.onRequest('workspace/configuration', () => [{ model: MINILM_DIR, device: 'cpu', indexOnStartup: true }]);
    conn.onRequest('client/registerCapability', () => null);
    conn.onNotification('window/logMessage', () => undefined);
    conn.listen();
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: null,
      capabilities: { workspace: { configuration: true } },
      workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'ws' }],
      initializationOptions: { storageDir: storage },
    });
    await conn.sendNotification('initialized', {});
    // Wait until the first index is complete.
    for (let i = 0; i < 600; i++) {
      const s = await conn.sendRequest(StatusRequest, {});
      if (s.health === 'error') throw new Error(s.message);
      if (s.health === 'ok' && !s.partial && s.folders[0]?.chunks > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(function () {
    conn?.dispose();
    child?.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(storage, { recursive: true, force: true });
  });

  it('answers semsearch/search with hits from the workspace', async function () {
    const r = await conn.sendRequest(SearchRequest, { query: 'retry upload with backoff', top: 3 });
    assert.ok(r.hits.length > 0);
    assert.equal(r.hits[0].root, root);
  });

  it('refuses find-similar for paths outside the workspace folders', async function () {
    await assert.rejects(conn.sendRequest(FindSimilarRequest, { file: '/etc/passwd', line: 1 }), /outside the workspace folders/);
    await assert.rejects(conn.sendRequest(FindSimilarRequest, { file: path.join(root, '..', 'elsewhere.py'), line: 1 }), /outside the workspace folders/);
    const link = path.join(root, 'src', 'escape.py');
    fs.symlinkSync('/etc/hostname', link);
    await assert.rejects(conn.sendRequest(FindSimilarRequest, { file: link, line: 1 }), /outside the workspace folders/);
  });

  it('rejects malformed parameters with a typed error instead of crashing', async function () {
    await assert.rejects(conn.sendRequest(SearchRequest, { query: 42 as unknown as string }), /query must be a string/);
    await assert.rejects(conn.sendRequest(SearchRequest, { query: 'x', top: -1 }), /top must be an integer/);
    const r = await conn.sendRequest(SearchRequest, { query: 'still alive', top: 1 });
    assert.ok(Array.isArray(r.hits));
  });
});

describe('keyword query planning', function () {
  const terms = queryTerms('check node type getUserName');
  it('drops plain words held by more than 10 % of chunks once posting lists are long', function () {
    // check: 2 %, node: 60 %, type: 30 %, getUserName: an identifier, never dropped.
    const kept = dropCommonTerms(terms, [2000, 60000, 30000, 90000], 100000, true);
    assert.deepEqual(
      kept.map((t) => t.joined),
      ['check', 'getusername'],
    );
  });
  it('keeps exact BM25 for small indexes (no posting list is long)', function () {
    assert.equal(dropCommonTerms(terms, [200, 600, 300, 900], 1000, false).length, 4);
  });
  it('keeps the rarest word when every word is common and keywords rank alone', function () {
    const plain = queryTerms('node type file');
    assert.deepEqual(
      dropCommonTerms(plain, [60000, 30000, 100000], 100000, true).map((t) => t.joined),
      ['type'],
    );
    assert.deepEqual(dropCommonTerms([], [], 100000, true), []);
  });
  it('keeps no word when every word is common and the embedding ranking answers', function () {
    const plain = queryTerms('node type file');
    assert.deepEqual(dropCommonTerms(plain, [60000, 30000, 100000], 100000, false), []);
    // One selective word is enough to keep the keyword ranking.
    assert.deepEqual(
      dropCommonTerms(plain, [60000, 3000, 100000], 100000, false).map((t) => t.joined),
      ['type'],
    );
  });
});

describe('ranking priors', function () {
  it('recognises test files by common conventions, and not ordinary sources', function () {
    for (const p of ['tests/test_app.py', 'src/__tests__/a.ts', 'pkg/logger_test.go', 'src/a.spec.ts', 'src/test/java/FooTest.java', 'test_utils.py']) {
      assert.equal(isTestPath(p), true, p);
    }
    for (const p of ['src/flask/app.py', 'src/latest.ts', 'lib/contest.go', 'src/protest/Main.java', 'attestation.rs']) {
      assert.equal(isTestPath(p), false, p);
    }
  });
});
