// Model faults: weights missing or damaged, tokenizer missing or damaged. Each gives an error
// naming the file and the fix, and keyword search keeps answering. (Out of memory: oom.test.ts.)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Embedder } from '../../server/model/embedder';
import type { SearchResult } from '../../server/protocol';
import { copyStorage, MINILM_DIR, Random, runSeed, SHARED_FILES, sharedIndex, tempDir, TestSidecar } from './support';
import { record } from './table';

const WEIGHTS = 'model.safetensors';

/** A copy of the test model folder (the weights linked, not copied) changed by `damage`. */
function brokenModel(damage: (dir: string) => void): string {
  const dir = tempDir('model');
  for (const f of fs.readdirSync(MINILM_DIR)) {
    if (f === WEIGHTS) fs.symlinkSync(path.join(MINILM_DIR, f), path.join(dir, f));
    else fs.cpSync(path.join(MINILM_DIR, f), path.join(dir, f), { recursive: true });
  }
  damage(dir);
  return dir;
}

function rewriteWeights(dir: string, change: (bytes: Buffer) => Buffer): void {
  const bytes = change(Buffer.from(fs.readFileSync(path.join(MINILM_DIR, WEIGHTS))));
  fs.rmSync(path.join(dir, WEIGHTS));
  fs.writeFileSync(path.join(dir, WEIGHTS), bytes);
}

/** Each fault, and what its error must say (besides the folder or file it names). */
const FAULTS: { name: string; damage(dir: string, random: Random): void; says: RegExp }[] = [
  { name: 'weights missing', damage: (d) => fs.rmSync(path.join(d, WEIGHTS)), says: /missing model\.safetensors$/ },
  {
    name: 'weights truncated to half',
    damage: (d) => rewriteWeights(d, (b) => b.subarray(0, b.length >> 1)),
    says: /model\.safetensors: file is truncated: tensor \S+ needs bytes \[\d+, \d+\) of the data section, which holds only \d+/,
  },
  {
    name: 'weights header length absurd',
    damage: (d) => rewriteWeights(d, (b) => (b.writeBigUInt64LE(0xffffffffffn, 0), b)),
    says: /model\.safetensors is not a safetensors file \(header length \d+, file size \d+\)/,
  },
  {
    name: 'weights header of random bytes',
    damage: (d, random) => rewriteWeights(d, (b) => (random.bytes(200).copy(b, 8), b)),
    says: /model\.safetensors: invalid safetensors header/,
  },
  { name: 'tokenizer missing', damage: (d) => fs.rmSync(path.join(d, 'tokenizer.json')), says: /missing tokenizer\.json$/ },
  { name: 'tokenizer not JSON', damage: (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": 3'), says: /cannot read tokenizer\.json \(.*JSON/ },
  {
    name: 'tokenizer of the wrong shape',
    damage: (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": {"type": "Nonsense"}}'),
    says: /tokenizer\.json or tokenizer_config\.json is not a usable tokenizer \(/,
  },
  { name: 'config.json missing', damage: (d) => fs.rmSync(path.join(d, 'config.json')), says: /missing config\.json$/ },
];

describe('reliability: model faults', function () {
  this.timeout(180_000);
  let root: string;
  let indexed: string;
  before(async function () {
    ({ root, storageDir: indexed } = await sharedIndex());
  });

  it('weights or tokenizer missing or damaged: the load fails naming the file, the sidecar says how to fix it, keyword search answers', async function () {
    const seed = runSeed();
    const random = new Random(seed);
    const storageDir = copyStorage(indexed);
    for (const fault of FAULTS) {
      const dir = brokenModel((d) => fault.damage(d, random));
      const error = await Embedder.load(dir, { device: 'cpu' }).then(
        (e) => (e.dispose(), null),
        (e: Error) => e,
      );
      assert.ok(error, `${fault.name}: loaded`);
      assert.ok(error.message.startsWith(dir), `${fault.name}: the error names the folder: ${error.message}`);
      assert.match(error.message, fault.says, fault.name);

      const sidecar = await TestSidecar.start({ roots: [root], storageDir, settings: { model: dir } });
      try {
        const s = await sidecar.waitForStatus((x) => x.health !== 'indexing', 60_000, 'start-up');
        // The transformer is refused; the fast (static) tier still answers, so this is a warning.
        assert.equal(s.health, 'warning');
        assert.ok(s.message.includes(error.message), `${fault.name}: status shows the load error: ${s.message}`);
        assert.match(s.message, /Set "semsearch\.model" to a model folder/, 'status says how to fix it');
        assert.match(s.message, /Semantic search uses the fast \(static\) tier meanwhile/);
        assert.equal(s.model, null);
        // Hybrid (the default) falls back to keyword ranking; the result says it is partial.
        const r = await sidecar.request<SearchResult>('semsearch/search', { query: 'mod12Value3', top: 3 });
        assert.equal(r.hits[0]?.symbol, 'mod12Value3', `${fault.name}: keyword search`);
        assert.ok(!r.tiers.includes('transformer'), `${fault.name}: no transformer tier answered`);
        // An explicit reindex says why the transformer is missing.
        await assert.rejects(sidecar.request('semsearch/reindex', {}), (e: Error) => e.message.includes(error.message));
      } finally {
        await sidecar.stop();
      }
    }
    record({
      area: 'model',
      what: FAULTS.map((f) => f.name).join('; '),
      cases: `${FAULTS.length} model folders (seed ${seed})`,
      outcome: `each load failed with "<folder or file>: reason"; the sidecar reported it with the fix (set "semsearch.model"), answered searches by keyword from the ${SHARED_FILES}-file index (partial: true) and refused to reindex with the same reason`,
    });
  });
});
