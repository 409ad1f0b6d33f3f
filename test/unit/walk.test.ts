/**
 * Walker: a temp tree with every rule and failure the walk must survive. Each path is either
 * yielded (and then read as text, or skipped by readEntry with a reason) or skipped by the walk
 * with the expected reason; nothing throws.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileEntry, isMinified, readEntry, SkippedFile, walk, WalkItem, WalkOptions } from '../../server/index/walk';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** Expected outcome per relPath: 'text' (walked and readable), or the reason it is skipped (walk or read). */
type Outcome = 'text' | SkippedFile['reason'];

async function collect(root: string, options: WalkOptions = {}, signal?: AbortSignal): Promise<WalkItem[]> {
  const items: WalkItem[] = [];
  for await (const item of walk(root, options, signal)) items.push(item);
  return items;
}

/** Walk, then read every yielded file: relPath → outcome. */
async function outcomes(root: string, options: WalkOptions = {}): Promise<Map<string, Outcome>> {
  const out = new Map<string, Outcome>();
  for (const item of await collect(root, options)) {
    if (item.type === 'skip') {
      assert.ok(!out.has(item.skipped.relPath), `${item.skipped.relPath} reported twice`);
      out.set(item.skipped.relPath, item.skipped.reason);
      continue;
    }
    const e = item.entry;
    assert.ok(!out.has(e.relPath), `${e.relPath} yielded twice`);
    assert.equal(e.absPath, path.join(path.resolve(root), e.relPath));
    const r = await readEntry(e, options);
    out.set(e.relPath, r.type === 'text' ? 'text' : r.skipped.reason);
  }
  return out;
}

function write(root: string, rel: string, data: string | Buffer): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, data);
}

describe('walk', function () {
  this.timeout(60000); // temp trees and big files; the machine may be busy
  let tmp: string;
  let root: string;
  let outside: string;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-walk-'));
    root = path.join(tmp, 'ws');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(root);
    write(outside, 'secret.ts', 'export const key = 1;\n');

    // Ignore files: root .gitignore with negation, a nested one, info/exclude, .semsearchignore.
    write(root, '.gitignore', '*.log\n!keep.log\nbuild/\n/rootonly.txt\ndist/\n');
    write(root, '.semsearchignore', 'docs/generated/\n!dist/\n');
    write(root, '.git/info/exclude', 'secret.txt\n');
    write(root, '.git/HEAD', 'ref: refs/heads/main\n');
    write(root, 'a.ts', 'export const a = 1;\n');
    write(root, 'x.log', 'log\n');
    write(root, 'keep.log', 'kept\n');
    write(root, 'build/out.js', 'x\n');
    write(root, 'rootonly.txt', 'r\n');
    write(root, 'secret.txt', 's\n');
    write(root, 'dist/bundle.js', 'const d = 1;\n');
    write(root, 'docs/readme.md', '# Docs\n');
    write(root, 'docs/generated/api.md', '# API\n');
    write(root, 'sub/rootonly.txt', 'anchored rules apply at the root only\n');
    write(root, 'sub/.gitignore', '*.tmp\n!important.log\n');
    write(root, 'sub/important.log', 'deeper negation wins\n');
    write(root, 'sub/x.tmp', 't\n');
    write(root, 'sub/deeper/y.tmp', 't\n');
    write(root, 'sub/deeper/z.py', 'z = 1\n');
    // Exclude globs: defaults (node_modules, lockfiles) and settings.
    write(root, 'node_modules/pkg/index.js', 'module.exports = 1;\n');
    write(root, 'package-lock.json', '{}\n');
    write(root, 'snap/a.snap', 'snap\n');
    write(root, 'vendor/lib/v.go', 'package v\n');
    // Hidden: dot-folders skipped, dotfiles kept.
    write(root, '.cache/c.js', 'c\n');
    write(root, '.eslintrc.js', 'module.exports = {};\n');
    // Contents: binary, not UTF-8, BOM, minified, too large, empty, long.
    write(root, 'bin.dat', Buffer.from([1, 2, 0, 3]));
    write(root, 'latin1.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in Latin-1
    write(root, 'bom.ts', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('export const b = 2;\n')]));
    write(root, 'empty.txt', '');
    write(root, 'long.ts', Array.from({ length: 20000 }, (_, i) => `export const v${i} = ${i};`).join('\n'));
    const minLine = 'var a=function(b){return b*2},c=[1,2,3].map(a);'.repeat(40000); // ~2 MB, one line
    write(root, 'small.min.js', `/*! lib v1 */\n${minLine}\n`);
    // 50 MB minified file: skipped from stat, never read.
    const fd = fs.openSync(path.join(root, 'huge.min.js'), 'w');
    const block = Buffer.from('var a=function(b){return b*2};'.repeat(34000)); // ~1 MB
    for (let i = 0; i < 50; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
    // 60-deep folders.
    write(root, `${Array.from({ length: 60 }, (_, i) => `d${i}`).join('/')}/leaf.txt`, 'deep\n');
    // Symlinks: inside (file, dir), loops, outside, broken.
    fs.symlinkSync('a.ts', path.join(root, 'link-to-a.ts'));
    fs.symlinkSync('sub/deeper', path.join(root, 'linkdir'));
    fs.symlinkSync('..', path.join(root, 'sub', 'up')); // sub/up → root: a loop
    fs.symlinkSync('selfloop', path.join(root, 'selfloop')); // ELOOP
    fs.symlinkSync(path.join(outside, 'secret.ts'), path.join(root, 'out-file.ts'));
    fs.symlinkSync(outside, path.join(root, 'out-dir'));
    fs.symlinkSync('missing.ts', path.join(root, 'broken.ts'));
    // A FIFO: never opened (reading it would block).
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
  });

  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('yields or skips every path with the expected reason', async () => {
    const got = await outcomes(root, { exclude: ['**/*.snap', 'vendor/**'] });
    const expected: Record<string, Outcome> = {
      '.git': 'excluded',
      '.gitignore': 'text',
      '.semsearchignore': 'text',
      'a.ts': 'text',
      'x.log': 'ignored',
      'keep.log': 'text',
      build: 'ignored',
      'rootonly.txt': 'ignored',
      'secret.txt': 'ignored',
      'dist/bundle.js': 'text',
      'docs/readme.md': 'text',
      'docs/generated': 'ignored',
      'sub/.gitignore': 'text',
      'sub/rootonly.txt': 'text',
      'sub/important.log': 'text',
      'sub/x.tmp': 'ignored',
      'sub/deeper/y.tmp': 'ignored',
      'sub/deeper/z.py': 'text',
      node_modules: 'excluded',
      'package-lock.json': 'excluded',
      'snap/a.snap': 'excluded',
      vendor: 'excluded',
      '.cache': 'hidden',
      '.eslintrc.js': 'text',
      'bin.dat': 'binary',
      'latin1.txt': 'not-utf8',
      'bom.ts': 'text',
      'empty.txt': 'text',
      'long.ts': 'text',
      'small.min.js': 'too-large',
      'huge.min.js': 'too-large',
      [`${Array.from({ length: 60 }, (_, i) => `d${i}`).join('/')}/leaf.txt`]: 'text',
      'link-to-a.ts': 'text',
      // Rules follow the path as walked (as ripgrep does): sub/.gitignore is not above linkdir/.
      'linkdir/y.tmp': 'text',
      'linkdir/z.py': 'text',
      'sub/up': 'symlink-loop',
      selfloop: 'symlink-loop',
      'out-file.ts': 'symlink-outside',
      'out-dir': 'symlink-outside',
      'broken.ts': 'symlink-broken',
      pipe: 'special',
    };
    assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries(Object.entries(expected).sort()));
  });

  it('reads text: BOM dropped, sha256 of the stored bytes, empty file is empty text', async () => {
    const items = await collect(root);
    const entry = (rel: string): FileEntry => {
      const it = items.find((i) => i.type === 'file' && i.entry.relPath === rel);
      assert.ok(it !== undefined && it.type === 'file', rel);
      return it.entry;
    };
    const bom = await readEntry(entry('bom.ts'));
    assert.equal(bom.type, 'text');
    if (bom.type !== 'text') return;
    assert.equal(bom.text, 'export const b = 2;\n');
    assert.equal(
      bom.hash,
      createHash('sha256')
        .update(fs.readFileSync(path.join(root, 'bom.ts')))
        .digest('hex'),
    );
    const empty = await readEntry(entry('empty.txt'));
    assert.deepEqual(empty, { type: 'text', text: '', hash: createHash('sha256').update('').digest('hex') });
    const e = entry('a.ts');
    assert.equal(e.size, 20);
    assert.ok(e.mtimeMs > 0);
    assert.equal(e.root, root);
    const long = await readEntry(entry('long.ts'));
    assert.equal(long.type === 'text' && long.text.split('\n').length, 20000);
  });

  it('with maxFileBytes raised, a minified file under the limit is skipped as minified; the 50 MB one still from stat', async () => {
    const items = await collect(root, { maxFileBytes: 4 * 1024 * 1024 });
    const min = items.find((i) => i.type === 'file' && i.entry.relPath === 'small.min.js');
    assert.ok(min !== undefined && min.type === 'file');
    const r = await readEntry(min.entry, { maxFileBytes: 4 * 1024 * 1024 });
    assert.equal(r.type === 'skip' && r.skipped.reason, 'minified');
    const huge = items.find((i) => i.type === 'skip' && i.skipped.relPath === 'huge.min.js');
    assert.equal(huge?.type === 'skip' && huge.skipped.reason, 'too-large');
  });

  it('a file deleted between walk and read is vanished', async () => {
    write(root, 'gone.ts', 'x\n');
    try {
      const items = await collect(root);
      const it = items.find((i) => i.type === 'file' && i.entry.relPath === 'gone.ts');
      assert.ok(it !== undefined && it.type === 'file');
      fs.rmSync(path.join(root, 'gone.ts'));
      const r = await readEntry(it.entry);
      assert.deepEqual(r.type === 'skip' && r.skipped.reason, 'vanished');
    } finally {
      fs.rmSync(path.join(root, 'gone.ts'), { force: true });
    }
  });

  it('a FIFO swapped in after the walk is skipped as special without blocking', async () => {
    const entry: FileEntry = { root, absPath: path.join(root, 'pipe'), relPath: 'pipe', size: 0, mtimeMs: 0 };
    const r = await readEntry(entry);
    assert.equal(r.type === 'skip' && r.skipped.reason, 'special');
  });

  it('a folder deleted mid-walk (after listing, before its turn) is reported vanished', async () => {
    const t = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-walk-'));
    try {
      write(t, 'a/1.txt', '1\n');
      write(t, 'b/2.txt', '2\n');
      const seen: WalkItem[] = [];
      for await (const item of walk(t, {})) {
        seen.push(item);
        if (item.type === 'file' && item.entry.relPath === 'a/1.txt') fs.rmSync(path.join(t, 'b'), { recursive: true });
      }
      assert.deepEqual(
        seen.map((i) => (i.type === 'file' ? i.entry.relPath : `${i.skipped.relPath}:${i.skipped.reason}`)),
        ['a/1.txt', 'b:vanished'],
      );
    } finally {
      fs.rmSync(t, { recursive: true, force: true });
    }
  });

  it('unreadable file and folder (chmod 000; needs a non-root user)', async function () {
    if (IS_ROOT) this.skip(); // root reads through chmod 000; the next test covers the error path as root
    const t = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-walk-'));
    try {
      write(t, 'locked.txt', 'x\n');
      write(t, 'closed/in.txt', 'x\n');
      fs.chmodSync(path.join(t, 'locked.txt'), 0o000);
      fs.chmodSync(path.join(t, 'closed'), 0o000);
      const got = await outcomes(t);
      assert.equal(got.get('locked.txt'), 'unreadable');
      assert.equal(got.get('closed'), 'unreadable');
    } finally {
      fs.chmodSync(path.join(t, 'closed'), 0o755);
      fs.rmSync(t, { recursive: true, force: true });
    }
  });

  it('an I/O error other than ENOENT maps to unreadable (ENAMETOOLONG, which root cannot bypass)', async () => {
    const name = `${'n'.repeat(300)}.ts`;
    const entry: FileEntry = { root, absPath: path.join(root, name), relPath: name, size: 1, mtimeMs: 0 };
    const r = await readEntry(entry);
    assert.equal(r.type, 'skip');
    if (r.type !== 'skip') return;
    assert.equal(r.skipped.reason, 'unreadable');
    assert.equal(r.skipped.detail, 'ENAMETOOLONG');
  });

  it('defaults can be turned off; .git is still never entered', async () => {
    const got = await outcomes(root, { defaultExcludes: [], useIgnoreFiles: false, includeHiddenDirs: true });
    assert.equal(got.get('node_modules/pkg/index.js'), 'text');
    assert.equal(got.get('x.log'), 'text');
    assert.equal(got.get('.cache/c.js'), 'text');
    assert.equal(got.get('.git'), 'excluded');
    assert.ok(![...got.keys()].some((k) => k.startsWith('.git/')));
  });

  it('streams: a 5,000-file folder tree yields everything, in a stable order', async () => {
    const t = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-walk-'));
    try {
      for (let d = 0; d < 50; d++) {
        fs.mkdirSync(path.join(t, `dir${d}`));
        for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(t, `dir${d}`, `f${f}.txt`), `${d}/${f}\n`);
      }
      const a = (await collect(t)).map((i) => (i.type === 'file' ? i.entry.relPath : '?'));
      const b = (await collect(t)).map((i) => (i.type === 'file' ? i.entry.relPath : '?'));
      assert.equal(a.length, 5000);
      assert.deepEqual(a, b);
      assert.equal(new Set(a).size, 5000);
    } finally {
      fs.rmSync(t, { recursive: true, force: true });
    }
  });

  it('stops with the abort reason when the signal aborts', async () => {
    const ac = new AbortController();
    const seen: WalkItem[] = [];
    await assert.rejects(async () => {
      for await (const item of walk(root, {}, ac.signal)) {
        seen.push(item);
        ac.abort(new Error('stop'));
      }
    }, /stop/);
    assert.ok(seen.length >= 1 && seen.length < 40);
  });

  it('a missing root throws', async () => {
    await assert.rejects(collect(path.join(tmp, 'nope')), /ENOENT/);
  });

  describe('isMinified', () => {
    it('flags bundles and one-line data, not prose or ordinary code', () => {
      const bundle = '!function(e){var t={};function n(r){if(t[r])return t[r].exports}}'.repeat(200);
      assert.ok(isMinified(bundle, 'a.js'));
      assert.ok(isMinified(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, v: 'x' }))), 'a.json'));
      const prose = Array.from({ length: 5 }, () => 'This is a long paragraph written on one line as many people do. '.repeat(12)).join('\n');
      assert.ok(!isMinified(prose, 'notes.txt'));
      assert.ok(!isMinified(prose, 'notes.html'), 'blank share of prose is above the threshold');
      const b64 = Array.from({ length: 100 }, (_, i) => Buffer.from(`block ${i} `.repeat(20)).toString('base64').slice(0, 76)).join('\n');
      assert.ok(isMinified(`export const WASM = \`\n${b64}\n\`;\n`, 'blob.ts'), 'wrapped base64');
      const code = Array.from({ length: 200 }, (_, i) => `export function f${i}(a: number): number { return a + ${i}; }`).join('\n');
      assert.ok(!isMinified(code, 'a.ts'));
      const withHashes = `${code}\n${Array.from({ length: 5 }, (_, i) => `const h${i} = '${'0f'.repeat(32)}';`).join('\n')}\n`;
      assert.ok(!isMinified(withHashes, 'a.ts'), 'a few hashes in code');
    });
  });
});
