// What the addon keeps per Node environment (the main thread and each worker_thread load it
// separately): the constructors of its wrapped classes.
#pragma once

#include <napi.h>

namespace semsearch {

struct AddonData {
  Napi::FunctionReference native_model;
  Napi::FunctionReference vector_matrix;
};

}  // namespace semsearch
