// Bearer-token authentication and role-based authorization for the HTTP API (SPEC §12): a
// TokenTable loaded once from `--auth-token-file`, then Authenticate() (who is calling, 401) and
// Authorize() (may they do this, 403). The server owns the table; it is immutable after Load()
// and safe to share between threads.
//
// Token file format, one token per line:
//
//   # comments start with '#' as the first non-blank character of a line
//   s3cr3t-token-of-at-least-16-chars   admin
//   another-long-random-token-value     writer:prod
//   yet-another-long-random-token       reader:*
//   agents-share-this-long-token-value  agent
//
// Fields are separated by spaces or tabs; a line has exactly two: TOKEN ROLE. A TOKEN is at least
// 16 visible ASCII characters (no spaces, not starting with '#') and appears on one line only.
// ROLE is `admin`, `agent`, `writer:<namespace>` or `reader:<namespace>`, where <namespace> is a
// job namespace (`[a-z0-9]([-a-z0-9_.]*[a-z0-9])?`, at most 63 characters) or `*` for every
// namespace. Blank lines are ignored and CRLF line ends are accepted. A malformed line makes the
// whole file invalid with an error naming its line number; errors never echo a token (nor any
// field that might be one).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "controller/http.h"

namespace drover::controller {

enum class Role { kAdmin, kWriter, kReader, kAgent };

// The authenticated identity of one request.
struct Caller {
  std::string role_name;  // as written in the token file: "admin", "writer:prod", "reader:*"
  Role role = Role::kReader;
  std::string namespace_;  // writer/reader: the namespace or "*"; "" for admin and agent
  // A short, non-secret fingerprint of the token (8 lower-case hex digits): safe for logs and
  // for binding node ids to the agent token that registered them.
  std::string token_id;
};

// The fingerprint used as Caller::token_id: the top 32 bits of the 64-bit FNV-1a hash of the
// token, as 8 lower-case hex digits. Not a secret and not reversible to the token.
std::string TokenFingerprint(std::string_view token);

class TokenTable {
 public:
  // Minimum token length accepted by Load().
  static constexpr size_t kMinTokenLength = 16;

  // Parses the token file text (format above). Errors are kInvalid: "auth token file: line 3:
  // ...". An empty file (no tokens) is an error, since it would lock every client out.
  static Result<TokenTable> Load(std::string_view file_text);
  // Reads `path` and parses it like Load(); the error names the path.
  static Result<TokenTable> LoadFile(const std::string& path);

  // Checks an `Authorization` header value: `Bearer <token>` (the scheme is case-insensitive).
  // A missing or malformed header, or an unknown token, is kUnauthorized with a message that
  // says nothing about which tokens exist. Tokens are compared in constant time.
  Result<Caller> Authenticate(std::string_view authorization_header) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Caller caller;
  };

  static Result<TokenTable> Parse(std::string_view file_text, std::string_view source);

  std::vector<Entry> entries_;
};

// Decides whether `caller` may use a route of the given access level on `target_namespace`:
// the namespace of the job (or execution) the request reads or writes, "" when the route is not
// namespaced (nodes), "*" when it lists every namespace.
//   kPublic  everyone.
//   kRead    admin; writer/reader of that namespace (or of "*"); any writer/reader when "".
//   kWrite   admin; writer of that namespace (or of "*"). A write always names its namespace:
//            kWrite with "" is admin-only.
//   kAdmin   (node cordon, uncordon, drain, delete) admin only.
//   kAgent   (the agent protocol) admin or agent; agent tokens may do nothing else.
// A denial is kForbidden naming the role and what it may do.
Status Authorize(const Caller& caller, Access access, std::string_view target_namespace);

}  // namespace drover::controller
