// The strict check every architecture's loader shares: a checkpoint's tensor names mapped onto
// ours, every expected tensor present once with its shape, and the reads that turn the checked
// tensors into MLX arrays of one dtype on one device.
#pragma once

#include <mlx/mlx.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weights/safetensors.h"

namespace semsearch {

// Our name of every tensor a forward pass needs, with its shape.
using ExpectedTensors = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Checkpoint name → our name (strips a task model's prefix, old spellings, ...).
using CanonicalName = std::function<std::string(std::string)>;

// Our name → checkpoint name.
using TensorIndex = std::unordered_map<std::string, std::string>;

// Return our name → checkpoint name for every tensor of `file`. Two checkpoint names with one
// meaning are an error.
TensorIndex index_tensors(const SafetensorsFile& file, const CanonicalName& canonical);

// Check that every expected tensor is present with its shape and a floating-point dtype.
// `missing_prefix` is put before a missing tensor's name (the naming the checkpoint uses);
// `encoder` names the architecture in the message.
void check_expected(const SafetensorsFile& file, const TensorIndex& by_canonical,
                    const ExpectedTensors& expected, const std::string& missing_prefix,
                    const std::string& encoder);

// Refuse a tensor of `file` that is neither expected (by its canonical name) nor `ignored` (by
// its checkpoint name): "unexpected tensor <name> (and N more): not part of <encoder> with this
// config.json", naming the first in natural order (numbers compared as numbers).
void check_unexpected(const SafetensorsFile& file, const ExpectedTensors& expected,
                      const CanonicalName& canonical,
                      const std::function<bool(const std::string&)>& ignored,
                      const std::string& encoder);

// Reads checked tensors, cast to one dtype on one device, and keeps them for a single eval.
class TensorReader {
 public:
  TensorReader(const SafetensorsFile& file, const TensorIndex& by_canonical, mx::Dtype dtype,
               mx::Device device)
      : file_(file), by_canonical_(by_canonical), dtype_(dtype), device_(device) {}

  // A tensor the weights hold (evaluated by eval()).
  mx::array get(const std::string& name) { return keep(read(name)); }
  // A tensor that only feeds another one (not kept: freed once that one is evaluated).
  mx::array read(const std::string& name) {
    return mx::astype(file_.read(by_canonical_.at(name)), dtype_, device_);
  }
  std::optional<mx::array> get_if(bool present, const std::string& name) {
    return present ? std::optional<mx::array>(get(name)) : std::nullopt;
  }
  mx::array keep(mx::array a) {
    all_.push_back(a);
    return a;
  }
  // Evaluate the kept tensors and settle them: wait() marks each one available and drops its
  // event, so that graphs built on other threads (models sharing these weights) only read them.
  // An array left "evaluated" is updated by the first eval that uses it.
  void eval() {
    mx::eval(all_);
    for (auto& a : all_) a.wait();
  }

 private:
  const SafetensorsFile& file_;
  const TensorIndex& by_canonical_;
  mx::Dtype dtype_;
  mx::Device device_;
  std::vector<mx::array> all_;
};

}  // namespace semsearch
