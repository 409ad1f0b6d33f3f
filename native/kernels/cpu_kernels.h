// Fused CPU kernels for the encoder, as MLX custom primitives (the extension pattern of MLX's
// docs: a Primitive whose eval_cpu dispatches onto the stream's CPU encoder).
//
// Why: with MLX 0.32 on x86 CPUs, erf and softmax run single-threaded and scalar: at batch 32 ×
// 256 tokens they took ~450 ms and ~500 ms per layer on the development machine, against ~350 ms
// for all of a layer's matrix products. These kernels are vectorised (per-ISA clones on x86) and
// use every core. GPU devices keep MLX's own ops (models/bert.cc and models/modernbert.cc
// decide). The residual add + LayerNorm is fused too: MLX's add + layer_norm took 9.5 ms per call
// at 8192 × 384, this 1.5–2 ms.
//
// attention.cc holds the attention kernel, elementwise.cc the others; simd.h is their vector
// toolkit and thread_pool.h spreads their work over the cores.
#pragma once

#include <mlx/mlx.h>

#include <optional>

namespace semsearch {

namespace mx = mlx::core;

// Threads the fused kernels use: the hardware concurrency (at most 16).
int cpu_kernel_threads();

// Whether fused_attention handles this head size (head dims 16, 32, 48, 64).
bool fused_attention_supports(int hidden, int heads);

// Self-attention core for a fused projection qkv [B·L, 3H] (query | key | value, heads of
// H / heads columns each) and lengths [B] int32: softmax(q·kᵀ / √d over the first lengths[b] keys)·v,
// written as [B·L, H] with heads side by side. Rows at or past lengths[b] are set to 0: no real
// token attends to them, so they never reach a pooled output. float32, CPU only.
// `rope` [>= L, head_dim] turns queries and keys first (rotary position embedding, "rotate half"
// layout): row l holds cos(l·θ_k) in columns [0, d/2) and sin(l·θ_k) in [d/2, d).
// `window` >= 0 lets the query at i see only keys j with |i − j| <= window (sliding-window
// attention); -1 lets it see every key.
mx::array fused_attention(const mx::array& qkv, const mx::array& lengths, int batch, int len,
                          int heads, mx::Device device,
                          const std::optional<mx::array>& rope = std::nullopt, int window = -1);

// GeGLU over x [rows, 2·width], float32 on the CPU: GELU(x[:, :width]) · x[:, width:], the exact
// (erf) GELU.
mx::array fused_geglu(const mx::array& x, mx::Device device);

// LayerNorm(a + b)·weight + bias over the last axis (a multiple of 16), float32 on the CPU: the
// residual add and the post-norm of a BERT layer in one pass over memory.
mx::array fused_add_layer_norm(const mx::array& a, const mx::array& b, const mx::array& weight,
                               const mx::array& bias, float eps, mx::Device device);

// Whether fused_linear runs here: the BLAS behind MLX is OpenBLAS, which the first call sets to
// one thread for the whole process (linear.cc says why). Elsewhere (another BLAS, whose threads
// cannot be set) the products stay with MLX's matmul.
bool fused_linear_available();

// x·wᵀ + b for x [rows, in], w [out, in] (a checkpoint's layout) and b [out], float32 on the CPU:
// single-threaded BLAS calls over blocks of rows, on the kernels' pool. Only where
// fused_linear_available().
mx::array fused_linear(const mx::array& x, const mx::array& w, const std::optional<mx::array>& b,
                       mx::Device device);

// Exact GELU, x·½(1 + erf(x/√2)), for float32 on the CPU (erf to ~1e-7 absolute).
mx::array fused_gelu(const mx::array& x, mx::Device device);

}  // namespace semsearch
