// BERT encoder forward pass (post-norm, absolute positions, exact GELU) + pooling + L2 norm.
// Weights come from weights/; this file never looks at names or files.
#pragma once

#include <mlx/mlx.h>

#include <vector>

#include "models/encoder.h"

namespace semsearch {

struct BertConfig {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_positions = 0;
  int type_vocab_size = 0;
  float layer_norm_eps = 1e-12f;
  Pooling pooling = Pooling::mean;
};

// Linear weights keep the checkpoint's [out, in] layout; the forward pass multiplies by their
// transposed view, which BLAS takes as a flag rather than a copy.
struct BertLayer {
  mx::array qkv_weight;  // [3H, H]: query, key, value stacked so one matmul projects all three
  mx::array qkv_bias;    // [3H]
  mx::array attn_out_weight, attn_out_bias;
  mx::array attn_norm_weight, attn_norm_bias;
  mx::array ffn_in_weight, ffn_in_bias;    // [I, H], [I]
  mx::array ffn_out_weight, ffn_out_bias;  // [H, I], [H]
  mx::array ffn_norm_weight, ffn_norm_bias;
};

struct BertWeights {
  mx::array word_embeddings;        // [V, H]
  mx::array position_embeddings;    // [P, H]
  mx::array token_type_embedding;   // [H]: row 0 (token_type_ids are all 0)
  mx::array embed_norm_weight, embed_norm_bias;
  std::vector<BertLayer> layers;
};

// Return the L2-normalised pooled embeddings, [batch, hidden] float32, evaluated.
// `ids` is [batch, seq_len] int32 (padded); `lengths` [batch] int32 counts the real tokens per row.
// Every op is placed on `device` explicitly: MLX's default device is process-wide.
// `fused_cpu_kernels` uses cpu_kernels.h for attention and GELU (CPU, float32 only); false keeps
// to MLX's own ops, the reference the fused path is tested against.
mx::array bert_embed(const BertConfig& config, const BertWeights& weights, const mx::array& ids,
                     const mx::array& lengths, mx::Device device, bool fused_cpu_kernels = true);

}  // namespace semsearch
