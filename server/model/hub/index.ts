/** The Hugging Face Hub: its cache (read) and downloads into it. */
export { cachedSnapshot, MODEL_FILES, repoCacheDir } from './cache';
export { downloadModel, selectModelFiles } from './download';
export { DEFAULT_HUB_URL, hubCacheDir, hubUrlOf, isHubId, isOffline } from './settings';
export type { DownloadProgress, HubOptions } from './settings';
