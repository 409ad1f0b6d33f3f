// The fused attention kernel: softmax(q·kᵀ/√d)·v straight from the fused QKV projection, over
// each row's real keys only, with optional rotary embeddings and a sliding window; parallel over
// (batch row, head).
#include <mlx/backend/cpu/encoder.h>
#include <mlx/primitives.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu_kernels.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"

namespace semsearch {

namespace {

using namespace simd;

struct AttentionShape {
  int batch, len, heads, head_dim, hidden;
  int window;  // a query at i sees keys within i ± window only; -1: every key
};

// Query rows processed together: their scores share each key load, their outputs each value load.
constexpr int kRows = 4;

// Scores of R query rows against keys [ja, jb): s[r·np + j] = q_r · k_j. kt is the keys
// transposed, [d][np] with np a multiple of W; ja and jb are multiples of W.
template <int R>
SEMSEARCH_INLINE void scores(const float* const* q, const float* kt, int d, int np, int ja, int jb,
                             float* s) {
  for (int j = ja; j < jb; j += W) {
    vf acc[R] = {};
    for (int k = 0; k < d; ++k) {
      vf kv = load(kt + size_t(k) * np + j);
      for (int r = 0; r < R; ++r) acc[r] += q[r][k] * kv;
    }
    for (int r = 0; r < R; ++r) store(s + size_t(r) * np + j, acc[r]);
  }
}

// Softmax in place over the scores [ja, jb) of one row, of which only [lo, hi) may be attended
// (the rest are set to 0); `scale` is applied inside the exponent.
SEMSEARCH_INLINE void softmax_row(float* s, int lo, int hi, int ja, int jb, float scale) {
  for (int j = ja; j < lo; ++j) s[j] = -INFINITY;
  for (int j = hi; j < jb; ++j) s[j] = -INFINITY;
  vf m = splat(-INFINITY);
  for (int j = ja; j < jb; j += W) m = vmax(m, load(s + j));
  vf top = splat(hmax(m)), z = {};
  for (int j = ja; j < jb; j += W) {
    vf e = vexp((load(s + j) - top) * scale);
    store(s + j, e);
    z += e;
  }
  vf inv = splat(1.0f / hsum(z));
  for (int j = ja; j < jb; j += W) store(s + j, load(s + j) * inv);
}

// out_r = Σ_{j in [ja, jb)} p_r[j] · v_j for R rows; head dim C·W, v is [np][C·W] with zero
// padding rows.
template <int R, int C>
SEMSEARCH_INLINE void weighted_values(const float* p, const float* v, int np, int ja, int jb,
                                      float* const* out) {
  vf acc[R][C] = {};
  for (int j = ja; j < jb; ++j) {
    vf vv[C];
    for (int c = 0; c < C; ++c) vv[c] = load(v + size_t(j) * C * W + c * W);
    for (int r = 0; r < R; ++r) {
      float pr = p[size_t(r) * np + j];
      for (int c = 0; c < C; ++c) acc[r][c] += pr * vv[c];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) store(out[r] + c * W, acc[r][c]);
}

// Rotary position embedding of one head vector x [d] at the position whose table row is `cs`
// (cos in [0, d/2), sin in [d/2, d)): the two halves turn as complex pairs (x_k, x_{k+d/2}),
// the "rotate half" layout of GPT-NeoX and ModernBERT. Writes out[k·stride] for k in [0, d).
SEMSEARCH_INLINE void rotate(const float* x, const float* cs, int d, float* out, size_t stride) {
  const int half = d / 2;
  for (int k = 0; k < half; ++k) {
    float x1 = x[k], x2 = x[k + half], c = cs[k], sn = cs[half + k];
    out[size_t(k) * stride] = x1 * c - x2 * sn;
    out[size_t(k + half) * stride] = x2 * c + x1 * sn;
  }
}

// Attention output of query rows i..i+R-1 of (b, h). With a rotary table the queries are turned
// into `qbuf` [R][d] first.
template <int R, int C>
SEMSEARCH_INLINE void query_rows(const float* base, size_t stride, const float* rope, float* out,
                                 const AttentionShape& a, int b, int h, int i, int n, int np,
                                 float scale, const float* kt, const float* v, float* s,
                                 float* qbuf) {
  constexpr int d = C * W;
  const float* q[R];
  float* o[R];
  int lo[R], hi[R];
  for (int r = 0; r < R; ++r) {
    q[r] = base + (i + r) * stride;
    if (rope) {
      rotate(q[r], rope + size_t(i + r) * d, d, qbuf + r * d, 1);
      q[r] = qbuf + r * d;
    }
    o[r] = out + (size_t(b) * a.len + i + r) * a.hidden + size_t(h) * d;
    lo[r] = a.window < 0 ? 0 : std::max(0, i + r - a.window);
    hi[r] = a.window < 0 ? n : std::min(n, i + r + a.window + 1);
  }
  // Only the keys some row of the group may see, widened to whole vectors.
  const int ja = lo[0] / W * W, jb = std::min(np, (hi[R - 1] + W - 1) / W * W);
  scores<R>(q, kt, d, np, ja, jb, s);
  for (int r = 0; r < R; ++r) softmax_row(s + size_t(r) * np, lo[r], hi[r], ja, jb, scale);
  weighted_values<R, C>(s, v, np, ja, jb, o);
}

// One (batch row b, head h) over its first n tokens. Scratch: kt [d·np], v [np·d], s [kRows·np],
// qbuf [kRows·d].
template <int C>
SEMSEARCH_INLINE void attention_head(const float* qkv, const float* rope, float* out, int b, int h,
                                     int n, const AttentionShape& a, float* kt, float* v, float* s,
                                     float* qbuf) {
  constexpr int d = C * W;
  const int hidden = a.hidden, np = (n + W - 1) / W * W;
  const size_t stride = 3 * size_t(hidden);
  const float* base = qkv + size_t(b) * a.len * stride + size_t(h) * d;
  // Keys transposed (and turned, with a rotary table) and values packed, zero-padded to np, so
  // the loops run on whole vectors.
  for (int j = 0; j < np; ++j) {
    const float* row = base + j * stride;
    if (j >= n) {
      for (int k = 0; k < d; ++k) kt[size_t(k) * np + j] = 0.0f;
      std::memset(v + size_t(j) * d, 0, d * sizeof(float));
      continue;
    }
    if (rope) {
      rotate(row + hidden, rope + size_t(j) * d, d, kt + j, np);
    } else {
      for (int k = 0; k < d; ++k) kt[size_t(k) * np + j] = row[hidden + k];
    }
    std::memcpy(v + size_t(j) * d, row + 2 * hidden, d * sizeof(float));
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  int i = 0;
  for (; i + kRows <= n; i += kRows)
    query_rows<kRows, C>(base, stride, rope, out, a, b, h, i, n, np, scale, kt, v, s, qbuf);
  for (; i < n; ++i) {
    query_rows<1, C>(base, stride, rope, out, a, b, h, i, n, np, scale, kt, v, s, qbuf);
  }
  for (; i < a.len; ++i) {
    std::memset(out + (size_t(b) * a.len + i) * hidden + size_t(h) * d, 0, d * sizeof(float));
  }
}

SEMSEARCH_CLONES void attention_item(const float* qkv, const int32_t* lengths, const float* rope,
                                     float* out, const AttentionShape& a, int64_t item,
                                     float* scratch) {
  int b = static_cast<int>(item / a.heads), h = static_cast<int>(item % a.heads);
  int n = std::clamp(lengths[b], 1, a.len);
  int np = (n + W - 1) / W * W;
  float* kt = scratch;
  float* v = kt + size_t(a.head_dim) * np;
  float* s = v + size_t(a.head_dim) * np;
  float* qbuf = s + size_t(kRows) * np;
  switch (a.head_dim / W) {
    case 1: attention_head<1>(qkv, rope, out, b, h, n, a, kt, v, s, qbuf); break;
    case 2: attention_head<2>(qkv, rope, out, b, h, n, a, kt, v, s, qbuf); break;
    case 3: attention_head<3>(qkv, rope, out, b, h, n, a, kt, v, s, qbuf); break;
    case 4: attention_head<4>(qkv, rope, out, b, h, n, a, kt, v, s, qbuf); break;
  }
}

void run_attention(const float* qkv, const int32_t* lengths, const float* rope, float* out,
                   AttentionShape a) {
  // A short query (a few dozen tokens) is ~1 M multiply-adds: quicker than waking a thread.
  const int64_t work = int64_t(a.batch) * a.heads * a.len * a.len * a.head_dim;
  parallel_items(
      int64_t(a.batch) * a.heads,
      [&](int64_t item) {
        thread_local std::vector<float> scratch;
        size_t np = (size_t(a.len) + W - 1) / W * W;
        scratch.resize(2 * size_t(a.head_dim) * np + kRows * np + kRows * size_t(a.head_dim));
        attention_item(qkv, lengths, rope, out, a, item, scratch.data());
      },
      work < (int64_t{1} << 22));
}

// Inputs: qkv, lengths, and optionally the rotary table.
class FusedAttention : public mx::UnaryPrimitive {
 public:
  FusedAttention(mx::Stream stream, AttentionShape shape)
      : mx::UnaryPrimitive(stream), shape_(shape) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(out);
    bool rotary = inputs.size() > 2;
    encoder.dispatch(
        with_thread_cap([qkv = mx::array::unsafe_weak_copy(inputs[0]),
                         lengths = mx::array::unsafe_weak_copy(inputs[1]),
                         rope = mx::array::unsafe_weak_copy(rotary ? inputs[2] : inputs[0]), rotary,
                         out = mx::array::unsafe_weak_copy(out), shape = shape_]() mutable {
          run_attention(qkv.data<float>(), lengths.data<int32_t>(),
                        rotary ? rope.data<float>() : nullptr, out.data<float>(), shape);
        }));
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("fused_attention has no GPU kernel");
  }
  const char* name() const override { return "SemsearchFusedAttention"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>&) override {
    return {{shape_.batch * shape_.len, shape_.hidden}};
  }

 private:
  AttentionShape shape_;
};

}  // namespace

bool fused_attention_supports(int hidden, int heads) {
  return hidden % heads == 0 && (hidden / heads) % W == 0 && hidden / heads <= 4 * W;
}

mx::array fused_attention(const mx::array& qkv, const mx::array& lengths, int batch, int len,
                          int heads, mx::Device d, const std::optional<mx::array>& rope,
                          int window) {
  int hidden = qkv.shape(1) / 3;
  if (qkv.dtype() != mx::float32 || !fused_attention_supports(hidden, heads)) {
    throw std::invalid_argument(
        "fused_attention: needs float32 and a head dim of 16, 32, 48 or 64");
  }
  int head_dim = hidden / heads;
  if (rope && (rope->ndim() != 2 || rope->shape(0) < len || rope->shape(1) != head_dim)) {
    throw std::invalid_argument("fused_attention: the rotary table must be [>= len, head_dim]");
  }
  AttentionShape shape{batch, len, heads, head_dim, hidden, window < 0 ? -1 : window};
  std::vector<mx::array> inputs = {mx::contiguous(qkv, false, d),
                                   mx::astype(lengths, mx::int32, d)};
  if (rope) inputs.push_back(mx::contiguous(mx::astype(*rope, mx::float32, d), false, d));
  return mx::array({batch * len, hidden}, mx::float32,
                   std::make_shared<FusedAttention>(mx::to_stream(d), shape), std::move(inputs));
}

}  // namespace semsearch
