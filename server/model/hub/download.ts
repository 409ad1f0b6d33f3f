/**
 * Downloads a model from the Hugging Face Hub into the standard Hugging Face cache, so that Python
 * tools and semsearch share one copy:
 *
 *   <cache>/models--<org>--<name>/blobs/<etag>             file contents, named by their hash
 *   <cache>/models--<org>--<name>/blobs/<etag>.incomplete  a download in progress (resumed by Range)
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<path> relative symlink to the blob
 *   <cache>/models--<org>--<name>/refs/main                the commit `main` pointed to
 *
 * `<etag>` is the sha256 of the content for files stored with Git LFS (the weights) and the git blob
 * sha1 for the others, as huggingface_hub names them. Only what the encoder and the tokenizer read is
 * fetched (MODEL_FILES, the safetensors weights); pickle weights (.bin, .pt, …) never are.
 *
 * Every file is checked against the Hub's metadata (size, and the LFS sha256 or git sha1 from the tree
 * API) before it is renamed from `.incomplete` to its blob name; a snapshot entry is a symlink created
 * under a temporary name and renamed into place, so a snapshot never holds a partial or unchecked file,
 * and `refs/main` is written last. A network failure is retried, continuing the `.incomplete` file
 * with a Range request (so does the next run after an interruption); a lock file per blob under
 * `<cache>/.locks/` keeps two processes from writing one file. Offline mode (HF_HUB_OFFLINE=1 or
 * `offline`) never opens a connection. Errors read `<model id>: <reason>` with the fix.
 *
 * The Hub API calls go through @huggingface/hub (modelInfo for the commit, listFiles for sizes and
 * hashes, fileDownloadInfo for the download URL); the byte transfer is written here (see transfer()).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fileDownloadInfo, HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { ModelError } from '../folder';
import { cachedSnapshot, MODEL_FILES, PICKLE_WEIGHTS, POOLING_CONFIG, repoCacheDir, REQUIRED_FILES, SAFETENSORS, SAFETENSORS_INDEX } from './cache';
import { DEFAULT_HUB_URL, hubCacheDir, hubUrlOf, HubOptions, isHubId, isOffline, tokenOf } from './settings';

/** What the Hub says a file must be. */
interface Expected {
  path: string;
  size: number;
  /** sha256 (hex) of the content: Git LFS files. */
  sha256?: string;
  /** git blob sha1 (hex): files stored in git itself. */
  gitSha1?: string;
  /** File name under blobs/: the sha256 or the git sha1, as huggingface_hub names blobs. */
  blob: string;
}

function expectedOf(e: ListFileEntry): Expected | undefined {
  if (e.lfs?.oid && /^[0-9a-f]{64}$/.test(e.lfs.oid)) return { path: e.path, size: e.lfs.size, sha256: e.lfs.oid, blob: e.lfs.oid };
  if (e.oid && /^[0-9a-f]{40}$/.test(e.oid)) return { path: e.path, size: e.size, gitSha1: e.oid, blob: e.oid };
  return undefined;
}

/**
 * Choose the files to fetch from a repository listing. Throws ModelError when the repository
 * lacks config, tokenizer or safetensors weights (naming pickle weights when those are all it has).
 */
export function selectModelFiles(id: string, entries: readonly ListFileEntry[]): ListFileEntry[] {
  const byPath = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e]));
  const has = (p: string) => byPath.has(p);
  // The shard list comes from the index file, unknown before it is downloaded: take every
  // root-level model-*.safetensors shard the listing shows (the index names exactly those).
  const weights = has(SAFETENSORS)
    ? [SAFETENSORS]
    : has(SAFETENSORS_INDEX)
      ? [SAFETENSORS_INDEX, ...[...byPath.keys()].filter((p) => /^model-\d+-of-\d+\.safetensors$/.test(p)).sort()]
      : undefined;
  if (!weights || (weights.length === 1 && weights[0] === SAFETENSORS_INDEX)) {
    const pickles = [...byPath.keys()].filter((p) => PICKLE_WEIGHTS.test(p) && !p.includes('/'));
    const what = pickles.length ? `only pickle weights (${pickles.slice(0, 3).join(', ')})` : 'no weights file';
    throw new ModelError(
      id,
      `the repository has no safetensors weights (${what}); semsearch never loads pickle files (.bin, .pt): ` +
        'choose a model that publishes model.safetensors, or convert this one and give its folder with --model',
    );
  }
  const missing = REQUIRED_FILES.filter((f) => !has(f));
  if (missing.length) throw new ModelError(id, `the repository lacks ${missing.join(' and ')}; it is not a model semsearch can load`);
  const wanted = new Set<string>([...MODEL_FILES, ...weights]);
  for (const p of byPath.keys()) if (POOLING_CONFIG.test(p)) wanted.add(p);
  return [...wanted].filter(has).map((p) => byPath.get(p)!);
}

/** A failure worth another attempt (the connection, not the request). */
class TransientError extends Error {}

function describeFetchError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
}

/** `<id>: reason` for an error of the Hub's API, with the fix. */
function hubError(id: string, hubUrl: string, e: unknown, what: string): Error {
  if (e instanceof ModelError) return e;
  if (e instanceof HubApiError || typeof (e as { statusCode?: unknown }).statusCode === 'number') {
    const status = (e as HubApiError).statusCode;
    if (status === 401) {
      return new ModelError(
        id,
        `${what}: the Hub refused access (401): the model is gated or private, or does not exist; ` +
          `if it exists, set HF_TOKEN to an access token (${hubUrl}/settings/tokens) of an account that may read ${hubUrl}/${id}`,
      );
    }
    if (status === 403)
      return new ModelError(
        id,
        `${what}: the token in HF_TOKEN has no access (403); accept the model's terms at ${hubUrl}/${id}, or use a token with read access`,
      );
    if (status === 404)
      return new ModelError(id, `${what}: not found on ${hubUrl} (404); check the model id${hubUrl === DEFAULT_HUB_URL ? '' : ' and HF_ENDPOINT'}`);
    return new ModelError(id, `${what}: the Hub answered ${status} (${(e as Error).message.split('. URL:')[0]}); try again later`);
  }
  if ((e as Error).name === 'AbortError') return new ModelError(id, 'download cancelled');
  if (e instanceof TypeError && /access token/i.test(e.message)) {
    return new ModelError(id, `HF_TOKEN is not a Hugging Face access token (${e.message}); fix or unset it`);
  }
  return new ModelError(
    id,
    `${what}: cannot reach ${hubUrl} (${describeFetchError(e)}); check the network connection or HF_ENDPOINT, ` +
      'or work offline with a model that is already downloaded (a model folder, or the Hugging Face cache)',
  );
}

/** sha256 and git blob sha1 of a file, in one read. */
async function hashFile(file: string, size: number): Promise<{ sha256: string; gitSha1: string }> {
  const sha256 = crypto.createHash('sha256');
  const gitSha1 = crypto.createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha256.update(chunk as Buffer);
    gitSha1.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), gitSha1: gitSha1.digest('hex') };
}

/** Rename `tmp` to `dest` after creating a symlink at `tmp` (atomic replacement of `dest`). */
async function linkAtomically(target: string, dest: string): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  try {
    await fsp.symlink(path.relative(path.dirname(dest), target), tmp);
  } catch {
    // No symlinks (Windows without developer mode): a copy, as huggingface_hub does.
    await fsp.copyFile(target, tmp);
  }
  try {
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      },
      { once: true },
    );
  });

/**
 * Transfer `url` into `file` from byte `offset` on (0: the whole file), calling `onBytes` with the
 * file's size so far. Written here rather than through downloadFile()'s WebBlob because resuming
 * needs what WebBlob hides: the response status and Content-Range, to know whether the server
 * honoured the Range (a 200 answer to a ranged request is the whole file: appending it would
 * corrupt the download).
 */
async function transfer(
  url: string,
  file: string,
  offset: number,
  size: number,
  token: string | undefined,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (offset > 0) headers.Range = `bytes=${offset}-`;
  let resp: Response;
  try {
    resp = await fetch(url, { headers, signal, redirect: 'follow' });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new TransientError(describeFetchError(e));
  }
  if (offset > 0 && resp.status === 200)
    offset = 0; // the range was ignored: this is the whole file
  else if (offset > 0 && resp.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(resp.headers.get('content-range') ?? '')?.[1]);
    if (start !== offset) {
      await resp.body?.cancel();
      throw new TransientError(`asked for bytes from ${offset}, got ${resp.headers.get('content-range') ?? 'no Content-Range'}`);
    }
  } else if (!resp.ok) {
    await resp.body?.cancel();
    if (resp.status >= 500 || resp.status === 429) throw new TransientError(`HTTP ${resp.status}`);
    throw Object.assign(new HubApiError(url, resp.status), { message: `HTTP ${resp.status}` });
  }
  const fh = await fsp.open(file, offset > 0 ? 'a' : 'w');
  let done = offset;
  try {
    if (resp.body) {
      for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) {
        done += chunk.byteLength;
        if (done > size) throw new Error(`the server sent more than the ${size} bytes the Hub lists`);
        await fh.write(chunk);
        onBytes(done);
      }
    }
    await fh.sync();
  } catch (e) {
    if (signal?.aborted) throw e;
    if (e instanceof Error && e.message.startsWith('the server sent more')) throw e;
    throw new TransientError(`connection lost after ${done} of ${size} bytes (${describeFetchError(e)})`);
  } finally {
    await fh.close();
  }
  if (done < size) throw new TransientError(`the transfer ended after ${done} of ${size} bytes`);
}

/**
 * Download model `id` (at `options.revision`, default main) into the Hugging Face cache unless
 * its snapshot is already complete there; return the snapshot folder. Throws ModelError
 * (`<id>: reason`) on any failure; a partial file stays as `.incomplete` for the next attempt.
 */
export async function downloadModel(id: string, options: HubOptions = {}): Promise<string> {
  if (!isHubId(id)) throw new ModelError(id, 'not a Hugging Face model id (org/name)');
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? hubCacheDir();
  if (isOffline(options)) return offlineCopy(id, cacheDir, revision);
  const hubUrl = hubUrlOf(options);
  const accessToken = tokenOf(options);
  const { commit, files } = await listRemote(id, revision, { hubUrl, ...(accessToken ? { accessToken } : {}) }, options.signal);

  const repoDir = repoCacheDir(id, cacheDir);
  const snapshot = path.join(repoDir, 'snapshots', commit);
  const blobs = path.join(repoDir, 'blobs');
  await fsp.mkdir(blobs, { recursive: true });
  await checkRoom(id, files, blobs, cacheDir);

  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  let bytesBefore = 0;
  let lastReport = 0;
  const report = (i: number, file: Expected, fileBytesDone: number, force = false) => {
    const now = Date.now();
    if (!options.onProgress || (!force && now - lastReport < 100)) return;
    lastReport = now;
    options.onProgress({
      model: id,
      file: file.path,
      fileBytesDone,
      fileBytesTotal: file.size,
      bytesDone: bytesBefore + fileBytesDone,
      bytesTotal,
      filesDone: i,
      fileCount: files.length,
    });
  };

  for (const [i, file] of files.entries()) {
    const blob = path.join(blobs, file.blob);
    report(i, file, 0, true);
    if (!fs.existsSync(blob)) {
      const lock = path.join(cacheDir, '.locks', path.basename(repoDir), `${file.blob}.semsearch.lock`);
      await withLock(id, lock, options.signal, async () => {
        // Another process may have fetched it while this one waited for the lock.
        if (!fs.existsSync(blob)) await fetchBlob(id, file, blob, { ...options, hubUrl, accessToken, commit, report: (n) => report(i, file, n) });
      });
    }
    await linkAtomically(blob, path.join(snapshot, file.path));
    report(i + 1, file, file.size, true);
    bytesBefore += file.size;
  }
  // Last: a ref names a snapshot only once the snapshot is complete.
  if (revision !== commit) await writeAtomically(path.join(repoDir, 'refs', revision), commit);
  return snapshot;
}

/** Offline mode: the complete cached copy, or an error saying what is missing. */
function offlineCopy(id: string, cacheDir: string, revision: string): string {
  const cached = cachedSnapshot(id, { cacheDir, revision });
  if (cached && cached.missing.length === 0) return cached.dir;
  throw new ModelError(
    id,
    `${cached ? `the cached copy lacks ${cached.missing.join(', ')}` : `not in the Hugging Face cache (${cacheDir})`}, ` +
      'and offline mode is on (HF_HUB_OFFLINE or --offline / semsearch.offline); go online once to download it, or give a model folder',
  );
}

/** The commit `revision` names on the Hub, and the files to fetch from it with what each must be. */
async function listRemote(
  id: string,
  revision: string,
  common: { hubUrl: string; accessToken?: string },
  signal: AbortSignal | undefined,
): Promise<{ commit: string; files: Expected[] }> {
  const withSignal = (u: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(u, { ...init, signal });
  let commit: string;
  try {
    const info = await modelInfo({ name: id, revision, additionalFields: ['sha'], ...common, fetch: withSignal });
    const sha = (info as { sha?: unknown }).sha;
    commit = typeof sha === 'string' ? sha : '';
  } catch (e) {
    throw hubError(id, common.hubUrl, e, 'model information');
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new ModelError(id, `the Hub gave no commit for revision ${revision} (got "${commit}")`);

  const entries: ListFileEntry[] = [];
  try {
    for await (const e of listFiles({ repo: { type: 'model', name: id }, revision: commit, recursive: true, ...common, fetch: withSignal })) entries.push(e);
  } catch (e) {
    throw hubError(id, common.hubUrl, e, 'file list');
  }
  const files = selectModelFiles(id, entries).map((e) => {
    const x = expectedOf(e);
    if (!x)
      throw new ModelError(
        id,
        `${e.path}: the Hub lists no hash for it (neither an LFS sha256 nor a git oid), so it cannot be verified; refusing to download it`,
      );
    return x;
  });
  return { commit, files };
}

/** Refuse up front when the disk lacks room for what is left to fetch (failing at 95 % is worse). */
async function checkRoom(id: string, files: readonly Expected[], blobs: string, cacheDir: string): Promise<void> {
  const sizeOf = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  const left = files.filter((f) => !fs.existsSync(path.join(blobs, f.blob))).reduce((n, f) => n + f.size - sizeOf(path.join(blobs, `${f.blob}.incomplete`)), 0);
  const disk = await fsp.statfs(blobs).catch(() => undefined);
  if (disk && left > disk.bavail * disk.bsize) {
    throw new ModelError(
      id,
      `needs ${mb(left)} in ${cacheDir} but only ${mb(disk.bavail * disk.bsize)} is free; free some space or set HF_HUB_CACHE to another disk`,
    );
  }
}

/**
 * Run `fn` holding the lock file `lock` (created exclusively, holding our pid), so that two
 * processes (the sidecar and a command line) never write one `.incomplete` file at once. A lock
 * whose process is gone is taken over; a live one is waited for.
 */
async function withLock<T>(id: string, lock: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  await fsp.mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      const fh = await fsp.open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
    if (!processAlive(owner)) {
      await fsp.rm(lock, { force: true });
      continue;
    }
    if (signal?.aborted) throw new ModelError(id, 'download cancelled');
    await sleep(200, signal).catch(() => undefined);
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { force: true });
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Fetch one file into `blob`: transfer into `blob.incomplete` (continuing a partial one), retrying
 * network failures, then check size and hash and rename. A hash mismatch deletes the partial file;
 * when the bytes came partly from an earlier attempt, it starts once more from zero.
 */
async function fetchBlob(
  id: string,
  file: Expected,
  blob: string,
  o: HubOptions & { hubUrl: string; accessToken: string | undefined; commit: string; report: (n: number) => void },
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const retries = o.retries ?? 4;
  const delay = o.retryDelayMs ?? 1000;
  let freshRetryLeft = true;
  for (let attempt = 0; ; attempt++) {
    let offset = fs.statSync(incomplete, { throwIfNoEntry: false })?.size ?? 0;
    if (offset > file.size) {
      await fsp.rm(incomplete, { force: true });
      offset = 0;
    }
    const resumed = offset > 0;
    try {
      if (offset < file.size) {
        let info;
        try {
          // Asked again on every attempt: the URL it gives (a CDN's, signed) may have expired.
          info = await fileDownloadInfo({
            repo: { type: 'model', name: id },
            path: file.path,
            revision: o.commit,
            hubUrl: o.hubUrl,
            ...(o.accessToken ? { accessToken: o.accessToken } : {}),
            fetch: (u, init) => fetch(u, { ...init, signal: o.signal }),
          });
        } catch (e) {
          if (o.signal?.aborted) throw e;
          if (e instanceof HubApiError || (e instanceof TypeError && /access token/i.test(e.message))) throw e;
          throw new TransientError(describeFetchError(e));
        }
        if (!info) throw new ModelError(id, `${file.path}: listed by the Hub but not found when downloading (404)`);
        if (info.size !== file.size) throw new ModelError(id, `${file.path}: the Hub lists ${file.size} bytes but serves ${info.size}; try again later`);
        await transfer(info.url, incomplete, offset, file.size, o.accessToken, o.signal, o.report);
      }
    } catch (e) {
      if (o.signal?.aborted) throw new ModelError(id, `download cancelled (the partial ${file.path} is kept and resumed next time)`);
      if (e instanceof TransientError && attempt < retries) {
        await sleep(delay * 2 ** attempt, o.signal).catch(() => undefined);
        continue;
      }
      if (e instanceof TransientError) {
        throw new ModelError(id, `${file.path}: download failed after ${attempt + 1} attempts: ${e.message}; run again to resume it`);
      }
      throw hubError(id, o.hubUrl, e, file.path);
    }
    const got = await hashFile(incomplete, file.size);
    const ok = file.sha256 ? got.sha256 === file.sha256 : got.gitSha1 === file.gitSha1;
    if (ok) {
      await fsp.rename(incomplete, blob);
      return;
    }
    await fsp.rm(incomplete, { force: true });
    if (resumed && freshRetryLeft) {
      freshRetryLeft = false; // the kept part may have been the bad one: once more from zero
      continue;
    }
    const [kind, want, have] = file.sha256 ? ['sha256', file.sha256, got.sha256] : ['git sha1', file.gitSha1!, got.gitSha1];
    throw new ModelError(
      id,
      `${file.path}: the downloaded bytes do not match the Hub's ${kind} (expected ${want}, got ${have}); ` +
        'the file was discarded; run again, and if it persists check any proxy or HF_ENDPOINT mirror in between',
    );
  }
}
