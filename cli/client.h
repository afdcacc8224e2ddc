// What every client command (apply, diff, get, describe, rollout, delete, nodes, logs) shares:
// where the controller is and which token to send — from flags, the environment, or a profile
// of the config file — and one HTTP call that always comes back with an answer or the reason
// there was none.
//
// Precedence, highest first: --server/--token; DROVER_ADDR/DROVER_TOKEN; the profile named by
// --profile, DROVER_PROFILE or the file's current-profile; http://127.0.0.1:9010 and no token.
// The config file is $DROVER_CONFIG, else $XDG_CONFIG_HOME/drover/config.yaml, else
// ~/.config/drover/config.yaml:
//
//   current-profile: prod
//   profiles:
//     prod:
//       server: https://drover.example.com:9010
//       token-file: ~/.config/drover/prod.token   # or token: ...
//       namespace: production                     # the default for -n
//     local:
//       server: http://127.0.0.1:9010
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/status.h"

namespace drover::cli {

using Json = nlohmann::json;

inline constexpr const char* kDefaultServer = "http://127.0.0.1:9010";

// The flags' lines for a command's --help.
inline constexpr const char* kClientFlagsHelp =
    "  --server URL         the controller (default $DROVER_ADDR, the profile's, or\n"
    "                       http://127.0.0.1:9010)\n"
    "  --token TOKEN        bearer token (default $DROVER_TOKEN or the profile's)\n"
    "  --profile NAME       a profile of ~/.config/drover/config.yaml (default $DROVER_PROFILE\n"
    "                       or the file's current-profile)\n";

struct ClientFlags {
  std::optional<std::string> server;
  std::optional<std::string> token;
  std::optional<std::string> profile;
};

// If args[*i] is --server/--token/--profile (also as --flag=value), takes it (and its value,
// advancing *i) into `flags` and returns true; a missing value is an error naming the flag.
Result<bool> TakeClientFlag(const std::vector<std::string>& args, size_t* i, ClientFlags* flags);

struct ClientConfig {
  std::string server = kDefaultServer;
  std::string token;
  std::string default_namespace = "default";  // the profile's namespace, else "default"
  std::string profile;                        // the profile used, if any
  // Where `token` came from, for messages: "--token", "$DROVER_TOKEN" or "profile P in FILE";
  // empty when no token is sent.
  std::string token_source;
};

// Resolves flags, environment and config file (see the top of this file). Errors: a malformed
// config file (naming it and the line), an unknown profile, a server that is not an http(s) URL.
Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags);

// One answer of the controller. `status` 0: no answer (`failure` says why: refused, timeout).
struct ApiAnswer {
  int status = 0;
  Json body;  // the parsed body (null when it was not JSON)
  std::string failure;
  // For a 401 or 403: which token was sent (or that none was), appended to Message().
  std::string token_hint;

  bool ok() const { return status >= 200 && status < 300; }
  // The controller's error message ({"error": {"message"}}) and the token hint, or the
  // failure, for printing.
  std::string Message() const;
  // Every field error of a 400 as "field: message" lines.
  std::vector<std::string> FieldErrors() const;
};

class ApiClient {
 public:
  explicit ApiClient(ClientConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // `path` starts with /api/v1/... and carries its query string already encoded. `body` null:
  // no body. Never throws.
  ApiAnswer Call(const std::string& method, const std::string& path,
                 const Json& body = nullptr) const;
  ApiAnswer Get(const std::string& path) const { return Call("GET", path); }

  const ClientConfig& config() const { return config_; }

 private:
  struct Impl;
  ClientConfig config_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes one path segment or query value.
std::string UrlEncode(const std::string& text);

}  // namespace drover::cli
