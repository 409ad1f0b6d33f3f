/**
 * Find Similar Code as one cancellable flow: the picker opens at once (busy) while the request
 * runs; dismissing it (Esc, another picker taking its place) cancels the request through its token;
 * the answer fills the same picker, from which the results can be sent to the results view. No
 * vscode import (only its types): the unit tests drive the flow with a fake picker and token.
 */
import type { CancellationToken } from 'vscode';
import type { FindSimilarParams, FindSimilarResult } from '../../server/protocol';

/** What the flow needs of its picker: vscode's QuickPick in the editor, a fake in the tests. */
export interface SimilarView {
  /** Show the picker now, busy, under `title`. */
  open(title: string): void;
  /** Show the answer in the picker. */
  fill(result: FindSimilarResult): void;
  /** Close the picker (without cancelling anything: the flow is done with it). */
  close(): void;
  /** Call `listener` when the user dismisses the picker; returns the unsubscribe. */
  onDidHide(listener: () => void): { dispose(): void };
}

/** A cancellation token source (vscode.CancellationTokenSource in the editor). */
export interface TokenSource {
  readonly token: CancellationToken;
  cancel(): void;
  dispose(): void;
}

export type SimilarOutcome =
  | { kind: 'shown'; result: FindSimilarResult }
  /** The user dismissed the picker before the answer came: the request was cancelled. */
  | { kind: 'cancelled' }
  /** The position is in no indexed chunk (and no text was sent to embed instead). */
  | { kind: 'notIndexed'; result: FindSimilarResult };

export interface SimilarFlowDeps {
  view: SimilarView;
  tokens: () => TokenSource;
  request: (params: FindSimilarParams, token: CancellationToken) => Promise<FindSimilarResult>;
}

/**
 * Run one Find Similar: open the busy picker titled `pendingTitle`, send the request, cancel it if
 * the picker goes away, and fill the picker with the answer. Errors other than a cancellation
 * close the picker and are thrown.
 */
export async function runSimilarFlow(params: FindSimilarParams, pendingTitle: string, deps: SimilarFlowDeps): Promise<SimilarOutcome> {
  const { view } = deps;
  const cts = deps.tokens();
  let answered = false;
  const hidden = view.onDidHide(() => {
    if (!answered) cts.cancel();
  });
  try {
    view.open(pendingTitle);
    let result: FindSimilarResult;
    try {
      result = await deps.request(params, cts.token);
    } catch (e) {
      if (cts.token.isCancellationRequested) return { kind: 'cancelled' };
      view.close();
      throw e;
    }
    // The answer may arrive after the picker was dismissed (the sidecar had finished already).
    if (cts.token.isCancellationRequested) return { kind: 'cancelled' };
    answered = true;
    if (!result.source && params.text === undefined) {
      view.close();
      return { kind: 'notIndexed', result };
    }
    view.fill(result);
    return { kind: 'shown', result };
  } finally {
    hidden.dispose();
    cts.dispose();
  }
}
