// The native addon through server/model/native.ts: the encoder on all-MiniLM-L6-v2 (shape, norm, batch
// independence, fused kernels against MLX ops), its error paths, that it never blocks the event
// loop, and VectorMatrix against a brute-force reference. Parity with PyTorch is tested elsewhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BertModelConfig, loadModel, ModelConfig, NativeModel, nativeInfo, VectorMatrix } from '../../server/model/native';
import { rng } from '../support/random';
import { f32, Tensor, writeSafetensors } from '../support/safetensors';

const root = path.resolve(__dirname, '..', '..', '..');
const modelDir = path.join(root, '.models', 'all-MiniLM-L6-v2');

/** ModelConfig from a sentence-transformers folder, the way server/model/folder.ts builds it. */
function configOf(dir: string): ModelConfig {
  interface BertJson {
    model_type: 'bert';
    hidden_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    intermediate_size: number;
    vocab_size: number;
    max_position_embeddings: number;
    type_vocab_size: number;
    layer_norm_eps: number;
    hidden_act: 'gelu';
  }
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as BertJson;
  const pooling = JSON.parse(fs.readFileSync(path.join(dir, '1_Pooling', 'config.json'), 'utf8')) as { pooling_mode_cls_token?: boolean };
  return {
    architecture: c.model_type,
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    intermediateSize: c.intermediate_size,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    typeVocabSize: c.type_vocab_size,
    layerNormEps: c.layer_norm_eps,
    pooling: pooling.pooling_mode_cls_token ? 'cls' : 'mean',
    hiddenAct: c.hidden_act,
  };
}

/** A [CLS] … [SEP] row of `length` tokens with random word-piece ids. */
function tokenRow(length: number, random: () => number): number[] {
  const row = [101];
  while (row.length < length - 1) row.push(1000 + Math.floor(random() * 29000));
  if (length > 1) row.push(102);
  return row;
}

/** Pad rows into the addon's batch layout. */
function batchOf(rows: number[][]): { ids: Int32Array; lengths: Int32Array; seqLen: number } {
  const seqLen = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * seqLen);
  rows.forEach((r, i) => ids.set(r, i * seqLen));
  return { ids, lengths: Int32Array.from(rows, (r) => r.length), seqLen };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Write a safetensors file of random tensors (LayerNorm weights near 1, position_ids counting). */
function writeRandomSafetensors(file: string, tensors: Record<string, { shape: number[]; dtype?: 'F32' | 'I64' }>, random: () => number): void {
  const out: Record<string, Tensor> = {};
  for (const [name, { shape, dtype = 'F32' }] of Object.entries(tensors)) {
    if (dtype === 'F32') {
      out[name] = f32(shape, () => (random() - 0.5) * 0.2 + (name.endsWith('LayerNorm.weight') ? 1 : 0));
    } else {
      const count = shape.reduce((a, b) => a * b, 1);
      const data = Buffer.alloc(count * 8);
      for (let i = 0; i < count; i++) data.writeBigInt64LE(BigInt(i), i * 8);
      out[name] = { dtype, shape, data };
    }
  }
  writeSafetensors(file, out);
}

const tinyConfig: BertModelConfig = {
  architecture: 'bert',
  hiddenSize: 8,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 16,
  vocabSize: 50,
  maxPositions: 16,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  pooling: 'cls',
  hiddenAct: 'gelu',
};

/** The tensors a BERT checkpoint for `c` holds, with a prefix and the extras real ones carry. */
function bertTensors(c: BertModelConfig, prefix = ''): Record<string, { shape: number[]; dtype?: 'F32' | 'I64' }> {
  const h = c.hiddenSize;
  const t: Record<string, { shape: number[]; dtype?: 'F32' | 'I64' }> = {
    [`${prefix}embeddings.word_embeddings.weight`]: { shape: [c.vocabSize, h] },
    [`${prefix}embeddings.position_embeddings.weight`]: { shape: [c.maxPositions, h] },
    [`${prefix}embeddings.token_type_embeddings.weight`]: { shape: [c.typeVocabSize, h] },
    [`${prefix}embeddings.LayerNorm.weight`]: { shape: [h] },
    [`${prefix}embeddings.LayerNorm.bias`]: { shape: [h] },
    [`${prefix}embeddings.position_ids`]: { shape: [1, c.maxPositions], dtype: 'I64' },
    [`${prefix}pooler.dense.weight`]: { shape: [h, h] },
    [`${prefix}pooler.dense.bias`]: { shape: [h] },
  };
  for (let l = 0; l < c.numLayers; l++) {
    const p = `${prefix}encoder.layer.${l}.`;
    for (const proj of ['query', 'key', 'value']) {
      t[`${p}attention.self.${proj}.weight`] = { shape: [h, h] };
      t[`${p}attention.self.${proj}.bias`] = { shape: [h] };
    }
    t[`${p}attention.output.dense.weight`] = { shape: [h, h] };
    t[`${p}attention.output.dense.bias`] = { shape: [h] };
    t[`${p}attention.output.LayerNorm.weight`] = { shape: [h] };
    t[`${p}attention.output.LayerNorm.bias`] = { shape: [h] };
    t[`${p}intermediate.dense.weight`] = { shape: [c.intermediateSize, h] };
    t[`${p}intermediate.dense.bias`] = { shape: [c.intermediateSize] };
    t[`${p}output.dense.weight`] = { shape: [h, c.intermediateSize] };
    t[`${p}output.dense.bias`] = { shape: [h] };
    t[`${p}output.LayerNorm.weight`] = { shape: [h] };
    t[`${p}output.LayerNorm.bias`] = { shape: [h] };
  }
  return t;
}

describe('native addon', function () {
  // Encoder calls take seconds on a small CPU (more on a busy one); also right when this file is
  // run alone, without test/.mocharc.json.
  this.timeout(600_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-native-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reports MLX and the BLAS behind CPU matmuls', () => {
    const info = nativeInfo();
    assert.match(info.mlxVersion, /^\d+\.\d+\.\d+/);
    assert.equal(typeof info.gpuAvailable, 'boolean');
    assert.ok(info.blas.threads >= 1);
    if (process.platform === 'linux') assert.match(info.blas.library, /blas/i);
  });

  it('says what to run when the addon cannot be loaded', () => {
    const script = `try { require(${JSON.stringify(path.join(root, 'out', 'server', 'model', 'native.js'))}).nativeInfo(); } catch (e) { console.log(e.message); }`;
    const run = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, SEMSEARCH_ADDON: path.join(tmp, 'missing.node') },
      encoding: 'utf8',
    });
    assert.match(run.stdout, /missing\.node: cannot load the native addon/);
    assert.match(run.stdout, /npm run build:native/);
  });

  describe('encoder (all-MiniLM-L6-v2)', () => {
    let model: NativeModel;
    const config = (): ModelConfig => configOf(modelDir);
    before(async () => {
      model = await loadModel(modelDir, config(), { device: 'cpu' });
    });
    after(() => model?.dispose());

    it('describes itself', () => {
      assert.equal(model.info.device, 'cpu');
      assert.equal(model.info.dtype, 'float32');
      assert.equal(model.info.dim, 384);
      assert.equal(model.info.pooling, 'mean');
      assert.equal(model.info.kernels, 'fused');
    });

    it('returns batch × 384 unit vectors', async () => {
      const random = rng(1);
      const { ids, lengths, seqLen } = batchOf([tokenRow(12, random), tokenRow(5, random), tokenRow(30, random)]);
      const out = await model.embed(ids, lengths, seqLen);
      assert.ok(out instanceof Float32Array);
      assert.equal(out.length, 3 * 384);
      for (let b = 0; b < 3; b++) {
        const v = out.subarray(b * 384, (b + 1) * 384);
        assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-5, `row ${b} norm`);
      }
    });

    it('gives each row of a padded batch the vector it gets alone', async () => {
      const random = rng(2);
      const rows = [3, 17, 64, 1, 40, 128, 9].map((n) => tokenRow(n, random));
      const { ids, lengths, seqLen } = batchOf(rows);
      const batch = await model.embed(ids, lengths, seqLen);
      for (let i = 0; i < rows.length; i++) {
        const alone = await model.embed(Int32Array.from(rows[i]), Int32Array.of(rows[i].length), rows[i].length);
        const cos = dot(alone, batch.subarray(i * 384, (i + 1) * 384));
        assert.ok(cos > 0.99999, `row ${i} (${rows[i].length} tokens): cosine ${cos}`);
      }
    });

    it('fused CPU kernels agree with MLX ops', async () => {
      const reference = await loadModel(modelDir, config(), { device: 'cpu', kernels: 'mlx' });
      try {
        assert.equal(reference.info.kernels, 'mlx');
        const random = rng(3);
        const { ids, lengths, seqLen } = batchOf([77, 1, 5, 40, 76, 17].map((n) => tokenRow(n, random)));
        const [a, b] = await Promise.all([model.embed(ids, lengths, seqLen), reference.embed(ids, lengths, seqLen)]);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assert.ok(worst < 1e-5, `max abs difference ${worst}`);
      } finally {
        await reference.dispose();
      }
    });

    it('copies its inputs before returning', async () => {
      const random = rng(4);
      const row = Int32Array.from(tokenRow(20, random));
      const expected = await model.embed(row, Int32Array.of(20), 20);
      const ids = Int32Array.from(row);
      const pending = model.embed(ids, Int32Array.of(20), 20);
      ids.fill(0);
      const got = await pending;
      assert.ok(dot(got, expected) > 0.99999);
    });

    it('keeps the event loop turning while a large batch runs', async () => {
      const random = rng(5);
      const { ids, lengths, seqLen } = batchOf(Array.from({ length: 64 }, () => tokenRow(256, random)));
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const start = performance.now();
      try {
        await model.embed(ids, lengths, seqLen);
      } finally {
        clearInterval(timer);
      }
      const elapsed = performance.now() - start;
      // A blocked loop would give 0 or 1 ticks; allow for a loaded machine's timer slack.
      assert.ok(elapsed > 200, `the batch took only ${elapsed.toFixed(0)} ms: too short to tell`);
      assert.ok(ticks >= (elapsed / 10) * 0.3, `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
    });

    it('rejects bad input with a clear Error', async () => {
      const ok = { ids: Int32Array.of(101, 7592, 102), lengths: Int32Array.of(3), seqLen: 3 };
      const bad = async (args: unknown[], message: RegExp) => {
        const call = (model.embed as (...a: unknown[]) => Promise<Float32Array>).apply(model, args);
        await assert.rejects(call, (e: unknown) => e instanceof Error && message.test(e.message));
      };
      await bad([[101, 102], ok.lengths, 2], /^embed: ids must be an Int32Array, got an Array$/);
      await bad([new Float32Array(3), ok.lengths, 3], /^embed: ids must be an Int32Array, got a Float32Array$/);
      await bad([ok.ids, [3], 3], /^embed: lengths must be an Int32Array/);
      await bad([ok.ids, ok.lengths, '3'], /^embed: seqLen must be a positive integer$/);
      await bad([ok.ids, ok.lengths, 2.5], /^embed: seqLen must be a positive integer$/);
      await bad([new Int32Array(0), new Int32Array(0), 4], /^embed: empty batch$/);
      await bad([ok.ids, ok.lengths, 4], /^embed: ids has 3 elements, expected batch × seqLen = 1 × 4 = 4$/);
      await bad([new Int32Array(600), Int32Array.of(600), 600], /^embed: seqLen 600 exceeds the model's maxPositions 512$/);
      await bad([Int32Array.of(101, 30522, 102), ok.lengths, 3], /^embed: ids\[1\] = 30522 is outside the vocabulary \[0, 30522\)$/);
      await bad([Int32Array.of(101, -1, 102), ok.lengths, 3], /^embed: ids\[1\] = -1 is outside the vocabulary/);
      await bad([ok.ids, Int32Array.of(0), 3], /^embed: lengths\[0\] is 0; each row needs 1\.\.3 tokens$/);
      await bad([ok.ids, Int32Array.of(4), 3], /^embed: lengths\[0\] is 4; each row needs 1\.\.3 tokens$/);
      // Still usable afterwards.
      assert.equal((await model.embed(ok.ids, ok.lengths, ok.seqLen)).length, 384);
    });

    it('rejects calls after dispose', async () => {
      const other = await loadModel(modelDir, config(), { device: 'cpu' });
      const inFlight = other.embed(Int32Array.of(101, 102), Int32Array.of(2), 2);
      const disposed = other.dispose();
      assert.equal((await inFlight).length, 384, 'calls made before dispose complete');
      await disposed;
      assert.equal(other.info.disposed, true);
      await assert.rejects(other.embed(Int32Array.of(101, 102), Int32Array.of(2), 2), /^Error: embed: model is disposed$/);
      await other.dispose(); // twice is fine
    });
  });

  describe('loadModel errors', () => {
    const config = (): ModelConfig => configOf(modelDir);

    it('names the missing file', async () => {
      const dir = path.join(tmp, 'nowhere');
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), {
        message: `${dir}/model.safetensors: No such file or directory`,
      });
    });

    it('rejects a truncated safetensors file', async () => {
      const dir = path.join(tmp, 'truncated');
      fs.mkdirSync(dir);
      const file = path.join(dir, 'model.safetensors');
      fs.copyFileSync(path.join(modelDir, 'model.safetensors'), file);
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), (e: Error) => {
        assert.match(
          e.message,
          new RegExp(`^${file}: file is truncated: tensor \\S+ needs bytes \\[\\d+, \\d+\\) of the data section, which holds only \\d+$`),
        );
        return true;
      });
      fs.truncateSync(file, 100); // now even the header is cut
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), {
        message: `${file}: file is truncated or not safetensors: header claims ${fs.readFileSync(path.join(modelDir, 'model.safetensors')).readBigUInt64LE(0)} bytes but only 92 follow`,
      });
      fs.truncateSync(file, 3);
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), /: file is truncated or not safetensors: 3 bytes, less than the 8-byte header length$/);
    });

    it('rejects a header that is not JSON', async () => {
      const dir = path.join(tmp, 'garbage');
      fs.mkdirSync(dir);
      const size = Buffer.alloc(8);
      size.writeBigUInt64LE(8n);
      fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([size, Buffer.from('{"a": [1')]));
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), /model\.safetensors: invalid safetensors header: /);
    });

    it('loads a small BERT with a bert. prefix, leaving aside position_ids and the pooler', async () => {
      const dir = path.join(tmp, 'tiny');
      fs.mkdirSync(dir);
      writeRandomSafetensors(path.join(dir, 'model.safetensors'), bertTensors(tinyConfig, 'bert.'), rng(6));
      for (const pooling of ['cls', 'mean'] as const) {
        const tiny = await loadModel(dir, { ...tinyConfig, pooling }, { device: 'cpu' });
        const { ids, lengths, seqLen } = batchOf([[1, 5, 7, 2], [1, 9, 2], [3]]);
        const out = await tiny.embed(ids, lengths, seqLen);
        assert.equal(out.length, 3 * 8);
        for (let b = 0; b < 3; b++) {
          const v = out.subarray(b * 8, (b + 1) * 8);
          assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-5);
        }
        // Head dim 4 has no fused kernel: the MLX attention path runs; rows stay independent.
        const alone = await tiny.embed(Int32Array.of(1, 9, 2), Int32Array.of(3), 3);
        assert.ok(dot(alone, out.subarray(8, 16)) > 0.99999);
        await tiny.dispose();
      }
    });

    it('refuses tensors the config does not explain, naming the first; task heads are left aside', async () => {
      const dir = path.join(tmp, 'deeper');
      fs.mkdirSync(dir);
      const file = path.join(dir, 'model.safetensors');
      // A 12-layer checkpoint under a 6-layer config.json loaded (and embedded wrongly) before.
      writeRandomSafetensors(file, bertTensors({ ...tinyConfig, numLayers: 12 }, 'bert.'), rng(17));
      await assert.rejects(loadModel(dir, { ...tinyConfig, numLayers: 6 }, { device: 'cpu' }), {
        message: `${file}: unexpected tensor bert.encoder.layer.6.attention.output.LayerNorm.bias (and 95 more): not part of a BERT encoder with this config.json`,
      });
      await (await loadModel(dir, { ...tinyConfig, numLayers: 12 }, { device: 'cpu' })).dispose();
      // One stray tensor inside a layer or beside the encoder is refused as well.
      const strays: [string, number[]][] = [
        ['encoder.layer.1.attention.self.distance_embedding.weight', [31, 8]],
        ['embeddings.extra_norm.weight', [8]],
      ];
      for (const [name, shape] of strays) {
        writeRandomSafetensors(file, { ...bertTensors(tinyConfig), [name]: { shape } }, rng(18));
        await assert.rejects(loadModel(dir, tinyConfig, { device: 'cpu' }), {
          message: `${file}: unexpected tensor ${name}: not part of a BERT encoder with this config.json`,
        });
      }
      // The heads of BertFor* task models (the encoder under bert.) and the pooler are not used.
      const taskModel = {
        ...bertTensors(tinyConfig, 'bert.'),
        'cls.predictions.bias': { shape: [tinyConfig.vocabSize] },
        'cls.predictions.transform.dense.weight': { shape: [8, 8] },
        'cls.seq_relationship.weight': { shape: [2, 8] },
        'classifier.weight': { shape: [3, 8] },
      };
      writeRandomSafetensors(file, taskModel, rng(19));
      await (await loadModel(dir, tinyConfig, { device: 'cpu' })).dispose();
    });

    it('fused CPU kernels agree with MLX ops for every head size they take', async () => {
      // Head dims 16, 32, 48, 64 (each its own kernel instantiation); up to 512 positions; rows
      // with lengths that are and are not multiples of 16.
      for (const [hiddenSize, numHeads] of [
        [64, 4],
        [64, 2],
        [96, 2],
        [64, 1],
      ]) {
        const c: BertModelConfig = { ...tinyConfig, hiddenSize, numHeads, intermediateSize: 2 * hiddenSize, maxPositions: 512, vocabSize: 100 };
        const dir = path.join(tmp, `heads-${hiddenSize}-${numHeads}`);
        fs.mkdirSync(dir);
        writeRandomSafetensors(path.join(dir, 'model.safetensors'), bertTensors(c), rng(hiddenSize + numHeads));
        for (const pooling of ['cls', 'mean'] as const) {
          const fused = await loadModel(dir, { ...c, pooling }, { device: 'cpu' });
          const reference = await loadModel(dir, { ...c, pooling }, { device: 'cpu', kernels: 'mlx' });
          const random = rng(9);
          const rows = [512, 1, 17, 100, 48].map((n) => Array.from({ length: n }, () => Math.floor(random() * 100)));
          const { ids, lengths, seqLen } = batchOf(rows);
          const [a, b] = await Promise.all([fused.embed(ids, lengths, seqLen), reference.embed(ids, lengths, seqLen)]);
          let worst = 0;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
          assert.ok(worst < 1e-5, `hidden ${hiddenSize}, ${numHeads} heads, ${pooling}: max abs difference ${worst}`);
          await Promise.all([fused.dispose(), reference.dispose()]);
        }
      }
    });

    it('names a tensor with the wrong shape', async () => {
      const dir = path.join(tmp, 'wrong-shape');
      fs.mkdirSync(dir);
      const tensors = bertTensors(tinyConfig);
      tensors['encoder.layer.1.output.dense.weight'] = { shape: [8, 12] };
      writeRandomSafetensors(path.join(dir, 'model.safetensors'), tensors, rng(7));
      await assert.rejects(loadModel(dir, tinyConfig, { device: 'cpu' }), {
        message: `${dir}/model.safetensors: tensor encoder.layer.1.output.dense.weight has shape [8, 12], expected [8, 16]`,
      });
    });

    it('names a missing tensor', async () => {
      const dir = path.join(tmp, 'missing-tensor');
      fs.mkdirSync(dir);
      const tensors = bertTensors(tinyConfig);
      delete tensors['encoder.layer.0.intermediate.dense.bias'];
      writeRandomSafetensors(path.join(dir, 'model.safetensors'), tensors, rng(8));
      await assert.rejects(loadModel(dir, tinyConfig, { device: 'cpu' }), {
        message: `${dir}/model.safetensors: missing tensor encoder.layer.0.intermediate.dense.bias for a BERT encoder with this config.json`,
      });
      // A config that asks for more layers than the file has.
      await assert.rejects(
        loadModel(dir, { ...tinyConfig, numLayers: 3 }, { device: 'cpu' }),
        /: missing tensor encoder\.layer\.0\.intermediate\.dense\.bias \(and 16 more\)/,
      );
    });

    it('closes the weights file whenever a load is refused (no file descriptor left open)', async function () {
      if (!fs.existsSync('/proc/self/fd')) {
        console.log('      skipped: counts open descriptors in /proc/self/fd (Linux)');
        this.skip();
      }
      // One folder per way a file can be refused: before the header is read, while it is read,
      // while it is checked, and after (by the strict tensor check).
      const refused = (name: string, write: (file: string) => void): string => {
        const dir = path.join(tmp, `refused-${name}`);
        fs.mkdirSync(dir);
        write(path.join(dir, 'model.safetensors'));
        return dir;
      };
      const header = (json: string) => {
        const size = Buffer.alloc(8);
        size.writeBigUInt64LE(BigInt(json.length));
        return Buffer.concat([size, Buffer.from(json)]);
      };
      const dirs = [
        refused('directory', (file) => fs.mkdirSync(file)),
        refused('short', (file) => fs.writeFileSync(file, Buffer.from([1, 2, 3]))),
        refused('header-cut', (file) => fs.writeFileSync(file, header('{"a": 1}').subarray(0, 12))),
        refused('not-json', (file) => fs.writeFileSync(file, header('{"a": [1'))),
        refused('bad-entry', (file) => fs.writeFileSync(file, header('{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99]}}'))),
        refused('wrong-shape', (file) => {
          const tensors = bertTensors(tinyConfig);
          tensors['encoder.layer.1.output.dense.weight'] = { shape: [8, 12] };
          writeRandomSafetensors(file, tensors, rng(15));
        }),
        refused('missing', (file) => {
          const tensors = bertTensors(tinyConfig);
          delete tensors['embeddings.LayerNorm.bias'];
          writeRandomSafetensors(file, tensors, rng(16));
        }),
      ];
      const refuseAll = async () => {
        for (const dir of dirs) await assert.rejects(loadModel(dir, tinyConfig, { device: 'cpu' }), /model\.safetensors: /);
      };
      const openDescriptors = () => fs.readdirSync('/proc/self/fd').length;
      await refuseAll(); // anything opened once per process (thread pools, caches) opens now
      const before = openDescriptors();
      for (let round = 0; round < 20; round++) await refuseAll();
      const after = openDescriptors();
      assert.equal(after, before, `${after - before} descriptors more after ${20 * dirs.length} refused loads`);
    });

    it('rejects unsupported architectures, activations and bad configs', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ architecture: 'roberta' }, /: unsupported architecture 'roberta' \(supported: bert, modernbert\)$/],
        [{ hiddenAct: 'gelu_new' }, /: unsupported hidden activation 'gelu_new' \(supported: gelu, the exact erf form\)$/],
        [{ pooling: 'max' }, /: unsupported pooling 'max' \(supported: cls, mean\)$/],
        [{ hiddenSize: 0 }, /: config\.hiddenSize must be a positive integer$/],
        [{ numHeads: 5 }, /: config\.hiddenSize 384 is not a multiple of numHeads 5$/],
        [{ layerNormEps: 'small' }, /: config\.layerNormEps must be a positive number$/],
      ];
      for (const [change, message] of cases) {
        const bad = { ...config(), ...change } as ModelConfig;
        await assert.rejects(loadModel(modelDir, bad), (e: unknown) => e instanceof Error && message.test(e.message) && e.message.startsWith(modelDir));
      }
      await assert.rejects(loadModel(modelDir, config(), { device: 'tpu' as 'cpu' }), /unknown device 'tpu' \(expected 'auto', 'cpu' or 'gpu'\)$/);
      if (!nativeInfo().gpuAvailable) {
        await assert.rejects(loadModel(modelDir, config(), { device: 'gpu' }), /device 'gpu' requested, but this MLX build has no usable GPU/);
      }
      await assert.rejects((loadModel as (...a: unknown[]) => Promise<NativeModel>)(42, config()), /^Error: loadModel: dir must be a string, got a number$/);
    });
  });

  describe('VectorMatrix', () => {
    /** Brute-force reference: id → vector, searched exhaustively. */
    class Reference {
      readonly rows = new Map<number, Float32Array>();
      constructor(readonly dim: number) {}
      add(ids: Int32Array, vectors: Float32Array): void {
        ids.forEach((id, i) => this.rows.set(id, vectors.slice(i * this.dim, (i + 1) * this.dim)));
      }
      remove(ids: Int32Array): number {
        let n = 0;
        for (const id of ids) if (this.rows.delete(id)) n++;
        return n;
      }
      topK(query: Float32Array, k: number): { id: number; score: number }[] {
        return [...this.rows]
          .map(([id, v]) => ({ id, score: dot(query, v) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, k);
      }
    }

    function randomVectors(n: number, dim: number, random: () => number): Float32Array {
      return Float32Array.from({ length: n * dim }, () => random() * 2 - 1);
    }

    async function check(matrix: VectorMatrix, ref: Reference, random: () => number, queries: number, k: number): Promise<void> {
      assert.equal(matrix.size, ref.rows.size);
      const q = randomVectors(queries, ref.dim, random);
      const got = await matrix.topK(q, k);
      assert.equal(got.ids.length, queries * k);
      assert.equal(got.scores.length, queries * k);
      for (let i = 0; i < queries; i++) {
        const want = ref.topK(q.subarray(i * ref.dim, (i + 1) * ref.dim), k);
        for (let j = 0; j < k; j++) {
          const id = got.ids[i * k + j];
          const score = got.scores[i * k + j];
          if (j >= want.length) {
            assert.equal(id, -1);
            assert.equal(score, -Infinity);
            continue;
          }
          assert.equal(id, want[j].id, `query ${i} rank ${j}`);
          assert.ok(Math.abs(score - want[j].score) < 1e-4, `query ${i} rank ${j}: ${score} vs ${want[j].score}`);
        }
      }
    }

    it('adds, replaces, removes and searches like a brute-force reference', async () => {
      const random = rng(10);
      const dim = 24;
      const matrix = new VectorMatrix(dim, { device: 'cpu' });
      const ref = new Reference(dim);
      assert.equal(matrix.dim, dim);
      assert.equal(matrix.device, 'cpu');
      assert.equal(matrix.size, 0);
      await check(matrix, ref, random, 1, 5); // empty: all padding

      const ids = Int32Array.from({ length: 300 }, (_, i) => i * 3 + 1);
      const vectors = randomVectors(300, dim, random);
      matrix.add(ids, vectors);
      ref.add(ids, vectors);
      await check(matrix, ref, random, 1, 10);
      await check(matrix, ref, random, 7, 10); // more queries than the sgemv path takes

      // Replace some (size unchanged), with a duplicate id inside one call: the last one wins.
      const again = Int32Array.of(4, 10, 4, 901);
      const fresh = randomVectors(4, dim, random);
      matrix.add(again, fresh);
      ref.add(again, fresh);
      assert.equal(matrix.size, 301);
      await check(matrix, ref, random, 3, 20);

      // Remove: absent ids are ignored and not counted; removed ids never come back.
      const gone = Int32Array.of(1, 4, 298, 898, 12345, 1);
      assert.equal(matrix.remove(gone), ref.remove(gone));
      assert.equal(matrix.has(4), false);
      assert.equal(matrix.has(7), true);
      const all = await matrix.topK(randomVectors(2, dim, random), 400);
      for (const id of all.ids) assert.ok(![1, 4, 298, 898].includes(id), `removed id ${id} returned`);
      await check(matrix, ref, random, 2, 400); // k > size: padded
      await check(matrix, ref, random, 1, 0); // k = 0: nothing
    });

    it('stays consistent through random interleaved operations and growth', async () => {
      const random = rng(11);
      const dim = 16;
      const matrix = new VectorMatrix(dim, { device: 'cpu' });
      const ref = new Reference(dim);
      for (let step = 0; step < 40; step++) {
        if (random() < 0.6) {
          const n = 1 + Math.floor(random() * 200);
          const ids = Int32Array.from({ length: n }, () => Math.floor(random() * 5000));
          const vectors = randomVectors(n, dim, random);
          matrix.add(ids, vectors);
          ref.add(ids, vectors);
        } else {
          const live = [...ref.rows.keys()];
          const ids = Int32Array.from({ length: 1 + Math.floor(random() * 150) }, () =>
            random() < 0.8 && live.length ? live[Math.floor(random() * live.length)] : Math.floor(random() * 5000),
          );
          assert.equal(matrix.remove(ids), ref.remove(ids));
        }
        if (step % 8 === 7) await check(matrix, ref, random, 2, 15);
      }
      // Grow past the initial capacity while holding rows.
      const ids = Int32Array.from({ length: 2500 }, (_, i) => 10000 + i);
      const vectors = randomVectors(2500, dim, random);
      matrix.add(ids, vectors);
      ref.add(ids, vectors);
      await check(matrix, ref, random, 3, 25);
      // Empty it completely, then reuse it.
      const everything = Int32Array.from(ref.rows.keys());
      assert.equal(matrix.remove(everything), ref.remove(everything));
      assert.equal(matrix.size, 0);
      await check(matrix, ref, random, 1, 3);
      matrix.add(Int32Array.of(5), randomVectors(1, dim, random));
      assert.equal(matrix.size, 1);
      matrix.dispose();
    });

    it('ranks rows exactly where float16 cannot tell them apart, and rows beyond its range', async () => {
      // On CPUs with F16C the scan reads a float16 copy (nativeInfo().cpuVectorScan); rows whose
      // scores differ by less than float16 resolves must still come back in exact order.
      assert.ok(['float16', 'float32'].includes(nativeInfo().cpuVectorScan));
      const dim = 16;
      const matrix = new VectorMatrix(dim, { device: 'cpu' });
      const ref = new Reference(dim);
      const random = rng(13);
      const base = randomVectors(1, dim, random);
      const n = 64;
      const vectors = new Float32Array(n * dim);
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < dim; i++) vectors[r * dim + i] = base[i] * (1 + (r - n / 2) * 2 ** -14) + (i === r % dim ? 2 ** -20 : 0);
      }
      const ids = Int32Array.from({ length: n }, (_, i) => i);
      matrix.add(ids, vectors);
      ref.add(ids, vectors);
      const got = await matrix.topK(base, 8);
      const want = ref.topK(base, 8);
      assert.deepEqual(
        [...got.ids],
        want.map((w) => w.id),
      );
      await check(matrix, ref, random, 3, 10);
      // A component past float16's largest value (65504): the scan must not lose it.
      const huge = new Float32Array(dim).fill(1e5);
      matrix.add(Int32Array.of(1000), huge);
      ref.add(Int32Array.of(1000), huge);
      const top = await matrix.topK(new Float32Array(dim).fill(1), 1);
      assert.equal(top.ids[0], 1000);
      const again = await matrix.topK(base, 8);
      assert.deepEqual(
        [...again.ids],
        ref.topK(base, 8).map((w) => w.id),
      );
      matrix.dispose();
    });

    it('answers a query over 100k × 384 quickly', async function () {
      const dim = 384;
      const n = 100_000;
      const matrix = new VectorMatrix(dim, { device: 'cpu' });
      const random = rng(12);
      const vectors = randomVectors(n, dim, random);
      matrix.add(
        Int32Array.from({ length: n }, (_, i) => i),
        vectors,
      );
      const query = vectors.slice(42 * dim, 43 * dim);
      await matrix.topK(query, 10); // warm-up
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const { ids } = await matrix.topK(query, 10);
        times.push(performance.now() - t);
        assert.equal(ids[0], 42);
      }
      times.sort((a, b) => a - b);
      // bench/ measures this properly; this only catches an accidental O(n) copy or a sort.
      assert.ok(times[2] < 100, `median ${times[2].toFixed(1)} ms`);
      matrix.dispose();
    });

    it('rejects bad input with a clear Error', async () => {
      const matrix = new VectorMatrix(4);
      assert.throws(() => new VectorMatrix(0), /^TypeError: VectorMatrix: dim must be an integer in \[1, 65536\]$/);
      assert.throws(() => new VectorMatrix(4, { device: 'tpu' as 'cpu' }), /unknown device 'tpu'/);
      assert.throws(
        () => matrix.add([1] as unknown as Int32Array, new Float32Array(4)),
        /^TypeError: VectorMatrix\.add: ids must be an Int32Array, got an Array$/,
      );
      assert.throws(() => matrix.add(Int32Array.of(1), new Float64Array(4) as unknown as Float32Array), /vectors must be a Float32Array, got a Float64Array$/);
      assert.throws(
        () => matrix.add(Int32Array.of(1, 2), new Float32Array(4)),
        /^Error: VectorMatrix\.add: vectors has 4 elements, expected ids\.length × dim = 2 × 4$/,
      );
      assert.throws(() => matrix.add(Int32Array.of(-3), new Float32Array(4)), /ids\[0\] is -3; ids must be >= 0$/);
      assert.throws(() => matrix.remove(new Uint32Array(1) as unknown as Int32Array), /ids must be an Int32Array, got a Uint32Array$/);
      await assert.rejects(matrix.topK(new Float32Array(6), 1), /queries has 6 elements, expected a positive multiple of dim 4$/);
      await assert.rejects(matrix.topK(new Float32Array(4), -1), /k must be a non-negative integer/);
      await assert.rejects(matrix.topK([1, 2, 3, 4] as unknown as Float32Array, 1), /queries must be a Float32Array, got an Array$/);
      matrix.dispose();
      assert.throws(() => matrix.add(Int32Array.of(1), new Float32Array(4)), /^Error: VectorMatrix\.add: matrix is disposed$/);
      await assert.rejects(matrix.topK(new Float32Array(4), 1), /matrix is disposed$/);
    });
  });
});
