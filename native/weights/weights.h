// safetensors → named tensors → BertWeights / ModernBertWeights: the file format
// (safetensors.h), the strict check of names and shapes both architectures share (checkpoint.h)
// and each one's key map (bert_weights.cc, modernbert_weights.cc) live in this folder, never in
// the forward passes. This header is what the rest of the addon calls.
#pragma once

#include <string>

#include "models/bert.h"
#include "models/modernbert.h"

namespace semsearch {

// Return the weights of a BERT encoder stored at `path` (bare names, or under `bert.` in task
// models), checked strictly against `config`: every expected tensor present once with the
// expected shape, and no tensor left over except the known unused extras (embeddings.position_ids,
// pooler.*, task heads cls.* and classifier.*; see bert_weights.cc). Cast to `dtype` and
// evaluated on `device`.
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
