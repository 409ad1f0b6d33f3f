/**
 * Line arithmetic for the chunker: splitting a run of lines into parts that fit a token budget
 * (with an overlap of context lines for the model), blank/trivial line tests, and Markdown
 * sections. No tree-sitter here; index.ts decides what the runs are.
 */

/** A range of rows, 0-based inclusive, plus the rows before it repeated as context for the model. */
export interface Part {
  start: number;
  end: number;
  /** First row of the overlap context (== start when none). Context rows belong to the part before. */
  contextStart: number;
}

export interface SplitBudget {
  /** Largest number of tokens `measure(part)` may take. */
  maxTokens: number;
  /** Tokens the part takes: header + context + text, special tokens included. */
  measure: (p: Part) => number;
  /** Tokens of one row alone, without special tokens (an estimate used for packing). */
  rowTokens: (row: number) => number;
  /** Cap on rows per part (windows); Infinity for definitions. */
  maxRows: number;
  /** Rows of overlap context given to parts after the first. */
  overlapRows: number;
  /** Prefer cutting after a blank row (windows). */
  preferBlankCut: boolean;
  isBlank: (row: number) => boolean;
}

/**
 * Split rows [start, end] into consecutive parts. Each part's measure fits `maxTokens`, except a
 * single row that alone exceeds it (index.ts truncates that one's embedText). Rows are never
 * shared between parts; overlap is expressed by `contextStart`.
 *
 * Cost is linear in the run: a part is first tried whole (a definition, or a window of `maxRows`)
 * with one `measure`; when that fails, rows are counted once each (cached by the caller) and packed
 * by their sum, and each packed part is checked once with `measure`.
 */
export function splitRows(start: number, end: number, b: SplitBudget): Part[] {
  const parts: Part[] = [];
  let cheap = true; // try whole windows until one does not fit, then pack by row counts
  let s = start;
  while (s <= end) {
    const contextStart = parts.length === 0 ? s : Math.max(parts[parts.length - 1].start, s - b.overlapRows);
    let part: Part | null = null;
    if (cheap && (parts.length === 0 || b.maxRows !== Infinity)) {
      let e = Math.min(end, s + b.maxRows - 1);
      if (e < end && b.preferBlankCut) e = blankCut(s, e, b.isBlank);
      const candidate = { start: s, end: e, contextStart };
      if (b.measure(candidate) <= b.maxTokens) part = candidate;
      else cheap = false;
    }
    if (part === null) part = packByRows(s, end, contextStart, b);
    parts.push(part);
    s = part.end + 1;
  }
  return parts;
}

/** Greedy packing by per-row counts, then checked with the real measure and shrunk if needed. */
function packByRows(s: number, limit: number, contextStart0: number, b: SplitBudget): Part {
  const fixed = b.measure({ start: s, end: s - 1, contextStart: s }); // header + special tokens
  // Context may take at most a quarter of the budget: drop its first rows until it does.
  let contextStart = contextStart0;
  let context = 0;
  for (let r = contextStart; r < s; r++) context += b.rowTokens(r);
  while (contextStart < s && context > b.maxTokens / 4) context -= b.rowTokens(contextStart++);
  const room = b.maxTokens - fixed - context;
  let e = s;
  let used = b.rowTokens(s);
  const maxE = Math.min(limit, s + b.maxRows - 1);
  while (e < maxE) {
    const t = b.rowTokens(e + 1);
    if (used + t > room) break;
    used += t;
    e++;
  }
  if (e < limit && b.preferBlankCut) e = blankCut(s, e, b.isBlank);
  // Row counts add up closely but not always exactly: check, and shrink in proportion if over.
  for (let actual = b.measure({ start: s, end: e, contextStart }); actual > b.maxTokens && e > s;) {
    e = s + Math.min(e - s - 1, Math.floor(((e - s) * b.maxTokens) / actual));
    actual = b.measure({ start: s, end: e, contextStart });
  }
  return { start: s, end: e, contextStart };
}

/** Move `e` back to the last blank row in the second half of [s, e], if there is one. */
function blankCut(s: number, e: number, isBlank: (row: number) => boolean): number {
  const floor = s + Math.floor((e - s) / 2);
  for (let r = e; r > floor; r--) if (isBlank(r)) return r;
  return e;
}

const WORD = /[\p{L}\p{N}]/u;
/** Block closers: `end` (Ruby, Lua), `fi`/`done`/`esac` (shell), `endif`… with punctuation around. */
const CLOSER = /^[\p{P}\p{S}\s]*(?:end|fi|done|esac|endif|endwhile|endfor|endforeach|endswitch|end if|end sub|end function)[\p{P}\p{S}\s]*$/u;
/** A closing bracket with a trailing comment: `}  // namespace geo`, `end # class Foo`. */
const CLOSER_COMMENT = /^\s*(?:[)\]};,]+|end)\s*(?:\/\/|#|--|\/\*).*$/u;

/**
 * True when a line carries nothing to search for: no letter or digit, or only a block closer
 * (`end`, `fi`, `}  // namespace x`). Runs of such lines between chunks are dropped.
 */
export function isTrivial(line: string): boolean {
  if (!WORD.test(line)) return true;
  return CLOSER.test(line) || CLOSER_COMMENT.test(line);
}

export function isBlank(line: string): boolean {
  return line.trim() === '';
}

/** A Markdown section: a heading and the rows up to the next heading of any level. */
export interface Section {
  start: number;
  end: number;
  /** Heading text, or null for the part before the first heading. */
  title: string | null;
  /** Enclosing headings (higher levels), outermost first. */
  path: string[];
}

const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** Cut Markdown into sections at ATX headings (`#`…`######`), ignoring fenced code blocks. */
export function markdownSections(lines: readonly string[]): Section[] {
  const sections: Section[] = [];
  const stack: { level: number; title: string }[] = [];
  let cur: Section = { start: 0, end: -1, title: null, path: [] };
  let fence: string | null = null;
  for (let r = 0; r < lines.length; r++) {
    const line = lines[r];
    const f = FENCE.exec(line);
    if (f !== null) {
      if (fence === null) fence = f[1][0].repeat(f[1].length);
      else if (f[1][0] === fence[0] && f[1].length >= fence.length) fence = null;
    }
    const h = fence === null && f === null ? ATX.exec(line) : null;
    if (h !== null && r > 0) {
      cur.end = r - 1;
      sections.push(cur);
    }
    if (h !== null) {
      const level = h[1].length;
      while (stack.length > 0 && stack[stack.length - 1].level >= level) stack.pop();
      const title = (h[2] ?? '').trim();
      cur = { start: r, end: r, title, path: stack.map((x) => x.title) };
      stack.push({ level, title });
    }
  }
  cur.end = lines.length - 1;
  sections.push(cur);
  return sections.filter((s) => s.end >= s.start);
}
