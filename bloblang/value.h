// Values of Bloblang as the interpreter sees them, and the Go-compatible ways of printing and
// comparing them. A value is an nlohmann::json (int64, uint64 and double stay distinct; bytes are
// the json binary type), plus the two markers a query may yield instead: "nothing" (no value at
// all: an `if` without `else` that did not match) and "deleted" (the `deleted()` function).
//
// Printing follows Go's encoding/json and strconv, because Bento is written in Go and Drover's
// output must match it byte for byte: whole floats print without ".0", large and tiny ones use
// exponents the way Go does, and HTML characters are escaped only where Bento escapes them.
// Pure functions; no shared state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace drover::bloblang {

using Json = nlohmann::json;

// What a query produced. Values borrowed from the message, a variable or a literal are not
// copied: `ref` points at them and stays valid for the rest of the statement.
struct Value {
  enum class Kind : uint8_t { kValue, kNothing, kDeleted };

  Kind kind = Kind::kValue;
  const Json* ref = nullptr;
  Json own;

  static Value Borrow(const Json* v) {
    Value r;
    r.ref = v;
    return r;
  }
  static Value Own(Json v) {
    Value r;
    r.own = std::move(v);
    return r;
  }
  static Value Nothing() {
    Value r;
    r.kind = Kind::kNothing;
    return r;
  }
  static Value Deleted() {
    Value r;
    r.kind = Kind::kDeleted;
    return r;
  }

  bool is_value() const { return kind == Kind::kValue; }
  const Json& get() const { return ref != nullptr ? *ref : own; }
  // The value, moved out when owned.
  Json Take() { return ref != nullptr ? *ref : std::move(own); }
};

// Bento's type names: string, bytes, number, bool, array, object, null (and delete, nothing).
std::string_view TypeName(const Json& v);
std::string_view TypeName(const Value& v);

// The value as Go's fmt "%v" would print it inside an error message: strings quoted, numbers
// and bools bare, other types empty (Bento's TypeError shows no value for them).
std::string ErrorValueText(const Json& v);

// "expected string value, got number (5)" (Bento's value.TypeError).
std::string TypeErrorText(std::string_view expected, const Json& actual);

// Go's strconv.FormatFloat(f, 'g', -1, 64): "3", "2.5", "1e+06", "1.5e-05".
std::string FormatFloatShortest(double f);

// Bento's value.IToString: strings and bytes raw, numbers in Go's shortest form, bools,
// "null", and JSON (HTML-escaped, as json.Marshal does) for arrays and objects.
std::string ToBentoString(const Json& v);

struct JsonStyle {
  bool escape_html = false;  // <, >, & as \u003c, \u003e, \u0026 (json.Marshal's default)
  bool pretty = false;       // one member per line, as json.MarshalIndent
  std::string_view indent;   // one level of indentation when pretty
};

// Appends `v` as Go's encoding/json would: sorted keys, floats in Go's form, bytes as base64,
// U+2028 and U+2029 escaped. Returns false (and appends nothing useful) when the value holds a
// NaN or an infinity, which JSON cannot represent; `*bad` then says which.
bool AppendJson(const Json& v, const JsonStyle& style, std::string* out, std::string* bad);

// Appends `s` as a JSON string the way AppendJson writes one.
void AppendJsonString(std::string_view s, bool escape_html, std::string* out);

// Bento's value.IGetBool: bools, and numbers (non-zero is true).
std::optional<bool> GetBool(const Json& v);
// Bento's value.IGetNumber: any number as a double.
std::optional<double> GetNumber(const Json& v);
// Bento's value.IGetInt: any number as an int64 (floats truncate).
std::optional<int64_t> GetInt(const Json& v);

// Bento's value.ICompare: deep equality where numbers compare by value across int and float,
// strings equal bytes, and a bool equals a number that reads as that bool.
bool ValuesEqual(const Json& left, const Json& right);

// Decodes the UTF-8 sequence at s[i]: its length, or 0 when it is not valid UTF-8.
size_t DecodeUtf8(std::string_view s, size_t i, unsigned* code_point);
// Appends `code_point` as UTF-8 (surrogates become U+FFFD, as in Go).
void AppendUtf8(unsigned code_point, std::string* out);

// The value of a hexadecimal digit, or -1.
int HexDigitValue(char c);

// Go's strconv.Quote: "\"a\\nb\"" style, for error messages that quote their input.
std::string GoQuote(std::string_view s);

// The message content parsed as JSON the way Bento's message decoder does, or a Go-style reason
// ("invalid character 'h' looking for beginning of value") when it is not JSON.
bool ParseMessageJson(std::string_view text, Json* out, std::string* error);

// The first JSON document of `text`, as Go's json.Decoder reads it (what follows is ignored),
// with its error texts ("EOF", "unexpected EOF", "invalid character 'x' ...").
bool ParseJsonDocument(std::string_view text, Json* out, std::string* error);

}  // namespace drover::bloblang
