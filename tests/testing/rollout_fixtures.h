// Test helpers shared by the end-to-end rollout tests (crash safety, replicas, the CLI's watch):
// a rolling pipeline spec over the simulated fleet, a fleet of N simulated edge nodes, and the
// control loop's first invariant as the API shows it. Only for tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"

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
  const nlohmann::json body = r.Json();  // kept: the loop reads into it
  for (const nlohmann::json& e : body["items"]) {
    std::string state = e["state"];
    if (state == "pending" || state == "starting" || state == "running") {
      if (++active[e["node_id"].get<std::string>()] == 2) {
        violations->push_back("two non-terminal executions on " + e["node_id"].get<std::string>());
      }
    }
  }
}

// Checks (gtest expectations) that the rolling update of job "fleet-logs" to version 2 ended as an
// uninterrupted one does: every one of `nodes` nodes updated and healthy, `waves` waves each
// started once, no rollback, one execution of version 2 per node and none failed, and every
// simulated node running version 2 as it saw its assignments.
inline void ExpectUninterruptedEnd(const ControllerProcess& via, const sim::Fleet& fleet,
                                   const std::string& job_id, int nodes, int waves) {
  using Json = nlohmann::json;
  Json job = via.Call("GET", "/api/v1/jobs/fleet-logs").Json()["job"];
  const Json& r = job["status"]["rollout"];
  EXPECT_EQ(r["to_version"], 2);
  EXPECT_EQ(r["phase"], "succeeded");
  EXPECT_EQ(r["target_nodes"], nodes);
  EXPECT_EQ(r["updated_nodes"], nodes);
  EXPECT_EQ(r["healthy_nodes"], nodes);
  EXPECT_EQ(r["failed_nodes"], 0);
  EXPECT_EQ(r["current_wave"], waves);
  EXPECT_EQ(r["total_waves"], waves);
  EXPECT_EQ(job["status"]["state"], "running");
  EXPECT_EQ(job["status"]["stable_version"], 2);
  std::map<std::string, int> wave_starts;
  const Json events = via.Call("GET", "/api/v1/jobs/fleet-logs/events").Json();
  bool after_v2 = false;
  for (const Json& e : events["items"]) {
    if (e["reason"] == "JobUpdated") after_v2 = true;
    if (after_v2 && e["reason"] == "WaveStarted") ++wave_starts[e["message"].get<std::string>()];
    EXPECT_NE(e["reason"], "RolledBack") << e;
  }
  EXPECT_EQ(wave_starts.size(), static_cast<size_t>(waves)) << events.dump();
  for (const auto& [message, n] : wave_starts) EXPECT_EQ(n, 1) << message;
  Json executions = via.Call("GET", "/api/v1/jobs/fleet-logs/executions?version=2").Json();
  std::map<std::string, int> per_node;
  for (const Json& e : executions["items"]) {
    ++per_node[e["node_id"].get<std::string>()];
    EXPECT_NE(e["state"], "failed") << e;
  }
  EXPECT_EQ(per_node.size(), static_cast<size_t>(nodes));
  for (const auto& [node, n] : per_node) EXPECT_EQ(n, 1) << node;
  EXPECT_TRUE(Eventually(
      [&] {
        std::map<std::string, int> running = fleet.RunningVersions(job_id);
        if (running.size() != static_cast<size_t>(nodes)) return false;
        for (const auto& [node, v] : running) {
          if (v != 2) return false;
        }
        return true;
      },
      std::chrono::seconds(30)))
      << "not every simulated node runs version 2";
  EXPECT_TRUE(fleet.Violations().empty()) << fleet.Violations().front();
}

}  // namespace drover::testing
