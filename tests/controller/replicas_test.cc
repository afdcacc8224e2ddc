// Several controller replicas on etcd under failures (issue 8, acceptance 2 and 3), with real
// processes only: a 3-member etcd cluster and 3 `drover controller` replicas on loopback, and a
// simulated fleet of 200 nodes speaking the agent protocol to a follower, which forwards it to
// the leader.
//
// 1. During a rolling update, one etcd member is killed and then the leading controller: a new
//    leader takes over within two lease durations, the rollout ends exactly as an uninterrupted
//    one does, no invariant of the control loop breaks, and every write the API acknowledged
//    (jobs written through every replica all along) is still there.
// 2. A leader paused with SIGSTOP past its lease, then resumed while every other replica is
//    paused too (so that nothing else can write), makes no write at all: the store's revision
//    does not move until it has noticed and exited, and the writes sent to it are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/etcd_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/rollout_fixtures.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using testing::CheckOneActiveExecutionPerNode;
using testing::ControllerProcess;
using testing::Eventually;
using testing::RollingPipeline;

// Short leases keep the test quick; the takeover bound is two of them, as with the defaults.
constexpr auto kLease = 4s;
const std::vector<std::string> kElectionFlags = {"--leader-elect-lease-duration", "4s",
                                                 "--leader-elect-renew-deadline", "3s",
                                                 "--leader-elect-retry-period",   "500ms"};

std::vector<std::unique_ptr<ControllerProcess>> StartReplicas(const std::string& store_url, int n) {
  std::vector<std::unique_ptr<ControllerProcess>> replicas;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> args = {"--store",
                                     store_url,
                                     "--replica-id",
                                     "c" + std::to_string(i),
                                     "--heartbeat-interval",
                                     "500ms",
                                     "--resync",
                                     "2s"};
    args.insert(args.end(), kElectionFlags.begin(), kElectionFlags.end());
    replicas.push_back(std::make_unique<ControllerProcess>(args));
    EXPECT_TRUE(replicas.back()->Start()) << replicas.back()->log();
  }
  return replicas;
}

Json Readyz(const ControllerProcess& c) {
  testing::Connection connection(c.port(), 2s);
  if (!connection.ok()) return Json::object();
  testing::HttpReply r = connection.Request("GET", "/readyz", "", {});
  Json body = Json::parse(r.body, nullptr, false);
  return body.is_object() ? body : Json::object();
}

// The index of the replica that serves as the leader, or -1.
int Leader(const std::vector<std::unique_ptr<ControllerProcess>>& replicas) {
  for (size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i]->running() && Readyz(*replicas[i]).value("leader", false) == true &&
        Readyz(*replicas[i]).value("status", "") == "ready") {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// A job that matches no node: a cheap write whose acknowledgement the test can check later.
Json AckJob(int n) {
  return {{"name", "ack-" + std::to_string(n)},
          {"type", "pipeline"},
          {"selector", {{"match_labels", {{"role", "nowhere"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

std::unique_ptr<sim::Fleet> StartFleet(const std::string& server, int nodes) {
  Result<std::unique_ptr<sim::Fleet>> started =
      sim::Fleet::Start(testing::EdgeFleet(server, nodes));
  EXPECT_TRUE(started.ok()) << started.status().message();
  return started.ok() ? std::move(started).value() : nullptr;
}

TEST(Replicas, EtcdMemberAndLeaderKilledDuringARollingUpdateEndsLikeNoFailure) {
  testing::EtcdCluster etcd(3);
  ASSERT_EQ(etcd.Start(), "");
  auto replicas = StartReplicas(etcd.url(), 3);
  int leader = -1;
  ASSERT_TRUE(Eventually([&] { return (leader = Leader(replicas)) >= 0; }, 30s))
      << replicas[0]->log();
  for (auto& r : replicas) ASSERT_TRUE(r->WaitReady()) << r->log();  // followers know the leader
  // The fleet talks to one follower, the API client to the other: both forward to the leader.
  ControllerProcess& fleet_side = *replicas[(leader + 1) % 3];
  ControllerProcess& api_side = *replicas[(leader + 2) % 3];
  for (auto& r : replicas) {
    Json ready = Readyz(*r);
    EXPECT_EQ(ready["leader_id"], "c" + std::to_string(leader)) << ready;
  }
  std::unique_ptr<sim::Fleet> fleet = StartFleet(fleet_side.url(), 200);
  ASSERT_NE(fleet, nullptr);
  ASSERT_TRUE(Eventually(
      [&] {
        return api_side.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() == 200;
      },
      60s));
  auto rollout = [&]() {
    return api_side.Call("GET", "/api/v1/jobs/fleet-logs").Json()["job"]["status"]["rollout"];
  };
  testing::HttpReply first = api_side.Call(
      "PUT", "/api/v1/jobs", Json{{"spec", RollingPipeline("fleet-logs", 100, "v1")}}.dump());
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string job_id = first.Json()["job_id"];
  ASSERT_TRUE(Eventually([&] { return rollout()["phase"] == "succeeded"; }, 120s)) << rollout();

  // Acknowledged writes, through every replica in turn, all along.
  std::atomic<bool> writing{true};
  std::mutex acked_mu;
  std::set<std::string> acked;
  std::thread writer([&] {
    for (int n = 0; writing.load(); ++n) {
      ControllerProcess& via = *replicas[n % 3];
      if (via.running()) {
        testing::Connection c(via.port(), 10s);
        if (c.ok()) {
          testing::HttpReply r =
              c.Request("PUT", "/api/v1/jobs", Json{{"spec", AckJob(n)}}.dump(), {});
          if (r.status == 200 || r.status == 201) {
            std::lock_guard<std::mutex> lock(acked_mu);
            acked.insert("ack-" + std::to_string(n));
          }
        }
      }
      std::this_thread::sleep_for(150ms);
    }
  });

  std::vector<std::string> violations;
  ASSERT_EQ(api_side
                .Call("PUT", "/api/v1/jobs",
                      Json{{"spec", RollingPipeline("fleet-logs", 10, "v2")}}.dump())
                .status,
            200);
  ASSERT_TRUE(Eventually([&] { return rollout()["current_wave"].get<int>() >= 2; }, 60s))
      << rollout();
  etcd.Kill(0);  // the first endpoint of every replica
  ASSERT_TRUE(Eventually(
      [&] {
        CheckOneActiveExecutionPerNode(api_side, job_id, &violations);
        return rollout()["current_wave"].get<int>() >= 4;
      },
      60s))
      << rollout();
  const std::string old_leader = "c" + std::to_string(leader);
  const auto killed_at = std::chrono::steady_clock::now();
  replicas[leader]->Kill();
  std::string new_leader;
  int64_t old_term = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        for (ControllerProcess* r : {&fleet_side, &api_side}) {
          Json ready = Readyz(*r);
          std::string id = ready.value("leader_id", "");
          if (!id.empty() && id != old_leader) {
            new_leader = id;
            return true;
          }
        }
        return false;
      },
      30s));
  const auto took = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LT(took, 2 * kLease) << "the new leader " << new_leader << " took over after "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                              << " ms";
  (void)old_term;

  ASSERT_TRUE(Eventually(
      [&] {
        CheckOneActiveExecutionPerNode(api_side, job_id, &violations);
        Json r = rollout();
        return r["to_version"] == 2 && r["phase"] == "succeeded";
      },
      180s))
      << rollout() << "\n"
      << fleet_side.log() << "\n"
      << api_side.log();
  writing = false;
  writer.join();

  // The same end as without failures: 10 waves of 20, each started once, every node on v2.
  testing::ExpectUninterruptedEnd(api_side, *fleet, job_id, 200, 10);
  EXPECT_THAT(violations, ::testing::IsEmpty());

  // No acknowledged write was lost.
  EXPECT_GT(acked.size(), 20u);
  for (const std::string& name : acked) {
    EXPECT_EQ(api_side.Call("GET", "/api/v1/jobs/" + name).status, 200) << name << " was lost";
  }
  fleet->Stop();
}

// etcd's current revision, read from etcd itself.
int64_t EtcdRevision(int port) {
  testing::HttpReply r =
      testing::Http(port, "POST", "/v3/kv/range", R"({"key":"AA==","count_only":true})", {});
  Json body = Json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("header")) return -1;
  return std::stoll(body["header"].value("revision", "-1"));
}

TEST(Replicas, APausedLeaderMakesNoWriteAfterItResumes) {
  testing::EtcdProcess etcd;
  ASSERT_EQ(etcd.Start(), "");
  auto replicas = StartReplicas(etcd.url(), 2);
  int a = -1;
  ASSERT_TRUE(Eventually([&] { return (a = Leader(replicas)) >= 0; }, 30s));
  for (auto& r : replicas) ASSERT_TRUE(r->WaitReady()) << r->log();  // followers know the leader
  ControllerProcess& old_leader = *replicas[a];
  ControllerProcess& other = *replicas[1 - a];
  // Work in flight for the leader: a fleet (through the follower) and a slow rolling update.
  std::unique_ptr<sim::Fleet> fleet = StartFleet(other.url(), 20);
  ASSERT_NE(fleet, nullptr);
  ASSERT_TRUE(Eventually(
      [&] {
        return other.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() == 20;
      },
      30s));
  ASSERT_EQ(other
                .Call("PUT", "/api/v1/jobs",
                      Json{{"spec", RollingPipeline("fleet-logs", 1, "v1")}}.dump())
                .status,
            201);

  old_leader.Pause();
  ASSERT_TRUE(Eventually([&] { return Leader(replicas) == 1 - a; }, 30s)) << other.log();
  other.Pause();  // now nothing but the old leader could write
  std::this_thread::sleep_for(500ms);
  const int64_t before = EtcdRevision(etcd.client_port());
  ASSERT_GT(before, 0);

  old_leader.Resume();
  std::vector<int> answers;
  for (int n = 0; n < 50 && !old_leader.Exited(); ++n) {
    testing::Connection c(old_leader.port(), 5s);
    if (c.ok()) {
      Json stale = AckJob(1000 + n);
      stale["name"] = "stale-" + std::to_string(n);
      answers.push_back(c.Request("PUT", "/api/v1/jobs", Json{{"spec", stale}}.dump(), {}).status);
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(Eventually([&] { return old_leader.Exited(); }, 20s)) << old_leader.log();
  EXPECT_EQ(old_leader.exit_code(), 1);
  EXPECT_THAT(old_leader.log(), ::testing::HasSubstr("lost leadership"));
  EXPECT_EQ(EtcdRevision(etcd.client_port()), before)
      << "the store changed while only the resumed old leader ran";
  for (int status : answers) {
    EXPECT_FALSE(status >= 200 && status < 300) << "the old leader acknowledged a write";
  }

  other.Resume();
  ASSERT_TRUE(Eventually([&] { return Leader(replicas) == 1 - a; }, 30s)) << other.log();
  for (size_t n = 0; n < answers.size(); ++n) {
    EXPECT_EQ(other.Call("GET", "/api/v1/jobs/stale-" + std::to_string(n)).status, 404);
  }
  // The rollout goes on under the new leader.
  ASSERT_TRUE(Eventually(
      [&] {
        Json r = other.Call("GET", "/api/v1/jobs/fleet-logs").Json()["job"]["status"]["rollout"];
        return r["phase"] == "succeeded";
      },
      120s));
  fleet->Stop();
}

TEST(Replicas, ConformanceChecksPassThroughAFollower) {
  std::string script = std::string(DROVER_SHARED_DIR) + "/conformance/check.py";
  if (!std::filesystem::exists(script)) GTEST_SKIP() << "no ../shared/conformance here";
  testing::EtcdProcess etcd;
  ASSERT_EQ(etcd.Start(), "");
  auto replicas = StartReplicas(etcd.url(), 2);
  int leader = -1;
  ASSERT_TRUE(Eventually([&] { return (leader = Leader(replicas)) >= 0; }, 30s));
  for (auto& r : replicas) ASSERT_TRUE(r->WaitReady()) << r->log();  // followers know the leader
  Json follower_ready = Readyz(*replicas[1 - leader]);
  EXPECT_EQ(follower_ready["leader"], false);
  EXPECT_EQ(follower_ready["status"], "ready");
  EXPECT_EQ(follower_ready["control_loop"], "off");
  EXPECT_EQ(follower_ready["leader_id"], "c" + std::to_string(leader));
  // The checks expect a fresh store, so they run once: through the follower, where every answer
  // is the leader's, forwarded.
  testing::ProcessResult r = testing::RunCommand("python3 " + script + " " +
                                                 replicas[1 - leader]->url() + " api protocol");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("ok: conformance api protocol, 0 failures"));
  // Each replica's own metrics: drover_leader is 1 on the leader only.
  EXPECT_THAT(replicas[leader]->Call("GET", "/metrics").body,
              ::testing::HasSubstr("\ndrover_leader 1"));
  EXPECT_THAT(replicas[1 - leader]->Call("GET", "/metrics").body,
              ::testing::HasSubstr("\ndrover_leader 0"));
}

TEST(Replicas, ElectionFlagsThatDoNotNestAreUsageErrors) {
  testing::ProcessResult r =
      testing::RunCommand(std::string(DROVER_BINARY) +
                          " controller --store etcd://127.0.0.1:1 --leader-elect-lease-duration 5s "
                          "--leader-elect-renew-deadline 5s");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("--leader-elect-lease-duration"));
}

}  // namespace
}  // namespace drover
