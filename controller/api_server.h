// ApiServer: the HTTP API of SPEC §3, §8 and §12 as routes over the JobService, the
// NodeRegistry and the LogStore (execution output shipped with heartbeats), with authentication,
// authorisation, body parsing and request metrics around every handler. Transport-free:
// controller/http_server.cc feeds it requests. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "controller/auth.h"
#include "controller/http.h"
#include "controller/job_service.h"
#include "controller/log_store.h"
#include "controller/metrics.h"
#include "controller/node_registry.h"

namespace drover::controller {

struct ApiServerOptions {
  std::string version = "dev";
  std::chrono::milliseconds max_assignment_wait{60'000};
};

class ApiServer {
 public:
  // `tokens` null means auth is off (the server then listens on loopback only).
  ApiServer(JobService& jobs, NodeRegistry& nodes, LogStore& logs, ControllerMetrics& metrics,
            const TokenTable* tokens, ApiServerOptions options);

  // Handles one request; `respond` is called exactly once, possibly later (long polls).
  void Handle(HttpRequest request, Responder respond);

  const Router& router() const { return router_; }

  // The OpenAPI 3 document of every route (GET /openapi.json).
  Json OpenApi() const;

  // The control loop that feeds heartbeats into the store and answers assignments (null: none,
  // heartbeats then answer no assignments). Set before serving, or when a replica starts to lead.
  void SetController(class JobController* controller) { controller_ = controller; }

  // A replica among several on etcd: `role` answers {"replica_id", "leader" (bool),
  // "leader_id", "term", "ready" (bool)} for /readyz, which is then ready only when both
  // SetReady and role's "ready" say so. Unset: a single controller, always the leader.
  void SetRole(std::function<Json()> role) { role_ = std::move(role); }

  // The --manifests mode's sync, whose status GET /api/v1/manifests shows (null: the mode is
  // off and the route answers 404). Set before serving; it must outlive the serving.
  void SetManifestSync(const class ManifestSync* sync) { manifest_sync_ = sync; }

  // Readiness is false until the store is loaded and true until shutdown starts.
  void SetReady(bool ready) { ready_ = ready; }

 private:
  void AddRoutes();
  void Route(std::string method, std::string path, std::string summary, Access access,
             Handler handler, ScopeFunction scope = {}, bool has_body = false);
  // Keeps a heartbeat's log chunks of the executions the controller placed on that node (others
  // are dropped: a node writes only its own executions' output).
  void StoreLogs(const std::string& node_id, const std::vector<LogChunk>& chunks);

  JobService& jobs_;
  NodeRegistry& nodes_;
  LogStore& logs_;
  ControllerMetrics& metrics_;
  const TokenTable* tokens_;
  ApiServerOptions options_;
  Router router_;
  std::atomic<bool> ready_{false};
  std::atomic<class JobController*> controller_{nullptr};
  std::function<Json()> role_;
  const class ManifestSync* manifest_sync_ = nullptr;
};

}  // namespace drover::controller
