/**
 * Progress on the command line, drawn one way for every command: on a terminal one line redrawn in
 * place on stderr (cut to the width); otherwise, unless `terminalOnly`, a plain line
 * `semsearch: …` when the stage changes and at most every PLAIN_PROGRESS_MS. The lines themselves
 * come from the formatters below (indexing, downloading).
 */
import type { DownloadProgress } from '../../model/hub';
import type { IndexProgress } from '../../protocol';

const PLAIN_PROGRESS_MS = 2000;

export interface ProgressOptions {
  /** Show nothing. */
  quiet?: boolean;
  /** Draw only on a terminal (no plain lines when stderr is a file or a pipe). */
  terminalOnly?: boolean;
}

export class ProgressLine {
  private readonly tty = !!process.stderr.isTTY;
  private lastPlain = 0;
  private lastStage = '';
  private drawn = false;

  constructor(private readonly options: ProgressOptions = {}) {}

  /** Show `line`; `stage` names the step it belongs to (a new stage prints a plain line at once). */
  show(line: string, stage = ''): void {
    if (this.options.quiet) return;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
      this.drawn = true;
      return;
    }
    if (this.options.terminalOnly) return;
    const now = Date.now();
    if (stage !== this.lastStage || now - this.lastPlain >= PLAIN_PROGRESS_MS) {
      this.lastPlain = now;
      this.lastStage = stage;
      process.stderr.write(`semsearch: ${line}\n`);
    }
  }

  /** Erase the redrawn line (before a warning, the summary, or when done). */
  clear(): void {
    if (this.tty && this.drawn) {
      process.stderr.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  /** True when something was drawn in place and not cleared. */
  get onScreen(): boolean {
    return this.drawn;
  }
}

/** "about 12 min left", "about 40 s left", "about 2 h 10 min left". */
export function timeLeftText(seconds: number): string {
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

/**
 * The indexing progress line (without colour): files and chunks, then the tiers — the static
 * one ready or pending, the transformer's share of chunks with its rate and time left.
 */
export function indexProgressLine(p: IndexProgress, startedAt: number): string {
  const secs = (Date.now() - startedAt) / 1000;
  const total = p.chunksEmbedded + p.chunksPending;
  const pct = total > 0 ? Math.floor((100 * p.chunksEmbedded) / total) : 0;
  const width = 20;
  const filled = Math.round((width * pct) / 100);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const files = `files ${p.filesSeen} seen, ${p.filesIndexed} indexed, ${p.filesSkipped} skipped  chunks ${p.chunks}`;
  const fast =
    p.staticPending === undefined ? '' : p.staticPending === 0 && p.phase !== 'walk' ? '  fast tier ready' : `  fast tier: ${p.staticPending} pending`;
  if (p.transformer === false) return `${p.phase.padEnd(5)} ${files}${fast}  ${secs.toFixed(0)}s`;
  const rate = p.chunksPerSecond ? `, ${p.chunksPerSecond.toFixed(1)} chunks/s` : '';
  const left = p.etaSeconds !== undefined && p.chunksPending > 0 ? `, ${timeLeftText(p.etaSeconds)}` : '';
  return `${p.phase.padEnd(5)} ${bar} ${String(pct).padStart(3)}%  ${files}${fast}  deep: ${p.chunksEmbedded} embedded, ${p.chunksPending} pending${rate}${left}  ${secs.toFixed(0)}s`;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

/** The line describing a model download's progress. */
export function downloadLine(p: DownloadProgress): string {
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  return (
    `downloading ${p.model}: ${String(pct).padStart(3)}%  ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB  ` +
    `(file ${Math.min(p.filesDone + 1, p.fileCount)}/${p.fileCount}: ${p.file} ${mb(p.fileBytesDone)}/${mb(p.fileBytesTotal)} MB)`
  );
}

export { mb as megabytes };
