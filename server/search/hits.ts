/** Turning ranked chunks into hits people read: overlapping hits merged, a short snippet. Pure functions. */

export interface Span {
  root?: string;
  path: string;
  startLine: number;
  endLine: number;
}

/**
 * Fold each hit that overlaps a better-ranked hit of the same file into it (the union of their
 * lines), so one place is shown once. Hits that merely touch are kept apart.
 */
export function mergeOverlaps<T extends Span>(ranked: readonly T[]): T[] {
  const kept: T[] = [];
  const byFile = new Map<string, T[]>();
  for (const hit of ranked) {
    const key = `${hit.root ?? ''}\0${hit.path}`;
    const same = byFile.get(key) ?? [];
    const host = same.find((h) => hit.startLine <= h.endLine && h.startLine <= hit.endLine);
    if (host) {
      host.startLine = Math.min(host.startLine, hit.startLine);
      host.endLine = Math.max(host.endLine, hit.endLine);
      continue;
    }
    const copy = { ...hit };
    same.push(copy);
    byFile.set(key, same);
    kept.push(copy);
  }
  return kept;
}

/** The first few non-blank lines of a chunk, trimmed of common indentation, for display. */
export function snippetOf(text: string, maxLines = 6, maxChars = 400): string {
  const lines = text.split(/\r?\n/);
  while (lines.length && !lines[0].trim()) lines.shift();
  const shown = lines.slice(0, maxLines);
  const indent = Math.min(...shown.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
  const out = shown.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join('\n');
  return out.length > maxChars ? out.slice(0, maxChars) + '…' : out;
}
