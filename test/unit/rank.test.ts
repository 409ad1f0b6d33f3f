import { strict as assert } from 'node:assert';
import { compileFilters, convexCombination, mergeOverlaps, parseQuery, reciprocalRankFusion, snippetOf } from '../../server/search';

describe('query filters', function () {
  it('splits lang:, path: and -path: off the query text', function () {
    const q = parseQuery('retry failed uploads lang:ts,py path:src/** -path:**/test/**');
    assert.equal(q.text, 'retry failed uploads');
    assert.deepEqual(q.languages, ['typescript', 'python']);
    assert.deepEqual(q.pathGlobs, ['src/**']);
    assert.deepEqual(q.excludePathGlobs, ['**/test/**']);
  });

  it('applies language, include and exclude globs together', function () {
    const f = compileFilters(parseQuery('x lang:go path:pkg -path:*_test.go'))!;
    assert.equal(f('pkg/zap/logger.go', 'go'), true);
    assert.equal(f('pkg/zap/logger_test.go', 'go'), false, 'excluded by -path');
    assert.equal(f('cmd/main.go', 'go'), false, 'outside path:pkg');
    assert.equal(f('pkg/zap/x.py', 'python'), false, 'wrong language');
  });

  it('a glob without a slash matches at any depth; a folder name matches below it', function () {
    const f = compileFilters(parseQuery('x path:*.ts'))!;
    assert.equal(f('a/b/c.ts', 'typescript'), true);
    assert.equal(f('a/b/c.tsx', 'typescript'), false);
    const g = compileFilters(parseQuery('x path:src/server'))!;
    assert.equal(g('src/server/main.ts', 'typescript'), true);
    assert.equal(g('lib/src/server/main.ts', 'typescript'), false, 'slash globs are anchored at the root');
  });

  it('no filters compile to null (no per-hit work)', function () {
    assert.equal(compileFilters(parseQuery('plain words')), null);
  });

  it('a glob whose regular expression is too large is a query error when compiled, not when matching', function () {
    const huge = 'lang:'.repeat(10_000);
    assert.throws(
      () => compileFilters({ languages: [], pathGlobs: [], excludePathGlobs: [huge] }),
      (e: unknown) => e instanceof Error && e.name === 'QueryError' && /too large/.test(e.message),
    );
  });
});

describe('reciprocal-rank fusion', function () {
  it('sums w/(k+rank) over lists', function () {
    const fused = reciprocalRankFusion(
      [
        { ids: [1, 2, 3], weight: 1 },
        { ids: [3, 1], weight: 1 },
      ],
      60,
    );
    const score = new Map(fused.map((f) => [f.id, f.score]));
    assert.ok(Math.abs(score.get(1)! - (1 / 61 + 1 / 62)) < 1e-12);
    assert.ok(Math.abs(score.get(3)! - (1 / 63 + 1 / 61)) < 1e-12);
    assert.ok(Math.abs(score.get(2)! - 1 / 62) < 1e-12);
    assert.deepEqual(
      fused.map((f) => f.id),
      [1, 3, 2],
    );
  });

  it('an item found by both lists beats one ranked first by only one', function () {
    const fused = reciprocalRankFusion(
      [
        { ids: [10, 20], weight: 1 },
        { ids: [30, 20], weight: 1 },
      ],
      60,
    );
    assert.equal(fused[0].id, 20);
  });

  it('weights shift the balance and a zero weight removes a list', function () {
    const lists = (wk: number, ws: number) => [
      { ids: [1], weight: wk },
      { ids: [2], weight: ws },
    ];
    assert.equal(reciprocalRankFusion(lists(2, 1), 60)[0].id, 1);
    assert.equal(reciprocalRankFusion(lists(1, 2), 60)[0].id, 2);
    assert.deepEqual(
      reciprocalRankFusion(lists(0, 1), 60).map((f) => f.id),
      [2],
    );
  });
});

describe('merging overlapping hits', function () {
  it('folds a lower-ranked overlapping hit into the better one and keeps rank order', function () {
    const merged = mergeOverlaps([
      { path: 'a.ts', startLine: 10, endLine: 40 },
      { path: 'b.ts', startLine: 1, endLine: 5 },
      { path: 'a.ts', startLine: 35, endLine: 60 },
      { path: 'a.ts', startLine: 61, endLine: 70 },
    ]);
    assert.deepEqual(merged, [
      { path: 'a.ts', startLine: 10, endLine: 60 },
      { path: 'b.ts', startLine: 1, endLine: 5 },
      { path: 'a.ts', startLine: 61, endLine: 70 },
    ]);
  });

  it('does not merge across files or workspace folders', function () {
    const merged = mergeOverlaps([
      { root: '/w1', path: 'a.ts', startLine: 1, endLine: 9 },
      { root: '/w2', path: 'a.ts', startLine: 1, endLine: 9 },
    ]);
    assert.equal(merged.length, 2);
  });
});

describe('snippets', function () {
  it('drops leading blank lines and common indentation, and caps length', function () {
    assert.equal(snippetOf('\n\n    def f():\n        return 1\n'), 'def f():\n    return 1\n');
    assert.ok(snippetOf('x'.repeat(1000)).length <= 401);
  });
});

describe('convex combination fusion', function () {
  it('scales each ranking to 0–1 and weighs the sum', function () {
    const fused = convexCombination([
      { ids: [1, 2, 3], scores: [30, 20, 10], weight: 0.3 }, // keyword: 1 → 1, 2 → 0.5, 3 → 0
      { ids: [3, 4, 1], scores: [0.9, 0.8, 0.5], weight: 0.7 }, // embedding: 3 → 1, 4 → 0.75, 1 → 0
    ]);
    const byId = new Map(fused.map((f) => [f.id, f.score]));
    assert.deepEqual(
      fused.map((f) => f.id),
      [3, 4, 1, 2],
    );
    assert.ok(Math.abs(byId.get(3)! - 0.7) < 1e-12);
    assert.ok(Math.abs(byId.get(4)! - 0.525) < 1e-12);
    assert.ok(Math.abs(byId.get(1)! - 0.3) < 1e-12);
    assert.ok(Math.abs(byId.get(2)! - 0.15) < 1e-12);
  });
  it('keeps score gaps that RRF flattens: a clear embedding winner stays first', function () {
    const keyword = { ids: [10, 20], scores: [5.0, 4.9] };
    const embedding = { ids: [20, 10], scores: [0.9, 0.2] };
    const convex = convexCombination([
      { ...keyword, weight: 0.3 },
      { ...embedding, weight: 0.7 },
    ]);
    assert.equal(convex[0].id, 20);
  });
  it('treats equal scores and single hits as the top of their list; ignores zero weights', function () {
    assert.deepEqual(convexCombination([{ ids: [7], scores: [3], weight: 1 }]), [{ id: 7, score: 1 }]);
    assert.deepEqual(
      convexCombination([
        { ids: [1, 2], scores: [0.5, 0.5], weight: 1 },
        { ids: [9], scores: [1], weight: 0 },
      ]).map((f) => f.score),
      [1, 1],
    );
    assert.deepEqual(convexCombination([]), []);
  });
});
