// Fleet: a simulated fleet of edge nodes speaking the real agent protocol (SPEC §8) to a
// controller over HTTP, for integration tests, benchmarks and rollout rehearsals (`drover sim`).
// Every node registers, heartbeats its full observed state on a schedule spread evenly over the
// heartbeat interval, optionally long-polls for assignments, and runs what it is assigned as
// scripted by cli/sim_behaviour.h. Built for 100,000 nodes in one process: one I/O thread, a
// fixed pool of keep-alive connections shared by all nodes, and a time-ordered schedule of due
// requests; no thread or socket per node. It also checks the controller's answers (one running
// execution per job and node, no version going backwards without a stop) and records what it saw.
// Every public method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/job.h"
#include "api/status.h"
#include "cli/sim_behaviour.h"

namespace drover::sim {

using SteadyTime = std::chrono::steady_clock::time_point;

struct SimNode {
  std::string id;  // [A-Za-z0-9._-], at most 253 characters
  Labels labels;
};

struct FleetOptions {
  std::string server = "http://127.0.0.1:9010";  // http://HOST:PORT (no TLS)
  std::string token;                             // sent as "Authorization: Bearer TOKEN"
  std::vector<SimNode> nodes;
  std::vector<BehaviourRule> rules;  // first match wins; no match: healthy
  std::vector<OfflineWindow> offline;
  // Heartbeat interval; std::nullopt: what the controller's register answer says.
  std::optional<std::chrono::milliseconds> heartbeat_interval;
  // Registrations (and so the heartbeats that follow them) are spread evenly over this;
  // std::nullopt: one heartbeat interval.
  std::optional<std::chrono::milliseconds> registration_spread;
  int connections = 16;  // keep-alive connections shared by every node's requests
  // Long polls (GET /api/v1/agent/assignments) besides heartbeats. Each waiting poll holds a
  // connection of its own, so only the first `max_long_polls` nodes poll; the others rely on
  // their heartbeats.
  bool long_poll = false;
  int max_long_polls = 1000;
  std::chrono::milliseconds long_poll_wait{30'000};
  std::chrono::milliseconds request_timeout{10'000};  // connect + request + answer
  BehaviourSettings behaviour;  // timings; behaviour.default_health for null health checks
  std::string agent_version = "drover-sim";
};

// An assignment as the node last received it.
struct Assignment {
  std::string execution_id;
  std::string job_id;
  std::string namespace_;
  std::string name;
  int version = 0;
  std::string type;
  std::string desired_state;  // running | stopped
  // The assignment's other fields (config, restart_policy, timeouts, health_check), shared by
  // every node given the same job version.
  std::shared_ptr<const Json> spec;
};

struct FleetCounters {
  int64_t nodes = 0;          // in the fleet
  int64_t registered = 0;     // nodes whose registration (or latest re-registration) succeeded
  int64_t offline = 0;        // nodes offline now (windows and SetOffline)
  int64_t registrations = 0;  // successful register calls, re-registrations included
  int64_t registration_failures = 0;
  int64_t heartbeats_ok = 0;
  int64_t heartbeats_failed = 0;  // any heartbeat not answered 200
  int64_t polls_ok = 0;
  int64_t polls_failed = 0;
  int64_t connection_errors = 0;  // connect, reset, timeout (each retried later)
  int64_t malformed_answers = 0;  // 200 answers that were not the SPEC's shape
};

class Fleet {
 public:
  // Checks that the server answers (kUnavailable when it cannot be reached, kUnauthorized or
  // kForbidden when it refuses the token, kInvalid for bad options), then starts the fleet:
  // registrations spread over one heartbeat interval, then heartbeats.
  static Result<std::unique_ptr<Fleet>> Start(FleetOptions options);
  ~Fleet();  // Stop()
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Stops sending, closes every connection and joins the I/O thread. Idempotent.
  void Stop();

  // ---- observation ----
  // The assignments `node_id` last received (empty for unknown nodes).
  std::vector<Assignment> Assignments(const std::string& node_id) const;
  // node id -> version of the job's assignment with desired_state running (absent: none).
  std::map<std::string, int> RunningVersions(const std::string& job_id) const;
  // node id -> when the node first received a running assignment of the job (of `version`).
  std::map<std::string, SteadyTime> FirstReceived(const std::string& job_id,
                                                  std::optional<int> version = {}) const;
  // Protocol violations seen in the controller's answers, each once, oldest first.
  std::vector<std::string> Violations() const;
  FleetCounters Counters() const;
  // What `node_id` would report for its executions now (the heartbeat's `executions`).
  Json Executions(const std::string& node_id) const;
  // Executions per "namespace/name vN state" across the fleet, now.
  std::map<std::string, int64_t> ExecutionStates() const;
  std::vector<std::string> NodeIds() const;
  SteadyTime started_at() const;

  // ---- control ----
  // Silences a node (no heartbeats, no polls) until SetOffline(node, false), which sends a
  // heartbeat at once. Its executions keep running meanwhile.
  void SetOffline(const std::string& node_id, bool offline);
  // New labels; the node registers again at once.
  void Relabel(const std::string& node_id, Labels labels);
  // More nodes: registered over the next heartbeat interval. Ids already in the fleet are
  // refused (kInvalid) and nothing is added.
  Status AddNodes(std::vector<SimNode> nodes);

 private:
  class Engine;
  explicit Fleet(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

// "http://HOST:PORT[/]" -> host, port. kInvalid for anything else (https included).
Result<std::pair<std::string, int>> ParseServerUrl(const std::string& url);

}  // namespace drover::sim
