// When the hover offers "Find similar code" (only over the name of an indexed definition, on the
// line that defines it) and how the symbol is escaped in its Markdown (extension/views/hoverText.ts,
// no vscode import).
import { strict as assert } from 'node:assert';
import { definitionLine, HoverChunk, offersSimilar, similarHoverMarkdown, symbolName } from '../../extension/views/hoverText';

const GEO = [
  '/**',
  ' * haversineDistance returns the great-circle distance in km.',
  ' */',
  'export function haversineDistance(a: LatLon, b: LatLon): number {',
  '  const d = toRadians(b.lat - a.lat);',
  '  return a === b ? 0 : haversineDistance(b, a);',
  '}',
];
const text = (line: number): string | undefined => GEO[line - 1];
const chunk: HoverChunk = { startLine: 1, endLine: 7, symbol: 'haversineDistance', kind: 'function' };

describe('hover gate: "Find similar code" only over a definition\'s name', () => {
  it('offers it over the name on the line that defines it', () => {
    assert.equal(definitionLine(chunk, text), 4);
    assert.equal(offersSimilar('haversineDistance', 4, chunk, text), true);
  });

  it('stays quiet over other words, calls in the body, and the doc comment naming it', () => {
    assert.equal(offersSimilar('LatLon', 4, chunk, text), false);
    assert.equal(offersSimilar('function', 4, chunk, text), false);
    assert.equal(offersSimilar('haversineDistance', 6, chunk, text), false);
    assert.equal(offersSimilar('haversineDistance', 2, chunk, text), false);
  });

  it('stays quiet for chunks without a symbol, or when the editor text no longer has the name', () => {
    assert.equal(offersSimilar('x', 1, { ...chunk, symbol: null }, text), false);
    assert.equal(offersSimilar('haversineDistance', 4, null, text), false);
    assert.equal(
      offersSimilar('haversineDistance', 4, chunk, () => 'const other = 1;'),
      false,
    );
  });

  it('matches the name part of qualified symbols', () => {
    assert.equal(symbolName('Circle::area'), 'area');
    assert.equal(symbolName('Store.open'), 'open');
    const lines = ['class Store:', '    # open the store', '    def open(self):', '        pass'];
    const c: HoverChunk = { startLine: 2, endLine: 4, symbol: 'Store.open', kind: 'method' };
    assert.equal(
      offersSimilar('open', 3, c, (l) => lines[l - 1]),
      true,
    );
    assert.equal(
      offersSimilar('open', 2, c, (l) => lines[l - 1]),
      false,
    );
  });

  it('treats $ as part of a name', () => {
    const lines = ['function $el(id) {', '  return document.getElementById(id);', '}'];
    const c: HoverChunk = { startLine: 1, endLine: 3, symbol: 'el', kind: 'function' };
    assert.equal(
      definitionLine(c, (l) => lines[l - 1]),
      undefined,
    );
  });
});

describe('hover text', () => {
  it('links to semsearch.findSimilar with {file, line}', () => {
    const md = similarHoverMarkdown('/w/src/geo.ts', 4, { ...chunk });
    const m = /\(command:semsearch\.findSimilar\?([^ )]+) "Find code similar to haversineDistance"\)/.exec(md);
    assert.ok(m, md);
    assert.deepEqual(JSON.parse(decodeURIComponent(m[1])), [{ file: '/w/src/geo.ts', line: 4 }]);
    assert.match(md, /function \*\*haversineDistance\*\*, lines 1–7$/);
  });

  it('escapes the symbol in the Markdown', () => {
    const md = similarHoverMarkdown('/f', 1, { startLine: 1, endLine: 1, symbol: 'a_b*[x](command:evil) $(alert) `c` <b>"q"', kind: 'function' });
    const shown = md.slice(md.indexOf('&nbsp;·&nbsp;'));
    assert.ok(shown.includes('**a\\_b\\*\\[x\\]\\(command\\:evil\\) \\$\\(alert\\) \\`c\\` \\<b\\>\\"q\\"**'), shown);
    // The link title loses its quotes rather than end early.
    assert.match(md, /"Find code similar to a_b\*\[x\]\(command:evil\) \$\(alert\) `c` <b>q"\)/);
    assert.match(md, /line 1$/);
  });
});
