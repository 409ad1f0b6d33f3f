#include "bindings/device.h"

#include <mlx/backend/cuda/cuda.h>
#include <mlx/backend/metal/metal.h>

#include <stdexcept>
#include <variant>

namespace semsearch {

bool gpu_available() { return mx::metal::is_available() || mx::cu::is_available(); }

double gpu_memory_bytes() {
  if (!gpu_available()) return 0;
#if __has_include(<mlx/backend/gpu/device_info.h>)
  try {
    const auto& info = mx::gpu::device_info(0);
    for (const char* key : {"total_memory", "memory_size"}) {
      auto it = info.find(key);
      if (it == info.end()) continue;
      if (const auto* bytes = std::get_if<size_t>(&it->second)) return static_cast<double>(*bytes);
    }
  } catch (const std::exception&) {
    // No figure: the caller keeps its defaults.
  }
#endif
  return 0;
}

mx::Device choose_device(const Napi::Value& options, const std::string& who) {
  std::string device = "auto";
  if (!options.IsUndefined() && !options.IsNull()) {
    if (!options.IsObject()) throw std::runtime_error(who + ": options must be an object");
    Napi::Value d = options.As<Napi::Object>().Get("device");
    if (!d.IsUndefined()) {
      if (!d.IsString())
        throw std::runtime_error(who + ": options.device must be 'auto', 'cpu' or 'gpu'");
      device = d.As<Napi::String>().Utf8Value();
    }
  }
  if (device == "cpu") return mx::Device::cpu;
  if (device == "auto") return gpu_available() ? mx::Device::gpu : mx::Device::cpu;
  if (device == "gpu") {
    if (!gpu_available()) {
      throw std::runtime_error(who +
                               ": device 'gpu' requested, but this MLX build has no usable "
                               "GPU (Metal or CUDA); use 'cpu' or 'auto'");
    }
    return mx::Device::gpu;
  }
  throw std::runtime_error(who + ": unknown device '" + device +
                           "' (expected 'auto', 'cpu' or 'gpu')");
}

const char* device_name(mx::Device d) { return d == mx::Device::gpu ? "gpu" : "cpu"; }

}  // namespace semsearch
