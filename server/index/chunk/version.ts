/**
 * The version of the chunker's output. Bump it with any change to what chunk/ emits for the same
 * input (line ranges, kinds, symbols, containers, texts, embedded texts): an index written with
 * another version re-chunks every file when it is opened (vectors of unchanged texts are kept, so
 * nothing is embedded again). test/unit/chunkGolden.test.ts fails when the output of its fixture
 * tree changes while this number does not.
 */
export const CHUNKER_VERSION = 1;
