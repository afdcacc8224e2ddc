// The agent's own Prometheus metrics, served on --metrics-listen (GET /metrics): executions by
// state, restarts, messages and errors counted by the health windows (also under SPEC §11's
// drover_agent_pipeline_messages_total), heartbeats by result. Every family shows from the start.
// Labels are job names (bounded on one node), never execution ids. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "api/status.h"

namespace drover::agent {

class AgentMetrics {
 public:
  AgentMetrics();
  ~AgentMetrics();

  void SetExecutions(const std::map<std::string, int64_t>& by_state);
  void CountHeartbeat(bool ok);
  void CountRestart(const std::string& job);
  void CountWindow(const std::string& job, uint64_t processed, uint64_t errors, bool healthy);
  std::string Render() const;  // the Prometheus text exposition

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Serves `metrics` at http://ADDRESS/metrics until destroyed. ADDRESS is HOST:PORT.
class MetricsServer {
 public:
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                      const AgentMetrics& metrics);
  ~MetricsServer();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::agent
