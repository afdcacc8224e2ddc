// The node's pure rules: health windows (SPEC §6), restart policy and backoff (SPEC §7), and
// convergence of a node onto its assignments (SPEC §8).
#include <gtest/gtest.h>

#include "reconcilers/health_window.h"
#include "reconcilers/node_converge.h"
#include "reconcilers/restart_policy.h"

namespace drover {
namespace {

HealthCheck Rules(int success = 2, int failure = 3, double max_error_rate = 0.10) {
  HealthCheck h;
  h.deadline = Duration::Minutes(5);
  h.success_threshold = success;
  h.failure_threshold = failure;
  h.max_error_rate = max_error_rate;
  return h;
}

TEST(HealthWindow, ErrorRateAboveTheLimitIsUnhealthyAndEqualIsHealthy) {
  EXPECT_TRUE(WindowHealthy({90, 10, false}, 0.10));   // exactly 10%
  EXPECT_FALSE(WindowHealthy({89, 11, false}, 0.10));  // 11%
  EXPECT_TRUE(WindowHealthy({0, 0, false}, 0.10));     // no data is not failure
  EXPECT_FALSE(WindowHealthy({0, 0, true}, 0.10));     // a crash always counts
  EXPECT_FALSE(WindowHealthy({1000, 1, false}, 0.0));  // explicit 0 tolerates no error
  EXPECT_TRUE(WindowHealthy({1000, 0, false}, 0.0));
  EXPECT_FALSE(WindowHealthy({0, 5, false}, 0.10));
}

TEST(HealthWindow, VerdictNeedsConsecutiveWindows) {
  HealthJudge judge(Rules(2, 3));
  EXPECT_EQ(judge.verdict(), HealthVerdict::kUnknown);
  EXPECT_EQ(judge.Close({10, 0, false}), HealthVerdict::kUnknown);
  EXPECT_EQ(judge.Close({0, 10, false}), HealthVerdict::kUnknown);  // streak broken
  EXPECT_EQ(judge.Close({10, 0, false}), HealthVerdict::kUnknown);
  EXPECT_EQ(judge.Close({10, 0, false}), HealthVerdict::kHealthy);
  EXPECT_EQ(judge.Close({0, 10, false}), HealthVerdict::kHealthy);  // one bad window
  EXPECT_EQ(judge.Close({0, 0, true}), HealthVerdict::kHealthy);
  EXPECT_EQ(judge.Close({5, 5, false}), HealthVerdict::kUnhealthy);  // third in a row
  EXPECT_EQ(judge.consecutive_unhealthy(), 3);
  EXPECT_EQ(judge.Close({10, 0, false}), HealthVerdict::kUnhealthy);
  EXPECT_EQ(judge.Close({10, 0, false}), HealthVerdict::kHealthy);  // recovered
}

TEST(HealthWindow, NamesAreTheWireValues) {
  EXPECT_EQ(HealthVerdictName(HealthVerdict::kUnknown), "unknown");
  EXPECT_EQ(HealthVerdictName(HealthVerdict::kHealthy), "healthy");
  EXPECT_EQ(HealthVerdictName(HealthVerdict::kUnhealthy), "unhealthy");
}

using Outcome = AfterExitDecision::Outcome;

struct ExitCase {
  const char* name;
  JobType type;
  RestartPolicy policy;
  int exit_code;
  Outcome want;
};

TEST(RestartPolicy, OutcomeByPolicyAndExit) {
  const ExitCase cases[] = {
      {"on-failure, clean exit completes", JobType::kPipeline, RestartPolicy::kOnFailure, 0,
       Outcome::kCompleted},
      {"on-failure, failure restarts", JobType::kPipeline, RestartPolicy::kOnFailure, 1,
       Outcome::kRestart},
      {"on-failure, signal restarts", JobType::kUpdate, RestartPolicy::kOnFailure, 137,
       Outcome::kRestart},
      {"always, clean exit restarts", JobType::kPipeline, RestartPolicy::kAlways, 0,
       Outcome::kRestart},
      {"always, failure restarts", JobType::kPipeline, RestartPolicy::kAlways, 2,
       Outcome::kRestart},
      {"never, failure is final", JobType::kPipeline, RestartPolicy::kNever, 1, Outcome::kFailed},
      {"never, clean exit completes", JobType::kUpdate, RestartPolicy::kNever, 0,
       Outcome::kCompleted},
      {"query ignores always", JobType::kQuery, RestartPolicy::kAlways, 0, Outcome::kCompleted},
      {"query failure is final", JobType::kQuery, RestartPolicy::kOnFailure, 1, Outcome::kFailed},
  };
  for (const ExitCase& c : cases) {
    ExitFacts f;
    f.type = c.type;
    f.policy = c.policy;
    f.exit_code = c.exit_code;
    EXPECT_EQ(AfterExit(f).outcome, c.want) << c.name;
  }
}

TEST(RestartPolicy, BackoffDoublesToFiveMinutesAndResetsAfterTenMinutesRunning) {
  ExitFacts f;
  f.exit_code = 1;
  f.ran_for = Duration::Seconds(1);
  std::vector<int64_t> delays;
  for (int i = 0; i < 12; ++i) {
    AfterExitDecision d = AfterExit(f);
    ASSERT_EQ(d.outcome, Outcome::kRestart);
    delays.push_back(d.delay.nanoseconds() / 1'000'000'000);
    f.last_backoff = d.delay;
    ++f.restarts;
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}));
  f.ran_for = Duration::Minutes(10);
  EXPECT_EQ(AfterExit(f).delay, Duration::Seconds(1));
  EXPECT_EQ(AfterExit(f).why, "exit code 1; restarting in 1s");
}

TEST(RestartPolicy, UpdateFailsAfterItsRestartLimitAndStopsAreNotFailures) {
  ExitFacts f;
  f.type = JobType::kUpdate;
  f.exit_code = 3;
  f.max_restarts = 3;
  f.restarts = 2;
  EXPECT_EQ(AfterExit(f).outcome, Outcome::kRestart);
  f.restarts = 3;
  AfterExitDecision d = AfterExit(f);
  EXPECT_EQ(d.outcome, Outcome::kFailed);
  EXPECT_EQ(d.why, "exit code 3 after 3 restarts (the limit)");
  f.stopped_by_agent = true;
  EXPECT_EQ(AfterExit(f).outcome, Outcome::kStopped);
  f.stopped_by_agent = false;
  f.exit_code = 143;
  f.restarts = 0;
  EXPECT_EQ(AfterExit(f).why, "killed by signal 15; restarting in 1s");
}

LocalExecution Local(std::string id, std::string job, LocalPhase phase, bool reported = false) {
  return {std::move(id), std::move(job), phase, reported};
}

TEST(NodeConverge, StartsNewStopsUnwantedForgetsReportedTerminal) {
  std::vector<DesiredExecution> desired = {
      {"e1", "j1", true}, {"e2", "j2", true}, {"e3", "j3", false}};
  std::vector<LocalExecution> local = {
      Local("e2", "j2", LocalPhase::kActive), Local("e3", "j3", LocalPhase::kActive),
      Local("e4", "j4", LocalPhase::kActive), Local("e5", "j5", LocalPhase::kTerminal, true),
      Local("e6", "j6", LocalPhase::kTerminal, false)};
  NodeActions a = ConvergeNode(desired, local, std::nullopt);
  EXPECT_EQ(a.start, (std::vector<std::string>{"e1"}));
  EXPECT_EQ(a.stop, (std::vector<std::string>{"e3", "e4"}));
  EXPECT_EQ(a.forget, (std::vector<std::string>{"e5"}));  // e6 not yet seen by the controller
  EXPECT_TRUE(a.waiting.empty());
}

TEST(NodeConverge, DesiredStoppedAndUnknownIsIgnored) {
  NodeActions a = ConvergeNode({{"e1", "j1", false}}, {}, std::nullopt);
  EXPECT_TRUE(a.start.empty());
  EXPECT_TRUE(a.stop.empty());
  EXPECT_TRUE(a.waiting.empty());
}

TEST(NodeConverge, ANewVersionWaitsForTheOldOneToExit) {
  std::vector<DesiredExecution> desired = {{"old", "j1", false}, {"new", "j1", true}};
  NodeActions a = ConvergeNode(desired, {Local("old", "j1", LocalPhase::kActive)}, std::nullopt);
  EXPECT_EQ(a.stop, (std::vector<std::string>{"old"}));
  EXPECT_EQ(a.waiting, (std::vector<std::string>{"new"}));
  a = ConvergeNode(desired, {Local("old", "j1", LocalPhase::kStopping)}, std::nullopt);
  EXPECT_TRUE(a.stop.empty());
  EXPECT_EQ(a.waiting, (std::vector<std::string>{"new"}));
  a = ConvergeNode(desired, {Local("old", "j1", LocalPhase::kTerminal)}, std::nullopt);
  EXPECT_EQ(a.start, (std::vector<std::string>{"new"}));
}

TEST(NodeConverge, CapacityStartsInAssignmentOrderAndNeverEvicts) {
  // the controller's order is priority first
  std::vector<DesiredExecution> desired = {
      {"high", "j1", true}, {"mid", "j2", true}, {"low", "j3", true}};
  NodeActions a = ConvergeNode(desired, {}, 2);
  EXPECT_EQ(a.start, (std::vector<std::string>{"high", "mid"}));
  EXPECT_EQ(a.waiting, (std::vector<std::string>{"low"}));
  // a lower-priority execution already running keeps its slot
  a = ConvergeNode(desired, {Local("low", "j3", LocalPhase::kActive)}, 1);
  EXPECT_TRUE(a.start.empty());
  EXPECT_TRUE(a.stop.empty());
  EXPECT_EQ(a.waiting, (std::vector<std::string>{"high", "mid"}));
  // a stopping execution still holds its slot until it exits
  a = ConvergeNode({{"high", "j1", true}}, {Local("x", "j9", LocalPhase::kStopping)}, 1);
  EXPECT_EQ(a.waiting, (std::vector<std::string>{"high"}));
}

}  // namespace
}  // namespace drover
