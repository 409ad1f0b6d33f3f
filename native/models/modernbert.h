// ModernBERT encoder forward pass (pre-norm, rotary positions, GeGLU, alternating global and
// sliding-window attention, no biases unless the config asks) + pooling + L2 norm, as
// transformers' ModernBertModel computes it on a right-padded batch.
// Weights come from weights/; this file never looks at names or files.
#pragma once

#include <mlx/mlx.h>

#include <optional>
#include <vector>

#include "models/encoder.h"

namespace semsearch {

struct ModernBertConfig {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_positions = 0;
  float norm_eps = 1e-5f;
  bool norm_bias = false;       // LayerNorms carry a bias
  bool attention_bias = false;  // Wqkv and the attention's Wo carry a bias
  bool mlp_bias = false;        // Wi and the MLP's Wo carry a bias
  std::vector<bool> global_layers;  // per layer: global attention (else sliding-window)
  float global_rope_theta = 160000.0f;
  float local_rope_theta = 10000.0f;
  int local_attention = 128;  // window: a local layer's token sees local_attention / 2 each side
  Pooling pooling = Pooling::mean;
};

// Linear weights keep the checkpoint's [out, in] layout. Absent biases are std::nullopt.
struct ModernBertLayer {
  std::optional<mx::array> attn_norm_weight, attn_norm_bias;  // layer 0 has no attention norm
  mx::array qkv_weight;  // [3H, H]: query, key, value stacked (ModernBERT's Wqkv as stored)
  std::optional<mx::array> qkv_bias;
  mx::array attn_out_weight;
  std::optional<mx::array> attn_out_bias;
  mx::array mlp_norm_weight;
  std::optional<mx::array> mlp_norm_bias;
  mx::array mlp_in_weight;  // [2I, H]: GeGLU input then gate
  std::optional<mx::array> mlp_in_bias;
  mx::array mlp_out_weight;  // [H, I]
  std::optional<mx::array> mlp_out_bias;
};

struct ModernBertWeights {
  mx::array tok_embeddings;  // [V, H]
  mx::array embed_norm_weight;
  std::optional<mx::array> embed_norm_bias;
  std::vector<ModernBertLayer> layers;
  mx::array final_norm_weight;
  std::optional<mx::array> final_norm_bias;
};

// Return the L2-normalised pooled embeddings, [batch, hidden] float32, evaluated.
// `ids` is [batch, seq_len] int32, right-padded; `lengths` [batch] int32 counts the real tokens
// per row. Every op is placed on `device`. `fused_cpu_kernels` uses cpu_kernels.h for attention
// (rotary and window included) and GeGLU (CPU, float32 only); false keeps to MLX's own ops, the
// reference the fused path is tested against.
mx::array modernbert_embed(const ModernBertConfig& config, const ModernBertWeights& weights,
                           const mx::array& ids, const mx::array& lengths, mx::Device device,
                           bool fused_cpu_kernels = true);

}  // namespace semsearch
