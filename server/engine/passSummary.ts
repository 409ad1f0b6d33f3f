/**
 * The summary of a build that runs in passes (the static tier first, then the transformer tier):
 * the first pass writes the files and chunks, so the last pass's summary alone would say that a
 * rebuild wrote nothing. A build reports what all its passes did, and the state the last left.
 */
import type { RefreshSummary } from '../index/refresh';

/** `before` (the passes so far) followed by `pass`: work done is added up; the state (seen, skipped, pending, complete) is the last pass's. */
export function addPass(before: RefreshSummary, pass: RefreshSummary): RefreshSummary {
  const textsEmbedded = before.textsEmbedded + pass.textsEmbedded;
  const embedSeconds = before.embedSeconds + pass.embedSeconds;
  const st = (k: keyof RefreshSummary['stageSeconds']) => before.stageSeconds[k] + pass.stageSeconds[k];
  return {
    ...pass,
    filesIndexed: before.filesIndexed + pass.filesIndexed,
    // The later pass finds unchanged what the earlier one wrote.
    filesUnchanged: Math.min(before.filesUnchanged, pass.filesUnchanged),
    filesRenamed: before.filesRenamed + pass.filesRenamed,
    filesDeleted: before.filesDeleted + pass.filesDeleted,
    chunks: before.chunks + pass.chunks,
    chunksEmbedded: before.chunksEmbedded + pass.chunksEmbedded,
    textsEmbedded,
    embedSeconds,
    chunksPerSecond: embedSeconds > 0 ? textsEmbedded / embedSeconds : 0,
    staticEmbedded: before.staticEmbedded + pass.staticEmbedded,
    staticSeconds: before.staticSeconds + pass.staticSeconds,
    stageSeconds: { read: st('read'), chunk: st('chunk'), static: st('static'), write: st('write') },
    warnings: [...new Set([...before.warnings, ...pass.warnings])],
    seconds: before.seconds + pass.seconds,
  };
}
