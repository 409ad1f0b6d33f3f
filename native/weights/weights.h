// safetensors → named tensors → BertWeights / ModernBertWeights: the file format, the checkpoint
// key maps and the strict check of names and shapes live here, never in the forward passes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/bert.h"
#include "models/modernbert.h"

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

// Return the weights of a ModernBERT encoder stored at `path` under bare names (ModernBertModel,
// sentence-transformers) or under `model.` (ModernBertForMaskedLM and other task models), checked
// strictly against `config`: every expected tensor present once with the expected shape, biases
// exactly where the config has them, and no tensor left over except a task head (head.*,
// decoder.*, classifier.*). Cast to `dtype` and evaluated on `device`.
ModernBertWeights load_modernbert_weights(const std::string& path, const ModernBertConfig& config,
                                          mx::Dtype dtype, mx::Device device);

}  // namespace semsearch
