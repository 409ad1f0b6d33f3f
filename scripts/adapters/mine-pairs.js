#!/usr/bin/env node
/**
 * Training pairs for a code adapter: (first sentence of a doc comment, the documented function
 * without it), cut by semsearch's own chunker so the code side is exactly what the index embeds
 * (header lines included).
 *
 *   npm run build
 *   node scripts/adapters/mine-pairs.js OUT.jsonl LANG=ROOT[,EXCLUDE_REGEX[,MAX_PAIRS]] ...
 *
 * LANG is python, go, rust, java, typescript or javascript; ROOT a source tree; EXCLUDE_REGEX is
 * tested against paths relative to ROOT. Tests, examples, docs, fixtures, generated and minified
 * files are skipped. At most PER_FILE (default 3) pairs come from one file, and a query text is
 * used once per tree. The order is a seeded shuffle, so a run over the same trees gives the same
 * file. Each line: {lang, src, path, symbol, query, code}.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ROOT = path.resolve(__dirname, '..', '..');
const { Chunker } = require(path.join(ROOT, 'out', 'server', 'index', 'chunk', 'index.js'));
const { TextTokenizer } = require(path.join(ROOT, 'out', 'server', 'model', 'tokenizer.js'));

const EXTENSIONS = { python: ['.py'], go: ['.go'], rust: ['.rs'], java: ['.java'], typescript: ['.ts'], javascript: ['.js'] };
const SKIPPED =
  /(^|\/)(tests?|__tests__|testdata|testing|examples?|benches|benchmarks?|fixtures?|docs?)\/|_test\.go$|test_[^/]*\.py$|_test\.py$|\.(spec|test)\.[jt]s$|\.d\.ts$|\.min\.js$/i;
const PER_FILE = Number(process.env.PER_FILE || 3);
const MAX_FILE_BYTES = 300_000;
/** Doc sentences that say nothing about what the code does. */
const BOILERPLATE = /^(gets the|see |deprecated|safety|returns a string representation|todo|fixme|copyright)/i;

let seed = 12345;
function random() {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function sourceFiles(root, extensions, exclude) {
  const out = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop();
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) continue;
      if (e.isDirectory()) stack.push(p);
      else if (extensions.some((x) => e.name.endsWith(x))) {
        const rel = path.relative(root, p);
        if (!SKIPPED.test('/' + rel) && !(exclude && exclude.test(rel))) out.push(p);
      }
    }
  }
  return out.sort();
}

/** Markup out of a doc sentence: {@code x}, :role:`x`, [x](url), [`x`], `x`, **x**, <tags>. */
function plain(s) {
  return s
    .replace(/\{@(?:code|link|linkplain|literal)\s+([^}]*)\}/g, '$1')
    .replace(/<[^>]+>/g, ' ')
    .replace(/:[a-z]+:`~?([^`]*)`/g, '$1')
    .replace(/\[`?([^\]`]*)`?\]\([^)]*\)/g, '$1')
    .replace(/\[`([^`]*)`\]/g, '$1')
    .replace(/`+/g, '')
    .replace(/\*\*?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The query: first sentence of the doc's first paragraph, without a leading "Name does…" subject. */
function queryOf(docLines, symbol) {
  const paragraph = docLines
    .join('\n')
    .split(/\n\s*\n/)[0]
    .replace(/\n/g, ' ');
  if (/^\s*@/.test(paragraph)) return null;
  const text = plain(paragraph);
  const m = text.match(/^(.*?[.!?])(\s|$)/);
  let q = plain(m ? m[1] : text);
  if (symbol) {
    const subject = new RegExp('^(the\\s+)?`?' + symbol.replace(/[^\w]/g, '') + '`?\\s+', 'i');
    if (subject.test(q)) {
      q = q.replace(subject, '');
      q = q.charAt(0).toUpperCase() + q.slice(1);
    }
  }
  const words = q.split(/\s+/).filter((w) => /[a-z]/i.test(w));
  if (words.length < 6 || words.length > 35 || BOILERPLATE.test(q)) return null;
  return q;
}

/** Split a definition chunk's text into its doc comment and the code without it, or null. */
function splitDoc(text, lang) {
  const lines = text.split('\n');
  if (lang === 'python') {
    let def = 0;
    while (def < lines.length && !/^\s*(async\s+)?def\s/.test(lines[def])) def++;
    let colon = def;
    while (colon < lines.length && !/:\s*(#.*)?$/.test(lines[colon])) colon++;
    let k = colon + 1;
    while (k < lines.length && lines[k].trim() === '') k++;
    const m = k < lines.length ? lines[k].match(/^\s*[rRuU]?("""|''')(.*)$/) : null;
    if (!m) return null;
    const quote = m[1];
    const doc = [];
    let end = -1;
    if (m[2].includes(quote)) {
      doc.push(m[2].slice(0, m[2].indexOf(quote)));
      end = k;
    } else {
      doc.push(m[2]);
      for (let t = k + 1; t < lines.length; t++) {
        const i = lines[t].indexOf(quote);
        doc.push(i >= 0 ? lines[t].slice(0, i) : lines[t]);
        if (i >= 0) {
          end = t;
          break;
        }
      }
    }
    if (end < 0) return null;
    return { doc: doc.map((l) => l.trim()), code: lines.slice(0, k).concat(lines.slice(end + 1)) };
  }
  const doc = [];
  let i = 0;
  const lineDoc = lang === 'go' ? /^\s*\/\/(?!go:)/ : lang === 'rust' ? /^\s*\/\/\/(?!\/)/ : null;
  if (lineDoc) {
    for (; i < lines.length && lineDoc.test(lines[i]); i++) doc.push(lines[i].replace(/^\s*\/\/\/?\s?/, ''));
  } else if (/^\s*\/\*\*/.test(lines[0] ?? '')) {
    for (; i < lines.length; i++) {
      doc.push(lines[i].replace(/^\s*\/\*\*\s?|\s*\*\/\s*$|^\s*\*\s?/g, ''));
      if (/\*\//.test(lines[i])) {
        i++;
        break;
      }
    }
  }
  if (doc.length === 0) return null;
  return { doc: doc.map((l) => l.trim()), code: lines.slice(i) };
}

async function main() {
  const [outFile, ...specs] = process.argv.slice(2);
  if (!outFile || specs.length === 0) {
    console.error('usage: mine-pairs.js OUT.jsonl LANG=ROOT[,EXCLUDE_REGEX[,MAX_PAIRS]] ...');
    process.exit(2);
  }
  const tokenizer = TextTokenizer.fromFile(path.join(ROOT, '.models', 'bge-small-en-v1.5', 'tokenizer.json'), 512);
  const countTokens = (t) => tokenizer.count(t);
  const chunker = await Chunker.create();
  const out = fs.createWriteStream(outFile);
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const lang = spec.slice(0, eq);
    const [root, exclude, max] = spec.slice(eq + 1).split(',');
    if (!EXTENSIONS[lang]) throw new Error(`${spec}: unknown language ${lang}`);
    const cap = Number(max || 3000);
    const files = shuffle(sourceFiles(root, EXTENSIONS[lang], exclude ? new RegExp(exclude) : null));
    const seen = new Set();
    let pairs = 0;
    for (const file of files) {
      if (pairs >= cap) break;
      let text;
      try {
        const bytes = fs.readFileSync(file);
        if (bytes.length > MAX_FILE_BYTES) continue;
        text = bytes.toString('utf8');
      } catch {
        continue;
      }
      const rel = path.relative(root, file);
      let chunks;
      try {
        chunks = await chunker.chunk(rel, text, { maxTokens: 512, countTokens });
      } catch {
        continue;
      }
      const found = [];
      for (const c of chunks) {
        if ((c.kind !== 'function' && c.kind !== 'method') || !c.embedText.endsWith(c.text)) continue; // one unsplit definition
        const parts = splitDoc(c.text, lang);
        const query = parts && queryOf(parts.doc, c.symbol);
        if (!query || parts.code.length < 3 || parts.code.length > 250 || seen.has(query.toLowerCase())) continue;
        const header = c.embedText.slice(0, c.embedText.length - c.text.length);
        found.push({ lang, src: root, path: rel, symbol: c.symbol, query, code: header + parts.code.join('\n') });
      }
      for (const p of shuffle(found).slice(0, PER_FILE)) {
        seen.add(p.query.toLowerCase());
        out.write(JSON.stringify(p) + '\n');
        pairs++;
      }
    }
    console.error(`${lang} ${root}: ${files.length} files, ${pairs} pairs`);
  }
  await new Promise((resolve) => out.end(resolve));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
