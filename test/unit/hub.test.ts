// Model download from a Hub: a local server (test/support/fakeHub.ts) answers the Hub's API the way
// huggingface.co does and serves the real MiniLM files, so a downloaded model is loaded and embeds.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder } from '../../server/model/embedder';
import { cachedSnapshot, DownloadProgress, downloadModel, repoCacheDir } from '../../server/model/hub';
import { resolveModel } from '../../server/model/locate';
import { FakeHub, FakeRepo, gitSha1, repoFromFolder, sha256 } from '../support/fakeHub';
import { MINILM_DIR, REPO_ROOT } from '../support/paths';

const ID = 'test-org/minilm-copy';
const MODEL_FILES = [
  'config.json',
  'config_sentence_transformers.json',
  'modules.json',
  '1_Pooling/config.json',
  'sentence_bert_config.json',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'model.safetensors',
];
/** What a downloaded snapshot must hold: everything above, and nothing else. */
const EXPECTED = [...MODEL_FILES].sort();
const ENV_KEYS = [
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH',
  'HF_HUB_OFFLINE',
  'HF_ENDPOINT',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_HOME',
  'SEMSEARCH_MODELS_DIR',
];

/** The MiniLM repository as the Hub holds it: model files plus a README, vocab.txt and pickle weights. */
function minilmRepo(id = ID): FakeRepo {
  const repo = repoFromFolder(id, MINILM_DIR, [...MODEL_FILES, 'README.md', 'vocab.txt']);
  repo.files.set('pytorch_model.bin', { bytes: Buffer.from('pickle weights: never fetched'), lfs: true });
  return repo;
}

/** A tiny repository (the weights are not a real model: for tests that only move bytes). */
function tinyRepo(id: string, files: Record<string, string>): FakeRepo {
  const map = new Map(Object.entries(files).map(([p, text]) => [p, { bytes: Buffer.from(text), lfs: p.endsWith('.safetensors') || p.endsWith('.bin') }]));
  return { id, commit: gitSha1(Buffer.from(id)), files: map };
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out.sort();
}

describe('Hub download (against a local Hub)', function () {
  this.timeout(120_000);
  let hub: FakeHub;
  let cacheDir: string;
  const savedEnv: Record<string, string | undefined> = {};

  before(() => {
    for (const k of ENV_KEYS) {
      savedEnv[k] = process.env[k];
      delete process.env[k];
    }
  });
  after(() => {
    for (const k of ENV_KEYS) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });
  beforeEach(async () => {
    hub = new FakeHub().add(minilmRepo());
    await hub.start();
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-hub-'));
  });
  afterEach(async () => {
    await hub.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('downloads the model files into the Hugging Face cache layout, with progress and verified hashes, and the model embeds', async () => {
    const events: DownloadProgress[] = [];
    const desc = await resolveModel(ID, { hubUrl: hub.url, cacheDir, onProgress: (p) => events.push(p) });
    const repo = repoCacheDir(ID, cacheDir);
    const commit = minilmRepo().commit;
    assert.equal(desc.dir, path.join(repo, 'snapshots', commit));
    assert.equal(desc.id, ID);
    assert.equal(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8'), commit);
    assert.deepEqual(listTree(desc.dir), EXPECTED, 'exactly the files a model needs: no README, vocab.txt or pickle weights');
    // Snapshot entries are relative symlinks to blobs named by sha256 (LFS) or git sha1.
    const weights = fs.readFileSync(path.join(MINILM_DIR, 'model.safetensors'));
    const link = fs.readlinkSync(path.join(desc.dir, 'model.safetensors'));
    assert.equal(link, `../../blobs/${sha256(weights)}`);
    const cfg = fs.readFileSync(path.join(MINILM_DIR, '1_Pooling/config.json'));
    assert.equal(fs.readlinkSync(path.join(desc.dir, '1_Pooling/config.json')), `../../../blobs/${gitSha1(cfg)}`);
    assert.deepEqual(
      fs.readdirSync(path.join(repo, 'blobs')).filter((f) => f.includes('.')),
      [],
      'no .incomplete or temporary file left',
    );
    assert.equal(hub.requests.filter((r) => /pytorch_model|README|vocab/.test(r.url)).length, 0);

    // Progress: per file, bytes only grow, and the last report covers every byte of every file.
    const total = MODEL_FILES.reduce((n, f) => n + fs.statSync(path.join(MINILM_DIR, f)).size, 0);
    assert.ok(events.length >= MODEL_FILES.length * 2);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].bytesDone >= events[i - 1].bytesDone, 'bytesDone never decreases');
    const last = events[events.length - 1];
    assert.deepEqual([last.bytesDone, last.bytesTotal, last.filesDone, last.fileCount], [total, total, MODEL_FILES.length, MODEL_FILES.length]);
    const weightEvents = events.filter((e) => e.file === 'model.safetensors');
    assert.ok(
      weightEvents.some((e) => e.fileBytesDone > 0 && e.fileBytesDone < e.fileBytesTotal),
      'progress inside the weights file',
    );

    const downloaded = await Embedder.load(desc, { device: 'cpu' });
    const local = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    try {
      const [a] = await downloaded.embed(['retry with exponential backoff'], { kind: 'query' });
      const [b] = await local.embed(['retry with exponential backoff'], { kind: 'query' });
      assert.equal(a.length, 384);
      assert.deepEqual(Array.from(a), Array.from(b));
      assert.equal(downloaded.info.fingerprint, local.info.fingerprint);
    } finally {
      downloaded.dispose();
      local.dispose();
    }

    // A second resolve uses the cache without a single request.
    const before = hub.requests.length;
    assert.equal((await resolveModel(ID, { hubUrl: hub.url, cacheDir })).dir, desc.dir);
    assert.equal(hub.requests.length, before);
  });

  it('resumes a file whose connection was cut, with a Range request, and gets the right bytes', async () => {
    const cutAt = 30 * 1024 * 1024;
    hub.cutOnce = { path: 'model.safetensors', afterBytes: cutAt };
    const dir = await downloadModel(ID, { hubUrl: hub.url, cacheDir, retryDelayMs: 10 });
    const ranged = hub.requestsTo('/cdn/').filter((r) => r.range && r.range !== 'bytes=0-0');
    assert.equal(ranged.length, 1, `one resumed transfer, saw ${JSON.stringify(hub.requestsTo('/cdn/'))}`);
    const from = Number(/^bytes=(\d+)-$/.exec(ranged[0].range!)?.[1]);
    assert.ok(from > 0 && from <= cutAt, `resumed from byte ${from}`);
    const weights = fs.readFileSync(path.join(MINILM_DIR, 'model.safetensors'));
    assert.equal(sha256(fs.readFileSync(path.join(dir, 'model.safetensors'))), sha256(weights));
  });

  it('keeps the partial file of an interrupted run and continues it on the next run', async () => {
    hub.cutOnce = { path: 'model.safetensors', afterBytes: 20 * 1024 * 1024 };
    await assert.rejects(downloadModel(ID, { hubUrl: hub.url, cacheDir, retries: 0 }), (e: Error) => {
      assert.match(e.message, /^test-org\/minilm-copy: model\.safetensors: download failed after 1 attempts: .*; run again to resume it$/);
      return true;
    });
    const repo = repoCacheDir(ID, cacheDir);
    const partial = fs.readdirSync(path.join(repo, 'blobs')).filter((f) => f.endsWith('.incomplete'));
    assert.equal(partial.length, 1);
    const kept = fs.statSync(path.join(repo, 'blobs', partial[0])).size;
    assert.ok(kept > 0);
    assert.equal(fs.existsSync(path.join(repo, 'refs', 'main')), false, 'no ref to an incomplete snapshot');
    assert.equal(cachedSnapshot(ID, { cacheDir }), undefined);

    const dir = await downloadModel(ID, { hubUrl: hub.url, cacheDir });
    assert.ok(
      hub.requestsTo('/cdn/').some((r) => r.range === `bytes=${kept}-`),
      'the second run asked for the rest only',
    );
    assert.equal(sha256(fs.readFileSync(path.join(dir, 'model.safetensors'))), sha256(fs.readFileSync(path.join(MINILM_DIR, 'model.safetensors'))));
    assert.deepEqual(cachedSnapshot(ID, { cacheDir })?.missing, []);
  });

  it("rejects a file whose bytes do not match the Hub's hash, leaving nothing in snapshots/", async () => {
    hub.corrupt.add('model.safetensors');
    await assert.rejects(downloadModel(ID, { hubUrl: hub.url, cacheDir }), (e: Error) => {
      assert.match(
        e.message,
        /^test-org\/minilm-copy: model\.safetensors: the downloaded bytes do not match the Hub's sha256 \(expected [0-9a-f]{64}, got [0-9a-f]{64}\); the file was discarded/,
      );
      return true;
    });
    const repo = repoCacheDir(ID, cacheDir);
    const snapshotFiles = listTree(path.join(repo, 'snapshots'));
    assert.ok(!snapshotFiles.some((f) => f.endsWith('model.safetensors')), `snapshots/ holds ${snapshotFiles.join(', ')}`);
    assert.deepEqual(
      fs.readdirSync(path.join(repo, 'blobs')).filter((f) => f.endsWith('.incomplete') || f.length === 64),
      [],
      'no weights blob, no partial file',
    );
    assert.equal(fs.existsSync(path.join(repo, 'refs', 'main')), false);

    // A git-stored file is checked against its git sha1 the same way.
    hub.corrupt.clear();
    hub.corrupt.add('tokenizer.json');
    await assert.rejects(
      downloadModel(ID, { hubUrl: hub.url, cacheDir: fs.mkdtempSync(path.join(cacheDir, 'b-')) }),
      /tokenizer\.json: the downloaded bytes do not match the Hub's git sha1/,
    );
  });

  it('never makes a request in offline mode: a clear error when not cached, the cached copy when it is', async () => {
    await assert.rejects(resolveModel(ID, { hubUrl: hub.url, cacheDir, offline: true }), (e: Error) => {
      assert.match(
        e.message,
        /^test-org\/minilm-copy: no local copy \(looked in .*\), and offline mode is on .*go online once to download it, or give a model folder$/,
      );
      return true;
    });
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await assert.rejects(resolveModel(ID, { hubUrl: hub.url, cacheDir }), /offline mode is on/);
      await assert.rejects(downloadModel(ID, { hubUrl: hub.url, cacheDir }), /offline mode is on/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(hub.requests.length, 0, 'no request reached the server');

    await downloadModel(ID, { hubUrl: hub.url, cacheDir });
    const online = hub.requests.length;
    process.env.HF_HUB_OFFLINE = 'true';
    try {
      const desc = await resolveModel(ID, { hubUrl: hub.url, cacheDir });
      assert.deepEqual(listTree(desc.dir), EXPECTED);
      assert.equal(await downloadModel(ID, { hubUrl: hub.url, cacheDir }), desc.dir);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(hub.requests.length, online, 'offline use of the cached copy made no request');
  });

  it('fetches a file once when two downloads of the model run at the same time', async () => {
    const [a, b] = await Promise.all([downloadModel(ID, { hubUrl: hub.url, cacheDir }), downloadModel(ID, { hubUrl: hub.url, cacheDir })]);
    assert.equal(a, b);
    const weightTransfers = hub.requestsTo('/cdn/').filter((r) => r.range !== 'bytes=0-0');
    assert.equal(weightTransfers.length, 1, JSON.stringify(weightTransfers));
    assert.equal(sha256(fs.readFileSync(path.join(a, 'model.safetensors'))), sha256(fs.readFileSync(path.join(MINILM_DIR, 'model.safetensors'))));
    assert.deepEqual(listTree(path.join(cacheDir, '.locks')), [], 'locks released');
  });

  it('refuses a repository that has only pickle weights', async () => {
    hub.add(tinyRepo('test-org/pickle-only', { 'config.json': '{"model_type":"bert"}', 'tokenizer.json': '{}', 'pytorch_model.bin': 'pickle' }));
    await assert.rejects(resolveModel('test-org/pickle-only', { hubUrl: hub.url, cacheDir }), (e: Error) => {
      assert.equal(
        e.message,
        'test-org/pickle-only: the repository has no safetensors weights (only pickle weights (pytorch_model.bin)); ' +
          'semsearch never loads pickle files (.bin, .pt): choose a model that publishes model.safetensors, or convert this one and give its folder with --model',
      );
      return true;
    });
    assert.equal(hub.requests.filter((r) => r.url.includes('/resolve/') || r.url.startsWith('/cdn/')).length, 0, 'no file was fetched');
    assert.equal(fs.existsSync(path.join(repoCacheDir('test-org/pickle-only', cacheDir), 'blobs', sha256(Buffer.from('pickle')))), false);
  });

  it('downloads sharded weights with their index', async () => {
    const index = JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } });
    hub.add(
      tinyRepo('test-org/sharded', {
        'config.json': '{}',
        'tokenizer.json': '{}',
        'model.safetensors.index.json': index,
        'model-00001-of-00002.safetensors': 'shard one',
        'model-00002-of-00002.safetensors': 'shard two',
        'pytorch_model.bin': 'x',
      }),
    );
    const dir = await downloadModel('test-org/sharded', { hubUrl: hub.url, cacheDir });
    assert.deepEqual(listTree(dir), [
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
    ]);
    assert.deepEqual(cachedSnapshot('test-org/sharded', { cacheDir })?.missing, []);
  });

  it('sends HF_TOKEN for a gated model and says how to get access without one', async () => {
    const repo = tinyRepo('test-org/gated', { 'config.json': '{}', 'tokenizer.json': '{}', 'model.safetensors': 'weights' });
    repo.gatedToken = 'hf_goodtoken';
    hub.add(repo);
    await assert.rejects(
      downloadModel('test-org/gated', { hubUrl: hub.url, cacheDir }),
      /^ModelError: test-org\/gated: model information: the Hub refused access \(401\): .*set HF_TOKEN to an access token/,
    );
    process.env.HF_TOKEN = 'hf_othertoken';
    try {
      await assert.rejects(
        downloadModel('test-org/gated', { hubUrl: hub.url, cacheDir }),
        /has no access \(403\); accept the model's terms at http:\/\/127\.0\.0\.1:\d+\/test-org\/gated/,
      );
      process.env.HF_TOKEN = 'hf_goodtoken';
      const dir = await downloadModel('test-org/gated', { hubUrl: hub.url, cacheDir });
      assert.equal(fs.readFileSync(path.join(dir, 'model.safetensors'), 'utf8'), 'weights');
      assert.ok(hub.requestsTo('/cdn/').every((r) => r.authorization === 'Bearer hf_goodtoken'));
    } finally {
      delete process.env.HF_TOKEN;
    }
  });

  it('semsearch --model <hub id> downloads on first use with progress on stderr; --offline makes no request', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir };
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'semsearch'), ...args], { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const offline = await run(['embed', 'hello', '--model', ID, '--offline', '--json']);
    assert.equal(offline.code, 2);
    assert.match(offline.stderr, /^semsearch: test-org\/minilm-copy: no local copy \(looked in .*\), and offline mode is on/);
    assert.equal(hub.requests.length, 0);

    const first = await run(['embed', 'hello', '--model', ID, '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /semsearch: test-org\/minilm-copy: not downloaded yet; fetching 9 files \(\d+\.\d MB\) from the Hugging Face Hub\n/);
    assert.match(first.stderr, /semsearch: downloading test-org\/minilm-copy: 100% {2}(\d+\.\d)\/\1 MB {2}\(file 9\/9: /);
    assert.match(first.stderr, /semsearch: test-org\/minilm-copy: downloaded to .*snapshots\/[0-9a-f]{40}\n/);
    assert.equal((JSON.parse(first.stdout) as { dim: number }).dim, 384);

    const requests = hub.requests.length;
    const again = await run(['embed', 'hello', '--model', ID, '--offline', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '');
    assert.deepEqual(JSON.parse(again.stdout), JSON.parse(first.stdout));
    assert.equal(hub.requests.length, requests);
  });

  it('names the model and the fix when the model is unknown or the Hub unreachable', async () => {
    await assert.rejects(
      downloadModel('test-org/nothing', { hubUrl: hub.url, cacheDir }),
      /^ModelError: test-org\/nothing: model information: not found on http:\/\/127\.0\.0\.1:\d+ \(404\); check the model id and HF_ENDPOINT$/,
    );
    const closed = hub.url;
    await hub.close();
    process.env.HF_ENDPOINT = closed;
    try {
      await assert.rejects(
        resolveModel(ID, { cacheDir }),
        /^ModelError: test-org\/minilm-copy: model information: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); check the network connection or HF_ENDPOINT/,
      );
    } finally {
      delete process.env.HF_ENDPOINT;
    }
    await assert.rejects(resolveModel('not a model id!', { cacheDir }), /^ModelError: not a model id!: not a model folder, and not a Hugging Face model id/);
  });
});
