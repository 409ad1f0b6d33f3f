import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { batchLimits, Embedder } from '../../server/model/embedder';
import { TextTokenizer } from '../../server/model/tokenizer';
import { describeModel } from '../../server/model/folder';
import { BGE_SMALL_DIR, FIXTURES, MINILM_DIR } from '../support/paths';
import { cosine } from '../support/vectors';

interface ReferenceCase {
  label: string;
  text: string;
  ids: number[];
  vector: string;
}
interface Reference {
  model: string;
  versions: Record<string, string>;
  max_seq_length: number;
  dim: number;
  cases: ReferenceCase[];
}

function decodeVector(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function readReference(model: string): Reference {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', `${model}.json`), 'utf8')) as Reference;
}

/** Assert every vector is within cosine 0.9999 of the reference's; log the worst case. */
function assertParity(vectors: Float32Array[], reference: Reference): void {
  const worst = { cos: 1, label: '' };
  reference.cases.forEach((c, i) => {
    const cos = cosine(vectors[i], decodeVector(c.vector));
    if (cos < worst.cos) {
      worst.cos = cos;
      worst.label = c.label;
    }
    assert.ok(cos >= 0.9999, `case "${c.label}": cosine ${cos}`);
  });
  console.log(`      worst cosine ${worst.cos.toFixed(7)} (${worst.label}); reference: ${JSON.stringify(reference.versions)}`);
}

const reference = readReference('all-MiniLM-L6-v2');

describe('embedding parity with sentence-transformers (all-MiniLM-L6-v2, CPU fp32)', function () {
  let embedder: Embedder;
  before(async function () {
    embedder = await Embedder.load(MINILM_DIR, { device: 'cpu' });
  });
  after(() => embedder?.dispose());

  it(`fixture has at least 20 cases, including empty, unicode and a truncated long input`, function () {
    assert.ok(reference.cases.length >= 20);
    assert.ok(reference.cases.some((c) => c.text === ''));
    assert.ok(reference.cases.some((c) => c.ids.length === reference.max_seq_length));
  });

  it('tokenizer produces the reference token ids, truncation included', function () {
    const tok = TextTokenizer.fromFile(path.join(MINILM_DIR, 'tokenizer.json'), reference.max_seq_length);
    for (const c of reference.cases) assert.deepEqual(tok.encode(c.text), c.ids, `token ids differ for case "${c.label}"`);
  });

  it('every vector has cosine >= 0.9999 with the reference (batched, mixed lengths)', async function () {
    assertParity(
      await embedder.embed(
        reference.cases.map((c) => c.text),
        { kind: 'document' },
      ),
      reference,
    );
  });

  it('vectors are unit length and in input order when embedded one at a time', async function () {
    for (const c of reference.cases.slice(0, 5)) {
      const [v] = await embedder.embed([c.text], { kind: 'document' });
      let n = 0;
      for (const x of v) n += x * x;
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-4);
      assert.ok(cosine(v, decodeVector(c.vector)) >= 0.9999);
    }
  });

  it('rejects non-string input and an empty batch with clear errors', async function () {
    await assert.rejects(embedder.embed(['ok', 42 as unknown as string], { kind: 'document' }), /input 1 is number, expected a string/);
    await assert.rejects(embedder.embed([null as unknown as string], { kind: 'document' }), /input 0 is null/);
    await assert.rejects(embedder.embed([], { kind: 'document' }), /empty batch/);
    await assert.rejects(embedder.embed('text' as unknown as string[], { kind: 'document' }), /expected an array of strings/);
  });
});

describe('embedding parity with sentence-transformers (BAAI/bge-small-en-v1.5, CPU fp32)', function () {
  const bge = readReference('bge-small-en-v1.5');
  const queryPrompt = 'Represent this sentence for searching relevant passages: ';
  let embedder: Embedder;
  before(async function () {
    if (!fs.existsSync(BGE_SMALL_DIR)) {
      console.log(
        `      skipped: ${BGE_SMALL_DIR} is absent (bash scripts/setup.sh provisions it unless SEMSEARCH_SKIP_BGE=1; ` +
          'SEMSEARCH_TEST_BGE_MODEL may name another folder)',
      );
      this.skip();
    }
    embedder = await Embedder.load(BGE_SMALL_DIR, { device: 'cpu' });
  });
  after(() => embedder?.dispose());

  it('reads the folder as bge-small-en-v1.5: CLS pooling, 384 dims, 512 tokens, the query prompt', function () {
    assert.equal(embedder.model.id, 'BAAI/bge-small-en-v1.5');
    assert.equal(embedder.model.config.pooling, 'cls');
    assert.equal(embedder.info.dim, bge.dim);
    assert.equal(embedder.model.maxTokens, bge.max_seq_length);
    assert.equal(embedder.info.maxTokens, 512);
    assert.equal(embedder.model.queryPrefix, queryPrompt);
    assert.equal(embedder.model.documentPrefix, '');
    assert.deepEqual([embedder.info.device, embedder.info.dtype], ['cpu', 'float32']);
  });

  it('tokenizer produces the reference token ids, the 512-token cut included', function () {
    const long = bge.cases.find((c) => c.ids.length === 512);
    assert.ok(long, 'the fixture has a case cut to 512 tokens');
    const uncut = embedder.tokenizer.count(long.text);
    assert.ok(uncut > 1000, `"${long.label}" is ${uncut} tokens before the cut`);
    for (const c of bge.cases) assert.deepEqual(embedder.tokenizer.encode(c.text), c.ids, `token ids differ for case "${c.label}"`);
  });

  it('every vector has cosine >= 0.9999 with the reference (batched, mixed lengths, one of 512 tokens)', async function () {
    assertParity(
      await embedder.embed(
        bge.cases.map((c) => c.text),
        { kind: 'document' },
      ),
      bge,
    );
  });

  it('the parity depends on CLS pooling: mean pooling of the same encoder misses the reference', async function () {
    const cases = bge.cases.filter((c) => c.label === 'prose');
    const mean = await Embedder.load({ ...embedder.model, config: { ...embedder.model.config, pooling: 'mean' } }, { device: 'cpu' });
    try {
      const vectors = await mean.embed(
        cases.map((c) => c.text),
        { kind: 'document' },
      );
      cases.forEach((c, i) => {
        const cos = cosine(vectors[i], decodeVector(c.vector));
        assert.ok(cos < 0.99, `case "${c.text}": mean pooling reaches cosine ${cos}`);
      });
    } finally {
      mean.dispose();
    }
  });

  it('queries take the prompt, documents none', async function () {
    const text = 'where do we retry failed uploads';
    const [query, prompted, document] = [
      ...(await embedder.embed([text], { kind: 'query' })),
      ...(await embedder.embed([queryPrompt + text, text], { kind: 'document' })),
    ];
    assert.ok(cosine(query, prompted) > 0.99999, 'a query embeds as the prompt + the text');
    assert.ok(cosine(query, document) < 0.99, 'a query differs from the same text as a document');
    assert.ok(cosine(document, decodeVector(bge.cases.find((c) => c.text === text)!.vector)) >= 0.9999);
  });
});

describe('model folders', function () {
  it('describes MiniLM: mean pooling, 384 dims, 256 tokens', function () {
    const d = describeModel(MINILM_DIR);
    assert.equal(d.config.pooling, 'mean');
    assert.equal(d.dim, 384);
    assert.equal(d.maxTokens, 256);
    assert.match(d.fingerprint, /^[0-9a-f]{16}$/);
  });

  it('a missing folder, missing weights and an unsupported architecture are named', async function () {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-model-'));
    await assert.rejects(Embedder.load(path.join(tmp, 'nope')), /nope: model folder not found/);
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(MINILM_DIR, f), path.join(tmp, f));
    assert.throws(() => describeModel(tmp), /missing model\.safetensors/);
    fs.writeFileSync(path.join(tmp, 'pytorch_model.bin'), 'pickle');
    assert.throws(() => describeModel(tmp), /pickle weights are never loaded/);
    fs.symlinkSync(path.join(MINILM_DIR, 'model.safetensors'), path.join(tmp, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt2', architectures: ['GPT2Model'] }));
    assert.throws(() => describeModel(tmp), /unsupported architecture "gpt2"/);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});

describe('encoder call sizes', function () {
  it('CPU: 32 rows of up to 8,192 padded tokens; GPU: sized to its memory, within bounds', function () {
    assert.deepEqual(batchLimits('cpu', 80e9), { maxBatch: 32, maxBatchTokens: 8192 });
    assert.deepEqual(batchLimits('gpu', 80 * 2 ** 30), { maxBatch: 256, maxBatchTokens: 131072 }); // an 80 GB card: the cap
    assert.deepEqual(batchLimits('gpu', 8 * 2 ** 30), { maxBatch: 256, maxBatchTokens: 16384 }); // 8 GB: 1 GB of activations
    assert.deepEqual(batchLimits('gpu', 2 * 2 ** 30), { maxBatch: 256, maxBatchTokens: 8192 }); // small: the floor
    assert.deepEqual(batchLimits('gpu', 0), { maxBatch: 256, maxBatchTokens: 32768 }); // size unknown
  });
});
