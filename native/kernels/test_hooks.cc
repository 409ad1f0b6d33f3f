#include "kernels/test_hooks.h"

#include <mlx/backend/cpu/encoder.h>
#include <mlx/mlx.h>
#include <mlx/primitives.h>

#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/thread_pool.h"

namespace semsearch {

namespace mx = mlx::core;

namespace {

class ParallelProbePrimitive : public mx::UnaryPrimitive {
 public:
  ParallelProbePrimitive(mx::Stream stream, int64_t throw_at, std::set<std::thread::id>* threads)
      : mx::UnaryPrimitive(stream), throw_at_(throw_at), threads_(threads) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(inputs[0]);
    encoder.set_output_array(out);
    encoder.dispatch(with_thread_cap([out = mx::array::unsafe_weak_copy(out), throw_at = throw_at_,
                                      threads = threads_]() mutable {
      int32_t* dst = out.data<int32_t>();
      std::mutex mutex;
      const std::thread::id caller = std::this_thread::get_id();
      parallel_items(out.size(), [&](int64_t i) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        bool pool_thread = std::this_thread::get_id() != caller;
        if (i == throw_at) {
          throw std::runtime_error("item " + std::to_string(i) + " threw on " +
                                   (pool_thread ? "a pool thread" : "the calling thread"));
        }
        dst[i] = static_cast<int32_t>(i);
        std::lock_guard<std::mutex> lock(mutex);
        threads->insert(std::this_thread::get_id());
      });
    }));
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("parallel_probe has no GPU kernel");
  }
  const char* name() const override { return "SemsearchParallelProbe"; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {inputs[0].shape()};
  }

 private:
  int64_t throw_at_;
  std::set<std::thread::id>* threads_;
};

}  // namespace

ParallelProbe parallel_probe(int64_t n, int64_t throw_at) {
  mx::Device d = mx::Device::cpu;
  std::set<std::thread::id> threads;  // outlives the eval below, which waits for the kernel
  auto shape = mx::zeros({static_cast<int>(n)}, mx::int32, d);
  mx::array out(shape.shape(), mx::int32,
                std::make_shared<ParallelProbePrimitive>(mx::to_stream(d), throw_at, &threads),
                {shape});
  mx::eval(out);
  ParallelProbe probe;
  const int32_t* values = out.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) probe.sum += values[i];
  probe.threads = static_cast<int>(threads.size());
  return probe;
}

}  // namespace semsearch
