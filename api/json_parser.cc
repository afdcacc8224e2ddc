// The strict JSON parser behind ParseJson (api/document.h): recursive descent with an explicit
// depth bound, positions tracked per value when asked.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "api/document.h"

namespace drover {
namespace {

class JsonParser {
 public:
  JsonParser(std::string_view text, bool record_positions, const ParseLimits& limits)
      : text_(text), record_(record_positions), limits_(limits) {}

  Result<Document> Parse() {
    Document doc;
    if (text_.size() > limits_.max_document_bytes) {
      return InvalidError("1:1: document is " + std::to_string(text_.size()) +
                          " bytes, more than the limit of " +
                          std::to_string(limits_.max_document_bytes));
    }
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") Advance(3);  // UTF-8 byte order mark
    SkipWhitespace();
    if (AtEnd()) return Fail("empty document: expected a JSON value");
    if (!ParseValue(&doc.value, "", 0, &doc.positions)) return std::move(error_);
    SkipWhitespace();
    if (!AtEnd()) return Fail("unexpected " + Describe() + " after the end of the document");
    return doc;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void Advance(size_t n = 1) {
    for (size_t i = 0; i < n && pos_ < text_.size(); ++i, ++pos_) {
      if (text_[pos_] == '\n') {
        ++line_;
        line_start_ = pos_ + 1;
      }
    }
  }

  SourcePosition Here() const { return {line_, static_cast<int>(pos_ - line_start_) + 1}; }

  Status Fail(const std::string& message) {
    SourcePosition p = Here();
    return InvalidError(std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + message);
  }

  bool SetError(const std::string& message) {
    error_ = Fail(message);
    return false;
  }

  // An error at an earlier byte of the current line (the start of an escape sequence).
  bool SetErrorAt(size_t position, const std::string& message) {
    error_ = InvalidError(std::to_string(line_) + ":" + std::to_string(position - line_start_ + 1) +
                          ": " + message);
    return false;
  }

  std::string Describe() const {
    if (AtEnd()) return "end of input";
    unsigned char c = static_cast<unsigned char>(Peek());
    if (c < 0x20 || c >= 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
    }
    return std::string("'") + static_cast<char>(c) + "'";
  }

  void SkipWhitespace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        Advance();
      } else {
        break;
      }
    }
  }

  bool CountNode() {
    if (++nodes_ > limits_.max_nodes) {
      return SetError("more than " + std::to_string(limits_.max_nodes) + " values in one document");
    }
    return true;
  }

  bool ParseValue(Json* out, const std::string& path, size_t depth, SourceMap* positions) {
    if (!CountNode()) return false;
    if (record_) positions->Record(path, Here());
    if (AtEnd()) return SetError("unexpected end of input: expected a value");
    char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(out, path, depth, positions);
      case '[':
        return ParseArray(out, path, depth, positions);
      case '"': {
        std::string s;
        if (!ParseString(&s)) return false;
        *out = std::move(s);
        return true;
      }
      case 't':
        return ParseLiteral("true", Json(true), out);
      case 'f':
        return ParseLiteral("false", Json(false), out);
      case 'n':
        return ParseLiteral("null", Json(nullptr), out);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return SetError("unexpected " + Describe() + ": expected a value");
    }
  }

  bool ParseLiteral(std::string_view word, Json value, Json* out) {
    if (text_.substr(pos_, word.size()) != word) {
      return SetError("unexpected " + Describe() + ": expected a value");
    }
    Advance(word.size());
    *out = std::move(value);
    return true;
  }

  bool EnterNesting(size_t depth) {
    if (depth + 1 > limits_.max_depth) {
      return SetError("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    return true;
  }

  bool ParseObject(Json* out, const std::string& path, size_t depth, SourceMap* positions) {
    if (!EnterNesting(depth)) return false;
    Advance();  // '{'
    *out = Json::object();
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      Advance();
      return true;
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') {
        return SetError("unexpected " + Describe() + ": expected a field name in double quotes");
      }
      SourcePosition key_position = Here();
      std::string key;
      if (!ParseString(&key)) return false;
      if (out->contains(key)) {
        error_ =
            InvalidError(std::to_string(key_position.line) + ":" +
                         std::to_string(key_position.column) + ": duplicate field \"" + key + "\"");
        return false;
      }
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return SetError("unexpected " + Describe() + ": expected ':'");
      Advance();
      SkipWhitespace();
      Json value;
      std::string child = record_ ? FieldPathAppendKey(path, key) : std::string();
      if (!ParseValue(&value, child, depth + 1, positions)) return false;
      (*out)[key] = std::move(value);
      SkipWhitespace();
      if (AtEnd()) return SetError("unexpected end of input: expected ',' or '}'");
      if (Peek() == ',') {
        Advance();
        continue;
      }
      if (Peek() == '}') {
        Advance();
        return true;
      }
      return SetError("unexpected " + Describe() + ": expected ',' or '}'");
    }
  }

  bool ParseArray(Json* out, const std::string& path, size_t depth, SourceMap* positions) {
    if (!EnterNesting(depth)) return false;
    Advance();  // '['
    *out = Json::array();
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      Advance();
      return true;
    }
    while (true) {
      SkipWhitespace();
      Json value;
      std::string child = record_ ? FieldPathAppendIndex(path, out->size()) : std::string();
      if (!ParseValue(&value, child, depth + 1, positions)) return false;
      out->push_back(std::move(value));
      SkipWhitespace();
      if (AtEnd()) return SetError("unexpected end of input: expected ',' or ']'");
      if (Peek() == ',') {
        Advance();
        continue;
      }
      if (Peek() == ']') {
        Advance();
        return true;
      }
      return SetError("unexpected " + Describe() + ": expected ',' or ']'");
    }
  }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool ReadHex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return SetError("unexpected end of input in \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = HexValue(text_[pos_ + i]);
      if (h < 0) return SetError("invalid \\u escape: expected 4 hexadecimal digits");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    Advance(4);
    *out = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the valid UTF-8 sequence at pos_, or 0.
  size_t Utf8SequenceLength() const {
    auto byte = [&](size_t i) -> unsigned char {
      return pos_ + i < text_.size() ? static_cast<unsigned char>(text_[pos_ + i]) : 0;
    };
    unsigned char c = byte(0);
    auto cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
      if (c == 0xED && byte(1) >= 0xA0) return 0;  // surrogate
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && byte(1) < 0x90) return 0;   // overlong
      if (c == 0xF4 && byte(1) >= 0x90) return 0;  // past U+10FFFF
      return 4;
    }
    return 0;
  }

  bool ParseString(std::string* out) {
    Advance();  // opening quote
    while (true) {
      if (AtEnd()) return SetError("unexpected end of input inside a string");
      if (out->size() > limits_.max_string_bytes) {
        return SetError("string longer than " + std::to_string(limits_.max_string_bytes) +
                        " bytes");
      }
      unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        Advance();
        return true;
      }
      if (c == '\\') {
        const size_t escape_start = pos_;
        Advance();
        if (AtEnd()) return SetError("unexpected end of input in an escape");
        char e = Peek();
        Advance();
        switch (e) {
          case '"':
            out->push_back('"');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '/':
            out->push_back('/');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'u': {
            uint32_t cp = 0;
            if (!ReadHex4(&cp)) return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t low = 0;
              if (text_.substr(pos_, 2) != "\\u") {
                return SetErrorAt(escape_start,
                                  "invalid \\u escape: high surrogate without its low half");
              }
              Advance(2);
              if (!ReadHex4(&low)) return false;
              if (low < 0xDC00 || low > 0xDFFF) {
                return SetErrorAt(escape_start,
                                  "invalid \\u escape: high surrogate without its low half");
              }
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return SetErrorAt(escape_start, "invalid \\u escape: lone low surrogate");
            }
            AppendUtf8(cp, out);
            break;
          }
          default:
            return SetErrorAt(escape_start,
                              "invalid escape '\\" + std::string(1, e) + "' in a string");
        }
        continue;
      }
      if (c < 0x20)
        return SetError("control character " + Describe() + " inside a string (escape it)");
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        Advance();
        continue;
      }
      size_t n = Utf8SequenceLength();
      if (n == 0) return SetError("invalid UTF-8 (" + Describe() + ") inside a string");
      out->append(text_.substr(pos_, n));
      pos_ += n;  // no newline inside a multi-byte sequence
    }
  }

  bool ParseNumber(Json* out) {
    size_t start = pos_;
    size_t i = pos_;
    auto digit = [&](size_t k) { return k < text_.size() && text_[k] >= '0' && text_[k] <= '9'; };
    if (i < text_.size() && text_[i] == '-') ++i;
    if (!digit(i)) return SetError("invalid number: expected a digit");
    if (text_[i] == '0') {
      ++i;
      if (digit(i)) return SetError("invalid number: leading zeros are not allowed");
    } else {
      while (digit(i)) ++i;
    }
    bool is_integer = true;
    if (i < text_.size() && text_[i] == '.') {
      is_integer = false;
      ++i;
      if (!digit(i)) return SetError("invalid number: expected a digit after '.'");
      while (digit(i)) ++i;
    }
    if (i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      is_integer = false;
      ++i;
      if (i < text_.size() && (text_[i] == '+' || text_[i] == '-')) ++i;
      if (!digit(i)) return SetError("invalid number: expected a digit in the exponent");
      while (digit(i)) ++i;
    }
    std::string_view token = text_.substr(start, i - start);
    const char* first = token.data();
    const char* last = token.data() + token.size();
    if (is_integer) {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(first, last, v);
      if (ec == std::errc() && p == last) {
        *out = v;
        pos_ = i;
        return true;
      }
      uint64_t u = 0;
      auto [pu, ecu] = std::from_chars(first, last, u);
      if (ecu == std::errc() && pu == last) {
        *out = u;
        pos_ = i;
        return true;
      }
    }
    double d = 0;
    auto [p, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || p != last || !std::isfinite(d)) {
      return SetError("number " + std::string(token.substr(0, 40)) + " is out of range");
    }
    *out = d;
    pos_ = i;
    return true;
  }

  std::string_view text_;
  bool record_;
  ParseLimits limits_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  size_t nodes_ = 0;
  Status error_;
};

}  // namespace

Result<Document> ParseJson(std::string_view text, bool record_positions,
                           const ParseLimits& limits) {
  return JsonParser(text, record_positions, limits).Parse();
}

}  // namespace drover
