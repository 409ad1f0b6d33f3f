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

namespace {

thread_local int current_cap = 0;
std::atomic<int> peak_threads{0};

}  // namespace

int thread_cap() { return current_cap; }

ThreadCap::ThreadCap(int cap) : previous_(current_cap) { current_cap = std::max(cap, 0); }

ThreadCap::~ThreadCap() { current_cap = previous_; }

int ThreadPool::take_peak_threads() { return peak_threads.exchange(0); }

// One parallel_for call. Its caller owns it (on its stack) and takes it off jobs_ before
// returning, after every pool thread that joined it has left.
struct ThreadPool::Job {
  Job(int64_t n, ItemFunction fn, int cap, int max_helpers)
      : n(n), fn(fn), cap(cap), max_helpers(max_helpers) {}
  const int64_t n;
  const ItemFunction fn;
  const int cap;          // the caller's thread_cap(), which helpers run its items under
  const int max_helpers;  // pool threads that may join: cap − 1, or all of them when uncapped
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
    if (job->helpers < job->max_helpers && !job->failed.load(std::memory_order_relaxed) &&
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
    int running = ++job->helpers + 1;  // the caller too
    if (running > peak_threads.load(std::memory_order_relaxed))
      peak_threads.store(running, std::memory_order_relaxed);  // mutex_ held: no lost update
    lock.unlock();
    {
      ThreadCap scope(job->cap);  // parallel_for calls nested in its items are capped too
      run_items(*job);
    }
    lock.lock();
    if (--job->helpers == 0) left_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t n, ItemFunction fn) {
  if (n <= 0) return;
  const int cap = thread_cap();
  const int workers = static_cast<int>(workers_.size());
  const int max_helpers = cap > 0 ? std::min(cap - 1, workers) : workers;
  if (max_helpers == 0 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Job job(n, fn, cap, max_helpers);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(&job);
  }
  // Wake no more threads than may join, and than there are items for besides the caller's first.
  int64_t helpers = std::min<int64_t>(n - 1, max_helpers);
  if (helpers == workers) {
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
