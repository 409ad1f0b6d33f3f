/**
 * The model flags every command shares (`--model`, `--offline`) and the download progress a
 * command shows on stderr when a Hub model is fetched the first time. The finding and fetching are
 * model/locate.ts's and model/hub/'s.
 */
import { resolveModel } from '../../model/locate';
import type { ModelDescription } from '../../model/folder';
import { downloadLine, megabytes, ProgressLine } from './progress';

/** parseArgs option definitions of the model flags (the device is checked by usage.ts parseDevice). */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  offline: { type: 'boolean', default: false },
  device: { type: 'string', default: 'auto' },
} as const;

/**
 * Resolve `--model` (downloading a Hub model on first use, unless `--offline` or $HF_HUB_OFFLINE),
 * showing the download's progress on stderr: one line redrawn in place on a terminal, else a line
 * every two seconds. `quiet` shows nothing. Ctrl-C during a download keeps the partial file.
 */
export async function resolveModelFromFlags(values: { model?: string; offline?: boolean }, quiet = false): Promise<ModelDescription> {
  const view = new ProgressLine({ quiet });
  let started = false;
  const ctrl = new AbortController();
  const onSigint = () => ctrl.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const model = await resolveModel(values.model, {
      offline: values.offline || undefined,
      signal: ctrl.signal,
      onProgress: (p) => {
        if (!started && !quiet && !process.stderr.isTTY) {
          process.stderr.write(
            `semsearch: ${p.model}: not downloaded yet; fetching ${p.fileCount} files (${megabytes(p.bytesTotal)} MB) from the Hugging Face Hub\n`,
          );
        }
        started = true;
        view.show(downloadLine(p), p.filesDone === p.fileCount ? 'done' : 'downloading');
      },
    });
    view.clear();
    if (started && !quiet) process.stderr.write(`semsearch: ${model.id}: downloaded to ${model.dir}\n`);
    return model;
  } catch (e) {
    if (view.onScreen) process.stderr.write('\n');
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
