// The vector toolkit of the fused CPU kernels: 16-float vectors as GCC vector types, the few
// operations on them the kernels need, and vectorised exp, erf and GELU. Every function here is
// force-inlined into its caller, which is compiled once per x86 ISA level (SEMSEARCH_CLONES), so
// the same source becomes AVX-512, AVX2+FMA or baseline code.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// The release build targets baseline x86-64; the hot loops get AVX-512 and AVX2+FMA clones,
// picked once at load time (ifunc). Elsewhere (arm64: NEON is baseline) the plain loop is used.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__APPLE__)
#define SEMSEARCH_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SEMSEARCH_CLONES
#endif
#define SEMSEARCH_INLINE inline __attribute__((always_inline))

namespace semsearch::simd {

// 16 floats: one AVX-512 register, two AVX2 or four SSE/NEON registers, as the clone decides.
// Every function taking or returning these is force-inlined into a clone, so the ABI notes GCC
// emits for them concern no real call boundary (CMakeLists.txt passes -Wno-psabi to the files
// that include this one).
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

}  // namespace semsearch::simd
