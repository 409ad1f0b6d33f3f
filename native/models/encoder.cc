#include "models/encoder.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace semsearch {

using mx::array;

array padding_valid(const array& lengths, int batch, int len, mx::Device d) {
  return mx::less(mx::reshape(mx::arange(len, d), {1, len}, d), mx::reshape(lengths, {batch, 1}, d),
                  d);
}

array additive_mask(const array& allowed, mx::Dtype dtype, mx::Device d) {
  float masked = dtype == mx::float16 ? -3.0e4f : -1.0e9f;
  return mx::where(allowed, array(0.0f, dtype), array(masked, dtype), d);
}

array gelu_erf(const array& x, mx::Device d) {
  auto t = x.dtype();
  auto cdf = mx::add(mx::erf(mx::multiply(x, array(M_SQRT1_2, t), d), d), array(1.0f, t), d);
  return mx::multiply(mx::multiply(x, array(0.5f, t), d), cdf, d);
}

void ensure_memory(size_t need, int batch, int len, mx::Device d) {
  if (d != mx::Device::cpu) return;
  void* probe = std::malloc(need);
  if (probe == nullptr) {
    throw std::runtime_error("out of memory: a batch of " + std::to_string(batch) + " × " +
                             std::to_string(len) + " tokens needs about " +
                             std::to_string(need >> 20) + " MB");
  }
  std::free(probe);
}

void eval_layer_on_cpu(const array& x, mx::Device d) {
  if (d == mx::Device::cpu) mx::eval(x);
}

array pool_and_normalize(const array& hidden, const array& valid, const array& lengths,
                         Pooling pooling, mx::Device d) {
  int batch = hidden.shape(0), size = hidden.shape(2);
  auto h = mx::astype(hidden, mx::float32, d);
  array pooled = array(0.0f);
  if (pooling == Pooling::cls) {
    pooled = mx::reshape(mx::slice(h, {0, 0, 0}, {batch, 1, size}, d), {batch, size}, d);
  } else {
    auto weights = mx::expand_dims(mx::astype(valid, mx::float32, d), 2, d);  // [B, L, 1]
    auto counts = mx::reshape(mx::astype(lengths, mx::float32, d), {batch, 1}, d);
    pooled = mx::divide(mx::sum(mx::multiply(h, weights, d), 1, false, d), counts, d);
  }
  auto norm = mx::sqrt(mx::sum(mx::square(pooled, d), 1, true, d), d);
  auto out = mx::divide(pooled, mx::maximum(norm, array(1e-12f), d), d);
  mx::eval(out);
  return out;
}

}  // namespace semsearch
