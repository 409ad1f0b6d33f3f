// How the fused CPU kernels spread work over the cores.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "kernels/cpu_kernels.h"

namespace semsearch {

// Run fn(i) for every i in [0, n) across the cores; items are claimed one at a time. `serial`
// keeps small jobs on the calling thread, where starting threads would cost more than they save.
template <class F>
void parallel_items(int64_t n, F&& fn, bool serial = false) {
  int threads = serial ? 1 : static_cast<int>(std::min<int64_t>(cpu_kernel_threads(), n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto run = [&] {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
}

}  // namespace semsearch
