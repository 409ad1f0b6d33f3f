// Checks of JS argument values on the JS thread, and the words error messages use for them.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

namespace semsearch {

// Whether v is a typed array of `type`.
bool is_typed(const Napi::Value& v, napi_typedarray_type type);

// Return v as an integer if it is a finite number with no fractional part.
std::optional<int64_t> integer(const Napi::Value& v);

// What v is, for messages: "an Array", "a Float32Array", "undefined", ...
std::string type_name(const Napi::Value& v);

}  // namespace semsearch
