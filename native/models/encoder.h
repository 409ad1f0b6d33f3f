// What every encoder forward pass shares: the padding mask of a right-padded batch, pooling and
// L2 normalisation. The architectures themselves live in bert.cc and modernbert.cc.
#pragma once

#include <mlx/mlx.h>

#include <cstddef>

namespace semsearch {

namespace mx = mlx::core;

enum class Pooling { cls, mean };

// [B, L] bool: true where position l < lengths[b] (a real token, not padding).
mx::array padding_valid(const mx::array& lengths, int batch, int len, mx::Device device);

// Additive attention bias from a boolean "may attend" mask: 0 where allowed, a large finite
// negative elsewhere (not -inf: exp() still gives 0, and a fully masked row cannot become NaN;
// -3e4 stays finite in float16).
mx::array additive_mask(const mx::array& allowed, mx::Dtype dtype, mx::Device device);

// Exact GELU through MLX ops: x·Φ(x) = ½x·(1 + erf(x/√2)) (BERT's and ModernBERT's "gelu").
mx::array gelu_erf(const mx::array& x, mx::Device device);

// MLX's CPU allocator does not report an allocation that fails: the kernel that writes to it
// crashes the process. Each forward pass asks for its call's peak, `need` bytes by its own
// estimate, once and up front through this, so that running out of memory is an error the
// caller can act on (server/model/embedder.ts halves the batch on "out of memory"), not a crash.
// On the CPU, throws std::runtime_error("out of memory: a batch of B × L tokens needs about N
// MB") when `need` bytes cannot be had; on a GPU does nothing (its allocators throw on failure
// themselves).
void ensure_memory(size_t need, int batch, int len, mx::Device device);

// On the CPU, evaluate a layer's output before the next layer is built; on a GPU do nothing.
// Why: MLX's eval() stops submitting work while more than 10 tasks (of 10 kernels each) are in
// flight in the whole process (MAX_ACTIVE_TASKS in mlx/transforms.cpp), and then waits for any one
// of them to finish. A batch's whole graph submitted at once keeps that count at the limit for as
// long as the batch runs, so a second model's eval (a query beside an indexing batch) submitted one
// kernel per task the batch finished: 10 s for a query that takes 24 ms alone. One layer is a few
// tasks; the CPU stream idles only for the microseconds it takes to build the next layer.
void eval_layer_on_cpu(const mx::array& x, mx::Device device);

// Return the L2-normalised pooled rows of h [B, L, H] (any float dtype), [B, H] float32,
// evaluated: the first token (cls) or the mean over each row's real tokens (mean).
mx::array pool_and_normalize(const mx::array& h, const mx::array& valid, const mx::array& lengths,
                             Pooling pooling, mx::Device device);

}  // namespace semsearch
