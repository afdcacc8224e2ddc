#include "api/duration.h"

#include <cstdint>
#include <limits>

namespace drover {
namespace {

struct Unit {
  std::string_view name;
  uint64_t nanoseconds;
};

constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// Appends the fraction digits of v / 10^precision without trailing zeros, then the integer part.
// Mirrors the shape of Go's output without sharing its code.
std::string FormatFraction(uint64_t value, int precision, uint64_t* integer_part) {
  std::string digits;
  bool printed = false;
  for (int i = 0; i < precision; ++i) {
    int digit = static_cast<int>(value % 10);
    printed = printed || digit != 0;
    if (printed) digits.push_back(static_cast<char>('0' + digit));
    value /= 10;
  }
  *integer_part = value;
  if (!printed) return {};
  digits.push_back('.');
  return std::string(digits.rbegin(), digits.rend());
}

}  // namespace

std::string Duration::ToString() const {
  if (nanoseconds_ == 0) return "0s";
  bool negative = nanoseconds_ < 0;
  uint64_t u = negative ? static_cast<uint64_t>(-(nanoseconds_ + 1)) + 1
                        : static_cast<uint64_t>(nanoseconds_);
  std::string out;
  if (negative) out.push_back('-');
  uint64_t integer = 0;
  if (u < 1'000'000'000) {
    int precision = u < 1'000 ? 0 : u < 1'000'000 ? 3 : 6;
    const char* unit = u < 1'000 ? "ns" : u < 1'000'000 ? "\xC2\xB5s" : "ms";
    std::string fraction = FormatFraction(u, precision, &integer);
    out.append(std::to_string(integer)).append(fraction).append(unit);
    return out;
  }
  std::string fraction = FormatFraction(u, 9, &integer);
  uint64_t seconds = integer % 60;
  uint64_t minutes = integer / 60;
  if (minutes >= 60) out.append(std::to_string(minutes / 60)).append("h");
  if (minutes > 0) out.append(std::to_string(minutes % 60)).append("m");
  out.append(std::to_string(seconds)).append(fraction).append("s");
  return out;
}

Result<Duration> ParseDuration(std::string_view text) {
  const std::string_view original = text;
  auto invalid = [&](std::string why) {
    return InvalidError(why + " in duration " + Quote(original));
  };
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return Duration();
  if (text.empty()) return invalid("empty value");
  // Work in unsigned nanoseconds; the limit is 2^63 (the magnitude of INT64_MIN).
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
  uint64_t total = 0;
  while (!text.empty()) {
    uint64_t whole = 0;
    bool overflow = false;
    size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (whole > (kLimit - 9) / 10) overflow = true;
      whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
    }
    bool had_whole = i > 0;
    text.remove_prefix(i);
    uint64_t fraction = 0;
    uint64_t scale = 1;
    bool had_fraction = false;
    if (!text.empty() && text[0] == '.') {
      text.remove_prefix(1);
      size_t j = 0;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
        if (scale < 1'000'000'000'000'000'000ULL) {  // keep 19 digits, drop the rest
          fraction = fraction * 10 + static_cast<uint64_t>(text[j] - '0');
          scale *= 10;
        }
        ++j;
      }
      had_fraction = j > 0;
      text.remove_prefix(j);
    }
    if (!had_whole && !had_fraction) return invalid("expected a number");
    size_t u = 0;
    while (u < text.size() && text[u] != '.' && (text[u] < '0' || text[u] > '9')) ++u;
    std::string_view unit_name = text.substr(0, u);
    text.remove_prefix(u);
    if (unit_name.empty()) return invalid("missing unit (use ns, us, ms, s, m or h)");
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (candidate.name == unit_name) unit = &candidate;
    }
    if (unit == nullptr) return invalid("unknown unit " + Quote(unit_name));
    if (overflow || whole > kLimit / unit->nanoseconds) return invalid("value out of range");
    uint64_t part = whole * unit->nanoseconds;
    if (fraction > 0) {
      // fraction/scale of a unit, computed without overflow for units up to an hour.
      long double extra = static_cast<long double>(fraction) *
                          static_cast<long double>(unit->nanoseconds) /
                          static_cast<long double>(scale);
      part += static_cast<uint64_t>(extra);
    }
    if (part > kLimit - total) return invalid("value out of range");
    total += part;
  }
  if (!negative && total == kLimit) return invalid("value out of range");
  int64_t signed_total =
      total == kLimit ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(total);
  return Duration::Nanoseconds(negative ? -signed_total : signed_total);
}

}  // namespace drover
