// A float16 copy of the vector matrix for the CPU's top-k scan, with exact float32 rescoring.
//
// The scan reads every row for every query, so its cost is memory traffic: float16 halves it
// (100k × 384: 77 MB instead of 154 MB). The answer stays exact: each float16 score is within a
// known bound of the float32 one, so every row that could be in the true top k is rescored from
// the float32 matrix before the k best are chosen (see HalfScan::top_k).
//
// x86-64 with AVX2, FMA and F16C (checked at run time) only; elsewhere `available()` is false and
// the caller keeps its float32 path.
#pragma once

#include <cstdint>
#include <vector>

namespace semsearch {

class HalfScan {
 public:
  // True when this CPU can run the float16 scan.
  static bool available();

  explicit HalfScan(int dim) : dim_(dim) {}

  // Make room for `rows` rows (contents of new rows undefined).
  void reserve(int64_t rows);
  // Store row `row` from float32 `values` (dim of them).
  void set(int64_t row, const float* values);
  // False once a stored value lay outside float16's range (or was not finite): the caller must
  // use its float32 path from then on.
  bool usable() const { return usable_; }
  // Copy row `from` over row `to`.
  void copy(int64_t from, int64_t to);
  void clear();

  // Indices of the best min(k, n) of rows [0, n) by dot product with `query`, best first, with
  // their exact scores computed from `exact` (n × dim float32, row-major, the rows this copy mirrors).
  void top_k(const float* query, const float* exact, int64_t n, int32_t k,
             std::vector<int32_t>& rows, std::vector<float>& scores) const;

 private:
  int dim_;
  std::vector<uint16_t> half_;
  float max_norm_ = 0;  // largest row norm ever stored (never lowered: the bound stays valid)
  bool usable_ = true;
};

}  // namespace semsearch
