// The fused element-wise kernels: exact GELU (in place), GeGLU, and the residual add + LayerNorm
// of a BERT layer in one pass; parallel over blocks of rows or elements.
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
    encoder.dispatch(with_thread_cap(
        [x = mx::array::unsafe_weak_copy(x), out = mx::array::unsafe_weak_copy(out)]() mutable {
          const int64_t n = static_cast<int64_t>(x.size()), chunk = 1 << 16;
          const float* in = x.data<float>();
          float* dst = out.data<float>();
          parallel_items((n + chunk - 1) / chunk, [&](int64_t c) {
            int64_t begin = c * chunk;
            gelu_span(in + begin, dst + begin, std::min(chunk, n - begin));
          });
        }));
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
    encoder.dispatch(with_thread_cap(
        [x = mx::array::unsafe_weak_copy(x), out = mx::array::unsafe_weak_copy(out)]() mutable {
          const int64_t rows = x.shape(0), width = x.shape(1) / 2, block = 32;
          const float* in = x.data<float>();
          float* dst = out.data<float>();
          parallel_items((rows + block - 1) / block,
                         [&](int64_t c) {
                           int64_t begin = c * block;
                           int64_t count = std::min(block, rows - begin);
                           geglu_rows(in + begin * 2 * width, dst + begin * width, count, width);
                         },
                         rows * width < (int64_t{1} << 14));
        }));
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
    encoder.dispatch(with_thread_cap(
        [a = mx::array::unsafe_weak_copy(inputs[0]), b = mx::array::unsafe_weak_copy(inputs[1]),
         w = mx::array::unsafe_weak_copy(inputs[2]), bias = mx::array::unsafe_weak_copy(inputs[3]),
         out = mx::array::unsafe_weak_copy(out), eps = eps_]() mutable {
          const int n = a.shape(-1);
          const int64_t rows = static_cast<int64_t>(a.size()) / n, block = 64;
          parallel_items((rows + block - 1) / block, [&](int64_t i) {
            int64_t begin = i * block;
            add_layer_norm_rows(a.data<float>() + begin * n, b.data<float>() + begin * n,
                                w.data<float>(), bias.data<float>(), out.data<float>() + begin * n,
                                std::min(block, rows - begin), n, eps);
          });
        }));
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

mx::array fused_add_layer_norm(const mx::array& a, const mx::array& b, const mx::array& weight,
                               const mx::array& bias, float eps, mx::Device d) {
  int n = a.shape(-1);
  if (a.dtype() != mx::float32 || a.shape() != b.shape() || n % W != 0) {
    throw std::invalid_argument(
        "fused_add_layer_norm: needs float32, equal shapes, width % 16 == 0");
  }
  std::vector<mx::array> inputs;
  for (const auto* x : {&a, &b, &weight, &bias}) {
    inputs.push_back(mx::contiguous(mx::astype(*x, mx::float32, d), false, d));
  }
  return mx::array(a.shape(), mx::float32,
                   std::make_shared<FusedAddLayerNorm>(mx::to_stream(d), eps), std::move(inputs));
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
