/**
 * How semsearch reaches the Hugging Face Hub and where its cache is, as huggingface_hub decides
 * them: the options of a download, and the environment ($HF_ENDPOINT, $HF_HUB_CACHE, $HF_HOME,
 * $HF_HUB_OFFLINE, $HF_TOKEN).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

export interface DownloadProgress {
  /** Hub id. */
  model: string;
  /** File being transferred (repository path). */
  file: string;
  fileBytesDone: number;
  fileBytesTotal: number;
  /** Over all files of the model, cached ones included. */
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  fileCount: number;
}

export interface HubOptions {
  /** Hub endpoint; default $HF_ENDPOINT, else https://huggingface.co. */
  hubUrl?: string;
  /** Cache root; default hubCacheDir() ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Never touch the network; also on when $HF_HUB_OFFLINE is 1/true/yes/on. */
  offline?: boolean;
  /** Access token for gated and private models; default $HF_TOKEN, else the token file of huggingface_hub. */
  token?: string;
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Further attempts per file after a network failure (each resumes where the last stopped). Default 4. */
  retries?: number;
  /** Wait before the first retry, doubled for each next one. Default 1000. */
  retryDelayMs?: number;
}

/** Standard Hugging Face cache: $HF_HUB_CACHE, $HF_HOME/hub, or $XDG_CACHE_HOME (~/.cache)/huggingface/hub (as huggingface_hub). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  return explicit ? explicit : path.join(hfHome(env), 'hub');
}

/** $HF_HOME, else $XDG_CACHE_HOME (~/.cache)/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
}

/** True when `options.offline` is set or $HF_HUB_OFFLINE says so (huggingface_hub's truthy values). */
export function isOffline(options: { offline?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  return options.offline === true || ['1', 'on', 'yes', 'true'].includes((env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
}

export function hubUrlOf(options: { hubUrl?: string } = {}, env: NodeJS.ProcessEnv = process.env): string {
  return (options.hubUrl ?? env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
}

/** A Hub model id: `name` or `org/name`, letters, digits, `-`, `_`, `.`. */
export function isHubId(s: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(s) && !s.includes('..');
}

/** The access token: `options.token`, $HF_TOKEN, else the token file huggingface_hub writes. */
export function tokenOf(options: HubOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const t = options.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (t?.trim()) return t.trim();
  const file = env.HF_TOKEN_PATH ?? path.join(hfHome(env), 'token');
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
