// The JS class NativeModel: an encoder whose weights live on its own SerialWorker thread.
// loadModel(dir, config, options) creates one; embed() and dispose() queue jobs on that thread
// and return Promises. Arguments are checked, and copied, on the JS thread.
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
  // dispose() → Promise<void>: frees the weights once the jobs queued before it have run.
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelState> state_;
  std::unique_ptr<SerialWorker> worker_;
  bool disposed_ = false;
};

}  // namespace semsearch
