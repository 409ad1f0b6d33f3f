#include "vectors/vector_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "kernels/blas.h"

namespace semsearch {

namespace {
constexpr int32_t kMinCapacity = 1024;
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111;
// Up to this many queries a call streams the rows once per query (float16 scan or sgemv); more go
// to sgemm, which reads each row once for all of them.
constexpr int32_t kStreamedQueries = 4;
}  // namespace

void VectorStore::check() const {
  if (!broken_.empty()) {
    throw std::runtime_error("VectorMatrix: an earlier add or remove failed: " + broken_);
  }
}

void VectorStore::reserve(int32_t rows) {
  if (rows <= capacity_) return;
  int64_t grown = std::max<int64_t>({rows, kMinCapacity, int64_t{capacity_} * 2});
  grown = std::min<int64_t>(grown, std::numeric_limits<int32_t>::max());
  auto next = mx::zeros({static_cast<int32_t>(grown), dim_}, mx::float32, device_);
  if (count_ > 0) {
    auto live = mx::slice(*matrix_, {0, 0}, {count_, dim_}, device_);
    next = mx::slice_update(next, live, mx::Shape{0, 0}, mx::Shape{count_, dim_}, device_);
  }
  matrix_ = std::move(next);
  mx::eval(*matrix_);
  if (half_) half_->reserve(grown);
  capacity_ = static_cast<int32_t>(grown);
}

void VectorStore::write(const std::vector<int32_t>& rows, const std::vector<int32_t>& ids,
                        const std::vector<float>& vectors, int32_t count) {
  if (!broken_.empty()) return;
  try {
    reserve(count);
    if (!rows.empty()) {
      auto m = static_cast<int32_t>(rows.size());
      mx::array index(rows.begin(), {m}, mx::int32);
      mx::array update(vectors.begin(), {m, 1, dim_}, mx::float32);
      // Reassigning matrix_ drops our reference before eval, so MLX donates the buffer and the
      // scatter writes in place: O(m), not O(capacity).
      matrix_ = mx::scatter(*matrix_, {index}, update, {0}, device_);
      mx::eval(*matrix_);
      if (half_) {
        for (size_t i = 0; i < rows.size(); ++i) half_->set(rows[i], vectors.data() + i * dim_);
      }
    }
    row_ids_.resize(count, -1);
    for (size_t i = 0; i < rows.size(); ++i) row_ids_[rows[i]] = ids[i];
    count_ = count;
  } catch (const std::exception& e) {
    broken_ = e.what();
  }
}

void VectorStore::move(const std::vector<int32_t>& from, const std::vector<int32_t>& to,
                       int32_t count) {
  if (!broken_.empty()) return;
  try {
    if (!from.empty()) {
      auto m = static_cast<int32_t>(from.size());
      auto rows = mx::take(*matrix_, mx::array(from.begin(), {m}, mx::int32), 0, device_);
      // Evaluate the gathered rows first so the scatter below holds the only reference to the
      // matrix and can update it in place.
      mx::eval(rows);
      mx::array index(to.begin(), {m}, mx::int32);
      matrix_ =
          mx::scatter(*matrix_, {index}, mx::reshape(rows, {m, 1, dim_}, device_), {0}, device_);
      mx::eval(*matrix_);
      // Sources lie at or past `count` and destinations before it, so in-order copying is safe.
      for (size_t i = 0; i < from.size(); ++i) {
        row_ids_[to[i]] = row_ids_[from[i]];
        if (half_) half_->copy(from[i], to[i]);
      }
    }
    count_ = count;
    row_ids_.resize(count);
  } catch (const std::exception& e) {
    broken_ = e.what();
  }
}

VectorStore::TopK VectorStore::top_k(const std::vector<float>& queries, int32_t k) const {
  check();
  auto q = static_cast<int32_t>(queries.size() / dim_);
  TopK out;
  out.ids.assign(size_t(q) * k, -1);
  out.scores.assign(size_t(q) * k, -std::numeric_limits<float>::infinity());
  if (count_ == 0 || q == 0 || k == 0) return out;
  if (half_ && half_->usable() && q <= kStreamedQueries &&
      std::isfinite(std::accumulate(queries.begin(), queries.end(), 0.0f)) &&
      matrix_->flags().row_contiguous) {
    half_top_k(queries, k, out);
  } else {
    select_top_k(scores(queries), k, out);
  }
  return out;
}

void VectorStore::half_top_k(const std::vector<float>& queries, int32_t k, TopK& out) const {
  // Float16 scan, exact float32 rescoring (half_scan.h): half the memory traffic of sgemv.
  auto q = static_cast<int32_t>(queries.size() / dim_);
  int32_t n = count_, kk = std::min(k, n);
  const float* exact = matrix_->data<float>();
  std::vector<int32_t> rows;
  std::vector<float> values;
  for (int32_t i = 0; i < q; ++i) {
    half_->top_k(queries.data() + size_t(i) * dim_, exact, n, kk, rows, values);
    for (size_t j = 0; j < rows.size(); ++j) {
      out.ids[size_t(i) * k + j] = row_ids_[rows[j]];
      out.scores[size_t(i) * k + j] = values[j];
    }
  }
}

mx::array VectorStore::scores(const std::vector<float>& queries) const {
  auto q = static_cast<int32_t>(queries.size() / dim_);
  int32_t n = count_;
  SgemvFn sgemv = blas_sgemv();
  if (device_ == mx::Device::cpu && q <= kStreamedQueries && sgemv &&
      matrix_->flags().row_contiguous) {
    // MLX's CPU matmul always goes through sgemm, which packs the whole matrix for a single
    // query (17 ms at 100k × 384 here); sgemv streams it once (9 ms).
    std::vector<float> buffer(size_t(q) * n);
    const float* base = matrix_->data<float>();
    for (int32_t i = 0; i < q; ++i) {
      sgemv(kCblasRowMajor, kCblasNoTrans, n, dim_, 1.0f, base, dim_,
            queries.data() + size_t(i) * dim_, 1, 0.0f, buffer.data() + size_t(i) * n, 1);
    }
    return mx::array(buffer.begin(), {q, n}, mx::float32);
  }
  mx::array query(queries.begin(), {q, dim_}, mx::float32);
  auto live = mx::slice(*matrix_, {0, 0}, {n, dim_}, device_);
  return mx::matmul(query, mx::transpose(live, device_), device_);  // [q, n]
}

void VectorStore::select_top_k(const mx::array& scores, int32_t k, TopK& out) const {
  int32_t q = scores.shape(0), n = count_, kk = std::min(k, n);
  auto negated = mx::negative(scores, device_);
  mx::array best =
      kk == n ? mx::argsort(negated, 1, device_)
              : mx::slice(mx::argpartition(negated, kk - 1, 1, device_), {0, 0}, {q, kk}, device_);
  auto values = mx::take_along_axis(scores, best, 1, device_);
  if (kk < n) {  // argpartition leaves the k best unordered
    auto order = mx::argsort(mx::negative(values, device_), 1, device_);
    best = mx::take_along_axis(best, order, 1, device_);
    values = mx::take_along_axis(values, order, 1, device_);
  }
  // Host reads below index densely.
  best = mx::contiguous(mx::astype(best, mx::int32, device_), false, device_);
  values = mx::contiguous(values, false, device_);
  mx::eval(best, values);
  const int32_t* rows = best.data<int32_t>();
  const float* vals = values.data<float>();
  for (int32_t i = 0; i < q; ++i) {
    for (int32_t j = 0; j < kk; ++j) {
      out.ids[size_t(i) * k + j] = row_ids_[rows[size_t(i) * kk + j]];
      out.scores[size_t(i) * k + j] = vals[size_t(i) * kk + j];
    }
  }
}

void VectorStore::release() {
  matrix_.reset();
  if (half_) half_->clear();
  row_ids_ = {};
  capacity_ = count_ = 0;
}

}  // namespace semsearch
