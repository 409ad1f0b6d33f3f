#include "kernels/half_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#if defined(__x86_64__)
#include <immintrin.h>
#define SEMSEARCH_HALF_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

namespace semsearch {

#if defined(__x86_64__)
namespace {

SEMSEARCH_HALF_TARGET void to_half(const float* in, uint16_t* out, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = _cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT);
}

SEMSEARCH_HALF_TARGET float dot_half(const uint16_t* h, const float* q, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
    __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i + 8)));
    a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(q + i), a0);
    a1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(q + i + 8), a1);
  }
  __m256 a = _mm256_add_ps(a0, a1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  float sum = _mm_cvtss_f32(s);
  for (; i < n; ++i) sum += _cvtsh_ss(h[i]) * q[i];
  return sum;
}

SEMSEARCH_HALF_TARGET void scan(const uint16_t* half, const float* q, int64_t n, int dim,
                                float* out) {
  for (int64_t r = 0; r < n; ++r) out[r] = dot_half(half + r * dim, q, dim);
}

}  // namespace

bool HalfScan::available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
}

void HalfScan::set(int64_t row, const float* values) {
  to_half(values, half_.data() + row * dim_, dim_);
  float norm = 0;
  for (int i = 0; i < dim_; ++i) {
    if (!(std::fabs(values[i]) <= 65504.0f)) usable_ = false;  // float16's largest finite value
    norm += values[i] * values[i];
  }
  max_norm_ = std::max(max_norm_, std::sqrt(norm));
}

#else

bool HalfScan::available() { return false; }
void HalfScan::set(int64_t, const float*) {}

#endif

void HalfScan::reserve(int64_t rows) {
  if (static_cast<int64_t>(half_.size()) < rows * dim_) half_.resize(rows * dim_);
}

void HalfScan::copy(int64_t from, int64_t to) {
  std::memcpy(half_.data() + to * dim_, half_.data() + from * dim_, sizeof(uint16_t) * dim_);
}

void HalfScan::clear() {
  half_ = {};
  max_norm_ = 0;
  usable_ = true;
}

void HalfScan::top_k(const float* query, const float* exact, int64_t n, int32_t k,
                     std::vector<int32_t>& rows, std::vector<float>& scores) const {
  rows.clear();
  scores.clear();
  k = static_cast<int32_t>(std::min<int64_t>(k, n));
  if (k <= 0) return;
#if defined(__x86_64__)
  std::vector<float> approx(n);
  scan(half_.data(), query, n, dim_, approx.data());
  // The k-th best approximate score: a min-heap of the best k seen (no copy of all n scores).
  std::vector<float> best(approx.begin(), approx.begin() + k);
  std::make_heap(best.begin(), best.end(), std::greater<float>());
  for (int64_t r = k; r < n; ++r) {
    if (approx[r] <= best.front()) continue;
    std::pop_heap(best.begin(), best.end(), std::greater<float>());
    best.back() = approx[r];
    std::push_heap(best.begin(), best.end(), std::greater<float>());
  }
  float kth = best.front();
  // Rounding a component to float16 moves it by at most 2^-11 of itself (2^-25 absolute below
  // float16's normal range), so a float16 score is off by at most 2^-11 · Σ|q_i v_i| + 2^-25 · Σ|q_i|
  // ≤ 2^-11 · |q| · |v| + 2^-25 · √dim · |q|, plus float32 summation error (≤ dim · 2^-23 · |q| · |v|,
  // generously). With e that bound for the largest row, the k-th approximate score is at most e
  // above the true k-th, and each true top-k row scores at least (true k-th − e) approximately:
  // every row within 2e below `kth` is a candidate.
  float qnorm = 0;
  for (int i = 0; i < dim_; ++i) qnorm += query[i] * query[i];
  double e = ((std::ldexp(1.0, -11) + dim_ * std::ldexp(1.0, -23)) * max_norm_ +
              std::ldexp(1.0, -25) * std::sqrt(double(dim_))) *
             std::sqrt(qnorm);
  float floor = static_cast<float>(kth - 2 * e - 1e-6);
  std::vector<std::pair<float, int32_t>> candidates;
  for (int64_t r = 0; r < n; ++r) {
    if (approx[r] < floor) continue;
    const float* v = exact + r * dim_;
    float s = 0;
    for (int i = 0; i < dim_; ++i) s += v[i] * query[i];
    candidates.emplace_back(s, static_cast<int32_t>(r));
  }
  auto better = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::partial_sort(candidates.begin(), candidates.begin() + std::min<size_t>(k, candidates.size()),
                    candidates.end(), better);
  candidates.resize(std::min<size_t>(k, candidates.size()));
  for (const auto& [s, r] : candidates) {
    rows.push_back(r);
    scores.push_back(s);
  }
#else
  (void)query;
  (void)exact;
#endif
}

}  // namespace semsearch
