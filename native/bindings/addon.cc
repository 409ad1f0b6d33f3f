// Node-API glue: argument checks on the JS thread, copies of the inputs, and jobs for each
// object's SerialWorker. The models live in models/ and weights/, the matrix in vectors/; the
// TypeScript view of this API is server/model/native.ts.
#include <mlx/backend/cuda/cuda.h>
#include <mlx/backend/metal/metal.h>
#include <mlx/mlx.h>
#include <napi.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "bindings/serial_worker.h"
#include "kernels/blas.h"
#include "kernels/cpu_kernels.h"
#include "models/bert.h"
#include "models/modernbert.h"
#include "vectors/vector_store.h"
#include "weights/weights.h"

namespace semsearch {

namespace {

// Constructors of the wrapped classes, per environment (worker_threads each load the addon).
struct AddonData {
  Napi::FunctionReference native_model;
  Napi::FunctionReference vector_matrix;
};

// Guards NativeModel's constructor: only loadModel() may create one.
int construct_token;

bool gpu_available() { return mx::metal::is_available() || mx::cu::is_available(); }

// Total memory of GPU 0 in bytes, 0 when there is no GPU or this MLX does not say.
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

bool is_typed(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// Return v as an integer if it is a finite number with no fractional part.
std::optional<int64_t> integer(const Napi::Value& v) {
  if (!v.IsNumber()) return std::nullopt;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(d);
}

std::string type_name(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "an Int8Array";
      case napi_uint8_array: return "a Uint8Array";
      case napi_uint8_clamped_array: return "a Uint8ClampedArray";
      case napi_int16_array: return "an Int16Array";
      case napi_uint16_array: return "a Uint16Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      default: return "a typed array";
    }
  }
  if (v.IsArray()) return "an Array";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsFunction()) return "a function";
  return "an object";
}

// "auto" | "cpu" | "gpu" from options.device (undefined → auto). Throws std::runtime_error.
mx::Device choose_device(const Napi::Value& options, const std::string& who) {
  std::string device = "auto";
  if (!options.IsUndefined() && !options.IsNull()) {
    if (!options.IsObject()) throw std::runtime_error(who + ": options must be an object");
    Napi::Value d = options.As<Napi::Object>().Get("device");
    if (!d.IsUndefined()) {
      if (!d.IsString()) throw std::runtime_error(who + ": options.device must be 'auto', 'cpu' or 'gpu'");
      device = d.As<Napi::String>().Utf8Value();
    }
  }
  if (device == "cpu") return mx::Device::cpu;
  if (device == "auto") return gpu_available() ? mx::Device::gpu : mx::Device::cpu;
  if (device == "gpu") {
    if (!gpu_available()) {
      throw std::runtime_error(who + ": device 'gpu' requested, but this MLX build has no usable "
                                     "GPU (Metal or CUDA); use 'cpu' or 'auto'");
    }
    return mx::Device::gpu;
  }
  throw std::runtime_error(who + ": unknown device '" + device + "' (expected 'auto', 'cpu' or 'gpu')");
}

const char* device_name(mx::Device d) { return d == mx::Device::gpu ? "gpu" : "cpu"; }

using EncoderConfig = std::variant<BertConfig, ModernBertConfig>;
using EncoderWeights = std::variant<BertWeights, ModernBertWeights>;

// ModelConfig (see server/model/native.ts) → BertConfig or ModernBertConfig, by config.architecture.
// Errors read "<dir>: <reason>".
EncoderConfig parse_config(const Napi::Value& value, const std::string& dir) {
  auto fail = [&](const std::string& reason) { throw std::runtime_error(dir + ": " + reason); };
  if (!value.IsObject() || value.IsArray()) fail("config must be a ModelConfig object");
  auto obj = value.As<Napi::Object>();
  auto text = [&](const char* key) {
    Napi::Value v = obj.Get(key);
    if (!v.IsString()) fail(std::string("config.") + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  };
  auto positive = [&](const char* key) {
    auto v = integer(obj.Get(key));
    if (!v || *v <= 0 || *v > (1 << 24)) fail(std::string("config.") + key + " must be a positive integer");
    return static_cast<int>(*v);
  };
  auto positive_number = [&](const char* key) {
    Napi::Value v = obj.Get(key);
    if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() > 0) ||
        !std::isfinite(v.As<Napi::Number>().DoubleValue()))
      fail(std::string("config.") + key + " must be a positive number");
    return v.As<Napi::Number>().FloatValue();
  };
  auto boolean = [&](const char* key) {
    Napi::Value v = obj.Get(key);
    if (!v.IsBoolean()) fail(std::string("config.") + key + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  };
  std::string architecture = text("architecture");
  if (architecture != "bert" && architecture != "modernbert") {
    fail("unsupported architecture '" + architecture + "' (supported: bert, modernbert)");
  }
  std::string act = text("hiddenAct");
  if (act != "gelu") fail("unsupported hidden activation '" + act + "' (supported: gelu, the exact erf form)");
  int hidden = positive("hiddenSize"), heads = positive("numHeads");
  if (hidden % heads != 0) {
    fail("config.hiddenSize " + std::to_string(hidden) + " is not a multiple of numHeads " +
         std::to_string(heads));
  }
  std::string pooling_name = text("pooling");
  Pooling pooling = Pooling::mean;
  if (pooling_name == "cls") pooling = Pooling::cls;
  else if (pooling_name != "mean") fail("unsupported pooling '" + pooling_name + "' (supported: cls, mean)");

  if (architecture == "bert") {
    BertConfig c;
    c.hidden_size = hidden;
    c.num_heads = heads;
    c.num_layers = positive("numLayers");
    c.intermediate_size = positive("intermediateSize");
    c.vocab_size = positive("vocabSize");
    c.max_positions = positive("maxPositions");
    c.type_vocab_size = positive("typeVocabSize");
    c.layer_norm_eps = positive_number("layerNormEps");
    c.pooling = pooling;
    return c;
  }
  ModernBertConfig c;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.num_layers = positive("numLayers");
  c.intermediate_size = positive("intermediateSize");
  c.vocab_size = positive("vocabSize");
  c.max_positions = positive("maxPositions");
  c.norm_eps = positive_number("normEps");
  c.norm_bias = boolean("normBias");
  c.attention_bias = boolean("attentionBias");
  c.mlp_bias = boolean("mlpBias");
  c.global_rope_theta = positive_number("globalRopeTheta");
  c.local_rope_theta = positive_number("localRopeTheta");
  c.local_attention = positive("localAttention");
  c.pooling = pooling;
  if ((hidden / heads) % 2 != 0) {
    fail("config.hiddenSize / numHeads = " + std::to_string(hidden / heads) +
         " is odd; rotary embeddings need an even head size");
  }
  Napi::Value types = obj.Get("layerTypes");
  if (!types.IsArray() || types.As<Napi::Array>().Length() != uint32_t(c.num_layers)) {
    fail("config.layerTypes must be an array of numLayers (" + std::to_string(c.num_layers) +
         ") entries 'global' or 'local'");
  }
  auto list = types.As<Napi::Array>();
  for (uint32_t l = 0; l < list.Length(); ++l) {
    Napi::Value t = list.Get(l);
    std::string kind = t.IsString() ? t.As<Napi::String>().Utf8Value() : "";
    if (kind != "global" && kind != "local") {
      fail("config.layerTypes[" + std::to_string(l) + "] must be 'global' or 'local'");
    }
    c.global_layers.push_back(kind == "global");
  }
  return c;
}

// What Info reports, whichever the architecture.
struct EncoderSummary {
  const char* architecture;
  int hidden_size, max_positions, vocab_size, num_layers;
  Pooling pooling;
};

EncoderSummary summary(const EncoderConfig& config) {
  if (const auto* c = std::get_if<BertConfig>(&config)) {
    return {"bert", c->hidden_size, c->max_positions, c->vocab_size, c->num_layers, c->pooling};
  }
  const auto& c = std::get<ModernBertConfig>(config);
  return {"modernbert", c.hidden_size, c.max_positions, c.vocab_size, c.num_layers, c.pooling};
}

// --- NativeModel ----------------------------------------------------------------------------------

// What the worker thread owns; the JS thread reads only the immutable fields.
struct ModelState {
  EncoderConfig config;
  mx::Device device = mx::Device::cpu;
  mx::Dtype dtype = mx::float32;
  std::string path;
  bool fused = true;  // cpu_kernels.h on CPU; false: MLX ops only (reference, benchmarks)
  std::optional<EncoderWeights> weights;  // worker thread only
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod<&NativeModel::Embed>("embed"),
                        InstanceMethod<&NativeModel::Dispose>("dispose"),
                        InstanceAccessor<&NativeModel::Info>("info")});
  }

  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() ||
        info[0].As<Napi::External<int>>().Data() != &construct_token) {
      throw Napi::TypeError::New(info.Env(), "NativeModel: use loadModel(dir, config, options)");
    }
  }

  // loadModel(dir, config, options) → Promise<NativeModel>
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto state = std::make_shared<ModelState>();
    std::string dir;
    try {
      if (!info[0].IsString()) throw std::runtime_error("loadModel: dir must be a string, got " + type_name(info[0]));
      dir = info[0].As<Napi::String>().Utf8Value();
      state->config = parse_config(info[1], dir);
      state->device = choose_device(info[2], dir);
      if (info[2].IsObject()) {
        Napi::Value kernels = info[2].As<Napi::Object>().Get("kernels");
        if (!kernels.IsUndefined()) {
          std::string k = kernels.IsString() ? kernels.As<Napi::String>().Utf8Value() : "";
          if (k != "fused" && k != "mlx") throw std::runtime_error(dir + ": options.kernels must be 'fused' or 'mlx'");
          state->fused = k == "fused";
        }
      }
    } catch (const std::exception& e) {
      return rejected(env, e.what());
    }
    // CPU stays float32: MLX's x86 half-precision matmul is a scalar loop, far slower.
    state->dtype = state->device == mx::Device::gpu ? mx::float16 : mx::float32;
    state->path = dir + (dir.ends_with("/") ? "" : "/") + "model.safetensors";

    auto* data = env.GetInstanceData<AddonData>();
    Napi::Object obj = data->native_model.New({Napi::External<int>::New(env, &construct_token)});
    NativeModel* model = Unwrap(obj);
    model->state_ = state;
    model->worker_ = std::make_unique<SerialWorker>(env, "semsearch:model");
    return model->worker_->submit(env, obj, [state]() -> SerialWorker::Finisher {
      if (const auto* c = std::get_if<BertConfig>(&state->config)) {
        state->weights.emplace(load_bert_weights(state->path, *c, state->dtype, state->device));
      } else {
        state->weights.emplace(load_modernbert_weights(
            state->path, std::get<ModernBertConfig>(state->config), state->dtype, state->device));
      }
      return [](Napi::Env, Napi::Object owner) -> Napi::Value { return owner; };
    });
  }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EncoderSummary c = summary(state_->config);
    auto out = Napi::Object::New(env);
    out.Set("architecture", c.architecture);
    out.Set("device", device_name(state_->device));
    out.Set("dtype", state_->dtype == mx::float16 ? "float16" : "float32");
    out.Set("dim", c.hidden_size);
    out.Set("maxPositions", c.max_positions);
    out.Set("vocabSize", c.vocab_size);
    out.Set("numLayers", c.num_layers);
    out.Set("pooling", c.pooling == Pooling::cls ? "cls" : "mean");
    out.Set("path", state_->path);
    out.Set("kernels", state_->fused && state_->device == mx::Device::cpu ? "fused" : "mlx");
    out.Set("disposed", disposed_);
    return out;
  }

  // embed(ids: Int32Array, lengths: Int32Array, seqLen: number) → Promise<Float32Array>
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EncoderSummary c = summary(state_->config);
    if (disposed_) return rejected(env, "embed: model is disposed");
    if (!is_typed(info[0], napi_int32_array))
      return rejected(env, "embed: ids must be an Int32Array, got " + type_name(info[0]));
    if (!is_typed(info[1], napi_int32_array))
      return rejected(env, "embed: lengths must be an Int32Array, got " + type_name(info[1]));
    auto seq = integer(info[2]);
    if (!seq || *seq < 1) return rejected(env, "embed: seqLen must be a positive integer");
    if (*seq > c.max_positions) {
      return rejected(env, "embed: seqLen " + std::to_string(*seq) + " exceeds the model's maxPositions " +
                               std::to_string(c.max_positions));
    }
    auto ids = info[0].As<Napi::Int32Array>();
    auto lengths = info[1].As<Napi::Int32Array>();
    int batch = static_cast<int>(lengths.ElementLength());
    int len = static_cast<int>(*seq);
    if (batch == 0) return rejected(env, "embed: empty batch");
    if (ids.ElementLength() != size_t(batch) * len) {
      return rejected(env, "embed: ids has " + std::to_string(ids.ElementLength()) +
                               " elements, expected batch × seqLen = " + std::to_string(batch) + " × " +
                               std::to_string(len) + " = " + std::to_string(size_t(batch) * len));
    }
    for (int b = 0; b < batch; ++b) {
      if (lengths[b] < 1 || lengths[b] > len) {
        return rejected(env, "embed: lengths[" + std::to_string(b) + "] is " + std::to_string(lengths[b]) +
                                 "; each row needs 1.." + std::to_string(len) + " tokens");
      }
    }
    // Copy before leaving the JS thread: the caller may reuse its arrays at once.
    std::vector<int32_t> id_copy(ids.Data(), ids.Data() + ids.ElementLength());
    for (size_t i = 0; i < id_copy.size(); ++i) {
      if (id_copy[i] < 0 || id_copy[i] >= c.vocab_size) {
        return rejected(env, "embed: ids[" + std::to_string(i) + "] = " + std::to_string(id_copy[i]) +
                                 " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      }
    }
    std::vector<int32_t> length_copy(lengths.Data(), lengths.Data() + batch);
    auto state = state_;
    return worker_->submit(env, Value(), [state, id_copy = std::move(id_copy),
                                          length_copy = std::move(length_copy), batch,
                                          len]() -> SerialWorker::Finisher {
      if (!state->weights) throw std::runtime_error("embed: model is disposed");
      mx::array ids_array(id_copy.begin(), {batch, len}, mx::int32);
      mx::array lengths_array(length_copy.begin(), {batch}, mx::int32);
      std::vector<float> host;
      try {
        auto out = std::holds_alternative<BertWeights>(*state->weights)
                       ? bert_embed(std::get<BertConfig>(state->config),
                                    std::get<BertWeights>(*state->weights), ids_array,
                                    lengths_array, state->device, state->fused)
                       : modernbert_embed(std::get<ModernBertConfig>(state->config),
                                          std::get<ModernBertWeights>(*state->weights), ids_array,
                                          lengths_array, state->device, state->fused);
        host.assign(out.data<float>(), out.data<float>() + out.size());
      } catch (const std::exception& e) {
        throw std::runtime_error(std::string("embed: ") + e.what());
      }
      return [host = std::move(host)](Napi::Env env, Napi::Object) -> Napi::Value {
        auto result = Napi::Float32Array::New(env, host.size());
        std::memcpy(result.Data(), host.data(), host.size() * sizeof(float));
        return result;
      };
    });
  }

  // dispose() → Promise<void>: frees the weights once the jobs queued before it have run.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_) {
      auto done = Napi::Promise::Deferred::New(env);
      done.Resolve(env.Undefined());
      return done.Promise();
    }
    disposed_ = true;
    auto state = state_;
    return worker_->submit(env, Value(), [state]() -> SerialWorker::Finisher {
      state->weights.reset();
      mx::clear_cache();
      return [](Napi::Env env, Napi::Object) -> Napi::Value { return env.Undefined(); };
    });
  }

  std::shared_ptr<ModelState> state_;
  std::unique_ptr<SerialWorker> worker_;
  bool disposed_ = false;
};

// --- VectorMatrix ---------------------------------------------------------------------------------

class VectorMatrix : public Napi::ObjectWrap<VectorMatrix> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VectorMatrix",
                       {InstanceMethod<&VectorMatrix::Add>("add"),
                        InstanceMethod<&VectorMatrix::Remove>("remove"),
                        InstanceMethod<&VectorMatrix::Has>("has"),
                        InstanceMethod<&VectorMatrix::TopK>("topK"),
                        InstanceMethod<&VectorMatrix::Dispose>("dispose"),
                        InstanceAccessor<&VectorMatrix::Size>("size"),
                        InstanceAccessor<&VectorMatrix::Dim>("dim"),
                        InstanceAccessor<&VectorMatrix::DeviceName>("device")});
  }

  // new VectorMatrix(dim, options?: {device})
  explicit VectorMatrix(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorMatrix>(info) {
    Napi::Env env = info.Env();
    auto dim = integer(info[0]);
    if (!dim || *dim < 1 || *dim > 65536)
      throw Napi::TypeError::New(env, "VectorMatrix: dim must be an integer in [1, 65536]");
    dim_ = static_cast<int>(*dim);
    mx::Device device = mx::Device::cpu;
    try {
      device = choose_device(info[1], "VectorMatrix");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    device_ = device;
    store_ = std::make_shared<VectorStore>(dim_, device);
    worker_ = std::make_unique<SerialWorker>(env, "semsearch:matrix");
  }

 private:
  void check_usable(Napi::Env env, const char* what) const {
    if (disposed_) throw Napi::Error::New(env, std::string("VectorMatrix.") + what + ": matrix is disposed");
  }

  // add(ids: Int32Array, vectors: Float32Array /* n × dim */): void. An id already present is
  // replaced; within one call the last occurrence of an id wins.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "add");
    if (!is_typed(info[0], napi_int32_array))
      throw Napi::TypeError::New(env, "VectorMatrix.add: ids must be an Int32Array, got " + type_name(info[0]));
    if (!is_typed(info[1], napi_float32_array))
      throw Napi::TypeError::New(env, "VectorMatrix.add: vectors must be a Float32Array, got " + type_name(info[1]));
    auto ids = info[0].As<Napi::Int32Array>();
    auto vectors = info[1].As<Napi::Float32Array>();
    size_t n = ids.ElementLength();
    if (vectors.ElementLength() != n * dim_) {
      throw Napi::Error::New(env, "VectorMatrix.add: vectors has " + std::to_string(vectors.ElementLength()) +
                                      " elements, expected ids.length × dim = " + std::to_string(n) + " × " +
                                      std::to_string(dim_));
    }
    for (size_t i = 0; i < n; ++i) {
      if (ids[i] < 0) {
        throw Napi::Error::New(env, "VectorMatrix.add: ids[" + std::to_string(i) + "] is " +
                                        std::to_string(ids[i]) + "; ids must be >= 0");
      }
    }
    if (id_of_.size() + n > size_t(std::numeric_limits<int32_t>::max() / 2))
      throw Napi::Error::New(env, "VectorMatrix.add: too many rows");
    if (n == 0) return env.Undefined();
    std::unordered_map<int32_t, size_t> slot_of_row;  // row → index in the job, for last-wins
    std::vector<int32_t> rows, row_ids;
    std::vector<float> data;
    rows.reserve(n);
    row_ids.reserve(n);
    data.reserve(n * dim_);
    const float* src = vectors.Data();
    for (size_t i = 0; i < n; ++i) {
      int32_t id = ids[i];
      auto [it, fresh] = row_of_.try_emplace(id, static_cast<int32_t>(id_of_.size()));
      if (fresh) id_of_.push_back(id);
      int32_t row = it->second;
      auto [slot, new_slot] = slot_of_row.try_emplace(row, rows.size());
      if (new_slot) {
        rows.push_back(row);
        row_ids.push_back(id);
        data.insert(data.end(), src + i * dim_, src + (i + 1) * dim_);
      } else {
        std::memcpy(data.data() + slot->second * dim_, src + i * dim_, dim_ * sizeof(float));
      }
    }
    auto count = static_cast<int32_t>(id_of_.size());
    worker_->post([store = store_, rows = std::move(rows), row_ids = std::move(row_ids),
                   data = std::move(data), count] { store->write(rows, row_ids, data, count); });
    return env.Undefined();
  }

  // remove(ids: Int32Array): number of ids that were present. Swap-remove: the last row moves
  // into the hole, so the live rows stay dense.
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "remove");
    if (!is_typed(info[0], napi_int32_array))
      throw Napi::TypeError::New(env, "VectorMatrix.remove: ids must be an Int32Array, got " + type_name(info[0]));
    auto ids = info[0].As<Napi::Int32Array>();
    // For each row that must change: the row (as of before this call) whose vector it receives.
    std::unordered_map<int32_t, int32_t> origin;
    int removed = 0;
    for (size_t i = 0; i < ids.ElementLength(); ++i) {
      auto it = row_of_.find(ids[i]);
      if (it == row_of_.end()) continue;
      int32_t row = it->second, last = static_cast<int32_t>(id_of_.size()) - 1;
      row_of_.erase(it);
      if (row != last) {
        int32_t moved = id_of_[last];
        id_of_[row] = moved;
        row_of_[moved] = row;
        auto o = origin.find(last);
        origin[row] = o == origin.end() ? last : o->second;
      }
      origin.erase(last);
      id_of_.pop_back();
      ++removed;
    }
    if (removed > 0) {
      std::vector<int32_t> from, to;
      for (auto [dst, src] : origin) {
        to.push_back(dst);
        from.push_back(src);
      }
      auto count = static_cast<int32_t>(id_of_.size());
      worker_->post([store = store_, from = std::move(from), to = std::move(to), count] {
        store->move(from, to, count);
      });
    }
    return Napi::Number::New(env, removed);
  }

  Napi::Value Has(const Napi::CallbackInfo& info) {
    auto id = integer(info[0]);
    return Napi::Boolean::New(info.Env(), id && row_of_.count(static_cast<int32_t>(*id)) > 0);
  }

  // topK(queries: Float32Array /* q × dim */, k) → Promise<{ids: Int32Array, scores: Float32Array}>,
  // each q × k, best first by dot product; id -1 / score -Infinity pad rows beyond size.
  Napi::Value TopK(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_) return rejected(env, "VectorMatrix.topK: matrix is disposed");
    if (!is_typed(info[0], napi_float32_array))
      return rejected(env, "VectorMatrix.topK: queries must be a Float32Array, got " + type_name(info[0]));
    auto queries = info[0].As<Napi::Float32Array>();
    size_t n = queries.ElementLength();
    if (n == 0 || n % dim_ != 0) {
      return rejected(env, "VectorMatrix.topK: queries has " + std::to_string(n) +
                               " elements, expected a positive multiple of dim " + std::to_string(dim_));
    }
    auto k = integer(info[1]);
    size_t q = n / dim_;
    if (!k || *k < 0 || size_t(*k) * q > (size_t(1) << 28))
      return rejected(env, "VectorMatrix.topK: k must be a non-negative integer (and k × queries ≤ 2^28)");
    std::vector<float> copy(queries.Data(), queries.Data() + n);
    auto kk = static_cast<int32_t>(*k);
    return worker_->submit(env, Value(), [store = store_, copy = std::move(copy), kk]() -> SerialWorker::Finisher {
      auto result = std::make_shared<VectorStore::TopK>(store->top_k(copy, kk));
      return [result](Napi::Env env, Napi::Object) -> Napi::Value {
        auto ids = Napi::Int32Array::New(env, result->ids.size());
        auto scores = Napi::Float32Array::New(env, result->scores.size());
        std::memcpy(ids.Data(), result->ids.data(), result->ids.size() * sizeof(int32_t));
        std::memcpy(scores.Data(), result->scores.data(), result->scores.size() * sizeof(float));
        auto out = Napi::Object::New(env);
        out.Set("ids", ids);
        out.Set("scores", scores);
        return out;
      };
    });
  }

  // dispose(): frees the matrix (after queued work); later calls throw or reject.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (!disposed_) {
      disposed_ = true;
      row_of_ = {};
      id_of_ = {};
      worker_->post([store = store_] { store->release(); });
    }
    return info.Env().Undefined();
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(id_of_.size()));
  }
  Napi::Value Dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), dim_); }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), device_name(device_));
  }

  int dim_ = 0;
  mx::Device device_ = mx::Device::cpu;
  // JS-thread bookkeeping; the worker mirrors row → id inside VectorStore.
  std::unordered_map<int32_t, int32_t> row_of_;  // id → row
  std::vector<int32_t> id_of_;                   // row → id
  std::shared_ptr<VectorStore> store_;
  std::unique_ptr<SerialWorker> worker_;
  bool disposed_ = false;
};

// --- module functions -----------------------------------------------------------------------------

// sgemmGflops(n): best GFLOP/s of an n×n×n float32 matmul through MLX on the CPU. Blocks the
// calling thread for about a second; meant for benchmarks and `semsearch status`.
Napi::Value SgemmGflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto n = integer(info[0]);
  if (!n || *n < 16 || *n > 8192) throw Napi::TypeError::New(env, "sgemmGflops: n must be an integer in [16, 8192]");
  try {
    return Napi::Number::New(env, sgemm_gflops(static_cast<int>(*n)));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("sgemmGflops: ") + e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // MLX keeps freed buffers for reuse without bound by default; after a long indexing run that
  // held the process at ~1.2 GB. A batch's activations fit in this, so reuse still works.
  mx::set_cache_limit(size_t{256} << 20);
  auto* data = new AddonData;
  env.SetInstanceData<AddonData>(data);
  Napi::Function model = NativeModel::Define(env);
  Napi::Function matrix = VectorMatrix::Define(env);
  data->native_model = Napi::Persistent(model);
  data->vector_matrix = Napi::Persistent(matrix);

  exports.Set("loadModel", Napi::Function::New<&NativeModel::Load>(env, "loadModel"));
  exports.Set("NativeModel", model);
  exports.Set("VectorMatrix", matrix);
  exports.Set("sgemmGflops", Napi::Function::New<&SgemmGflops>(env, "sgemmGflops"));
  exports.Set("mlxVersion", Napi::String::New(env, mx::version()));
  exports.Set("gpuAvailable", Napi::Boolean::New(env, gpu_available()));
  exports.Set("gpuMemory", Napi::Number::New(env, gpu_memory_bytes()));
  exports.Set("cpuThreads", Napi::Number::New(env, cpu_kernel_threads()));
  exports.Set("cpuVectorScan", Napi::String::New(env, HalfScan::available() ? "float16" : "float32"));
  BlasInfo blas = blas_info();
  auto blas_obj = Napi::Object::New(env);
  blas_obj.Set("library", blas.library);
  blas_obj.Set("config", blas.config);
  blas_obj.Set("threads", blas.threads);
  exports.Set("blas", blas_obj);
  return exports;
}

}  // namespace

}  // namespace semsearch

static Napi::Object InitSemsearch(Napi::Env env, Napi::Object exports) {
  return semsearch::Init(env, exports);
}

NODE_API_MODULE(semsearch, InitSemsearch)
