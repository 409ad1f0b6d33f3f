#!/usr/bin/env node
// Bundle the extension for packaging: one file per program, plus the files esbuild cannot bundle.
//
//   out/extension.js   extension/main.ts (the VS Code client; `vscode` stays external)
//   out/sidecar.js     extension/sidecar.ts (vscode-languageclient; loaded when the sidecar starts,
//                      so that activation does not pay for loading the library)
//   out/server.js      server/front/sidecar/main.ts (the sidecar, started by the client as a Node module)
//   out/cli.js         server/front/cli/main.ts (the `semsearch` command line)
//   out/wasm/          web-tree-sitter's runtime and every grammar in GRAMMAR_WASM_FILES (flat)
//   out/native/        node_sqlite3.node (sqlite3's Node-API binary)
//
// The semsearch addon and the MLX libraries it needs are placed in out/native/ by
// scripts/package.sh (they come from the CMake build and .deps/, not from npm).
//
// Usage: node scripts/bundle.mjs [--dev] [--only extension,server,cli]
//   --dev   no minification (source maps are written either way, next to each bundle)
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const args = process.argv.slice(2);
const dev = args.includes('--dev');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1].split(',')) : undefined;
const out = path.join(root, 'out');

function say(msg) {
  process.stderr.write(`bundle: ${msg}\n`);
}

/**
 * sqlite3 loads its binary through `bindings`, which searches build folders at run time; in the
 * bundle there are none. Replace `bindings` with a require of the copy in out/native/ (kept
 * external: esbuild cannot bundle a .node file).
 */
const sqliteBindingsShim = {
  name: 'sqlite3-bindings',
  setup(build) {
    build.onResolve({ filter: /^bindings$/ }, (a) => (/[\\/]sqlite3[\\/]/.test(a.importer) ? { path: 'bindings', namespace: 'sqlite3-bindings' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'sqlite3-bindings' }, () => ({
      contents: `module.exports = function (name) { if (name !== 'node_sqlite3.node') throw new Error('unexpected binding ' + name); return require('./native/node_sqlite3.node'); };`,
      loader: 'js',
    }));
    build.onResolve({ filter: /^\.\/native\/node_sqlite3\.node$/ }, () => ({ path: './native/node_sqlite3.node', external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  sourcesContent: false,
  minify: !dev,
  keepNames: true,
  logLevel: 'warning',
  absWorkingDir: root,
  // The bundles are CommonJS; some dependencies are ES modules that read import.meta.url.
  define: { 'import.meta.url': '__semsearchImportMetaUrl' },
  banner: { js: 'var __semsearchImportMetaUrl = require("url").pathToFileURL(__filename).href;' },
};

const entries = [
  {
    name: 'extension',
    entry: 'extension/main.ts',
    outfile: 'out/extension.js',
    external: ['vscode', './sidecar.js'],
    // Activation time is measured from the first statement of the bundle (extension/main.ts).
    banner: { js: `var __semsearchLoadStart = performance.now();\n${common.banner.js}` },
  },
  { name: 'sidecar', entry: 'extension/sidecar.ts', outfile: 'out/sidecar.js', external: ['vscode'] },
  // `tokenizers` (the Hugging Face binding) picks its platform's .node at run time: it stays a
  // package, resolved from out/node_modules/ in the VSIX (scripts/package.sh) or the repository's node_modules/.
  { name: 'server', entry: 'server/front/sidecar/main.ts', outfile: 'out/server.js', plugins: [sqliteBindingsShim], external: ['tokenizers'] },
  {
    name: 'cli',
    entry: 'server/front/cli/main.ts',
    outfile: 'out/cli.js',
    plugins: [sqliteBindingsShim],
    external: ['tokenizers'],
    // Runnable as `node out/cli.js …` (bin/semsearch does the same for the tsc build).
    footer: {
      js: 'if (require.main === module) module.exports.main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { process.stderr.write(`semsearch: ${e && e.message ? e.message : e}\\n`); process.exitCode = 2; });',
    },
  },
];

/** Load GRAMMAR_WASM_FILES and RUNTIME_WASM from the chunker's own table. */
async function wasmTable() {
  const r = await esbuild.build({
    ...common,
    entryPoints: ['server/index/chunk/languages.ts'],
    write: false,
    sourcemap: false,
    minify: false,
    logLevel: 'error',
  });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', '__filename', r.outputFiles[0].text)(
    mod,
    mod.exports,
    require,
    path.join(root, 'server/index/chunk/languages.js'),
  );
  return mod.exports;
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

async function main() {
  let failed = 0;
  for (const e of entries) {
    if (only && !only.has(e.name)) continue;
    if (!fs.existsSync(path.join(root, e.entry))) {
      say(`error: ${e.entry} does not exist; ${e.outfile} not built`);
      failed++;
      continue;
    }
    const t0 = Date.now();
    const result = await esbuild.build({
      ...common,
      entryPoints: [e.entry],
      outfile: e.outfile,
      external: e.external ?? [],
      plugins: e.plugins ?? [],
      banner: e.banner ?? common.banner,
      footer: e.footer,
      metafile: true,
    });
    const bytes = fs.statSync(path.join(root, e.outfile)).size;
    say(`${e.outfile}: ${(bytes / 1024).toFixed(0)} KiB in ${Date.now() - t0} ms (${Object.keys(result.metafile.inputs).length} inputs)`);
  }

  if (!only || only.has('server') || only.has('cli')) {
    // tree-sitter runtime and grammars, flat in out/wasm/.
    const { GRAMMAR_WASM_FILES, RUNTIME_WASM } = await wasmTable();
    const wasmDir = path.join(out, 'wasm');
    fs.rmSync(wasmDir, { recursive: true, force: true });
    let n = 0;
    for (const f of [RUNTIME_WASM, ...Object.values(GRAMMAR_WASM_FILES)]) {
      // Not require.resolve(`${pkg}/package.json`): some packages' "exports" hide it.
      copy(path.join(root, 'node_modules', f.package, f.file), path.join(wasmDir, f.file));
      n++;
    }
    say(`out/wasm/: ${n} .wasm files`);

    // sqlite3's Node-API binary, loaded by the shim above.
    const sqliteNode = path.join(root, 'node_modules', 'sqlite3', 'build', 'Release', 'node_sqlite3.node');
    if (!fs.existsSync(sqliteNode)) {
      say(`error: ${sqliteNode} missing (run: npm rebuild sqlite3)`);
      failed++;
    } else {
      copy(sqliteNode, path.join(out, 'native', 'node_sqlite3.node'));
      say('out/native/node_sqlite3.node copied');
    }
  }
  if (failed) process.exit(1);
}

main().catch((e) => {
  say(`error: ${e.message}`);
  process.exit(1);
});
