/** Locations shared by tests and benchmarks. */
import * as path from 'node:path';

/** Repository root (tests run from out/test/…, sources sit in test/…). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const MINILM_DIR = process.env.SEMSEARCH_TEST_MODEL ?? path.join(REPO_ROOT, '.models', 'all-MiniLM-L6-v2');
/** BAAI/bge-small-en-v1.5 as scripts/setup.sh provisions it; its tests are skipped when it is absent. */
export const BGE_SMALL_DIR = process.env.SEMSEARCH_TEST_BGE_MODEL ?? path.join(REPO_ROOT, '.models', 'bge-small-en-v1.5');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
