// The addon's entry point: module init (exports, per-environment data) and the module-level
// functions. The wrapped classes are in native_model.cc and vector_matrix.cc; the TypeScript
// view of this API is server/model/native.ts.
#include <mlx/mlx.h>
#include <napi.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "bindings/addon_data.h"
#include "bindings/args.h"
#include "bindings/device.h"
#include "bindings/native_model.h"
#include "bindings/vector_matrix.h"
#include "kernels/blas.h"
#include "kernels/cpu_kernels.h"
#include "kernels/half_scan.h"
#include "kernels/test_hooks.h"
#include "kernels/thread_pool.h"

namespace semsearch {

namespace {

// sgemmGflops(n): best GFLOP/s of an n×n×n float32 matmul through MLX on the CPU. Blocks the
// calling thread for about a second; meant for benchmarks and `semsearch status`.
Napi::Value SgemmGflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto n = integer(info[0]);
  if (!n || *n < 16 || *n > 8192)
    throw Napi::TypeError::New(env, "sgemmGflops: n must be an integer in [16, 8192]");
  try {
    return Napi::Number::New(env, sgemm_gflops(static_cast<int>(*n)));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("sgemmGflops: ") + e.what());
  }
}

// _testParallelThrow(n, throwAt, cap?) → {sum, threads}. Test-only (test/unit/threads.test.ts;
// not in server/model/native.ts): runs the kernels' thread pool over n items through an MLX
// primitive, as a kernel does, under a thread cap of `cap` (undefined or 0: none) as a model's
// worker sets one; item throwAt, if in [0, n), throws, and so does this call, with that message.
// Blocks the calling thread for about n × 0.2 ms / threads.
Napi::Value TestParallelThrow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto n = integer(info[0]);
  auto throw_at = integer(info[1]);
  auto cap = info[2].IsUndefined() ? std::optional<int64_t>(0) : integer(info[2]);
  if (!n || *n < 1 || *n > 4096 || !throw_at) {
    throw Napi::TypeError::New(
        env, "_testParallelThrow: n must be an integer in [1, 4096] and throwAt an integer");
  }
  if (!cap || *cap < 0 || *cap > 1024)
    throw Napi::TypeError::New(env, "_testParallelThrow: cap must be an integer in [0, 1024]");
  try {
    ThreadCap scope(static_cast<int>(*cap));
    ParallelProbe probe = parallel_probe(*n, *throw_at);
    auto out = Napi::Object::New(env);
    out.Set("sum", static_cast<double>(probe.sum));
    out.Set("threads", probe.threads);
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("_testParallelThrow: ") + e.what());
  }
}

// _testPeakThreads() → the most threads that ran items of one parallel_for at once since the
// last call (0 when none ran on the pool). Test-only, like _testParallelThrow.
Napi::Value TestPeakThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::take_peak_threads());
}

// The `blas` property: read at each access, since loading a model may change its thread count.
Napi::Value BlasObject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BlasInfo blas = blas_info();
  auto out = Napi::Object::New(env);
  out.Set("library", blas.library);
  out.Set("config", blas.config);
  out.Set("threads", blas.threads);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // MLX keeps freed buffers for reuse without bound by default; after a long indexing run that
  // held the process at ~1.2 GB. A batch's activations fit in this, so reuse still works.
  mx::set_cache_limit(size_t{256} << 20);
  auto* data = new AddonData;
  env.SetInstanceData<AddonData>(data);
  Napi::Function model = NativeModel::Define(env);
  Napi::Function matrix = VectorMatrix::Define(env);
  data->native_model = Napi::Persistent(model);
  data->vector_matrix = Napi::Persistent(matrix);

  exports.Set("loadModel", Napi::Function::New<&NativeModel::Load>(env, "loadModel"));
  exports.Set("NativeModel", model);
  exports.Set("VectorMatrix", matrix);
  exports.Set("sgemmGflops", Napi::Function::New<&SgemmGflops>(env, "sgemmGflops"));
  exports.Set("mlxVersion", Napi::String::New(env, mx::version()));
  exports.Set("gpuAvailable", Napi::Boolean::New(env, gpu_available()));
  exports.Set("gpuMemory", Napi::Number::New(env, gpu_memory_bytes()));
  exports.Set("cpuThreads", Napi::Number::New(env, cpu_kernel_threads()));
  exports.Set("cpuVectorScan",
              Napi::String::New(env, HalfScan::available() ? "float16" : "float32"));
  exports.DefineProperty(Napi::PropertyDescriptor::Accessor<&BlasObject>("blas", napi_enumerable));
  exports.Set("_testParallelThrow",
              Napi::Function::New<&TestParallelThrow>(env, "_testParallelThrow"));
  exports.Set("_testPeakThreads", Napi::Function::New<&TestPeakThreads>(env, "_testPeakThreads"));
  return exports;
}

}  // namespace

}  // namespace semsearch

static Napi::Object InitSemsearch(Napi::Env env, Napi::Object exports) {
  return semsearch::Init(env, exports);
}

NODE_API_MODULE(semsearch, InitSemsearch)
