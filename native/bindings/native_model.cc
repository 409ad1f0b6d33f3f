#include "bindings/native_model.h"

#include <mlx/mlx.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "bindings/addon_data.h"
#include "bindings/args.h"
#include "bindings/device.h"
#include "bindings/model_config.h"
#include "kernels/cpu_kernels.h"
#include "kernels/thread_pool.h"
#include "weights/weights.h"

namespace semsearch {

using EncoderWeights = std::variant<BertWeights, ModernBertWeights>;

// A model's settings, fixed before its worker starts, and its hold on the weights.
struct ModelState {
  EncoderConfig config;
  mx::Device device = mx::Device::cpu;
  mx::Dtype dtype = mx::float32;
  std::string path;
  bool fused = true;  // kernels/cpu_kernels.h on CPU; false: MLX ops only (reference, benchmarks)
  int threads = 0;  // most threads of the fused kernels (a ThreadCap); 0: the whole pool

  // Set by the load job, dropped by dispose(), taken by every embed job and by shareWeights()
  // on the JS thread. The arrays are evaluated and settled at load (weights/checkpoint.h), so
  // several models' workers read them at once without writing to them.
  std::shared_ptr<const EncoderWeights> weights() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return weights_;
  }
  void set_weights(std::shared_ptr<const EncoderWeights> weights) {
    std::lock_guard<std::mutex> lock(mutex_);
    weights_ = std::move(weights);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const EncoderWeights> weights_;
};

namespace {

// Guards NativeModel's constructor: only loadModel() may create one.
int construct_token;

// options.kernels: 'fused' (default) or 'mlx'.
bool fused_kernels(const Napi::Value& options, const std::string& dir) {
  if (!options.IsObject()) return true;
  Napi::Value kernels = options.As<Napi::Object>().Get("kernels");
  if (kernels.IsUndefined()) return true;
  std::string k = kernels.IsString() ? kernels.As<Napi::String>().Utf8Value() : "";
  if (k != "fused" && k != "mlx")
    throw std::runtime_error(dir + ": options.kernels must be 'fused' or 'mlx'");
  return k == "fused";
}

// options.threads: an integer in [1, 1024], or undefined (0: the whole pool). `fallback` when
// undefined.
int thread_option(const Napi::Value& options, const std::string& who, int fallback) {
  if (!options.IsObject()) return fallback;
  Napi::Value threads = options.As<Napi::Object>().Get("threads");
  if (threads.IsUndefined()) return fallback;
  auto n = integer(threads);
  if (!n || *n < 1 || *n > 1024)
    throw std::runtime_error(who + ": options.threads must be an integer in [1, 1024]");
  return static_cast<int>(*n);
}

// embed()'s arguments, checked and copied (the caller may reuse its arrays at once).
struct EmbedInput {
  std::vector<int32_t> ids, lengths;
  int batch = 0, len = 0;
};

// Throws std::runtime_error with the message the Promise rejects with.
EmbedInput embed_input(const Napi::CallbackInfo& info, const EncoderSummary& c) {
  auto fail = [](const std::string& message) { throw std::runtime_error(message); };
  if (!is_typed(info[0], napi_int32_array))
    fail("embed: ids must be an Int32Array, got " + type_name(info[0]));
  if (!is_typed(info[1], napi_int32_array))
    fail("embed: lengths must be an Int32Array, got " + type_name(info[1]));
  auto seq = integer(info[2]);
  if (!seq || *seq < 1) fail("embed: seqLen must be a positive integer");
  if (*seq > c.max_positions) {
    fail("embed: seqLen " + std::to_string(*seq) + " exceeds the model's maxPositions " +
         std::to_string(c.max_positions));
  }
  auto ids = info[0].As<Napi::Int32Array>();
  auto lengths = info[1].As<Napi::Int32Array>();
  EmbedInput in;
  in.batch = static_cast<int>(lengths.ElementLength());
  in.len = static_cast<int>(*seq);
  if (in.batch == 0) fail("embed: empty batch");
  size_t expected = size_t(in.batch) * in.len;
  if (ids.ElementLength() != expected) {
    fail("embed: ids has " + std::to_string(ids.ElementLength()) +
         " elements, expected batch × seqLen = " + std::to_string(in.batch) + " × " +
         std::to_string(in.len) + " = " + std::to_string(expected));
  }
  for (int b = 0; b < in.batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > in.len) {
      fail("embed: lengths[" + std::to_string(b) + "] is " + std::to_string(lengths[b]) +
           "; each row needs 1.." + std::to_string(in.len) + " tokens");
    }
  }
  in.ids.assign(ids.Data(), ids.Data() + ids.ElementLength());
  for (size_t i = 0; i < in.ids.size(); ++i) {
    if (in.ids[i] < 0 || in.ids[i] >= c.vocab_size) {
      fail("embed: ids[" + std::to_string(i) + "] = " + std::to_string(in.ids[i]) +
           " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
  }
  in.lengths.assign(lengths.Data(), lengths.Data() + in.batch);
  return in;
}

// Worker thread: the pooled vectors of one checked batch, copied to the host.
std::vector<float> run_embed(const ModelState& state, const EmbedInput& in) {
  std::shared_ptr<const EncoderWeights> weights = state.weights();
  if (!weights) throw std::runtime_error("embed: model is disposed");
  // The fused kernels take the cap from this thread (kernels/thread_pool.h).
  ThreadCap cap(state.threads);
  mx::array ids(in.ids.begin(), {in.batch, in.len}, mx::int32);
  mx::array lengths(in.lengths.begin(), {in.batch}, mx::int32);
  try {
    auto out = std::holds_alternative<BertWeights>(*weights)
                   ? bert_embed(std::get<BertConfig>(state.config), std::get<BertWeights>(*weights),
                                ids, lengths, state.device, state.fused)
                   : modernbert_embed(std::get<ModernBertConfig>(state.config),
                                      std::get<ModernBertWeights>(*weights), ids, lengths,
                                      state.device, state.fused);
    return std::vector<float>(out.data<float>(), out.data<float>() + out.size());
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("embed: ") + e.what());
  }
}

}  // namespace

Napi::Function NativeModel::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceMethod<&NativeModel::Embed>("embed"),
                      InstanceMethod<&NativeModel::Dispose>("dispose"),
                      InstanceMethod<&NativeModel::ShareWeights>("shareWeights"),
                      InstanceAccessor<&NativeModel::Info>("info")});
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() ||
      info[0].As<Napi::External<int>>().Data() != &construct_token) {
    throw Napi::TypeError::New(info.Env(), "NativeModel: use loadModel(dir, config, options)");
  }
}

Napi::Value NativeModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto state = std::make_shared<ModelState>();
  std::string dir;
  try {
    if (!info[0].IsString())
      throw std::runtime_error("loadModel: dir must be a string, got " + type_name(info[0]));
    dir = info[0].As<Napi::String>().Utf8Value();
    state->config = parse_config(info[1], dir);
    state->device = choose_device(info[2], dir);
    state->fused = fused_kernels(info[2], dir);
    state->threads = thread_option(info[2], dir, 0);
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
      state->set_weights(std::make_shared<const EncoderWeights>(
          load_bert_weights(state->path, *c, state->dtype, state->device)));
    } else {
      state->set_weights(std::make_shared<const EncoderWeights>(load_modernbert_weights(
          state->path, std::get<ModernBertConfig>(state->config), state->dtype, state->device)));
    }
    // The fused path's matrix products set OpenBLAS to one thread for the process (see
    // kernels/linear.cc): now, rather than in the middle of another model's first batch.
    if (state->fused && state->device == mx::Device::cpu) fused_linear_available();
    return [](Napi::Env, Napi::Object owner) -> Napi::Value { return owner; };
  });
}

Napi::Value NativeModel::Info(const Napi::CallbackInfo& info) {
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
  int pool = cpu_kernel_threads();
  out.Set("threads", state_->threads > 0 ? std::min(state_->threads, pool) : pool);
  out.Set("disposed", disposed_);
  return out;
}

Napi::Value NativeModel::Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) return rejected(env, "embed: model is disposed");
  auto input = std::make_shared<EmbedInput>();
  try {
    *input = embed_input(info, summary(state_->config));
  } catch (const std::exception& e) {
    return rejected(env, e.what());
  }
  return worker_->submit(env, Value(), [state = state_, input]() -> SerialWorker::Finisher {
    std::vector<float> host = run_embed(*state, *input);
    return [host = std::move(host)](Napi::Env env, Napi::Object) -> Napi::Value {
      auto result = Napi::Float32Array::New(env, host.size());
      std::memcpy(result.Data(), host.data(), host.size() * sizeof(float));
      return result;
    };
  });
}

Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  disposed_ = true;
  auto state = state_;
  return worker_->submit(env, Value(), [state]() -> SerialWorker::Finisher {
    state->set_weights(nullptr);  // the last model holding them frees them
    mx::clear_cache();
    return [](Napi::Env env, Napi::Object) -> Napi::Value { return env.Undefined(); };
  });
}

Napi::Value NativeModel::ShareWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw Napi::Error::New(env, "shareWeights: model is disposed");
  auto weights = state_->weights();
  if (!weights) throw Napi::Error::New(env, "shareWeights: model is not loaded");
  auto state = std::make_shared<ModelState>();
  try {
    state->threads = thread_option(info[0], "shareWeights", state_->threads);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, e.what());
  }
  state->config = state_->config;
  state->device = state_->device;
  state->dtype = state_->dtype;
  state->path = state_->path;
  state->fused = state_->fused;
  state->set_weights(std::move(weights));

  auto* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->native_model.New({Napi::External<int>::New(env, &construct_token)});
  NativeModel* model = Unwrap(obj);
  model->state_ = state;
  model->worker_ = std::make_unique<SerialWorker>(env, "semsearch:model");
  return obj;
}

}  // namespace semsearch
