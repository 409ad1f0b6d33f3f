#include "kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace semsearch {

int cpu_kernel_threads() {
  static const int n =
      std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  return n;
}

// One parallel_for call. Its caller owns it (on its stack) and takes it off jobs_ before
// returning, after every pool thread that joined it has left.
struct ThreadPool::Job {
  Job(int64_t n, ItemFunction fn) : n(n), fn(fn) {}
  const int64_t n;
  const ItemFunction fn;
  std::atomic<int64_t> next{0};  // the next item to claim
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;  // the first exception an item threw
  int helpers = 0;           // pool threads inside run_items(); ThreadPool::mutex_ held
};

ThreadPool::ThreadPool(int threads) {
  try {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { work(); });
  } catch (...) {
    // A thread that could not start: stop the ones that did, or their destructors terminate.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool* pool = new ThreadPool(cpu_kernel_threads());
  return *pool;
}

void ThreadPool::run_items(Job& job) {
  while (!job.failed.load(std::memory_order_relaxed)) {
    int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n) return;
    try {
      job.fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.error_mutex);
      if (!job.error) job.error = std::current_exception();
      job.failed.store(true, std::memory_order_relaxed);
    }
  }
}

ThreadPool::Job* ThreadPool::next_job() {
  for (Job* job : jobs_) {
    if (!job->failed.load(std::memory_order_relaxed) &&
        job->next.load(std::memory_order_relaxed) < job->n)
      return job;
  }
  return nullptr;
}

void ThreadPool::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    Job* job = nullptr;
    wake_.wait(lock, [&] { return stop_ || (job = next_job()) != nullptr; });
    if (stop_) return;
    ++job->helpers;
    lock.unlock();
    run_items(*job);
    lock.lock();
    if (--job->helpers == 0) left_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t n, ItemFunction fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Job job(n, fn);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(&job);
  }
  // Wake no more threads than there are items for besides the caller's first.
  int64_t helpers = std::min<int64_t>(n - 1, static_cast<int64_t>(workers_.size()));
  if (helpers == static_cast<int64_t>(workers_.size())) {
    wake_.notify_all();
  } else {
    for (int64_t h = 0; h < helpers; ++h) wake_.notify_one();
  }
  run_items(job);
  {
    // Off the queue first, so no thread joins it from now on; then wait for those that did:
    // their items may still use the caller's data, and `job` itself lives on this stack.
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_.erase(std::find(jobs_.begin(), jobs_.end(), &job));
    left_.wait(lock, [&] { return job.helpers == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace semsearch
