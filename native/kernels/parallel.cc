#include "kernels/parallel.h"

namespace semsearch {

int cpu_kernel_threads() {
  static const int n =
      std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  return n;
}

}  // namespace semsearch
