// Crash safety of the control loop (issue 4, acceptance 4): during a rolling update over 200
// simulated nodes the controller is killed with SIGKILL at 20 random moments and restarted on the
// same data dir each time. The rollout must end exactly as an uninterrupted one does (every node
// on the new version, 10 waves of 20, each started once, nothing failed), and the invariants must
// hold throughout: never two non-terminal executions of the job on one node in the store, never
// two running assignments of it on one node as the nodes saw them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <thread>

#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/rollout_fixtures.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using testing::CheckOneActiveExecutionPerNode;
using testing::ControllerProcess;
using testing::Eventually;
using testing::RollingPipeline;

TEST(RolloutCrash, SigkillAtTwentyRandomMomentsEndsLikeAnUninterruptedRollout) {
  ControllerProcess controller({"--heartbeat-interval", "250ms", "--resync", "2s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  Result<std::unique_ptr<sim::Fleet>> started =
      sim::Fleet::Start(testing::EdgeFleet(controller.url(), 200));
  ASSERT_TRUE(started.ok()) << started.status().message();
  std::unique_ptr<sim::Fleet> fleet = std::move(started).value();

  auto put = [&](const Json& spec) {
    return controller.Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump());
  };
  auto rollout = [&]() {
    return controller.Call("GET", "/api/v1/jobs/fleet-logs").Json()["job"]["status"]["rollout"];
  };
  ASSERT_TRUE(Eventually(
      [&] {
        return controller.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() ==
               200;
      },
      30s));
  testing::HttpReply first = put(RollingPipeline("fleet-logs", 10, "v1"));
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string job_id = first.Json()["job_id"];
  ASSERT_TRUE(Eventually([&] { return rollout()["phase"] == "succeeded"; }, 90s)) << rollout();

  ASSERT_EQ(put(RollingPipeline("fleet-logs", 10, "v2")).status, 200);
  std::mt19937 rng(20261204);
  std::vector<std::string> violations;
  int kills = 0;
  while (kills < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 700));
    CheckOneActiveExecutionPerNode(controller, job_id, &violations);
    controller.Kill();
    ++kills;
    ASSERT_TRUE(controller.Start(/*keep_port=*/true)) << controller.log();
    CheckOneActiveExecutionPerNode(controller, job_id, &violations);
  }
  ASSERT_TRUE(Eventually(
      [&] {
        CheckOneActiveExecutionPerNode(controller, job_id, &violations);
        Json r = rollout();
        return r["to_version"] == 2 && r["phase"] == "succeeded";
      },
      120s))
      << rollout();

  // The same end as without a crash.
  Json r = rollout();
  EXPECT_EQ(r["target_nodes"], 200);
  EXPECT_EQ(r["updated_nodes"], 200);
  EXPECT_EQ(r["healthy_nodes"], 200);
  EXPECT_EQ(r["failed_nodes"], 0);
  EXPECT_EQ(r["current_wave"], 10);
  EXPECT_EQ(r["total_waves"], 10);
  Json job = controller.Call("GET", "/api/v1/jobs/fleet-logs").Json()["job"];
  EXPECT_EQ(job["status"]["state"], "running");
  EXPECT_EQ(job["status"]["stable_version"], 2);
  EXPECT_TRUE(Eventually(
      [&] {
        std::map<std::string, int> running = fleet->RunningVersions(job_id);
        if (running.size() != 200) return false;
        for (const auto& [node, v] : running) {
          if (v != 2) return false;
        }
        return true;
      },
      30s));
  // Each of the 10 waves of version 2 started exactly once.
  std::map<std::string, int> wave_starts;
  const Json events = controller.Call("GET", "/api/v1/jobs/fleet-logs/events").Json();
  bool after_v2 = false;
  for (const Json& e : events["items"]) {
    if (e["reason"] == "JobUpdated") after_v2 = true;
    if (after_v2 && e["reason"] == "WaveStarted") ++wave_starts[e["message"].get<std::string>()];
  }
  EXPECT_EQ(wave_starts.size(), 10u) << events.dump();
  for (const auto& [message, n] : wave_starts) EXPECT_EQ(n, 1) << message;
  // One execution of version 2 per node in the store, none failed.
  Json executions = controller.Call("GET", "/api/v1/jobs/fleet-logs/executions?version=2").Json();
  std::map<std::string, int> per_node;
  for (const Json& e : executions["items"]) {
    ++per_node[e["node_id"].get<std::string>()];
    EXPECT_NE(e["state"], "failed") << e;
  }
  EXPECT_EQ(per_node.size(), 200u);
  for (const auto& [node, n] : per_node) EXPECT_EQ(n, 1) << node;
  EXPECT_THAT(violations, ::testing::IsEmpty());
  EXPECT_THAT(fleet->Violations(), ::testing::IsEmpty());
  fleet->Stop();
}

}  // namespace
}  // namespace drover
