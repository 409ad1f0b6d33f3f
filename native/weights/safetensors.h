// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the data. This reader checks the header against the
// file and reads single tensors into MLX arrays; what the tensors mean is checkpoint.h's business.
#pragma once

#include <mlx/mlx.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "weights/file_handle.h"

namespace semsearch {

namespace mx = mlx::core;

// One tensor as described by a safetensors header. Offsets are relative to the data section.
struct TensorEntry {
  std::string dtype;  // safetensors spelling: F32, F16, BF16, I64, ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// A safetensors file whose header has been parsed and checked against the file size: every
// tensor's byte range lies inside the file and matches its dtype and shape. Errors are
// std::runtime_error("<path>: <reason>").
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  // Read a floating-point tensor (F32, F16, BF16) into a new MLX array.
  mx::array read(const std::string& name) const;

 private:
  // Read and check the 8-byte length and the header it announces; return the header text.
  std::string read_header(uint64_t file_size);

  std::string path_;
  FileHandle file_;  // closed on every path out, a refused file's included
  uint64_t data_start_ = 0;
  std::map<std::string, TensorEntry> tensors_;
};

// Throw std::runtime_error("<path>: <reason>"), the form of every error about a weights file.
[[noreturn]] void fail(const std::string& path, const std::string& reason);

// "[2, 3]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace semsearch
