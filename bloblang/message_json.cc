// Parsing JSON the way Bento's Go code does: a decoder that builds the value directly and, when
// the text is not JSON, explains why with Go's encoding/json error texts. Messages are read like
// Bento's message decoder (one document, then only whitespace); parse_json like a json.Decoder
// (the first document). Numbers stay exact: integers as int64 (negative) or uint64, others as
// doubles. Invalid UTF-8 and lone surrogates in strings become U+FFFD, as in Go.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "bloblang/value.h"

namespace drover::bloblang {
namespace {

// Go's encoding/json allows 10000 levels. Drover allows 1000: the decoder, the writer and
// nlohmann's copies recurse once per level, and 10000 levels overflow an 8 MiB stack in a
// sanitizer build (and could overflow a smaller thread stack in any build).
constexpr int kMaxNestingDepth = 1000;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Go's quoteChar: how a byte appears in "invalid character 'x' ...". Go reads the byte as the
// code point U+00XX and quotes it as strconv.Quote would.
std::string QuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  std::string utf8;
  AppendUtf8(c, &utf8);
  std::string quoted = GoQuote(utf8);
  return "'" + quoted.substr(1, quoted.size() - 2) + "'";
}

// Reads JSON values from `text` one after the other. With a null output a value is only
// checked, not built.
class GoJsonDecoder {
 public:
  explicit GoJsonDecoder(std::string_view text) : s_(text) {}

  enum class Result { kOk, kEof, kUnexpectedEof, kSyntaxError };

  // The next value, after any whitespace.
  Result Decode(Json* out) {
    SkipSpace();
    if (i_ >= s_.size()) return Result::kEof;
    return Value(0, out);
  }
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  const std::string& error() const { return error_; }

  // Go's wording of a failed Decode.
  std::string Describe(Result r) const {
    switch (r) {
      case Result::kEof:
        return "EOF";
      case Result::kUnexpectedEof:
        return "unexpected EOF";
      case Result::kSyntaxError:
        return error_;
      case Result::kOk:
        break;
    }
    return "";
  }

 private:
  Result Fail(std::string_view context) {
    error_ = "invalid character " + QuoteChar(static_cast<unsigned char>(s_[i_])) + " " +
             std::string(context);
    return Result::kSyntaxError;
  }

  Result Value(int depth, Json* out) {
    if (i_ >= s_.size()) return Result::kUnexpectedEof;
    char c = s_[i_];
    switch (c) {
      case '{':
        return Object(depth + 1, out);
      case '[':
        return Array(depth + 1, out);
      case '"': {
        if (out == nullptr) return String(nullptr);
        *out = std::string();
        return String(&out->get_ref<std::string&>());
      }
      case 't':
        return Literal("true", out, true);
      case 'f':
        return Literal("false", out, false);
      case 'n':
        return Literal("null", out, nullptr);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
        return Fail("looking for beginning of value");
    }
  }

  Result Literal(std::string_view word, Json* out, Json value) {
    for (size_t k = 1; k < word.size(); ++k) {
      if (i_ + k >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_ + k] != word[k]) {
        i_ += k;
        return Fail("in literal " + std::string(word) + " (expecting '" + word[k] + "')");
      }
    }
    i_ += word.size();
    if (out != nullptr) *out = std::move(value);
    return Result::kOk;
  }

  bool Digit() const { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; }

  Result Number(Json* out) {
    size_t start = i_;
    bool integer = true;
    if (s_[i_] == '-') {
      ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (!Digit()) return Fail("in numeric literal");
    }
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (Digit()) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      integer = false;
      ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (!Digit()) return Fail("after decimal point in numeric literal");
      while (Digit()) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integer = false;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (!Digit()) return Fail("in exponent of numeric literal");
      while (Digit()) ++i_;
    }
    if (out == nullptr) return Result::kOk;
    const char* begin = s_.data() + start;
    const char* end = s_.data() + i_;
    if (integer) {
      if (*begin == '-') {
        int64_t v = 0;
        if (std::from_chars(begin, end, v).ec == std::errc()) {
          *out = v;
          return Result::kOk;
        }
      } else {
        uint64_t v = 0;
        if (std::from_chars(begin, end, v).ec == std::errc()) {
          *out = v;
          return Result::kOk;
        }
      }
    }
    double d = 0;
    if (std::from_chars(begin, end, d).ec != std::errc()) {
      // Out of range: strtod gives the infinity or zero a Go float64 conversion would.
      d = std::strtod(std::string(begin, end).c_str(), nullptr);
    }
    *out = d;
    return Result::kOk;
  }

  // A string literal (s_[i_] is its opening quote), decoded into *out when out is not null.
  Result String(std::string* out) {
    ++i_;
    while (true) {
      // The plain run up to the next quote, escape, control or non-ASCII byte.
      size_t run = i_;
      while (run < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      if (out != nullptr) out->append(s_.data() + i_, run - i_);
      i_ = run;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return Result::kOk;
      }
      if (c < 0x20) return Fail("in string literal");
      if (c >= 0x80) {
        unsigned cp = 0;
        size_t len = DecodeUtf8(s_, i_, &cp);
        if (out != nullptr) {
          if (len == 0) {
            out->append("\xEF\xBF\xBD");
          } else {
            out->append(s_.data() + i_, len);
          }
        }
        i_ += len == 0 ? 1 : len;
        continue;
      }
      Result r = Escape(out);
      if (r != Result::kOk) return r;
    }
  }

  // One escape sequence (s_[i_] is its backslash).
  Result Escape(std::string* out) {
    ++i_;
    if (i_ >= s_.size()) return Result::kUnexpectedEof;
    char e = s_[i_];
    char plain = 0;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        plain = e;
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u':
        break;
      default:
        return Fail("in string escape code");
    }
    if (plain != 0) {
      if (out != nullptr) out->push_back(plain);
      ++i_;
      return Result::kOk;
    }
    unsigned cp = 0;
    Result r = Hex4(&cp);
    if (r != Result::kOk) return r;
    if (cp >= 0xD800 && cp < 0xDC00) {
      // A high surrogate pairs with an immediately following \uDC00-\uDFFF.
      if (i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
        size_t saved = i_;
        ++i_;
        unsigned low = 0;
        r = Hex4(&low);
        if (r != Result::kOk) return r;
        if (low >= 0xDC00 && low < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else {
          i_ = saved;  // not a pair: this one is replaced, the next decoded on its own
          cp = 0xFFFD;
        }
      } else {
        cp = 0xFFFD;
      }
    }
    if (out != nullptr) AppendUtf8(cp, out);
    return Result::kOk;
  }

  // The four hex digits after "\u" (s_[i_] is the 'u').
  Result Hex4(unsigned* cp) {
    *cp = 0;
    for (int k = 0; k < 4; ++k) {
      ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      int h = HexDigitValue(s_[i_]);
      if (h < 0) return Fail("in \\u hexadecimal character escape");
      *cp = *cp * 16 + static_cast<unsigned>(h);
    }
    ++i_;
    return Result::kOk;
  }

  // Steps into an array or object: past its opening bracket and any space. kOk with `*empty`
  // set when the closing bracket follows at once.
  Result Open(int depth, char close, bool* empty) {
    if (depth > kMaxNestingDepth) {
      error_ = "exceeded max depth";
      return Result::kSyntaxError;
    }
    ++i_;
    SkipSpace();
    if (i_ >= s_.size()) return Result::kUnexpectedEof;
    *empty = s_[i_] == close;
    if (*empty) ++i_;
    return Result::kOk;
  }

  Result Array(int depth, Json* out) {
    Json::array_t* items = nullptr;
    if (out != nullptr) {
      *out = Json::array();
      items = &out->get_ref<Json::array_t&>();
    }
    bool empty = false;
    Result opened = Open(depth, ']', &empty);
    if (opened != Result::kOk || empty) return opened;
    while (true) {
      SkipSpace();
      Json* item = nullptr;
      if (items != nullptr) item = &items->emplace_back();
      Result r = Value(depth, item);
      if (r != Result::kOk) return r;
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] == ']') {
        ++i_;
        return Result::kOk;
      }
      if (s_[i_] != ',') return Fail("after array element");
      ++i_;
    }
  }

  Result Object(int depth, Json* out) {
    Json::object_t* members = nullptr;
    if (out != nullptr) {
      *out = Json::object();
      members = &out->get_ref<Json::object_t&>();
    }
    bool empty = false;
    Result opened = Open(depth, '}', &empty);
    if (opened != Result::kOk || empty) return opened;
    std::string key;
    while (true) {
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] != '"') return Fail("looking for beginning of object key string");
      key.clear();
      Result r = String(members != nullptr ? &key : nullptr);
      if (r != Result::kOk) return r;
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] != ':') return Fail("after object key");
      ++i_;
      SkipSpace();
      // A repeated key keeps its last value, as in Go.
      Json* slot = members != nullptr ? &(*members)[key] : nullptr;
      r = Value(depth, slot);
      if (r != Result::kOk) return r;
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] == '}') {
        ++i_;
        return Result::kOk;
      }
      if (s_[i_] != ',') return Fail("after object key:value pair");
      ++i_;
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

}  // namespace

bool ParseMessageJson(std::string_view text, Json* out, std::string* error) {
  GoJsonDecoder decoder(text);
  GoJsonDecoder::Result first = decoder.Decode(out);
  if (first == GoJsonDecoder::Result::kOk) {
    decoder.SkipSpace();
    if (decoder.AtEnd()) return true;
    // Bento decodes a second document to tell trailing junk from several documents.
    GoJsonDecoder::Result second = decoder.Decode(nullptr);
    *error = second == GoJsonDecoder::Result::kOk ? "message contains multiple valid documents"
                                                  : decoder.Describe(second);
  } else {
    *error = decoder.Describe(first);
  }
  *out = Json();
  return false;
}

bool ParseJsonDocument(std::string_view text, Json* out, std::string* error) {
  GoJsonDecoder decoder(text);
  GoJsonDecoder::Result r = decoder.Decode(out);
  if (r == GoJsonDecoder::Result::kOk) return true;
  *error = decoder.Describe(r);
  *out = Json();
  return false;
}

}  // namespace drover::bloblang
