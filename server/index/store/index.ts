/** The store of one root's index: the Store class, its types, and the files of an index folder. */
export { BUSY_TIMEOUT_MS } from './open';
export { BM25_WEIGHTS } from './keywords';
export { FTS_TOKENIZER, SCHEMA_VERSION } from './schema';
export * from './location';
export * from './types';
export { Store } from './store';
