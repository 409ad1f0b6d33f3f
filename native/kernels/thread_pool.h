// How the fused CPU kernels spread work over the cores: one pool of threads, started once and
// kept for the life of the process, that every kernel call shares.
//
// Why a pool: the kernels run several times per encoder layer, and starting threads for each call
// cost more than short calls take. Why it captures exceptions: an exception escaping a thread
// ends the process (std::terminate); here it is handed to the thread that called parallel_for,
// which rethrows it. For a kernel that is MLX's CPU stream thread, where MLX keeps the error and
// rethrows it from eval(), so it reaches JavaScript as the failed call's rejection.
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
  // items are claimed one at a time. Several threads may call this at once (each model's worker
  // does), and fn may call it again. If fn throws, no further items start, and once no thread is
  // still running an item of this call the first exception is rethrown here.
  void parallel_for(int64_t n, ItemFunction fn);

 private:
  struct Job;
  static void run_items(Job& job);
  Job* next_job();  // a queued job with items left to claim; mutex_ held
  void work();      // a pool thread's loop

  std::mutex mutex_;
  std::condition_variable wake_;  // a job was queued, or stop_ was set
  std::condition_variable left_;  // a pool thread left a job
  std::vector<Job*> jobs_;        // calls in progress; each lives on its caller's stack
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// Run fn(i) for every i in [0, n) on the shared pool. `serial` keeps small jobs on the calling
// thread, where waking other threads would cost more than it saves.
template <class F>
void parallel_items(int64_t n, F&& fn, bool serial = false) {
  if (serial || n <= 1 || cpu_kernel_threads() <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  ThreadPool::shared().parallel_for(n, fn);
}

}  // namespace semsearch
