// `drover rollout` as a deploy script runs it: the real binary against a real controller on
// loopback whose nodes are a simulated fleet (cli/sim_fleet.h) with scripted per-version
// behaviour. `status --watch` follows real rolling updates to their end and exits 0 when one
// succeeds, 1 when the new version turns unhealthy and is rolled back, 1 when --timeout passes;
// the controls print the new phase, or fail naming the phase that forbids them; a canary awaiting
// promotion is promoted and watched to success; on a terminal the progress bar is seen
// part-filled, then full. Waits are bounded polls; no sleep stands in for a result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>

#include "api/document.h"
#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/rollout_fixtures.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using namespace std::chrono_literals;
using testing::ControllerProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using Json = nlohmann::json;

constexpr int kNodes = 6;

// A rolling pipeline over the fleet: waves of `max_parallel` percent, judged in 250 ms windows.
Json Rolling(const std::string& name, int max_parallel, const std::string& description = "") {
  return testing::RollingPipeline(name, max_parallel, description, "20s", 1);
}

// One controller and six simulated nodes for the suite; each test rolls out jobs of its own.
// Version 2 of `bad` and `stuck` turns unhealthy; version 2 of `steer`, `chase` and `bar` start
// slowly, so that their rollouts can be caught mid-way.
class RolloutWatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    controller_ = new ControllerProcess({"--heartbeat-interval", "250ms", "--resync", "2s"});
    ASSERT_TRUE(controller_->Start()) << controller_->log();
    sim::FleetOptions options;
    options.server = controller_->url();
    options.registration_spread = 100ms;
    options.behaviour.default_health.interval = 250ms;
    options.behaviour.starting_for = 50ms;
    for (int i = 0; i < kNodes; ++i) {
      options.nodes.push_back({"node-" + std::to_string(i), {{"role", "edge"}}});
    }
    for (const char* text :
         {"job=bad,version=2:unhealthy", "job=stuck,version=2:unhealthy",
          "job=steer,version=2:slow,delay=2s", "job=chase,version=2:slow,delay=3s",
          "job=bar,version=2:slow,delay=2s"}) {
      Result<sim::BehaviourRule> rule = sim::ParseBehaviourRule(text);
      ASSERT_TRUE(rule.ok()) << rule.status().message();
      options.rules.push_back(*rule);
    }
    Result<std::unique_ptr<sim::Fleet>> fleet = sim::Fleet::Start(options);
    ASSERT_TRUE(fleet.ok()) << fleet.status().message();
    fleet_ = fleet->release();
    ASSERT_TRUE(Eventually([] {
      return controller_->Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() ==
             kNodes;
    }));
  }
  static void TearDownTestSuite() {
    if (fleet_ != nullptr) {
      EXPECT_THAT(fleet_->Violations(), ::testing::IsEmpty());
      fleet_->Stop();
    }
    delete fleet_;
    delete controller_;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << controller_->log().substr(0, 20000);
  }

  static int Put(const Json& spec) {
    return controller_->Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump()).status;
  }
  static Json Status(const std::string& name) {
    return controller_->Call("GET", "/api/v1/jobs/" + name).Json()["job"]["status"];
  }
  static std::string Phase(const std::string& name) {
    Json rollout = Status(name)["rollout"];
    return rollout.is_object() ? rollout.value("phase", "") : "";
  }
  // Creates `spec` as version 1 and waits for its rollout to succeed.
  static void Create(const Json& spec) {
    ASSERT_EQ(Put(spec), 201);
    const std::string name = spec["name"];
    ASSERT_TRUE(Eventually([&] { return Phase(name) == "succeeded"; })) << Status(name);
  }

  // The binary, with no config file or environment of the user's in the way.
  static std::vector<std::string> Argv(const std::string& args) {
    std::vector<std::string> argv = {"/usr/bin/env", "-u",           "DROVER_ADDR",
                                     "-u",           "DROVER_TOKEN", "DROVER_CONFIG=/nonexistent",
                                     DROVER_BINARY};
    std::stringstream in(args);
    for (std::string word; in >> word;) argv.push_back(word);
    argv.insert(argv.end(), {"--server", controller_->url()});
    return argv;
  }
  static ProcessResult Run(const std::string& args) {
    std::string command;
    for (const std::string& word : Argv(args)) command += word + " ";
    return testing::RunCommand(command);
  }

  static ControllerProcess* controller_;
  static sim::Fleet* fleet_;
};

ControllerProcess* RolloutWatch::controller_ = nullptr;
sim::Fleet* RolloutWatch::fleet_ = nullptr;

TEST_F(RolloutWatch, StatusWatchFollowsARollingUpdateToSuccessAndExitsZero) {
  Create(Rolling("deploy", 17));  // 6 nodes in waves of 2: 3 waves
  ASSERT_EQ(Put(Rolling("deploy", 17, "version two")), 200);
  ProcessResult r = Run("rollout status deploy --watch --timeout 60s");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("progressing: wave "));
  EXPECT_THAT(r.out, HasSubstr("/3, "));
  EXPECT_THAT(r.out, HasSubstr("succeeded: wave 3/3, 6/6 nodes updated, 6 healthy, 0 failed"
                               " (budget 0)\n"));
  EXPECT_THAT(r.out, ::testing::EndsWith("rollout of job default/deploy to version 2 succeeded\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("\r"))) << "not a terminal: plain lines";
  std::stringstream lines(r.out);
  std::string previous;
  for (std::string line; std::getline(lines, line); previous = line) {
    EXPECT_NE(line, previous) << "a line per change:\n" << r.out;
  }
  Json status = Status("deploy");
  EXPECT_EQ(status["rollout"]["phase"], "succeeded");
  EXPECT_EQ(status["stable_version"], 2);

  // An operator's rollback, watched to its end, is a success of its own.
  r = Run("rollout rollback deploy --to-version 1 --watch --timeout 60s");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out,
              ::testing::StartsWith(
                  "rollout of job default/deploy rolling back: now rolling_back to version 1"));
  EXPECT_THAT(r.out, ::testing::EndsWith("job default/deploy rolled back to version 1\n"));
}

TEST_F(RolloutWatch, StatusWatchExitsOneWhenTheNewVersionTurnsUnhealthyAndRollsBack) {
  Create(Rolling("bad", 34));
  ASSERT_EQ(Put(Rolling("bad", 34, "turns unhealthy")), 200);
  ProcessResult r = Run("rollout status bad -w --timeout 60s");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("drover rollout: job default/bad was rolled back to version 1"));
  EXPECT_THAT(r.out, HasSubstr("rolled_back: "));
  EXPECT_EQ(Status("bad")["failed_version"], 2);

  r = Run("rollout status bad");
  EXPECT_EQ(r.exit_code, 0) << "status without --watch only reports";
  EXPECT_THAT(r.out, HasSubstr("job default/bad: rollout v2 -> v1 (rolling)"));
  EXPECT_THAT(r.out, HasSubstr("rolled_back: "));
  r = Run("rollout status bad --watch");
  EXPECT_EQ(r.exit_code, 1) << "a rollout that already ended is judged at once";
}

TEST_F(RolloutWatch, AHaltedRolloutExitsOneAndARollbackByHandIsWatchedToItsEnd) {
  Json spec = Rolling("stuck", 34);
  spec["rollout"]["no_auto_rollback"] = true;
  Create(spec);
  spec["description"] = "turns unhealthy, stays halted";
  ASSERT_EQ(Put(spec), 200);
  ProcessResult r = Run("rollout status stuck --watch --timeout 60s");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("drover rollout: the rollout of job default/stuck halted: "));
  EXPECT_THAT(r.err, HasSubstr("drover rollout resume|rollback stuck"));
  r = Run("rollout rollback stuck --watch --timeout 60s");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::EndsWith("job default/stuck rolled back to version 1\n"));
}

TEST_F(RolloutWatch, StatusWatchGivesUpAtTheTimeoutWithExitOne) {
  Json spec = Rolling("nowhere", 50);
  spec["selector"]["match_labels"]["role"] = "none";  // no node matches: it waits for one
  ASSERT_EQ(Put(spec), 201);
  auto started = std::chrono::steady_clock::now();
  ProcessResult r = Run("rollout status nowhere --watch --timeout 1s");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("timed out after 1s: the rollout of job default/nowhere is still "
                               "progressing"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

TEST_F(RolloutWatch, ControlsSteerARolloutAndTheWrongPhaseIsNamed) {
  Create(Rolling("steer", 50));
  ASSERT_EQ(Put(Rolling("steer", 50, "slow to start")), 200);
  ASSERT_TRUE(Eventually([] { return Status("steer")["rollout"]["current_wave"] == 1; }));
  ProcessResult r = Run("rollout pause steer");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout of job default/steer paused: now paused\n");
  r = Run("rollout status steer");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("paused: wave 1/2"));
  EXPECT_THAT(r.out, HasSubstr("waiting for drover rollout resume steer"));
  r = Run("rollout status steer -o json");
  EXPECT_EQ(Json::parse(r.out, nullptr, false).value("phase", ""), "paused") << r.out;
  Result<std::vector<Document>> yaml = ParseYaml(Run("rollout status steer -o yaml").out);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(yaml->front().value["to_version"], 2);

  r = Run("rollout pause steer");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot pause the rollout of job default/steer: "));
  EXPECT_THAT(r.err, HasSubstr("paused")) << "the phase, named";
  r = Run("rollout promote steer");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot promote the rollout of job default/steer: "));
  EXPECT_THAT(r.err, HasSubstr("paused"));

  r = Run("rollout resume steer --watch --timeout 60s");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out,
              ::testing::StartsWith("rollout of job default/steer resumed: now progressing"));
  EXPECT_THAT(r.out, ::testing::EndsWith("to version 2 succeeded\n"));
  r = Run("rollout resume steer");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("succeeded"));
  r = Run("rollout rollback nope");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("job default/nope not found"));
}

TEST_F(RolloutWatch, AWatchFollowsANewerVersionAppliedMeanwhile) {
  Create(Rolling("chase", 50));
  ASSERT_EQ(Put(Rolling("chase", 50, "v2: slow")), 200);
  std::filesystem::path log = testing::MakeTempDir("drover-watch") / "watch.log";
  pid_t watch = testing::SpawnLogged(Argv("rollout status chase --watch --timeout 60s"), log);
  ASSERT_TRUE(Eventually([&] {
    return testing::ReadAll(log).find("progressing") != std::string::npos;
  })) << testing::ReadAll(log);
  ASSERT_EQ(Put(Rolling("chase", 50, "v3: fine")), 200);
  int status = 0;
  ASSERT_EQ(waitpid(watch, &status, 0), watch);
  std::string out = testing::ReadAll(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_THAT(out, HasSubstr("version 3 of job default/chase was applied: following its rollout"));
  EXPECT_THAT(out, ::testing::EndsWith("rollout of job default/chase to version 3 succeeded\n"));
  std::filesystem::remove_all(log.parent_path());
}

// The watch of a rolling update in progress, on a pseudo-terminal (script(1)): the bar is seen
// part-filled, then full. The rollout is caught in its first waves and paused there, so that the
// part-filled bar is on screen whatever the machine's speed, then resumed.
TEST_F(RolloutWatch, OnATerminalTheWatchRedrawsOneLineWithAProgressBar) {
  if (testing::RunCommand("command -v script").exit_code != 0) GTEST_SKIP() << "no script(1)";
  Create(Rolling("bar", 17));  // 6 nodes in waves of 2: 3 waves
  ASSERT_EQ(Put(Rolling("bar", 17, "v2: slow to start")), 200);
  ASSERT_TRUE(Eventually([] {
    Json rollout = Status("bar")["rollout"];
    return rollout["to_version"] == 2 && rollout["phase"] == "progressing" &&
           rollout["updated_nodes"].get<int>() >= 1;
  })) << Status("bar");
  ASSERT_EQ(controller_->Call("POST", "/api/v1/jobs/bar/rollout/pause").status, 200);
  const Json held = Status("bar")["rollout"];
  ASSERT_EQ(held["phase"], "paused") << held;
  const int updated = held["updated_nodes"];
  ASSERT_LT(updated, kNodes) << held;
  const int filled = updated * 24 / kNodes;
  const std::string partial = "\r\033[K[" + std::string(static_cast<size_t>(filled), '#') +
                              std::string(static_cast<size_t>(24 - filled), '-') +
                              "] paused: wave " + held["current_wave"].dump() + "/3, " +
                              std::to_string(updated) + "/6 nodes updated";

  std::string command;
  for (const std::string& word : Argv("rollout status bar --watch --timeout 60s")) {
    command += word + " ";
  }
  std::filesystem::path log = testing::MakeTempDir("drover-bar") / "watch.log";
  pid_t watch = testing::SpawnLogged({"/usr/bin/script", "-qec", command, "/dev/null"}, log);
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(log).find(partial) != std::string::npos; }))
      << testing::ReadAll(log);
  ASSERT_EQ(controller_->Call("POST", "/api/v1/jobs/bar/rollout/resume").status, 200);
  int status = 0;
  ASSERT_EQ(waitpid(watch, &status, 0), watch);
  const std::string out = testing::ReadAll(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  const size_t at_partial = out.find(partial);
  const size_t at_full =
      out.find("\r\033[K[########################] succeeded: wave 3/3, 6/6 nodes updated");
  ASSERT_NE(at_full, std::string::npos) << out;
  EXPECT_LT(at_partial, at_full) << out;
  // The paused line stays on screen: it is ended by a newline, not redrawn by the next phase.
  const size_t next_draw = out.find("\r\033[K", at_partial + 1);
  ASSERT_NE(next_draw, std::string::npos) << out;
  EXPECT_THAT(out.substr(at_partial, next_draw - at_partial),
              HasSubstr("\npaused: waiting for drover rollout resume bar"))
      << out;
  EXPECT_THAT(out, HasSubstr("rollout of job default/bar to version 2 succeeded"));
  std::filesystem::remove_all(log.parent_path());
}

// A canary rollout without auto_promote stops at awaiting_promotion; a watch started then says
// it waits for a person, `rollout promote` lets the rollout go on, and the watch follows it to
// success.
TEST_F(RolloutWatch, PromoteLetsACanaryAwaitingPromotionGoOnAndTheWatchSeesItSucceed) {
  Create(Rolling("canary", 50));
  Json spec = Rolling("canary", 50, "v2: one canary first");
  spec["rollout"]["strategy"] = "canary";
  spec["rollout"]["canary_count"] = 1;
  spec["rollout"]["auto_promote"] = false;
  ASSERT_EQ(Put(spec), 200);
  ASSERT_TRUE(Eventually([] { return Phase("canary") == "awaiting_promotion"; }))
      << Status("canary");
  EXPECT_EQ(Status("canary")["rollout"]["updated_nodes"], 1) << "only the canary";

  std::filesystem::path log = testing::MakeTempDir("drover-promote") / "watch.log";
  pid_t watch = testing::SpawnLogged(Argv("rollout status canary --watch --timeout 60s"), log);
  ASSERT_TRUE(Eventually([&] {
    return testing::ReadAll(log).find(
               "the canaries are healthy: waiting for drover rollout promote canary\n") !=
           std::string::npos;
  })) << testing::ReadAll(log);
  EXPECT_EQ(Phase("canary"), "awaiting_promotion") << "it waits for a person, however long";

  ProcessResult r = Run("rollout promote canary");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "rollout of job default/canary promoted: now progressing\n");
  int status = 0;
  ASSERT_EQ(waitpid(watch, &status, 0), watch);
  const std::string out = testing::ReadAll(log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_THAT(out, HasSubstr("awaiting_promotion: wave 1/"));
  EXPECT_THAT(out, HasSubstr("succeeded: wave "));
  EXPECT_THAT(out, HasSubstr(", 6/6 nodes updated, 6 healthy"));
  EXPECT_THAT(out, ::testing::EndsWith("rollout of job default/canary to version 2 succeeded\n"));
  Json done = Status("canary");
  EXPECT_EQ(done["stable_version"], 2);
  EXPECT_EQ(done["rollout"]["updated_nodes"], kNodes);

  r = Run("rollout promote canary");
  EXPECT_EQ(r.exit_code, 1) << "nothing awaits promotion any more";
  EXPECT_THAT(r.err, HasSubstr("succeeded"));
  std::filesystem::remove_all(log.parent_path());
}

}  // namespace
}  // namespace drover
