// ApiServer::OpenApi: the OpenAPI 3 document of the routes the server actually has (generated
// from the router, so it cannot drift) with the schemas of SPEC §2, §3 and §12.
#include "controller/api_server.h"

namespace drover::controller {
namespace {

Json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

Json StringMap() { return {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}; }

Json Duration() {
  return {{"oneOf", Json::array({{{"type", "integer"}, {"description", "nanoseconds"}},
                                 {{"type", "string"}, {"example", "30s"}}})}};
}

Json Schemas() {
  Json s;
  s["Error"] = {
      {"type", "object"},
      {"properties",
       {{"error",
         {{"type", "object"},
          {"properties",
           {{"code",
             {{"type", "string"},
              {"enum",
               {"invalid", "unchanged", "not_found", "conflict", "unauthorized", "forbidden",
                "too_large", "method_not_allowed", "unavailable", "internal"}}}},
            {"message", {{"type", "string"}}},
            {"details",
             {{"type", "array"},
              {"items",
               {{"type", "object"},
                {"properties",
                 {{"field", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}}}}}},
          {"required", {"code", "message"}}}}}},
      {"required", {"error"}}};
  s["HealthCheck"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"deadline", Duration()},
        {"interval", Duration()},
        {"success_threshold", {{"type", "integer"}, {"minimum", 1}, {"default", 2}}},
        {"failure_threshold", {{"type", "integer"}, {"minimum", 1}, {"default", 3}}},
        {"max_error_rate",
         {{"type", "number"}, {"minimum", 0}, {"maximum", 1}, {"default", 0.1}}}}}};
  s["Rollout"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"strategy",
         {{"type", "string"},
          {"enum", {"immediate", "rolling", "canary"}},
          {"default", "immediate"}}},
        {"max_parallel", {{"type", "integer"}, {"minimum", 0}, {"maximum", 100}, {"default", 10}}},
        {"max_failed_nodes", {{"type", "integer"}, {"minimum", 0}, {"default", 10}}},
        {"max_failed_nodes_percent",
         {{"type", "number"}, {"minimum", 0}, {"maximum", 100}, {"default", 10.0}}},
        {"no_auto_rollback", {{"type", "boolean"}, {"default", false}}},
        {"auto_promote", {{"type", "boolean"}, {"default", false}}},
        {"canary_count", {{"type", "integer"}, {"minimum", 0}}},
        {"canary_percent", {{"type", "integer"}, {"minimum", 0}, {"maximum", 100}}},
        {"health_check", Ref("HealthCheck")}}}};
  s["Selector"] = {{"type", "object"},
                   {"additionalProperties", false},
                   {"properties",
                    {{"match_labels", StringMap()},
                     {"match_expressions", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                     {"match_ids", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  s["Timeouts"] = {{"type", "object"},
                   {"additionalProperties", false},
                   {"properties",
                    {{"execution_timeout", {{"type", "integer"}, {"minimum", 0}}},
                     {"queue_timeout", {{"type", "integer"}, {"minimum", 0}}},
                     {"total_timeout", {{"type", "integer"}, {"minimum", 0}}}}}};
  s["JobSpec"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"name", "type"}},
      {"properties",
       {{"name",
         {{"type", "string"},
          {"maxLength", 253},
          {"pattern", "^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"}}},
        {"namespace", {{"type", "string"}, {"maxLength", 63}, {"default", "default"}}},
        {"type", {{"type", "string"}, {"enum", {"pipeline", "query", "update", "config"}}}},
        {"description", {{"type", "string"}}},
        {"labels", StringMap()},
        {"meta", StringMap()},
        {"priority", {{"type", "integer"}, {"default", 50}}},
        {"restart_policy",
         {{"type", "string"},
          {"enum", {"on-failure", "always", "never"}},
          {"default", "on-failure"}}},
        {"config", {{"type", "object"}}},
        {"selector", Ref("Selector")},
        {"rollout", Ref("Rollout")},
        {"timeouts", Ref("Timeouts")}}}};
  s["PutJobRequest"] = {{"type", "object"},
                        {"properties",
                         {{"dry_run", {{"type", "boolean"}}},
                          {"force", {{"type", "boolean"}}},
                          {"applied_set",
                           {{"type", "string"},
                            {"description",
                             "Drover extension: the manifest set this PUT comes from, recorded "
                             "in spec.meta[\"expanso.io/applied-set\"] (used by apply --prune)"}}},
                          {"spec", Ref("JobSpec")}}}};
  s["RolloutStatus"] = {{"type", "object"},
                        {"properties",
                         {{"phase", {{"type", "string"}}},
                          {"from_version", {{"type", "integer"}, {"nullable", true}}},
                          {"to_version", {{"type", "integer"}}},
                          {"strategy", {{"type", "string"}}},
                          {"current_wave", {{"type", "integer"}}},
                          {"total_waves", {{"type", "integer"}}},
                          {"target_nodes", {{"type", "integer"}}},
                          {"updated_nodes", {{"type", "integer"}}},
                          {"healthy_nodes", {{"type", "integer"}}},
                          {"failed_nodes", {{"type", "integer"}}},
                          {"skipped_nodes", {{"type", "integer"}}},
                          {"canary_nodes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                          {"started_at", {{"type", "string"}}},
                          {"completed_at", {{"type", "string"}, {"nullable", true}}},
                          {"message", {{"type", "string"}}}}}};
  s["Job"] = {{"type", "object"},
              {"properties",
               {{"id", {{"type", "string"}}},
                {"spec", Ref("JobSpec")},
                {"status",
                 {{"type", "object"},
                  {"properties",
                   {{"state", {{"type", "string"}}},
                    {"version", {{"type", "integer"}}},
                    {"revision", {{"type", "integer"}}},
                    {"stable_version", {{"type", "integer"}, {"nullable", true}}},
                    {"failed_version", {{"type", "integer"}, {"nullable", true}}},
                    {"rollout", Ref("RolloutStatus")},
                    {"created_at", {{"type", "string"}}},
                    {"updated_at", {{"type", "string"}}},
                    {"message", {{"type", "string"}}}}}}}}}};
  s["Node"] = {{"type", "object"},
               {"properties",
                {{"id", {{"type", "string"}}},
                 {"name", {{"type", "string"}}},
                 {"labels", StringMap()},
                 {"state", {{"type", "string"}, {"enum", {"connected", "disconnected", "lost"}}}},
                 {"schedulable", {{"type", "boolean"}}},
                 {"draining", {{"type", "boolean"}}},
                 {"last_heartbeat", {{"type", "string"}, {"nullable", true}}},
                 {"agent_version", {{"type", "string"}}},
                 {"os", {{"type", "string"}}},
                 {"arch", {{"type", "string"}}},
                 {"capacity", {{"type", "object"}}},
                 {"executions", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  s["Execution"] = {{"type", "object"},
                    {"properties",
                     {{"id", {{"type", "string"}}},
                      {"job_id", {{"type", "string"}}},
                      {"namespace", {{"type", "string"}}},
                      {"name", {{"type", "string"}}},
                      {"node_id", {{"type", "string"}}},
                      {"version", {{"type", "integer"}}},
                      {"desired_state", {{"type", "string"}}},
                      {"state", {{"type", "string"}}},
                      {"health", {{"type", "string"}}},
                      {"exit_code", {{"type", "integer"}, {"nullable", true}}},
                      {"restarts", {{"type", "integer"}}},
                      {"stable_at", {{"type", "string"}, {"nullable", true}}},
                      {"message", {{"type", "string"}}},
                      {"created_at", {{"type", "string"}}},
                      {"updated_at", {{"type", "string"}}}}}};
  s["Event"] = {{"type", "object"},
                {"properties",
                 {{"time", {{"type", "string"}}},
                  {"type", {{"type", "string"}, {"enum", {"normal", "warning"}}}},
                  {"reason", {{"type", "string"}}},
                  {"message", {{"type", "string"}}}}}};
  s["Register"] = {{"type", "object"},
                   {"required", {"node_id"}},
                   {"properties",
                    {{"node_id", {{"type", "string"}, {"maxLength", 253}}},
                     {"name", {{"type", "string"}}},
                     {"labels", StringMap()},
                     {"agent_version", {{"type", "string"}}},
                     {"os", {{"type", "string"}}},
                     {"arch", {{"type", "string"}}},
                     {"capacity", {{"type", "object"}}}}}};
  s["Heartbeat"] = {{"type", "object"},
                    {"required", {"node_id"}},
                    {"properties",
                     {{"node_id", {{"type", "string"}}},
                      {"executions", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                      {"logs", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  s["Assignments"] = {{"type", "object"},
                      {"properties",
                       {{"assignments", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                        {"index", {{"type", "integer"}}}}}};
  s["ManifestSync"] = {
      {"type", "object"},
      {"description", "The --manifests folder's sync (docs/gitops.md)"},
      {"properties",
       {{"folder", {{"type", "string"}}},
        {"applied_set", {{"type", "string"}}},
        {"interval_seconds", {{"type", "number"}}},
        {"sequence", {{"type", "integer"}, {"description", "syncs done since start"}}},
        {"last_sync", {{"type", "string"}, {"nullable", true}}},
        {"result",
         {{"type", "string"}, {"enum", {"pending", "success", "invalid", "failed", "unreadable"}}}},
        {"message", {{"type", "string"}}},
        {"prune", {{"type", "string"}, {"description", "\"enabled\", or why it is skipped"}}},
        {"files",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}}},
              {"state",
               {{"type", "string"}, {"enum", {"applied", "unchanged", "invalid", "failed"}}}},
              {"jobs", {{"type", "array"}, {"items", {{"type", "string"}}}}},
              {"errors", {{"type", "array"}, {"items", {{"type", "string"}}}}},
              {"warnings", {{"type", "array"}, {"items", {{"type", "string"}}}}},
              {"updated_at", {{"type", "string"}}}}}}}}},
        {"pruned",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties", {{"job", {{"type", "string"}}}, {"at", {{"type", "string"}}}}}}}}}}}};
  return s;
}

std::vector<std::string> PathParams(const std::string& path) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = path.find('{', at)) != std::string::npos) {
    size_t end = path.find('}', at);
    out.push_back(path.substr(at + 1, end - at - 1));
    at = end;
  }
  return out;
}

Json RequestBodyFor(const std::string& path) {
  std::string schema = "PutJobRequest";
  if (path == "/api/v1/agent/register")
    schema = "Register";
  else if (path == "/api/v1/agent/heartbeat")
    schema = "Heartbeat";
  else if (path.find("/rollout/") != std::string::npos || path.find("/nodes/") != std::string::npos)
    return {{"required", false},
            {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  return {{"required", true}, {"content", {{"application/json", {{"schema", Ref(schema)}}}}}};
}

// The query parameters each route reads besides `namespace` (api_server.cc), as
// (name, JSON Schema type, description).
struct QueryParam {
  const char* name;
  const char* type;
  const char* description;
};
std::vector<QueryParam> QueryParamsOf(const std::string& method, const std::string& path) {
  if (method == "GET" && path == "/api/v1/jobs") {
    return {{"labels", "string", "label selector over the jobs' labels"},
            {"state", "string", "only jobs in this state"},
            {"limit", "integer", "page size"},
            {"next_token", "string", "the previous page's next_token"}};
  }
  if (method == "DELETE" && path == "/api/v1/jobs/{job}") {
    return {{"purge", "boolean", "remove the job and its history instead of stopping it"}};
  }
  if (path == "/api/v1/jobs/{job}/versions/diff") {
    return {{"from", "integer", "the older version"}, {"to", "integer", "the newer version"}};
  }
  if (path == "/api/v1/jobs/{job}/executions") {
    return {{"version", "integer", "only this version's executions"},
            {"state", "string", "only executions in this state"}};
  }
  if (path == "/api/v1/jobs/{job}/logs") {
    return {{"tail", "integer", "the newest N lines (default 100, at most 10000)"},
            {"node", "string", "only this node's executions"}};
  }
  if (path == "/api/v1/executions/{id}/logs") {
    return {{"tail", "integer", "the newest N lines (default 100, at most 10000)"}};
  }
  if (method == "GET" && path == "/api/v1/nodes") {
    return {{"labels", "string", "label selector over the nodes' labels"},
            {"state", "string", "only nodes in this state"}};
  }
  if (path == "/api/v1/agent/assignments") {
    return {{"node_id", "string", "the node asking"},
            {"index", "integer", "the assignments index the node has seen"},
            {"wait", "string", "long-poll up to this long for a newer index (e.g. 30s)"}};
  }
  return {};
}

}  // namespace

Json ApiServer::OpenApi() const {
  Json paths = Json::object();
  for (const struct Route& route : router_.routes()) {
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    Json op = {{"summary", route.summary},
               {"responses",
                {{"200", {{"description", "OK"}}},
                 {"400",
                  {{"description", "invalid input"},
                   {"content", {{"application/json", {{"schema", Ref("Error")}}}}}}},
                 {"default",
                  {{"description", "error"},
                   {"content", {{"application/json", {{"schema", Ref("Error")}}}}}}}}}};
    if (route.access != Access::kPublic)
      op["security"] = Json::array({{{"bearer", Json::array()}}});
    Json parameters = Json::array();
    for (const std::string& p : PathParams(route.path_template)) {
      parameters.push_back(
          {{"name", p}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    if (route.path_template.rfind("/api/v1/jobs/{job}", 0) == 0 ||
        route.path_template == "/api/v1/jobs") {
      parameters.push_back({{"name", "namespace"},
                            {"in", "query"},
                            {"schema", {{"type", "string"}, {"default", "default"}}}});
    }
    for (const QueryParam& q : QueryParamsOf(route.method, route.path_template)) {
      parameters.push_back({{"name", q.name},
                            {"in", "query"},
                            {"description", q.description},
                            {"schema", {{"type", q.type}}}});
    }
    if (!parameters.empty()) op["parameters"] = parameters;
    if (route.has_body) op["requestBody"] = RequestBodyFor(route.path_template);
    if (route.path_template == "/api/v1/jobs" && route.method == "PUT") {
      op["responses"]["201"] = {{"description", "created"}};
      op["responses"]["422"] = {{"description", "unchanged"},
                                {"content", {{"application/json", {{"schema", Ref("Error")}}}}}};
    }
    if (route.path_template == "/api/v1/manifests") {
      op["responses"]["200"]["content"] = {{"application/json", {{"schema", Ref("ManifestSync")}}}};
      op["responses"]["404"] = {{"description", "the controller was started without --manifests"},
                                {"content", {{"application/json", {{"schema", Ref("Error")}}}}}};
    }
    paths[route.path_template][method] = op;
  }
  return {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Drover API"},
        {"version", options_.version},
        {"description",
         "Declare jobs; Drover places them on matching edge nodes and rolls them out safely."}}},
      {"paths", paths},
      {"components",
       {{"schemas", Schemas()},
        {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

}  // namespace drover::controller
