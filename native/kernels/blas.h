// Which BLAS library MLX's CPU matmuls resolve to, and how fast it runs.
//
// On Linux the mlx-cpu wheel brings the reference BLAS; CMakeLists.txt links OpenBLAS ahead of
// libmlx so the dynamic linker binds cblas_* there instead. This file reports the outcome.
#pragma once

#include <string>

namespace semsearch {

struct BlasInfo {
  std::string library;  // file that defines cblas_sgemm in the addon's lookup scope, "" if none
  std::string config;   // openblas_get_config() when it is OpenBLAS, else ""
  int threads = 0;      // openblas_get_num_threads(); 1 for other BLAS (unknown, assumed serial)
};

BlasInfo blas_info();

// Set the BLAS's thread count when it is OpenBLAS (openblas_set_num_threads, looked up at run
// time); other libraries (a reference BLAS, Accelerate) are left alone. Process-wide: it applies
// to every model's matrix products. Returns whether the count was set.
bool set_blas_threads(int threads);

// cblas_sgemv as MLX would see it (same lookup scope), or nullptr.
using SgemvFn = void (*)(int order, int trans, int m, int n, float alpha, const float* a, int lda,
                         const float* x, int incx, float beta, float* y, int incy);
SgemvFn blas_sgemv();

// Return the best GFLOP/s of an n×n×n float32 matmul through MLX on the CPU (after warm-up).
// Runs on the calling thread.
double sgemm_gflops(int n);

}  // namespace semsearch
