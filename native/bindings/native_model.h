// The JS class NativeModel: an encoder whose MLX work runs on its own SerialWorker thread.
// loadModel(dir, config, options) creates one; embed() and dispose() queue jobs on that thread
// and return Promises. Arguments are checked, and copied, on the JS thread. shareWeights()
// makes a second NativeModel over the same weight arrays with a worker of its own, so that its
// calls (queries) do not wait behind this one's (indexing batches).
#pragma once

#include <napi.h>

#include <memory>

#include "bindings/serial_worker.h"

namespace semsearch {

struct ModelState;

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env);

  // Only Load() may construct one (it passes a private token).
  explicit NativeModel(const Napi::CallbackInfo& info);

  // loadModel(dir, config, options) → Promise<NativeModel>
  static Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  // embed(ids: Int32Array, lengths: Int32Array, seqLen: number) → Promise<Float32Array>
  Napi::Value Embed(const Napi::CallbackInfo& info);
  // dispose() → Promise<void>: drops this model's hold on the weights once the jobs queued
  // before it have run; they are freed when no model shares them any more.
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  // shareWeights(options?) → NativeModel: a model over the same weights, with its own worker.
  Napi::Value ShareWeights(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelState> state_;
  std::unique_ptr<SerialWorker> worker_;
  bool disposed_ = false;
};

}  // namespace semsearch
