// ModelConfig objects from JS (see server/model/native.ts) → the encoder configs of models/,
// checked.
#pragma once

#include <napi.h>

#include <string>
#include <variant>

#include "models/bert.h"
#include "models/modernbert.h"

namespace semsearch {

using EncoderConfig = std::variant<BertConfig, ModernBertConfig>;

// ModelConfig → BertConfig or ModernBertConfig, by config.architecture. Throws
// std::runtime_error("<dir>: <reason>").
EncoderConfig parse_config(const Napi::Value& value, const std::string& dir);

// What NativeModel.info reports and embed() checks, whichever the architecture.
struct EncoderSummary {
  const char* architecture;
  int hidden_size, max_positions, vocab_size, num_layers;
  Pooling pooling;
};

EncoderSummary summary(const EncoderConfig& config);

}  // namespace semsearch
