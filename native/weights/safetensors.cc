#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "weights/json.h"

namespace semsearch {

void fail(const std::string& path, const std::string& reason) {
  throw std::runtime_error(path + ": " + reason);
}

namespace {

// Bytes per element for the safetensors dtypes we can size; 0 for ones we cannot.
size_t dtype_size(const std::string& dtype) {
  static const std::unordered_map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

void read_exact(int fd, const std::string& path, void* dst, uint64_t size, uint64_t offset) {
  auto* out = static_cast<char*>(dst);
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) fail(path, "file is truncated (it changed while being read?)");
    out += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

// One header member → its entry, checked against the data section's size.
TensorEntry parse_entry(const std::string& path, const std::string& name, const Json& value,
                        uint64_t data_size) {
  auto bad = [&](const std::string& what) {
    fail(path, "invalid safetensors header: tensor " + name + ": " + what);
  };
  if (value.kind != Json::Kind::object) bad("not an object");
  TensorEntry entry;
  const Json* offsets = nullptr;
  bool has_dtype = false, has_shape = false;
  for (auto& [key, field] : value.members) {
    if (key == "dtype") {
      if (field.kind != Json::Kind::string) bad("dtype is not a string");
      entry.dtype = field.string;
      has_dtype = true;
    } else if (key == "shape") {
      if (field.kind != Json::Kind::array) bad("shape is not an array");
      for (auto& dim : field.items) {
        if (!dim.integer || *dim.integer > (1ull << 40)) bad("shape holds a non-integer");
        entry.shape.push_back(static_cast<int64_t>(*dim.integer));
      }
      has_shape = true;
    } else if (key == "data_offsets") {
      offsets = &field;
    }
  }
  if (!has_dtype || !has_shape || !offsets) bad("needs dtype, shape and data_offsets");
  if (offsets->kind != Json::Kind::array || offsets->items.size() != 2 ||
      !offsets->items[0].integer || !offsets->items[1].integer)
    bad("data_offsets is not [begin, end]");
  entry.begin = *offsets->items[0].integer;
  entry.end = *offsets->items[1].integer;
  if (entry.begin > entry.end) bad("data_offsets begin after end");
  if (entry.end > data_size) {
    fail(path, "file is truncated: tensor " + name + " needs bytes [" +
                   std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                   ") of the data section, which holds only " + std::to_string(data_size));
  }
  if (size_t item = dtype_size(entry.dtype)) {
    uint64_t count = 1;
    for (int64_t d : entry.shape) count *= static_cast<uint64_t>(d);
    if (count * item != entry.end - entry.begin) {
      bad("data_offsets span " + std::to_string(entry.end - entry.begin) + " bytes, but " +
          entry.dtype + " " + shape_string(entry.shape) + " needs " + std::to_string(count * item));
    }
  }
  return entry;
}

}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  file_ = FileHandle(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file_) fail(path, std::strerror(errno));
  struct stat st;
  if (::fstat(file_.get(), &st) != 0) fail(path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::string header = read_header(file_size);
  uint64_t data_size = file_size - data_start_;

  Json root;
  try {
    root = parse_json(header);
  } catch (const std::exception& e) {
    fail(path, std::string("invalid safetensors header: ") + e.what());
  }
  if (root.kind != Json::Kind::object) fail(path, "invalid safetensors header: not an object");
  for (auto& [name, value] : root.members) {
    if (name == "__metadata__") continue;
    if (!tensors_.emplace(name, parse_entry(path, name, value, data_size)).second) {
      fail(path, "invalid safetensors header: tensor " + name + ": listed twice");
    }
  }
}

std::string SafetensorsFile::read_header(uint64_t file_size) {
  if (file_size < 8) {
    fail(path_, "file is truncated or not safetensors: " + std::to_string(file_size) +
                    " bytes, less than the 8-byte header length");
  }
  unsigned char prefix[8];
  read_exact(file_.get(), path_, prefix, 8, 0);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | prefix[i];  // little-endian
  if (header_size > file_size - 8) {
    fail(path_, "file is truncated or not safetensors: header claims " +
                    std::to_string(header_size) + " bytes but only " +
                    std::to_string(file_size - 8) + " follow");
  }
  if (header_size > (100u << 20)) fail(path_, "safetensors header larger than 100 MB");
  std::string header(header_size, '\0');
  read_exact(file_.get(), path_, header.data(), header_size, 8);
  data_start_ = 8 + header_size;
  return header;
}

mx::array SafetensorsFile::read(const std::string& name) const {
  const TensorEntry& entry = tensors_.at(name);
  mx::Dtype dtype = mx::float32;
  if (entry.dtype == "F32") dtype = mx::float32;
  else if (entry.dtype == "F16") dtype = mx::float16;
  else if (entry.dtype == "BF16") dtype = mx::bfloat16;
  else fail(path_, "tensor " + name + " has dtype " + entry.dtype + ", expected F32, F16 or BF16");
  uint64_t bytes = entry.end - entry.begin;
  void* buffer = std::malloc(bytes ? bytes : 1);
  if (!buffer) fail(path_, "out of memory reading tensor " + name);
  try {
    read_exact(file_.get(), path_, buffer, bytes, data_start_ + entry.begin);
  } catch (...) {
    std::free(buffer);
    throw;
  }
  mx::Shape shape(entry.shape.begin(), entry.shape.end());
  // MLX adopts the buffer (no copy on CPU) and frees it when the array goes.
  return mx::array(buffer, shape, dtype, [](void* p) { std::free(p); });
}

}  // namespace semsearch
