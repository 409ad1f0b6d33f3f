// The layout of server/ and extension/, checked from the source: data flows one way through the
// server's folders (each imports only from folders before it), the extension imports only
// server/protocol.ts, and a file over 500 lines says why in its opening comment.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../support/paths';

/**
 * server/'s layers, in the order data flows: a file may import from its own layer and the ones
 * before it. protocol.ts (the extension's contract) and common/ come first.
 */
const LAYERS = ['protocol.ts', 'common', 'model', 'index', 'search', 'engine', 'front'];
const MAX_LINES = 500;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative module specifiers of `from`, import, export … from, require() and import(). */
function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) specs.push(m[1]);
  return specs;
}

/** The layer of a file or module inside server/ (-1: none), or null for one outside server/. */
function layerOf(abs: string): number | null {
  const rel = path.relative(path.join(REPO_ROOT, 'server'), abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  const parts = rel.split(path.sep);
  // A file directly under server/ is its own layer (protocol.ts; imports name it without .ts).
  const name = parts.length === 1 ? `${parts[0].replace(/\.ts$/, '')}.ts` : parts[0];
  return LAYERS.indexOf(name);
}

describe('source layout', () => {
  const serverFiles = listTs(path.join(REPO_ROOT, 'server'));

  it('puts every server file in a known layer', () => {
    const unplaced = serverFiles.filter((f) => layerOf(f) === -1).map((f) => path.relative(REPO_ROOT, f));
    assert.deepEqual(unplaced, []);
  });

  it('lets each server folder import only from itself and the folders before it', () => {
    const wrong: string[] = [];
    for (const file of serverFiles) {
      const own = layerOf(file)!;
      for (const spec of relativeImports(file)) {
        const target = path.resolve(path.dirname(file), spec);
        const layer = layerOf(target);
        if (layer === null) wrong.push(`${path.relative(REPO_ROOT, file)}: imports ${spec}, outside server/`);
        else if (layer > own) wrong.push(`${path.relative(REPO_ROOT, file)}: imports ${spec} (${LAYERS[layer]} comes after ${LAYERS[own]})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('lets the extension import nothing of server/ but protocol.ts', () => {
    const wrong: string[] = [];
    for (const file of listTs(path.join(REPO_ROOT, 'extension'))) {
      for (const spec of relativeImports(file)) {
        const target = path.resolve(path.dirname(file), spec);
        const rel = path.relative(REPO_ROOT, target);
        if (rel.startsWith(`server${path.sep}`) && rel !== path.join('server', 'protocol')) wrong.push(`${path.relative(REPO_ROOT, file)}: imports ${spec}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it(`explains in its opening comment why a server file is over ${MAX_LINES} lines`, () => {
    const long: string[] = [];
    for (const file of serverFiles) {
      const text = fs.readFileSync(file, 'utf8');
      const lines = text.split('\n').length;
      if (lines <= MAX_LINES) continue;
      const opening = /^\/\*\*[\s\S]*?\*\//.exec(text)?.[0] ?? '';
      if (!/over 500 lines because/.test(opening.replace(/\s*\*\s*/g, ' '))) long.push(`${path.relative(REPO_ROOT, file)}: ${lines} lines`);
    }
    assert.deepEqual(long, []);
  });

  it('finds the checks above sensitive: a later layer and an outside import are flagged', () => {
    // The index may not import the engine, and the model may not import the index.
    assert.ok(layerOf(path.join(REPO_ROOT, 'server', 'engine', 'x.ts'))! > layerOf(path.join(REPO_ROOT, 'server', 'index', 'x.ts'))!);
    assert.ok(layerOf(path.join(REPO_ROOT, 'server', 'index', 'x.ts'))! > layerOf(path.join(REPO_ROOT, 'server', 'model', 'x.ts'))!);
    assert.equal(layerOf(path.join(REPO_ROOT, 'server', 'protocol.ts')), 0);
    assert.equal(layerOf(path.join(REPO_ROOT, 'extension', 'main.ts')), null);
  });
});
