#include "bindings/vector_matrix.h"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "bindings/args.h"
#include "bindings/device.h"

namespace semsearch {

Napi::Function VectorMatrix::Define(Napi::Env env) {
  return DefineClass(
      env, "VectorMatrix",
      {InstanceMethod<&VectorMatrix::Add>("add"), InstanceMethod<&VectorMatrix::Remove>("remove"),
       InstanceMethod<&VectorMatrix::Has>("has"), InstanceMethod<&VectorMatrix::TopK>("topK"),
       InstanceMethod<&VectorMatrix::Dispose>("dispose"),
       InstanceAccessor<&VectorMatrix::Size>("size"), InstanceAccessor<&VectorMatrix::Dim>("dim"),
       InstanceAccessor<&VectorMatrix::DeviceName>("device")});
}

VectorMatrix::VectorMatrix(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorMatrix>(info) {
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

void VectorMatrix::check_usable(Napi::Env env, const char* what) const {
  if (disposed_)
    throw Napi::Error::New(env, std::string("VectorMatrix.") + what + ": matrix is disposed");
}

Napi::Value VectorMatrix::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env, "add");
  if (!is_typed(info[0], napi_int32_array))
    throw Napi::TypeError::New(
        env, "VectorMatrix.add: ids must be an Int32Array, got " + type_name(info[0]));
  if (!is_typed(info[1], napi_float32_array))
    throw Napi::TypeError::New(
        env, "VectorMatrix.add: vectors must be a Float32Array, got " + type_name(info[1]));
  auto ids = info[0].As<Napi::Int32Array>();
  auto vectors = info[1].As<Napi::Float32Array>();
  size_t n = ids.ElementLength();
  if (vectors.ElementLength() != n * dim_) {
    throw Napi::Error::New(env, "VectorMatrix.add: vectors has " +
                                    std::to_string(vectors.ElementLength()) +
                                    " elements, expected ids.length × dim = " + std::to_string(n) +
                                    " × " + std::to_string(dim_));
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

Napi::Value VectorMatrix::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env, "remove");
  if (!is_typed(info[0], napi_int32_array))
    throw Napi::TypeError::New(
        env, "VectorMatrix.remove: ids must be an Int32Array, got " + type_name(info[0]));
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

Napi::Value VectorMatrix::Has(const Napi::CallbackInfo& info) {
  auto id = integer(info[0]);
  return Napi::Boolean::New(info.Env(), id && row_of_.count(static_cast<int32_t>(*id)) > 0);
}

Napi::Value VectorMatrix::TopK(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) return rejected(env, "VectorMatrix.topK: matrix is disposed");
  if (!is_typed(info[0], napi_float32_array))
    return rejected(env,
                    "VectorMatrix.topK: queries must be a Float32Array, got " + type_name(info[0]));
  auto queries = info[0].As<Napi::Float32Array>();
  size_t n = queries.ElementLength();
  if (n == 0 || n % dim_ != 0) {
    return rejected(env, "VectorMatrix.topK: queries has " + std::to_string(n) +
                             " elements, expected a positive multiple of dim " +
                             std::to_string(dim_));
  }
  auto k = integer(info[1]);
  size_t q = n / dim_;
  if (!k || *k < 0 || size_t(*k) * q > (size_t(1) << 28))
    return rejected(env,
                    "VectorMatrix.topK: k must be a non-negative integer (and k × queries ≤ 2^28)");
  std::vector<float> copy(queries.Data(), queries.Data() + n);
  auto kk = static_cast<int32_t>(*k);
  return worker_->submit(
      env, Value(), [store = store_, copy = std::move(copy), kk]() -> SerialWorker::Finisher {
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

Napi::Value VectorMatrix::Dispose(const Napi::CallbackInfo& info) {
  if (!disposed_) {
    disposed_ = true;
    row_of_ = {};
    id_of_ = {};
    worker_->post([store = store_] { store->release(); });
  }
  return info.Env().Undefined();
}

Napi::Value VectorMatrix::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(id_of_.size()));
}

Napi::Value VectorMatrix::Dim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dim_);
}

Napi::Value VectorMatrix::DeviceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), device_name(device_));
}

}  // namespace semsearch
