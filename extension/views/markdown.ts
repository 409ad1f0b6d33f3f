/**
 * Text from the index (symbols, model ids, messages) placed into Markdown that VS Code renders
 * with theme icons and command links: escaped so that it reads as itself. No vscode import.
 */

/**
 * Return `s` as literal Markdown text: every ASCII punctuation character backslash-escaped
 * (CommonMark allows it for all of them), so `*`, `_`, `[`, `<`, `&` and a theme icon's `$(` stay
 * text; line breaks become spaces.
 */
export function escapeMarkdown(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

/** Return `s` as a Markdown code span whose fence is longer than any run of backticks inside it. */
export function markdownCode(s: string): string {
  const text = s.replace(/\s*[\r\n]+\s*/g, ' ');
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}
