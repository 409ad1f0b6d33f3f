// The JS class VectorMatrix: vectors resident on a device, searched by dot product.
//
// Row placement (id → row, swap-remove) is decided here on the JS thread, so that `size` and
// has() are exact synchronously; the writes and moves that follow from it, and top-k queries,
// run in call order on the matrix's SerialWorker thread against a VectorStore (vectors/).
#pragma once

#include <mlx/mlx.h>
#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "bindings/serial_worker.h"
#include "vectors/vector_store.h"

namespace semsearch {

class VectorMatrix : public Napi::ObjectWrap<VectorMatrix> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new VectorMatrix(dim, options?: {device})
  explicit VectorMatrix(const Napi::CallbackInfo& info);

 private:
  void check_usable(Napi::Env env, const char* what) const;

  // add(ids: Int32Array, vectors: Float32Array /* n × dim */): void. An id already present is
  // replaced; within one call the last occurrence of an id wins.
  Napi::Value Add(const Napi::CallbackInfo& info);
  // remove(ids: Int32Array): number of ids that were present. Swap-remove: the last row moves
  // into the hole, so the live rows stay dense.
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Has(const Napi::CallbackInfo& info);
  // topK(queries: Float32Array /* q × dim */, k) → Promise<{ids: Int32Array, scores: Float32Array}>,
  // each q × k, best first by dot product; id -1 / score -Infinity pad rows beyond size.
  Napi::Value TopK(const Napi::CallbackInfo& info);
  // dispose(): frees the matrix (after queued work); later calls throw or reject.
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Dim(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);

  int dim_ = 0;
  mx::Device device_ = mx::Device::cpu;
  // JS-thread bookkeeping; the worker mirrors row → id inside VectorStore.
  std::unordered_map<int32_t, int32_t> row_of_;  // id → row
  std::vector<int32_t> id_of_;  // row → id
  std::shared_ptr<VectorStore> store_;
  std::unique_ptr<SerialWorker> worker_;
  bool disposed_ = false;
};

}  // namespace semsearch
