// What the language model tools tell a chat model (extension/views/toolText.ts has no vscode
// import): input checks, result parts, and the note or error while the index is partial.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Hit, SearchResult, StatusResult } from '../../server/protocol';
import {
  checkFindSimilarInput,
  checkSearchInput,
  emptyPartialError,
  hitText,
  partialNote,
  searchHeader,
  similarHeader,
  ToolInputError,
} from '../../extension/views/toolText';
import { REPO_ROOT } from '../support/paths';

const hit: Hit = {
  root: '/w',
  path: 'src/geo.ts',
  startLine: 14,
  endLine: 20,
  symbol: 'haversineDistance',
  kind: 'function',
  language: 'typescript',
  score: 0.03,
  snippet: 'export function haversineDistance(a: LatLon, b: LatLon): number {\n  const dLat = toRadians(b.lat - a.lat);',
};

function status(health: StatusResult['health'], chunks: number, withVectors: number, message = ''): StatusResult {
  return {
    health,
    message,
    model: null,
    staticModel: null,
    tiers: 'full',
    partial: chunks > withVectors,
    folders: [
      {
        root: '/w',
        indexPath: '/s/index.sqlite',
        files: 7,
        chunks,
        chunksWithVectors: withVectors,
        chunksWithStatic: null,
        skippedByReason: {},
        lastIndexed: null,
      },
    ],
  };
}

function result(hits: Hit[], partial: boolean): SearchResult {
  return { query: 'q', hits, partial, tiers: ['keyword', 'transformer'], timings: { embedMs: 0, vectorMs: 0, keywordMs: 0, fuseMs: 0, totalMs: 0 } };
}

describe('language model tool input', () => {
  it('fills defaults and trims the query', () => {
    assert.deepEqual(checkSearchInput({ query: '  great circle distance ' }), { query: 'great circle distance', top: 10, mode: 'hybrid' });
    assert.deepEqual(checkSearchInput({ query: 'x', top: 3, mode: 'keyword' }), { query: 'x', top: 3, mode: 'keyword' });
    assert.deepEqual(checkFindSimilarInput({ path: 'src/geo.ts', line: 14 }), { path: 'src/geo.ts', line: 14, top: 10 });
  });

  it('rejects what a model may get wrong, saying what is expected', () => {
    assert.throws(
      () => checkSearchInput({}),
      (e: Error) => e instanceof ToolInputError && /query must be a non-empty string/.test(e.message),
    );
    assert.throws(() => checkSearchInput({ query: '   ' }), /query must be a non-empty string/);
    assert.throws(() => checkSearchInput({ query: 'x', mode: 'fuzzy' }), /mode must be one of hybrid, semantic, keyword, not "fuzzy"/);
    assert.throws(() => checkSearchInput({ query: 'x', top: 0 }), /top must be an integer from 1 to 50, not 0/);
    assert.throws(() => checkSearchInput({ query: 'x', top: 2.5 }), /top must be an integer/);
    assert.throws(() => checkFindSimilarInput({ path: 'a.ts', line: 0 }), /line must be a 1-based line number, not 0/);
    assert.throws(() => checkFindSimilarInput({ path: 'a.ts', line: '12' }), /line must be a 1-based line number, not "12"/);
    assert.throws(() => checkFindSimilarInput({ line: 3 }), /path must be a file path/);
  });
});

describe('language model tool results', () => {
  it('renders a hit as location, symbol, kind and a fenced snippet', () => {
    assert.equal(
      hitText(hit, '/w/src/geo.ts'),
      '/w/src/geo.ts:14-20 haversineDistance (function, typescript)\n```typescript\nexport function haversineDistance(a: LatLon, b: LatLon): number {\n  const dLat = toRadians(b.lat - a.lat);\n```',
    );
    assert.match(hitText({ ...hit, snippet: 'a\n```\nb' }, 'f'), /\n````typescript\na\n```\nb\n````$/);
  });

  it('says nothing about coverage when the index is complete', () => {
    assert.equal(partialNote(false, status('ok', 40, 40)), undefined);
    assert.equal(
      searchHeader({ query: 'distance', top: 10, mode: 'hybrid' }, result([hit], false), undefined),
      '1 result for "distance" (hybrid), best first:',
    );
  });

  it('says so while the index is being built, with its progress', () => {
    const note = partialNote(true, status('indexing', 300, 120, 'indexing: 40 files, 120/300 chunks embedded'));
    assert.match(note!, /still being built \(indexing: 40 files, 120\/300 chunks embedded; 120 of 300 chunks embedded so far\)/);
    assert.match(note!, /relevant code may be missing/);
    const head = searchHeader({ query: 'distance', top: 10, mode: 'hybrid' }, result([hit, hit], true), note);
    assert.match(head, /^2 results for "distance" \(hybrid\), best first:\nNote: The workspace index is still being built/);
  });

  it('says which chunks lack vectors when indexing stopped short', () => {
    assert.match(partialNote(true, status('ok', 300, 250))!, /^50 of 300 chunks have no vector yet.*Reindex Workspace/);
    assert.match(partialNote(true, status('ok', 300, 300))!, /^The last indexing did not finish/);
  });

  it('turns an empty answer from a partial index into an error, not a silent "nothing found"', () => {
    const note = partialNote(true, status('indexing', 0, 0, 'loading the model'));
    assert.match(emptyPartialError(0, note)!, /^No results, but the index is incomplete: The workspace index is still being built/);
    assert.equal(emptyPartialError(3, note), undefined);
    assert.equal(emptyPartialError(0, undefined), undefined);
    assert.match(searchHeader({ query: 'zzz', top: 10, mode: 'semantic' }, result([], false), undefined), /^No results for "zzz" \(semantic\)/);
  });

  it('names the source of a find-similar answer', () => {
    const r = { source: { path: 'src/geo.ts', startLine: 14, endLine: 20, symbol: 'haversineDistance' }, hits: [hit], partial: false };
    assert.equal(similarHeader(r, undefined, '/w/src/geo.ts'), '1 result similar to /w/src/geo.ts:14-20 haversineDistance, most similar first:');
    assert.equal(similarHeader({ ...r, hits: [] }, undefined, '/w/src/geo.ts'), 'Nothing similar to /w/src/geo.ts:14-20 haversineDistance was found.');
  });
});

describe('package.json languageModelTools', () => {
  interface ToolContribution {
    name: string;
    toolReferenceName?: string;
    displayName: string;
    modelDescription: string;
    canBeReferencedInPrompt?: boolean;
    tags?: string[];
    inputSchema: {
      type: string;
      properties: Record<string, { type: string; enum?: string[]; minimum?: number; maximum?: number; default?: unknown }>;
      required: string[];
    };
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    contributes: { languageModelTools: ToolContribution[]; configuration: { properties: Record<string, { enum?: string[] }> } };
  };
  const tools = new Map(manifest.contributes.languageModelTools.map((t) => [t.name, t]));

  it('declares semsearch_search and semsearch_findSimilar, referable with #', () => {
    assert.deepEqual([...tools.keys()].sort(), ['semsearch_findSimilar', 'semsearch_search']);
    for (const t of tools.values()) {
      // VS Code refuses a tool without these, or referable without a reference name.
      assert.match(t.name, /^(?!copilot_|vscode_)[\w-]+$/);
      assert.ok(t.displayName && t.modelDescription, t.name);
      assert.equal(t.canBeReferencedInPrompt, true);
      assert.equal(t.toolReferenceName, t.name);
      for (const tag of t.tags ?? []) assert.doesNotMatch(tag, /^(copilot_|vscode_)/);
      assert.equal(t.inputSchema.type, 'object');
    }
  });

  it('declares the inputs the tools check, with the same defaults and bounds', () => {
    const search = tools.get('semsearch_search')!.inputSchema;
    assert.deepEqual(search.required, ['query']);
    assert.deepEqual(Object.keys(search.properties).sort(), ['mode', 'query', 'top']);
    assert.deepEqual(search.properties.mode.enum, manifest.contributes.configuration.properties['semsearch.search.defaultMode'].enum);
    assert.equal(search.properties.mode.default, checkSearchInput({ query: 'x' }).mode);
    const similar = tools.get('semsearch_findSimilar')!.inputSchema;
    assert.deepEqual(similar.required, ['path', 'line']);
    assert.deepEqual(Object.keys(similar.properties).sort(), ['line', 'path', 'top']);
    for (const schema of [search, similar]) {
      assert.equal(schema.properties.top.default, checkSearchInput({ query: 'x' }).top);
      assert.equal(schema.properties.top.minimum, 1);
      assert.doesNotThrow(() => checkSearchInput({ query: 'x', top: schema.properties.top.maximum }));
      assert.throws(() => checkSearchInput({ query: 'x', top: schema.properties.top.maximum! + 1 }), ToolInputError);
    }
  });
});
