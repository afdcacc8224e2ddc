// HTTP as the API handlers see it: plain request/response values, a responder that may be
// called later (long polls), and a router that matches route templates such as
// "/api/v1/jobs/{job}/versions/{n}". Nothing here knows about cpprestsdk; controller/
// http_server.cc adapts the real listener to it. The router is immutable after start-up and safe
// to share between threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/diagnostics.h"
#include "api/status.h"

namespace drover::controller {

using Json = nlohmann::json;

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // percent-decoded per segment is done by the router; raw here
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
  std::string remote_address;

  std::string Header(std::string_view name) const;  // name lower-case; "" when absent
  std::string Query(std::string_view name, std::string fallback = {}) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse FromJson(int status, const Json& body);
  static HttpResponse Text(int status, std::string body, std::string content_type);
};

// The SPEC §12 error body: {"error": {"code", "message", "details": [{field, message}]}}.
Json ErrorBody(std::string_view code, std::string_view message,
               const std::vector<FieldIssue>& details = {});
Json ErrorBody(const Status& status);
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message,
                           const std::vector<FieldIssue>& details = {});
// Maps a Status to its HTTP status and error body.
HttpResponse ErrorResponse(const Status& status);
int HttpStatusFor(StatusCode code);
int HttpStatusFor(const Status& status);  // as ErrorResponse(status) answers

// JSON text that never throws: invalid UTF-8 is replaced, not fatal.
std::string DumpJson(const Json& value);

// Called exactly once per request, from any thread, possibly after the handler returned.
using Responder = std::function<void(HttpResponse)>;

struct RouteParams {
  std::map<std::string, std::string> values;  // "{job}" -> decoded segment
  const std::string& Get(const std::string& name) const;
};

// What a handler gets: the request, its route parameters, the parsed JSON body (null when the
// request had none) and the caller's identity (the token fingerprint; "" without auth).
struct RequestContext {
  const HttpRequest& request;
  const RouteParams& params;
  const Json& body;
  const std::string& caller_token_id;
};

using Handler = std::function<void(const RequestContext&, Responder)>;

// The namespace a request acts in, for authorisation: "" for routes that are not namespaced,
// "*" for listings across namespaces.
using ScopeFunction = std::function<std::string(const RequestContext&)>;

// Who may call a route (checked by the server against the caller's token role).
enum class Access { kPublic, kRead, kWrite, kAdmin, kAgent };

struct Route {
  std::string method;
  std::string path_template;  // "/api/v1/jobs/{job}"
  std::string summary;        // for the OpenAPI document
  Access access = Access::kRead;
  Handler handler;
  ScopeFunction scope;    // empty: not namespaced
  bool has_body = false;  // PUT/POST routes that read a JSON body
};

class Router {
 public:
  void Add(Route route);

  struct Match {
    const Route* route = nullptr;
    RouteParams params;
    std::vector<std::string> allowed_methods;  // set when the path matched but not the method
    bool malformed = false;  // a segment had a malformed percent-escape (answer 400)
  };
  // Splits the raw path on '/', percent-decodes each segment, and finds the route. Literal
  // segments win over parameters. No route: route == nullptr and allowed_methods empty (404);
  // path known but not the method: allowed_methods lists the methods (405).
  Match Find(std::string_view method, std::string_view raw_path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Percent-decodes one path segment or query component ('+' stays '+' in paths). Returns nullopt
// on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

// Parses "a=1&b=x%20y" into decoded pairs (the last value of a repeated key wins). A malformed
// escape is an error naming the parameter, never silently dropped.
// `bad_parameter`, when given, receives the name of the parameter that failed.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                      std::string* bad_parameter = nullptr);

}  // namespace drover::controller
