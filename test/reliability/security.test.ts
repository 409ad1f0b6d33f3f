// Security: the sidecar opens no network port; paths outside the workspace folders are refused
// (.., absolute, symlinks that leave); only safetensors weights are loaded; settings a workspace
// could set cannot point the native loader at files.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeModel } from '../../server/model/folder';
import type { ChunkAtResult, SearchResult } from '../../server/protocol';
import { SETTING_KEYS } from '../../server/protocol';
import { copyStorage, indexContent, indexFileOf, MINILM_DIR, REPO_ROOT, sharedIndex, sleep, tempDir, TestSidecar } from './support';
import { record } from './table';

/** Inodes of the sockets a process holds open. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Every socket of `pid`, classified: inet (tcp, udp, raw, v4 and v6), unix listening or named, unix unnamed. */
function sockets(pid: number): { inet: string[]; unixExposed: string[]; unixPrivate: number } {
  const mine = socketInodes(pid);
  const inet: string[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue; // no such protocol in this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && mine.has(f[9])) inet.push(`${table} ${f[1]} inode ${f[9]}`);
    }
  }
  const unixExposed: string[] = [];
  let unixPrivate = 0;
  for (const line of fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || !mine.has(f[6])) continue;
    const listening = (parseInt(f[3], 16) & 0x10000) !== 0; // __SO_ACCEPTCON
    const name = f[7];
    if (listening || name) unixExposed.push(`unix ${name ?? ''}${listening ? ' (listening)' : ''}`);
    else unixPrivate++;
  }
  return { inet, unixExposed, unixPrivate };
}

describe('reliability: security', function () {
  this.timeout(180_000);
  let root: string;
  let indexed: string;
  before(async function () {
    ({ root, storageDir: indexed } = await sharedIndex());
  });

  it('the sidecar opens no network port: no inet socket, no listening or named unix socket, while indexing and searching', async function () {
    if (process.platform !== 'linux') this.skip();
    const storageDir = tempDir('net');
    const sidecar = await TestSidecar.start({ roots: [root], storageDir });
    const looks: string[] = [];
    const look = (when: string) => {
      const s = sockets(sidecar.pid);
      assert.deepEqual(s.inet, [], `${when}: network sockets`);
      assert.deepEqual(s.unixExposed, [], `${when}: exposed unix sockets`);
      looks.push(`${when}: ${s.unixPrivate} unnamed unix socket(s)`);
    };
    try {
      look('started');
      await sidecar.waitForStatus((s) => s.folders[0]?.chunksWithVectors > 0, 60_000, 'indexing');
      look('indexing');
      await sidecar.waitIndexed();
      await sidecar.request<SearchResult>('semsearch/search', { query: 'compute value', top: 5 });
      look('after a search');
    } finally {
      await sidecar.stop();
    }
    record({
      area: 'security',
      what: 'network exposure of the sidecar process (/proc/<pid>/fd against /proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6,unix})',
      cases: '3 moments: started, indexing, after a search',
      outcome: `no TCP/UDP/raw socket, no listening or named unix socket (${looks.join('; ')}: the node IPC channel to the extension)`,
    });
  });

  it('requests and file events for paths outside the workspace folders are refused', async function () {
    const ws = tempDir('outside-ws');
    fs.cpSync(root, ws, { recursive: true, preserveTimestamps: true });
    const secretDir = tempDir('secret');
    fs.writeFileSync(path.join(secretDir, 'secret.ts'), 'export function leakedSecretToken() { return "hunter2"; }\n');
    // A sibling whose name starts with the workspace's: a prefix test would let it in.
    const sibling = `${ws}-evil`;
    fs.mkdirSync(sibling);
    fs.writeFileSync(path.join(sibling, 'x.ts'), 'export const siblingLeak = 1;\n');
    fs.symlinkSync(secretDir, path.join(ws, 'linkdir'));
    fs.symlinkSync(path.join(secretDir, 'secret.ts'), path.join(ws, 'src', 'link.ts'));
    const storageDir = tempDir('outside');
    const sidecar = await TestSidecar.start({ roots: [ws], storageDir });
    try {
      await sidecar.waitIndexed();
      const outside = [
        path.join(ws, '..', path.basename(secretDir), 'secret.ts'),
        path.join(ws, 'src', '..', '..', path.basename(secretDir), 'secret.ts'),
        path.join(secretDir, 'secret.ts'),
        '/etc/passwd',
        path.join(sibling, 'x.ts'),
        path.join(ws, 'linkdir', 'secret.ts'),
        path.join(ws, 'src', 'link.ts'),
      ];
      for (const file of outside) {
        await assert.rejects(
          sidecar.request('semsearch/findSimilar', { file, line: 1 }),
          (e: { code?: number; message?: string }) => e.code === -32602 && /outside the workspace folders/.test(e.message ?? ''),
          `findSimilar ${file}`,
        );
        const at = await sidecar.request<ChunkAtResult>('semsearch/chunkAt', { file, line: 1 });
        assert.equal(at.chunk, null, `chunkAt ${file}`);
      }
      // File events for outside paths change nothing; the symlinks stay out of the index.
      const before = await indexContent(indexFileOf(ws, storageDir));
      const events = [...outside, path.join(ws, 'linkdir'), path.join(ws, 'src', 'link.ts')].map((f) => ({ uri: pathToFileURL(f).href, type: 2 }));
      await sidecar.conn.sendNotification('workspace/didChangeWatchedFiles', { changes: events });
      await sleep(1500);
      await sidecar.waitForStatus((s) => s.health === 'ok', 60_000, 'idle');
      const after = await indexContent(indexFileOf(ws, storageDir));
      assert.deepEqual([...after.files.keys()].sort(), [...before.files.keys()].sort());
      for (const q of ['leakedSecretToken', 'hunter2', 'siblingLeak']) {
        const r = await sidecar.request<SearchResult>('semsearch/search', { query: q, mode: 'keyword' });
        assert.deepEqual(r.hits, [], `${q} must not be found`);
      }
      // A file of the index replaced by a link to a file outside, then reported changed.
      fs.rmSync(path.join(ws, 'src', 'm3.ts'));
      fs.symlinkSync(path.join(secretDir, 'secret.ts'), path.join(ws, 'src', 'm3.ts'));
      // A folder of the index replaced by a link to a folder outside holding a file of the same name.
      fs.mkdirSync(path.join(secretDir, 'src2'));
      fs.writeFileSync(path.join(secretDir, 'src2', 'm4.ts'), 'export function leakedThroughFolder() {}\n');
      fs.mkdirSync(path.join(ws, 'src2'));
      fs.renameSync(path.join(ws, 'src', 'm4.ts'), path.join(ws, 'src2', 'm4.ts'));
      await sidecar.conn.sendNotification('workspace/didChangeWatchedFiles', {
        changes: [
          { uri: pathToFileURL(path.join(ws, 'src2', 'm4.ts')).href, type: 1 },
          { uri: pathToFileURL(path.join(ws, 'src', 'm4.ts')).href, type: 3 },
        ],
      });
      await sleep(1500);
      await sidecar.waitForStatus((s) => s.health === 'ok', 60_000, 'idle');
      fs.rmSync(path.join(ws, 'src2'), { recursive: true });
      fs.symlinkSync(path.join(secretDir, 'src2'), path.join(ws, 'src2'));
      await sidecar.conn.sendNotification('workspace/didChangeWatchedFiles', {
        changes: [
          { uri: pathToFileURL(path.join(ws, 'src', 'm3.ts')).href, type: 2 },
          { uri: pathToFileURL(path.join(ws, 'src2', 'm4.ts')).href, type: 2 },
        ],
      });
      await sleep(1500);
      await sidecar.waitForStatus((s) => s.health === 'ok', 60_000, 'idle');
      for (const q of ['leakedSecretToken', 'leakedThroughFolder']) {
        const r = await sidecar.request<SearchResult>('semsearch/search', { query: q, mode: 'keyword' });
        assert.deepEqual(
          r.hits.map((h) => h.path),
          [],
          `${q}: read through a link that leaves the workspace`,
        );
      }
    } finally {
      await sidecar.stop();
    }
    record({
      area: 'security',
      what: 'paths outside the workspace: .., absolute, a sibling folder sharing the name prefix, links to a folder and to a file outside; a file and a folder swapped for such links after indexing',
      cases: '7 paths × findSimilar and chunkAt; 9 file events; 2 swaps',
      outcome:
        'findSimilar refused each with InvalidParams "<path>: outside the workspace folders", chunkAt answered null; events changed nothing; nothing behind a link that leaves the workspace was ever indexed or found',
    });
  });

  it('only safetensors weights are loaded: a pickle checkpoint is refused, and no code reads one', async function () {
    const onlyBin = tempDir('pickle');
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(MINILM_DIR, f), path.join(onlyBin, f));
    // A PyTorch zip checkpoint's first bytes (a pickle inside a zip): never opened.
    fs.writeFileSync(path.join(onlyBin, 'pytorch_model.bin'), Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]));
    assert.throws(
      () => describeModel(onlyBin),
      /missing model\.safetensors \(only pytorch_model\.bin is present; pickle weights are never loaded, use a safetensors export\)/,
    );
    // The same bytes under the safetensors name: its header is checked before anything else.
    const disguised = tempDir('disguised');
    for (const f of fs.readdirSync(onlyBin)) fs.copyFileSync(path.join(onlyBin, f), path.join(disguised, f === 'pytorch_model.bin' ? 'model.safetensors' : f));
    assert.throws(() => describeModel(disguised), /model\.safetensors is not a safetensors file/);
    // Through the sidecar: the error with its fix; keyword search answers.
    const sidecar = await TestSidecar.start({ roots: [root], storageDir: copyStorage(indexed), settings: { model: onlyBin } });
    try {
      const s = await sidecar.waitForStatus((x) => x.health !== 'indexing', 60_000, 'start-up');
      assert.match(s.message, /pickle weights are never loaded, use a safetensors export/);
      assert.equal((await sidecar.request<SearchResult>('semsearch/search', { query: 'mod9Value1' })).hits[0]?.symbol, 'mod9Value1');
    } finally {
      await sidecar.stop();
    }
    // No code path reads a pickle: the sources name pytorch_model.bin only to refuse it, and
    // nothing unpickles (no torch, no pickle module, no .bin/.pt/.pth loader).
    const sources = [
      ...listFiles(path.join(REPO_ROOT, 'server'), '.ts'),
      ...listFiles(path.join(REPO_ROOT, 'native'), '.cc'),
      ...listFiles(path.join(REPO_ROOT, 'native'), '.h'),
    ];
    const hits: string[] = [];
    for (const f of sources) {
      fs.readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/pickle|unpickl|torch\.load|\.pth\b|\.pt\b|pytorch_model/i.test(line)) hits.push(`${path.relative(REPO_ROOT, f)}:${i + 1}: ${line.trim()}`);
        });
    }
    const refusal = hits.filter((h) => /^server\/model\/folder\.ts:/.test(h));
    assert.ok(refusal.length >= 1, 'model/folder.ts refuses pytorch_model.bin');
    assert.ok(
      hits.every((h) => /^server\/model\/folder\.ts:.*(pytorch_model\.bin|pickle weights are never loaded)/.test(h) || /^server\/model\/hub\//.test(h)),
      `unexpected mentions of pickle checkpoints:\n${hits.join('\n')}`,
    );
    record({
      area: 'security',
      what: 'pickle weights: a folder with only pytorch_model.bin; the same bytes named model.safetensors; a scan of server/ and native/ for pickle loaders',
      cases: `2 folders, ${sources.length} source files`,
      outcome:
        'refused ("only pytorch_model.bin is present; pickle weights are never loaded, use a safetensors export"; "not a safetensors file"); the sidecar showed it and answered keyword searches; no code opens a pickle',
    });
  });

  it('settings a workspace can set cannot point the native loader at files; a model folder of special files is refused', async function () {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      capabilities: { untrustedWorkspaces: { supported: string | boolean; restrictedConfigurations?: string[] } };
      contributes: { configuration: { properties: Record<string, { scope?: string }> } };
    };
    const props = manifest.contributes.configuration.properties;
    // Settings that choose files or devices for native code: machine scope (never read from a
    // workspace) and restricted in untrusted workspaces.
    for (const key of ['semsearch.model', 'semsearch.device']) {
      assert.equal(props[key].scope, 'machine', key);
      assert.ok(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations?.includes(key), `${key} restricted`);
    }
    // Every other setting a workspace may set is a search or walk option, none a path for the loader.
    const workspaceSettable = Object.entries(props)
      .filter(([, p]) => p.scope !== 'machine' && p.scope !== 'application')
      .map(([k]) => k);
    const loaderKeys = [`semsearch.${SETTING_KEYS.model}`, `semsearch.${SETTING_KEYS.device}`];
    assert.deepEqual(
      workspaceSettable.filter((k) => loaderKeys.includes(k)),
      [],
    );
    // The sidecar's side: whatever folder it is given, it opens fixed file names there, checks
    // them, and never blocks on or executes them. A folder of special files (a FIFO would block a
    // reader forever) and /etc are refused at once.
    const special = tempDir('special');
    fs.copyFileSync(path.join(MINILM_DIR, 'config.json'), path.join(special, 'config.json'));
    fs.copyFileSync(path.join(MINILM_DIR, 'tokenizer.json'), path.join(special, 'tokenizer.json'));
    const fifo = path.join(special, 'model.safetensors');
    const mk = spawnSync('mkfifo', [fifo]);
    assert.equal(mk.status, 0, 'mkfifo');
    const outcomes: string[] = [];
    for (const dir of [special, '/etc', '/dev']) {
      const sidecar = await TestSidecar.start({ roots: [root], storageDir: copyStorage(indexed), settings: { model: dir } });
      try {
        const s = await sidecar.waitForStatus((x) => x.health !== 'indexing', 20_000, `start-up with model ${dir}`);
        // The transformer is refused; the fast (static) tier still answers, so this is a warning.
        assert.equal(s.health, 'warning');
        assert.match(s.message, new RegExp(`^The model could not be loaded: ${dir.replace(/[/.]/g, '\\$&')}`));
        outcomes.push(
          s.message
            .replace(/^The model could not be loaded: /, '')
            .replace(/\. Set .*$/, '')
            .replace(special, '<folder>'),
        );
      } finally {
        await sidecar.stop();
      }
    }
    record({
      area: 'security',
      what: 'settings from an untrusted workspace: the manifest, and the sidecar given hostile model folders (a FIFO as model.safetensors, /etc, /dev)',
      cases: `${Object.keys(props).length} settings; 3 folders`,
      outcome: `semsearch.model and semsearch.device are machine-scoped and restricted in untrusted workspaces; no workspace-settable setting reaches the loader; hostile folders refused at once (${outcomes.map((o) => `"${o}"`).join('; ')})`,
    });
  });
});

function listFiles(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(ext))
    .map((d) => path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name));
}
