#include "controller/api_server.h"

#include <charconv>
#include <chrono>
#include <set>
#include <unordered_map>

#include "api/document.h"
#include "api/labels.h"
#include "api/selector.h"
#include "api/validation.h"
#include "controller/job_controller.h"
#include "controller/manifest_sync.h"

namespace drover::controller {
namespace {

using Stopwatch = std::chrono::steady_clock;

void Reply(const Responder& respond, const ApiAnswer& answer) {
  respond(HttpResponse::FromJson(answer.status, answer.body));
}

std::string NamespaceParam(const HttpRequest& r) {
  return r.Query("namespace", std::string(JobDefaults::kNamespace));
}

// Parses "30s"/"500ms"/"30" (seconds) for ?wait=.
std::optional<std::chrono::milliseconds> ParseWait(const std::string& text) {
  if (text.empty()) return std::chrono::milliseconds(30'000);
  Result<Duration> d = ParseDuration(text);
  if (!d.ok()) {
    int64_t seconds = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || p != text.data() + text.size() || seconds < 0) return std::nullopt;
    return std::chrono::milliseconds(seconds * 1000);
  }
  if (d->nanoseconds() < 0) return std::nullopt;
  return std::chrono::milliseconds(d->nanoseconds() / 1'000'000);
}

HttpResponse Invalid(const std::string& message, std::vector<FieldIssue> details = {}) {
  return ErrorResponse(400, "invalid", message, details);
}

constexpr size_t kDefaultLogTail = 100;
constexpr size_t kMaxLogTail = 10'000;

// ?tail=N of the /logs routes: the newest N lines (default 100, at most 10000); nullopt when
// malformed.
std::optional<size_t> ParseLogTail(const HttpRequest& r) {
  std::string text = r.Query("tail");
  if (text.empty()) return kDefaultLogTail;
  size_t tail = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), tail);
  if (ec != std::errc() || p != text.data() + text.size() || tail > kMaxLogTail) {
    return std::nullopt;
  }
  return tail;
}

HttpResponse InvalidLogTail() {
  return Invalid("invalid tail", {{"tail", "must be an integer from 0 to 10000 (lines)"}});
}

}  // namespace

ApiServer::ApiServer(JobService& jobs, NodeRegistry& nodes, LogStore& logs,
                     ControllerMetrics& metrics, const TokenTable* tokens, ApiServerOptions options)
    : jobs_(jobs),
      nodes_(nodes),
      logs_(logs),
      metrics_(metrics),
      tokens_(tokens),
      options_(std::move(options)) {
  AddRoutes();
}

void ApiServer::Route(std::string method, std::string path, std::string summary, Access access,
                      Handler handler, ScopeFunction scope, bool has_body) {
  router_.Add({std::move(method), std::move(path), std::move(summary), access, std::move(handler),
               std::move(scope), has_body});
}

void ApiServer::Handle(HttpRequest request, Responder respond) {
  const auto started = Stopwatch::now();
  Router::Match match = router_.Find(request.method, request.path);
  std::string route_name = match.route ? match.route->path_template : "unmatched";
  std::string method = request.method;
  // Every answer goes through here, so that metrics see each request exactly once.
  auto finish = [this, respond, started, route_name, method](HttpResponse response) {
    double seconds = std::chrono::duration<double>(Stopwatch::now() - started).count();
    metrics_.ObserveApiRequest(method, route_name, response.status, seconds);
    respond(std::move(response));
  };
  try {
    if (match.route == nullptr) {
      if (match.malformed) {
        return finish(ErrorResponse(400, "invalid", "malformed percent-escape in the path"));
      }
      if (!match.allowed_methods.empty()) {
        std::string allow;
        for (const std::string& m : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + m;
        HttpResponse r = ErrorResponse(
            405, "method_not_allowed",
            "method " + request.method + " is not allowed here (allowed: " + allow + ")");
        r.headers.emplace_back("Allow", allow);
        return finish(std::move(r));
      }
      return finish(
          ErrorResponse(404, "not_found",
                        "no such route: " + request.method + " " + request.path.substr(0, 200)));
    }
    const struct Route& route = *match.route;
    Caller caller;
    bool authenticated = false;
    if (tokens_ != nullptr && route.access != Access::kPublic) {
      Result<Caller> who = tokens_->Authenticate(request.Header("authorization"));
      if (!who.ok()) {
        HttpResponse r = ErrorResponse(401, "unauthorized", who.status().message());
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return finish(std::move(r));
      }
      caller = std::move(who).value();
      authenticated = true;
    }
    Json body;
    if (route.has_body && !request.body.empty()) {
      std::string type = request.Header("content-type");
      std::string base = type.substr(0, type.find(';'));
      while (!base.empty() && base.back() == ' ') base.pop_back();
      for (char& ch : base) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!base.empty() && base != "application/json") {
        return finish(ErrorResponse(
            415, "invalid",
            "unsupported Content-Type \"" + type.substr(0, 100) + "\": send application/json"));
      }
      Result<Document> parsed = ParseJson(request.body);
      if (!parsed.ok()) {
        return finish(Invalid("malformed JSON: " + parsed.status().message(),
                              {{"body", parsed.status().message()}}));
      }
      body = std::move(parsed->value);
    }
    static const std::string kNoToken;
    RequestContext context{request, match.params, body, authenticated ? caller.token_id : kNoToken};
    if (authenticated) {
      std::string scope = route.scope ? route.scope(context) : std::string();
      Status allowed = Authorize(caller, route.access, scope);
      if (!allowed.ok()) {
        return finish(ErrorResponse(403, "forbidden", allowed.message()));
      }
    }
    route.handler(context, finish);
  } catch (const std::exception& e) {
    finish(ErrorResponse(500, "internal", std::string("internal error: ") + e.what()));
  }
}

void ApiServer::AddRoutes() {
  auto job_scope = [this](const RequestContext& c) {
    return jobs_.NamespaceOf(c.params.Get("job"), NamespaceParam(c.request));
  };
  auto list_scope = [](const RequestContext& c) { return NamespaceParam(c.request); };
  auto body_scope = [](const RequestContext& c) {
    const Json& spec = c.body.is_object() && c.body.contains("spec") ? c.body["spec"] : c.body;
    if (spec.is_object() && spec.contains("namespace") && spec["namespace"].is_string() &&
        !spec["namespace"].get<std::string>().empty()) {
      return spec["namespace"].get<std::string>();
    }
    return std::string(JobDefaults::kNamespace);
  };

  // ---- operations ----
  Route("GET", "/healthz", "Liveness: the process answers", Access::kPublic,
        [](const RequestContext&, Responder r) {
          r(HttpResponse::FromJson(200, {{"status", "ok"}}));
        });
  Route("GET", "/readyz", "Readiness: the store is loaded and the API serves", Access::kPublic,
        [this](const RequestContext&, Responder r) {
          bool ready = ready_.load();
          // control_loop: "waiting_for_heartbeats" during the start-up grace (no decisions yet),
          // then "running"; "off" on a follower replica.
          JobController* controller = controller_.load();
          std::string loop = controller == nullptr    ? "off"
                             : controller->Deciding() ? "running"
                                                      : "waiting_for_heartbeats";
          Json body = {{"leader", true}, {"control_loop", loop}};
          if (role_) {
            Json role = role_();
            ready = ready && role.value("ready", false);
            for (const char* field : {"replica_id", "leader", "leader_id", "term"}) {
              if (role.contains(field)) body[field] = role[field];
            }
          }
          body["status"] = ready ? "ready" : "starting";
          body["store_revision"] = jobs_.StoreRevision();
          r(HttpResponse::FromJson(ready ? 200 : 503, body));
        });
  Route("GET", "/version", "The controller's version", Access::kPublic,
        [this](const RequestContext&, Responder r) {
          r(HttpResponse::FromJson(200, {{"version", options_.version}, {"api", "v1"}}));
        });
  Route("GET", "/metrics", "Prometheus metrics (text exposition format)", Access::kRead,
        [this](const RequestContext&, Responder r) {
          metrics_.SetNodes(nodes_.CountByState());
          if (controller_.load() != nullptr) controller_.load()->UpdateGauges();
          r(HttpResponse::Text(200, metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        });
  Route("GET", "/openapi.json", "This document", Access::kPublic,
        [this](const RequestContext&, Responder r) { r(HttpResponse::FromJson(200, OpenApi())); });

  // ---- jobs ----
  Route(
      "PUT", "/api/v1/jobs", "Create or update a job (PutJobRequest or a bare spec)",
      Access::kWrite,
      [this](const RequestContext& c, Responder r) {
        if (c.body.is_null()) return r(Invalid("the body must be a PutJobRequest or a job spec"));
        Reply(r, jobs_.Put(CheckPutJobRequest(c.body)));
      },
      body_scope, true);
  Route(
      "PUT", "/api/v1/jobs/diff", "The unified diff of a proposed spec against the stored one",
      Access::kRead,
      [this](const RequestContext& c, Responder r) {
        if (c.body.is_null()) return r(Invalid("the body must be a PutJobRequest or a job spec"));
        Reply(r, jobs_.Diff(CheckPutJobRequest(c.body)));
      },
      body_scope, true);
  Route(
      "GET", "/api/v1/jobs", "List jobs (namespace=* for all; labels, state, limit, next_token)",
      Access::kRead,
      [this](const RequestContext& c, Responder r) {
        const HttpRequest& q = c.request;
        Reply(r, jobs_.List(NamespaceParam(q), q.Query("labels"), q.Query("state"),
                            q.Query("limit"), q.Query("next_token")));
      },
      list_scope);
  Route(
      "GET", "/api/v1/jobs/{job}", "A job: spec and status", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.Get(c.params.Get("job"), NamespaceParam(c.request)));
      },
      job_scope);
  Route(
      "DELETE", "/api/v1/jobs/{job}", "Stop a job (purge=true also deletes its record)",
      Access::kWrite,
      [this](const RequestContext& c, Responder r) {
        std::string purge = c.request.Query("purge", "false");
        if (purge != "true" && purge != "false") {
          return r(Invalid("invalid purge", {{"purge", "must be true or false"}}));
        }
        Reply(r, jobs_.Stop(c.params.Get("job"), NamespaceParam(c.request), purge == "true"));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/versions", "Every kept version of a job", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.Versions(c.params.Get("job"), NamespaceParam(c.request)));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/versions/diff", "The diff of two versions (from, to)",
      Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.VersionsDiff(c.params.Get("job"), NamespaceParam(c.request),
                                    c.request.Query("from"), c.request.Query("to")));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/versions/{n}", "One version of a job", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.Version(c.params.Get("job"), NamespaceParam(c.request), c.params.Get("n")));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/executions", "A job's executions (version, state filters)",
      Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.Executions(c.params.Get("job"), NamespaceParam(c.request),
                                  c.request.Query("version"), c.request.Query("state")));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/results", "Query results per node", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Result<StoredJob> found = jobs_.Find(c.params.Get("job"), NamespaceParam(c.request));
        if (!found.ok()) return r(ErrorResponse(found.status()));
        Reply(r, jobs_.Results(*found));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/events", "A job's events, oldest first", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        Reply(r, jobs_.Events(c.params.Get("job"), NamespaceParam(c.request)));
      },
      job_scope);
  Route(
      "GET", "/api/v1/jobs/{job}/logs", "Log lines of a job's executions (node, tail)",
      Access::kRead,
      [this](const RequestContext& c, Responder r) {
        std::optional<size_t> tail = ParseLogTail(c.request);
        if (!tail) return r(InvalidLogTail());
        Result<StoredJob> found = jobs_.Find(c.params.Get("job"), NamespaceParam(c.request));
        if (!found.ok()) return r(ErrorResponse(found.status()));
        LogPage page = logs_.JobTail(found->job.id, c.request.Query("node"), *tail);
        r(HttpResponse::FromJson(200, LogPageToJson(page)));
      },
      job_scope);
  for (const char* control : {"pause", "resume", "promote", "rollback"}) {
    Route(
        "POST", std::string("/api/v1/jobs/{job}/rollout/") + control,
        std::string("Rollout control: ") + control + " (409 in a phase that does not allow it)",
        Access::kWrite,
        [this, control](const RequestContext& c, Responder r) {
          Reply(r, jobs_.Control(c.params.Get("job"), NamespaceParam(c.request), control, c.body));
        },
        job_scope, true);
  }
  // An execution and its logs are scoped to the execution's namespace (a reader of one
  // namespace reads no other's).
  auto execution_scope = [this](const RequestContext& c) {
    const std::string& id = c.params.Get("id");
    if (controller_ != nullptr) {
      if (auto e = controller_.load()->cache().Execution(id)) return e->value.namespace_;
    }
    std::optional<LogOwner> owner = logs_.OwnerOf(id);
    return owner ? owner->namespace_ : std::string();
  };
  Route(
      "GET", "/api/v1/executions/{id}", "One execution", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        if (controller_ != nullptr) {
          auto e = controller_.load()->cache().Execution(c.params.Get("id"));
          if (e) return r(HttpResponse::FromJson(200, {{"execution", ExecutionToJson(e->value)}}));
        }
        r(ErrorResponse(404, "not_found",
                        "execution " + c.params.Get("id").substr(0, 100) + " not found"));
      },
      execution_scope);
  Route(
      "GET", "/api/v1/executions/{id}/logs", "An execution's log lines (tail)", Access::kRead,
      [this](const RequestContext& c, Responder r) {
        std::optional<size_t> tail = ParseLogTail(c.request);
        if (!tail) return r(InvalidLogTail());
        const std::string& id = c.params.Get("id");
        std::optional<LogPage> page = logs_.ExecutionTail(id, *tail);
        if (!page && controller_ != nullptr && controller_.load()->cache().Execution(id)) {
          page = LogPage{};  // known, nothing shipped (yet, or since a restart)
        }
        if (!page) {
          return r(
              ErrorResponse(404, "not_found", "execution " + id.substr(0, 100) + " not found"));
        }
        r(HttpResponse::FromJson(200, LogPageToJson(*page)));
      },
      execution_scope);

  // ---- nodes ----
  Route("GET", "/api/v1/nodes", "List nodes (labels, state filters)", Access::kRead,
        [this](const RequestContext& c, Responder r) {
          Result<NodeSelector> selector = ParseSelectorString(c.request.Query("labels"));
          if (!selector.ok()) {
            return r(Invalid("invalid label selector", {{"labels", selector.status().message()}}));
          }
          std::string state = c.request.Query("state");
          Json items = Json::array();
          for (const NodeSnapshot& n : nodes_.List()) {
            if (!selector->MatchesLabels(n.record.labels)) continue;
            if (!state.empty() && n.state != state) continue;
            items.push_back(NodeSnapshotToJson(n));
          }
          r(HttpResponse::FromJson(200, {{"items", items}, {"next_token", nullptr}}));
        });
  Route("GET", "/api/v1/nodes/{id}", "One node", Access::kRead,
        [this](const RequestContext& c, Responder r) {
          std::optional<NodeSnapshot> n = nodes_.Get(c.params.Get("id"));
          if (!n) return r(ErrorResponse(404, "not_found", "node not found"));
          r(HttpResponse::FromJson(200, {{"node", NodeSnapshotToJson(*n)}}));
        });
  Route("DELETE", "/api/v1/nodes/{id}", "Forget a node", Access::kAdmin,
        [this](const RequestContext& c, Responder r) {
          Status s = nodes_.Remove(c.params.Get("id"));
          if (!s.ok()) return r(ErrorResponse(s));
          r(HttpResponse::FromJson(200, {{"deleted", c.params.Get("id")}}));
        });
  for (const char* op : {"cordon", "uncordon", "drain"}) {
    Route(
        "POST", std::string("/api/v1/nodes/{id}/") + op, std::string("Node operation: ") + op,
        Access::kAdmin,
        [this, op](const RequestContext& c, Responder r) {
          std::string which = op;
          Result<NodeSnapshot> n =
              nodes_.SetSchedulable(c.params.Get("id"), which == "uncordon", which == "drain");
          if (!n.ok()) return r(ErrorResponse(n.status()));
          r(HttpResponse::FromJson(200, {{"node", NodeSnapshotToJson(*n)}}));
        },
        {}, true);
  }

  // ---- the --manifests folder (docs/gitops.md) ----
  Route("GET", "/api/v1/manifests",
        "The --manifests folder's sync: per-file state (applied, unchanged, invalid, failed), "
        "errors and pruned jobs",
        Access::kRead, [this](const RequestContext&, Responder r) {
          if (manifest_sync_ == nullptr) {
            return r(ErrorResponse(404, "not_found",
                                   "this controller keeps no folder applied (start it with "
                                   "--manifests DIR)"));
          }
          r(HttpResponse::FromJson(200, manifest_sync_->Status()));
        });

  // ---- agent protocol ----
  Route(
      "POST", "/api/v1/agent/register", "Agent registration (counts as a heartbeat)",
      Access::kAgent,
      [this](const RequestContext& c, Responder r) {
        const Json& b = c.body;
        if (!b.is_object()) return r(Invalid("the body must be a JSON object"));
        Diagnostics d;
        static const std::set<std::string> kKnown = {"node_id", "name", "labels",  "agent_version",
                                                     "os",      "arch", "capacity"};
        for (auto it = b.begin(); it != b.end(); ++it) {
          if (!kKnown.count(it.key())) d.Error(it.key(), "unknown field");
        }
        NodeRecord node;
        auto text = [&](const char* field, std::string* out, bool required) {
          auto it = b.find(field);
          if (it == b.end() || it->is_null()) {
            if (required) d.Error(field, "required");
          } else if (!it->is_string()) {
            d.Error(field, "expected a string");
          } else {
            *out = it->get<std::string>();
          }
        };
        text("node_id", &node.id, true);
        text("name", &node.name, false);
        text("agent_version", &node.agent_version, false);
        text("os", &node.os, false);
        text("arch", &node.arch, false);
        if (!node.id.empty()) {
          if (auto e = NodeIdError(node.id)) d.Error("node_id", *e);
        }
        for (auto [field, value] : {std::pair<const char*, const std::string*>{"name", &node.name},
                                    {"agent_version", &node.agent_version},
                                    {"os", &node.os},
                                    {"arch", &node.arch}}) {
          if (value->size() > 253) d.Error(field, "at most 253 characters");
        }
        if (b.contains("labels") && !b["labels"].is_null()) {
          if (!b["labels"].is_object()) {
            d.Error("labels", "expected an object of strings");
          } else {
            for (auto it = b["labels"].begin(); it != b["labels"].end(); ++it) {
              std::string f = FieldPathAppendKey("labels", it.key());
              if (!it->is_string()) {
                d.Error(f, "expected a string");
                continue;
              }
              if (auto e = LabelKeyError(it.key())) d.Error(f, "invalid label key: " + *e);
              if (auto e = LabelValueError(it->get<std::string>())) {
                d.Error(f, "invalid label value: " + *e);
              }
              node.labels[it.key()] = it->get<std::string>();
            }
          }
        }
        if (b.contains("capacity") && !b["capacity"].is_null()) {
          if (!b["capacity"].is_object()) {
            d.Error("capacity", "expected an object");
          } else {
            node.capacity = b["capacity"];
          }
        }
        if (!d.ok()) return r(ErrorResponse(400, "invalid", "invalid registration", d.errors()));
        Result<NodeSnapshot> n = nodes_.Register(std::move(node), c.caller_token_id);
        if (!n.ok()) return r(ErrorResponse(n.status()));
        r(HttpResponse::FromJson(200,
                                 {{"node_id", n->record.id},
                                  {"heartbeat_interval_ms", nodes_.heartbeat_interval().count()}}));
      },
      {}, true);
  Route(
      "POST", "/api/v1/agent/heartbeat", "Agent heartbeat: observed executions in, assignments out",
      Access::kAgent,
      [this](const RequestContext& c, Responder r) {
        const Json& b = c.body;
        if (!b.is_object()) return r(Invalid("the body must be a JSON object"));
        for (auto it = b.begin(); it != b.end(); ++it) {
          if (it.key() != "node_id" && it.key() != "executions" && it.key() != "logs") {
            return r(Invalid("invalid heartbeat", {{it.key(), "unknown field"}}));
          }
        }
        if (!b.contains("node_id") || !b["node_id"].is_string()) {
          return r(Invalid("invalid heartbeat", {{"node_id", "required: a string"}}));
        }
        std::vector<Json> observed;
        if (b.contains("executions") && !b["executions"].is_null()) {
          if (!b["executions"].is_array()) {
            return r(Invalid("invalid heartbeat", {{"executions", "expected a list"}}));
          }
          for (size_t i = 0; i < b["executions"].size(); ++i) {
            const Json& e = b["executions"][i];
            if (!e.is_object() || !e.contains("execution_id") || !e["execution_id"].is_string()) {
              return r(Invalid("invalid heartbeat",
                               {{FieldPathAppendIndex("executions", i),
                                 "expected an object with a string execution_id"}}));
            }
            observed.push_back(e);
          }
        }
        static const Json kNoLogs;
        Diagnostics log_errors;
        auto logs = b.find("logs");  // by reference: the chunks may be most of a 1 MiB body
        std::vector<LogChunk> chunks =
            ParseLogChunks(logs == b.end() ? kNoLogs : *logs, &log_errors);
        if (!log_errors.ok()) return r(Invalid("invalid heartbeat", log_errors.errors()));
        const std::string node_id = b["node_id"].get<std::string>();
        Result<NodeSnapshot> n = nodes_.Heartbeat(node_id, c.caller_token_id, observed);
        if (!n.ok()) return r(ErrorResponse(n.status()));
        Json assignments = Json::array();
        if (controller_ != nullptr) {
          controller_.load()->ObserveHeartbeat(node_id, observed);
          StoreLogs(node_id, chunks);
          assignments = controller_.load()->Assignments(node_id);
        }
        r(HttpResponse::FromJson(
            200, {{"assignments", std::move(assignments)}, {"index", n->assignments_index}}));
      },
      {}, true);
  Route("GET", "/api/v1/agent/assignments", "Long-poll a node's assignments (node_id, index, wait)",
        Access::kAgent, [this](const RequestContext& c, Responder r) {
          std::string node_id = c.request.Query("node_id");
          if (node_id.empty()) return r(Invalid("node_id is required", {{"node_id", "required"}}));
          uint64_t index = 0;
          std::string index_text = c.request.Query("index", "0");
          auto [p, ec] =
              std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
          if (ec != std::errc() || p != index_text.data() + index_text.size()) {
            return r(Invalid("invalid index", {{"index", "must be a non-negative integer"}}));
          }
          std::optional<std::chrono::milliseconds> wait = ParseWait(c.request.Query("wait"));
          if (!wait) return r(Invalid("invalid wait", {{"wait", "a duration such as 30s"}}));
          if (*wait > options_.max_assignment_wait) wait = options_.max_assignment_wait;
          std::optional<NodeSnapshot> node = nodes_.Get(node_id);
          if (!node) return r(ErrorResponse(404, "not_found", "node is not registered"));
          if (!node->record.token_id.empty() && node->record.token_id != c.caller_token_id) {
            return r(ErrorResponse(403, "forbidden", "node id is bound to another agent token"));
          }
          nodes_.WaitForAssignments(
              node_id, index, *wait, [this, r, node_id](std::optional<NodeSnapshot> s) {
                if (!s) return r(ErrorResponse(404, "not_found", "node removed"));
                Json assignments = controller_ != nullptr ? controller_.load()->Assignments(node_id)
                                                          : Json::array();
                r(HttpResponse::FromJson(200, {{"assignments", std::move(assignments)},
                                               {"index", s->assignments_index}}));
              });
        });
}

void ApiServer::StoreLogs(const std::string& node_id, const std::vector<LogChunk>& chunks) {
  if (chunks.empty() || controller_ == nullptr) return;
  std::unordered_map<std::string, LogOwner> owners;
  for (ExecutionRecord& e : controller_.load()->cache().ExecutionsOnNode(node_id)) {
    owners[e.id] = {e.node_id, e.job_id, e.namespace_, e.version};
  }
  for (const LogChunk& chunk : chunks) {
    auto owner = owners.find(chunk.execution_id);
    if (owner != owners.end()) logs_.Append(owner->second, chunk);
  }
}

}  // namespace drover::controller
