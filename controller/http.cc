#include "controller/http.h"

#include <algorithm>

namespace drover::controller {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(std::string_view name, std::string fallback) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? fallback : it->second;
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpResponse HttpResponse::FromJson(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = DumpJson(body);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Json ErrorBody(std::string_view code, std::string_view message,
               const std::vector<FieldIssue>& details) {
  Json list = Json::array();
  for (const FieldIssue& d : details) list.push_back({{"field", d.field}, {"message", d.message}});
  return {{"error", {{"code", code}, {"message", message}, {"details", list}}}};
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message,
                           const std::vector<FieldIssue>& details) {
  return HttpResponse::FromJson(status, ErrorBody(code, message, details));
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalid:
      return 400;
    case StatusCode::kUnchanged:
      return 422;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kUnauthorized:
      return 401;
    case StatusCode::kForbidden:
      return 403;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kMethodNotAllowed:
      return 405;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

namespace {
// Internal codes that the API does not expose map to the nearest public one.
StatusCode PublicCode(const Status& status) {
  return status.code() == StatusCode::kOutOfRange ? StatusCode::kInvalid : status.code();
}
}  // namespace

int HttpStatusFor(const Status& status) { return HttpStatusFor(PublicCode(status)); }

Json ErrorBody(const Status& status) {
  return ErrorBody(StatusCodeName(PublicCode(status)), status.message());
}

HttpResponse ErrorResponse(const Status& status) {
  return HttpResponse::FromJson(HttpStatusFor(status), ErrorBody(status));
}

const std::string& RouteParams::Get(const std::string& name) const {
  static const std::string kEmpty;
  auto it = values.find(name);
  return it == values.end() ? kEmpty : it->second;
}

void Router::Add(Route route) { routes_.push_back(std::move(route)); }

Router::Match Router::Find(std::string_view method, std::string_view raw_path) const {
  Match result;
  std::vector<std::string_view> raw_segments = SplitPath(raw_path);
  std::vector<std::string> segments;
  for (std::string_view s : raw_segments) {
    std::optional<std::string> decoded = PercentDecode(s);
    if (!decoded) {
      result.malformed = true;
      return result;
    }
    segments.push_back(std::move(*decoded));
  }
  int best_score = -1;
  for (const Route& route : routes_) {
    std::vector<std::string_view> parts = SplitPath(route.path_template);
    if (parts.size() != segments.size()) continue;
    RouteParams params;
    int score = 0;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      std::string_view p = parts[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params.values[std::string(p.substr(1, p.size() - 2))] = segments[i];
      } else if (p == segments[i]) {
        score += 1;
      } else {
        ok = false;
      }
    }
    if (!ok) continue;
    if (route.method != method) {
      if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(), route.method) ==
          result.allowed_methods.end()) {
        result.allowed_methods.push_back(route.method);
      }
      continue;
    }
    if (score > best_score) {
      best_score = score;
      result.route = &route;
      result.params = std::move(params);
    }
  }
  if (result.route != nullptr) result.allowed_methods.clear();
  return result;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexDigit(text[i + 1]);
      int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                      std::string* bad_parameter) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::optional<std::string> key = PercentDecode(pair.substr(0, eq), true);
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1), true);
    if (!key || !value) {
      if (bad_parameter != nullptr) {
        *bad_parameter = key ? *key : std::string(pair.substr(0, std::min<size_t>(eq, 100)));
      }
      return InvalidError("malformed percent-escape in query parameter \"" +
                          std::string(pair.substr(0, std::min<size_t>(eq, 100))) + "\"");
    }
    out[*key] = *value;
  }
  return out;
}

}  // namespace drover::controller
