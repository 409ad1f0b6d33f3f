// How the fused CPU kernels spread work over the cores: one pool of threads, started once and
// kept for the life of the process, that every kernel call shares.
//
// Why a pool: the kernels run several times per encoder layer, and starting threads for each call
// cost more than short calls take. Why it captures exceptions: an exception escaping a thread
// ends the process (std::terminate); here it is handed to the thread that called parallel_for,
// which rethrows it. For a kernel that is MLX's CPU stream thread, where MLX keeps the error and
// rethrows it from eval(), so it reaches JavaScript as the failed call's rejection.
//
// Why a thread cap: each model may use only so many threads (server/model/embedder.ts leaves a
// core to the editor), while the pool stays one, shared, and sized to the machine. A cap is a
// property of the thread that calls parallel_for (ThreadCap); pool threads that help a capped
// call run its items under the same cap, so that calls nested in them are capped too.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/cpu_kernels.h"

namespace semsearch {

// A borrowed callable, fn(i): no copy and no allocation; it must outlive the call it is passed to.
class ItemFunction {
 public:
  // Not for ItemFunction itself: copies must copy, not wrap the copied object.
  template <class F>
    requires(!std::is_same_v<std::remove_cv_t<F>, ItemFunction>)
  ItemFunction(F& fn)  // NOLINT(google-explicit-constructor): converts at the call site
      : object_(const_cast<void*>(static_cast<const void*>(&fn))),
        call_([](void* f, int64_t i) { (*static_cast<F*>(f))(i); }) {}
  void operator()(int64_t i) const { call_(object_, i); }

 private:
  void* object_;
  void (*call_)(void*, int64_t);
};

// The most threads a parallel_for called on this thread may use, the caller included; 0 when
// uncapped (the pool's size).
int thread_cap();

// Sets this thread's cap for its lifetime, then restores the previous one. 0 lifts the cap.
class ThreadCap {
 public:
  explicit ThreadCap(int cap);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int previous_;
};

// Threads a parallel_for called here may use: the cap, within the pool's size.
inline int usable_threads() {
  int cap = thread_cap(), pool = cpu_kernel_threads();
  return cap > 0 && cap < pool ? cap : pool;
}

// Wrap a kernel's body so that it runs under the cap in force where this is called. The fused
// kernels' eval_cpu (run by mx::eval on the model's worker thread, which holds the model's cap)
// wraps the task it dispatches to MLX's CPU stream thread, which has no cap of its own.
template <class F>
auto with_thread_cap(F fn) {
  return [cap = thread_cap(), fn = std::move(fn)]() mutable {
    ThreadCap scope(cap);
    fn();
  };
}

class ThreadPool {
 public:
  // `threads` counts the caller of parallel_for: threads - 1 are started here.
  explicit ThreadPool(int threads);
  // Stops and joins the threads; no parallel_for may be running.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The pool the kernels use, cpu_kernel_threads() in size, started on first use and never
  // destroyed (a process may exit while a kernel still runs on another thread).
  static ThreadPool& shared();

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Run fn(i) for every i in [0, n) on the calling thread and as many pool threads as help;
  // items are claimed one at a time. At most thread_cap() threads (the caller included) run
  // items of one call. Several threads may call this at once (each model's worker does), and fn
  // may call it again. If fn throws, no further items start, and once no thread is still running
  // an item of this call the first exception is rethrown here.
  void parallel_for(int64_t n, ItemFunction fn);

  // Test-only (test/unit/embedThreads.test.ts): the most threads that ran items of one parallel_for
  // at the same time since the last call (the caller counts as one); resets it to 0.
  static int take_peak_threads();

 private:
  struct Job;
  static void run_items(Job& job);
  Job* next_job();  // a queued job with items left to claim; mutex_ held
  void work();  // a pool thread's loop

  std::mutex mutex_;
  std::condition_variable wake_;  // a job was queued, or stop_ was set
  std::condition_variable left_;  // a pool thread left a job
  std::vector<Job*> jobs_;  // calls in progress; each lives on its caller's stack
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// Run fn(i) for every i in [0, n) on the shared pool. `serial` keeps small jobs on the calling
// thread, where waking other threads would cost more than it saves.
template <class F>
void parallel_items(int64_t n, F&& fn, bool serial = false) {
  if (serial || n <= 1 || cpu_kernel_threads() <= 1 || thread_cap() == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  ThreadPool::shared().parallel_for(n, fn);
}

}  // namespace semsearch
