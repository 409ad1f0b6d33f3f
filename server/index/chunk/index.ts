/**
 * File text → Chunk[]: the units that are embedded, indexed by BM25 and returned as hits.
 *
 * The chunks of a file partition its lines: no line is in two chunks, and every line that holds a
 * letter or digit is in one (runs of blank or brace-only lines between chunks are dropped).
 * - Code with a grammar (languages.ts): each definition (function, method, class, …) is a chunk,
 *   starting at its doc comment / decorators. A container (class, impl, module, …) keeps only the
 *   lines its members do not take (header, fields, closing lines), as one chunk per contiguous run;
 *   members shorter than `minDefLines` stay in their container. Top-level code between
 *   definitions (imports, constants, statements) is cut into 'section' windows.
 * - Markdown: one 'section' per heading; other files, and code whose grammar is missing or whose
 *   parse fails or times out: 'window's of up to `windowLines` lines, cut at blank lines if possible.
 * - A chunk whose embedText exceeds `maxTokens` is split on line boundaries; each part keeps the
 *   kind, symbol and header, and parts after the first repeat the last `overlapLines` lines of the
 *   part before in their embedText only (line ranges never overlap). One line too long on its own
 *   keeps its full `text`; its `embedText` is cut to fit.
 * Line endings are normalised: `text` joins the file's lines with '\n' ('\r' dropped).
 */
import { Parser } from 'web-tree-sitter';
import { ChunkKind, commentToken, LANGUAGE_SPECS, languageOf } from './languages';
import { Definition, extractDefinitions, Grammars } from './treeSitter';
import { isBlank, isTrivial, markdownSections, Part, splitRows } from './windows';

export { GRAMMAR_WASM_FILES, RUNTIME_WASM, LANGUAGE_SPECS, languageOf } from './languages';
export { CHUNKER_VERSION } from './version';
export type { ChunkKind, WasmFile } from './languages';

export interface Chunk {
  relPath: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** Language id (languages.ts), 'text' when unknown. */
  language: string;
  kind: ChunkKind;
  /** Name of the definition (or Markdown heading); null for sections and windows of code. */
  symbol: string | null;
  /** Enclosing definitions, outermost first, joined by '.' (or the enclosing headings, by ' > '). */
  container: string | null;
  /** The file's lines startLine..endLine, joined by '\n'. */
  text: string;
  /** What the model sees: a short header (path, container, signature), overlap context, text. */
  embedText: string;
}

export interface ChunkOptions {
  /** Budget for `countTokens(embedText)`. */
  maxTokens: number;
  /**
   * Token count of a string as the embedding model sees it (special tokens included or not).
   * Pass the same function on every call: each line is counted once and sums are used; a real
   * count checks sums near the budget until three checks with this function agreed.
   */
  countTokens: (text: string) => number;
  /** Context lines repeated from the previous part when a chunk is split. Default 5. */
  overlapLines?: number;
  /** Most lines in a window or section part. Default 50. */
  windowLines?: number;
  /** Members shorter than this (lines, comments included) stay in their container. Default 3. */
  minDefLines?: number;
  /** Parse time limit; past it the file is cut into windows. Default 3000 ms. */
  parseTimeoutMs?: number;
}

export interface ChunkerOptions {
  /** A flat folder with tree-sitter.wasm and every grammar .wasm (GRAMMAR_WASM_FILES names). */
  wasmDir?: string;
}

const SIGNATURE_MAX = 160;
/** Token sums above this share of the budget are checked with a real count. */
const CLOSE_CALL = 0.9;
/** After this many close calls where the row sum held, sums from that countTokens are trusted. */
const SUMS_TRUSTED = 3;
/**
 * Per countTokens function: close calls where the row sum was at or above the real count
 * (-Infinity once one was below: that tokenizer is always checked).
 */
const sumsAgreed = new WeakMap<(text: string) => number, number>();
const SIGNATURE_ROWS = 4;

export class Chunker {
  private constructor(
    private readonly grammars: Grammars,
    private readonly parser: Parser,
  ) {}

  /** Load the tree-sitter runtime; grammars load on first use of each language. */
  static async create(options: ChunkerOptions = {}): Promise<Chunker> {
    const grammars = await Grammars.create(options.wasmDir);
    return new Chunker(grammars, new Parser());
  }

  /** Language id of a path ('typescript', 'markdown', …), or null when unknown. */
  languageOf(relPath: string): string | null {
    return languageOf(relPath);
  }

  /** Why the grammar of `language` could not be loaded, if it could not. */
  grammarFailure(language: string): string | undefined {
    return this.grammars.failure(language);
  }

  /**
   * Cut `text` (the file at `relPath`) into chunks, in line order. Loads the file's grammar on
   * first use (hence async); the cutting itself is synchronous. Never throws for file content:
   * a missing grammar, a parse error or a time-out falls back to windows.
   */
  async chunk(relPath: string, text: string, options: ChunkOptions): Promise<Chunk[]> {
    const language = languageOf(relPath);
    const grammar = language !== null && LANGUAGE_SPECS[language] !== undefined ? await this.grammars.load(language) : null;
    const lines = splitLines(text);
    if (lines.every(isBlank)) return [];
    const job = new FileJob(relPath, language ?? 'text', lines, options);
    if (language !== null && grammar !== null) {
      let defs: Definition[] | null;
      try {
        defs = extractDefinitions(this.parser, grammar, LANGUAGE_SPECS[language], text, lines, options.parseTimeoutMs ?? 3000);
      } catch {
        defs = null; // ParseError or a runtime failure: windows below
      }
      if (defs !== null) return job.fromDefinitions(defs);
    }
    if (language === 'markdown') return job.fromMarkdown();
    return job.windows(0, lines.length - 1, 'window');
  }

  /** Free the parser (grammars stay loaded for the process). */
  dispose(): void {
    this.parser.delete();
  }
}

/** Split on '\n', dropping a '\r' before it (tree-sitter rows count '\n' only). */
function splitLines(text: string): string[] {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  return lines;
}

interface Meta {
  kind: ChunkKind;
  symbol: string | null;
  container: string | null;
  /** Header lines after `path:` (without the comment token). */
  header: string[];
}

/** The state of chunking one file. */
class FileJob {
  private readonly out: Chunk[] = [];
  private readonly c: string;
  private readonly overlap: number;
  private readonly windowLines: number;
  private readonly specialTokens: number;
  /** Tokens a line break adds between two rows (0 for WordPiece, 1 where '\n' is a token). */
  private readonly newlineTokens: number;
  private readonly rowTok = new Map<number, number>();

  constructor(
    private readonly relPath: string,
    private readonly language: string,
    private readonly lines: readonly string[],
    private readonly opt: ChunkOptions,
  ) {
    const token = commentToken(language);
    this.c = token === '' ? '' : `${token} `;
    this.overlap = Math.max(0, opt.overlapLines ?? 5);
    this.windowLines = Math.max(1, opt.windowLines ?? 50);
    this.specialTokens = opt.countTokens('');
    this.newlineTokens = Math.max(0, opt.countTokens('a\nb') - opt.countTokens('a b'));
  }

  fromDefinitions(roots: Definition[]): Chunk[] {
    const n = this.lines.length;
    const minRows = Math.max(1, this.opt.minDefLines ?? 3);
    const owner = new Int32Array(n).fill(-1);
    const defs: Definition[] = [];
    // Outer first, so members overwrite their container's rows; a later sibling wins a shared row.
    const assign = (d: Definition): void => {
      const id = defs.push(d) - 1;
      const to = Math.min(d.end, n - 1);
      for (let r = Math.max(0, d.start); r <= to; r++) owner[r] = id;
      for (const c of d.children) if (c.end - c.start + 1 >= minRows) assign(c);
    };
    for (const d of roots) if (d.end - d.start + 1 >= minRows) assign(d);

    let r = 0;
    while (r < n) {
      const id = owner[r];
      let e = r;
      while (e + 1 < n && owner[e + 1] === id) e++;
      if (id < 0) this.windows(r, e, 'section');
      else this.emit(r, e, this.defMeta(defs[id]), Infinity);
      r = e + 1;
    }
    return this.out;
  }

  fromMarkdown(): Chunk[] {
    for (const s of markdownSections(this.lines)) {
      const container = s.path.length > 0 ? s.path.join(' > ') : null;
      const header = container === null ? [] : [`in: ${container}`];
      this.emit(s.start, s.end, { kind: 'section', symbol: s.title, container, header }, this.windowLines);
    }
    return this.out;
  }

  windows(start: number, end: number, kind: 'window' | 'section'): Chunk[] {
    this.emit(start, end, { kind, symbol: null, container: null, header: [] }, this.windowLines);
    return this.out;
  }

  private defMeta(d: Definition): Meta {
    const names: string[] = [];
    for (let p = d.parent; p !== null; p = p.parent) names.unshift(p.symbol ?? p.kind);
    if (d.owner !== null) names.push(d.owner);
    const header: string[] = [];
    if (d.owner !== null) header.push(`in: ${d.owner}`);
    else if (d.parent !== null) header.push(`in: ${this.signature(d.parent)}`);
    header.push(this.signature(d));
    return { kind: d.kind, symbol: d.symbol, container: names.length > 0 ? names.join('.') : null, header };
  }

  /** First line(s) of a definition from its name row, up to the body: `def route(self, rule)`. */
  private signature(d: Definition): string {
    let sig = '';
    let depth = 0;
    for (let r = d.nameRow; r <= d.end && r < d.nameRow + SIGNATURE_ROWS; r++) {
      const line = this.lines[r].trim();
      sig = sig === '' ? line : `${sig} ${line}`;
      for (const ch of line) {
        if (ch === '(' || ch === '[' || ch === '<') depth++;
        else if (ch === ')' || ch === ']' || ch === '>') depth = Math.max(0, depth - 1);
      }
      if (depth === 0 || sig.length >= SIGNATURE_MAX) break;
    }
    for (let prev = ''; prev !== sig;) {
      prev = sig;
      sig = sig.replace(/\s*(?:\{|:|=>|=|\bdo|\bthen)\s*$/, '');
    }
    return sig.length > SIGNATURE_MAX ? `${sig.slice(0, SIGNATURE_MAX)}…` : sig;
  }

  /** Emit rows [start, end] (trimmed of blank rows) as one chunk, or parts when over budget. */
  private emit(start: number, end: number, meta: Meta, maxRows: number): void {
    while (start <= end && isBlank(this.lines[start])) start++;
    while (end >= start && isBlank(this.lines[end])) end--;
    if (start > end || this.allTrivial(start, end)) return;
    const head = this.headerText(meta);
    const headTokens = this.opt.countTokens(head);
    const max = this.opt.maxTokens;
    // Rows are counted once each and summed (exact for WordPiece, where no token spans a line
    // break). A sum within 10 % of the budget is checked with a real count of the embedText, until
    // SUMS_TRUSTED checks with this countTokens found the sum never below the real count.
    const measure = (p: Part): number => {
      let est = headTokens;
      for (let r = p.contextStart; r <= p.end && est <= max * 2; r++) est += this.rowTokens(r);
      const agreed = sumsAgreed.get(this.opt.countTokens) ?? 0;
      if (est <= max * CLOSE_CALL || est > max * 2 || agreed >= SUMS_TRUSTED) return est;
      const actual = this.opt.countTokens(head + this.text(p.contextStart, p.end));
      sumsAgreed.set(this.opt.countTokens, actual <= est ? agreed + 1 : -Infinity);
      return actual;
    };
    const parts = splitRows(start, end, {
      maxTokens: max,
      measure,
      rowTokens: (row) => this.rowTokens(row),
      maxRows,
      overlapRows: this.overlap,
      preferBlankCut: maxRows !== Infinity,
      isBlank: (row) => isBlank(this.lines[row]),
    });
    for (const p of parts) {
      let s = p.start;
      let e = p.end;
      while (s <= e && isBlank(this.lines[s])) s++;
      while (e >= s && isBlank(this.lines[e])) e--;
      if (s > e || this.allTrivial(s, e)) continue;
      const from = p.contextStart < p.start ? p.contextStart : s;
      let embedText = head + this.text(from, e);
      if (s === e && measure({ start: s, end: e, contextStart: from }) > max) embedText = this.truncate(embedText);
      this.out.push({
        relPath: this.relPath,
        startLine: s + 1,
        endLine: e + 1,
        language: this.language,
        kind: meta.kind,
        symbol: meta.symbol,
        container: meta.container,
        text: this.text(s, e),
        embedText,
      });
    }
  }

  private headerText(meta: Meta): string {
    let h = `${this.c}path: ${this.relPath}\n`;
    for (const line of meta.header) if (line !== '') h += `${this.c}${line}\n`;
    return h;
  }

  private text(start: number, end: number): string {
    return this.lines.slice(start, end + 1).join('\n');
  }

  private allTrivial(start: number, end: number): boolean {
    for (let r = start; r <= end; r++) if (!isTrivial(this.lines[r])) return false;
    return true;
  }

  private rowTokens(row: number): number {
    let t = this.rowTok.get(row);
    if (t === undefined) {
      t = Math.max(0, this.opt.countTokens(this.lines[row]) - this.specialTokens) + this.newlineTokens;
      this.rowTok.set(row, t);
    }
    return t;
  }

  /** Cut an over-long embedText (one huge line) to fit maxTokens. */
  private truncate(s: string): string {
    let cut = s;
    for (let i = 0; i < 20; i++) {
      const t = this.opt.countTokens(cut);
      if (t <= this.opt.maxTokens) return cut;
      cut = cut.slice(0, Math.max(0, Math.floor((cut.length * this.opt.maxTokens) / t) - 16));
    }
    return cut;
  }
}
