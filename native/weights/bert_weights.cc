// BERT checkpoints → BertWeights: the key map from checkpoint names to ours, the tensors a
// config expects, the few others real checkpoints carry that are left aside, and the reads that
// build the weights (query, key and value stacked into one projection).
#include <string>
#include <string_view>

#include "weights/checkpoint.h"
#include "weights/weights.h"

namespace semsearch {

namespace {

// Checkpoint name → our name. One rule per line.
std::string bert_name(std::string name) {
  if (name.starts_with("bert.")) name.erase(0, 5);  // BertModel nested in a task model
  auto ends = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends("LayerNorm.gamma")) name.replace(name.size() - 5, 5, "weight");  // TF-era naming
  if (ends("LayerNorm.beta")) name.replace(name.size() - 4, 4, "bias");
  return name;
}

// Tensors that real BERT checkpoints hold beside the encoder and that an embedding never uses;
// every other tensor the config does not explain is refused (a checkpoint deeper or wider than
// its config.json must not load and embed wrongly).
// - embeddings.position_ids: the position index buffer older transformers versions saved
//   (all-MiniLM-L6-v2 has it, int64 [1, 512]);
// - pooler.*: BertModel's pooler, a dense + tanh over [CLS] (all-MiniLM-L6-v2 has it): the
//   pooling here is config.pooling over the hidden states, as sentence-transformers does;
// - cls.*, classifier.*: the heads of BertFor* task models (pretraining, masked LM,
//   classification), which nest the encoder under `bert.`.
bool is_unused_extra(const std::string& checkpoint_name) {
  std::string ours = bert_name(checkpoint_name);
  return ours == "embeddings.position_ids" || ours.starts_with("pooler.") ||
         checkpoint_name.starts_with("cls.") || checkpoint_name.starts_with("classifier.");
}

// Every tensor the forward pass needs, with its shape.
ExpectedTensors bert_tensors(const BertConfig& c) {
  int64_t h = c.hidden_size, i = c.intermediate_size;
  ExpectedTensors out = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"embeddings.position_embeddings.weight", {c.max_positions, h}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}},
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* proj : {"query", "key", "value"}) {
      out.push_back({p + "attention.self." + proj + ".weight", {h, h}});
      out.push_back({p + "attention.self." + proj + ".bias", {h}});
    }
    out.push_back({p + "attention.output.dense.weight", {h, h}});
    out.push_back({p + "attention.output.dense.bias", {h}});
    out.push_back({p + "attention.output.LayerNorm.weight", {h}});
    out.push_back({p + "attention.output.LayerNorm.bias", {h}});
    out.push_back({p + "intermediate.dense.weight", {i, h}});
    out.push_back({p + "intermediate.dense.bias", {i}});
    out.push_back({p + "output.dense.weight", {h, i}});
    out.push_back({p + "output.dense.bias", {h}});
    out.push_back({p + "output.LayerNorm.weight", {h}});
    out.push_back({p + "output.LayerNorm.bias", {h}});
  }
  return out;
}

}  // namespace

BertWeights load_bert_weights(const std::string& path, const BertConfig& c, mx::Dtype dtype,
                              mx::Device d) {
  SafetensorsFile file(path);
  auto by_canonical = index_tensors(file, bert_name);
  auto expected = bert_tensors(c);
  check_expected(file, by_canonical, expected, "", "a BERT encoder");
  check_unexpected(file, expected, bert_name, is_unused_extra, "a BERT encoder");

  TensorReader r(file, by_canonical, dtype, d);
  BertWeights w{
      .word_embeddings = r.get("embeddings.word_embeddings.weight"),
      .position_embeddings = r.get("embeddings.position_embeddings.weight"),
      // Row 0 only: token_type_ids are all 0.
      .token_type_embedding =
          r.keep(mx::reshape(mx::slice(r.read("embeddings.token_type_embeddings.weight"), {0, 0},
                                       {1, c.hidden_size}, d),
                             {c.hidden_size}, d)),
      .embed_norm_weight = r.get("embeddings.LayerNorm.weight"),
      .embed_norm_bias = r.get("embeddings.LayerNorm.bias"),
      .layers = {},
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto qkv = [&](const char* kind) {
      std::string s = p + "attention.self.";
      return r.keep(mx::concatenate(
          {r.read(s + "query." + kind), r.read(s + "key." + kind), r.read(s + "value." + kind)}, 0,
          d));
    };
    w.layers.push_back(BertLayer{
        .qkv_weight = qkv("weight"),
        .qkv_bias = qkv("bias"),
        .attn_out_weight = r.get(p + "attention.output.dense.weight"),
        .attn_out_bias = r.get(p + "attention.output.dense.bias"),
        .attn_norm_weight = r.get(p + "attention.output.LayerNorm.weight"),
        .attn_norm_bias = r.get(p + "attention.output.LayerNorm.bias"),
        .ffn_in_weight = r.get(p + "intermediate.dense.weight"),
        .ffn_in_bias = r.get(p + "intermediate.dense.bias"),
        .ffn_out_weight = r.get(p + "output.dense.weight"),
        .ffn_out_bias = r.get(p + "output.dense.bias"),
        .ffn_norm_weight = r.get(p + "output.LayerNorm.weight"),
        .ffn_norm_bias = r.get(p + "output.LayerNorm.bias"),
    });
  }
  r.eval();
  return w;
}

}  // namespace semsearch
