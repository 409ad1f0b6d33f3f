#include "kernels/blas.h"

#include <dlfcn.h>
#include <mlx/mlx.h>

#include <algorithm>
#include <chrono>

namespace semsearch {

namespace mx = mlx::core;

namespace {

// A handle on this addon: dlsym through it searches the addon and its dependencies breadth-first,
// the same order in which the dynamic linker bound libmlx's own cblas_* references.
void* addon_scope() {
  static void* handle = []() -> void* {
    Dl_info info;
    void* self = nullptr;
    if (dladdr(reinterpret_cast<void*>(&blas_info), &info) != 0 && info.dli_fname) {
      self = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    }
    // Linked into a program rather than dlopen'ed: its global scope is the lookup scope.
    return self ? self : dlopen(nullptr, RTLD_LAZY);
  }();
  return handle;
}

void* find(const char* symbol) {
  void* scope = addon_scope();
  return scope ? dlsym(scope, symbol) : nullptr;
}

// The file that defines `fn`, or "".
std::string library_of(void* fn) {
  Dl_info where;
  return fn && dladdr(fn, &where) != 0 && where.dli_fname ? where.dli_fname : "";
}

// An OpenBLAS hook, only when cblas_sgemm itself lives in that library (another library's
// hook would not govern the matrix products MLX runs).
void* openblas_hook(const char* symbol) {
  void* fn = find(symbol);
  if (!fn) return nullptr;
  std::string sgemm = library_of(find("cblas_sgemm"));
  return !sgemm.empty() && library_of(fn) == sgemm ? fn : nullptr;
}

}  // namespace

BlasInfo blas_info() {
  BlasInfo info;
  info.library = library_of(find("cblas_sgemm"));
  using ConfigFn = char* (*)();
  using ThreadsFn = int (*)();
  auto config = reinterpret_cast<ConfigFn>(openblas_hook("openblas_get_config"));
  auto threads = reinterpret_cast<ThreadsFn>(openblas_hook("openblas_get_num_threads"));
  if (config) {
    info.config = config();
    info.threads = threads ? threads() : 1;
  } else {
    info.threads = 1;
  }
  return info;
}

bool make_blas_serial() {
  // A static's initialiser runs once, even when two models' workers get here together.
  static const bool serial = [] {
    using SetFn = void (*)(int);
    auto set = reinterpret_cast<SetFn>(openblas_hook("openblas_set_num_threads"));
    if (set) set(1);
    return set != nullptr;
  }();
  return serial;
}

SgemmFn blas_sgemm() {
  static SgemmFn fn = reinterpret_cast<SgemmFn>(find("cblas_sgemm"));
  return fn;
}

SgemvFn blas_sgemv() {
  static SgemvFn fn = reinterpret_cast<SgemvFn>(find("cblas_sgemv"));
  return fn;
}

double sgemm_gflops(int n) {
  mx::Device cpu(mx::Device::cpu);
  auto key = mx::random::key(0);
  auto a = mx::random::normal({n, n}, mx::float32, 0.0f, 1.0f, key, cpu);
  auto b = mx::random::normal({n, n}, mx::float32, 0.0f, 1.0f, mx::random::key(1), cpu);
  mx::eval(a, b);
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i) mx::eval(mx::matmul(a, b, cpu));  // warm-up: threads, caches
  double best = 1e30, total = 0;
  for (int i = 0; i < 50 && (i < 3 || total < 0.5); ++i) {
    auto start = clock::now();
    mx::eval(mx::matmul(a, b, cpu));
    double seconds = std::chrono::duration<double>(clock::now() - start).count();
    best = std::min(best, seconds);
    total += seconds;
  }
  return 2.0 * n * n * static_cast<double>(n) / best / 1e9;
}

}  // namespace semsearch
