/**
 * Chunker: per-language fixtures (symbols, kinds, lines), the partition property (no line in two
 * chunks, every non-trivial line in one), containers without their members' text, token budgets
 * and splits, windows for files without a grammar, fallbacks, and size/time robustness.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chunk, ChunkOptions, Chunker, GRAMMAR_WASM_FILES, RUNTIME_WASM } from '../../server/index/chunk';
import { locate } from '../../server/index/chunk/treeSitter';
import { isTrivial } from '../../server/index/chunk/windows';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/chunk');

/** A stand-in tokenizer: words and punctuation marks, plus two special tokens. */
function countTokens(text: string): number {
  return (text.match(/\w+|[^\s\w]/g) ?? []).length + 2;
}

const OPTS: ChunkOptions = { maxTokens: 512, countTokens };

/** Assert the chunks partition `text`: ordered, disjoint, exact text, every non-trivial line covered, within budget. */
function assertPartition(text: string, chunks: Chunk[], opts: ChunkOptions = OPTS): void {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const covered = new Uint8Array(lines.length + 1);
  let prevEnd = 0;
  for (const c of chunks) {
    assert.ok(c.startLine >= 1 && c.startLine <= c.endLine && c.endLine <= lines.length, `${c.relPath}: bad range ${c.startLine}-${c.endLine}`);
    assert.ok(c.startLine > prevEnd, `${c.relPath}: chunk ${c.startLine}-${c.endLine} overlaps the one ending at ${prevEnd}`);
    prevEnd = c.endLine;
    assert.equal(c.text, lines.slice(c.startLine - 1, c.endLine).join('\n'), `${c.relPath}:${c.startLine}: text differs from the file`);
    assert.ok(c.embedText.endsWith(c.text) || c.startLine === c.endLine, `${c.relPath}:${c.startLine}: embedText does not end with text`);
    assert.ok(opts.countTokens(c.embedText) <= opts.maxTokens, `${c.relPath}:${c.startLine}: embedText over budget`);
    for (let l = c.startLine; l <= c.endLine; l++) covered[l] = 1;
  }
  lines.forEach((line, i) => {
    if (!isTrivial(line)) assert.equal(covered[i + 1], 1, `line ${i + 1} not in any chunk: ${JSON.stringify(line)}`);
  });
}

/** [kind, symbol, startLine, endLine, first line of text (prefix)] of every non-section chunk. */
type Expect = [string, string | null, number, number, string];

const EXPECTED: Record<string, Expect[]> = {
  'sample.c': [
    ['struct', 'node', 6, 10, '/* A list node. */'],
    ['function', 'push', 16, 22, '/* Pushes a value. *'],
    ['function', 'main', 24, 28, 'int main(void) {'],
  ],
  'sample.cpp': [
    ['module', 'geo', 4, 4, 'namespace geo {'],
    ['class', 'Shape', 6, 10, '// A shape.'],
    ['method', 'name', 12, 15, 'std::string name() c'],
    ['class', 'Shape', 17, 19, 'private:'],
    ['struct', 'Point', 21, 24, 'struct Point {'],
    ['function', 'maxOf', 26, 31, 'template <typename T'],
    ['method', 'area', 33, 36, 'double Circle::area('],
  ],
  'sample.cs': [
    ['module', 'Example.App', 4, 5, 'namespace Example.Ap'],
    ['class', 'Order', 6, 10, '/// <summary>An orde'],
    ['method', 'Order', 12, 16, 'public Order(int id)'],
    ['method', 'Add', 18, 23, '[Obsolete("use AddLi'],
    ['interface', 'IStore', 26, 29, 'public interface ISt'],
    ['enum', 'Status', 31, 35, 'public enum Status'],
    ['struct', 'Money', 37, 41, 'public struct Money'],
  ],
  'sample.go': [
    ['struct', 'Server', 10, 14, '// Server holds stat'],
    ['interface', 'Handler', 16, 19, '// Handler handles t'],
    ['method', 'Start', 21, 26, '// Start starts the '],
    ['function', 'shout', 28, 31, 'func shout(msg strin'],
    ['function', 'main', 33, 36, 'func main() {'],
  ],
  'sample.h': [['struct', 'config', 4, 7, 'struct config {']],
  'sample.java': [
    ['class', 'Repository', 6, 11, '/**'],
    ['method', 'Repository', 13, 16, 'public Repository() '],
    ['method', 'add', 18, 24, '/** Adds a name. */'],
    ['interface', 'Listener', 26, 28, 'public interface Lis'],
    ['enum', 'Mode', 30, 33, 'enum Mode {'],
  ],
  'sample.js': [
    ['function', 'readJson', 4, 10, '/**'],
    ['class', 'Queue', 12, 12, 'class Queue {'],
    ['method', 'constructor', 13, 15, 'constructor() {'],
    ['method', 'push', 17, 20, 'push(item) {'],
    ['method', 'drain', 22, 26, '*drain() {'],
    ['function', 'sum', 29, 32, 'const sum = function'],
  ],
  'sample.kt': [
    ['class', 'Stack', 5, 7, '/** A stack. */'],
    ['method', 'push', 9, 12, 'fun push(item: T) {'],
    ['method', 'pop', 14, 18, 'fun pop(): T? {'],
    ['function', 'biggest', 21, 24, 'fun biggest(a: Int, '],
    ['class', 'Registry', 26, 28, 'object Registry {'],
  ],
  'sample.lua': [
    ['function', 'M.add', 5, 9, '-- Adds two numbers.'],
    ['function', 'clamp', 11, 16, 'local function clamp'],
    ['function', 'greet', 18, 21, 'function greet(name)'],
  ],
  'sample.php': [
    ['class', 'User', 7, 12, '/**'],
    ['method', 'slug', 14, 18, 'public function slug'],
    ['method', 'findByEmail', 20, 25, '#[Deprecated]'],
    ['interface', 'HasName', 28, 31, 'interface HasName'],
    ['function', 'helper', 33, 37, 'function helper(arra'],
  ],
  'sample.py': [
    ['function', 'read_text', 8, 11, 'def read_text(path: '],
    ['class', 'Flask', 14, 19, '@dataclass'],
    ['method', '__init__', 21, 23, 'def __init__(self, n'],
    ['method', 'route', 25, 30, '# Registers a route.'],
    ['method', 'run', 32, 35, 'async def run(self, '],
  ],
  'sample.rb': [
    ['module', 'Util', 5, 6, '# Utilities.'],
    ['method', 'parse', 7, 11, '# Parses JSON.'],
    ['class', 'Cart', 14, 15, 'class Cart'],
    ['method', 'initialize', 17, 20, 'def initialize'],
    ['method', 'add', 22, 26, 'def add(item, price)'],
  ],
  'sample.rs': [
    ['struct', 'Point', 6, 11, '/// A point in space'],
    ['enum', 'Shape', 13, 16, 'pub enum Shape {'],
    ['trait', 'Area', 18, 20, 'pub trait Area {'],
    ['impl', 'Point', 22, 22, 'impl Point {'],
    ['method', 'new', 23, 27, '/// Creates a point.'],
    ['method', 'norm', 29, 32, 'pub fn norm(&self) -'],
    ['impl', 'Point', 35, 35, 'impl fmt::Display fo'],
    ['method', 'fmt', 36, 39, 'fn fmt(&self, f: &mu'],
    ['module', 'util', 42, 42, 'mod util {'],
    ['function', 'count', 43, 46, 'pub fn count(m: &Has'],
    ['function', 'main', 49, 52, 'fn main() {'],
  ],
  'sample.scala': [
    ['class', 'Counter', 5, 7, '/** A counter. */'],
    ['method', 'inc', 9, 12, 'def inc(): Int = {'],
    ['method', 'reset', 14, 17, 'def reset(): Unit = '],
    ['trait', 'Greeter', 20, 22, 'trait Greeter {'],
    ['class', 'Main', 24, 24, 'object Main {'],
    ['method', 'main', 25, 28, 'def main(args: Array'],
  ],
  'sample.sh': [
    ['function', 'log', 6, 10, '# Prints a message.'],
    ['function', 'cleanup', 12, 15, 'function cleanup {'],
  ],
  'sample.ts': [
    ['interface', 'Shape', 6, 10, '/** A shape with an '],
    ['enum', 'Color', 12, 15, 'export enum Color {'],
    ['class', 'UserStore', 19, 25, '/**'],
    ['method', 'add', 27, 33, '/** Adds a user. */'],
    ['method', 'remove', 35, 40, '@logged'],
    ['function', 'loadConfig', 43, 47, 'export async functio'],
    ['function', 'double', 49, 52, 'export const double '],
    ['module', 'Internal', 54, 54, 'namespace Internal {'],
    ['function', 'helper', 55, 58, 'export function help'],
  ],
  'sample.tsx': [
    ['interface', 'Props', 3, 5, 'interface Props {'],
    ['function', 'Header', 7, 10, 'export function Head'],
    ['class', 'Counter', 12, 13, 'export class Counter'],
    ['method', 'render', 15, 18, 'render() {'],
  ],
  'sample.zig': [
    ['struct', 'Buffer', 5, 8, '/// A fixed buffer.'],
    ['method', 'push', 10, 13, 'pub fn push(self: *B'],
    ['function', 'main', 16, 20, 'pub fn main() void {'],
    ['function', 'test "push"', 22, 25, 'test "push" {'],
  ],
};

describe('chunk', function () {
  this.timeout(60000); // temp trees and big files; the machine may be busy
  let chunker: Chunker;
  before(async () => {
    chunker = await Chunker.create();
  });
  after(() => chunker.dispose());

  describe('fixtures', () => {
    for (const [file, expected] of Object.entries(EXPECTED)) {
      it(`${file}: definitions, doc comments and partition`, async () => {
        const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
        const chunks = await chunker.chunk(file, text, OPTS);
        assertPartition(text, chunks);
        const got = chunks
          .filter((c) => c.kind !== 'section')
          .map((c): Expect => [c.kind, c.symbol, c.startLine, c.endLine, c.text.split('\n')[0].trim().slice(0, 20)]);
        assert.deepEqual(got, expected);
        for (const c of chunks) assert.equal(c.language, chunker.languageOf(file));
      });
    }

    it('has a fixture for every grammar', () => {
      const langs = new Set(Object.keys(EXPECTED).map((f) => chunker.languageOf(f)));
      for (const lang of Object.keys(GRAMMAR_WASM_FILES)) assert.ok(langs.has(lang), `no fixture for ${lang}`);
    });

    it('finds every grammar .wasm on disk', () => {
      assert.ok(fs.existsSync(locate(RUNTIME_WASM, undefined)));
      for (const f of Object.values(GRAMMAR_WASM_FILES)) assert.ok(fs.existsSync(locate(f, undefined)), `${f.package}/${f.file}`);
    });
  });

  describe('structure', () => {
    it('a class chunk holds its header and fields, not its methods', async () => {
      const text = fs.readFileSync(path.join(FIXTURES, 'sample.ts'), 'utf8');
      const chunks = await chunker.chunk('src/sample.ts', text, OPTS);
      const cls = chunks.filter((c) => c.symbol === 'UserStore');
      assert.equal(cls.length, 1);
      assert.match(cls[0].text, /private users = new Map/);
      assert.doesNotMatch(cls[0].text, /this\.users\.set|this\.users\.delete/);
      const add = chunks.find((c) => c.symbol === 'add')!;
      assert.equal(add.container, 'UserStore');
      assert.match(add.text, /this\.users\.set\(id, name\)/);
      assert.match(add.embedText, /^\/\/ path: src\/sample\.ts\n\/\/ in: export class UserStore\n\/\/ add\(id: string, name: string\): void\n/);
    });

    it('nested containers give a dotted container name; Go receivers and C++ qualifiers name the owner', async () => {
      const java = await chunker.chunk('R.java', fs.readFileSync(path.join(FIXTURES, 'sample.java'), 'utf8'), OPTS);
      assert.equal(java.find((c) => c.symbol === 'Listener')?.container, 'Repository');
      const cs = await chunker.chunk('O.cs', fs.readFileSync(path.join(FIXTURES, 'sample.cs'), 'utf8'), OPTS);
      assert.equal(cs.find((c) => c.symbol === 'Add')?.container, 'Example.App.Order');
      const go = await chunker.chunk('s.go', fs.readFileSync(path.join(FIXTURES, 'sample.go'), 'utf8'), OPTS);
      const start = go.find((c) => c.symbol === 'Start')!;
      assert.equal(start.container, 'Server');
      assert.match(start.embedText, /^\/\/ path: s\.go\n\/\/ in: Server\n\/\/ func \(s \*Server\) Start\(port int\) error\n/);
      const cpp = await chunker.chunk('s.cpp', fs.readFileSync(path.join(FIXTURES, 'sample.cpp'), 'utf8'), OPTS);
      assert.equal(cpp.find((c) => c.symbol === 'area')?.container, 'geo.Circle');
    });

    it('Python headers use # and drop the trailing colon', async () => {
      const py = await chunker.chunk('app.py', fs.readFileSync(path.join(FIXTURES, 'sample.py'), 'utf8'), OPTS);
      const route = py.find((c) => c.symbol === 'route')!;
      assert.ok(route.embedText.startsWith('# path: app.py\n# in: class Flask\n# def route(rule, **options)\n    # Registers a route.\n    @staticmethod\n'));
    });

    it('small members (under minDefLines) stay in their container', async () => {
      const src = 'class A {\n  get x() { return 1; }\n  set x(v) { }\n  long() {\n    const a = 1;\n    return a;\n  }\n}\n';
      const chunks = await chunker.chunk('a.js', src, OPTS);
      assert.deepEqual(
        chunks.map((c) => [c.kind, c.symbol, c.startLine, c.endLine]),
        [
          ['class', 'A', 1, 3],
          ['method', 'long', 4, 7],
        ],
      );
      assertPartition(src, chunks);
    });
  });

  describe('budgets', () => {
    it('splits an oversize function on line boundaries, each part within maxTokens, with overlap in embedText only', async () => {
      const body = Array.from({ length: 600 }, (_, i) => `  const v${i} = compute(${i}, "item${i}");`);
      const src = ['/** Big. */', 'function big(a, b) {', ...body, '  return a + b;', '}', ''].join('\n');
      // Overlap context may take up to a quarter of the budget: 3 lines of ~13 tokens fit in 256.
      const opts: ChunkOptions = { maxTokens: 256, countTokens, overlapLines: 3 };
      const chunks = await chunker.chunk('big.js', src, opts);
      assert.ok(chunks.length > 5, `${chunks.length} parts`);
      assertPartition(src, chunks, opts);
      for (const c of chunks) {
        assert.equal(c.kind, 'function');
        assert.equal(c.symbol, 'big');
        assert.ok(c.embedText.startsWith('// path: big.js\n// function big(a, b)\n'), c.embedText.slice(0, 80));
      }
      // Lines are shared by nothing, but part k+1 shows the model the last 3 lines of part k.
      for (let i = 1; i < chunks.length; i++) {
        const prevLines = chunks[i - 1].text.split('\n');
        const context = prevLines.slice(-3).join('\n');
        assert.ok(chunks[i].embedText.includes(`${context}\n${chunks[i].text}`), `part ${i} lacks overlap`);
      }
      assert.equal(chunks[0].startLine, 1);
      assert.equal(chunks[chunks.length - 1].endLine, 604);
    });

    it('a tokenizer whose counts do not add up per line still gets parts within budget', async () => {
      // Superlinear in the number of lines: row sums underestimate, so real counts must decide.
      const odd = (t: string): number => countTokens(t) + Math.floor(t.split('\n').length ** 2 / 20);
      const body = Array.from({ length: 400 }, (_, i) => `  total += item${i} * ${i};`);
      const src = ['function sum(items) {', '  let total = 0;', ...body, '  return total;', '}', ''].join('\n');
      const opts: ChunkOptions = { maxTokens: 300, countTokens: odd };
      const chunks = await chunker.chunk('odd.js', src, opts);
      assert.ok(chunks.length > 3);
      assertPartition(src, chunks, opts);
    });

    it('one line longer than the budget: text kept whole, embedText cut to fit', async () => {
      const line = `const data = [${Array.from({ length: 20000 }, (_, i) => i).join(', ')}];`;
      const src = `// header\n${line}\n`;
      const chunks = await chunker.chunk('data.js', src, OPTS);
      assertPartition(src, chunks);
      const big = chunks.find((c) => c.text === line)!;
      assert.ok(big !== undefined);
      assert.ok(countTokens(big.embedText) <= OPTS.maxTokens);
    });
  });

  describe('windows', () => {
    it('Markdown: one section per heading, with its parent headings as container', async () => {
      const md = '# Title\n\nIntro text.\n\n## Install\n\nRun it.\n\n```sh\n# not a heading\nnpm i\n```\n\n### Linux\n\nApt.\n\n## Use\n\nCall it.\n';
      const chunks = await chunker.chunk('README.md', md, OPTS);
      assertPartition(md, chunks);
      assert.deepEqual(
        chunks.map((c) => [c.kind, c.symbol, c.container, c.startLine, c.endLine]),
        [
          ['section', 'Title', null, 1, 3],
          ['section', 'Install', 'Title', 5, 12],
          ['section', 'Linux', 'Title > Install', 14, 16],
          ['section', 'Use', 'Title', 18, 20],
        ],
      );
      assert.equal(chunks[2].embedText, 'path: README.md\nin: Title > Install\n### Linux\n\nApt.');
      assert.equal(chunks[0].language, 'markdown');
    });

    it('JSON and unknown files: windows of at most windowLines, cut at blank lines when possible', async () => {
      const json = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i })) }, null, 2);
      const chunks = await chunker.chunk('data.json', json, { ...OPTS, windowLines: 40 });
      assertPartition(json, chunks);
      assert.ok(chunks.length >= json.split('\n').length / 40);
      for (const c of chunks) {
        assert.equal(c.kind, 'window');
        assert.equal(c.language, 'json');
        assert.ok(c.endLine - c.startLine + 1 <= 40);
      }
      const paras = Array.from({ length: 30 }, (_, i) => `para ${i} line a\npara ${i} line b\npara ${i} line c\n`).join('\n');
      const text = await chunker.chunk('notes.xyz', paras, { ...OPTS, windowLines: 10 });
      assertPartition(paras, text);
      for (const c of text) {
        assert.equal(c.language, 'text');
        assert.match(c.text, /line a\n.*line b\n.*line c$/s, 'windows end at paragraph ends');
      }
    });

    it('empty and blank files give no chunks', async () => {
      assert.deepEqual(await chunker.chunk('a.ts', '', OPTS), []);
      assert.deepEqual(await chunker.chunk('a.md', '\n\n  \n', OPTS), []);
      assert.deepEqual(await chunker.chunk('a.txt', '', OPTS), []);
    });
  });

  describe('robustness', () => {
    it('syntax errors: definitions still found where they parse, partition holds', async () => {
      const src = 'function ok() {\n  return 1;\n}\n\nclass Broken {\n  method( {\n    let x = ;\n  }\n\nfunction after() {\n  return 2;\n}\n';
      const chunks = await chunker.chunk('broken.ts', src, OPTS);
      assertPartition(src, chunks);
      assert.ok(chunks.some((c) => c.symbol === 'ok' && c.kind === 'function'));
    });

    it('CRLF line endings: same chunks as LF, no \\r in text', async () => {
      const lf = fs.readFileSync(path.join(FIXTURES, 'sample.py'), 'utf8');
      const crlf = lf.replace(/\n/g, '\r\n');
      const a = await chunker.chunk('a.py', lf, OPTS);
      const b = await chunker.chunk('a.py', crlf, OPTS);
      assert.deepEqual(b, a);
      assertPartition(crlf, b);
    });

    it('unicode identifiers and text', async () => {
      const src =
        '// 日本語のコメント 😀\nfunction grüße(名前) {\n  const s = `héllo ${名前} 😀`;\n  return s;\n}\n\nclass Ünïcode {\n  método() {\n    return "ñ";\n  }\n}\n';
      const chunks = await chunker.chunk('u.js', src, OPTS);
      assertPartition(src, chunks);
      assert.deepEqual(
        chunks.map((c) => c.symbol),
        ['grüße', 'Ünïcode', 'método'],
      );
      assert.equal(chunks[0].startLine, 1, 'the comment above is attached');
    });

    it('a flat wasmDir (as packaged) serves the runtime and every grammar, in a fresh process', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-wasm-'));
      try {
        for (const f of [RUNTIME_WASM, ...Object.values(GRAMMAR_WASM_FILES)]) fs.copyFileSync(locate(f, undefined), path.join(dir, f.file));
        const script = `
          const { Chunker } = require(${JSON.stringify(path.resolve(__dirname, '../../server/index/chunk'))});
          const fs = require('fs'), path = require('path');
          (async () => {
            const c = await Chunker.create({ wasmDir: ${JSON.stringify(dir)} });
            const out = {};
            for (const f of fs.readdirSync(${JSON.stringify(FIXTURES)})) {
              const chunks = await c.chunk(f, fs.readFileSync(path.join(${JSON.stringify(FIXTURES)}, f), 'utf8'), { maxTokens: 4096, countTokens: (t) => t.length });
              out[f] = chunks.filter((k) => k.kind !== 'section' && k.kind !== 'window').length;
            }
            process.stdout.write(JSON.stringify(out));
          })();`;
        const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
        assert.equal(res.status, 0, res.stderr);
        const counts = JSON.parse(res.stdout) as Record<string, number>;
        for (const [file, expected] of Object.entries(EXPECTED)) assert.equal(counts[file], expected.length, file);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a missing grammar falls back to windows (and says why)', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-wasm-'));
      try {
        fs.copyFileSync(locate(RUNTIME_WASM, undefined), path.join(dir, RUNTIME_WASM.file));
        const bare = await Chunker.create({ wasmDir: dir });
        const text = fs.readFileSync(path.join(FIXTURES, 'sample.ts'), 'utf8');
        const chunks = await bare.chunk('sample.ts', text, OPTS);
        bare.dispose();
        assertPartition(text, chunks);
        assert.ok(chunks.length > 0 && chunks.every((c) => c.kind === 'window' && c.language === 'typescript'));
        assert.match(bare.grammarFailure('typescript') ?? '', /tree-sitter-typescript\.wasm/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a parse over its time limit falls back to windows, and the parser recovers', async () => {
      const src = bigFile(20000);
      const chunks = await chunker.chunk('big.ts', src, { ...OPTS, parseTimeoutMs: 0 });
      assertPartition(src, chunks);
      assert.ok(chunks.every((c) => c.kind === 'window'));
      const next = await chunker.chunk('s.ts', fs.readFileSync(path.join(FIXTURES, 'sample.ts'), 'utf8'), OPTS);
      assert.ok(next.some((c) => c.symbol === 'UserStore'));
    });

    it('a 20,000-line file is chunked within a few seconds', async () => {
      const src = bigFile(20000);
      const t0 = performance.now();
      const chunks = await chunker.chunk('big.ts', src, OPTS);
      const ms = performance.now() - t0;
      assertPartition(src, chunks);
      assert.ok(chunks.filter((c) => c.kind === 'function').length >= 1500);
      assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
    });
  });
});

/** TypeScript of about `lines` lines: functions of ten lines with constants between them. */
function bigFile(lines: number): string {
  const out: string[] = ["import { x } from './x';", ''];
  for (let i = 0; out.length < lines; i++) {
    out.push(`/** Function number ${i}. */`, `export function f${i}(a: number): number {`);
    for (let j = 0; j < 6; j++) out.push(`  const v${j} = a * ${j} + ${i};`);
    out.push('  return a;', '}', `const c${i} = ${i};`, '');
  }
  return out.join('\n');
}
