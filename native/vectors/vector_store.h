// The worker-side half of VectorMatrix: an MLX array [capacity, dim] on the chosen device whose
// first `count` rows are live, plus the id stored in each row and, on CPUs that can scan it, a
// float16 copy of the rows (half_scan.h).
//
// Row placement (id → row, swap-remove) is decided on the JS thread by bindings/vector_matrix.cc,
// so that `size` is exact synchronously; this class applies the resulting writes and moves in
// order on the matrix's worker thread, and answers top-k queries.
#pragma once

#include <mlx/mlx.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/half_scan.h"

namespace semsearch {

namespace mx = mlx::core;

class VectorStore {
 public:
  VectorStore(int dim, mx::Device device) : dim_(dim), device_(device) {
    if (device_ == mx::Device::cpu && HalfScan::available()) half_.emplace(dim);
  }

  // Write `vectors` (rows.size() × dim) into `rows` (distinct, < count), record their ids, and set
  // the live row count to `count`, growing capacity by doubling. O(rows) amortised.
  void write(const std::vector<int32_t>& rows, const std::vector<int32_t>& ids,
             const std::vector<float>& vectors, int32_t count);
  // Copy row from[i] to row to[i] (sources ≥ count > destinations, as swap-remove yields), then
  // set the live row count to `count`. O(moves).
  void move(const std::vector<int32_t>& from, const std::vector<int32_t>& to, int32_t count);

  struct TopK {
    std::vector<int32_t> ids;  // q × k, best first; -1 where fewer than k rows exist
    std::vector<float> scores;  // q × k dot products; -Infinity in padded slots
  };
  TopK top_k(const std::vector<float>& queries, int32_t k) const;

  void release();

 private:
  void reserve(int32_t rows);
  void check() const;
  // top_k's paths: the float16 scan (CPU, up to kStreamedQueries queries), or scores [q, count]
  // from BLAS sgemv or an MLX matmul and the k best of each row chosen from them.
  void half_top_k(const std::vector<float>& queries, int32_t k, TopK& out) const;
  mx::array scores(const std::vector<float>& queries) const;
  void select_top_k(const mx::array& scores, int32_t k, TopK& out) const;

  int dim_;
  mx::Device device_;
  std::optional<mx::array> matrix_;
  int32_t capacity_ = 0;
  int32_t count_ = 0;
  std::vector<int32_t> row_ids_;
  std::optional<HalfScan> half_;  // CPU only: float16 copy of the rows that the top-k scan reads
  std::string broken_;  // first failure of write/move; the matrix is no longer trustworthy
};

}  // namespace semsearch
