#include "api/document.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>

namespace drover {
namespace {

bool IsPlainKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string PositionPrefix(SourcePosition p) {
  return std::to_string(p.line) + ":" + std::to_string(p.column) + ": ";
}

SourcePosition FromMark(const YAML::Mark& mark) {
  if (mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

// ---- YAML 1.2 core-schema resolution of plain scalars ------------------------------------------

enum class PlainKind { kString, kNull, kBool, kInt, kFloat, kNonFinite };

struct Resolved {
  PlainKind kind = PlainKind::kString;
  Json value;
};

bool AllDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c < static_cast<char>('0' + base));
    if (!ok) return false;
  }
  return true;
}

bool IsYamlFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits_before = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits_before;
  size_t digits_after = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits_after;
  }
  if (digits_before == 0 && digits_after == 0) return false;
  if (digits_before == 0 && !dot) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

Resolved ResolvePlain(std::string_view s) {
  Resolved r;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    r.kind = PlainKind::kNull;
    return r;
  }
  if (s == "true" || s == "True" || s == "TRUE") return {PlainKind::kBool, Json(true)};
  if (s == "false" || s == "False" || s == "FALSE") return {PlainKind::kBool, Json(false)};
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF" || s == ".nan" || s == ".NaN" ||
      s == ".NAN") {
    return {PlainKind::kNonFinite, Json()};
  }
  int base = 10;
  std::string_view digits = body;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = s.substr(2);
    negative = false;
  } else if (s[0] == '0' && s.size() > 2 && (s[1] == 'x' || s[1] == 'o')) {
    digits = {};
  }
  if (AllDigits(digits, base) && (base == 10 || digits.data() == s.data() + 2)) {
    uint64_t u = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
    if (ec == std::errc() && p == digits.data() + digits.size()) {
      constexpr uint64_t kMaxNeg = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
      if (!negative && u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return {PlainKind::kInt, Json(static_cast<int64_t>(u))};
      }
      if (!negative) return {PlainKind::kInt, Json(u)};
      if (u < kMaxNeg) return {PlainKind::kInt, Json(-static_cast<int64_t>(u))};
      if (u == kMaxNeg) return {PlainKind::kInt, Json(std::numeric_limits<int64_t>::min())};
    }
    // Too large for 64 bits: fall through to a float.
  }
  if (IsYamlFloat(s)) {
    std::string_view f = s[0] == '+' ? s.substr(1) : s;
    double d = 0;
    auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), d);
    if (ec != std::errc() || !std::isfinite(d)) return {PlainKind::kNonFinite, Json()};
    (void)p;
    return {PlainKind::kFloat, Json(d)};
  }
  r.value = std::string(s);
  return r;
}

// ---- YAML node -> Json ------------------------------------------------------------------------

class YamlConverter {
 public:
  YamlConverter(const ParseLimits& limits, SourceMap* positions)
      : limits_(limits), positions_(positions) {}

  bool Convert(const YAML::Node& node, const std::string& path, SourcePosition where, size_t depth,
               Json* out) {
    if (++nodes_ > limits_.max_nodes) {
      return Fail(where, "more than " + std::to_string(limits_.max_nodes) +
                             " values in one document (aliases expanding too far?)");
    }
    positions_->Record(path, where);
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        *out = nullptr;
        return true;
      case YAML::NodeType::Scalar:
        return ConvertScalar(node, where, out);
      case YAML::NodeType::Sequence: {
        if (depth + 1 > limits_.max_depth) return TooDeep(where);
        *out = Json::array();
        size_t index = 0;
        for (const YAML::Node& item : node) {
          Json value;
          SourcePosition at = FromMark(item.Mark());
          if (!at.known()) at = where;
          if (!Convert(item, FieldPathAppendIndex(path, index++), at, depth + 1, &value)) {
            return false;
          }
          out->push_back(std::move(value));
        }
        return true;
      }
      case YAML::NodeType::Map: {
        if (depth + 1 > limits_.max_depth) return TooDeep(where);
        *out = Json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          SourcePosition key_at = FromMark(it->first.Mark());
          if (!it->first.IsScalar()) {
            return Fail(key_at.known() ? key_at : where, "a mapping key must be a plain string");
          }
          const std::string& key = it->first.Scalar();
          if (!CheckString(key, key_at)) return false;
          if (out->contains(key)) return Fail(key_at, "duplicate field \"" + key + "\"");
          Json value;
          if (!Convert(it->second, FieldPathAppendKey(path, key), key_at, depth + 1, &value)) {
            return false;
          }
          (*out)[key] = std::move(value);
        }
        return true;
      }
    }
    return Fail(where, "unsupported YAML node");
  }

  const Status& error() const { return error_; }

 private:
  bool Fail(SourcePosition where, const std::string& message) {
    error_ = InvalidError(PositionPrefix(where) + message);
    return false;
  }
  bool TooDeep(SourcePosition where) {
    return Fail(where, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
  }

  bool CheckString(const std::string& s, SourcePosition where) {
    if (s.size() > limits_.max_string_bytes) {
      return Fail(where,
                  "string longer than " + std::to_string(limits_.max_string_bytes) + " bytes");
    }
    if (!IsValidUtf8(s)) return Fail(where, "invalid UTF-8 in a string");
    return true;
  }

  bool ConvertScalar(const YAML::Node& node, SourcePosition where, Json* out) {
    const std::string& text = node.Scalar();
    if (!CheckString(text, where)) return false;
    const std::string& tag = node.Tag();
    static const std::string kCore = "tag:yaml.org,2002:";
    if (tag == "!" || tag == kCore + "str") {
      *out = text;
      return true;
    }
    Resolved r = ResolvePlain(text);
    if (tag == "?" || tag.empty()) {
      if (r.kind == PlainKind::kNonFinite) {
        return Fail(where,
                    "\"" + text + "\" is not a finite number (quote it to make it a string)");
      }
      *out = r.kind == PlainKind::kNull     ? Json(nullptr)
             : r.kind == PlainKind::kString ? Json(text)
                                            : r.value;
      return true;
    }
    auto expect = [&](bool ok, const char* what) {
      if (!ok) return Fail(where, "\"" + text + "\" is not a valid " + what + " for tag " + tag);
      *out = r.kind == PlainKind::kNull ? Json(nullptr) : r.value;
      return true;
    };
    if (tag == kCore + "int") return expect(r.kind == PlainKind::kInt, "integer");
    if (tag == kCore + "float") {
      return expect(r.kind == PlainKind::kFloat || r.kind == PlainKind::kInt, "number");
    }
    if (tag == kCore + "bool") return expect(r.kind == PlainKind::kBool, "boolean");
    if (tag == kCore + "null") return expect(r.kind == PlainKind::kNull, "null");
    return Fail(where, "unsupported tag " + tag);
  }

  ParseLimits limits_;
  SourceMap* positions_;
  size_t nodes_ = 0;
  Status error_;
};

// ---- Json -> YAML ----------------------------------------------------------------------------

std::string FormatDouble(double d) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), d);
  std::string s(buffer, ec == std::errc() ? end : buffer);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // stays a float on re-read
  return s;
}

bool HasControlCharacters(std::string_view s, bool allow_newline) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(allow_newline && c == '\n')) || u == 0x7f) return true;
  }
  return false;
}

// A literal block (`|`) keeps exactly one trailing newline and needs a non-space first
// character; anything else is written double-quoted.
bool FitsLiteralBlock(std::string_view s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s.front() == ' ' || s.front() == '\n') return false;
  if (HasControlCharacters(s, /*allow_newline=*/true)) return false;
  size_t line_start = 0;
  while (line_start < s.size()) {
    size_t end = s.find('\n', line_start);
    std::string_view line = s.substr(line_start, end - line_start);
    if (!line.empty() && line.back() == ' ') return false;  // trailing spaces survive, but barely
    line_start = end + 1;
  }
  return true;
}

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (s.find('\n') != std::string::npos && FitsLiteralBlock(s)) {
    out << YAML::Literal << s;
    return;
  }
  bool quote = s.empty() || ResolvePlain(s).kind != PlainKind::kString ||
               HasControlCharacters(s, /*allow_newline=*/false) ||
               s.find('\n') != std::string::npos || s.front() == ' ' || s.back() == ' ';
  if (quote) {
    out << YAML::DoubleQuoted << s;
  } else {
    out << s;
  }
}

void EmitValue(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = value.begin(); it != value.end(); ++it) {
        out << YAML::Key;
        EmitString(out, it.key());
        out << YAML::Value;
        EmitValue(out, it.value());
      }
      out << YAML::EndMap;
      return;
    case Json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const Json& item : value) EmitValue(out, item);
      out << YAML::EndSeq;
      return;
    case Json::value_t::string:
      EmitString(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
      out << std::to_string(value.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out << std::to_string(value.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      out << FormatDouble(value.get<double>());
      return;
    case Json::value_t::null:
    case Json::value_t::discarded:
    case Json::value_t::binary:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::string FieldPathAppendKey(std::string_view base, std::string_view key) {
  bool plain = !key.empty();
  for (char c : key) plain = plain && IsPlainKeyChar(c);
  std::string out(base);
  if (plain) {
    if (!out.empty()) out += '.';
    out += key;
    return out;
  }
  out += "[\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"]";
  return out;
}

std::string FieldPathAppendIndex(std::string_view base, size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

SourcePosition SourceMap::Find(std::string_view path) const {
  while (true) {
    auto it = positions_.find(path);
    if (it != positions_.end()) return it->second;
    if (path.empty()) return {};
    size_t cut;
    if (path.size() >= 2 && path.substr(path.size() - 2) == "\"]") {
      cut = path.rfind("[\"");
    } else if (path.back() == ']') {
      cut = path.rfind('[');
    } else {
      cut = path.find_last_of(".[");
    }
    path = cut == std::string_view::npos ? std::string_view() : path.substr(0, cut);
  }
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto byte = [&](size_t k) -> unsigned char {
    return k < n ? static_cast<unsigned char>(text[k]) : 0;
  };
  auto cont = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
  while (i < n) {
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF && cont(i + 1)) {
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF && cont(i + 1) && cont(i + 2) &&
               !(c == 0xE0 && byte(i + 1) < 0xA0) && !(c == 0xED && byte(i + 1) >= 0xA0)) {
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4 && cont(i + 1) && cont(i + 2) && cont(i + 3) &&
               !(c == 0xF0 && byte(i + 1) < 0x90) && !(c == 0xF4 && byte(i + 1) >= 0x90)) {
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

Result<std::vector<Document>> ParseYaml(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_document_bytes) {
    return InvalidError("1:1: document is " + std::to_string(text.size()) +
                        " bytes, more than the limit of " +
                        std::to_string(limits.max_document_bytes));
  }
  if (text.find('\0') != std::string_view::npos) {
    size_t at = text.find('\0');
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') ++line, line_start = i + 1;
    }
    return InvalidError(std::to_string(line) + ":" + std::to_string(at - line_start + 1) +
                        ": NUL byte in a YAML document");
  }
  std::vector<YAML::Node> nodes;
  try {
    std::string copy(text);
    nodes = YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    SourcePosition p = FromMark(e.mark);
    if (!p.known()) p = {1, 1};
    std::string message = e.msg;
    if (message == "bad file") message = "document nested too deeply or malformed";
    return InvalidError(PositionPrefix(p) + message);
  } catch (const std::exception& e) {
    return InvalidError(std::string("1:1: cannot parse YAML: ") + e.what());
  }
  std::vector<Document> documents;
  int index = 0;
  for (const YAML::Node& node : nodes) {
    ++index;
    if (node.IsNull() || !node.IsDefined()) continue;
    Document doc;
    doc.index = index;
    YamlConverter converter(limits, &doc.positions);
    SourcePosition at = FromMark(node.Mark());
    try {
      if (!converter.Convert(node, "", at.known() ? at : SourcePosition{1, 1}, 0, &doc.value)) {
        return converter.error();
      }
    } catch (const YAML::Exception& e) {
      return InvalidError(PositionPrefix(FromMark(e.mark)) + e.msg);
    }
    documents.push_back(std::move(doc));
  }
  return documents;
}

std::string RenderYaml(const Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitValue(out, value);
  std::string text = out.c_str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

}  // namespace drover
