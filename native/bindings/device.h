// Which device MLX work runs on: what this MLX build offers, and options.device as JS passes it.
#pragma once

#include <mlx/mlx.h>
#include <napi.h>

#include <string>

namespace semsearch {

namespace mx = mlx::core;

// Whether this MLX build has a usable GPU (Metal or CUDA).
bool gpu_available();

// Total memory of GPU 0 in bytes, 0 when there is no GPU or this MLX does not say.
double gpu_memory_bytes();

// "auto" | "cpu" | "gpu" from options.device (undefined → auto). Throws std::runtime_error
// ("<who>: <reason>").
mx::Device choose_device(const Napi::Value& options, const std::string& who);

// "cpu" or "gpu", as info objects report it.
const char* device_name(mx::Device d);

}  // namespace semsearch
