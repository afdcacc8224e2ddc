#include "bloblang/value.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace drover::bloblang {
namespace {

// The shortest digits that round-trip `f` (f finite, f != 0 handled by the caller too) and the
// position of the decimal point relative to them: value = 0.DIGITS * 10^point.
struct Digits {
  char digits[32];
  int count = 0;
  int point = 0;  // Go's digs.dp
  bool negative = false;
};

Digits ShortestDigits(double f) {
  Digits d;
  d.negative = std::signbit(f);
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(f), std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  size_t e = s.find('e');
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') d.digits[d.count++] = s[i];
  }
  int exponent = 0;
  std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exponent);
  // Trailing zeros of the mantissa never matter ("0e+00", "1e+21").
  while (d.count > 1 && d.digits[d.count - 1] == '0') --d.count;
  if (d.count == 1 && d.digits[0] == '0') {
    d.point = 1;  // zero: "0"
  } else {
    d.point = exponent + 1;
  }
  return d;
}

// Go's fmtF with the shortest precision.
void AppendFixed(const Digits& d, std::string* out) {
  if (d.negative) out->push_back('-');
  if (d.point > 0) {
    for (int i = 0; i < d.point; ++i) out->push_back(i < d.count ? d.digits[i] : '0');
  } else {
    out->push_back('0');
  }
  if (d.count > d.point) {
    out->push_back('.');
    for (int i = d.point; i < d.count; ++i) out->push_back(i < 0 ? '0' : d.digits[i]);
  }
}

// Go's fmtE with the shortest precision: "1e+21", "1.5e-07" (at least two exponent digits).
void AppendExponent(const Digits& d, std::string* out) {
  if (d.negative) out->push_back('-');
  out->push_back(d.digits[0]);
  if (d.count > 1) {
    out->push_back('.');
    out->append(d.digits + 1, static_cast<size_t>(d.count - 1));
  }
  int exp = d.point - 1;
  out->push_back('e');
  out->push_back(exp < 0 ? '-' : '+');
  if (exp < 0) exp = -exp;
  if (exp < 10) out->push_back('0');
  out->append(std::to_string(exp));
}

// Go's encoding/json float encoder.
void AppendFloatJson(double f, std::string* out) {
  Digits d = ShortestDigits(f);
  double a = std::fabs(f);
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    size_t start = out->size();
    AppendExponent(d, out);
    // Go cleans e-09 up to e-9.
    size_t n = out->size() - start;
    if (n >= 4 && (*out)[out->size() - 4] == 'e' && (*out)[out->size() - 3] == '-' &&
        (*out)[out->size() - 2] == '0') {
      out->erase(out->size() - 2, 1);
    }
    return;
  }
  AppendFixed(d, out);
}

void AppendHex4(unsigned value, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(value >> shift) & 0xF]);
}

// Whether Go's encoder writes the ASCII byte `c` as it is.
bool PlainAscii(unsigned char c, bool escape_html) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' &&
         !(escape_html && (c == '<' || c == '>' || c == '&'));
}

void AppendBase64(const std::vector<uint8_t>& bytes, std::string* out) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    unsigned v = bytes[i] << 16;
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->append("==");
  } else if (rest == 2) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back('=');
  }
}

void AppendNewlineIndent(const JsonStyle& style, int depth, std::string* out) {
  out->push_back('\n');
  for (int i = 0; i < depth; ++i) out->append(style.indent);
}

bool AppendJsonAt(const Json& v, const JsonStyle& style, int depth, std::string* out,
                  std::string* bad) {
  switch (v.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      out->append("null");
      return true;
    case Json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return true;
    case Json::value_t::number_integer: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.get<int64_t>());
      out->append(buf, r.ptr);
      return true;
    }
    case Json::value_t::number_unsigned: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.get<uint64_t>());
      out->append(buf, r.ptr);
      return true;
    }
    case Json::value_t::number_float: {
      double f = v.get<double>();
      if (!std::isfinite(f)) {
        *bad = std::isnan(f) ? "NaN" : (f > 0 ? "+Inf" : "-Inf");
        return false;
      }
      AppendFloatJson(f, out);
      return true;
    }
    case Json::value_t::string:
      AppendJsonString(v.get_ref<const std::string&>(), style.escape_html, out);
      return true;
    case Json::value_t::binary:
      out->push_back('"');
      AppendBase64(v.get_binary(), out);
      out->push_back('"');
      return true;
    case Json::value_t::array: {
      if (v.empty()) {
        out->append("[]");
        return true;
      }
      out->push_back('[');
      bool first = true;
      for (const Json& item : v) {
        if (!first) out->push_back(',');
        first = false;
        if (style.pretty) AppendNewlineIndent(style, depth + 1, out);
        if (!AppendJsonAt(item, style, depth + 1, out, bad)) return false;
      }
      if (style.pretty) AppendNewlineIndent(style, depth, out);
      out->push_back(']');
      return true;
    }
    case Json::value_t::object: {
      if (v.empty()) {
        out->append("{}");
        return true;
      }
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        if (style.pretty) AppendNewlineIndent(style, depth + 1, out);
        AppendJsonString(it.key(), style.escape_html, out);
        out->append(style.pretty ? ": " : ":");
        if (!AppendJsonAt(it.value(), style, depth + 1, out, bad)) return false;
      }
      if (style.pretty) AppendNewlineIndent(style, depth, out);
      out->push_back('}');
      return true;
    }
  }
  return true;
}

}  // namespace

void AppendJsonString(std::string_view s, bool escape_html, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // Copy the run of bytes that need no escaping at once.
    size_t run = i;
    while (run < s.size() && PlainAscii(static_cast<unsigned char>(s[run]), escape_html)) ++run;
    out->append(s.data() + i, run - i);
    i = run;
    if (i >= s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:
          if (c < 0x20 || (escape_html && (c == '<' || c == '>' || c == '&'))) {
            AppendHex4(c, out);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      AppendHex4(cp, out);
    } else {
      out->append(s.substr(i, len));
    }
    i += len;
  }
  out->push_back('"');
}

size_t DecodeUtf8(std::string_view s, size_t i, unsigned* code_point) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = byte(i);
  size_t len;
  unsigned cp;
  if (c < 0x80) {
    *code_point = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  *code_point = cp;
  return len;
}

void AppendUtf8(unsigned cp, std::string* out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
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

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string GoQuote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) {  // an invalid byte
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (cp < 0x20 || cp == 0x7f) {
          out += "\\x";
          out += kHex[cp >> 4];
          out += kHex[cp & 15];
        } else if ((cp >= 0x80 && cp <= 0xA0) || cp == 0xAD) {  // not printable for Go
          out += "\\u00";
          out += kHex[cp >> 4];
          out += kHex[cp & 15];
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  out += '"';
  return out;
}

std::string_view TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "string";
    case Json::value_t::binary:
      return "bytes";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "null";
  }
}

std::string_view TypeName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNothing:
      return "nothing";
    case Value::Kind::kDeleted:
      return "delete";
    case Value::Kind::kValue:
      break;
  }
  return TypeName(v.get());
}

std::string FormatFloatShortest(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "+Inf" : "-Inf";
  Digits d = ShortestDigits(f);
  std::string out;
  int exp = d.point - 1;
  bool zero = d.count == 1 && d.digits[0] == '0';
  if (!zero && (exp < -4 || exp >= 6)) {  // Go's %e threshold for the shortest 'g' form
    AppendExponent(d, &out);
  } else {
    AppendFixed(d, &out);
  }
  return out;
}

std::string ErrorValueText(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "\"" + v.get_ref<const std::string&>() + "\"";
    case Json::value_t::boolean:
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return ToBentoString(v);
    default:
      return "";
  }
}

std::string TypeErrorText(std::string_view expected, const Json& actual) {
  std::string out = "expected ";
  out.append(expected);
  out.append(" value, got ");
  out.append(TypeName(actual));
  std::string text = ErrorValueText(actual);
  if (!text.empty()) out.append(" (").append(text).append(")");
  return out;
}

std::string ToBentoString(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::binary: {
      const auto& b = v.get_binary();
      return std::string(b.begin(), b.end());
    }
    case Json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case Json::value_t::number_float:
      return FormatFloatShortest(v.get<double>());
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::null:
      return "null";
    default: {
      std::string out, bad;
      if (!AppendJson(v, JsonStyle{.escape_html = true, .pretty = false, .indent = {}}, &out, &bad))
        return "null";
      return out;
    }
  }
}

bool AppendJson(const Json& v, const JsonStyle& style, std::string* out, std::string* bad) {
  return AppendJsonAt(v, style, 0, out, bad);
}

std::optional<bool> GetBool(const Json& v) {
  switch (v.type()) {
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case Json::value_t::number_float:
      return v.get<double>() != 0;
    default:
      return std::nullopt;
  }
}

std::optional<double> GetNumber(const Json& v) {
  switch (v.type()) {
    case Json::value_t::number_integer:
      return static_cast<double>(v.get<int64_t>());
    case Json::value_t::number_unsigned:
      return static_cast<double>(v.get<uint64_t>());
    case Json::value_t::number_float:
      return v.get<double>();
    default:
      return std::nullopt;
  }
}

std::optional<int64_t> GetInt(const Json& v) {
  switch (v.type()) {
    case Json::value_t::number_integer:
      return v.get<int64_t>();
    case Json::value_t::number_unsigned:
      return static_cast<int64_t>(v.get<uint64_t>());
    case Json::value_t::number_float: {
      // Go's int64(f) for out-of-range values is implementation-defined; clamp instead of UB.
      double f = v.get<double>();
      if (std::isnan(f)) return int64_t{0};
      if (f >= 9.2233720368547758e18) return INT64_MAX;
      if (f <= -9.2233720368547758e18) return INT64_MIN;
      return static_cast<int64_t>(f);
    }
    default:
      return std::nullopt;
  }
}

namespace {
std::optional<std::string_view> GetStringView(const Json& v) {
  if (v.is_string()) return std::string_view(v.get_ref<const std::string&>());
  if (v.is_binary()) {
    const auto& b = v.get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return std::nullopt;
}
}  // namespace

bool ValuesEqual(const Json& left, const Json& right) {
  if (left.is_null()) return right.is_null();
  if (auto l = GetStringView(left)) {
    auto r = GetStringView(right);
    return r && *l == *r;
  }
  if (left.is_number()) {
    auto r = GetNumber(right);
    return r && *GetNumber(left) == *r;
  }
  if (left.is_boolean()) {
    auto r = GetBool(right);
    return r && left.get<bool>() == *r;
  }
  if (left.is_array()) {
    if (!right.is_array() || left.size() != right.size()) return false;
    for (size_t i = 0; i < left.size(); ++i) {
      if (!ValuesEqual(left[i], right[i])) return false;
    }
    return true;
  }
  if (left.is_object()) {
    if (!right.is_object() || left.size() != right.size()) return false;
    static const Json kNull;
    for (auto it = left.begin(); it != left.end(); ++it) {
      auto found = right.find(it.key());
      if (!ValuesEqual(it.value(), found == right.end() ? kNull : *found)) return false;
    }
    return true;
  }
  return false;
}

}  // namespace drover::bloblang
