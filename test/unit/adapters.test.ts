import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdapterError, applyAdapter, DERIVED_MODELS, DERIVED_RECORD, deriveModel, sha256Of } from '../../server/model/adapters';
import { Embedder } from '../../server/model/embedder';
import { adapterFile, resolveModel } from '../../server/model/locate';
import { describeModel } from '../../server/model/folder';
import { BGE_SMALL_DIR, FIXTURES } from '../support/paths';

interface Tensor {
  dtype: 'F32' | 'F16';
  shape: number[];
  values: number[];
}

/** float32 → IEEE half, for values that half holds exactly (the test uses such values only). */
function toHalf(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exp = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** exp - 1) * 1024);
  return sign | ((exp + 15) << 10) | frac;
}

function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const width = t.dtype === 'F32' ? 4 : 2;
    const buf = Buffer.alloc(t.values.length * width);
    t.values.forEach((v, i) => (t.dtype === 'F32' ? buf.writeFloatLE(v, i * 4) : buf.writeUInt16LE(toHalf(v), i * 2)));
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    parts.push(buf);
    offset += buf.length;
  }
  const text = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(file, Buffer.concat([len, text, ...parts]));
}

function readTensor(file: string, name: string): { dtype: string; shape: number[]; bytes: Buffer; metadata: Record<string, string> } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const t = header[name];
  return {
    dtype: t.dtype,
    shape: t.shape,
    bytes: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]),
    metadata: header.__metadata__ as unknown as Record<string, string>,
  };
}

const LAYER = 'encoder.layer.0.attention.self.query';
// W is 3 × 4, A (rank 2) is 2 × 4, B is 3 × 2.
const W = [0.5, -1, 2, 0.25, 1, 1, 1, 1, -0.5, 0, 3, -2];
const A = [1, 0.5, 0, -1, 0.25, 0, 2, 1];
const B = [1, 0, 0, 2, -0.5, 0.5];

function expectedMerge(): number[] {
  const out: number[] = [];
  for (let o = 0; o < 3; o++) {
    for (let i = 0; i < 4; i++) out.push(W[o * 4 + i] + B[o * 2] * A[i] + B[o * 2 + 1] * A[4 + i]);
  }
  return out;
}

describe('code adapters: merging LoRA deltas into a model', function () {
  let dir: string;
  let base: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-adapter-'));
    base = path.join(dir, 'base.safetensors');
    writeSafetensors(
      base,
      {
        'embeddings.word_embeddings.weight': { dtype: 'F32', shape: [2, 2], values: [1, 2, 3, 4] },
        [`${LAYER}.weight`]: { dtype: 'F32', shape: [3, 4], values: W },
        [`${LAYER}.bias`]: { dtype: 'F32', shape: [3], values: [0.1, 0.2, 0.3] },
      },
      { format: 'pt' },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces each adapted weight by W + B·A and keeps every other tensor byte for byte', function () {
    const adapter = path.join(dir, 'adapter.safetensors');
    writeSafetensors(adapter, {
      [`${LAYER}.lora_A`]: { dtype: 'F16', shape: [2, 4], values: A },
      [`${LAYER}.lora_B`]: { dtype: 'F16', shape: [3, 2], values: B },
    });
    const out = path.join(dir, 'out.safetensors');
    assert.deepEqual(applyAdapter(base, adapter, out, 'abc123'), { adapted: 1 });
    const merged = readTensor(out, `${LAYER}.weight`);
    assert.equal(merged.dtype, 'F32');
    assert.deepEqual(merged.shape, [3, 4]);
    const values = Array.from({ length: 12 }, (_, i) => merged.bytes.readFloatLE(i * 4));
    assert.deepEqual(
      values,
      expectedMerge().map((v) => Math.fround(v)),
    );
    assert.notDeepEqual(values, W, 'the merge changed nothing');
    for (const name of ['embeddings.word_embeddings.weight', `${LAYER}.bias`]) {
      assert.ok(readTensor(out, name).bytes.equals(readTensor(base, name).bytes), `${name} changed`);
    }
    // The metadata names the adapter, so the derived weights' header (and fingerprint) differ.
    assert.deepEqual(merged.metadata, { format: 'pt', semsearch_adapter_sha256: 'abc123' });
  });

  it('refuses an adapter that does not fit the model, naming the file and the layer', function () {
    const cases: Array<[string, Record<string, Tensor>, RegExp]> = [
      [
        'a layer the model lacks',
        {
          'encoder.layer.9.output.dense.lora_A': { dtype: 'F32', shape: [2, 4], values: A },
          'encoder.layer.9.output.dense.lora_B': { dtype: 'F32', shape: [3, 2], values: B },
        },
        /encoder\.layer\.9\.output\.dense: the base model has no encoder\.layer\.9\.output\.dense\.weight/,
      ],
      [
        'shapes that do not multiply to the weight',
        {
          [`${LAYER}.lora_A`]: { dtype: 'F32', shape: [2, 3], values: A.slice(0, 6) },
          [`${LAYER}.lora_B`]: { dtype: 'F32', shape: [3, 2], values: B },
        },
        /do not fit the weight \[3,4\]/,
      ],
      ['half a pair', { [`${LAYER}.lora_A`]: { dtype: 'F32', shape: [2, 4], values: A } }, /needs both lora_A and lora_B/],
      ['a tensor that is not LoRA', { 'encoder.layer.0.extra': { dtype: 'F32', shape: [1], values: [1] } }, /not a LoRA tensor/],
      ['no tensors at all', {}, /holds no LoRA tensors/],
    ];
    for (const [what, tensors, message] of cases) {
      const adapter = path.join(dir, 'bad.safetensors');
      writeSafetensors(adapter, tensors);
      assert.throws(
        () => applyAdapter(base, adapter, path.join(dir, 'out.safetensors'), 'x'),
        (e: unknown) => e instanceof AdapterError && e.message.startsWith(`${adapter}: `) && message.test(e.message),
        what,
      );
    }
    fs.writeFileSync(path.join(dir, 'bad.safetensors'), 'not safetensors');
    assert.throws(() => applyAdapter(base, path.join(dir, 'bad.safetensors'), path.join(dir, 'out.safetensors'), 'x'), /not a safetensors file/);
    assert.ok(!fs.existsSync(path.join(dir, 'out.safetensors')), 'a refused adapter wrote output');
  });

  it("builds nothing from an adapter file whose sha256 is not the catalogue's", function () {
    const adapter = path.join(dir, 'adapter.safetensors');
    writeSafetensors(adapter, {
      [`${LAYER}.lora_A`]: { dtype: 'F32', shape: [2, 4], values: A },
      [`${LAYER}.lora_B`]: { dtype: 'F32', shape: [3, 2], values: B },
    });
    const model = { id: 'test/derived', base: 'test/base', adapter: 'adapter.safetensors', sha256: '0'.repeat(64) };
    const out = path.join(dir, 'derived');
    assert.throws(() => deriveModel(model, dir, adapter, out), /sha256 [0-9a-f]{64} is not the expected 0{64}/);
    assert.ok(!fs.existsSync(path.join(out, DERIVED_RECORD)));
  });
});

describe('code adapters: the shipped bge-small-en-v1.5-code', function () {
  const model = DERIVED_MODELS.find((m) => m.id === 'semsearch/bge-small-en-v1.5-code')!;
  const saved: Record<string, string | undefined> = {};
  let cache: string;
  before(function () {
    if (!fs.existsSync(BGE_SMALL_DIR)) {
      console.log(`      skipped: ${BGE_SMALL_DIR} is absent (bash scripts/setup.sh provisions it unless SEMSEARCH_SKIP_BGE=1)`);
      this.skip();
    }
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-derived-'));
    for (const k of ['XDG_CACHE_HOME', 'SEMSEARCH_MODELS_DIR']) saved[k] = process.env[k];
    process.env.XDG_CACHE_HOME = cache;
    // The base model is found where the tests keep it; the derived one is built under `cache`.
    process.env.SEMSEARCH_MODELS_DIR = path.dirname(BGE_SMALL_DIR);
  });
  after(function () {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (cache) fs.rmSync(cache, { recursive: true, force: true });
  });

  it('ships the adapter file the catalogue pins', function () {
    assert.equal(sha256Of(adapterFile(model)), model.sha256);
  });

  it('is built once from the base model, offline, and is then an ordinary model folder', async function () {
    this.timeout(60_000);
    const first = await resolveModel(model.id, { offline: true });
    assert.equal(first.id, model.id);
    assert.ok(first.dir.startsWith(cache), first.dir);
    const base = describeModel(BGE_SMALL_DIR, 'BAAI/bge-small-en-v1.5');
    assert.notEqual(first.fingerprint, base.fingerprint, "derived vectors would be mixed with the base model's");
    assert.equal(first.queryPrefix, base.queryPrefix);
    const weights = path.join(first.dir, 'model.safetensors');
    const built = fs.statSync(weights).mtimeMs;
    const again = await resolveModel(model.id, { offline: true });
    assert.equal(again.dir, first.dir);
    assert.equal(fs.statSync(weights).mtimeMs, built, 'a complete derived folder was rebuilt');
    // A folder without its record (a build cut short) is rebuilt, not used.
    fs.rmSync(path.join(first.dir, DERIVED_RECORD));
    await resolveModel(model.id, { offline: true });
    assert.ok(fs.existsSync(path.join(first.dir, DERIVED_RECORD)));
  });

  it('matches PyTorch running the base model with the LoRA layers unmerged (cosine >= 0.9999), unlike the base model', async function () {
    this.timeout(120_000);
    const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', 'bge-small-en-v1.5-code.json'), 'utf8')) as {
      cases: Array<{ label: string; text: string; vector: string }>;
    };
    const decode = (b64: string) => {
      const buf = Buffer.from(b64, 'base64');
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    };
    const cosine = (a: Float32Array, b: Float32Array) => {
      let dot = 0,
        na = 0,
        nb = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
      }
      return dot / Math.sqrt(na * nb);
    };
    const texts = reference.cases.map((c) => c.text);
    const worst = async (dirOrModel: string | Awaited<ReturnType<typeof resolveModel>>) => {
      const embedder = await Embedder.load(dirOrModel, { device: 'cpu' });
      try {
        const vectors = await embedder.embed(texts, { kind: 'document' });
        return Math.min(...reference.cases.map((c, i) => cosine(vectors[i], decode(c.vector))));
      } finally {
        embedder.dispose();
      }
    };
    const derived = await worst(await resolveModel(model.id, { offline: true }));
    console.log(`      worst cosine ${derived.toFixed(7)}`);
    assert.ok(derived >= 0.9999, `derived model: worst cosine ${derived}`);
    const base = await worst(BGE_SMALL_DIR);
    assert.ok(base < 0.99, `the base model alone also matches the adapted reference (worst cosine ${base}): the adapter changes nothing`);
  });
});
