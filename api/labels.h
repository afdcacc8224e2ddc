// Validation of label keys, label values and node ids, with the rules of Kubernetes (SPEC §2
// "Labels"): each check returns std::nullopt when the text is valid, else one sentence an
// operator can act on. Pure functions over their arguments; safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drover {

// Limits of SPEC §2, as Kubernetes has them.
inline constexpr size_t kLabelKeyPrefixMaxLength = 253;  // DNS-1123 subdomain
inline constexpr size_t kLabelNameMaxLength = 63;        // the part after the '/'
inline constexpr size_t kLabelValueMaxLength = 63;
inline constexpr size_t kNodeIdMaxLength = 253;

// A label key is Kubernetes' "qualified name": an optional DNS-1123 subdomain prefix (lowercase,
// at most 253 characters) and '/', then a name of at most 63 characters matching
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. Examples: "env", "example.com/zone".
// Errors read like "name part must be at most 63 characters (got 70)".
std::optional<std::string> LabelKeyError(std::string_view key);

// A label value is empty, or at most 63 characters matching the name pattern above.
std::optional<std::string> LabelValueError(std::string_view value);

// A node id is 1 to 253 characters of [A-Za-z0-9._-].
std::optional<std::string> NodeIdError(std::string_view id);

// `text` as a base-10 int64 with the rules of Go's strconv.ParseInt(text, 10, 64), which
// Kubernetes uses for the `>` and `<` operators: an optional '+' or '-' then one or more digits,
// nothing else, in range. std::nullopt when it is not such an integer.
std::optional<int64_t> ParseLabelInteger(std::string_view text);

}  // namespace drover
