// Fuzzing: the chunker, the tokenizer path and every protocol request's parameters, with random
// and malformed inputs from one printed seed (SEMSEARCH_FUZZ_SEED=<seed> replays a run).
// No crash, no hang (every case has a time limit), errors typed.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Chunk, Chunker, LANGUAGE_SPECS, languageOf } from '../../server/index/chunk';
import { isTrivial } from '../../server/index/chunk/windows';
import { Embedder } from '../../server/model/embedder';
import type { SearchResult } from '../../server/protocol';
import { copyStorage, MINILM_DIR, Random, runSeed, sharedIndex, TestSidecar, withTimeout } from './support';
import { record } from './table';

/** One file extension per language the chunker knows (every grammar, plus prose and data). */
const EXTENSIONS = ['ts', 'tsx', 'js', 'py', 'go', 'rs', 'java', 'c', 'cpp', 'cs', 'rb', 'php', 'sh', 'scala', 'kt', 'lua', 'zig', 'md', 'txt', 'json', 'yaml'];

/** Pieces of source text that stress parsers: openers without closers, strings, comments, keywords. */
const FRAGMENTS = [
  'function f(a, b) {',
  'class A {',
  'def f(x):\n    ',
  'fn main() {',
  'impl X for Y {',
  'struct S {',
  'interface I {',
  'module M',
  'package p;',
  'func (r *R) M() {',
  'public static void main(String[] a) {',
  'template <typename T>',
  '#include <x.h>',
  '#define X(a) a',
  'end',
  'fi',
  'done',
  '}',
  '{',
  '(',
  ')',
  '[',
  ']',
  '<',
  '>',
  '"',
  "'",
  '`',
  '${',
  '"""',
  "'''",
  '/*',
  '*/',
  '//',
  '#',
  '--',
  '<!--',
  '-->',
  '\\',
  '\n',
  '\n\n',
  '\t',
  '    ',
  '=>',
  '::',
  '->',
  ';',
  ',',
  '.',
  '@decorator',
  'async ',
  'await ',
  'yield',
  'return x;',
  'if (x) {',
  'else {',
  'while (1) {',
  'match x {',
  'case 1:',
  '<<EOF\n',
  'EOF\n',
  'local x = {',
  'const x = `',
  'r#"',
  '"#',
  '\r\n',
  '\r',
  '\u2028',
  '\u00a0',
  'λ',
  '變數',
  '🙂',
  '\u0301',
  '\u200b',
  '\u202e',
];

function randomUnicode(r: Random, length: number): string {
  const out: string[] = [];
  for (let i = 0; i < length; i++) {
    const kind = r.int(0, 9);
    if (kind < 4) out.push(String.fromCharCode(r.int(0x20, 0x7e)));
    else if (kind === 4)
      out.push(String.fromCharCode(r.int(0, 0x1f))); // control characters
    else if (kind === 5) out.push(String.fromCodePoint(r.int(0xa0, 0x2fff)));
    else if (kind === 6) out.push(String.fromCodePoint(r.int(0x4e00, 0x9fff)));
    else if (kind === 7) out.push(String.fromCodePoint(r.int(0x1f300, 0x1faff)));
    else if (kind === 8)
      out.push(String.fromCharCode(r.int(0xd800, 0xdfff))); // lone surrogates
    else out.push(r.pick(['\n', ' ', '\t', '\u0301', '\u200d', '\ufeff', '\ufffd']));
  }
  return out.join('');
}

/** A random source text of one of several shapes; `name` says which (for the failure message). */
function randomSource(r: Random, extreme: boolean): { name: string; text: string } {
  switch (extreme ? r.int(4, 6) : r.pick([0, 1, 2, 3, 7])) {
    case 0:
      return { name: 'random bytes as UTF-8', text: r.bytes(r.int(0, 4000)).toString('utf8') };
    case 1:
      return { name: 'random unicode', text: randomUnicode(r, r.int(0, 3000)) };
    case 2:
    case 3: {
      const parts: string[] = [];
      for (let n = r.int(1, 400); n > 0; n--) parts.push(r.bool(0.7) ? r.pick(FRAGMENTS) : `id${r.int(0, 999)} `);
      return { name: 'source fragments', text: parts.join(r.bool() ? ' ' : '') };
    }
    case 4: {
      const depth = r.int(1000, 3000);
      const [open, close] = r.pick([
        ['{', '}'],
        ['(', ')'],
        ['[', ']'],
        ['<', '>'],
        ['def f():\n' + ' ', ''],
      ]);
      const body = r.bool() ? 'x' : 'function g() { return 1; }';
      return { name: `${depth} nested ${open.trim() || 'indents'}`, text: open.repeat(depth) + body + (r.bool(0.7) ? close.repeat(depth) : '') };
    }
    case 5: {
      const n = r.int(50_000, 200_000);
      return { name: `one line of ${n} chars`, text: r.bool() ? 'a'.repeat(n) : `const x = [${'1,'.repeat(n / 2)}];` };
    }
    case 6:
      return { name: 'many short lines', text: Array.from({ length: r.int(5000, 20_000) }, (_, i) => (i % 7 ? `x${i} = ${i};` : '')).join('\n') };
    default:
      return { name: 'empty or blank', text: r.pick(['', '\n', '   \n\t\n', '\r\n\r\n', '\ufeff', '}\n}\n)']) };
  }
}

/** Check what the chunker promises (chunk/index.ts): sorted, disjoint line ranges; texts equal to the lines; every meaningful line covered; embedText within the budget. */
function checkChunks(text: string, chunks: Chunk[], maxTokens: number, countTokens: (t: string) => number): void {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  let last = 0;
  const covered = new Uint8Array(lines.length + 1);
  for (const c of chunks) {
    assert.ok(
      Number.isInteger(c.startLine) && Number.isInteger(c.endLine) && c.startLine >= 1 && c.endLine >= c.startLine,
      `bad range ${c.startLine}-${c.endLine}`,
    );
    assert.ok(c.startLine > last, `overlap or disorder at ${c.startLine} (previous end ${last})`);
    assert.ok(c.endLine <= lines.length, `range ${c.startLine}-${c.endLine} beyond ${lines.length} lines`);
    assert.equal(c.text, lines.slice(c.startLine - 1, c.endLine).join('\n'), `text of ${c.startLine}-${c.endLine}`);
    assert.ok(countTokens(c.embedText) <= maxTokens, `embedText of ${c.startLine}-${c.endLine} over ${maxTokens} tokens`);
    for (let l = c.startLine; l <= c.endLine; l++) covered[l] = 1;
    last = c.endLine;
  }
  lines.forEach((l, i) => assert.ok(covered[i + 1] || isTrivial(l), `line ${i + 1} not in any chunk: ${JSON.stringify(l.slice(0, 80))}`));
}

describe('reliability: fuzzing', function () {
  this.timeout(300_000);
  const seed = runSeed();
  let embedder: Embedder;
  let chunker: Chunker;
  before(async function () {
    embedder = await Embedder.load(MINILM_DIR, { device: 'cpu' });
    chunker = await Chunker.create();
  });
  after(function () {
    chunker?.dispose();
    embedder?.dispose();
  });

  it('the chunker: random bytes, unicode, source fragments, deep nesting, huge lines, every language', async function () {
    // Every grammar the chunker has is among the extensions tried.
    const tried = new Set(EXTENSIONS.map((e) => languageOf(`f.${e}`)));
    for (const lang of Object.keys(LANGUAGE_SPECS)) assert.ok(tried.has(lang), `no extension tried for ${lang}`);
    const r = new Random(seed ^ 0xc0ffee);
    const options = { maxTokens: embedder.info.maxTokens, countTokens: (t: string) => embedder.countTokens(t), parseTimeoutMs: 2000 };
    // Many small inputs, and one extreme (deep nesting, a huge line, many lines) in every 40.
    const cases = 1600;
    let chunks = 0;
    let slowest = { ms: 0, name: '' };
    const t0 = performance.now();
    for (let i = 0; i < cases; i++) {
      const ext = EXTENSIONS[i % EXTENSIONS.length];
      const { name, text } = randomSource(r, i % 40 === 39);
      const where = `case ${i} (${name}, .${ext}, seed ${seed})`;
      const started = performance.now();
      let out: Chunk[];
      try {
        out = await withTimeout(chunker.chunk(`fuzz/case${i}.${ext}`, text, options), 20_000, where);
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
      }
      const ms = performance.now() - started;
      if (ms > slowest.ms) slowest = { ms, name: `${name} .${ext}` };
      try {
        checkChunks(text, out, options.maxTokens, options.countTokens);
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
      }
      chunks += out.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    record({
      area: 'fuzzing',
      what: `chunker: random bytes, random unicode (controls, lone surrogates, RTL, emoji), source fragments; 1,000-3,000 nested brackets or indents, lines of 50k-200k chars, 5k-20k lines; ${EXTENSIONS.length} file types covering all ${Object.keys(LANGUAGE_SPECS).length} grammars`,
      cases: `${cases} inputs (seed ${seed})`,
      outcome: `no throw, no hang; ${chunks} chunks, all within their line ranges, disjoint, text equal to the lines, every meaningful line covered, every embedText within ${options.maxTokens} tokens; ${seconds.toFixed(0)} s, slowest ${(slowest.ms / 1000).toFixed(1)} s (${slowest.name})`,
    });
  });

  it('the tokenizer path: random unicode, control characters, lone surrogates, very long texts', async function () {
    const r = new Random(seed ^ 0x70c);
    const maxTokens = embedder.info.maxTokens;
    const texts: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const shape = i % 10;
      if (shape === 0) texts.push(i % 100 === 0 ? randomUnicode(r, r.int(100_000, 1_000_000)) : randomUnicode(r, r.int(5000, 20_000)));
      else if (shape === 1) texts.push(r.pick(['', ' ', '\u0000', '\ufeff', '\u200b'.repeat(5000), '\ud800', '\udfff\ud800', '\n'.repeat(10_000)]));
      else if (shape === 2) texts.push(String.fromCharCode(...Array.from({ length: r.int(1, 500) }, () => r.int(0, 31))));
      else texts.push(randomUnicode(r, r.int(1, 2000)));
    }
    const t0 = performance.now();
    for (const [i, t] of texts.entries()) {
      const ids = embedder.tokenizer.encode(t);
      assert.ok(ids.length >= 2 && ids.length <= maxTokens, `text ${i} (seed ${seed}): ${ids.length} ids`);
      assert.ok(
        ids.every((id) => Number.isInteger(id) && id >= 0),
        `text ${i}: bad id`,
      );
      assert.ok(Number.isInteger(embedder.countTokens(t)));
    }
    // Through the encoder too, a sample of every shape, in batches of 32 (queries and documents).
    let vectors = 0;
    const sample = texts.filter((_, i) => i % 13 === 0); // 13 and 10 coprime: every shape
    for (let i = 0; i < sample.length; i += 32) {
      const batch = sample.slice(i, i + 32);
      const out = await embedder.embed(batch, { kind: i % 64 ? 'document' : 'query' });
      assert.equal(out.length, batch.length);
      for (const v of out) {
        const norm = Math.hypot(...v);
        assert.ok(v.every(Number.isFinite) && Math.abs(norm - 1) < 1e-3, `batch at ${i} (seed ${seed}): a vector is not finite and unit-length`);
      }
      vectors += out.length;
    }
    record({
      area: 'fuzzing',
      what: 'tokenizer and encoder: random unicode, control characters, lone surrogates, zero-width runs, empty texts, texts of 5 KB-1 MB',
      cases: `${texts.length} texts tokenized, ${vectors} of them embedded (seed ${seed})`,
      outcome: `no throw; every encoding within 2..${maxTokens} ids; ${vectors} vectors, all finite and unit-length; ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    });
  });

  it('every protocol request with random and malformed parameters: answered or a typed error, never a crash or hang', async function () {
    const { root, storageDir } = await sharedIndex();
    const sidecar = await TestSidecar.start({ roots: [root], storageDir: copyStorage(storageDir), settings: { indexOnStartup: false } });
    const r = new Random(seed ^ 0x9e37);
    const file = path.join(root, 'src', 'm5.ts');
    const valid: Record<string, () => unknown> = {
      'semsearch/search': () => ({
        query: 'compute mod5 value',
        top: 10,
        mode: 'hybrid',
        languages: ['typescript'],
        pathGlobs: ['src/**'],
        excludePathGlobs: ['**/m9.ts'],
      }),
      'semsearch/findSimilar': () => ({ file, line: 2, top: 5 }),
      'semsearch/chunkAt': () => ({ file, line: 2 }),
      'semsearch/status': () => ({}),
      'semsearch/reindex': () => ({ full: false }),
      'semsearch/noSuchMethod': () => ({}),
    };
    const methods = Object.keys(valid);
    /** A random JSON value; NaN and Infinity travel as null in JSON, so they are sent as such. */
    const randomJson = (depth = 0): unknown => {
      switch (r.int(0, depth > 2 ? 5 : 7)) {
        case 0:
          return null;
        case 1:
          return r.bool();
        case 2:
          return r.pick([0, -1, -0, 1.5, 2 ** 31, -(2 ** 53), 1e308, -1e308, NaN, Infinity, r.int(-1000, 1000)]);
        case 3:
          return r.pick([
            '',
            'x',
            'NaN',
            '-1',
            '../../../../etc/passwd',
            '/etc/passwd',
            'file:///etc/passwd',
            '\\\\server\\share',
            'C:\\Windows',
            `${root}/../outside.ts`,
            `${root}/src/m5.ts`,
            '\u0000',
          ]);
        case 4:
          return randomUnicode(r, r.int(0, 200));
        case 5:
          return r.pick([
            'q'.repeat(1_000_000),
            'lang:'.repeat(10_000),
            'path:**/'.repeat(5000),
            '"'.repeat(50_000),
            'a OR b AND NOT c NEAR(d) * ^ :'.repeat(2000),
            ' '.repeat(100_000),
          ]);
        case 6:
          return Array.from({ length: r.int(0, 4) }, () => randomJson(depth + 1));
        default: {
          const o: Record<string, unknown> = {};
          for (let n = r.int(0, 4); n > 0; n--)
            o[r.pick(['query', 'top', 'mode', 'file', 'line', 'endLine', 'text', 'languages', 'pathGlobs', 'full', '__proto__', 'constructor', 'x'])] =
              randomJson(depth + 1);
          return o;
        }
      }
    };
    const mutate = (method: string): unknown => {
      const choice = r.int(0, 9);
      if (choice === 0) return randomJson();
      const p = valid[method]() as Record<string, unknown>;
      const keys = Object.keys(p);
      for (let n = r.int(1, 3); n > 0; n--) {
        const k = choice < 8 && keys.length ? r.pick(keys) : r.pick(['query', 'top', 'file', 'line', 'languages', 'junk']);
        if (r.bool(0.2)) delete p[k];
        else p[k] = randomJson();
      }
      return p;
    };
    /** A reindex from scratch would take the rest of the run: "full" gets only falsy values. */
    const paramsFor = (method: string): unknown => {
      const p = mutate(method);
      if (method === 'semsearch/reindex' && p && typeof p === 'object' && (p as { full?: unknown }).full) (p as { full?: unknown }).full = 0;
      return p;
    };
    /** Known-nasty parameters, tried every run before the random ones. */
    const fixed: [string, unknown][] = [
      ['semsearch/search', { query: 'x', pathGlobs: ['*'.repeat(100_000)] }],
      ['semsearch/search', { query: `find path:${'**/'.repeat(30_000)}` }],
      ['semsearch/search', { query: 'x', excludePathGlobs: ['['.repeat(1000)] }],
      ['semsearch/search', { query: 'x', languages: ['x'.repeat(1_000_000)] }],
      ['semsearch/search', { query: '"'.repeat(100_000) }],
      ['semsearch/search', { query: 'NEAR(a b, 99999999999) OR * AND ^' }],
      ['semsearch/search', { query: 'a '.repeat(200_000) }],
      ...[0, -1, 1001, 1.5, null, '10', [10]].map((top): [string, unknown] => ['semsearch/search', { query: 'x', top }]),
      ...[0, -5, 2 ** 53, 1.5, null, '2'].map((line): [string, unknown] => ['semsearch/findSimilar', { file, line }]),
      ['semsearch/findSimilar', { file, line: 3, endLine: 1 }],
      ['semsearch/findSimilar', { file, line: 1, text: 'x'.repeat(1_000_000) }],
      ['semsearch/findSimilar', { file: `${file}\u0000.ts`, line: 1 }],
      ['semsearch/chunkAt', { file: 'x'.repeat(100_000), line: 1 }],
      ['semsearch/reindex', { full: 'yes' }],
      ['semsearch/reindex', []],
    ];
    const typedCodes = new Set([-32602 /* InvalidParams */, -32601 /* MethodNotFound */, -32800 /* RequestCancelled */]);
    const cases = 3000;
    const counts = { answered: 0, invalidParams: 0, notFound: 0, internal: 0 };
    const internal: string[] = [];
    const timings: { ms: number; what: string }[] = [];
    try {
      for (const [method, params] of fixed) {
        try {
          await sidecar.request<unknown>(method, params, 30_000);
        } catch (e) {
          const err = e as { code?: number; message?: string };
          if (/no answer within/.test(String(err.message))) throw new Error(`${method} ${JSON.stringify(params).slice(0, 100)}: hung`, { cause: e });
          if (!typedCodes.has(err.code ?? 0))
            internal.push(`${method} ${JSON.stringify(params).slice(0, 100)} → ${err.code}: ${String(err.message).slice(0, 200)}`);
        }
      }
      for (let i = 0; i < cases; i += 10) {
        await Promise.all(
          Array.from({ length: 10 }, async (_, k) => {
            const method = methods[(i + k) % methods.length];
            const params = paramsFor(method);
            const shown = JSON.stringify(params)?.slice(0, 160);
            const t = performance.now();
            try {
              const res = await sidecar.request<unknown>(method, params, 30_000);
              counts.answered++;
              if (method === 'semsearch/search') {
                const s = res as SearchResult;
                assert.ok(Array.isArray(s.hits) && typeof s.partial === 'boolean', `${method} ${shown}: malformed result`);
                for (const h of s.hits) assert.ok(!path.isAbsolute(h.path) && !h.path.startsWith('..'), `a hit outside the folder: ${h.path}`);
              }
            } catch (e) {
              const err = e as { code?: number; message?: string };
              if (/no answer within/.test(String(err.message))) throw new Error(`case ${i + k} (seed ${seed}): ${method} ${shown}: hung`, { cause: e });
              assert.equal(typeof err.message, 'string');
              if (err.code === -32602) counts.invalidParams++;
              else if (err.code === -32601) counts.notFound++;
              else if (typedCodes.has(err.code ?? 0)) counts.answered++;
              else {
                counts.internal++;
                internal.push(`${method} ${shown} → ${err.code}: ${String(err.message).slice(0, 200)}`);
              }
            }
            timings.push({ ms: performance.now() - t, what: `${method} ${shown?.slice(0, 60)}` });
          }),
        );
        assert.ok(sidecar.running, `the sidecar died at case ${i} (seed ${seed}): ${sidecar.stderr.slice(-1000)}`);
      }
      timings.sort((a, b) => b.ms - a.ms);
      console.log(
        `      slowest requests: ${timings
          .slice(0, 5)
          .map((x) => `${x.ms.toFixed(0)} ms ${x.what}`)
          .join('; ')}`,
      );
      // Notifications are fuzzed too: they have no answer, so only survival is checked.
      for (let i = 0; i < 200; i++) {
        await sidecar.conn.sendNotification(
          r.pick(['workspace/didChangeWatchedFiles', 'workspace/didChangeConfiguration', '$/cancelRequest', 'semsearch/unknown']),
          randomJson(),
        );
      }
      // Wrong parameter types must be refused as such, not fail deep inside (InternalError).
      assert.deepEqual(internal, [], `${internal.length} requests failed with an untyped internal error:\n${internal.slice(0, 10).join('\n')}`);
      const after = await sidecar.request<SearchResult>('semsearch/search', { query: 'mod5Value2', mode: 'keyword', top: 3 });
      assert.equal(after.hits[0]?.symbol, 'mod5Value2', 'the sidecar still answers correctly');
      assert.ok(sidecar.running);
    } finally {
      await sidecar.stop();
    }
    record({
      area: 'fuzzing',
      what: 'every protocol request (search, findSimilar, chunkAt, status, reindex, an unknown method) with mutated and random JSON parameters: wrong types, null, negative and huge numbers, NaN/Infinity (null in JSON), 1 MB strings, FTS5 operators, bad and outside paths; 200 random notifications',
      cases: `${fixed.length} fixed and ${cases} random requests, 10 at a time (seed ${seed})`,
      outcome: `sidecar alive, none hung (slowest ${(timings[0].ms / 1000).toFixed(1)} s); ${counts.answered} answered, ${counts.invalidParams} InvalidParams, ${counts.notFound} MethodNotFound, ${counts.internal} untyped internal errors; a normal search answered correctly afterwards`,
    });
  });
});
