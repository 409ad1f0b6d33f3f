/**
 * Shared rendering of a Hit: its location as a vscode Uri/Range, its icon, a one-line snippet, and
 * opening or previewing it in an editor (with the chunk's lines highlighted).
 */
import * as vscode from 'vscode';
import type { Hit } from '../../server/protocol';

/** A code location as the sidecar describes it (a Hit or a chunk). Lines are 1-based, inclusive. */
export interface Location {
  root: string;
  path: string;
  startLine: number;
  endLine: number;
}

/** Return the file of a hit. */
export function hitUri(hit: Location): vscode.Uri {
  return vscode.Uri.joinPath(vscode.Uri.file(hit.root), ...hit.path.split('/'));
}

/** Return the hit's lines as a 0-based range (whole lines). */
export function hitRange(hit: Location): vscode.Range {
  const start = Math.max(0, hit.startLine - 1);
  const end = Math.max(start, hit.endLine - 1);
  return new vscode.Range(start, 0, end, Number.MAX_SAFE_INTEGER);
}

const KIND_ICONS: Record<string, string> = {
  function: 'symbol-function',
  method: 'symbol-method',
  constructor: 'symbol-constructor',
  class: 'symbol-class',
  interface: 'symbol-interface',
  struct: 'symbol-structure',
  enum: 'symbol-enum',
  trait: 'symbol-interface',
  impl: 'symbol-class',
  module: 'symbol-namespace',
  namespace: 'symbol-namespace',
  type: 'symbol-type-parameter',
  const: 'symbol-constant',
  constant: 'symbol-constant',
  variable: 'symbol-variable',
  property: 'symbol-property',
  field: 'symbol-field',
};

/** Return the codicon id for a chunk kind (a plain file icon for windows of text). */
export function kindIcon(kind: string): string {
  return KIND_ICONS[kind.toLowerCase()] ?? 'symbol-file';
}

/** Return the hit's name: its symbol, else the file's base name. */
export function hitName(hit: Pick<Hit, 'symbol' | 'path'>): string {
  return hit.symbol ?? hit.path.slice(hit.path.lastIndexOf('/') + 1);
}

/** Return the first meaningful lines of a snippet on one line, at most `max` characters. */
export function snippetLine(snippet: string, max = 160): string {
  const text = snippet
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join('  ')
    .replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

let highlightType: vscode.TextEditorDecorationType | undefined;
function highlight(): vscode.TextEditorDecorationType {
  return (highlightType ??= vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor('editor.rangeHighlightBackground'),
    overviewRulerColor: new vscode.ThemeColor('editor.findMatchHighlightBackground'),
    overviewRulerLane: vscode.OverviewRulerLane.Center,
  }));
}
let highlighted: vscode.TextEditor | undefined;

/** Remove the preview highlight, wherever it is. */
export function clearHighlight(): void {
  if (highlighted && highlightType) highlighted.setDecorations(highlightType, []);
  highlighted = undefined;
}

/**
 * Show a hit in an editor. `preview`: in the preview tab, keeping focus where it is, with the
 * chunk highlighted; else a normal tab with the cursor on the first line of the chunk.
 */
export async function showHit(hit: Location, mode: 'preview' | 'open'): Promise<vscode.TextEditor> {
  const range = hitRange(hit);
  const cursor = new vscode.Range(range.start, range.start);
  const editor = await vscode.window.showTextDocument(hitUri(hit), {
    preview: mode === 'preview',
    preserveFocus: mode === 'preview',
    selection: cursor,
  });
  clearHighlight();
  if (mode === 'preview') {
    editor.setDecorations(highlight(), [range]);
    highlighted = editor;
  }
  editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  return editor;
}
