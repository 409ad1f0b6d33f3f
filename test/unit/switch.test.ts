// Switching models: the old index answers until the new one is complete, a query never mixes the
// two, and a restart in the middle resumes. Real MiniLM weights; the "second model" is a copy of
// MiniLM with instruction prefixes (query: / passage:) and a marked config.json, so its fingerprint
// and its vectors differ from the first one's (same weights: only the prefixes change the vectors).
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sqlite3 from 'sqlite3';
import { createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { Chunker } from '../../server/index/chunk';
import { Embedder } from '../../server/model/embedder';
import { StaticEmbedder } from '../../server/model/static';
import { FolderEngine, IndexModel, OwnedQueryEmbedder } from '../../server/engine';
import { describeModel } from '../../server/model/folder';
import { IndexProgress, ProgressNotification, SearchRequest, StatusRequest, StatusResult } from '../../server/protocol';
import { CURRENT_FILE_NAME, INDEX_FILE_NAME, servingIndexFile } from '../../server/index/store';
import { FakeHub, repoFromFolder } from '../support/fakeHub';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';

const TOPICS: [string, string, string][] = [
  [
    'retryUpload',
    'retry a failed upload with exponential backoff',
    'for (let i = 0; i < attempts; i++) { try { return await put(path); } catch { await sleep(2 ** i * 100); } }',
  ],
  [
    'parseHttpDate',
    'parse an HTTP date header into a Date',
    'const ms = Date.parse(text); if (Number.isNaN(ms)) throw new Error("bad date"); return new Date(ms);',
  ],
  ['evictLeastRecent', 'evict the least recently used cache entry', 'const oldest = this.map.keys().next().value; this.map.delete(oldest);'],
  [
    'fileChecksum',
    'compute the sha256 checksum of a file',
    'const h = createHash("sha256"); for await (const c of createReadStream(p)) h.update(c); return h.digest("hex");',
  ],
  ['sendWelcomeEmail', 'send a welcome email to a new user', 'await mailer.send({ to: user.email, subject: "Welcome", body: render("welcome", user) });'],
  ['resizeImage', 'resize an image to fit a bounding box', 'const scale = Math.min(w / img.width, h / img.height); return img.scale(scale);'],
  [
    'tokenizeCsvLine',
    'split one CSV line into fields with quotes',
    'const out = []; let cur = ""; let q = false; for (const ch of line) { if (ch === "\\"") q = !q; else if (ch === "," && !q) { out.push(cur); cur = ""; } else cur += ch; } out.push(cur); return out;',
  ],
  ['debounce', 'debounce a function call until input stops', 'let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };'],
  ['validatePassword', 'check that a password is strong enough', 'return pw.length >= 12 && /[A-Z]/.test(pw) && /[0-9]/.test(pw);'],
  [
    'mergeSortedArrays',
    'merge two sorted arrays into one',
    'const out = []; let i = 0, j = 0; while (i < a.length && j < b.length) out.push(a[i] < b[j] ? a[i++] : b[j++]); return out.concat(a.slice(i), b.slice(j));',
  ],
];
const QUERIES = ['retry with backoff when an upload fails', 'least recently used cache', 'hash of a file', 'email for new users', 'split csv fields'];

/** A workspace of small files, each a few functions on one topic (60 chunks per copy). */
function makeWorkspace(copies = 1): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-switch-'));
  for (let c = 0; c < copies; c++) {
    TOPICS.forEach(([name, doc, body], i) => {
      const fns: string[] = [];
      for (let k = 0; k < 6; k++)
        fns.push(
          `/** ${doc} (variant ${k}${c ? `, edition ${c}` : ''}). */\nexport async function ${name}${k}(a: any, b: any) {\n  ${body}\n  return ${k + 10 * c};\n}\n`,
        );
      const dir = c ? `pkg${c}/m${i % 3}` : `src/m${i % 3}`;
      fs.mkdirSync(path.join(root, dir), { recursive: true });
      fs.writeFileSync(path.join(root, dir, `${name}.ts`), fns.join('\n'));
    });
  }
  return root;
}

/** A second model: MiniLM's weights with prefixes and a marked config (another fingerprint). */
function makeSecondModel(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-model-b-'));
  for (const f of fs.readdirSync(MINILM_DIR)) {
    const src = path.join(MINILM_DIR, f);
    if (fs.statSync(src).isDirectory()) fs.cpSync(src, path.join(dir, f), { recursive: true });
    else if (f !== 'config.json' && f !== 'config_sentence_transformers.json') fs.symlinkSync(src, path.join(dir, f));
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(MINILM_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, semsearch_test_variant: 'b' }));
  fs.writeFileSync(path.join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'query: ', document: 'passage: ' } }));
  return dir;
}

type Answer = { path: string; startLine: number; score: number }[];

async function answers(engine: FolderEngine): Promise<Map<string, Answer>> {
  const out = new Map<string, Answer>();
  for (const q of QUERIES) out.set(q, toAnswer(await engine.search(q, { mode: 'semantic', top: 5 })));
  return out;
}

function toAnswer(r: { hits: { path: string; startLine: number; score: number }[] }): Answer {
  return r.hits.map((h) => ({ path: h.path, startLine: h.startLine, score: h.score }));
}

/**
 * Same hits in the same order with the same scores. Scores agree to 1e-5, not exactly: the same
 * model's vectors computed in other batches or on another number of threads (the matrix products
 * are blocked per thread) differ in the last float32 bits, and min-max fusion magnifies that to
 * about 1e-6. The other model's answers differ in their hits, far beyond this.
 */
function same(a: Answer, b: Answer): boolean {
  return a.length === b.length && a.every((h, i) => h.path === b[i].path && h.startLine === b[i].startLine && Math.abs(h.score - b[i].score) < 1e-5);
}

/** Every distinct fingerprint in a database's vectors table, and its chunks without a vector. */
function vectorFingerprints(file: string): Promise<{ fingerprints: string[]; chunks: number; pending: number }> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all<{ fingerprint: string }>('SELECT DISTINCT fingerprint FROM vectors', (e1, rows) => {
        if (e1) return reject(e1);
        db.get<{ n: number; p: number }>('SELECT count(*) AS n, sum(vector_state = 0) AS p FROM chunks', (e2, c) => {
          db.close();
          if (e2) return reject(e2);
          resolve({ fingerprints: rows.map((r) => r.fingerprint).sort(), chunks: c.n, pending: c.p ?? 0 });
        });
      });
    });
  });
}

describe('switching models', function () {
  this.timeout(300_000);
  let root: string;
  let modelB: string;
  let embA: Embedder;
  let embB: Embedder;
  let chunker: Chunker;
  let refOld: Map<string, Answer>;
  let refNew: Map<string, Answer>;
  let totalChunks: number;
  const dirs: string[] = [];
  const tmpDir = (tag: string) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `semsearch-switch-${tag}-`));
    dirs.push(d);
    return d;
  };
  /** Loads the serving index's model the way the sidecar does, and counts the loads. */
  let loads: IndexModel[] = [];
  const loadServingModel = async (m: IndexModel): Promise<OwnedQueryEmbedder | null> => {
    loads.push(m);
    return m.dir ? Embedder.load(describeModel(m.dir, m.id), { device: 'cpu' }) : null;
  };

  /** A complete index of `root` with model A in a new folder. */
  async function indexWithA(): Promise<string> {
    const indexDir = tmpDir('idx');
    const engine = await FolderEngine.open(root, embA, chunker, { indexDir });
    assert.equal((await engine.refresh()).complete, true);
    await engine.close();
    return indexDir;
  }

  before(async () => {
    root = makeWorkspace();
    modelB = makeSecondModel();
    embA = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    embB = await Embedder.load(modelB, { device: 'cpu' });
    assert.notEqual(embA.info.fingerprint, embB.info.fingerprint);
    chunker = await Chunker.create();
    // References: each model alone on a fresh index.
    for (const [emb, set] of [
      [embA, (m: Map<string, Answer>) => (refOld = m)],
      [embB, (m: Map<string, Answer>) => (refNew = m)],
    ] as const) {
      const engine = await FolderEngine.open(root, emb, chunker, { indexDir: tmpDir('ref') });
      const s = await engine.refresh();
      assert.equal(s.complete, true);
      totalChunks = s.chunks;
      set(await answers(engine));
      await engine.close();
    }
    for (const q of QUERIES) assert.ok(!same(refOld.get(q)!, refNew.get(q)!), `the two models answer "${q}" differently`);
    assert.ok(totalChunks >= 50, `${totalChunks} chunks`);
  });
  after(() => {
    chunker?.dispose();
    embA?.dispose();
    embB?.dispose();
    for (const d of [root, modelB, ...dirs]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });
  beforeEach(() => {
    loads = [];
  });

  it('keeps answering from the old index during the re-embed, then from the new one only, never a mix', async () => {
    const indexDir = await indexWithA();
    let progress: IndexProgress | null = null;
    const engine = await FolderEngine.open(root, embB, chunker, { indexDir, loadServingModel, onProgress: (p) => (progress = p) });
    let refresh: Promise<unknown> | undefined;
    try {
      const sw = engine.switching;
      assert.ok(sw);
      assert.equal(sw.from.fingerprint, embA.info.fingerprint);
      assert.equal(sw.to.fingerprint, embB.info.fingerprint);
      assert.equal(sw.semantic, true);
      assert.deepEqual(
        loads.map((m) => m.fingerprint),
        [embA.info.fingerprint],
      );

      let finished = false;
      const running = engine.refresh().finally(() => (finished = true));
      refresh = running;
      const seen: { q: string; which: 'old' | 'new'; embeddedSoFar: number; during: boolean; partial: boolean }[] = [];
      while (!finished || seen.filter((s) => s.which === 'new').length < QUERIES.length) {
        for (const q of QUERIES) {
          const during = !finished;
          const embeddedSoFar = (progress as IndexProgress | null)?.chunksEmbedded ?? 0;
          const r = await engine.search(q, { mode: 'semantic', top: 5 });
          const a = toAnswer(r);
          const which = same(a, refOld.get(q)!) ? 'old' : same(a, refNew.get(q)!) ? 'new' : null;
          assert.ok(which, `"${q}" got an answer of neither model: ${JSON.stringify(a)}`);
          seen.push({ q, which, embeddedSoFar, during, partial: r.partial });
        }
      }
      const summary = await running;
      assert.equal(summary.complete, true);
      assert.equal(summary.chunksEmbedded, totalChunks, 'every chunk embedded again with the new model');

      const firstNew = seen.findIndex((s) => s.which === 'new');
      assert.ok(firstNew > 0, 'answers came from the old index first');
      assert.ok(
        seen.slice(firstNew).every((s) => s.which === 'new'),
        'no old answer after the first new one',
      );
      const oldDuringEmbed = seen.filter((s) => s.which === 'old' && s.during && s.embeddedSoFar > 0 && s.embeddedSoFar < totalChunks);
      assert.ok(oldDuringEmbed.length >= 3, `searches answered while the new index was being embedded (${oldDuringEmbed.length})`);
      assert.ok(
        seen.every((s) => !s.partial),
        'the old index answered as a complete index',
      );

      // On disk: index.current names the new index; the old one is gone; one model's vectors only.
      const serving = servingIndexFile(indexDir);
      assert.equal(path.basename(serving), `index-${embB.info.fingerprint}.sqlite`);
      assert.equal(fs.readFileSync(path.join(indexDir, CURRENT_FILE_NAME), 'utf8').trim(), path.basename(serving));
      assert.equal(fs.existsSync(path.join(indexDir, INDEX_FILE_NAME)), false);
      assert.equal(engine.indexPath, serving);
      assert.equal(engine.switching, null);
      const v = await vectorFingerprints(serving);
      assert.deepEqual(v.fingerprints, [embB.info.fingerprint]);
      assert.deepEqual([v.chunks, v.pending], [totalChunks, 0]);
    } finally {
      await refresh?.catch(() => undefined); // a failed assertion must not close the stores under a running refresh
      await engine.close();
    }

    // Reopened with the new model: no switch, the same answers.
    const again = await FolderEngine.open(root, embB, chunker, { indexDir, loadServingModel });
    try {
      assert.equal(again.switching, null);
      assert.equal(loads.length, 1);
      const a = await answers(again);
      for (const q of QUERIES) assert.ok(same(a.get(q)!, refNew.get(q)!));
    } finally {
      await again.close();
    }
  });

  it('resumes a switch interrupted in the middle, keeping the vectors already computed', async () => {
    const indexDir = await indexWithA();
    const ctrl = new AbortController();
    const first = await FolderEngine.open(root, embB, chunker, {
      indexDir,
      loadServingModel,
      onProgress: (p) => {
        if (p.chunksEmbedded >= 10) ctrl.abort(new Error('stopped'));
      },
    });
    let kept: number;
    try {
      const s = await first.refresh(ctrl.signal);
      assert.equal(s.cancelled, true);
      assert.ok(first.switching, 'still switching');
      // The old index still answers, with the old model.
      for (const q of QUERIES) assert.ok(same(toAnswer(await first.search(q, { mode: 'semantic', top: 5 })), refOld.get(q)!));
      kept = (await first.indexer!.store.stats()).chunksWithVectors;
      assert.ok(kept >= 10 && kept < totalChunks, `${kept} chunks embedded before the stop`);
    } finally {
      await first.close();
    }
    // A "restart": a new engine on the same folder picks the switch up where it stopped.
    assert.equal(path.basename(servingIndexFile(indexDir)), INDEX_FILE_NAME);
    const second = await FolderEngine.open(root, embB, chunker, { indexDir, loadServingModel });
    try {
      assert.ok(second.switching);
      assert.equal((await second.indexer!.store.stats()).chunksWithVectors, kept);
      for (const q of QUERIES) assert.ok(same(toAnswer(await second.search(q, { mode: 'semantic', top: 5 })), refOld.get(q)!));
      const s = await second.refresh();
      assert.equal(s.complete, true);
      assert.equal(s.chunksEmbedded, totalChunks - kept, 'only the chunks the first run had not embedded');
      assert.equal(second.switching, null);
      for (const q of QUERIES) assert.ok(same(toAnswer(await second.search(q, { mode: 'semantic', top: 5 })), refNew.get(q)!));
      assert.deepEqual((await vectorFingerprints(servingIndexFile(indexDir))).fingerprints, [embB.info.fingerprint]);
    } finally {
      await second.close();
    }
  });

  it('deletes the old index a completed switch left behind when the process stopped before deleting it', async () => {
    const indexDir = await indexWithA();
    // As after a switch that wrote index.current and stopped: the serving file is another one.
    const serving = path.join(indexDir, `index-${embA.info.fingerprint}.sqlite`);
    fs.copyFileSync(path.join(indexDir, INDEX_FILE_NAME), serving);
    fs.writeFileSync(path.join(indexDir, CURRENT_FILE_NAME), `${path.basename(serving)}\n`);
    const engine = await FolderEngine.open(root, embA, chunker, { indexDir });
    try {
      assert.equal(engine.indexPath, serving);
      assert.equal(fs.existsSync(path.join(indexDir, INDEX_FILE_NAME)), false);
      for (const q of QUERIES) assert.ok(same(toAnswer(await engine.search(q, { mode: 'semantic', top: 5 })), refOld.get(q)!));
    } finally {
      await engine.close();
    }
  });

  it('answers with keywords only during a switch whose old model cannot be loaded', async () => {
    const indexDir = await indexWithA();
    const engine = await FolderEngine.open(root, embB, chunker, { indexDir, loadServingModel: () => Promise.resolve(null) });
    try {
      assert.equal(engine.switching?.semantic, false);
      const semantic = await engine.search(QUERIES[0], { mode: 'semantic', top: 5 });
      assert.equal(semantic.partial, true);
      const hybrid = await engine.search('retryUpload backoff', { top: 5 });
      assert.ok(hybrid.hits.length > 0 && hybrid.hits[0].path.endsWith('retryUpload.ts'));
    } finally {
      await engine.close();
    }
  });

  it('keeps the unfinished index of a switch that was given up, and resumes it when that model is chosen again', async () => {
    const indexDir = await indexWithA();
    const ctrl = new AbortController();
    const toB = await FolderEngine.open(root, embB, chunker, { indexDir, onProgress: (p) => p.chunksEmbedded > 0 && ctrl.abort() });
    await toB.refresh(ctrl.signal);
    const buildFile = toB.indexer!.store.file;
    const kept = (await toB.indexer!.store.stats()).chunksWithVectors;
    await toB.close();
    assert.ok(kept > 0);
    const backToA = await FolderEngine.open(root, embA, chunker, { indexDir });
    try {
      assert.equal(backToA.switching, null);
      assert.equal(backToA.indexPath, path.join(indexDir, INDEX_FILE_NAME));
      assert.ok(fs.existsSync(buildFile));
      for (const q of QUERIES) assert.ok(same(toAnswer(await backToA.search(q, { mode: 'semantic', top: 5 })), refOld.get(q)!));
      assert.equal((await backToA.refresh()).textsEmbedded, 0, "A's index is complete: nothing to embed");
    } finally {
      await backToA.close();
    }
    const againB = await FolderEngine.open(root, embB, chunker, { indexDir, loadServingModel });
    try {
      assert.equal(againB.switching?.buildPath, buildFile);
      const s = await againB.refresh();
      assert.equal(s.chunksEmbedded, totalChunks - kept);
      for (const q of QUERIES) assert.ok(same(toAnswer(await againB.search(q, { mode: 'semantic', top: 5 })), refNew.get(q)!));
    } finally {
      await againB.close();
    }
  });

  describe('in the sidecar', function () {
    let big: string;
    let storage: string;
    let refNewBig: Map<string, Answer>;
    // The sidecar also has the static tier (the shipped static model): its references are built with it.
    let refOldTiers: Map<string, Answer>;
    let refNewTiers: Map<string, Answer>;
    let staticFingerprint: string;
    let bigChunks: number;
    const sidecars: ChildProcess[] = [];

    /** Start the sidecar on `ws` (default `big`) with `model`; progress reports go to `onProgress`. */
    async function startSidecar(
      model: string,
      onProgress: (p: IndexProgress) => void = () => undefined,
      o: { ws?: string; storageDir?: string; env?: NodeJS.ProcessEnv } = {},
    ): Promise<{ child: ChildProcess; conn: MessageConnection }> {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'out', 'server', 'front', 'sidecar', 'main.js'), '--stdio'], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, ...o.env },
      });
      sidecars.push(child);
      const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
      conn.onRequest('workspace/configuration', () => [{ model, device: 'cpu', indexOnStartup: true }]);
      conn.onRequest('client/registerCapability', () => null);
      conn.onNotification('window/logMessage', () => undefined);
      conn.onNotification(ProgressNotification, onProgress);
      conn.listen();
      await conn.sendRequest('initialize', {
        processId: process.pid,
        rootUri: null,
        capabilities: { workspace: { configuration: true } },
        workspaceFolders: [{ uri: pathToFileURL(o.ws ?? big).href, name: 'ws' }],
        initializationOptions: { storageDir: o.storageDir ?? storage },
      });
      await conn.sendNotification('initialized', {});
      return { child, conn };
    }

    async function waitFor(conn: MessageConnection, done: (s: StatusResult) => boolean): Promise<StatusResult> {
      for (let i = 0; i < 1500; i++) {
        const s = await conn.sendRequest(StatusRequest, {});
        if (s.health === 'error') throw new Error(s.message);
        if (done(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('timed out');
    }

    async function sidecarAnswers(conn: MessageConnection): Promise<Map<string, Answer>> {
      const out = new Map<string, Answer>();
      for (const q of QUERIES) out.set(q, toAnswer(await conn.sendRequest(SearchRequest, { query: q, mode: 'semantic', top: 5 })));
      return out;
    }

    before(async () => {
      big = makeWorkspace(5);
      storage = tmpDir('storage');
      const staticEmbedder = StaticEmbedder.loadDefault();
      staticFingerprint = staticEmbedder.info.fingerprint;
      const engine = await FolderEngine.open(big, embB, chunker, { indexDir: tmpDir('ref-big'), staticEmbedder });
      const s = await engine.refresh();
      bigChunks = s.chunks;
      refNewBig = await answers(engine);
      await engine.close();
      for (const [emb, set] of [
        [embA, (m: Map<string, Answer>) => (refOldTiers = m)],
        [embB, (m: Map<string, Answer>) => (refNewTiers = m)],
      ] as const) {
        const e = await FolderEngine.open(root, emb, chunker, { indexDir: tmpDir('ref-tiers'), staticEmbedder });
        assert.equal((await e.refresh()).complete, true);
        set(await answers(e));
        await e.close();
      }
      assert.ok(bigChunks >= 250, `${bigChunks} chunks`);
    });
    after(() => {
      for (const c of sidecars) c.kill('SIGKILL');
      fs.rmSync(big, { recursive: true, force: true });
    });

    it('re-embeds with progress after a model change, answers from the old index meanwhile, and resumes after a restart', async () => {
      // 1. Model A, indexed completely.
      const a = await startSidecar(MINILM_DIR);
      await waitFor(a.conn, (s) => s.health === 'ok' && !s.partial && s.folders[0]?.chunks === bigChunks);
      const oldAnswers = await sidecarAnswers(a.conn);
      for (const q of QUERIES) assert.ok(!same(oldAnswers.get(q)!, refNewBig.get(q)!));
      a.conn.dispose();
      a.child.kill('SIGKILL');

      // 2. Model B: the switch starts; searches still get A's answers; killed after the first batch.
      let killed: () => void;
      const killedAt = new Promise<void>((r) => (killed = r));
      let during: Map<string, Answer> | undefined;
      let statusDuring: StatusResult | undefined;
      const b = await startSidecar(modelB, (p) => {
        if (p.phase === 'embed' && p.chunksEmbedded > 0 && p.chunksEmbedded < bigChunks && !during) {
          during = new Map();
          void (async () => {
            statusDuring = await b.conn.sendRequest(StatusRequest, {});
            during = await sidecarAnswers(b.conn);
            b.child.kill('SIGKILL');
            killed();
          })();
        }
      });
      await killedAt;
      for (const q of QUERIES) assert.ok(same(during!.get(q)!, oldAnswers.get(q)!), `"${q}" answered by the old index during the switch`);
      assert.match(statusDuring!.message, /^switching model to semsearch-model-b-/);
      assert.match(statusDuring!.message, /searches use sentence-transformers\/all-MiniLM-L6-v2 until done/);
      assert.equal(statusDuring!.partial, false);
      const indexDir = path.dirname(statusDuring!.folders[0].indexPath);
      const buildFile = path.join(indexDir, `index-${embB.info.fingerprint}.sqlite`);
      const kept = (await vectorFingerprints(buildFile)).chunks - (await vectorFingerprints(buildFile)).pending;
      assert.ok(kept > 0 && kept < bigChunks, `${kept} chunks embedded before the kill`);

      // 3. Restarted with model B: answers from the old index at once, then resumes and switches.
      const progress: IndexProgress[] = [];
      const c = await startSidecar(modelB, (p) => progress.push(p));
      const first = await waitFor(c.conn, (s) => s.folders.length > 0);
      assert.equal(path.basename(first.folders[0].indexPath), INDEX_FILE_NAME);
      const done = await waitFor(c.conn, (s) => s.health === 'ok' && s.message === 'ready');
      assert.equal(done.folders[0].indexPath, buildFile, 'the new index answers');
      assert.equal(done.folders[0].chunksWithVectors, bigChunks);
      const last = progress.filter((p) => p.phase === 'done').pop()!;
      assert.equal(last.chunksEmbedded, bigChunks - kept, 'the restart embedded only what the killed run had not');
      assert.ok(
        progress.some((p) => p.phase === 'embed' && p.chunksEmbedded < last.chunksEmbedded),
        'progress reported while embedding',
      );
      const after = await sidecarAnswers(c.conn);
      for (const q of QUERIES) assert.ok(same(after.get(q)!, refNewBig.get(q)!), `"${q}" answered by the new model`);
      // The new model's vectors and the static tier's, nothing of the old model.
      assert.deepEqual((await vectorFingerprints(buildFile)).fingerprints, [embB.info.fingerprint, staticFingerprint].sort());
      assert.equal(fs.existsSync(path.join(indexDir, INDEX_FILE_NAME)), false);
      c.conn.dispose();
      c.child.kill('SIGKILL');
    });

    it('answers from the old index while the new model downloads from the Hub, then switches', async () => {
      const storageDir = tmpDir('storage-dl');
      const a = await startSidecar(MINILM_DIR, undefined, { ws: root, storageDir });
      await waitFor(a.conn, (s) => s.health === 'ok' && !s.partial && s.folders[0]?.chunks === totalChunks);
      const oldAnswers = await sidecarAnswers(a.conn);
      for (const q of QUERIES) assert.ok(same(oldAnswers.get(q)!, refOldTiers.get(q)!));
      a.conn.dispose();
      a.child.kill('SIGKILL');

      const hub = new FakeHub().add(
        repoFromFolder('test-org/minilm-b', modelB, [
          'config.json',
          'config_sentence_transformers.json',
          'modules.json',
          '1_Pooling/config.json',
          'sentence_bert_config.json',
          'special_tokens_map.json',
          'tokenizer.json',
          'tokenizer_config.json',
          'model.safetensors',
        ]),
      );
      await hub.start();
      const release = hub.hold('model.safetensors');
      try {
        let downloading: () => void;
        const started = new Promise<void>((r) => (downloading = r));
        const progress: IndexProgress[] = [];
        const b = await startSidecar(
          'test-org/minilm-b',
          (p) => {
            progress.push(p);
            if (p.phase === 'download') downloading();
          },
          { ws: root, storageDir, env: { HF_ENDPOINT: hub.url, HF_HUB_CACHE: tmpDir('hf'), HF_HUB_OFFLINE: '' } },
        );
        await started;
        const status = await waitFor(b.conn, (s) => s.folders.length > 0);
        assert.match(status.message, /^downloading test-org\/minilm-b: \d+% of \d+\.\d MB/);
        const during = await sidecarAnswers(b.conn);
        for (const q of QUERIES) assert.ok(same(during.get(q)!, oldAnswers.get(q)!), `"${q}" answered by the old index during the download`);
        release();
        const done = await waitFor(
          b.conn,
          (s) => s.health === 'ok' && s.message === 'ready' && path.basename(s.folders[0]?.indexPath ?? '').startsWith('index-'),
        );
        assert.equal(done.model?.id, 'test-org/minilm-b');
        assert.equal(done.folders[0].chunksWithVectors, totalChunks);
        const d = progress.filter((p) => p.phase === 'download');
        assert.equal(d[d.length - 1].bytesDone, d[d.length - 1].bytesTotal);
        const after = await sidecarAnswers(b.conn);
        for (const q of QUERIES) assert.ok(same(after.get(q)!, refNewTiers.get(q)!), `"${q}" answered by the downloaded model`);
        b.conn.dispose();
        b.child.kill('SIGKILL');
      } finally {
        release();
        await hub.close();
      }
    });
  });
});
