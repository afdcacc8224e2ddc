// The node agent (SPEC §8): registers with the controller, heartbeats its full observed state,
// long-polls its assignments, and converges the node onto them — starting, supervising (restart
// policy, execution_timeout, health windows) and stopping each execution's workload. Its state
// lives in --data-dir, so that an agent that restarts, or cannot reach the controller, keeps
// running its last assignments.
//
// Threads: Run() supervises on the calling thread (children, pipes, timers); one thread sends
// heartbeats and one long-polls. They share the agent's state under one mutex. RequestStop() may
// be called from any thread (or a signal handler through the flag passed to Run()).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "api/job.h"
#include "api/status.h"

namespace drover::agent {

struct AgentOptions {
  std::string server = "http://127.0.0.1:9010";
  std::string node_id;  // empty: the one kept in the data dir, or the host name
  std::string name;     // empty: the node id
  Labels labels;
  std::string data_dir = "./drover-agent";
  std::string token;
  std::optional<int> max_executions;
  std::string pipeline_engine;  // empty: the built-in engine (`drover engine`)
  bool allow_commands = false;  // update jobs and on_change hooks
  std::string config_root;      // empty: config jobs are refused
  std::string read_root;        // empty: pipelines may not read or write files
  bool allow_listen = false;    // http_server inputs
  std::string drover_binary;    // for `drover engine`; empty: this process's executable
  std::chrono::milliseconds stop_grace{10'000};  // SIGTERM, then SIGKILL
  std::chrono::milliseconds drift_check{2'000};  // how often config files are compared
  std::string metrics_listen;                    // HOST:PORT for GET /metrics; empty: not served
  std::string agent_version = "dev";
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> Create(AgentOptions options);
  ~Agent();

  // Runs until `stop` becomes true. Executions keep running state in the data dir: a restarted
  // agent starts them again.
  Status Run(const std::atomic<bool>& stop);

  const std::string& node_id() const;

 private:
  struct State;
  explicit Agent(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace drover::agent
