// ModernBERT in the native addon: parity with transformers' ModernBertModel on the tiny random
// models of test/fixtures/reference/modernbert-tiny*/ (scripts/reference/make_modernbert_tiny.py),
// the fused CPU kernels against MLX ops, the strict weight check, and the same parity on real
// weights where $SEMSEARCH_MODERNBERT_DIR names a model folder.
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { DEFAULT_MAX_TOKENS, Embedder } from '../../server/model/embedder';
import { TextTokenizer } from '../../server/model/tokenizer';
import { describeModel, encoderConfigOf } from '../../server/model/folder';
import { addonPath, LoadOptions, loadModel, ModelConfig, ModernBertModelConfig, NativeModel, nativeInfo } from '../../server/model/native';
import { FIXTURES } from '../support/paths';
import { rng } from '../support/random';
import { f32, readSafetensors, Tensor, writeSafetensors } from '../support/safetensors';

interface ReferenceCase {
  /** Present for the cases made from text by the fixture's tokenizer.json. */
  text?: string;
  ids: number[];
  /** Pooled, normalised float32 vectors (base64): the row alone, and inside the padded batch. */
  alone: string;
  batched: string;
}

interface Reference {
  model: string;
  versions: Record<string, string>;
  pooling: 'cls' | 'mean';
  dim: number;
  layer_types: string[];
  cases: ReferenceCase[];
}

const PARITY = 0.9999;
/** float16 on a GPU: weights and activations carry 11 significant bits. */
const GPU_PARITY = 0.999;

function vector(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** Pad rows into the addon's batch layout (right padding with id 0). */
function batchOf(rows: number[][]): { ids: Int32Array; lengths: Int32Array; seqLen: number } {
  const seqLen = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * seqLen);
  rows.forEach((r, i) => ids.set(r, i * seqLen));
  return { ids, lengths: Int32Array.from(rows, (r) => r.length), seqLen };
}

function readReference(file: string): Reference {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Reference;
}

interface Agreement {
  /** Worst cosine with the reference, each case alone and all cases in one padded batch. */
  alone: number;
  batched: number;
  /** Largest absolute difference of any component, over both. */
  maxAbs: number;
}

/** Compare the model's vectors with the reference: each case alone, then all in one padded batch. */
async function parity(model: NativeModel, reference: Reference, dim: number): Promise<Agreement> {
  const result = { alone: 1, batched: 1, maxAbs: 0 };
  const compare = (got: Float32Array, want: Float32Array) => {
    for (let i = 0; i < dim; i++) result.maxAbs = Math.max(result.maxAbs, Math.abs(got[i] - want[i]));
    return cosine(got, want);
  };
  for (const c of reference.cases) {
    const got = await model.embed(Int32Array.from(c.ids), Int32Array.of(c.ids.length), c.ids.length);
    result.alone = Math.min(result.alone, compare(got, vector(c.alone)));
  }
  const { ids, lengths, seqLen } = batchOf(reference.cases.map((c) => c.ids));
  const out = await model.embed(ids, lengths, seqLen);
  reference.cases.forEach((c, i) => {
    result.batched = Math.min(result.batched, compare(out.subarray(i * dim, (i + 1) * dim), vector(c.batched)));
  });
  return result;
}

/** Tensors of a random ModernBERT checkpoint for `c`, bare names, as ModernBertModel stores them. */
function modernBertTensors(c: ModernBertModelConfig, random: () => number): Record<string, Tensor> {
  const h = c.hiddenSize,
    i = c.intermediateSize;
  const weight = (rows: number, cols: number) => f32([rows, cols], () => (random() * 2 - 1) * (2 / Math.sqrt(cols)));
  const norm = () => f32([h], () => 1 + (random() - 0.5) * 0.4);
  const t: Record<string, Tensor> = {
    'embeddings.tok_embeddings.weight': f32([c.vocabSize, h], () => random() * 2 - 1),
    'embeddings.norm.weight': norm(),
  };
  for (let l = 0; l < c.numLayers; l++) {
    const p = `layers.${l}.`;
    if (l > 0) t[`${p}attn_norm.weight`] = norm();
    t[`${p}attn.Wqkv.weight`] = weight(3 * h, h);
    t[`${p}attn.Wo.weight`] = weight(h, h);
    t[`${p}mlp_norm.weight`] = norm();
    t[`${p}mlp.Wi.weight`] = weight(2 * i, h);
    t[`${p}mlp.Wo.weight`] = weight(h, i);
  }
  t['final_norm.weight'] = norm();
  return t;
}

describe('ModernBERT encoder', function () {
  // Encoder calls take seconds on a small, busy CPU; also right when this file runs alone.
  this.timeout(600_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-modernbert-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const name of ['modernbert-tiny', 'modernbert-tiny-bias']) {
    describe(`${name} against transformers`, () => {
      const dir = path.join(FIXTURES, 'reference', name);
      const reference = readReference(path.join(dir, 'reference.json'));

      it('config.json reads as transformers reads it (layer kinds, pooling, biases)', () => {
        const config = encoderConfigOf(dir);
        assert.equal(config.architecture, 'modernbert');
        if (config.architecture !== 'modernbert') return;
        assert.deepEqual(
          config.layerTypes,
          reference.layer_types.map((t) => (t === 'full_attention' ? 'global' : 'local')),
        );
        assert.equal(config.pooling, reference.pooling);
        assert.equal(config.hiddenSize, reference.dim);
        assert.ok(
          reference.cases.some((c) => c.ids.length > config.localAttention),
          'some case is longer than the window',
        );
      });

      for (const kernels of ['fused', 'mlx'] as const) {
        it(`cosine >= ${PARITY} for every case, alone and in a padded batch (${kernels} kernels, CPU float32)`, async () => {
          const model = await loadModel(dir, encoderConfigOf(dir), { device: 'cpu', kernels });
          try {
            assert.equal(model.info.architecture, 'modernbert');
            assert.equal(model.info.dtype, 'float32');
            assert.equal(model.info.kernels, kernels);
            const worst = await parity(model, reference, reference.dim);
            const gap = (cos: number) => `1 - ${(1 - cos).toExponential(1)}`;
            console.log(
              `      worst cosine: alone ${gap(worst.alone)}, padded batch ${gap(worst.batched)}; ` +
                `max |difference| ${worst.maxAbs.toExponential(1)}; reference: ${JSON.stringify(reference.versions)}`,
            );
            assert.ok(worst.alone >= PARITY, `alone: worst cosine ${worst.alone}`);
            assert.ok(worst.batched >= PARITY, `padded batch: worst cosine ${worst.batched}`);
          } finally {
            await model.dispose();
          }
        });
      }

      it(`cosine >= ${GPU_PARITY} on the GPU (float16), where this MLX build has one`, async function () {
        if (!nativeInfo().gpuAvailable) {
          console.log('      skipped: this MLX build has no GPU (Metal or CUDA)');
          this.skip();
        }
        const model = await loadModel(dir, encoderConfigOf(dir), { device: 'gpu' });
        try {
          assert.equal(model.info.device, 'gpu');
          assert.equal(model.info.dtype, 'float16');
          const worst = await parity(model, reference, reference.dim);
          console.log(
            `      GPU worst cosine: alone ${worst.alone.toFixed(6)}, padded batch ${worst.batched.toFixed(6)}; max |difference| ${worst.maxAbs.toExponential(1)}`,
          );
          assert.ok(Math.min(worst.alone, worst.batched) >= GPU_PARITY, JSON.stringify(worst));
        } finally {
          await model.dispose();
        }
      });
    });
  }

  describe('text path (modernbert-tiny with its WordPiece tokenizer.json)', () => {
    const source = path.join(FIXTURES, 'reference', 'modernbert-tiny');
    const reference = readReference(path.join(source, 'reference.json'));
    const textCases = reference.cases.filter((c): c is ReferenceCase & { text: string } => c.text !== undefined);
    let embedder: Embedder;
    before(async () => {
      embedder = await Embedder.load(source, { device: 'cpu' });
    });
    after(() => embedder?.dispose());

    it('tokenizes as the reference did and embeds texts at parity', async () => {
      assert.ok(textCases.length >= 3);
      const tokenizer = TextTokenizer.fromFile(path.join(source, 'tokenizer.json'), 1024);
      for (const c of textCases) assert.deepEqual(tokenizer.encode(c.text), c.ids, c.text);
      assert.equal(embedder.model.documentPrefix, '');
      const vectors = await embedder.embed(
        textCases.map((c) => c.text),
        { kind: 'document' },
      );
      textCases.forEach((c, i) => {
        const cos = cosine(vectors[i], vector(c.alone));
        assert.ok(cos >= PARITY, `"${c.text.slice(0, 40)}": cosine ${cos}`);
      });
    });

    it(`cuts inputs at ${DEFAULT_MAX_TOKENS} tokens by default, at the model's limit at most`, async () => {
      assert.equal(embedder.model.maxTokens, 1024);
      assert.equal(embedder.info.maxTokens, DEFAULT_MAX_TOKENS);
      const wide = await Embedder.load(source, { device: 'cpu', maxTokens: 4096 });
      assert.equal(wide.info.maxTokens, 1024);
      wide.dispose();
      const narrow = await Embedder.load(source, { device: 'cpu', maxTokens: 40 });
      try {
        assert.equal(narrow.info.maxTokens, 40);
        const long = textCases.find((c) => c.ids.length > 40)!;
        const [cut] = await narrow.embed([long.text], { kind: 'document' });
        const model = await loadModel(source, encoderConfigOf(source), { device: 'cpu' });
        const ids = [...long.ids.slice(0, 39), 2]; // content cut, [SEP] kept
        const want = await model.embed(Int32Array.from(ids), Int32Array.of(40), 40);
        await model.dispose();
        assert.ok(cosine(cut, want) > 0.99999);
      } finally {
        narrow.dispose();
      }
      await assert.rejects(Embedder.load(source, { maxTokens: 0 }), /maxTokens must be an integer >= 8, got 0/);
    });

    it('puts the document prefix before chunks and the query prefix before queries', async () => {
      // The folder declares its prompts the sentence-transformers way; the reference holds
      // "search_document: parse the http header …" embedded as plain text.
      const dir = path.join(tmp, 'with-prompts');
      fs.cpSync(source, dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'config_sentence_transformers.json'),
        JSON.stringify({ prompts: { query: 'search_query: ', document: 'search_document: ' } }),
      );
      const prompted = await Embedder.load(dir, { device: 'cpu' });
      try {
        assert.equal(prompted.model.queryPrefix, 'search_query: ');
        assert.notEqual(prompted.info.fingerprint, embedder.info.fingerprint, 'a document prefix changes the stored vectors: new fingerprint');
        const withPrefix = textCases.find((c) => c.text.startsWith('search_document: '))!;
        const body = withPrefix.text.slice('search_document: '.length);
        const [doc] = await prompted.embed([body], { kind: 'document' });
        assert.ok(cosine(doc, vector(withPrefix.alone)) >= PARITY);
        const [query] = await prompted.embed([body], { kind: 'query' });
        const [plainQuery] = await embedder.embed(['search_query: ' + body], { kind: 'query' });
        assert.ok(cosine(query, plainQuery) > 0.99999);
        assert.ok(cosine(query, doc) < 0.9999, 'query and document prefixes differ');
        assert.equal(prompted.countTokens(body), embedder.countTokens('search_document: ' + body));
      } finally {
        prompted.dispose();
      }
    });
  });

  it('the reference depends on the window, the rotary bases and the pooling (a wrong one fails parity)', async () => {
    // Guards the test itself: with any of these read wrongly the vectors must differ.
    const dir = path.join(FIXTURES, 'reference', 'modernbert-tiny');
    const reference = readReference(path.join(dir, 'reference.json'));
    const config = encoderConfigOf(dir) as ModernBertModelConfig;
    const wrong: Partial<ModernBertModelConfig>[] = [
      { layerTypes: config.layerTypes.map(() => 'global' as const) },
      { localAttention: config.localAttention * 2 },
      { globalRopeTheta: 160000, localRopeTheta: 10000 },
      { pooling: 'cls' },
    ];
    for (const change of wrong) {
      const model = await loadModel(dir, { ...config, ...change }, { device: 'cpu' });
      const worst = await parity(model, reference, reference.dim);
      await model.dispose();
      assert.ok(Math.min(worst.alone, worst.batched) < 0.999, `${JSON.stringify(change)} still matches: ${JSON.stringify(worst)}`);
    }
  });

  it('fused CPU kernels agree with MLX ops for every head size, window and row length', async () => {
    // Head dims 16, 32, 48, 64; windows narrower and wider than the rows; lengths that are and are
    // not multiples of 16, up to 300 tokens.
    const shapes: [number, number, number][] = [
      [64, 4, 8],
      [64, 2, 32],
      [96, 2, 16],
      [64, 1, 128],
    ];
    for (const [hiddenSize, numHeads, localAttention] of shapes) {
      const c: ModernBertModelConfig = {
        architecture: 'modernbert',
        hiddenSize,
        numHeads,
        numLayers: 3,
        intermediateSize: 2 * hiddenSize - 16,
        vocabSize: 100,
        maxPositions: 512,
        pooling: 'mean',
        hiddenAct: 'gelu',
        normEps: 1e-5,
        normBias: false,
        attentionBias: false,
        mlpBias: false,
        layerTypes: ['global', 'local', 'local'],
        globalRopeTheta: 160000,
        localRopeTheta: 10000,
        localAttention,
      };
      const dir = path.join(tmp, `heads-${hiddenSize}-${numHeads}-${localAttention}`);
      fs.mkdirSync(dir);
      writeSafetensors(path.join(dir, 'model.safetensors'), modernBertTensors(c, rng(hiddenSize + numHeads + localAttention)));
      for (const pooling of ['cls', 'mean'] as const) {
        const fused = await loadModel(dir, { ...c, pooling }, { device: 'cpu' });
        const reference = await loadModel(dir, { ...c, pooling }, { device: 'cpu', kernels: 'mlx' });
        assert.equal(fused.info.kernels, 'fused');
        const random = rng(9);
        const rows = [300, 1, 17, 100, 48, 5].map((n) => Array.from({ length: n }, () => Math.floor(random() * 100)));
        const { ids, lengths, seqLen } = batchOf(rows);
        const [a, b] = await Promise.all([fused.embed(ids, lengths, seqLen), reference.embed(ids, lengths, seqLen)]);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assert.ok(worst < 1e-5, `hidden ${hiddenSize}, ${numHeads} heads, window ${localAttention}, ${pooling}: max abs difference ${worst}`);
        await Promise.all([fused.dispose(), reference.dispose()]);
      }
    }
  });

  describe('strict weights', () => {
    const source = path.join(FIXTURES, 'reference', 'modernbert-tiny');
    const config = () => encoderConfigOf(source);

    /** A copy of the tiny model's folder whose tensors `change` edits; returns its weights file. */
    function variant(name: string, change: (t: Record<string, Tensor>) => void): string {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir);
      const tensors = readSafetensors(path.join(source, 'model.safetensors'));
      change(tensors);
      writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
      return dir;
    }

    it('names a missing tensor', async () => {
      const dir = variant('missing', (t) => delete t['layers.2.mlp.Wi.weight']);
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), {
        message: `${dir}/model.safetensors: missing tensor layers.2.mlp.Wi.weight for a ModernBERT encoder with this config.json`,
      });
      // A config asking for more layers than the file holds; the names keep the file's prefix.
      const prefixed = variant('missing-prefixed', (t) => {
        for (const name of Object.keys(t)) {
          t[`model.${name}`] = t[name];
          delete t[name];
        }
      });
      await assert.rejects(
        loadModel(prefixed, { ...config(), numLayers: 5, layerTypes: [...(config() as ModernBertModelConfig).layerTypes, 'local'] } as ModernBertModelConfig, {
          device: 'cpu',
        }),
        {
          message: `${prefixed}/model.safetensors: missing tensor model.layers.4.attn_norm.weight (and 5 more) for a ModernBERT encoder with this config.json`,
        },
      );
    });

    it('names a tensor with the wrong shape', async () => {
      const dir = variant('misshaped', (t) => {
        t['layers.1.attn.Wqkv.weight'] = f32([64, 64], () => 0);
      });
      await assert.rejects(loadModel(dir, config(), { device: 'cpu' }), {
        message: `${dir}/model.safetensors: tensor layers.1.attn.Wqkv.weight has shape [64, 64], expected [192, 64]`,
      });
    });

    it('names an unexpected tensor, and a bias the config does not have', async () => {
      const extra = variant('unexpected', (t) => {
        t['layers.0.attn_norm.weight'] = f32([64], () => 1); // layer 0 has no attention norm
      });
      await assert.rejects(loadModel(extra, config(), { device: 'cpu' }), {
        message: `${extra}/model.safetensors: unexpected tensor layers.0.attn_norm.weight: not part of a ModernBERT encoder with this config.json`,
      });
      const bias = variant('bias', (t) => {
        t['layers.3.mlp.Wo.bias'] = f32([64], () => 0);
        t['final_norm.bias'] = f32([64], () => 0);
      });
      await assert.rejects(
        loadModel(bias, config(), { device: 'cpu' }),
        /: unexpected tensor (final_norm\.bias|layers\.3\.mlp\.Wo\.bias) \(and 1 more\): not part of a ModernBERT encoder with this config\.json$/,
      );
      // A layer beyond num_hidden_layers is not silently dropped either.
      const deeper = variant('deeper', (t) => {
        t['layers.4.mlp_norm.weight'] = f32([64], () => 1);
      });
      await assert.rejects(loadModel(deeper, config(), { device: 'cpu' }), /: unexpected tensor layers\.4\.mlp_norm\.weight: /);
    });

    it('ignores a masked-LM head but rejects one weight under two names', async () => {
      const head = variant('head', (t) => {
        t['head.dense.weight'] = f32([64, 64], () => 0);
        t['decoder.bias'] = f32([256], () => 0);
      });
      const model = await loadModel(head, config(), { device: 'cpu' });
      await model.dispose();
      const twice = variant('twice', (t) => {
        t['model.final_norm.weight'] = t['final_norm.weight'];
      });
      await assert.rejects(
        loadModel(twice, config(), { device: 'cpu' }),
        /: tensors (model\.)?final_norm\.weight and (model\.)?final_norm\.weight map to the same weight$/,
      );
    });

    it('rejects ModernBERT configs it cannot run', async () => {
      const c = config() as ModernBertModelConfig;
      const cases: [Partial<ModernBertModelConfig> | Record<string, unknown>, RegExp][] = [
        [{ layerTypes: ['global'] }, /: config\.layerTypes must be an array of numLayers \(4\) entries 'global' or 'local'$/],
        [{ layerTypes: ['global', 'local', 'sliding', 'global'] }, /: config\.layerTypes\[2\] must be 'global' or 'local'$/],
        [{ normBias: 'no' }, /: config\.normBias must be a boolean$/],
        [{ globalRopeTheta: 0 }, /: config\.globalRopeTheta must be a positive number$/],
        [{ hiddenSize: 60, numHeads: 4 }, /: config\.hiddenSize \/ numHeads = 15 is odd; rotary embeddings need an even head size$/],
      ];
      for (const [change, message] of cases) {
        await assert.rejects(
          loadModel(source, { ...c, ...change }, { device: 'cpu' }),
          (e: unknown) => e instanceof Error && message.test(e.message) && e.message.startsWith(source),
        );
      }
    });
  });

  describe('memory', () => {
    // As for BERT (test/reliability/oom.test.ts): the encoder asks for a batch's peak memory up
    // front and refuses it with "out of memory …", which server/model/embedder.ts answers by halving the
    // batch. Without the check, MLX's CPU backend crashed the process when an allocation failed,
    // so these run the model in a child process: a crash fails the test instead of the suite.
    const dir = path.join(FIXTURES, 'reference', 'modernbert-tiny');
    const outOfMemory = (batch: number, len: number) => new RegExp(`^embed: out of memory: a batch of ${batch} × ${len} tokens needs about \\d+ MB$`);

    it('refuses a batch whose activations no machine has room for, before running it, and embeds afterwards', async () => {
      // MLX's attention ops hold [batch, heads, len, len] scores: for 2^22 tokens that is more
      // than a 48-bit address space, so the check refuses it everywhere.
      const len = 1 << 22;
      const child = await EmbedChild.start(dir, { ...encoderConfigOf(dir), maxPositions: len }, { kernels: 'mlx' });
      try {
        const huge = await child.embed(1, len);
        assert.equal(huge.ok, false);
        assert.match(huge.error!, outOfMemory(1, len));
        assert.equal((await child.embed(2, 40)).ok, true);
      } finally {
        child.kill();
      }
    });

    it('refuses a batch that does not fit under an address-space cap instead of crashing (fused kernels)', async function () {
      const prlimit = spawnSync('prlimit', ['--version']);
      if (process.platform !== 'linux' || prlimit.error || prlimit.status !== 0) {
        console.log('      skipped: the cap is set with prlimit (util-linux, Linux)');
        this.skip();
      }
      const child = await EmbedChild.start(dir, encoderConfigOf(dir), {});
      try {
        assert.equal(child.kernels, 'fused');
        assert.equal((await child.embed(8, 256)).ok, true); // warm-up: thread pool, BLAS buffers, MLX's cache
        // 64 × 512 tokens: about 500 MB by the estimate, under a cap 96 MB above what is in use.
        child.limitAddressSpace(child.vmSize() + 96 * 2 ** 20);
        const big = await child.embed(64, 512);
        assert.equal(big.ok, false);
        assert.match(big.error!, outOfMemory(64, 512));
        assert.equal((await child.embed(1, 64)).ok, true, 'a small batch fits under the same cap');
        child.limitAddressSpace(null);
        assert.equal((await child.embed(64, 512)).ok, true, 'the big batch runs once memory is back');
      } finally {
        child.kill();
      }
    });
  });

  describe('real weights', () => {
    // A folder with a ModernBERT model (config.json, model.safetensors, tokenizer.json) and its
    // reference made by scripts/reference/make_vectors.py (test/fixtures/reference/<folder name>.json,
    // or $SEMSEARCH_MODERNBERT_REFERENCE).
    const dir = process.env.SEMSEARCH_MODERNBERT_DIR;

    it('matches sentence-transformers on the reference texts ($SEMSEARCH_MODERNBERT_DIR)', async function () {
      if (!dir) {
        console.log(
          '      skipped: set SEMSEARCH_MODERNBERT_DIR to a ModernBERT model folder (e.g. nomic-ai/modernbert-embed-base) to run parity on real weights',
        );
        this.skip();
      }
      const referenceFile = process.env.SEMSEARCH_MODERNBERT_REFERENCE ?? path.join(FIXTURES, 'reference', `${path.basename(path.resolve(dir))}.json`);
      assert.ok(fs.existsSync(referenceFile), `${referenceFile}: no reference; make it with python scripts/reference/make_vectors.py ${dir}`);
      const reference = JSON.parse(fs.readFileSync(referenceFile, 'utf8')) as {
        max_seq_length: number;
        versions: Record<string, string>;
        cases: { label: string; text: string; ids: number[]; vector: string }[];
      };
      const desc = describeModel(dir);
      assert.equal(desc.config.architecture, 'modernbert');
      const tokenizer = TextTokenizer.fromFile(path.join(desc.dir, 'tokenizer.json'), reference.max_seq_length);
      for (const c of reference.cases) assert.deepEqual(tokenizer.encode(c.text), c.ids, `token ids differ for case "${c.label}"`);
      const model = await loadModel(desc.dir, desc.config, { device: 'cpu' });
      try {
        let worst = { cos: 1, label: '' };
        const rows = reference.cases.map((c) => c.ids);
        for (let start = 0; start < rows.length; start += 8) {
          const group = rows.slice(start, start + 8);
          const { ids, lengths, seqLen } = batchOf(group);
          const out = await model.embed(ids, lengths, seqLen);
          group.forEach((_, i) => {
            const c = reference.cases[start + i];
            const cos = cosine(out.subarray(i * desc.dim, (i + 1) * desc.dim), vector(c.vector));
            if (cos < worst.cos) worst = { cos, label: c.label };
          });
        }
        console.log(`      ${desc.id}: worst cosine ${worst.cos.toFixed(7)} (${worst.label}); reference: ${JSON.stringify(reference.versions)}`);
        assert.ok(worst.cos >= PARITY, `worst cosine ${worst.cos} (${worst.label})`);
      } finally {
        await model.dispose();
      }
    });
  });
});

/**
 * A child process holding one model (loaded from `dir` with `config` and `options` by the addon
 * itself), embedding batches of `batch` × `len` made-up ids on request. glibc is tuned as in the
 * reliability suite, so that an address-space cap meets each large allocation.
 */
class EmbedChild {
  private stderr = '';
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<string>;
  kernels = '';

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
  }

  static async start(dir: string, config: ModelConfig, options: LoadOptions): Promise<EmbedChild> {
    const script = `
      const addon = require(${JSON.stringify(addonPath())});
      (async () => {
        const model = await addon.loadModel(${JSON.stringify(dir)}, ${JSON.stringify(config)}, { device: 'cpu', ...${JSON.stringify(options)} });
        process.stdout.write(model.info.kernels + '\\n');
        for await (const line of require('node:readline').createInterface({ input: process.stdin })) {
          const [batch, len] = line.split(' ').map(Number);
          const ids = Int32Array.from({ length: batch * len }, (_, i) => 3 + (i % 200));
          try {
            await model.embed(ids, new Int32Array(batch).fill(len), len);
            process.stdout.write(JSON.stringify({ ok: true }) + '\\n');
          } catch (e) {
            process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + '\\n');
          }
        }
      })();`;
    const child = new EmbedChild(
      spawn(process.execPath, ['-e', script], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' },
      }),
    );
    child.kernels = await child.next('model load');
    return child;
  }

  async embed(batch: number, len: number): Promise<{ ok: boolean; error?: string }> {
    this.child.stdin!.write(`${batch} ${len}\n`);
    return JSON.parse(await this.next(`embed ${batch} × ${len}`)) as { ok: boolean; error?: string };
  }

  /** Virtual memory size of the child, in bytes. */
  vmSize(): number {
    const kb = /VmSize:\s+(\d+)/.exec(fs.readFileSync(`/proc/${this.child.pid}/status`, 'utf8'))![1];
    return Number(kb) * 1024;
  }

  /** Set the child's address-space limit (RLIMIT_AS); null lifts it. */
  limitAddressSpace(bytes: number | null): void {
    const value = bytes === null ? 'unlimited' : String(Math.floor(bytes));
    const r = spawnSync('prlimit', ['--pid', String(this.child.pid), `--as=${value}:unlimited`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`prlimit: ${r.stderr}`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private async next(what: string): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`${what}: the child ended (${await this.exited}); stderr: ${this.stderr.slice(-1000)}`);
    return r.value;
  }
}
