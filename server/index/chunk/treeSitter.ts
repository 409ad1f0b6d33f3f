/**
 * Tree-sitter side of the chunker: loads the runtime and grammars (web-tree-sitter, .wasm), parses
 * with a time limit, and reads the definitions of a file as plain data (rows, kind, symbol,
 * nesting). Trees never leave this module: each one is deleted before `extractDefinitions` returns.
 * What becomes a chunk, and how big, is decided in index.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Language, Parser } from 'web-tree-sitter';
import type { Node } from 'web-tree-sitter';
import { ChunkKind, DefRule, GRAMMAR_WASM_FILES, LanguageSpec, RUNTIME_WASM, WasmFile } from './languages';

/** A definition found in a file; rows are 0-based and inclusive. */
export interface Definition {
  kind: ChunkKind;
  symbol: string | null;
  /** First row, including attached doc comments, decorators and wrappers (`export`, `template<>`). */
  start: number;
  end: number;
  /** Row where the name is: the signature starts here (after decorators and annotations). */
  nameRow: number;
  /** Enclosing definition, if any. */
  parent: Definition | null;
  /** Owner named in the definition itself when not enclosing it: Go receiver, C++ `A::f`. */
  owner: string | null;
  children: Definition[];
}

/** Thrown by `extractDefinitions` when the parse is cancelled (time limit) or fails. */
export class ParseError extends Error {}

/** Kinds whose nested functions are methods. */
const TYPE_KINDS = new Set<ChunkKind>(['class', 'struct', 'interface', 'enum', 'impl', 'trait']);
/** Nesting deeper than this is not searched for definitions (keeps recursion bounded). */
const MAX_DEPTH = 64;
const SYMBOL_MAX = 120;

let runtime: Promise<void> | null = null;

/** Initialise the web-tree-sitter runtime once per process. */
function initRuntime(wasmDir: string | undefined): Promise<void> {
  if (runtime === null) {
    const wasm = locate(RUNTIME_WASM, wasmDir);
    runtime = Parser.init({ locateFile: () => wasm }).catch((e: unknown) => {
      runtime = null;
      throw e;
    });
  }
  return runtime;
}

/** Absolute path of a .wasm file: in `wasmDir` (flat) when given, else in its npm package. */
export function locate(file: WasmFile, wasmDir: string | undefined): string {
  if (wasmDir !== undefined) return path.join(wasmDir, file.file);
  // A bundle (the packaged extension's server.js and cli.js) carries the files in wasm/ beside it.
  const bundled = path.join(__dirname, 'wasm', file.file);
  if (fs.existsSync(bundled)) return bundled;
  if (file.package === RUNTIME_WASM.package) return require.resolve(`${file.package}/${file.file}`);
  return path.join(path.dirname(require.resolve(`${file.package}/package.json`)), file.file);
}

/** Lazily loaded grammars, one load per language per process lifetime of this object. */
export class Grammars {
  private readonly loaded = new Map<string, Promise<Language | null>>();
  private readonly failures = new Map<string, string>();

  private constructor(private readonly wasmDir: string | undefined) {}

  static async create(wasmDir?: string): Promise<Grammars> {
    await initRuntime(wasmDir);
    return new Grammars(wasmDir);
  }

  /** The grammar of `language`, or null when it has none or its .wasm cannot be loaded. */
  load(language: string): Promise<Language | null> {
    let p = this.loaded.get(language);
    if (p === undefined) {
      const file = GRAMMAR_WASM_FILES[language];
      p = file === undefined ? Promise.resolve(null) : this.loadFile(language, file);
      this.loaded.set(language, p);
    }
    return p;
  }

  /** Why a grammar failed to load (`<file>: <reason>`), for diagnostics. */
  failure(language: string): string | undefined {
    return this.failures.get(language);
  }

  private async loadFile(language: string, file: WasmFile): Promise<Language | null> {
    let where = file.file;
    try {
      where = locate(file, this.wasmDir);
      return await Language.load(where);
    } catch (e) {
      this.failures.set(language, `${where}: ${(e as Error).message}`);
      return null;
    }
  }
}

/**
 * Parse `source` and return its definitions (outermost first, children nested). `lines` are the
 * source's lines (split on '\n'). Throws ParseError when the parse exceeds `timeoutMs`.
 */
export function extractDefinitions(
  parser: Parser,
  language: Language,
  spec: LanguageSpec,
  source: string,
  lines: readonly string[],
  timeoutMs: number,
): Definition[] {
  parser.setLanguage(language);
  const deadline = performance.now() + timeoutMs;
  let tree;
  try {
    tree = parser.parse(source, null, { progressCallback: () => performance.now() > deadline });
  } catch (e) {
    parser.reset();
    throw new ParseError(`parse failed: ${(e as Error).message}`);
  }
  if (tree === null) {
    parser.reset(); // do not resume the cancelled parse on the next file
    throw new ParseError(`parse cancelled after ${timeoutMs} ms`);
  }
  try {
    const walker = new DefinitionWalker(spec, source, lines);
    walker.visit(tree.rootNode, null, 0, null);
    return walker.roots;
  } finally {
    tree.delete();
  }
}

class DefinitionWalker {
  readonly roots: Definition[] = [];
  /** Own-line comments and decorators seen so far: last row → first row. */
  private readonly attachByEnd = new Map<number, number>();

  constructor(
    private readonly spec: LanguageSpec,
    private readonly source: string,
    private readonly lines: readonly string[],
  ) {}

  /** Look for definitions among the children of `node`. `wrapStart`: first row of a wrapper `node`. */
  visit(node: Node, parent: Definition | null, depth: number, wrapStart: number | null): void {
    if (depth > MAX_DEPTH) return;
    const count = node.namedChildCount;
    for (let i = 0; i < count; i++) {
      const child = node.namedChild(i);
      if (child === null) continue;
      const start = child.startPosition;
      const end = endRow(child);
      const type = child.type;
      if (this.spec.attach.has(type)) {
        if (this.ownLine(start.row, start.column)) this.attachByEnd.set(end, start.row);
        continue;
      }
      // A one-line node holds no definition worth its own chunk (tiny ones stay with their parent).
      if (end === start.row) continue;
      const rule = this.spec.defs[type];
      const kind = rule === undefined ? null : this.kindOf(rule, child);
      if (rule !== undefined && kind !== null) {
        const def = this.define(child, rule, kind, parent, wrapStart ?? start.row, end);
        if (rule.container === true) this.visit(child, def, depth + 1, null);
        continue;
      }
      this.visit(child, parent, depth + 1, this.spec.wrappers.has(type) ? start.row : null);
    }
  }

  private kindOf(rule: DefRule, node: Node): ChunkKind | null {
    return typeof rule.kind === 'function' ? rule.kind(node, this.source) : rule.kind;
  }

  private define(node: Node, rule: DefRule, kind: ChunkKind, parent: Definition | null, firstRow: number, end: number): Definition {
    // Doc comments and decorators directly above (no blank line between) join the definition.
    let start = firstRow;
    for (;;) {
      const above = this.attachByEnd.get(start - 1);
      if (above === undefined || (parent !== null && above < parent.start)) break;
      start = above;
    }
    const nameNode = rule.name !== undefined ? rule.name(node) : defaultName(node);
    let symbol = typeof nameNode === 'string' ? nameNode : nameNode === null ? null : cleanSymbol(nameNode.text);
    const nameRow = nameNode !== null && typeof nameNode !== 'string' ? nameNode.startPosition.row : node.startPosition.row;
    let owner: string | null = null;
    if (node.type === 'method_declaration' && node.childForFieldName('receiver') !== null) {
      owner = goReceiverType(node.childForFieldName('receiver')!.text);
    } else if (symbol !== null && kind === 'function' && (parent === null || !TYPE_KINDS.has(parent.kind)) && symbol.includes('::')) {
      // C++ out-of-class member: `double Circle::area()`.
      const cut = symbol.lastIndexOf('::');
      owner = symbol.slice(0, cut);
      symbol = symbol.slice(cut + 2);
      kind = 'method';
    }
    if (kind === 'function' && parent !== null && TYPE_KINDS.has(parent.kind)) kind = 'method';
    const def: Definition = { kind, symbol, start, end, nameRow: Math.max(nameRow, start), parent, owner, children: [] };
    (parent === null ? this.roots : parent.children).push(def);
    return def;
  }

  /** True when nothing but blanks precedes column `col` on `row` (a comment on its own line). */
  private ownLine(row: number, col: number): boolean {
    const line = this.lines[row];
    return line !== undefined && line.slice(0, col).trim() === '';
  }
}

/** Last row a node covers; a node ending at column 0 ends on the row before (trailing newline). */
function endRow(n: Node): number {
  const e = n.endPosition;
  return e.column === 0 && e.row > n.startPosition.row ? e.row - 1 : e.row;
}

const NAME_TYPES = new Set([
  'identifier',
  'type_identifier',
  'field_identifier',
  'property_identifier',
  'constant',
  'name',
  'word',
  'simple_identifier',
  'qualified_identifier',
  'scoped_identifier',
  'destructor_name',
  'operator_name',
]);

/** Field `name`; else the innermost `declarator` (C/C++ functions); else a first identifier child. */
function defaultName(n: Node): Node | null {
  const name = n.childForFieldName('name');
  if (name !== null) return name;
  let d = n.childForFieldName('declarator');
  for (let i = 0; d !== null && i < 8; i++) {
    if (NAME_TYPES.has(d.type)) return d;
    const inner: Node | null = d.childForFieldName('declarator');
    if (inner === null) return d.type === 'function_declarator' ? d.namedChild(0) : d;
    d = inner;
  }
  for (let i = 0; i < n.namedChildCount; i++) {
    const c = n.namedChild(i);
    if (c !== null && NAME_TYPES.has(c.type)) return c;
  }
  return null;
}

function cleanSymbol(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > SYMBOL_MAX ? s.slice(0, SYMBOL_MAX) : s;
}

/** `(s *Server)` → `Server`; `(m Map[K, V])` → `Map`. */
function goReceiverType(receiver: string): string | null {
  const m = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?\s*\)\s*$/.exec(receiver);
  return m === null ? null : m[1];
}
