// A strict JSON reader, just enough for a safetensors header: objects keep their members in
// order, and integers are kept exactly (up to 2^64 - 1) where the text has no '.', 'e' or sign.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace semsearch {

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  std::optional<uint64_t> integer;  // set for non-negative integers written without '.', 'e'
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

// Parse one JSON document (at most 16 levels deep). Throws std::runtime_error("<what> at byte N").
Json parse_json(std::string_view text);

}  // namespace semsearch
