/** A workspace folder's engine (store, indexer, searcher, model switches), alone or with its own model, and its build queue. */
export { FolderEngine } from './folderEngine';
export type { EmbedderForEngine, EngineOptions, OwnedQueryEmbedder, StaticEmbedderForEngine } from './folderEngine';
export { servingModel } from './indexFiles';
export type { IndexModel } from './indexFiles';
export { openStandalone } from './standalone';
export type { StandaloneEngine } from './standalone';
export { BuildCancelled, BuildQueue } from './buildQueue';
export type { BuildRequest, BuildRun, Built } from './buildQueue';
export { addPass } from './passSummary';
