// Test-only entry points into the kernels, for test/unit/threads.test.ts through the addon's
// `_test…` exports. No product code calls them.
#pragma once

#include <cstdint>

namespace semsearch {

struct ParallelProbe {
  int64_t sum = 0;  // Σ i over the items that ran: n(n − 1)/2 when all did
  int threads = 0;  // distinct threads that ran items
};

// Evaluate, on MLX's CPU stream, a primitive whose kernel runs parallel_items over n items (each
// sleeping ~0.2 ms, so that the pool's threads take some), item i writing i. Item `throw_at`, if
// in [0, n), throws std::runtime_error("item <throw_at> threw on a pool thread" or "… on the
// calling thread"): it travels the way a failing kernel's exception does, and is rethrown here
// by MLX's eval(). Runs on the calling thread.
ParallelProbe parallel_probe(int64_t n, int64_t throw_at);

}  // namespace semsearch
