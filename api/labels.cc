#include "api/labels.h"

#include <limits>

namespace drover {
namespace {

constexpr std::string_view kNameRule =
    "consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit";

bool IsAlphanumeric(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsLowerAlphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A character as an operator should see it in a message: 'x', or '\xNN' when not printable.
std::string Quote(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(c);
  return std::string("'\\x") + kHex[byte >> 4] + kHex[byte & 0xf] + "'";
}

std::string TooLong(std::string_view what, size_t max, size_t got) {
  std::string out(what);
  if (!out.empty()) out += ' ';
  out += "must be at most " + std::to_string(max) + " characters (got " + std::to_string(got) + ")";
  return out;
}

// Why `text` (non-empty) fails ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], or nullopt if it matches.
std::optional<std::string> NamePatternProblem(std::string_view text) {
  for (char c : text) {
    if (!IsAlphanumeric(c) && c != '-' && c != '_' && c != '.') return "found " + Quote(c);
  }
  if (!IsAlphanumeric(text.front())) return "starts with " + Quote(text.front());
  if (!IsAlphanumeric(text.back())) return "ends with " + Quote(text.back());
  return std::nullopt;
}

// Why `text` (non-empty) is not a DNS-1123 subdomain: dot-separated parts, each matching
// [a-z0-9]([-a-z0-9]*[a-z0-9])?. Length is checked by the caller.
std::optional<std::string> SubdomainPatternProblem(std::string_view text) {
  for (char c : text) {
    if (!IsLowerAlphanumeric(c) && c != '-' && c != '.') return "found " + Quote(c);
  }
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    const std::string_view part =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty()) return std::string("has an empty part between dots");
    if (part.front() == '-' || part.back() == '-') {
      return "part '" + std::string(part) + "' starts or ends with '-'";
    }
    if (dot == std::string_view::npos) return std::nullopt;
    start = dot + 1;
  }
}

// Joins Kubernetes-style findings: a length problem and a pattern problem can both apply.
void Append(std::string& out, const std::string& finding) {
  if (!out.empty()) out += "; ";
  out += finding;
}

}  // namespace

std::optional<std::string> LabelKeyError(std::string_view key) {
  if (key.empty()) return std::string("must not be empty");
  const size_t slash = key.find('/');
  std::string_view name = key;
  std::string out;
  if (slash != std::string_view::npos) {
    if (key.find('/', slash + 1) != std::string_view::npos) {
      return std::string(
          "must be a name with an optional DNS subdomain prefix and a single '/', such as "
          "'example.com/zone' (found more than one '/')");
    }
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) {
      Append(out, "prefix part must not be empty (nothing before the '/')");
    } else {
      if (prefix.size() > kLabelKeyPrefixMaxLength) {
        Append(out, TooLong("prefix part", kLabelKeyPrefixMaxLength, prefix.size()));
      }
      if (auto problem = SubdomainPatternProblem(prefix)) {
        Append(out,
               "prefix part must be a lowercase DNS subdomain such as 'example.com': lowercase "
               "letters, digits, '-' and '.', each dot-separated part starting and ending with a "
               "letter or digit (" +
                   *problem + ")");
      }
    }
    if (name.empty()) {
      Append(out, "name part must not be empty (nothing after the '/')");
      return out;
    }
  }
  if (name.size() > kLabelNameMaxLength) {
    Append(out, TooLong("name part", kLabelNameMaxLength, name.size()));
  }
  if (auto problem = NamePatternProblem(name)) {
    Append(out, "name part must " + std::string(kNameRule) + " (" + *problem + ")");
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> LabelValueError(std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::string out;
  if (value.size() > kLabelValueMaxLength) {
    Append(out, TooLong("", kLabelValueMaxLength, value.size()));
  }
  if (auto problem = NamePatternProblem(value)) {
    Append(out, "must be empty or " + std::string(kNameRule) + " (" + *problem + ")");
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> NodeIdError(std::string_view id) {
  if (id.empty()) return std::string("must not be empty");
  std::string out;
  if (id.size() > kNodeIdMaxLength) Append(out, TooLong("", kNodeIdMaxLength, id.size()));
  for (char c : id) {
    if (!IsAlphanumeric(c) && c != '.' && c != '_' && c != '-') {
      Append(out, "must consist only of letters, digits, '.', '_' or '-' (found " + Quote(c) + ")");
      break;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<int64_t> ParseLabelInteger(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  // Accumulate the magnitude; a negative number may reach 2^63, a positive one 2^63 - 1.
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (limit - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    return magnitude == (uint64_t{1} << 63) ? std::numeric_limits<int64_t>::min()
                                            : -static_cast<int64_t>(magnitude);
  }
  return static_cast<int64_t>(magnitude);
}

}  // namespace drover
