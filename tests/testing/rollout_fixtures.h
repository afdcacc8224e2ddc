// Test helpers shared by the end-to-end rollout tests (crash safety, replicas, the CLI's watch):
// a rolling pipeline spec over the simulated fleet, a fleet of N simulated edge nodes, and the
// control loop's first invariant as the API shows it. Only for tests.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"

namespace drover::testing {

// A pipeline on every node labelled role=edge, rolled out in waves of `percent_per_wave` percent
// of the nodes with no failure allowed, each node judged healthy after one 250 ms window.
inline nlohmann::json RollingPipeline(const std::string& name, int percent_per_wave,
                                      const std::string& description = "",
                                      const std::string& health_deadline = "60s",
                                      int failure_threshold = 2) {
  using Json = nlohmann::json;
  return {{"name", name},
          {"type", "pipeline"},
          {"description", description},
          {"selector", {{"match_labels", {{"role", "edge"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
          {"rollout",
           {{"strategy", "rolling"},
            {"max_parallel", percent_per_wave},
            {"max_failed_nodes", 0},
            {"health_check",
             {{"deadline", health_deadline},
              {"interval", "250ms"},
              {"success_threshold", 1},
              {"failure_threshold", failure_threshold}}}}}};
}

// Options for `nodes` simulated nodes node-000, node-001, ... labelled role=edge, healthy, quick
// to start, registering within 200 ms.
inline sim::FleetOptions EdgeFleet(const std::string& server, int nodes) {
  sim::FleetOptions options;
  options.server = server;
  options.registration_spread = std::chrono::milliseconds(200);
  options.connections = 8;
  options.behaviour.pending_for = std::chrono::milliseconds(0);
  options.behaviour.starting_for = std::chrono::milliseconds(50);
  for (int i = 0; i < nodes; ++i) {
    char id[32];
    std::snprintf(id, sizeof(id), "node-%03d", i);
    options.nodes.push_back({id, {{"role", "edge"}}});
  }
  return options;
}

// Adds to `violations` every node with two non-terminal executions of the job, as the store
// holds them (read through `via`; nothing is added when it does not answer).
inline void CheckOneActiveExecutionPerNode(const ControllerProcess& via, const std::string& job_id,
                                           std::vector<std::string>* violations) {
  HttpReply r = via.Call("GET", "/api/v1/jobs/" + job_id + "/executions");
  if (r.status != 200) return;
  std::map<std::string, int> active;
  for (const nlohmann::json& e : r.Json()["items"]) {
    std::string state = e["state"];
    if (state == "pending" || state == "starting" || state == "running") {
      if (++active[e["node_id"].get<std::string>()] == 2) {
        violations->push_back("two non-terminal executions on " + e["node_id"].get<std::string>());
      }
    }
  }
}

}  // namespace drover::testing
