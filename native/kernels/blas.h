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

// Set OpenBLAS to one thread, for the whole process, on the first call (openblas_set_num_threads,
// looked up at run time). Returns whether the library behind cblas_sgemm is OpenBLAS and so now
// runs each call on its caller's thread alone; other libraries (a reference BLAS, Accelerate) are
// left as they are, and this returns false.
bool make_blas_serial();

// cblas_sgemm as MLX would see it (same lookup scope), or nullptr.
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float* a, int lda, const float* b, int ldb, float beta, float* c,
                         int ldc);
SgemmFn blas_sgemm();

// cblas_sgemv as MLX would see it (same lookup scope), or nullptr.
using SgemvFn = void (*)(int order, int trans, int m, int n, float alpha, const float* a, int lda,
                         const float* x, int incx, float beta, float* y, int incy);
SgemvFn blas_sgemv();

// Return the best GFLOP/s of an n×n×n float32 matmul through MLX on the CPU (after warm-up).
// Runs on the calling thread.
double sgemm_gflops(int n);

}  // namespace semsearch
