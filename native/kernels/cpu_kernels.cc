#include "kernels/cpu_kernels.h"

#include <mlx/backend/cpu/encoder.h>
#include <mlx/primitives.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

namespace semsearch {

namespace {

// The release build targets baseline x86-64; the hot loops get AVX-512 and AVX2+FMA clones,
// picked once at load time (ifunc). Elsewhere (arm64: NEON is baseline) the plain loop is used.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__APPLE__)
#define SEMSEARCH_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SEMSEARCH_CLONES
#endif
#define SEMSEARCH_INLINE inline __attribute__((always_inline))

int worker_count() {
  static const int n = std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  return n;
}

// Run fn(i) for every i in [0, n) across the cores; items are claimed one at a time. `serial`
// keeps small jobs on the calling thread, where starting threads would cost more than they save.
template <class F>
void parallel_items(int64_t n, F&& fn, bool serial = false) {
  int threads = serial ? 1 : static_cast<int>(std::min<int64_t>(worker_count(), n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto run = [&] {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
}

// 16 floats: one AVX-512 register, two AVX2 or four SSE/NEON registers, as the clone decides.
// Every function taking or returning these is force-inlined into a clone, so the ABI notes GCC
// emits for them concern no real call boundary (CMakeLists.txt passes -Wno-psabi for this file).
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int W = 16;

SEMSEARCH_INLINE vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SEMSEARCH_INLINE void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
SEMSEARCH_INLINE vf splat(float x) { return vf{} + x; }
SEMSEARCH_INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }
SEMSEARCH_INLINE vf vmin(vf a, vf b) { return a < b ? a : b; }
SEMSEARCH_INLINE float hsum(vf v) {
  float out = 0.0f;
  for (int i = 0; i < W; ++i) out += v[i];
  return out;
}
SEMSEARCH_INLINE float hmax(vf v) {
  float out = v[0];
  for (int i = 1; i < W; ++i) out = out > v[i] ? out : v[i];
  return out;
}

// exp(x) for x ≤ 0, as softmax needs it: Cephes' expf polynomial (~2 ulp). Inputs below -87
// give ~1e-38 instead of 0 or a denormal, which is immaterial next to the row maximum's 1.
SEMSEARCH_INLINE vf vexp(vf x) {
  x = vmax(x, splat(-87.0f));
  vf t = x * 1.44269504088896341f + 0.5f;
  vf n = __builtin_convertvector(__builtin_convertvector(t, vi), vf);
  n = n > t ? n - 1.0f : n;  // floor
  vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  vf y = p * r * r + r + 1.0f;
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return y * __builtin_bit_cast(vf, bits);
}

// erf(x): the rational approximation Eigen and XLA use for float (odd degree-13 numerator, even
// degree-8 denominator on [-4, 4]; erf is ±1 in float beyond). Error ~1e-7.
SEMSEARCH_INLINE vf verf(vf x) {
  x = vmin(vmax(x, splat(-4.0f)), splat(4.0f));
  vf x2 = x * x;
  vf p = splat(-2.72614225801306e-10f);
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  vf q = splat(-1.45660718464996e-05f);
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}

SEMSEARCH_INLINE vf vgelu(vf x) { return 0.5f * x * (1.0f + verf(x * 0.70710678118654752f)); }

SEMSEARCH_CLONES void gelu_span(const float* in, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) store(out + i, vgelu(load(in + i)));
  if (i < n) {
    float tail[W] = {};
    std::memcpy(tail, in + i, (n - i) * sizeof(float));
    store(tail, vgelu(load(tail)));
    std::memcpy(out + i, tail, (n - i) * sizeof(float));
  }
}

// out[r, j] = GELU(in[r, j]) · in[r, width + j]: the gated MLP of ModernBERT (GeGLU), for rows
// of 2·width inputs.
SEMSEARCH_CLONES void geglu_rows(const float* in, float* out, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * 2 * width;
    const float* gate = x + width;
    float* o = out + r * width;
    int64_t i = 0;
    for (; i + W <= width; i += W) store(o + i, vgelu(load(x + i)) * load(gate + i));
    if (i < width) {
      float a[W] = {}, g[W] = {};
      std::memcpy(a, x + i, (width - i) * sizeof(float));
      std::memcpy(g, gate + i, (width - i) * sizeof(float));
      store(a, vgelu(load(a)) * load(g));
      std::memcpy(o + i, a, (width - i) * sizeof(float));
    }
  }
}

// out = LayerNorm(a + b)·weight + bias over rows of n (n a multiple of W).
SEMSEARCH_CLONES void add_layer_norm_rows(const float* a, const float* b, const float* weight,
                                          const float* bias, float* out, int64_t rows, int n,
                                          float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a + r * n;
    const float* y = b + r * n;
    float* o = out + r * n;
    vf sum = {};
    for (int j = 0; j < n; j += W) {
      vf v = load(x + j) + load(y + j);
      store(o + j, v);
      sum += v;
    }
    vf mean = splat(hsum(sum) / n), var = {};
    for (int j = 0; j < n; j += W) {
      vf c = load(o + j) - mean;
      var += c * c;
    }
    // Two passes for the variance, as MLX does: no cancellation when |mean| ≫ spread.
    vf inv = splat(1.0f / std::sqrt(hsum(var) / n + eps));
    for (int j = 0; j < n; j += W)
      store(o + j, (load(o + j) - mean) * inv * load(weight + j) + load(bias + j));
  }
}

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
    encoder.dispatch([qkv = mx::array::unsafe_weak_copy(inputs[0]),
                      lengths = mx::array::unsafe_weak_copy(inputs[1]),
                      rope = mx::array::unsafe_weak_copy(rotary ? inputs[2] : inputs[0]), rotary,
                      out = mx::array::unsafe_weak_copy(out), shape = shape_]() mutable {
      run_attention(qkv.data<float>(), lengths.data<int32_t>(),
                    rotary ? rope.data<float>() : nullptr, out.data<float>(), shape);
    });
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

class FusedGelu : public mx::UnaryPrimitive {
 public:
  explicit FusedGelu(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    if (x.is_donatable()) {
      out.copy_shared_buffer(x);  // in place: the pre-activation is not needed afterwards
    } else {
      out.set_data(mx::allocator::malloc(out.nbytes()));
    }
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_output_array(out);
    encoder.dispatch([x = mx::array::unsafe_weak_copy(x),
                      out = mx::array::unsafe_weak_copy(out)]() mutable {
      const int64_t n = static_cast<int64_t>(x.size()), chunk = 1 << 16;
      const float* in = x.data<float>();
      float* dst = out.data<float>();
      parallel_items((n + chunk - 1) / chunk, [&](int64_t c) {
        int64_t begin = c * chunk;
        gelu_span(in + begin, dst + begin, std::min(chunk, n - begin));
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("fused_gelu has no GPU kernel");
  }
  const char* name() const override { return "SemsearchFusedGelu"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {inputs[0].shape()};
  }
};

class FusedGeglu : public mx::UnaryPrimitive {
 public:
  explicit FusedGeglu(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const auto& x = inputs[0];
    out.set_data(mx::allocator::malloc(out.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(x);
    encoder.set_output_array(out);
    encoder.dispatch([x = mx::array::unsafe_weak_copy(x),
                      out = mx::array::unsafe_weak_copy(out)]() mutable {
      const int64_t rows = x.shape(0), width = x.shape(1) / 2, block = 32;
      const float* in = x.data<float>();
      float* dst = out.data<float>();
      parallel_items((rows + block - 1) / block, [&](int64_t c) {
        int64_t begin = c * block;
        int64_t count = std::min(block, rows - begin);
        geglu_rows(in + begin * 2 * width, dst + begin * width, count, width);
      }, rows * width < (int64_t{1} << 14));
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("fused_geglu has no GPU kernel");
  }
  const char* name() const override { return "SemsearchFusedGeglu"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {{inputs[0].shape(0), inputs[0].shape(1) / 2}};
  }
};

class FusedAddLayerNorm : public mx::UnaryPrimitive {
 public:
  FusedAddLayerNorm(mx::Stream stream, float eps) : mx::UnaryPrimitive(stream), eps_(eps) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    if (inputs[0].is_donatable()) {
      out.copy_shared_buffer(inputs[0]);  // the residual sum is not needed afterwards
    } else if (inputs[1].is_donatable()) {
      out.copy_shared_buffer(inputs[1]);
    } else {
      out.set_data(mx::allocator::malloc(out.nbytes()));
    }
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(out);
    encoder.dispatch([a = mx::array::unsafe_weak_copy(inputs[0]),
                      b = mx::array::unsafe_weak_copy(inputs[1]),
                      w = mx::array::unsafe_weak_copy(inputs[2]),
                      bias = mx::array::unsafe_weak_copy(inputs[3]),
                      out = mx::array::unsafe_weak_copy(out), eps = eps_]() mutable {
      const int n = a.shape(-1);
      const int64_t rows = static_cast<int64_t>(a.size()) / n, block = 64;
      parallel_items((rows + block - 1) / block, [&](int64_t i) {
        int64_t begin = i * block;
        add_layer_norm_rows(a.data<float>() + begin * n, b.data<float>() + begin * n,
                            w.data<float>(), bias.data<float>(), out.data<float>() + begin * n,
                            std::min(block, rows - begin), n, eps);
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("fused_add_layer_norm has no GPU kernel");
  }
  const char* name() const override { return "SemsearchFusedAddLayerNorm"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {inputs[0].shape()};
  }

 private:
  float eps_;
};

}  // namespace

int cpu_kernel_threads() { return worker_count(); }

mx::array fused_add_layer_norm(const mx::array& a, const mx::array& b, const mx::array& weight,
                               const mx::array& bias, float eps, mx::Device d) {
  int n = a.shape(-1);
  if (a.dtype() != mx::float32 || a.shape() != b.shape() || n % W != 0) {
    throw std::invalid_argument("fused_add_layer_norm: needs float32, equal shapes, width % 16 == 0");
  }
  std::vector<mx::array> inputs;
  for (const auto* x : {&a, &b, &weight, &bias}) {
    inputs.push_back(mx::contiguous(mx::astype(*x, mx::float32, d), false, d));
  }
  return mx::array(a.shape(), mx::float32,
                   std::make_shared<FusedAddLayerNorm>(mx::to_stream(d), eps), std::move(inputs));
}

bool fused_attention_supports(int hidden, int heads) {
  return hidden % heads == 0 && (hidden / heads) % W == 0 && hidden / heads <= 4 * W;
}

mx::array fused_attention(const mx::array& qkv, const mx::array& lengths, int batch, int len,
                          int heads, mx::Device d, const std::optional<mx::array>& rope,
                          int window) {
  int hidden = qkv.shape(1) / 3;
  if (qkv.dtype() != mx::float32 || !fused_attention_supports(hidden, heads)) {
    throw std::invalid_argument("fused_attention: needs float32 and a head dim of 16, 32, 48 or 64");
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

mx::array fused_geglu(const mx::array& x, mx::Device d) {
  if (x.dtype() != mx::float32 || x.ndim() != 2 || x.shape(1) % 2 != 0) {
    throw std::invalid_argument("fused_geglu: needs float32 [rows, 2·width]");
  }
  auto input = mx::contiguous(x, false, d);
  return mx::array({x.shape(0), x.shape(1) / 2}, mx::float32,
                   std::make_shared<FusedGeglu>(mx::to_stream(d)), {input});
}

mx::array fused_gelu(const mx::array& x, mx::Device d) {
  if (x.dtype() != mx::float32) throw std::invalid_argument("fused_gelu: needs float32");
  auto input = mx::contiguous(x, false, d);
  return mx::array(input.shape(), mx::float32, std::make_shared<FusedGelu>(mx::to_stream(d)),
                   {input});
}

}  // namespace semsearch
