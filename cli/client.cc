#include "cli/client.h"

#include <cpprest/http_client.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/document.h"

namespace drover::cli {
namespace {

namespace http = web::http;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string ExpandHome(const std::string& path) {
  if (path.rfind("~/", 0) == 0 && !Env("HOME").empty()) return Env("HOME") + path.substr(1);
  return path;
}

std::string ConfigPath() {
  if (std::string p = Env("DROVER_CONFIG"); !p.empty()) return p;
  if (std::string x = Env("XDG_CONFIG_HOME"); !x.empty()) return x + "/drover/config.yaml";
  if (std::string h = Env("HOME"); !h.empty()) return h + "/.config/drover/config.yaml";
  return "";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A profile's string field, or an error naming the file and the field.
Result<std::string> ProfileString(const Json& profile, const std::string& file,
                                  const std::string& name, const char* field) {
  if (!profile.contains(field)) return std::string();
  const Json& v = profile[field];
  if (!v.is_string()) {
    return InvalidError(file + ": profiles." + name + "." + field + ": expected a string");
  }
  return v.get<std::string>();
}

}  // namespace

Result<bool> TakeClientFlag(const std::vector<std::string>& args, size_t* i, ClientFlags* flags) {
  std::string name = args[*i];
  std::optional<std::string> value;
  if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  }
  std::optional<std::string>* target = name == "--server"    ? &flags->server
                                       : name == "--token"   ? &flags->token
                                       : name == "--profile" ? &flags->profile
                                                             : nullptr;
  if (target == nullptr) return false;
  if (!value) {
    if (*i + 1 >= args.size()) return InvalidError(name + " needs a value");
    value = args[++*i];
  }
  *target = *value;
  return true;
}

Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags) {
  ClientConfig config;
  // The profile, when one is named or the file names a current one.
  std::string profile_name = flags.profile ? *flags.profile : Env("DROVER_PROFILE");
  const std::string file = ConfigPath();
  Json profiles = Json::object();
  std::string current;
  std::ifstream in(file);
  if (!file.empty() && in) {
    std::stringstream text;
    text << in.rdbuf();
    Result<std::vector<Document>> docs = ParseYaml(text.str());
    if (!docs.ok()) return InvalidError(file + ": " + docs.status().message());
    if (!docs->empty()) {
      const Json& root = docs->front().value;
      if (!root.is_object() && !root.is_null()) {
        return InvalidError(file + ": expected a mapping with current-profile and profiles");
      }
      if (root.is_object()) {
        if (root.contains("profiles")) {
          if (!root["profiles"].is_object()) {
            return InvalidError(file + ": profiles: expected a mapping of profile names");
          }
          profiles = root["profiles"];
        }
        if (root.contains("current-profile")) {
          if (!root["current-profile"].is_string()) {
            return InvalidError(file + ": current-profile: expected a string");
          }
          current = root["current-profile"].get<std::string>();
        }
      }
    }
  }
  if (profile_name.empty()) profile_name = current;
  if (!profile_name.empty()) {
    if (!profiles.contains(profile_name) || !profiles[profile_name].is_object()) {
      std::string known;
      for (const auto& [k, v] : profiles.items()) known += (known.empty() ? "" : ", ") + k;
      return InvalidError("profile \"" + profile_name + "\" is not in " +
                          (file.empty() ? std::string("the config file") : file) +
                          (known.empty() ? " (it has no profiles)" : " (it has: " + known + ")"));
    }
    const Json& p = profiles[profile_name];
    Result<std::string> server = ProfileString(p, file, profile_name, "server");
    Result<std::string> token = ProfileString(p, file, profile_name, "token");
    Result<std::string> token_file = ProfileString(p, file, profile_name, "token-file");
    Result<std::string> ns = ProfileString(p, file, profile_name, "namespace");
    for (const auto* r : {&server, &token, &token_file, &ns}) {
      if (!r->ok()) return r->status();
    }
    if (!server->empty()) config.server = *server;
    const std::string source = "profile \"" + profile_name + "\" in " + file;
    if (!token->empty()) {
      config.token = *token;
      config.token_source = source;
    }
    if (!token_file->empty()) {
      std::ifstream t(ExpandHome(*token_file));
      if (!t) {
        return InvalidError(file + ": profiles." + profile_name + ".token-file: cannot read " +
                            *token_file);
      }
      std::stringstream s;
      s << t.rdbuf();
      config.token = Trim(s.str());
      config.token_source = source + " (token-file " + *token_file + ")";
    }
    if (!ns->empty()) config.default_namespace = *ns;
    config.profile = profile_name;
  }
  if (std::string addr = Env("DROVER_ADDR"); !addr.empty()) config.server = addr;
  if (const char* token = std::getenv("DROVER_TOKEN"); token != nullptr) {
    config.token = token;
    config.token_source = "$DROVER_TOKEN";
  }
  if (flags.server) config.server = *flags.server;
  if (flags.token) {
    config.token = *flags.token;
    config.token_source = "--token";
  }
  if (config.token.empty()) config.token_source.clear();

  const std::string& s = config.server;
  bool url_ok = web::uri::validate(s);
  if (url_ok) {
    web::uri u(s);
    url_ok = (u.scheme() == "http" || u.scheme() == "https") && !u.host().empty();
  }
  if (!url_ok) {
    return InvalidError("--server: expected http://HOST:PORT or https://HOST:PORT, got \"" + s +
                        "\"");
  }
  return config;
}

std::string ApiAnswer::Message() const {
  if (status == 0) return failure;
  std::string message = "HTTP " + std::to_string(status);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = body["error"].value("message", message);
  }
  return token_hint.empty() ? message : message + " (" + token_hint + ")";
}

std::vector<std::string> ApiAnswer::FieldErrors() const {
  std::vector<std::string> out;
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return out;
  const Json& details = body["error"].value("details", Json::array());
  if (!details.is_array()) return out;
  for (const Json& d : details) {
    if (!d.is_object()) continue;
    std::string field = d.value("field", "");
    std::string message = d.value("message", "");
    out.push_back(field.empty() ? message : field + ": " + message);
  }
  return out;
}

struct ApiClient::Impl {
  explicit Impl(const std::string& server) : client(server, Config()) {}
  static http::client::http_client_config Config() {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(60));
    return config;
  }
  http::client::http_client client;
};

ApiClient::ApiClient(ClientConfig config) : config_(std::move(config)) {
  try {
    impl_ = std::make_unique<Impl>(config_.server);
  } catch (const std::exception&) {
    impl_ = nullptr;  // Call reports it
  }
}

ApiClient::~ApiClient() = default;

ApiAnswer ApiClient::Call(const std::string& method, const std::string& path,
                          const Json& body) const {
  ApiAnswer answer;
  if (impl_ == nullptr) {
    answer.failure = "cannot use server " + config_.server;
    return answer;
  }
  try {
    http::http_request request(method);
    request.set_request_uri(path);
    if (!config_.token.empty()) request.headers().add("Authorization", "Bearer " + config_.token);
    if (!body.is_null()) request.set_body(body.dump(), "application/json");
    http::http_response response = impl_->client.request(request).get();
    answer.status = response.status_code();
    answer.body = Json::parse(response.extract_utf8string(true).get(), nullptr, false);
    if (answer.body.is_discarded()) answer.body = nullptr;
    if (answer.status == 401 || answer.status == 403) {
      answer.token_hint =
          config_.token.empty()
              ? "no token was sent: give --token, set $DROVER_TOKEN or a profile's token"
              : "the token sent is from " + config_.token_source;
    }
  } catch (const std::exception& e) {
    answer.status = 0;
    answer.failure = "cannot reach the controller at " + config_.server + ": " + e.what();
  }
  return answer;
}

std::string UrlEncode(const std::string& text) { return web::uri::encode_data_string(text); }

}  // namespace drover::cli
