// safetensors → named tensors → BertWeights: the file format, the checkpoint key map and the
// strict check of names and shapes live here, never in the forward pass.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bert.h"

namespace semsearch {

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
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  // Read a floating-point tensor (F32, F16, BF16) into a new MLX array.
  mx::array read(const std::string& name) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t data_start_ = 0;
  std::map<std::string, TensorEntry> tensors_;
};

// Return the weights of a BERT encoder stored at `path`, checked strictly against `config`
// (every expected tensor present once with the expected shape; unused extras such as
// embeddings.position_ids or pooler.* are ignored), cast to `dtype` and evaluated on `device`.
BertWeights load_bert_weights(const std::string& path, const BertConfig& config, mx::Dtype dtype,
                              mx::Device device);

}  // namespace semsearch
