// Find Similar as one cancellable flow (extension/views/similarFlow.ts): the picker opens busy at
// once; dismissing it cancels the request through its token; the answer fills the same picker.
// Driven with a fake picker and token source.
import { strict as assert } from 'node:assert';
import type { CancellationToken } from 'vscode';
import type { FindSimilarParams, FindSimilarResult } from '../../server/protocol';
import { runSimilarFlow, SimilarView, TokenSource } from '../../extension/views/similarFlow';

class FakeTokens implements TokenSource {
  private listeners: (() => void)[] = [];
  cancelled = false;
  disposed = false;
  readonly token: CancellationToken;
  constructor() {
    const listeners = this.listeners;
    const isCancelled = (): boolean => this.cancelled;
    this.token = {
      get isCancellationRequested() {
        return isCancelled();
      },
      onCancellationRequested: (l: () => void) => {
        listeners.push(l);
        return { dispose() {} };
      },
    } as unknown as CancellationToken;
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const l of this.listeners) l();
  }
  dispose(): void {
    this.disposed = true;
  }
}

class FakeView implements SimilarView {
  readonly events: string[] = [];
  private hide: (() => void)[] = [];
  open(title: string): void {
    this.events.push(`open ${title}`);
  }
  fill(r: FindSimilarResult): void {
    this.events.push(`fill ${r.hits.length}`);
  }
  close(): void {
    this.events.push('close');
  }
  onDidHide(l: () => void): { dispose(): void } {
    this.hide.push(l);
    return { dispose: () => (this.hide = this.hide.filter((x) => x !== l)) };
  }
  /** The user presses Esc. */
  escape(): void {
    this.events.push('esc');
    for (const l of [...this.hide]) l();
  }
  get listening(): number {
    return this.hide.length;
  }
}

const params: FindSimilarParams = { file: '/w/src/geo.ts', line: 4 };
const answer: FindSimilarResult = { source: { path: 'src/geo.ts', startLine: 1, endLine: 7, symbol: 'haversineDistance' }, hits: [], partial: false };

/** A request that resolves when told to, and rejects with RequestCancelled once its token is cancelled. */
function pendingRequest(): {
  request: (p: FindSimilarParams, t: CancellationToken) => Promise<FindSimilarResult>;
  resolve: (r: FindSimilarResult) => void;
  token?: CancellationToken;
} {
  const out: ReturnType<typeof pendingRequest> = {
    resolve: () => undefined,
    request: (_p, token) => {
      out.token = token;
      return new Promise((resolve, reject) => {
        out.resolve = resolve;
        token.onCancellationRequested(() => reject(Object.assign(new Error('cancelled'), { code: -32800 })));
      });
    },
  };
  return out;
}

describe('find similar flow', () => {
  it('opens the picker busy, then fills it with the answer', async () => {
    const view = new FakeView();
    const tokens = new FakeTokens();
    const req = pendingRequest();
    const done = runSimilarFlow(params, 'Finding code similar to src/geo.ts:4…', { view, tokens: () => tokens, request: req.request });
    assert.deepEqual(view.events, ['open Finding code similar to src/geo.ts:4…']);
    req.resolve({ ...answer, hits: [] });
    const outcome = await done;
    assert.equal(outcome.kind, 'shown');
    assert.deepEqual(view.events, ['open Finding code similar to src/geo.ts:4…', 'fill 0']);
    assert.equal(tokens.cancelled, false);
    assert.equal(tokens.disposed, true);
    assert.equal(view.listening, 0);
  });

  it('cancels the request when the picker is dismissed while it runs', async () => {
    const view = new FakeView();
    const tokens = new FakeTokens();
    const req = pendingRequest();
    const done = runSimilarFlow(params, 'Finding…', { view, tokens: () => tokens, request: req.request });
    view.escape();
    const outcome = await done;
    assert.equal(outcome.kind, 'cancelled');
    assert.equal(tokens.cancelled, true);
    assert.equal(req.token?.isCancellationRequested, true);
    assert.deepEqual(view.events, ['open Finding…', 'esc']);
    assert.equal(tokens.disposed, true);
  });

  it('drops an answer that arrives after the picker was dismissed', async () => {
    const view = new FakeView();
    const tokens = new FakeTokens();
    let resolve: (r: FindSimilarResult) => void = () => undefined;
    const request = (): Promise<FindSimilarResult> => new Promise((r) => (resolve = r));
    const done = runSimilarFlow(params, 'Finding…', { view, tokens: () => tokens, request });
    view.escape();
    resolve(answer);
    assert.equal((await done).kind, 'cancelled');
    assert.ok(!view.events.some((e) => e.startsWith('fill')));
  });

  it('does not cancel once the answer is shown (closing the filled picker is no cancellation)', async () => {
    const view = new FakeView();
    const tokens = new FakeTokens();
    await runSimilarFlow(params, 'Finding…', { view, tokens: () => tokens, request: () => Promise.resolve(answer) });
    view.escape();
    assert.equal(tokens.cancelled, false);
  });

  it('closes the picker for a position outside the index', async () => {
    const view = new FakeView();
    const outcome = await runSimilarFlow(params, 'Finding…', {
      view,
      tokens: () => new FakeTokens(),
      request: () => Promise.resolve({ source: null, hits: [], partial: false }),
    });
    assert.equal(outcome.kind, 'notIndexed');
    assert.deepEqual(view.events, ['open Finding…', 'close']);
    // A selection sent as text has no source chunk, and that is an answer.
    const text = await runSimilarFlow({ ...params, endLine: 6, text: 'x' }, 'Finding…', {
      view: new FakeView(),
      tokens: () => new FakeTokens(),
      request: () => Promise.resolve({ source: null, hits: [], partial: false }),
    });
    assert.equal(text.kind, 'shown');
  });

  it('closes the picker and throws on an error', async () => {
    const view = new FakeView();
    await assert.rejects(
      runSimilarFlow(params, 'Finding…', {
        view,
        tokens: () => new FakeTokens(),
        request: () => Promise.reject(new Error('src/geo.ts: outside the workspace folders')),
      }),
      /outside the workspace folders/,
    );
    assert.deepEqual(view.events, ['open Finding…', 'close']);
  });
});
