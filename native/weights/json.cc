#include "weights/json.h"

#include <cstring>
#include <stdexcept>

namespace semsearch {

namespace {

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
    throw std::runtime_error(what + " at byte " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
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
    char c = text_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    Json value;
    if (c == '"') {
      value.kind = Json::Kind::string;
      value.string = parse_string();
    } else if (text_.substr(pos_, 4) == "true" || text_.substr(pos_, 5) == "false") {
      value.kind = Json::Kind::boolean;
      value.boolean = c == 't';
      pos_ += value.boolean ? 4 : 5;
    } else if (text_.substr(pos_, 4) == "null") {
      pos_ += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value = parse_number();
    } else {
      error("unexpected character");
    }
    return value;
  }

  Json parse_object(int depth) {
    ++pos_;  // '{'
    Json value;
    value.kind = Json::Kind::object;
    if (take('}')) return value;
    do {
      skip_space();
      std::string key = parse_string();
      expect(':');
      value.members.emplace_back(std::move(key), parse(depth + 1));
    } while (take(','));
    expect('}');
    return value;
  }

  Json parse_array(int depth) {
    ++pos_;  // '['
    Json value;
    value.kind = Json::Kind::array;
    if (take(']')) return value;
    do value.items.push_back(parse(depth + 1));
    while (take(','));
    expect(']');
    return value;
  }

  Json parse_number() {
    Json value;
    value.kind = Json::Kind::number;
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '\0' &&
           std::strchr("+-0123456789.eE", text_[pos_]))
      ++pos_;
    std::string_view number = text_.substr(start, pos_ - start);
    if (number.find_first_not_of("0123456789") == std::string_view::npos && number.size() <= 19) {
      value.integer = std::stoull(std::string(number));
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
        case '"':
        case '\\':
        case '/': out += e; break;
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

}  // namespace

Json parse_json(std::string_view text) { return JsonReader(text).document(); }

}  // namespace semsearch
