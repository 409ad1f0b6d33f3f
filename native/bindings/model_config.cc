#include "bindings/model_config.h"

#include <cmath>
#include <stdexcept>

#include "bindings/args.h"

namespace semsearch {

namespace {

// Typed reads of a config object's fields; every failure is "<dir>: config.<key> must be …".
class ConfigReader {
 public:
  ConfigReader(const Napi::Value& value, const std::string& dir) : dir_(dir) {
    if (!value.IsObject() || value.IsArray()) fail("config must be a ModelConfig object");
    obj_ = value.As<Napi::Object>();
  }

  [[noreturn]] void fail(const std::string& reason) const {
    throw std::runtime_error(dir_ + ": " + reason);
  }

  Napi::Value get(const char* key) const { return obj_.Get(key); }

  std::string text(const char* key) const {
    Napi::Value v = obj_.Get(key);
    if (!v.IsString()) fail(std::string("config.") + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  int positive(const char* key) const {
    auto v = integer(obj_.Get(key));
    if (!v || *v <= 0 || *v > (1 << 24))
      fail(std::string("config.") + key + " must be a positive integer");
    return static_cast<int>(*v);
  }
  float positive_number(const char* key) const {
    Napi::Value v = obj_.Get(key);
    if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() > 0) ||
        !std::isfinite(v.As<Napi::Number>().DoubleValue()))
      fail(std::string("config.") + key + " must be a positive number");
    return v.As<Napi::Number>().FloatValue();
  }
  bool boolean(const char* key) const {
    Napi::Value v = obj_.Get(key);
    if (!v.IsBoolean()) fail(std::string("config.") + key + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

 private:
  std::string dir_;
  Napi::Object obj_;
};

// The fields every architecture has, checked.
struct CommonConfig {
  std::string architecture;
  int hidden, heads;
  Pooling pooling;
};

CommonConfig parse_common(const ConfigReader& r) {
  std::string architecture = r.text("architecture");
  if (architecture != "bert" && architecture != "modernbert") {
    r.fail("unsupported architecture '" + architecture + "' (supported: bert, modernbert)");
  }
  std::string act = r.text("hiddenAct");
  if (act != "gelu")
    r.fail("unsupported hidden activation '" + act + "' (supported: gelu, the exact erf form)");
  int hidden = r.positive("hiddenSize"), heads = r.positive("numHeads");
  if (hidden % heads != 0) {
    r.fail("config.hiddenSize " + std::to_string(hidden) + " is not a multiple of numHeads " +
           std::to_string(heads));
  }
  std::string pooling_name = r.text("pooling");
  Pooling pooling = Pooling::mean;
  if (pooling_name == "cls") pooling = Pooling::cls;
  else if (pooling_name != "mean")
    r.fail("unsupported pooling '" + pooling_name + "' (supported: cls, mean)");
  return {architecture, hidden, heads, pooling};
}

BertConfig parse_bert(const ConfigReader& r, const CommonConfig& common) {
  BertConfig c;
  c.hidden_size = common.hidden;
  c.num_heads = common.heads;
  c.num_layers = r.positive("numLayers");
  c.intermediate_size = r.positive("intermediateSize");
  c.vocab_size = r.positive("vocabSize");
  c.max_positions = r.positive("maxPositions");
  c.type_vocab_size = r.positive("typeVocabSize");
  c.layer_norm_eps = r.positive_number("layerNormEps");
  c.pooling = common.pooling;
  return c;
}

// config.layerTypes: one 'global' or 'local' per layer → true for global.
std::vector<bool> parse_layer_types(const ConfigReader& r, int num_layers) {
  Napi::Value types = r.get("layerTypes");
  if (!types.IsArray() || types.As<Napi::Array>().Length() != uint32_t(num_layers)) {
    r.fail("config.layerTypes must be an array of numLayers (" + std::to_string(num_layers) +
           ") entries 'global' or 'local'");
  }
  auto list = types.As<Napi::Array>();
  std::vector<bool> global;
  for (uint32_t l = 0; l < list.Length(); ++l) {
    Napi::Value t = list.Get(l);
    std::string kind = t.IsString() ? t.As<Napi::String>().Utf8Value() : "";
    if (kind != "global" && kind != "local") {
      r.fail("config.layerTypes[" + std::to_string(l) + "] must be 'global' or 'local'");
    }
    global.push_back(kind == "global");
  }
  return global;
}

ModernBertConfig parse_modernbert(const ConfigReader& r, const CommonConfig& common) {
  ModernBertConfig c;
  c.hidden_size = common.hidden;
  c.num_heads = common.heads;
  c.num_layers = r.positive("numLayers");
  c.intermediate_size = r.positive("intermediateSize");
  c.vocab_size = r.positive("vocabSize");
  c.max_positions = r.positive("maxPositions");
  c.norm_eps = r.positive_number("normEps");
  c.norm_bias = r.boolean("normBias");
  c.attention_bias = r.boolean("attentionBias");
  c.mlp_bias = r.boolean("mlpBias");
  c.global_rope_theta = r.positive_number("globalRopeTheta");
  c.local_rope_theta = r.positive_number("localRopeTheta");
  c.local_attention = r.positive("localAttention");
  c.pooling = common.pooling;
  if ((common.hidden / common.heads) % 2 != 0) {
    r.fail("config.hiddenSize / numHeads = " + std::to_string(common.hidden / common.heads) +
           " is odd; rotary embeddings need an even head size");
  }
  c.global_layers = parse_layer_types(r, c.num_layers);
  return c;
}

}  // namespace

EncoderConfig parse_config(const Napi::Value& value, const std::string& dir) {
  ConfigReader r(value, dir);
  CommonConfig common = parse_common(r);
  if (common.architecture == "bert") return parse_bert(r, common);
  return parse_modernbert(r, common);
}

EncoderSummary summary(const EncoderConfig& config) {
  if (const auto* c = std::get_if<BertConfig>(&config)) {
    return {"bert", c->hidden_size, c->max_positions, c->vocab_size, c->num_layers, c->pooling};
  }
  const auto& c = std::get<ModernBertConfig>(config);
  return {"modernbert", c.hidden_size, c.max_positions, c.vocab_size, c.num_layers, c.pooling};
}

}  // namespace semsearch
