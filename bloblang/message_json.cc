// Parsing a message's content as JSON the way Bento's message decoder does (a Go json.Decoder
// reading one document, then checking that nothing but whitespace follows), with Go's error
// texts. The fast path is nlohmann's parser; the Go-style scanner below only runs when that
// fails (to explain why) or on large inputs (to enforce Go's nesting limit).
#include <string>

#include "bloblang/value.h"

namespace drover::bloblang {
namespace {

constexpr int kMaxNestingDepth = 10000;  // Go's encoding/json maxNestingDepth

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

// A scanner over one JSON value that reports the first problem as Go's json package would.
class GoJsonScanner {
 public:
  explicit GoJsonScanner(std::string_view text) : s_(text) {}

  enum class Result { kOk, kEof, kUnexpectedEof, kSyntaxError };

  // Scans one value starting at the current position (leading whitespace skipped).
  Result ScanValue() {
    SkipSpace();
    if (i_ >= s_.size()) return Result::kEof;
    return Value(0);
  }
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  size_t position() const { return i_; }
  const std::string& error() const { return error_; }

 private:
  Result Fail(std::string_view context) {
    error_ = "invalid character " + QuoteChar(static_cast<unsigned char>(s_[i_])) + " " +
             std::string(context);
    return Result::kSyntaxError;
  }

  Result Value(int depth) {
    if (i_ >= s_.size()) return Result::kUnexpectedEof;
    char c = s_[i_];
    switch (c) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return Number();
        return Fail("looking for beginning of value");
    }
  }

  Result Literal(std::string_view word) {
    for (size_t k = 1; k < word.size(); ++k) {
      if (i_ + k >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_ + k] != word[k]) {
        i_ += k;
        return Fail("in literal " + std::string(word) + " (expecting '" + word[k] + "')");
      }
    }
    i_ += word.size();
    return Result::kOk;
  }

  bool Digit() const { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; }

  Result Number() {
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
      ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (!Digit()) return Fail("after decimal point in numeric literal");
      while (Digit()) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (!Digit()) return Fail("in exponent of numeric literal");
      while (Digit()) ++i_;
    }
    return Result::kOk;
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  Result String() {
    ++i_;  // the opening quote
    while (true) {
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return Result::kOk;
      }
      if (c < 0x20) return Fail("in string literal");
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) return Result::kUnexpectedEof;
        char e = s_[i_];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            ++i_;
            if (i_ >= s_.size()) return Result::kUnexpectedEof;
            if (!IsHex(s_[i_])) return Fail("in \\u hexadecimal character escape");
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return Fail("in string escape code");
        }
      }
      ++i_;
    }
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

  Result Array(int depth) {
    bool empty = false;
    Result opened = Open(depth, ']', &empty);
    if (opened != Result::kOk || empty) return opened;
    while (true) {
      SkipSpace();
      Result r = Value(depth);
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

  Result Object(int depth) {
    bool empty = false;
    Result opened = Open(depth, '}', &empty);
    if (opened != Result::kOk || empty) return opened;
    while (true) {
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] != '"') return Fail("looking for beginning of object key string");
      Result r = String();
      if (r != Result::kOk) return r;
      SkipSpace();
      if (i_ >= s_.size()) return Result::kUnexpectedEof;
      if (s_[i_] != ':') return Fail("after object key");
      ++i_;
      SkipSpace();
      r = Value(depth);
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

// What Go's decoder says about `text`, or "" when it reads exactly one document.
std::string GoDecodeError(std::string_view text) {
  GoJsonScanner scanner(text);
  auto describe = [&](GoJsonScanner::Result r) -> std::string {
    switch (r) {
      case GoJsonScanner::Result::kEof:
        return "EOF";
      case GoJsonScanner::Result::kUnexpectedEof:
        return "unexpected EOF";
      case GoJsonScanner::Result::kSyntaxError:
        return scanner.error();
      case GoJsonScanner::Result::kOk:
        break;
    }
    return "";
  };
  GoJsonScanner::Result first = scanner.ScanValue();
  if (first != GoJsonScanner::Result::kOk) return describe(first);
  scanner.SkipSpace();
  if (scanner.AtEnd()) return "";
  GoJsonScanner::Result second = scanner.ScanValue();
  if (second != GoJsonScanner::Result::kOk) return describe(second);
  return "message contains multiple valid documents";
}

// Go replaces invalid UTF-8 inside strings with U+FFFD where nlohmann refuses it.
std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned cp = 0;
    size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace

bool ParseMessageJson(std::string_view text, Json* out, std::string* error) {
  if (text.size() > static_cast<size_t>(kMaxNestingDepth)) {
    // Only a long text can nest deeper than Go allows; check before nlohmann builds it.
    std::string problem = GoDecodeError(text);
    if (!problem.empty()) {
      *error = std::move(problem);
      return false;
    }
  }
  *out = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!out->is_discarded()) return true;
  std::string problem = GoDecodeError(text);
  if (problem.empty()) {
    // Valid for Go but not for nlohmann: invalid UTF-8 inside strings.
    std::string cleaned = ReplaceInvalidUtf8(text);
    *out = Json::parse(cleaned.begin(), cleaned.end(), nullptr, /*allow_exceptions=*/false);
    if (!out->is_discarded()) return true;
    problem = "invalid JSON";
  }
  *out = Json();
  *error = std::move(problem);
  return false;
}

bool ParseJsonDocument(std::string_view text, Json* out, std::string* error) {
  // Like Go's json.Decoder: the first document counts, whatever follows it.
  GoJsonScanner scanner(text);
  GoJsonScanner::Result r = scanner.ScanValue();
  if (r != GoJsonScanner::Result::kOk) {
    *error = r == GoJsonScanner::Result::kEof             ? "EOF"
             : r == GoJsonScanner::Result::kUnexpectedEof ? "unexpected EOF"
                                                          : scanner.error();
    *out = Json();
    return false;
  }
  std::string_view first = text.substr(0, scanner.position());
  *out = Json::parse(first.begin(), first.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    std::string cleaned = ReplaceInvalidUtf8(first);  // valid for Go, not for nlohmann
    *out = Json::parse(cleaned.begin(), cleaned.end(), nullptr, /*allow_exceptions=*/false);
  }
  if (out->is_discarded()) {
    *out = Json();
    *error = "invalid JSON";
    return false;
  }
  return true;
}

}  // namespace drover::bloblang
