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
  testing::ExpectUninterruptedEnd(controller, *fleet, job_id, 200, 10);
  EXPECT_THAT(violations, ::testing::IsEmpty());
  fleet->Stop();
}

}  // namespace
}  // namespace drover
