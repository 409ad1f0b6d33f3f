/**
 * The model flags every command shares (`--model`, `--offline`) and the download progress a
 * command shows on stderr when a Hub model is fetched the first time. The finding and fetching are
 * modelLocation.ts's and hub.ts's.
 */
import type { DownloadProgress } from '../../model/hub';
import { resolveModel } from '../../model/locate';
import type { ModelDescription } from '../../model/folder';

/** parseArgs option definitions of the model flags (the device is checked by usage.ts parseDevice). */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  offline: { type: 'boolean', default: false },
  device: { type: 'string', default: 'auto' },
} as const;

const PLAIN_PROGRESS_MS = 2000;

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

/** Return the line describing a download's progress. */
export function downloadLine(p: DownloadProgress): string {
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  return `downloading ${p.model}: ${String(pct).padStart(3)}%  ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB  ` +
    `(file ${Math.min(p.filesDone + 1, p.fileCount)}/${p.fileCount}: ${p.file} ${mb(p.fileBytesDone)}/${mb(p.fileBytesTotal)} MB)`;
}

/**
 * Resolve `--model` (downloading a Hub model on first use, unless `--offline` or $HF_HUB_OFFLINE),
 * showing the download's progress on stderr: one line redrawn in place on a terminal, else a line
 * every two seconds. `quiet` shows nothing. Ctrl-C during a download keeps the partial file.
 */
export async function resolveModelFromFlags(values: { model?: string; offline?: boolean }, quiet = false): Promise<ModelDescription> {
  const tty = !!process.stderr.isTTY;
  let drawn = false;
  let lastPlain = 0;
  let started = false;
  const ctrl = new AbortController();
  const onSigint = () => ctrl.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const model = await resolveModel(values.model, {
      offline: values.offline || undefined,
      signal: ctrl.signal,
      onProgress: quiet
        ? undefined
        : (p) => {
            if (!started) {
              started = true;
              if (!tty) process.stderr.write(`semsearch: ${p.model}: not downloaded yet; fetching ${p.fileCount} files (${mb(p.bytesTotal)} MB) from the Hugging Face Hub\n`);
            }
            const line = downloadLine(p);
            if (tty) {
              process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
              drawn = true;
            } else if (Date.now() - lastPlain >= PLAIN_PROGRESS_MS || p.filesDone === p.fileCount) {
              lastPlain = Date.now();
              process.stderr.write(`semsearch: ${line}\n`);
            }
          },
    });
    if (drawn) process.stderr.write('\r\x1b[K');
    if (started && !quiet) process.stderr.write(`semsearch: ${model.id}: downloaded to ${model.dir}\n`);
    return model;
  } catch (e) {
    if (drawn) process.stderr.write('\n');
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
