// ModernBERT checkpoints → ModernBertWeights: the key map (bare or under `model.`), the tensors a
// config expects (biases only where it has them), the task heads that are left aside, and the
// reads that build the weights.
#include <string>
#include <string_view>

#include "weights/checkpoint.h"
#include "weights/weights.h"

namespace semsearch {

namespace {

// The encoder's tensors under `model.` (ModernBertForMaskedLM and other task models) or bare
// (ModernBertModel, sentence-transformers exports).
constexpr std::string_view kModernBertPrefix = "model.";

std::string modernbert_name(std::string name) {
  if (name.starts_with(kModernBertPrefix)) name.erase(0, kModernBertPrefix.size());
  return name;
}

// Task heads that sit beside the encoder in a checkpoint and that an embedding never uses: the
// masked-LM head (head.*, decoder.*) and a classifier. Anything else unknown is an error.
bool is_task_head(const std::string& checkpoint_name) {
  for (std::string_view head : {"head.", "decoder.", "classifier."}) {
    if (checkpoint_name.starts_with(head)) return true;
  }
  return false;
}

// Every tensor the forward pass needs, with its shape; biases only where the config has them.
ExpectedTensors modernbert_tensors(const ModernBertConfig& c) {
  int64_t h = c.hidden_size, i = c.intermediate_size;
  ExpectedTensors out = {{"embeddings.tok_embeddings.weight", {c.vocab_size, h}}};
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {h}});
    if (c.norm_bias) out.push_back({name + ".bias", {h}});
  };
  auto linear = [&](const std::string& name, int64_t rows, int64_t cols, bool bias) {
    out.push_back({name + ".weight", {rows, cols}});
    if (bias) out.push_back({name + ".bias", {rows}});
  };
  norm("embeddings.norm");
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    if (l > 0) norm(p + "attn_norm");  // layer 0 reads the embeddings' norm
    linear(p + "attn.Wqkv", 3 * h, h, c.attention_bias);
    linear(p + "attn.Wo", h, h, c.attention_bias);
    norm(p + "mlp_norm");
    linear(p + "mlp.Wi", 2 * i, h, c.mlp_bias);
    linear(p + "mlp.Wo", h, i, c.mlp_bias);
  }
  norm("final_norm");
  return out;
}

}  // namespace

ModernBertWeights load_modernbert_weights(const std::string& path, const ModernBertConfig& c,
                                          mx::Dtype dtype, mx::Device d) {
  SafetensorsFile file(path);
  auto by_canonical = index_tensors(file, modernbert_name);
  auto expected = modernbert_tensors(c);

  bool prefixed = false;
  for (const auto& [name, entry] : file.tensors()) prefixed |= name.starts_with(kModernBertPrefix);
  check_expected(file, by_canonical, expected, prefixed ? std::string(kModernBertPrefix) : "",
                 "a ModernBERT encoder");

  check_unexpected(file, expected, modernbert_name, is_task_head, "a ModernBERT encoder");

  TensorReader r(file, by_canonical, dtype, d);
  auto norm_bias = [&](const std::string& name) { return r.get_if(c.norm_bias, name + ".bias"); };
  ModernBertWeights w{
      .tok_embeddings = r.get("embeddings.tok_embeddings.weight"),
      .embed_norm_weight = r.get("embeddings.norm.weight"),
      .embed_norm_bias = norm_bias("embeddings.norm"),
      .layers = {},
      .final_norm_weight = r.get("final_norm.weight"),
      .final_norm_bias = norm_bias("final_norm"),
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    w.layers.push_back(ModernBertLayer{
        .attn_norm_weight = r.get_if(l > 0, p + "attn_norm.weight"),
        .attn_norm_bias = r.get_if(l > 0 && c.norm_bias, p + "attn_norm.bias"),
        .qkv_weight = r.get(p + "attn.Wqkv.weight"),
        .qkv_bias = r.get_if(c.attention_bias, p + "attn.Wqkv.bias"),
        .attn_out_weight = r.get(p + "attn.Wo.weight"),
        .attn_out_bias = r.get_if(c.attention_bias, p + "attn.Wo.bias"),
        .mlp_norm_weight = r.get(p + "mlp_norm.weight"),
        .mlp_norm_bias = norm_bias(p + "mlp_norm"),
        .mlp_in_weight = r.get(p + "mlp.Wi.weight"),
        .mlp_in_bias = r.get_if(c.mlp_bias, p + "mlp.Wi.bias"),
        .mlp_out_weight = r.get(p + "mlp.Wo.weight"),
        .mlp_out_bias = r.get_if(c.mlp_bias, p + "mlp.Wo.bias"),
    });
  }
  r.eval();
  return w;
}

}  // namespace semsearch
