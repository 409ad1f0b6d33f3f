#include "models/modernbert.h"

#include <cmath>

#include "kernels/cpu_kernels.h"

namespace semsearch {

namespace {

using mx::array;

// Return x·Wᵀ (+ b) for x [rows, in], W [out, in], through MLX or (fused) on the kernels' pool.
array linear(const array& x, const array& w, const std::optional<array>& b, bool fused,
             mx::Device d) {
  if (fused && fused_linear_available()) return fused_linear(x, w, b, d);
  if (b) return mx::addmm(*b, x, mx::transpose(w, d), 1.0f, 1.0f, d);
  return mx::matmul(x, mx::transpose(w, d), d);
}

array norm(const array& x, const array& w, const std::optional<array>& b, float eps, mx::Device d) {
  return mx::fast::layer_norm(x, w, b, eps, d);
}

// One attention kind (global or sliding-window) for the batch at hand: its rotary base, its
// window, and what each attention path needs of them.
struct AttentionKind {
  float theta;
  int window;        // keys within ± window of the query; -1: all keys
  array rope_table;  // [L, head_dim] float32, cos | sin: the fused kernel's rotary input
  array mask;        // additive, [B, 1, 1, L] (global) or [B, 1, L, L] (local): the MLX-op path
};

// What every layer needs to know about the batch.
struct Batch {
  int size, len;
  array lengths;  // [B] int32
  bool fused_attention;  // cpu_kernels.h attention
  bool fused_cpu;        // cpu_kernels.h GeGLU and matrix products
  AttentionKind global, local;
};

// Rows l < len of cos(l·θ_k) | sin(l·θ_k), θ_k = theta^(−2k/d), as transformers computes them:
// the inverse frequencies and their product with the position in float32, the cos/sin of that.
array rope_table(float theta, int len, int head_dim) {
  int half = head_dim / 2;
  std::vector<float> inv_freq(half), table(size_t(len) * head_dim);
  for (int k = 0; k < half; ++k) {
    double exponent = 2.0 * k / head_dim;
    inv_freq[k] = static_cast<float>(1.0 / std::pow(static_cast<double>(theta), exponent));
  }
  for (int l = 0; l < len; ++l) {
    for (int k = 0; k < half; ++k) {
      float angle = static_cast<float>(l) * inv_freq[k];
      table[size_t(l) * head_dim + k] = std::cos(angle);
      table[size_t(l) * head_dim + half + k] = std::sin(angle);
    }
  }
  return array(table.begin(), {len, head_dim}, mx::float32);
}

// Multi-head self-attention of the projected qkv [B·L, 3H], rotary embeddings and the kind's
// mask applied. The MLX-op path (every GPU run, and the CPU reference) uses fast::rope, which is a
// fused kernel on GPUs, and explicit matmul + softmax as bert.cc does.
array attention(const array& qkv, const AttentionKind& kind, const Batch& b,
                const ModernBertConfig& c, mx::Device d) {
  if (b.fused_attention) {
    return fused_attention(qkv, b.lengths, b.size, b.len, c.num_heads, d, kind.rope_table,
                           kind.window);
  }
  int batch = b.size, len = b.len, heads = c.num_heads, head_dim = c.hidden_size / c.num_heads;
  auto parts = mx::split(
      mx::transpose(mx::reshape(qkv, {batch, len, 3, heads, head_dim}, d), {2, 0, 3, 1, 4}, d), 3,
      0, d);  // 3 × [1, B, heads, L, head_dim]
  mx::Shape per_head{batch, heads, len, head_dim};
  auto rotary = [&](const array& x) {
    return mx::fast::rope(mx::reshape(x, per_head, d), head_dim, /*traditional=*/false, kind.theta,
                          1.0f, 0, std::nullopt, d);
  };
  auto scale = array(1.0f / std::sqrt(static_cast<float>(head_dim)), qkv.dtype());
  auto q = mx::multiply(rotary(parts[0]), scale, d);
  auto k = rotary(parts[1]);
  auto v = mx::reshape(parts[2], per_head, d);
  auto scores = mx::add(mx::matmul(q, mx::transpose(k, {0, 1, 3, 2}, d), d), kind.mask, d);
  auto out = mx::matmul(mx::softmax(scores, -1, /*precise=*/true, d), v, d);  // [B, heads, L, hd]
  return mx::reshape(mx::transpose(out, {0, 2, 1, 3}, d), {batch * len, c.hidden_size}, d);
}

// GeGLU: GELU(input) · gate, where Wi's output holds input then gate.
array gated_mlp(const array& x, const ModernBertLayer& layer, const Batch& b,
                const ModernBertConfig& c, mx::Device d) {
  auto wi = linear(x, layer.mlp_in_weight, layer.mlp_in_bias, b.fused_cpu, d);  // [B·L, 2I]
  array act = array(0.0f);
  if (b.fused_cpu) {
    act = fused_geglu(wi, d);
  } else {
    int rows = wi.shape(0), width = c.intermediate_size;
    auto input = mx::slice(wi, {0, 0}, {rows, width}, d);
    auto gate = mx::slice(wi, {0, width}, {rows, 2 * width}, d);
    act = mx::multiply(gelu_erf(input, d), gate, d);
  }
  return linear(act, layer.mlp_out_weight, layer.mlp_out_bias, b.fused_cpu, d);
}

// One pre-norm layer: x + attention(norm(x)), then h + mlp(norm(h)). Layer 0 takes the
// embeddings' norm as its attention norm (it has none of its own).
array encoder_layer(const array& x, const ModernBertLayer& layer, const AttentionKind& kind,
                    const Batch& b, const ModernBertConfig& c, mx::Device d) {
  float eps = c.norm_eps;
  auto attn_in =
      layer.attn_norm_weight ? norm(x, *layer.attn_norm_weight, layer.attn_norm_bias, eps, d) : x;
  auto qkv = linear(attn_in, layer.qkv_weight, layer.qkv_bias, b.fused_cpu, d);
  auto attn = linear(attention(qkv, kind, b, c, d), layer.attn_out_weight, layer.attn_out_bias,
                     b.fused_cpu, d);
  auto h = mx::add(x, attn, d);
  auto mlp_in = norm(h, layer.mlp_norm_weight, layer.mlp_norm_bias, eps, d);
  return mx::add(h, gated_mlp(mlp_in, layer, b, c, d), d);
}

// A global or local layer's attention for this batch: what the fused kernel needs (the rotary
// table, the window) or what MLX's ops need (the additive mask).
AttentionKind attention_kind(const ModernBertConfig& c, bool global, const array& valid, int batch,
                             int len, bool fused_attention, mx::Dtype dtype, mx::Device d) {
  float theta = global ? c.global_rope_theta : c.local_rope_theta;
  // transformers: a local layer's token sees keys at distance <= local_attention / 2.
  int window = global ? -1 : c.local_attention / 2;
  array mask = array(0.0f);
  if (!fused_attention) {
    auto keys = mx::reshape(valid, {batch, 1, 1, len}, d);
    if (!global) {
      auto pos = mx::arange(len, d);
      auto distance =
          mx::abs(mx::subtract(mx::reshape(pos, {len, 1}, d), mx::reshape(pos, {1, len}, d), d), d);
      auto near = mx::reshape(mx::less_equal(distance, array(window), d), {1, 1, len, len}, d);
      keys = mx::logical_and(keys, near, d);  // [B, 1, L, L]
    }
    mask = additive_mask(keys, dtype, d);
  }
  auto table = fused_attention ? rope_table(theta, len, c.hidden_size / c.num_heads) : array(0.0f);
  return AttentionKind{.theta = theta, .window = window, .rope_table = table, .mask = mask};
}

// Bytes the forward pass of one [batch, len] call may take at its peak, generously, on the
// pattern of bert.cc's estimate: a layer's activations (x, its norm, q·k·v, the attention output
// and its projection, the residual, the MLP's norm, GeGLU's input and gate, its output, the MLP's
// projection) four times over — 1.9 to 2.5 times what the peak resident set grew by (measured on
// a 4-layer, 384-wide model, batch 8 to 96 × 256, both kernel paths) — plus, where MLX's ops
// compute attention, the [batch, heads, len, len] scores and the masks ([batch, 1, len, len] for
// the local layers, with the distances they come from).
size_t forward_bytes(const ModernBertConfig& c, int batch, int len, size_t elem,
                     bool fused_attention) {
  size_t tokens = size_t(batch) * size_t(len);
  size_t acts = tokens * size_t(11 * c.hidden_size + 3 * c.intermediate_size) * elem * 4;
  if (fused_attention) return acts;
  size_t square = size_t(len) * size_t(len);
  size_t scores = size_t(batch) * size_t(c.num_heads) * square * elem * 3;
  size_t masks = (size_t(batch) + 1) * square * (elem + 4);
  return acts + scores + masks;
}

}  // namespace

array modernbert_embed(const ModernBertConfig& c, const ModernBertWeights& w, const array& ids,
                       const array& lengths, mx::Device d, bool fused_cpu_kernels) {
  int batch = ids.shape(0), len = ids.shape(1), hidden = c.hidden_size;
  auto dtype = w.tok_embeddings.dtype();
  bool cpu32 = fused_cpu_kernels && d == mx::Device::cpu && dtype == mx::float32;
  bool fused_attention = cpu32 && fused_attention_supports(hidden, c.num_heads);
  ensure_memory(forward_bytes(c, batch, len, mx::size_of(dtype), fused_attention), batch, len, d);

  auto x = mx::take(w.tok_embeddings, ids, 0, d);  // [B, L, H]
  x = norm(x, w.embed_norm_weight, w.embed_norm_bias, c.norm_eps, d);
  x = mx::reshape(x, {batch * len, hidden}, d);

  auto valid = padding_valid(lengths, batch, len, d);  // [B, L]
  Batch b{.size = batch,
          .len = len,
          .lengths = lengths,
          .fused_attention = fused_attention,
          .fused_cpu = cpu32,
          .global = attention_kind(c, true, valid, batch, len, fused_attention, dtype, d),
          .local = attention_kind(c, false, valid, batch, len, fused_attention, dtype, d)};

  for (size_t l = 0; l < w.layers.size(); ++l) {
    x = encoder_layer(x, w.layers[l], c.global_layers[l] ? b.global : b.local, b, c, d);
    eval_layer_on_cpu(x, d);
  }
  x = norm(x, w.final_norm_weight, w.final_norm_bias, c.norm_eps, d);

  return pool_and_normalize(mx::reshape(x, {batch, len, hidden}, d), valid, lengths, c.pooling, d);
}

}  // namespace semsearch
