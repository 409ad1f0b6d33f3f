#include "bindings/serial_worker.h"

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_set>

namespace semsearch {

namespace {

// Every live worker, so that a process exit can stop them before MLX's static objects go.
//
// process.exit() (mocha --exit, a CLI's last line) calls exit() without finalizing JS objects:
// SerialWorker destructors never run, and libmlx's static destructors (allocator, scheduler)
// would run while a worker thread may still be inside an MLX evaluation, which crashed the process
// (SIGSEGV/SIGABRT after the last test). An atexit handler registered after libmlx was loaded runs
// before libmlx's destructors; it lets running work finish and joins every worker thread.
std::mutex registry_mutex;
std::unordered_set<SerialWorker*>* registry = nullptr;  // never freed: used during exit

void stop_all_workers() {
  std::unordered_set<SerialWorker*> live;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (registry) live = *registry;
  }
  for (SerialWorker* worker : live) worker->shutdown();
}

void track(SerialWorker* worker) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry) {
    registry = new std::unordered_set<SerialWorker*>();
    std::atexit(stop_all_workers);
  }
  registry->insert(worker);
}

void untrack(SerialWorker* worker) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (registry) registry->erase(worker);
}

}  // namespace

// napi handles are kept raw so that a Task can be freed on any thread; only deliver() (on the JS
// thread) uses them.
struct SerialWorker::Task {
  Work work;                     // submit(): produces a Finisher
  std::function<void()> plain;   // post(): no result
  Finisher finisher;
  std::string error;
  napi_deferred deferred = nullptr;
  napi_ref owner = nullptr;
};

struct SerialWorker::Shared {
  using Tsfn = Napi::TypedThreadSafeFunction<Shared, Task, &SerialWorker::deliver>;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Task*> queue;
  bool stop = false;
  Tsfn tsfn;
  bool tsfn_gone = false;  // JS thread only: the TSFN was finalized (environment teardown)
  size_t pending = 0;      // JS thread only: Promises not yet settled
};

SerialWorker::SerialWorker(Napi::Env env, const std::string& name)
    : shared_(std::make_shared<Shared>()) {
  // The TSFN holds its own reference to Shared: it may outlive this object by a loop turn.
  auto* keep = new std::shared_ptr<Shared>(shared_);
  shared_->tsfn = Shared::Tsfn::New(
      env, name, 0, 1, shared_.get(),
      [](Napi::Env, std::shared_ptr<Shared>* keep, Shared* shared) {
        shared->tsfn_gone = true;
        delete keep;
      },
      keep);
  // Idle workers must not keep the process alive; submit() refs while Promises are pending.
  shared_->tsfn.Unref(env);
  try {
    thread_ = std::thread(loop, shared_);
  } catch (...) {
    shared_->tsfn.Release();
    throw;
  }
  track(this);
}

SerialWorker::~SerialWorker() {
  untrack(this);
  shutdown();
  if (!shared_->tsfn_gone) shared_->tsfn.Release();
}

void SerialWorker::shutdown() {
  std::deque<Task*> dropped;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stop = true;
    dropped.swap(shared_->queue);
  }
  shared_->cv.notify_all();
  // Join once: the destructor and the exit handler may both get here (never concurrently: the
  // exit handler runs on the thread calling exit(), and no finalizer runs after it).
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  // Any napi handles in dropped tasks belong to an environment that is going away; leak them.
  for (Task* task : dropped) delete task;
}

Napi::Promise SerialWorker::submit(Napi::Env env, Napi::Object owner, Work work) {
  auto task = std::make_unique<Task>();
  task->work = std::move(work);
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &task->deferred, &promise), Napi::Promise());
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, owner, 1, &task->owner), Napi::Promise());
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->queue.push_back(task.release());
  }
  shared_->cv.notify_one();
  if (shared_->pending++ == 0) shared_->tsfn.Ref(env);
  return Napi::Promise(env, promise);
}

void SerialWorker::post(std::function<void()> work) {
  auto task = std::make_unique<Task>();
  task->plain = std::move(work);
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->queue.push_back(task.release());
  }
  shared_->cv.notify_one();
}

void SerialWorker::loop(std::shared_ptr<Shared> shared) {
  for (;;) {
    Task* task;
    {
      std::unique_lock<std::mutex> lock(shared->mutex);
      shared->cv.wait(lock, [&] { return shared->stop || !shared->queue.empty(); });
      if (shared->stop) return;
      task = shared->queue.front();
      shared->queue.pop_front();
    }
    if (task->plain) {
      try {
        task->plain();
      } catch (...) {
      }
      delete task;
      continue;
    }
    try {
      task->finisher = task->work();
    } catch (const std::exception& e) {
      task->error = e.what()[0] ? e.what() : "native error";
    } catch (...) {
      task->error = "unknown native error";
    }
    // Free what the work captured (MLX arrays) here, on the thread that used it.
    task->work = nullptr;
    if (shared->tsfn.BlockingCall(task) != napi_ok) {
      // The environment is shutting down: nobody is left to receive the result.
      delete task;
    }
  }
}

void SerialWorker::deliver(Napi::Env env, Napi::Function, Shared* shared, Task* raw) {
  std::unique_ptr<Task> task(raw);
  if (env == nullptr) return;  // TSFN torn down with the environment
  Napi::HandleScope scope(env);
  napi_value owner = nullptr;
  napi_get_reference_value(env, task->owner, &owner);
  napi_value result = nullptr;
  bool ok = task->error.empty();
  try {
    if (ok) {
      try {
        result = task->finisher(env, Napi::Object(env, owner));
      } catch (const Napi::Error& e) {
        ok = false;
        result = e.Value();
      } catch (const std::exception& e) {
        ok = false;
        result = Napi::Error::New(env, e.what()).Value();
      }
    } else {
      result = Napi::Error::New(env, task->error).Value();
    }
  } catch (...) {
    ok = false;
    napi_value message;
    napi_create_string_utf8(env, "native error while settling a Promise", NAPI_AUTO_LENGTH,
                            &message);
    napi_create_error(env, nullptr, message, &result);
  }
  if (ok) {
    napi_resolve_deferred(env, task->deferred, result);
  } else {
    napi_reject_deferred(env, task->deferred, result);
  }
  napi_delete_reference(env, task->owner);
  if (--shared->pending == 0) shared->tsfn.Unref(env);
}

Napi::Promise rejected(Napi::Env env, const std::string& message) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(Napi::Error::New(env, message).Value());
  return deferred.Promise();
}

}  // namespace semsearch
