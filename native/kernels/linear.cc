// The fused CPU path's matrix products: x·wᵀ + b as single-threaded BLAS calls over blocks of
// rows, spread over the kernels' pool under the calling model's thread cap (thread_pool.h).
//
// Why not MLX's matmul on a multi-threaded OpenBLAS: OpenBLAS's thread count is process-wide, and
// its pthreads build runs one threaded level-3 call at a time (a global lock in
// driver/level3/level3_thread.c) on one set of threads. A query's products, beside an indexing
// batch's, waited for the batch's: p50 454 ms against 74 ms with OpenBLAS on one thread (2
// cores, both models on 2 threads; bench/README.md). Here OpenBLAS runs on one thread, a product
// on a pool thread is a plain call that takes no lock, and each model's products use its own
// threads. A batch costs no more CPU time than on OpenBLAS's own threads (bench/README.md).
#include <mlx/backend/cpu/encoder.h>
#include <mlx/primitives.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "kernels/blas.h"
#include "kernels/cpu_kernels.h"
#include "kernels/thread_pool.h"

namespace semsearch {

namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
// Fewest rows worth a BLAS call of their own: below this a block's call is mostly packing.
constexpr int64_t kBlockRows = 128;

struct LinearShape {
  int64_t rows, out, in;
  bool bias;
};

void run_linear(SgemmFn sgemm, const float* x, const float* w, const float* bias, float* y,
                LinearShape s) {
  const int threads = usable_threads();
  // Twice as many blocks as threads, so that a thread that joins late still finds work.
  const int64_t blocks =
      threads == 1 ? 1 : std::clamp<int64_t>(s.rows / kBlockRows, 1, 2 * int64_t(threads));
  parallel_items(blocks, [&](int64_t i) {
    const int64_t begin = s.rows * i / blocks, end = s.rows * (i + 1) / blocks;
    float* block = y + begin * s.out;
    if (bias) {
      for (int64_t r = begin; r < end; ++r)
        std::memcpy(y + r * s.out, bias, size_t(s.out) * sizeof(float));
    }
    sgemm(kRowMajor, kNoTrans, kTrans, static_cast<int>(end - begin), static_cast<int>(s.out),
          static_cast<int>(s.in), 1.0f, x + begin * s.in, static_cast<int>(s.in), w,
          static_cast<int>(s.in), bias ? 1.0f : 0.0f, block, static_cast<int>(s.out));
  });
}

// Inputs: x [rows, in], w [out, in], and optionally b [out]; all float32, row-contiguous.
class FusedLinear : public mx::UnaryPrimitive {
 public:
  FusedLinear(mx::Stream stream, SgemmFn sgemm) : mx::UnaryPrimitive(stream), sgemm_(sgemm) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(out);
    bool bias = inputs.size() > 2;
    LinearShape shape{inputs[0].shape(0), inputs[1].shape(0), inputs[0].shape(1), bias};
    encoder.dispatch(with_thread_cap(
        [x = mx::array::unsafe_weak_copy(inputs[0]), w = mx::array::unsafe_weak_copy(inputs[1]),
         b = mx::array::unsafe_weak_copy(inputs[bias ? 2 : 1]),
         y = mx::array::unsafe_weak_copy(out), shape, sgemm = sgemm_]() mutable {
          run_linear(sgemm, x.data<float>(), w.data<float>(),
                     shape.bias ? b.data<float>() : nullptr, y.data<float>(), shape);
        }));
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("fused_linear has no GPU kernel");
  }
  const char* name() const override { return "SemsearchFusedLinear"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {{inputs[0].shape(0), inputs[1].shape(0)}};
  }

 private:
  SgemmFn sgemm_;
};

}  // namespace

bool fused_linear_available() {
  static const bool available = blas_sgemm() != nullptr && make_blas_serial();
  return available;
}

mx::array fused_linear(const mx::array& x, const mx::array& w, const std::optional<mx::array>& b,
                       mx::Device d) {
  SgemmFn sgemm = blas_sgemm();
  if (!sgemm || x.dtype() != mx::float32 || w.dtype() != mx::float32 || x.ndim() != 2 ||
      w.ndim() != 2 || x.shape(1) != w.shape(1) || (b && b->size() != size_t(w.shape(0)))) {
    throw std::invalid_argument(
        "fused_linear: needs a BLAS, float32 x [rows, in], w [out, in] and b [out]");
  }
  std::vector<mx::array> inputs = {mx::contiguous(x, false, d), mx::contiguous(w, false, d)};
  if (b) inputs.push_back(mx::contiguous(mx::astype(*b, mx::float32, d), false, d));
  return mx::array({x.shape(0), w.shape(0)}, mx::float32,
                   std::make_shared<FusedLinear>(mx::to_stream(d), sgemm), std::move(inputs));
}

}  // namespace semsearch
