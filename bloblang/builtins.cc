#include "bloblang/builtins.h"

#include <locale.h>
#include <wctype.h>

#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>

namespace drover::bloblang {
namespace {

// Bento's parameter types, named as its errors name them.
enum class ParamType { kString, kBool, kFloat, kAny };

struct Param {
  std::string_view name;
  ParamType type;
  bool required;
  Json default_value;  // null when none
};

struct Spec {
  std::string_view name;
  std::vector<Param> params;
};

std::string_view ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "string";
    case ParamType::kBool:
      return "bool";
    case ParamType::kFloat:
      return "float";
    case ParamType::kAny:
      return "unknown";
  }
  return "unknown";
}

const std::vector<std::pair<Function, Spec>>& Functions() {
  static const auto* kFunctions = new std::vector<std::pair<Function, Spec>>{
      {Function::kNow, {"now", {}}},
      {Function::kTimestampUnix, {"timestamp_unix", {}}},
      {Function::kUuidV4, {"uuid_v4", {}}},
      {Function::kHostname, {"hostname", {}}},
      {Function::kEnv,
       {"env",
        {{"name", ParamType::kString, true, nullptr},
         {"no_cache", ParamType::kBool, false, false}}}},
      {Function::kContent, {"content", {}}},
      {Function::kMeta, {"meta", {{"key", ParamType::kString, false, ""}}}},
      {Function::kDeleted, {"deleted", {}}},
  };
  return *kFunctions;
}

const std::vector<std::pair<Method, Spec>>& Methods() {
  static const auto* kMethods = new std::vector<std::pair<Method, Spec>>{
      {Method::kUppercase, {"uppercase", {}}},
      {Method::kLowercase, {"lowercase", {}}},
      {Method::kLength, {"length", {}}},
      {Method::kContains, {"contains", {{"value", ParamType::kAny, true, nullptr}}}},
      {Method::kTrim, {"trim", {{"cutset", ParamType::kString, false, nullptr}}}},
      {Method::kReplaceAll,
       {"replace_all",
        {{"old", ParamType::kString, true, nullptr}, {"new", ParamType::kString, true, nullptr}}}},
      {Method::kSplit, {"split", {{"delimiter", ParamType::kAny, true, nullptr}}}},
      {Method::kString, {"string", {}}},
      {Method::kNumber, {"number", {{"default", ParamType::kFloat, false, nullptr}}}},
      {Method::kParseJson, {"parse_json", {{"use_number", ParamType::kBool, false, false}}}},
      {Method::kFormatJson,
       {"format_json",
        {{"indent", ParamType::kString, false, "    "},
         {"no_indent", ParamType::kBool, false, false}}}},
      {Method::kNotNull, {"not_null", {}}},
  };
  return *kMethods;
}

const Spec& SpecOf(Function f) {
  for (const auto& [fn, spec] : Functions()) {
    if (fn == f) return spec;
  }
  return Functions().front().second;
}

const Spec& SpecOf(Method m) {
  for (const auto& [method, spec] : Methods()) {
    if (method == m) return spec;
  }
  return Methods().front().second;
}

// Bento's parseArgValue: whether `v` fits `type`, converted in place (bool params accept
// numbers, float params any number).
bool FitsParam(ParamType type, Json* v) {
  switch (type) {
    case ParamType::kString:
      if (v->is_binary()) {
        const auto& b = v->get_binary();
        *v = std::string(b.begin(), b.end());
      }
      return v->is_string();
    case ParamType::kBool:
      if (auto b = GetBool(*v)) {
        *v = *b;
        return true;
      }
      return false;
    case ParamType::kFloat:
      if (auto d = GetNumber(*v)) {
        *v = *d;
        return true;
      }
      return false;
    case ParamType::kAny:
      return true;
  }
  return false;
}

std::string CheckArguments(const Spec& spec, const std::vector<NodePtr>& args) {
  if (args.size() > spec.params.size()) {
    return "wrong number of arguments, expected " + std::to_string(spec.params.size()) + ", got " +
           std::to_string(args.size());
  }
  std::vector<std::string_view> missing;
  for (size_t i = 0; i < spec.params.size(); ++i) {
    const Param& p = spec.params[i];
    if (i >= args.size()) {
      if (p.required) missing.push_back(p.name);
      continue;
    }
    const Node& arg = *args[i];
    if (arg.kind != Node::Kind::kLiteral) continue;  // dynamic: checked when evaluated
    Json v = arg.literal;
    std::string_view type =
        arg.literal_kind == Value::Kind::kValue
            ? TypeName(arg.literal)
            : (arg.literal_kind == Value::Kind::kDeleted ? "delete" : "nothing");
    if (arg.literal_kind != Value::Kind::kValue || !FitsParam(p.type, &v)) {
      return "field " + std::string(p.name) + ": wrong argument type, expected " +
             std::string(ParamTypeName(p.type)) + ", got " + std::string(type);
    }
  }
  if (missing.size() == 1) return "missing parameter: " + std::string(missing[0]);
  if (missing.size() > 1) {
    std::string out = "missing parameters: ";
    for (size_t i = 0; i < missing.size(); ++i) {
      if (i > 0) out += ", ";
      out += missing[i];
    }
    return out;
  }
  return "";
}

bool CompleteArguments(const Spec& spec, std::vector<Value>* args, std::string* error) {
  for (size_t i = 0; i < spec.params.size(); ++i) {
    const Param& p = spec.params[i];
    if (i >= args->size()) {
      args->push_back(Value::Own(p.default_value));
      continue;
    }
    Value& a = (*args)[i];
    Json v = a.is_value() ? a.get() : Json();
    if (!a.is_value() || !FitsParam(p.type, &v)) {
      *error = "failed to extract input arg '" + std::string(p.name) +
               "': wrong argument type, expected " + std::string(ParamTypeName(p.type)) + ", got " +
               std::string(TypeName(a));
      return false;
    }
    a = Value::Own(std::move(v));
  }
  return true;
}

// ---- strings ------------------------------------------------------------------------------

std::optional<std::string_view> StringOrBytes(const Json& v) {
  if (v.is_string()) return std::string_view(v.get_ref<const std::string&>());
  if (v.is_binary()) {
    const auto& b = v.get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return std::nullopt;
}

// A result of the same kind as the input: bytes in, bytes out.
Json SameKind(const Json& like, std::string s) {
  if (like.is_binary()) return Json::binary(std::vector<uint8_t>(s.begin(), s.end()));
  return Json(std::move(s));
}

locale_t Utf8Locale() {
  static locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return locale;
}

// Go's strings.ToUpper/ToLower: Unicode case mapping; invalid UTF-8 bytes are kept as they are.
std::string ChangeCase(std::string_view s, bool upper) {
  std::string out;
  out.reserve(s.size());
  locale_t locale = Utf8Locale();
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(upper ? (c >= 'a' && c <= 'z' ? c - 32 : c)
                                            : (c >= 'A' && c <= 'Z' ? c + 32 : c)));
      ++i;
      continue;
    }
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0 || locale == static_cast<locale_t>(0)) {
      out.push_back(s[i]);
      ++i;
      continue;
    }
    wint_t mapped = upper ? towupper_l(static_cast<wint_t>(cp), locale)
                          : towlower_l(static_cast<wint_t>(cp), locale);
    AppendUtf8(static_cast<unsigned>(mapped), &out);
    i += len;
  }
  return out;
}

bool IsGoSpace(unsigned cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cp == '\r' ||
         cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Go's strings.TrimSpace.
std::string_view TrimSpace(std::string_view s) {
  size_t start = 0;
  while (start < s.size()) {
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, start, &cp);
    if (len == 0 || !IsGoSpace(cp)) break;
    start += len;
  }
  size_t end = s.size();
  while (end > start) {
    // Step back over one code point.
    size_t k = end - 1;
    while (k > start && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, k, &cp);
    if (len != end - k || !IsGoSpace(cp)) break;
    end = k;
  }
  return s.substr(start, end - start);
}

// Go's strings.Trim(s, cutset): code points in the cutset removed from both ends.
std::string_view TrimCutset(std::string_view s, std::string_view cutset) {
  auto in_cutset = [&](std::string_view cp) { return cutset.find(cp) != std::string_view::npos; };
  size_t start = 0;
  while (start < s.size()) {
    unsigned cp = 0;
    size_t len = DecodeUtf8(s, start, &cp);
    if (len == 0) len = 1;
    if (!in_cutset(s.substr(start, len))) break;
    start += len;
  }
  size_t end = s.size();
  while (end > start) {
    size_t k = end - 1;
    while (k > start && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    if (!in_cutset(s.substr(k, end - k))) break;
    end = k;
  }
  return s.substr(start, end - start);
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) {
    // Go inserts `to` before every code point and at the end.
    size_t i = 0;
    while (i < s.size()) {
      out.append(to);
      unsigned cp = 0;
      size_t len = DecodeUtf8(s, i, &cp);
      if (len == 0) len = 1;
      out.append(s.substr(i, len));
      i += len;
    }
    out.append(to);
    return out;
  }
  size_t i = 0;
  while (true) {
    size_t found = s.find(from, i);
    if (found == std::string_view::npos) break;
    out.append(s.substr(i, found - i));
    out.append(to);
    i = found + from.size();
  }
  out.append(s.substr(i));
  return out;
}

Json Split(const Json& like, std::string_view s, std::string_view sep) {
  Json out = Json::array();
  if (sep.empty()) {  // Go splits into code points
    size_t i = 0;
    while (i < s.size()) {
      unsigned cp = 0;
      size_t len = DecodeUtf8(s, i, &cp);
      if (len == 0) len = 1;
      out.push_back(SameKind(like, std::string(s.substr(i, len))));
      i += len;
    }
    return out;
  }
  size_t i = 0;
  while (true) {
    size_t found = s.find(sep, i);
    if (found == std::string_view::npos) break;
    out.push_back(SameKind(like, std::string(s.substr(i, found - i))));
    i = found + sep.size();
  }
  out.push_back(SameKind(like, std::string(s.substr(i))));
  return out;
}

// Go's strconv.ParseFloat(s, 64), with its error texts.
bool GoParseFloat(std::string_view s, double* out, std::string* error) {
  auto syntax = [&] {
    *error = "strconv.ParseFloat: parsing " + GoQuote(s) + ": invalid syntax";
    return false;
  };
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  auto lower_equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    }
    return true;
  };
  if (lower_equals(body, "inf") || lower_equals(body, "infinity")) {
    *out = negative ? -HUGE_VAL : HUGE_VAL;
    return true;
  }
  if (lower_equals(body, "nan") && body.size() == s.size()) {
    *out = std::nan("");
    return true;
  }
  if (body.empty()) return syntax();
  // Go allows underscores only between digits of a base-prefixed number; we refuse them.
  bool hex = body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X');
  const char* begin = body.data() + (hex ? 2 : 0);
  const char* end = body.data() + body.size();
  if (!hex) {
    // Go's decimal syntax: digits with an optional point and exponent; from_chars also accepts
    // these and nothing else that Go would refuse, except a leading point, which Go allows.
    for (char c : body) {
      if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
            c == '+' || c == '-')) {
        return syntax();
      }
    }
  } else if (body.find_first_of("pP") == std::string_view::npos) {
    return syntax();  // Go requires a p exponent in hexadecimal floats
  }
  double v = 0;
  auto r =
      std::from_chars(begin, end, v, hex ? std::chars_format::hex : std::chars_format::general);
  if (r.ptr != end) return syntax();
  if (r.ec == std::errc::result_out_of_range) {
    *error = "strconv.ParseFloat: parsing " + GoQuote(s) + ": value out of range";
    return false;
  }
  if (r.ec != std::errc()) return syntax();
  *out = negative ? -v : v;
  return true;
}

// Numbers from parse_json are float64, as Go's json.Unmarshal decodes them.
void NumbersToFloat(Json* v) {
  if (v->is_number_integer()) {
    *v = v->get<double>();
  } else if (v->is_structured()) {
    for (Json& child : *v) NumbersToFloat(&child);
  }
}

bool TypeError(std::string_view expected, MethodError* error) {
  error->expected = expected;
  return false;
}

std::string_view ExpectedType(Method m) {
  switch (m) {
    case Method::kLength:
    case Method::kContains:
      return "string, array or object";
    case Method::kSplit:
      return "string or array";
    case Method::kNumber:
      return "number";
    default:
      return "string";
  }
}

}  // namespace

std::optional<Function> LookupFunction(std::string_view name) {
  for (const auto& [fn, spec] : Functions()) {
    if (spec.name == name) return fn;
  }
  return std::nullopt;
}

std::optional<Method> LookupMethod(std::string_view name) {
  for (const auto& [m, spec] : Methods()) {
    if (spec.name == name) return m;
  }
  return std::nullopt;
}

std::string CheckFunctionArguments(Function f, const std::vector<NodePtr>& args) {
  return CheckArguments(SpecOf(f), args);
}

std::string CheckMethodArguments(Method m, const std::vector<NodePtr>& args) {
  return CheckArguments(SpecOf(m), args);
}

bool CompleteFunctionArguments(Function f, std::vector<Value>* args, std::string* error) {
  return CompleteArguments(SpecOf(f), args, error);
}

bool CompleteMethodArguments(Method m, std::vector<Value>* args, std::string* error) {
  return CompleteArguments(SpecOf(m), args, error);
}

bool RunMethod(Method m, Value& target, std::vector<Value>& args, Value* out, MethodError* error) {
  if (!target.is_value()) {
    // deleted() and nothing reach a method as themselves; most methods refuse them.
    if (m == Method::kNotNull) {
      *out = std::move(target);
      return true;
    }
    if (m == Method::kString || m == Method::kFormatJson) {
      *out = Value::Own(m == Method::kString ? Json("null") : Json::binary({'n', 'u', 'l', 'l'}));
      return true;
    }
    return TypeError(ExpectedType(m), error);
  }
  const Json& v = target.get();
  switch (m) {
    case Method::kUppercase:
    case Method::kLowercase: {
      auto s = StringOrBytes(v);
      if (!s) return TypeError("string", error);
      *out = Value::Own(SameKind(v, ChangeCase(*s, m == Method::kUppercase)));
      return true;
    }
    case Method::kLength: {
      if (auto s = StringOrBytes(v)) {
        *out = Value::Own(static_cast<int64_t>(s->size()));
      } else if (v.is_array() || v.is_object()) {
        *out = Value::Own(static_cast<int64_t>(v.size()));
      } else {
        return TypeError(ExpectedType(m), error);
      }
      return true;
    }
    case Method::kContains: {
      const Json& needle = args[0].get();
      if (auto s = StringOrBytes(v)) {
        std::string n = ToBentoString(needle);
        *out = Value::Own(s->find(n) != std::string_view::npos);
        return true;
      }
      if (v.is_array() || v.is_object()) {
        bool found = false;
        for (const Json& item : v) {
          if (ValuesEqual(needle, item)) {
            found = true;
            break;
          }
        }
        *out = Value::Own(found);
        return true;
      }
      return TypeError(ExpectedType(m), error);
    }
    case Method::kTrim: {
      auto s = StringOrBytes(v);
      if (!s) return TypeError("string", error);
      const Json& cutset = args[0].get();
      std::string_view trimmed =
          cutset.is_string() ? TrimCutset(*s, cutset.get_ref<const std::string&>()) : TrimSpace(*s);
      *out = Value::Own(SameKind(v, std::string(trimmed)));
      return true;
    }
    case Method::kReplaceAll: {
      auto s = StringOrBytes(v);
      if (!s) return TypeError("string", error);
      *out = Value::Own(SameKind(v, ReplaceAll(*s, args[0].get().get_ref<const std::string&>(),
                                               args[1].get().get_ref<const std::string&>())));
      return true;
    }
    case Method::kSplit: {
      const Json& delimiter = args[0].get();
      if (auto s = StringOrBytes(v)) {
        auto sep = StringOrBytes(delimiter);
        if (!sep) {
          error->message = "delimiter: " + TypeErrorText("string", delimiter);
          return false;
        }
        *out = Value::Own(Split(v, *s, *sep));
        return true;
      }
      if (v.is_array()) {
        Json result = Json::array();
        Json current = Json::array();
        for (const Json& item : v) {
          if (ValuesEqual(item, delimiter)) {
            result.push_back(std::move(current));
            current = Json::array();
          } else {
            current.push_back(item);
          }
        }
        result.push_back(std::move(current));
        *out = Value::Own(std::move(result));
        return true;
      }
      return TypeError(ExpectedType(m), error);
    }
    case Method::kString:
      if (v.is_string()) {
        *out = std::move(target);
      } else {
        *out = Value::Own(ToBentoString(v));
      }
      return true;
    case Method::kNumber: {
      double d = 0;
      if (auto n = GetNumber(v)) {
        d = *n;
      } else if (auto s = StringOrBytes(v)) {
        if (!GoParseFloat(*s, &d, &error->message)) {
          if (args[0].get().is_number()) {
            *out = Value::Own(args[0].get().get<double>());
            return true;
          }
          return false;
        }
      } else {
        if (args[0].get().is_number()) {
          *out = Value::Own(args[0].get().get<double>());
          return true;
        }
        return TypeError("number", error);
      }
      *out = Value::Own(d);
      return true;
    }
    case Method::kParseJson: {
      auto s = StringOrBytes(v);
      if (!s) return TypeError("string", error);
      Json parsed;
      std::string problem;
      if (!ParseJsonDocument(*s, &parsed, &problem)) {
        error->message = "failed to parse value as JSON: " + problem;
        return false;
      }
      if (!args[0].get().get<bool>()) NumbersToFloat(&parsed);
      *out = Value::Own(std::move(parsed));
      return true;
    }
    case Method::kFormatJson: {
      std::string indent = args[0].get().get<std::string>();
      bool no_indent = args[1].get().get<bool>();
      std::string text, bad;
      JsonStyle style{.escape_html = true, .pretty = !no_indent, .indent = indent};
      if (!AppendJson(v, style, &text, &bad)) {
        error->message = "json: unsupported value: " + bad;
        return false;
      }
      *out = Value::Own(Json::binary(std::vector<uint8_t>(text.begin(), text.end())));
      return true;
    }
    case Method::kNotNull:
      if (v.is_null()) {
        error->message = "value is null";
        return false;
      }
      *out = std::move(target);
      return true;
  }
  error->message = "unsupported method";
  return false;
}

char* WriteRfc3339Nano(int64_t unix_nanos, char* out) {
  int64_t seconds = unix_nanos / 1000000000;
  int64_t nanos = unix_nanos % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    seconds -= 1;
  }
  // "YYYY-MM-DDTHH:MM:SS" of the last second formatted on this thread: a mapping that stamps
  // every message formats the date once a second, not once a message.
  struct Second {
    int64_t seconds = INT64_MIN;
    char text[19];
  };
  thread_local Second cached;
  auto put = [](char* p, int64_t v, int width) {
    for (int k = width - 1; k >= 0; --k) {
      p[k] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  if (cached.seconds != seconds) {
    int64_t days = seconds / 86400;
    int64_t rest = seconds % 86400;
    if (rest < 0) {
      rest += 86400;
      days -= 1;
    }
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    char* p = cached.text;
    put(p, year, 4);
    p[4] = '-';
    put(p + 5, month, 2);
    p[7] = '-';
    put(p + 8, day, 2);
    p[10] = 'T';
    put(p + 11, rest / 3600, 2);
    p[13] = ':';
    put(p + 14, rest / 60 % 60, 2);
    p[16] = ':';
    put(p + 17, rest % 60, 2);
    cached.seconds = seconds;
  }
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* p = out;
  std::memcpy(p, cached.text, sizeof(cached.text));
  p += sizeof(cached.text);
  if (nanos != 0) {
    *p++ = '.';
    // Nine digits: one, then two groups of four, each as two pairs (short dependency chains).
    uint32_t n = static_cast<uint32_t>(nanos);
    uint32_t high = n / 10000;  // the first five digits
    uint32_t low = n % 10000;
    *p = static_cast<char>('0' + high / 10000);
    uint32_t middle = high % 10000;
    std::memcpy(p + 1, kPairs + 2 * (middle / 100), 2);
    std::memcpy(p + 3, kPairs + 2 * (middle % 100), 2);
    std::memcpy(p + 5, kPairs + 2 * (low / 100), 2);
    std::memcpy(p + 7, kPairs + 2 * (low % 100), 2);
    p += 9;
    while (p[-1] == '0') --p;  // Go trims trailing zeros of the fraction
  }
  *p++ = 'Z';
  return p;
}

void AppendRfc3339Nano(int64_t unix_nanos, std::string* out) {
  char buf[kRfc3339NanoMax];
  out->append(buf, WriteRfc3339Nano(unix_nanos, buf));
}

std::string FormatRfc3339Nano(int64_t unix_nanos) {
  std::string out;
  AppendRfc3339Nano(unix_nanos, &out);
  return out;
}

}  // namespace drover::bloblang
