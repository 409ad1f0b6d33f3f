// A serial executor: one dedicated thread per model or matrix that runs MLX work in submission
// order, and hands results back to JavaScript as settled Promises.
//
// Why a thread of our own rather than Napi::AsyncWorker: MLX work on one model must be serialised,
// and parking libuv pool threads on a per-model mutex would starve fs and SQLite work that shares
// that pool. Building and evaluating the graph on the same thread also keeps MLX's per-thread
// default streams consistent.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace semsearch {

class SerialWorker {
 public:
  // Runs on the JS thread after the work succeeded; builds the value the Promise resolves to.
  // `owner` is the object passed to submit(). May throw Napi::Error.
  using Finisher = std::function<Napi::Value(Napi::Env env, Napi::Object owner)>;
  // Runs on the worker thread; may throw std::exception (its what() becomes the rejection).
  using Work = std::function<Finisher()>;

  SerialWorker(Napi::Env env, const std::string& name);
  // Stops the thread after the running job (queued jobs are dropped: whoever could observe them
  // holds `owner` alive, so there are none when this runs from a finalizer). JS thread only.
  ~SerialWorker();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  // Stop the thread after the running job and drop queued jobs; idempotent. Also called for every
  // live worker when the process exits (see serial_worker.cc).
  void shutdown();

  // Queue `work`; the returned Promise settles on the JS thread. `owner` is kept alive until then.
  Napi::Promise submit(Napi::Env env, Napi::Object owner, Work work);
  // Queue `work` without a Promise (its exceptions are swallowed: the work must record failures
  // itself). Callable from the JS thread.
  void post(std::function<void()> work);

 private:
  struct Task;
  struct Shared;
  static void deliver(Napi::Env env, Napi::Function, Shared* shared, Task* task);
  static void loop(std::shared_ptr<Shared> shared);

  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

// Return a Promise already rejected with an Error carrying `message` (argument checks).
Napi::Promise rejected(Napi::Env env, const std::string& message);

}  // namespace semsearch
