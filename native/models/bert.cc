#include "models/bert.h"

#include <cmath>

#include "kernels/cpu_kernels.h"

namespace semsearch {

namespace {

using mx::array;

// What every layer needs to know about the batch.
struct Batch {
  int size, len;
  array lengths;  // [B] int32
  array mask;     // [B, 1, 1, L] additive, for the MLX-op attention
  bool fused;     // use cpu_kernels.h
};

// Return x·Wᵀ + b for x [rows, in], W [out, in]: one GEMM with the bias as C, through MLX or
// (fused) on the kernels' pool.
array linear(const array& x, const array& w, const array& b, const Batch& batch, mx::Device d) {
  if (batch.fused && fused_linear_available()) return fused_linear(x, w, b, d);
  return mx::addmm(b, x, mx::transpose(w, d), 1.0f, 1.0f, d);
}

// BERT's "gelu" is the exact one: x·Φ(x) = ½x·(1 + erf(x/√2)).
array gelu(const array& x, const Batch& batch, mx::Device d) {
  return batch.fused ? fused_gelu(x, d) : gelu_erf(x, d);
}

// Multi-head self-attention over x [B·L, H], padding keys masked out.
// Without the fused CPU kernel: explicit matmul + softmax rather than
// fast::scaled_dot_product_attention, which has no fused CPU kernel, no fused GPU kernel for head
// dim 32 either, and cannot be handed a device portably across MLX versions (MLX's default device
// is process-wide, so every op here names its device).
array self_attention(const array& x, const BertLayer& layer, const Batch& b, const BertConfig& c,
                     mx::Device d) {
  auto qkv = linear(x, layer.qkv_weight, layer.qkv_bias, b, d);  // [B·L, 3H]
  if (b.fused && fused_attention_supports(c.hidden_size, c.num_heads)) {
    auto out = fused_attention(qkv, b.lengths, b.size, b.len, c.num_heads, d);
    return linear(out, layer.attn_out_weight, layer.attn_out_bias, b, d);
  }
  int batch = b.size, len = b.len, heads = c.num_heads, head_dim = c.hidden_size / c.num_heads;
  qkv = mx::transpose(mx::reshape(qkv, {batch, len, 3, heads, head_dim}, d), {2, 0, 3, 1, 4}, d);
  auto parts = mx::split(qkv, 3, 0, d);  // 3 × [1, B, heads, L, head_dim]
  mx::Shape per_head{batch, heads, len, head_dim};
  auto scale = array(1.0f / std::sqrt(static_cast<float>(head_dim)), x.dtype());
  auto q = mx::multiply(mx::reshape(parts[0], per_head, d), scale, d);
  auto k = mx::reshape(parts[1], per_head, d);
  auto v = mx::reshape(parts[2], per_head, d);
  auto scores = mx::add(mx::matmul(q, mx::transpose(k, {0, 1, 3, 2}, d), d), b.mask, d);
  auto probs = mx::softmax(scores, -1, /*precise=*/true, d);
  auto out = mx::matmul(probs, v, d);  // [B, heads, L, head_dim]
  out = mx::reshape(mx::transpose(out, {0, 2, 1, 3}, d), {batch * len, c.hidden_size}, d);
  return linear(out, layer.attn_out_weight, layer.attn_out_bias, b, d);
}

// Return LayerNorm(x + residual)·w + b.
array add_norm(const array& x, const array& residual, const array& w, const array& b,
               const Batch& batch, float eps, mx::Device d) {
  if (batch.fused && x.shape(-1) % 16 == 0) return fused_add_layer_norm(x, residual, w, b, eps, d);
  return mx::fast::layer_norm(mx::add(x, residual, d), w, b, eps, d);
}

// One post-norm encoder layer: attention → add & norm → GELU MLP → add & norm.
array encoder_layer(const array& x, const BertLayer& layer, const Batch& b, const BertConfig& c,
                    mx::Device d) {
  float eps = c.layer_norm_eps;
  auto h = add_norm(self_attention(x, layer, b, c, d), x, layer.attn_norm_weight,
                    layer.attn_norm_bias, b, eps, d);
  auto ff = gelu(linear(h, layer.ffn_in_weight, layer.ffn_in_bias, b, d), b, d);
  ff = linear(ff, layer.ffn_out_weight, layer.ffn_out_bias, b, d);
  return add_norm(ff, h, layer.ffn_norm_weight, layer.ffn_norm_bias, b, eps, d);
}

// Bytes the forward pass of one [batch, len] call may take at its peak, generously: a layer's
// activations (x, q·k·v, attention output, residuals, the MLP's hidden layer) four times over —
// twice what the resident set grows by (measured on MiniLM, batch 8 to 96), the rest for the
// allocator's and the threads' own use — plus the [batch, heads, len, len] attention scores
// where MLX's ops compute them.
size_t forward_bytes(const BertConfig& c, int batch, int len, size_t elem, bool fused_attention) {
  size_t tokens = size_t(batch) * size_t(len);
  size_t acts = tokens * size_t(8 * c.hidden_size + c.intermediate_size) * elem * 4;
  size_t scores = fused_attention
                      ? 0
                      : size_t(batch) * size_t(c.num_heads) * size_t(len) * size_t(len) * elem * 3;
  return acts + scores;
}

}  // namespace

array bert_embed(const BertConfig& c, const BertWeights& w, const array& ids, const array& lengths,
                 mx::Device d, bool fused_cpu_kernels) {
  int batch = ids.shape(0), len = ids.shape(1), hidden = c.hidden_size;
  auto dtype = w.word_embeddings.dtype();
  bool fused = fused_cpu_kernels && d == mx::Device::cpu && dtype == mx::float32;
  ensure_memory(forward_bytes(c, batch, len, mx::size_of(dtype),
                              fused && fused_attention_supports(c.hidden_size, c.num_heads)),
                batch, len, d);

  auto x = mx::take(w.word_embeddings, ids, 0, d);  // [B, L, H]
  x = mx::add(x, mx::slice(w.position_embeddings, {0, 0}, {len, hidden}, d), d);
  x = mx::add(x, w.token_type_embedding, d);
  x = mx::fast::layer_norm(x, w.embed_norm_weight, w.embed_norm_bias, c.layer_norm_eps, d);
  x = mx::reshape(x, {batch * len, hidden}, d);

  auto valid = padding_valid(lengths, batch, len, d);  // [B, L]
  Batch b{.size = batch,
          .len = len,
          .lengths = lengths,
          .mask = mx::reshape(additive_mask(valid, dtype, d), {batch, 1, 1, len}, d),
          .fused = fused};

  for (const auto& layer : w.layers) {
    x = encoder_layer(x, layer, b, c, d);
    eval_layer_on_cpu(x, d);
  }

  return pool_and_normalize(mx::reshape(x, {batch, len, hidden}, d), valid, lengths, c.pooling, d);
}

}  // namespace semsearch
