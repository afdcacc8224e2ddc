#include "controller/auth.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

namespace drover::controller {
namespace {

// Longest presented token we bother comparing; anything longer cannot be in the table in practice
// and is refused before any comparison.
constexpr size_t kMaxPresentedTokenLength = 4096;
constexpr size_t kMaxNamespaceLength = 63;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && (IsBlank(text.back()) || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool IsVisibleAscii(std::string_view text) {
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// The job namespace charset of SPEC §2: [a-z0-9]([-a-z0-9_.]*[a-z0-9])?, at most 63 characters.
bool IsValidNamespace(std::string_view name) {
  if (name.empty() || name.size() > kMaxNamespaceLength) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// Compares a stored token with a presented one without an early exit: the time taken depends on
// the lengths only, never on where the first differing byte is.
bool ConstantTimeEquals(std::string_view stored, std::string_view presented) {
  volatile unsigned char difference = stored.size() == presented.size() ? 0 : 1;
  if (stored.empty()) return false;
  for (size_t i = 0; i < presented.size(); ++i) {
    difference = difference | static_cast<unsigned char>(stored[i % stored.size()] ^ presented[i]);
  }
  return difference == 0;
}

// Parses the ROLE field. Returns nullopt with `error` set when it is not a valid role; the error
// never contains the field itself unless it is recognisably a role.
std::optional<Caller> ParseRole(std::string_view field, std::string* error) {
  Caller caller;
  caller.role_name = std::string(field);
  if (field == "admin") {
    caller.role = Role::kAdmin;
    return caller;
  }
  if (field == "agent") {
    caller.role = Role::kAgent;
    return caller;
  }
  std::string_view rest;
  if (field.starts_with("writer:")) {
    caller.role = Role::kWriter;
    rest = field.substr(7);
  } else if (field.starts_with("reader:")) {
    caller.role = Role::kReader;
    rest = field.substr(7);
  } else {
    *error = "unknown role; expected admin, agent, writer:<namespace> or reader:<namespace>";
    return std::nullopt;
  }
  if (rest != "*" && !IsValidNamespace(rest)) {
    *error = "invalid namespace in role " + std::string(field.substr(0, 7)) +
             "<namespace>: expected * or [a-z0-9]([-a-z0-9_.]*[a-z0-9])?, at most 63 characters";
    return std::nullopt;
  }
  caller.namespace_ = std::string(rest);
  return caller;
}

Status Unauthorized(std::string message) { return {StatusCode::kUnauthorized, std::move(message)}; }

Status Forbidden(const Caller& caller, std::string_view reason) {
  std::string message = "role " + caller.role_name + " may only ";
  switch (caller.role) {
    case Role::kAdmin:
      message += "do everything";  // never reached: admin is never denied
      break;
    case Role::kAgent:
      message += "call the agent protocol";
      break;
    case Role::kWriter:
    case Role::kReader: {
      message += caller.role == Role::kWriter ? "read and write jobs" : "read jobs";
      message +=
          caller.namespace_ == "*" ? " in any namespace" : " in namespace " + caller.namespace_;
      message += " and read nodes";
      break;
    }
  }
  if (!reason.empty()) {
    message += "; ";
    message += reason;
  }
  return {StatusCode::kForbidden, std::move(message)};
}

}  // namespace

std::string TokenFingerprint(std::string_view token) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64-bit offset basis
  for (char c : token) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;  // FNV prime
  }
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(hash >> 32));
  return text;
}

Result<TokenTable> TokenTable::Load(std::string_view file_text) {
  return Parse(file_text, "auth token file");
}

Result<TokenTable> TokenTable::LoadFile(const std::string& path) {
  std::string source = "auth token file " + path;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    int error = errno;
    std::string message = source + ": " + std::strerror(error);
    if (error == ENOENT) return NotFoundError(std::move(message));
    return InvalidError(std::move(message));
  }
  std::string text;
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, read);
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return InvalidError(source + ": read error");
  return Parse(text, source);
}

Result<TokenTable> TokenTable::Parse(std::string_view file_text, std::string_view source) {
  if (file_text.starts_with("\xEF\xBB\xBF")) file_text.remove_prefix(3);  // UTF-8 BOM
  TokenTable table;
  std::vector<int> line_of_entry;
  auto error = [&](int line, std::string_view message) {
    return InvalidError(std::string(source) + ": line " + std::to_string(line) + ": " +
                        std::string(message));
  };

  int line_number = 0;
  size_t start = 0;
  while (start < file_text.size()) {
    size_t end = file_text.find('\n', start);
    if (end == std::string_view::npos) end = file_text.size();
    std::string_view line = Trim(file_text.substr(start, end - start));
    start = end + 1;
    ++line_number;
    if (line.empty() || line.front() == '#') continue;

    std::vector<std::string_view> fields = SplitFields(line);
    if (fields.size() == 1) return error(line_number, "expected `TOKEN ROLE`: the role is missing");
    if (fields.size() != 2) {
      return error(line_number,
                   "expected `TOKEN ROLE`, found " + std::to_string(fields.size()) + " fields");
    }
    std::string_view token = fields[0];
    if (!IsVisibleAscii(token)) {
      return error(line_number, "the token must be visible ASCII characters");
    }
    if (token.size() < kMinTokenLength) {
      return error(line_number,
                   "the token is shorter than " + std::to_string(kMinTokenLength) + " characters");
    }
    std::string role_error;
    std::optional<Caller> caller = ParseRole(fields[1], &role_error);
    if (!caller) return error(line_number, role_error);
    caller->token_id = TokenFingerprint(token);

    for (size_t i = 0; i < table.entries_.size(); ++i) {
      if (table.entries_[i].token == token) {
        return error(line_number,
                     "the same token is already on line " + std::to_string(line_of_entry[i]));
      }
      if (table.entries_[i].caller.token_id == caller->token_id) {
        return error(line_number, "the token's fingerprint collides with the token on line " +
                                      std::to_string(line_of_entry[i]) +
                                      "; generate a different token");
      }
    }
    table.entries_.push_back({std::string(token), std::move(*caller)});
    line_of_entry.push_back(line_number);
  }
  if (table.entries_.empty()) {
    return InvalidError(std::string(source) + ": no tokens (every request would be refused)");
  }
  return table;
}

Result<Caller> TokenTable::Authenticate(std::string_view authorization_header) const {
  static constexpr std::string_view kUsage = "send `Authorization: Bearer <token>`";
  std::string_view header = Trim(authorization_header);
  if (header.empty()) return Unauthorized("missing bearer token; " + std::string(kUsage));

  size_t space = 0;
  while (space < header.size() && !IsBlank(header[space])) ++space;
  std::string_view scheme = header.substr(0, space);
  std::string_view token = Trim(header.substr(space));
  // Never echo the scheme either: a header without a scheme has the token in its place.
  if (!EqualsIgnoreCase(scheme, "bearer")) {
    return Unauthorized("unsupported authorization scheme; " + std::string(kUsage));
  }
  if (token.empty()) return Unauthorized("missing bearer token; " + std::string(kUsage));

  static const Status kInvalidToken = Unauthorized("invalid bearer token");
  if (token.size() > kMaxPresentedTokenLength) return kInvalidToken;

  // Compare against every entry, whatever matched earlier, so that the time taken does not tell
  // which entry (if any) matched.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    bool equal = ConstantTimeEquals(entry.token, token);
    match = equal ? &entry : match;
  }
  if (match == nullptr) return kInvalidToken;
  return match->caller;
}

Status Authorize(const Caller& caller, Access access, std::string_view target_namespace) {
  if (access == Access::kPublic || caller.role == Role::kAdmin) return Status::Ok();

  if (caller.role == Role::kAgent) {
    if (access == Access::kAgent) return Status::Ok();
    return Forbidden(caller, "");
  }

  // Writers and readers from here on.
  switch (access) {
    case Access::kPublic:
      return Status::Ok();
    case Access::kAdmin:
      return Forbidden(caller, "node operations need the admin role");
    case Access::kAgent:
      return Forbidden(caller, "the agent protocol needs the agent or admin role");
    case Access::kWrite:
      if (caller.role != Role::kWriter) {
        return Forbidden(caller, "writing needs a writer or admin role");
      }
      break;
    case Access::kRead:
      if (target_namespace.empty()) return Status::Ok();  // nodes and other shared reads
      break;
  }

  if (caller.namespace_ == "*" && !target_namespace.empty()) return Status::Ok();
  if (target_namespace.empty()) {
    return Forbidden(caller, "this write is not in a namespace and needs the admin role");
  }
  if (target_namespace == "*") {
    return Forbidden(caller, "this request covers every namespace");
  }
  if (target_namespace == caller.namespace_) return Status::Ok();
  return Forbidden(caller, "this request is for namespace " + std::string(target_namespace));
}

}  // namespace drover::controller
