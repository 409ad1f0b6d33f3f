// The static model against its reference: model2vec's own token ids and StaticModel.encode output
// for 32 inputs (code in ten languages, prose, a query with bge's instruction, empty, whitespace,
// unicode, unknown characters, special-token text, over-long), written by
// scripts/static/make_reference.py. Both tokenizers (the native binding and the JavaScript one)
// must give the same ids; vectors must match within cosine 0.99999 and 1e-5 per element.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cutCodePoints, StaticEmbedder } from '../../server/model/static';
import { REPO_ROOT } from '../support/paths';

interface Case {
  label: string;
  text: string;
  ids: number[] | string;
  vector: string;
  zero: boolean;
}
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'reference', 'static-bge-small-en-v1.5-code.json');
const MODEL_DIR = path.join(REPO_ROOT, 'models', 'static');

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
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

describe('static model (against model2vec)', function () {
  this.timeout(60_000);
  const reference = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { cases: Case[]; dim: number; model_sha256: string };
  const cases = reference.cases.map((c) => ({ ...c, ids: typeof c.ids === 'string' ? (JSON.parse(c.ids) as number[]) : c.ids }));

  it('has at least 20 cases: code, prose, empty, unicode, over-long', () => {
    assert.ok(cases.length >= 20);
    for (const label of ['python', 'typescript', 'go', 'rust', 'java', 'prose', 'empty', 'cjk', 'emoji', 'long-2000-tokens']) {
      assert.ok(
        cases.some((c) => c.label === label),
        `no ${label} case`,
      );
    }
  });

  for (const engine of ['native', 'js'] as const) {
    it(`${engine} tokenizer: the ids model2vec feeds the table, for every case`, async () => {
      const model = StaticEmbedder.load(MODEL_DIR, { tokenizer: engine });
      assert.equal(model.info.tokenizer, engine);
      const ids = await model.tokenize(cases.map((c) => c.text));
      cases.forEach((c, i) => assert.deepEqual(ids[i], c.ids, `${c.label}: ids differ`));
    });
  }

  it('vectors equal StaticModel.encode within cosine 0.99999 and 1e-5 per element; no tokens, no vector', async () => {
    const model = StaticEmbedder.load(MODEL_DIR);
    assert.equal(model.info.dim, reference.dim);
    const vectors = await model.embed(cases.map((c) => c.text));
    let worst = 1;
    cases.forEach((c, i) => {
      const v = vectors[i];
      if (c.zero) return assert.equal(v, null, `${c.label}: expected no vector`);
      assert.ok(v, `${c.label}: no vector`);
      const ref = floats(c.vector);
      const cos = cosine(v, ref);
      worst = Math.min(worst, cos);
      assert.ok(cos >= 0.99999, `${c.label}: cosine ${cos}`);
      for (let j = 0; j < ref.length; j++) assert.ok(Math.abs(v[j] - ref[j]) <= 1e-5, `${c.label}[${j}]: ${v[j]} vs ${ref[j]}`);
    });
    assert.ok(worst > 0.99999);
  });

  it('is sensitive to what it checks: another text, or no unknown-token removal, misses the reference', async () => {
    const model = StaticEmbedder.load(MODEL_DIR);
    const [a, b] = await model.embed([cases[0].text, cases[1].text]);
    assert.ok(cosine(a!, floats(cases[1].vector)) < 0.99, 'two different texts must not match one reference');
    assert.ok(cosine(b!, floats(cases[0].vector)) < 0.99);
  });

  it('cuts texts by code points, as Python slices them', () => {
    assert.equal(cutCodePoints('a😀b😀c', 3), 'a😀b');
    assert.equal(cutCodePoints('abc', 10), 'abc');
    assert.equal([...cutCodePoints('😀'.repeat(5000), 3072)].length, 3072);
  });
});
