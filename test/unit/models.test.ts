// The model catalogue and describeModel on ModernBERT folders laid out as the Hub serves them:
// which of the folder's files and the catalogue decides pooling, prefixes and the token limit,
// both spellings of ModernBERT's config.json, and a fingerprint that follows what vectors depend on.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CATALOGUE } from '../../server/model/catalogue';
import { describeModel, encoderConfigOf } from '../../server/model/folder';
import { FIXTURES } from '../support/paths';
import { writeSafetensors } from '../support/safetensors';

/** config.json of nomic-ai/modernbert-embed-base as the Hub serves it (the keys that matter). */
const NOMIC_CONFIG = {
  architectures: ['ModernBertModel'],
  model_type: 'modernbert',
  attention_bias: false,
  classifier_pooling: 'mean',
  global_attn_every_n_layers: 3,
  global_rope_theta: 160000.0,
  hidden_activation: 'gelu',
  hidden_size: 768,
  intermediate_size: 1152,
  local_attention: 128,
  local_rope_theta: 10000.0,
  max_position_embeddings: 8192,
  mlp_bias: false,
  norm_bias: false,
  norm_eps: 1e-5,
  num_attention_heads: 12,
  num_hidden_layers: 22,
  vocab_size: 50368,
};

describe('model catalogue', function () {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-models-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A model folder with `files` (JSON values are written as JSON) and an empty weights file. */
  function folder(name: string, files: Record<string, unknown>): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, 'reference', 'modernbert-tiny', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    writeSafetensors(path.join(dir, 'model.safetensors'), {}); // describeModel reads only the header
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  }

  it('knows the ModernBERT embedders with their prefixes, pooling, limits and dimensions', () => {
    const byId = new Map(CATALOGUE.map((c) => [c.id, c]));
    assert.equal(byId.size, CATALOGUE.length, 'ids are unique');
    for (const id of ['sentence-transformers/all-MiniLM-L6-v2', 'BAAI/bge-small-en-v1.5', 'BAAI/bge-base-en-v1.5']) {
      assert.equal(byId.get(id)?.architecture, 'bert', id);
    }
    assert.deepEqual(byId.get('nomic-ai/modernbert-embed-base'), {
      id: 'nomic-ai/modernbert-embed-base',
      architecture: 'modernbert',
      pooling: 'mean',
      queryPrefix: 'search_query: ',
      documentPrefix: 'search_document: ',
      maxTokens: 8192,
      dim: 768,
    });
    assert.deepEqual(byId.get('ibm-granite/granite-embedding-small-english-r2'), {
      id: 'ibm-granite/granite-embedding-small-english-r2',
      architecture: 'modernbert',
      pooling: 'cls',
      queryPrefix: '',
      documentPrefix: '',
      maxTokens: 8192,
      dim: 384,
    });
    assert.deepEqual(byId.get('Alibaba-NLP/gte-modernbert-base'), {
      id: 'Alibaba-NLP/gte-modernbert-base',
      architecture: 'modernbert',
      pooling: 'cls',
      queryPrefix: '',
      documentPrefix: '',
      maxTokens: 8192,
      dim: 768,
    });
  });

  it('describes a nomic-ai/modernbert-embed-base folder from its config.json and the catalogue', () => {
    const dir = folder('nomic', { 'config.json': NOMIC_CONFIG });
    const d = describeModel(dir, 'nomic-ai/modernbert-embed-base');
    assert.equal(d.id, 'nomic-ai/modernbert-embed-base');
    assert.equal(d.dim, 768);
    assert.equal(d.maxTokens, 8192);
    assert.equal(d.queryPrefix, 'search_query: ');
    assert.equal(d.documentPrefix, 'search_document: ');
    assert.equal(d.config.architecture, 'modernbert');
    if (d.config.architecture !== 'modernbert') return;
    assert.equal(d.config.pooling, 'mean');
    assert.deepEqual(
      d.config.layerTypes,
      Array.from({ length: 22 }, (_, i) => (i % 3 === 0 ? 'global' : 'local')),
    );
    assert.equal(d.config.globalRopeTheta, 160000);
    assert.equal(d.config.localRopeTheta, 10000);
    assert.equal(d.config.localAttention, 128);
    assert.deepEqual([d.config.normBias, d.config.attentionBias, d.config.mlpBias], [false, false, false]);
  });

  it('pools as the folder declares, else as the catalogue says, else as config.json says', () => {
    // gte-modernbert-base's config.json says classifier_pooling "mean"; the model pools CLS.
    const gte = { ...NOMIC_CONFIG, num_hidden_layers: 4 };
    assert.equal(describeModel(folder('gte/bare', { 'config.json': gte }), 'Alibaba-NLP/gte-modernbert-base').config.pooling, 'cls');
    const declared = folder('gte/declared', { 'config.json': gte, '1_Pooling/config.json': { pooling_mode_mean_tokens: true } });
    assert.equal(describeModel(declared, 'Alibaba-NLP/gte-modernbert-base').config.pooling, 'mean');
    assert.equal(describeModel(folder('unknown', { 'config.json': gte })).config.pooling, 'mean');
    assert.equal(describeModel(folder('unknown-default', { 'config.json': { ...gte, classifier_pooling: undefined } })).config.pooling, 'cls');
  });

  it('takes the token limit from sentence_bert_config.json, else the catalogue, within max_position_embeddings', () => {
    const small = { ...NOMIC_CONFIG, hidden_size: 384, num_attention_heads: 6, num_hidden_layers: 4 };
    const granite = 'ibm-granite/granite-embedding-small-english-r2';
    assert.equal(describeModel(folder('granite/plain', { 'config.json': small }), granite).maxTokens, 8192);
    assert.equal(describeModel(folder('granite/st', { 'config.json': small, 'sentence_bert_config.json': { max_seq_length: 1024 } }), granite).maxTokens, 1024);
    assert.equal(describeModel(folder('granite/short', { 'config.json': { ...small, max_position_embeddings: 2048 } }), granite).maxTokens, 2048);
  });

  it('refuses an id the folder contradicts, and ignores a catalogue name the folder merely shares', () => {
    const tiny = path.join(FIXTURES, 'reference', 'modernbert-tiny');
    const dir = folder('named/modernbert-embed-base', { 'config.json': fs.readFileSync(path.join(tiny, 'config.json'), 'utf8') });
    assert.throws(
      () => describeModel(dir, 'nomic-ai/modernbert-embed-base'),
      /modernbert-embed-base: config\.json describes a modernbert encoder of 64 dimensions, but nomic-ai\/modernbert-embed-base is a modernbert encoder of 768: the folder holds another model$/,
    );
    const guessed = describeModel(dir);
    assert.equal(guessed.id, 'modernbert-embed-base');
    assert.equal(guessed.documentPrefix, '');
  });

  it('reads the transformers 5 spelling (layer_types, rope_parameters) like the Hub spelling', () => {
    const tiny = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', 'modernbert-tiny', 'config.json'), 'utf8')) as Record<string, unknown>;
    const legacy = encoderConfigOf(folder('spelling/legacy', { 'config.json': tiny }));
    const { global_attn_every_n_layers: _every, global_rope_theta: _g, local_rope_theta: _l, ...rest } = tiny;
    const modern = {
      ...rest,
      layer_types: ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
      rope_parameters: {
        full_attention: { rope_type: 'default', rope_theta: 20000.0 },
        sliding_attention: { rope_type: 'default', rope_theta: 500.0 },
      },
    };
    assert.deepEqual(encoderConfigOf(folder('spelling/modern', { 'config.json': modern })), legacy);
    const yarn = { ...modern, rope_parameters: { ...modern.rope_parameters, full_attention: { rope_type: 'yarn', rope_theta: 1 } } };
    assert.throws(() => encoderConfigOf(folder('spelling/yarn', { 'config.json': yarn })), /rope_type "yarn" for full_attention is not supported/);
    assert.throws(
      () => encoderConfigOf(folder('spelling/short', { 'config.json': { ...modern, layer_types: ['full_attention'] } })),
      /layer_types lists 1 layers, num_hidden_layers is 4/,
    );
    assert.throws(
      () => encoderConfigOf(folder('spelling/act', { 'config.json': { ...tiny, hidden_activation: 'silu' } })),
      /unsupported hidden_activation "silu"; supported: gelu/,
    );
  });

  it('changes the fingerprint when the document prefix or pooling changes, not the query prefix', () => {
    const tiny = fs.readFileSync(path.join(FIXTURES, 'reference', 'modernbert-tiny', 'config.json'), 'utf8');
    const base = describeModel(folder('fp/base', { 'config.json': tiny })).fingerprint;
    const prompts = (p: Record<string, string>) => ({ 'config.json': tiny, 'config_sentence_transformers.json': { prompts: p } });
    assert.equal(describeModel(folder('fp/same', { 'config.json': tiny })).fingerprint, base);
    assert.notEqual(describeModel(folder('fp/doc', prompts({ document: 'search_document: ' }))).fingerprint, base);
    assert.equal(describeModel(folder('fp/query', prompts({ query: 'search_query: ' }))).fingerprint, base);
    assert.notEqual(describeModel(folder('fp/cls', { 'config.json': tiny, '1_Pooling/config.json': { pooling_mode_cls_token: true } })).fingerprint, base);
  });
});
