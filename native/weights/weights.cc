#include "weights/weights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace semsearch {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw std::runtime_error(path + ": " + reason);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// --- a strict JSON reader, just enough for a safetensors header ---------------------------------

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  std::optional<uint64_t> integer;  // set for non-negative integers written without '.', 'e'
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  Json document() {
    Json value = parse(0);
    skip_space();
    if (pos_ != text_.size()) error("unexpected data after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("invalid safetensors header: " + what + " at byte " +
                             std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) error(std::string("expected '") + c + "'");
  }

  Json parse(int depth) {
    if (depth > 16) error("nesting too deep");
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end");
    Json value;
    char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      value.kind = Json::Kind::object;
      if (take('}')) return value;
      do {
        skip_space();
        std::string key = parse_string();
        expect(':');
        value.members.emplace_back(std::move(key), parse(depth + 1));
      } while (take(','));
      expect('}');
    } else if (c == '[') {
      ++pos_;
      value.kind = Json::Kind::array;
      if (take(']')) return value;
      do value.items.push_back(parse(depth + 1));
      while (take(','));
      expect(']');
    } else if (c == '"') {
      value.kind = Json::Kind::string;
      value.string = parse_string();
    } else if (text_.substr(pos_, 4) == "true" || text_.substr(pos_, 5) == "false") {
      value.kind = Json::Kind::boolean;
      value.boolean = c == 't';
      pos_ += value.boolean ? 4 : 5;
    } else if (text_.substr(pos_, 4) == "null") {
      pos_ += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = Json::Kind::number;
      size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != '\0' && std::strchr("+-0123456789.eE", text_[pos_]))
        ++pos_;
      std::string_view number = text_.substr(start, pos_ - start);
      if (number.find_first_not_of("0123456789") == std::string_view::npos &&
          number.size() <= 19) {
        value.integer = std::stoull(std::string(number));
      }
    } else {
      error("unexpected character");
    }
    return value;
  }

  std::string parse_string() {
    if (pos_ >= text_.size() || text_[pos_] != '"') error("expected a string");
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) error("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) error("unterminated string");
      char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, parse_code_point()); break;
        default: error("bad escape in string");
      }
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) error("bad \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else error("bad \\u escape");
    }
    return v;
  }
  uint32_t parse_code_point() {
    uint32_t cp = parse_hex4();
    if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
      pos_ += 2;
      uint32_t low = parse_hex4();
      if (low < 0xDC00 || low > 0xDFFF) error("bad surrogate pair");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return cp;
  }
  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Bytes per element for the safetensors dtypes we can size; 0 for ones we cannot.
size_t dtype_size(const std::string& dtype) {
  static const std::unordered_map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U64", 8},  {"U32", 4},  {"U16", 2},     {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
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

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail(path, std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) fail(path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    fail(path, "file is truncated or not safetensors: " + std::to_string(file_size) +
                   " bytes, less than the 8-byte header length");
  }
  unsigned char prefix[8];
  read_exact(fd_, path, prefix, 8, 0);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | prefix[i];  // little-endian
  if (header_size > file_size - 8) {
    fail(path, "file is truncated or not safetensors: header claims " +
                   std::to_string(header_size) + " bytes but only " +
                   std::to_string(file_size - 8) + " follow");
  }
  if (header_size > (100u << 20)) fail(path, "safetensors header larger than 100 MB");
  std::string header(header_size, '\0');
  read_exact(fd_, path, header.data(), header_size, 8);
  data_start_ = 8 + header_size;
  uint64_t data_size = file_size - data_start_;

  Json root;
  try {
    root = JsonReader(header).document();
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
  if (root.kind != Json::Kind::object) fail(path, "invalid safetensors header: not an object");
  for (auto& [name, value] : root.members) {
    if (name == "__metadata__") continue;
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
            entry.dtype + " " + shape_string(entry.shape) + " needs " +
            std::to_string(count * item));
      }
    }
    if (!tensors_.emplace(name, std::move(entry)).second) bad("listed twice");
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
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
    read_exact(fd_, path_, buffer, bytes, data_start_ + entry.begin);
  } catch (...) {
    std::free(buffer);
    throw;
  }
  mx::Shape shape(entry.shape.begin(), entry.shape.end());
  // MLX adopts the buffer (no copy on CPU) and frees it when the array goes.
  return mx::array(buffer, shape, dtype, [](void* p) { std::free(p); });
}

// --- the strict check both architectures share -------------------------------------------------

namespace {

using ExpectedTensors = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Return our name → checkpoint name for every tensor of `file`, `canonical` mapping each
// checkpoint name to ours. Two checkpoint names with one meaning are an error.
template <class Canonical>
std::unordered_map<std::string, std::string> index_tensors(const SafetensorsFile& file,
                                                           Canonical canonical) {
  std::unordered_map<std::string, std::string> by_canonical;
  for (const auto& [name, entry] : file.tensors()) {
    auto [it, fresh] = by_canonical.emplace(canonical(name), name);
    if (!fresh) {
      fail(file.path(), "tensors " + it->second + " and " + name + " map to the same weight");
    }
  }
  return by_canonical;
}

// Check that every expected tensor is present with its shape and a floating-point dtype.
// `missing_prefix` is put before a missing tensor's name (the naming the checkpoint uses);
// `encoder` names the architecture in the message.
void check_expected(const SafetensorsFile& file,
                    const std::unordered_map<std::string, std::string>& by_canonical,
                    const ExpectedTensors& expected, const std::string& missing_prefix,
                    const std::string& encoder) {
  const std::string& path = file.path();
  std::vector<std::string> missing;
  for (const auto& [name, shape] : expected) {
    auto it = by_canonical.find(name);
    if (it == by_canonical.end()) {
      missing.push_back(name);
      continue;
    }
    const TensorEntry& entry = file.tensors().at(it->second);
    if (entry.shape != shape) {
      fail(path, "tensor " + it->second + " has shape " + shape_string(entry.shape) +
                     ", expected " + shape_string(shape));
    }
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16") {
      fail(path, "tensor " + it->second + " has dtype " + entry.dtype +
                     ", expected F32, F16 or BF16");
    }
  }
  if (!missing.empty()) {
    std::string more =
        missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "";
    fail(path, "missing tensor " + missing_prefix + missing.front() + more + " for " + encoder +
                   " with this config.json");
  }
}

// Reads checked tensors, cast to one dtype on one device, and keeps them for a single eval.
class TensorReader {
 public:
  TensorReader(const SafetensorsFile& file,
               const std::unordered_map<std::string, std::string>& by_canonical, mx::Dtype dtype,
               mx::Device device)
      : file_(file), by_canonical_(by_canonical), dtype_(dtype), device_(device) {}

  // A tensor the weights hold (evaluated by eval()).
  mx::array get(const std::string& name) { return keep(read(name)); }
  // A tensor that only feeds another one (not kept: freed once that one is evaluated).
  mx::array read(const std::string& name) {
    return mx::astype(file_.read(by_canonical_.at(name)), dtype_, device_);
  }
  std::optional<mx::array> get_if(bool present, const std::string& name) {
    return present ? std::optional<mx::array>(get(name)) : std::nullopt;
  }
  mx::array keep(mx::array a) {
    all_.push_back(a);
    return a;
  }
  void eval() { mx::eval(all_); }

 private:
  const SafetensorsFile& file_;
  const std::unordered_map<std::string, std::string>& by_canonical_;
  mx::Dtype dtype_;
  mx::Device device_;
  std::vector<mx::array> all_;
};

}  // namespace

// --- BERT: key map and strict check -------------------------------------------------------------

namespace {

// Checkpoint name → our name. One rule per line; names that match nothing we expect are ignored.
std::string bert_name(std::string name) {
  if (name.starts_with("bert.")) name.erase(0, 5);  // BertModel nested in a task model
  auto ends = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends("LayerNorm.gamma")) name.replace(name.size() - 5, 5, "weight");  // TF-era naming
  if (ends("LayerNorm.beta")) name.replace(name.size() - 4, 4, "bias");
  return name;
}

// Every tensor the forward pass needs, with its shape.
ExpectedTensors bert_tensors(const BertConfig& c) {
  int64_t h = c.hidden_size, i = c.intermediate_size;
  ExpectedTensors out = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"embeddings.position_embeddings.weight", {c.max_positions, h}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}},
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* proj : {"query", "key", "value"}) {
      out.push_back({p + "attention.self." + proj + ".weight", {h, h}});
      out.push_back({p + "attention.self." + proj + ".bias", {h}});
    }
    out.push_back({p + "attention.output.dense.weight", {h, h}});
    out.push_back({p + "attention.output.dense.bias", {h}});
    out.push_back({p + "attention.output.LayerNorm.weight", {h}});
    out.push_back({p + "attention.output.LayerNorm.bias", {h}});
    out.push_back({p + "intermediate.dense.weight", {i, h}});
    out.push_back({p + "intermediate.dense.bias", {i}});
    out.push_back({p + "output.dense.weight", {h, i}});
    out.push_back({p + "output.dense.bias", {h}});
    out.push_back({p + "output.LayerNorm.weight", {h}});
    out.push_back({p + "output.LayerNorm.bias", {h}});
  }
  return out;
}

}  // namespace

BertWeights load_bert_weights(const std::string& path, const BertConfig& c, mx::Dtype dtype,
                              mx::Device d) {
  SafetensorsFile file(path);
  auto by_canonical = index_tensors(file, bert_name);
  check_expected(file, by_canonical, bert_tensors(c), "", "a BERT encoder");

  TensorReader r(file, by_canonical, dtype, d);
  BertWeights w{
      .word_embeddings = r.get("embeddings.word_embeddings.weight"),
      .position_embeddings = r.get("embeddings.position_embeddings.weight"),
      // Row 0 only: token_type_ids are all 0.
      .token_type_embedding = r.keep(mx::reshape(
          mx::slice(r.read("embeddings.token_type_embeddings.weight"), {0, 0}, {1, c.hidden_size},
                    d),
          {c.hidden_size}, d)),
      .embed_norm_weight = r.get("embeddings.LayerNorm.weight"),
      .embed_norm_bias = r.get("embeddings.LayerNorm.bias"),
      .layers = {},
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto qkv = [&](const char* kind) {
      std::string s = p + "attention.self.";
      return r.keep(mx::concatenate(
          {r.read(s + "query." + kind), r.read(s + "key." + kind), r.read(s + "value." + kind)},
          0, d));
    };
    w.layers.push_back(BertLayer{
        .qkv_weight = qkv("weight"),
        .qkv_bias = qkv("bias"),
        .attn_out_weight = r.get(p + "attention.output.dense.weight"),
        .attn_out_bias = r.get(p + "attention.output.dense.bias"),
        .attn_norm_weight = r.get(p + "attention.output.LayerNorm.weight"),
        .attn_norm_bias = r.get(p + "attention.output.LayerNorm.bias"),
        .ffn_in_weight = r.get(p + "intermediate.dense.weight"),
        .ffn_in_bias = r.get(p + "intermediate.dense.bias"),
        .ffn_out_weight = r.get(p + "output.dense.weight"),
        .ffn_out_bias = r.get(p + "output.dense.bias"),
        .ffn_norm_weight = r.get(p + "output.LayerNorm.weight"),
        .ffn_norm_bias = r.get(p + "output.LayerNorm.bias"),
    });
  }
  r.eval();
  return w;
}

// --- ModernBERT: key map and strict check -------------------------------------------------------

namespace {

// The encoder's tensors under `model.` (ModernBertForMaskedLM and other task models) or bare
// (ModernBertModel, sentence-transformers exports).
constexpr std::string_view kModernBertPrefix = "model.";

std::string modernbert_name(std::string name) {
  if (name.starts_with(kModernBertPrefix)) name.erase(0, kModernBertPrefix.size());
  return name;
}

// Task heads that sit beside the encoder in a checkpoint and that an embedding never uses: the
// masked-LM head (head.*, decoder.*) and a classifier. Anything else unknown is an error.
bool is_task_head(const std::string& checkpoint_name) {
  for (std::string_view head : {"head.", "decoder.", "classifier."}) {
    if (checkpoint_name.starts_with(head)) return true;
  }
  return false;
}

// Every tensor the forward pass needs, with its shape; biases only where the config has them.
ExpectedTensors modernbert_tensors(const ModernBertConfig& c) {
  int64_t h = c.hidden_size, i = c.intermediate_size;
  ExpectedTensors out = {{"embeddings.tok_embeddings.weight", {c.vocab_size, h}}};
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {h}});
    if (c.norm_bias) out.push_back({name + ".bias", {h}});
  };
  auto linear = [&](const std::string& name, int64_t rows, int64_t cols, bool bias) {
    out.push_back({name + ".weight", {rows, cols}});
    if (bias) out.push_back({name + ".bias", {rows}});
  };
  norm("embeddings.norm");
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    if (l > 0) norm(p + "attn_norm");  // layer 0 reads the embeddings' norm
    linear(p + "attn.Wqkv", 3 * h, h, c.attention_bias);
    linear(p + "attn.Wo", h, h, c.attention_bias);
    norm(p + "mlp_norm");
    linear(p + "mlp.Wi", 2 * i, h, c.mlp_bias);
    linear(p + "mlp.Wo", h, i, c.mlp_bias);
  }
  norm("final_norm");
  return out;
}

}  // namespace

ModernBertWeights load_modernbert_weights(const std::string& path, const ModernBertConfig& c,
                                          mx::Dtype dtype, mx::Device d) {
  SafetensorsFile file(path);
  auto by_canonical = index_tensors(file, modernbert_name);
  auto expected = modernbert_tensors(c);

  bool prefixed = false;
  for (const auto& [name, entry] : file.tensors()) prefixed |= name.starts_with(kModernBertPrefix);
  check_expected(file, by_canonical, expected, prefixed ? std::string(kModernBertPrefix) : "",
                 "a ModernBERT encoder");

  std::unordered_map<std::string, bool> wanted;
  for (const auto& [name, shape] : expected) wanted[name] = true;
  std::vector<std::string> unexpected;
  for (const auto& [name, entry] : file.tensors()) {
    if (!wanted.count(modernbert_name(name)) && !is_task_head(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::string more = unexpected.size() > 1
                           ? " (and " + std::to_string(unexpected.size() - 1) + " more)"
                           : "";
    fail(path, "unexpected tensor " + unexpected.front() + more +
                   ": not part of a ModernBERT encoder with this config.json");
  }

  TensorReader r(file, by_canonical, dtype, d);
  auto norm_bias = [&](const std::string& name) { return r.get_if(c.norm_bias, name + ".bias"); };
  ModernBertWeights w{
      .tok_embeddings = r.get("embeddings.tok_embeddings.weight"),
      .embed_norm_weight = r.get("embeddings.norm.weight"),
      .embed_norm_bias = norm_bias("embeddings.norm"),
      .layers = {},
      .final_norm_weight = r.get("final_norm.weight"),
      .final_norm_bias = norm_bias("final_norm"),
  };
  for (int l = 0; l < c.num_layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    w.layers.push_back(ModernBertLayer{
        .attn_norm_weight = r.get_if(l > 0, p + "attn_norm.weight"),
        .attn_norm_bias = r.get_if(l > 0 && c.norm_bias, p + "attn_norm.bias"),
        .qkv_weight = r.get(p + "attn.Wqkv.weight"),
        .qkv_bias = r.get_if(c.attention_bias, p + "attn.Wqkv.bias"),
        .attn_out_weight = r.get(p + "attn.Wo.weight"),
        .attn_out_bias = r.get_if(c.attention_bias, p + "attn.Wo.bias"),
        .mlp_norm_weight = r.get(p + "mlp_norm.weight"),
        .mlp_norm_bias = norm_bias(p + "mlp_norm"),
        .mlp_in_weight = r.get(p + "mlp.Wi.weight"),
        .mlp_in_bias = r.get_if(c.mlp_bias, p + "mlp.Wi.bias"),
        .mlp_out_weight = r.get(p + "mlp.Wo.weight"),
        .mlp_out_bias = r.get_if(c.mlp_bias, p + "mlp.Wo.bias"),
    });
  }
  r.eval();
  return w;
}

}  // namespace semsearch
