// End to end (issue 4, acceptance 3): the real `drover controller` process and a simulated
// fleet (cli/sim_fleet.h, the engine of `drover sim`) speaking the agent protocol over HTTP on
// loopback. Short heartbeat and health intervals keep each scenario to a few seconds; the waits
// are bounded polls, never fixed sleeps standing in for a result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <thread>

#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using testing::ControllerProcess;

constexpr auto kHeartbeat = "250ms";

// Polls `condition` every 100 ms for up to `limit`; true once it holds.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

class RolloutEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start()) << controller_.log(); }
  void TearDown() override {
    if (fleet_) {
      EXPECT_THAT(fleet_->Violations(), ::testing::IsEmpty());
      fleet_->Stop();
    }
    if (HasFailure()) std::cerr << controller_.log().substr(0, 20000);
  }

  void StartFleet(int nodes, std::vector<std::string> rules = {}, Labels extra = {}) {
    sim::FleetOptions options;
    options.server = controller_.url();
    options.registration_spread = 100ms;
    options.behaviour.default_health.interval = 250ms;
    options.behaviour.pending_for = 0ms;
    options.behaviour.starting_for = 50ms;
    options.behaviour.one_shot_run_time = 100ms;
    for (int i = 0; i < nodes; ++i) {
      char id[32];
      std::snprintf(id, sizeof(id), "edge-%03d", i);
      Labels labels = {{"role", "edge"}, {"zone", i % 2 == 0 ? "a" : "b"}};
      labels.insert(extra.begin(), extra.end());
      options.nodes.push_back({id, labels});
    }
    for (const std::string& text : rules) {
      Result<sim::BehaviourRule> rule = sim::ParseBehaviourRule(text);
      ASSERT_TRUE(rule.ok()) << rule.status().message();
      options.rules.push_back(*rule);
    }
    Result<std::unique_ptr<sim::Fleet>> fleet = sim::Fleet::Start(options);
    ASSERT_TRUE(fleet.ok()) << fleet.status().message();
    fleet_ = std::move(fleet).value();
    ASSERT_TRUE(Eventually([&] {
      Json n = controller_.Call("GET", "/api/v1/nodes?state=connected").Json();
      return n["items"].size() == static_cast<size_t>(nodes);
    })) << "the fleet did not connect";
  }

  Json Put(const Json& spec, int* status = nullptr) {
    testing::HttpReply r = controller_.Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump());
    if (status) *status = r.status;
    return r.Json();
  }

  Json Job(const std::string& name) {
    return controller_.Call("GET", "/api/v1/jobs/" + name).Json()["job"];
  }
  std::string Phase(const std::string& name) {
    Json j = Job(name);
    return j["status"]["rollout"].is_object() ? j["status"]["rollout"].value("phase", "")
                                              : std::string();
  }
  std::vector<std::string> Reasons(const std::string& name) {
    std::vector<std::string> out;
    const Json events = controller_.Call("GET", "/api/v1/jobs/" + name + "/events").Json();
    for (const Json& e : events["items"]) out.push_back(e["reason"]);
    return out;
  }
  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::milliseconds limit = 40s) {
    return Eventually([&] { return Phase(name) == phase; }, limit);
  }
  // Every node of the fleet runs `version` of the job (as the nodes themselves were told).
  bool AllRun(const std::string& job_id, int version, size_t nodes) {
    std::map<std::string, int> running = fleet_->RunningVersions(job_id);
    if (running.size() != nodes) return false;
    for (const auto& [node, v] : running) {
      if (v != version) return false;
    }
    return true;
  }

  static Json Pipeline(const std::string& name, const std::string& strategy, int max_parallel) {
    return {{"name", name},
            {"type", "pipeline"},
            {"selector", {{"match_labels", {{"role", "edge"}}}}},
            {"config",
             {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
            {"rollout",
             {{"strategy", strategy},
              {"max_parallel", max_parallel},
              {"health_check",
               {{"deadline", "20s"},
                {"interval", "250ms"},
                {"success_threshold", 1},
                {"failure_threshold", 1}}}}}};
  }

  ControllerProcess controller_{{"--heartbeat-interval", kHeartbeat, "--resync", "2s"}};
  std::unique_ptr<sim::Fleet> fleet_;
};

TEST_F(RolloutEndToEnd, RollingUpdateOverFiftyNodesInTwentyPercentWaves) {
  StartFleet(50);
  Json v1 = Pipeline("logs", "rolling", 20);
  int status = 0;
  std::string id = Put(v1, &status)["job_id"];
  ASSERT_EQ(status, 201);
  ASSERT_TRUE(WaitPhase("logs", "succeeded")) << Job("logs").dump();
  ASSERT_TRUE(AllRun(id, 1, 50));

  Json v2 = v1;
  v2["description"] = "version two";
  Put(v2, &status);
  ASSERT_EQ(status, 200);
  // Watch the waves go by in status: 1..5 of 5, never two waves ahead of the healthy nodes.
  std::set<int> waves_seen;
  ASSERT_TRUE(Eventually(
      [&] {
        Json r = Job("logs")["status"]["rollout"];
        if (r["to_version"] == 2 && r["phase"] == "progressing" && r["current_wave"] > 0) {
          waves_seen.insert(r["current_wave"].get<int>());
          EXPECT_EQ(r["total_waves"], 5) << r;
          EXPECT_EQ(r["target_nodes"], 50) << r;
          EXPECT_LE(r["updated_nodes"].get<int>(), r["current_wave"].get<int>() * 10) << r;
        }
        return r["to_version"] == 2 && r["phase"] == "succeeded";
      },
      60s))
      << Job("logs").dump();
  EXPECT_GE(waves_seen.size(), 3u) << "the waves should be visible one after another";
  Json status_now = Job("logs")["status"];
  EXPECT_EQ(status_now["state"], "running");
  EXPECT_EQ(status_now["stable_version"], 2);
  EXPECT_EQ(status_now["rollout"]["updated_nodes"], 50);
  EXPECT_EQ(status_now["rollout"]["current_wave"], 5);
  EXPECT_TRUE(Eventually([&] { return AllRun(id, 2, 50); }));
  int wave_events = 0;
  const Json events = controller_.Call("GET", "/api/v1/jobs/logs/events").Json();
  for (const Json& e : events["items"]) {
    if (e["reason"] == "WaveStarted" &&
        e["message"].get<std::string>().find("/5 started on 10 nodes") != std::string::npos) {
      ++wave_events;
    }
  }
  EXPECT_EQ(wave_events, 10) << "5 waves of 10 for version 1 and again for version 2";
  // Metrics count the waves without node ids as labels.
  std::string metrics = controller_.Call("GET", "/metrics").body;
  EXPECT_THAT(metrics, ::testing::HasSubstr("drover_rollout_waves_total 10"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("drover_rollouts{phase=\"succeeded\"} 1"));
  EXPECT_THAT(metrics, ::testing::Not(::testing::HasSubstr("edge-0")));
}

TEST_F(RolloutEndToEnd, UnhealthyVersionHaltsAtTheBudgetAndRollsBack) {
  StartFleet(20, {"job=bad,version=2:unhealthy"});
  Json v1 = Pipeline("bad", "rolling", 25);
  v1["rollout"]["max_failed_nodes"] = 2;
  int status = 0;
  std::string id = Put(v1, &status)["job_id"];
  ASSERT_TRUE(WaitPhase("bad", "succeeded")) << Job("bad").dump();
  Json v2 = v1;
  v2["description"] = "turns unhealthy";
  Put(v2, &status);
  ASSERT_EQ(status, 200);
  ASSERT_TRUE(WaitPhase("bad", "rolled_back")) << Job("bad").dump();
  Json s = Job("bad")["status"];
  EXPECT_EQ(s["state"], "rollout_failed");
  EXPECT_EQ(s["version"], 2) << "the user's spec stays; the rollback is in status";
  EXPECT_EQ(s["failed_version"], 2);
  EXPECT_EQ(s["stable_version"], 1);
  EXPECT_EQ(s["rollout"]["from_version"], 2);
  EXPECT_EQ(s["rollout"]["to_version"], 1);
  EXPECT_GT(s["rollout"]["failed_nodes"].get<int>(), 2);
  EXPECT_LE(s["rollout"]["updated_nodes"].get<int>(), 5) << "it halted in the first wave";
  EXPECT_TRUE(Eventually([&] { return AllRun(id, 1, 20); })) << "nodes end on the stable version";
  std::vector<std::string> reasons = Reasons("bad");
  EXPECT_THAT(reasons, ::testing::Contains("Halted"));
  EXPECT_THAT(reasons, ::testing::Contains("RollbackStarted"));
  EXPECT_THAT(reasons, ::testing::Contains("RolledBack"));
  // the rollback guard: re-applying the failed spec changes nothing
  Json again = Put(v2, &status);
  EXPECT_EQ(status, 422) << again;
  EXPECT_EQ(again["error"]["code"], "unchanged");
  EXPECT_EQ(Phase("bad"), "rolled_back");
  std::string metrics = controller_.Call("GET", "/metrics").body;
  EXPECT_THAT(metrics, ::testing::HasSubstr("drover_rollbacks_total{reason=\"failure_budget\"} 1"));
}

TEST_F(RolloutEndToEnd, CanaryWithoutAutoPromoteWaitsForPromote) {
  StartFleet(10);
  Json v1 = Pipeline("canary", "canary", 50);
  v1["rollout"]["canary_count"] = 2;
  int status = 0;
  std::string id = Put(v1, &status)["job_id"];
  ASSERT_EQ(status, 201);
  ASSERT_TRUE(WaitPhase("canary", "awaiting_promotion")) << Job("canary").dump();
  Json s = Job("canary")["status"];
  EXPECT_EQ(s["state"], "rollout_paused");
  EXPECT_EQ(s["rollout"]["canary_nodes"].size(), 2u);
  EXPECT_EQ(fleet_->RunningVersions(id).size(), 2u) << "only the canaries run it";
  std::this_thread::sleep_for(1500ms);  // several reconciles and resyncs pass: still waiting
  EXPECT_EQ(Phase("canary"), "awaiting_promotion");
  EXPECT_EQ(fleet_->RunningVersions(id).size(), 2u);
  // the wrong control answers 409 with the phase
  testing::HttpReply wrong = controller_.Call("POST", "/api/v1/jobs/canary/rollout/resume", "{}");
  EXPECT_EQ(wrong.status, 409);
  EXPECT_EQ(wrong.Json()["error"]["details"][0]["message"], "awaiting_promotion");
  testing::HttpReply promote =
      controller_.Call("POST", "/api/v1/jobs/canary/rollout/promote", "{}");
  EXPECT_EQ(promote.status, 200) << promote.body;
  ASSERT_TRUE(WaitPhase("canary", "succeeded")) << Job("canary").dump();
  EXPECT_TRUE(Eventually([&] { return AllRun(id, 1, 10); }));
  EXPECT_THAT(Reasons("canary"), ::testing::Contains("AwaitingPromotion"));
}

TEST_F(RolloutEndToEnd, NodesOfflineBeforeDispatchAreSkippedAndCaughtUp) {
  StartFleet(10);
  fleet_->SetOffline("edge-003", true);
  fleet_->SetOffline("edge-007", true);
  ASSERT_TRUE(Eventually([&] {
    return controller_.Call("GET", "/api/v1/nodes?state=disconnected").Json()["items"].size() == 2;
  }));
  Json v1 = Pipeline("catchup", "rolling", 50);
  int status = 0;
  std::string id = Put(v1, &status)["job_id"];
  ASSERT_EQ(status, 201);
  ASSERT_TRUE(WaitPhase("catchup", "succeeded")) << Job("catchup").dump();
  Json r = Job("catchup")["status"]["rollout"];
  EXPECT_EQ(r["failed_nodes"], 0);
  EXPECT_EQ(fleet_->RunningVersions(id).size(), 8u);
  EXPECT_FALSE(fleet_->RunningVersions(id).count("edge-003"));
  fleet_->SetOffline("edge-003", false);
  fleet_->SetOffline("edge-007", false);
  EXPECT_TRUE(Eventually([&] { return AllRun(id, 1, 10); })) << "caught up on return";
}

TEST_F(RolloutEndToEnd, QueryCompletesWithOneResultPerNode) {
  StartFleet(6);
  Json query = {
      {"name", "count-lines"},
      {"type", "query"},
      {"selector", {{"match_labels", {{"zone", "a"}}}}},
      {"config",
       {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
  int status = 0;
  std::string id = Put(query, &status)["job_id"];
  ASSERT_EQ(status, 201);
  ASSERT_TRUE(Eventually([&] { return Job("count-lines")["status"]["state"] == "completed"; }))
      << Job("count-lines").dump();
  Json results = controller_.Call("GET", "/api/v1/jobs/count-lines/results").Json()["items"];
  ASSERT_EQ(results.size(), 3u) << results;
  std::set<std::string> nodes;
  for (const Json& r : results) {
    nodes.insert(r["node_id"].get<std::string>());
    EXPECT_EQ(r["state"], "completed");
    EXPECT_FALSE(r["results"].empty());
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"edge-000", "edge-002", "edge-004"}));
  EXPECT_THAT(Reasons("count-lines"), ::testing::Contains("QueryCompleted"));
}

TEST_F(RolloutEndToEnd, StoppingAJobStopsItEverywhere) {
  StartFleet(5);
  std::string id = Put(Pipeline("stopme", "immediate", 100))["job_id"];
  ASSERT_TRUE(Eventually([&] { return AllRun(id, 1, 5); }));
  EXPECT_EQ(controller_.Call("DELETE", "/api/v1/jobs/stopme").status, 200);
  EXPECT_TRUE(Eventually([&] { return fleet_->RunningVersions(id).empty(); }));
  EXPECT_EQ(Job("stopme")["status"]["state"], "stopped");
  EXPECT_EQ(Phase("stopme"), "cancelled");
}

}  // namespace
}  // namespace drover
