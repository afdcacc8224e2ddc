// Decide: the rollout state machine and placement, as tables of situations with explicit `now`
// (SPEC §4–§7). Each test builds a World (rollout_world.h), lets the agents' part happen by hand
// and checks what Decide planned.
#include "reconcilers/rollout.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/reconcilers/rollout_world.h"

namespace drover {
namespace {

using testing::PipelineSpec;
using testing::World;
using namespace std::chrono_literals;

int CountVersion(const std::map<std::string, int>& running, int version) {
  int n = 0;
  for (const auto& [node, v] : running) n += v == version;
  return n;
}

// ---- immediate ----

TEST(DecideImmediate, PlacesEveryMatchingConnectedNodeAtOnce) {
  World w(PipelineSpec(), 3);
  w.AddNode("other", /*matches=*/false);
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 3u);
  for (const NewExecution& c : p.create) {
    ExecutionRecord e = NewExecutionRecord(w.job, c, w.Wall());
    EXPECT_EQ(e.version, 1);
    EXPECT_EQ(e.wave, 1);
    EXPECT_EQ(e.rollout_id, w.rollout.rollout_id);
    EXPECT_EQ(e.desired_state, "running");
    EXPECT_EQ(e.state, "pending");
    EXPECT_EQ(e.job_id, w.job.id);
    EXPECT_EQ(e.namespace_, "default");
    EXPECT_EQ(e.name, "logs");
    EXPECT_EQ(e.created_at, w.Wall());
    EXPECT_EQ(e.updated_at, w.Wall());
    EXPECT_TRUE(e.id.empty());
    EXPECT_NE(e.node_id, "other");
  }
  EXPECT_EQ(w.rollout.current_wave, 1);
  EXPECT_EQ(w.rollout.total_waves, 1);
  EXPECT_EQ(w.rollout.target_nodes, 3);
  EXPECT_EQ(w.job.state, "deploying");
  EXPECT_TRUE(w.HasEvent("WaveStarted"));
  EXPECT_EQ(p.waves_started, 1);
}

TEST(DecideImmediate, SucceedsAfterOneHealthIntervalWithoutRestart) {
  World w(PipelineSpec(), 3);
  w.Step();
  w.ReportAll("running");
  Plan p = w.Step();
  EXPECT_EQ(w.rollout.phase, "progressing");
  ASSERT_TRUE(p.requeue_after.has_value());
  EXPECT_EQ(*p.requeue_after, std::chrono::nanoseconds(10s));
  w.Advance(9s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "progressing");
  w.Advance(1s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_EQ(w.job.state, "running");
  EXPECT_EQ(w.job.stable_version, 1);
  EXPECT_EQ(w.rollout.healthy_nodes, 3);
  EXPECT_FALSE(w.rollout.completed_at.empty());
  EXPECT_TRUE(w.HasEvent("RolloutSucceeded"));
}

TEST(DecideImmediate, RestartsUpToTheFailureThresholdFailANode) {
  World w(PipelineSpec(), 10);
  w.job.spec.rollout.max_failed_nodes = 0;
  w.Step();
  w.ReportAll("running");
  w.Report("n000", "running", "unknown", 3);  // failure_threshold 3
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed") << w.rollout.message;  // no stable version: failed
  EXPECT_EQ(w.job.failed_version, 1);
  EXPECT_EQ(w.job.state, "rollout_failed");
  EXPECT_TRUE(w.Running().empty()) << "a failed create stops its executions";
}

TEST(DecideImmediate, UnhealthyVerdictDoesNotFailAnImmediateRollout) {
  World w(PipelineSpec(), 2);
  w.Step();
  w.ReportAll("running", "unhealthy");
  w.Advance(10s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
}

TEST(DecideImmediate, EmptyTargetSetWaitsQueuedAndDoesNotSucceed) {
  World w(PipelineSpec());
  w.AddNode("x", /*matches=*/false);
  Plan p = w.Step();
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(w.rollout.phase, "progressing");
  EXPECT_EQ(w.job.state, "queued");
  EXPECT_EQ(p.waiting, Waiting::kNodes);
  EXPECT_TRUE(w.HasEvent("NoMatchingNodes"));
  w.AddNode("y");
  p = w.Step();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].node_id, "y");
  EXPECT_EQ(w.job.state, "deploying");
}

// ---- rolling ----

TEST(DecideRolling, WavesOfTwentyPercentOneAtATime) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_parallel = 20;
  w.rollout.strategy = "rolling";
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 2u);
  EXPECT_EQ(w.rollout.wave_size, 2);
  EXPECT_EQ(w.rollout.current_wave, 1);
  EXPECT_EQ(w.rollout.total_waves, 5);
  // the wave is not conclusive until its nodes are healthy or failed
  w.ReportAll("running");
  p = w.Step();
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(w.rollout.current_wave, 1);
  for (int wave = 2; wave <= 5; ++wave) {
    w.ReportAll("running", "healthy");
    w.Step();
    EXPECT_EQ(w.rollout.current_wave, wave);
    EXPECT_EQ(static_cast<int>(w.Running().size()), 2 * wave);
  }
  w.ReportAll("running", "healthy");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_EQ(w.rollout.updated_nodes, 10);
  int wave_events = 0;
  for (const EventRecord& e : w.events) wave_events += e.reason == "WaveStarted";
  EXPECT_EQ(wave_events, 5);
}

TEST(DecideRolling, ExecutionsCarryTheirWaveNumber) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 4);
  w.job.spec.rollout.max_parallel = 50;
  w.Step();
  w.ReportAll("running", "healthy");
  w.Step();
  std::map<int, int> per_wave;
  for (const auto& [id, e] : w.executions) ++per_wave[e.wave];
  EXPECT_EQ(per_wave[1], 2);
  EXPECT_EQ(per_wave[2], 2);
}

TEST(DecideRolling, NoHealthyVerdictWithinTheDeadlineFailsTheNode) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_failed_nodes = 0;
  w.job.stable_version = std::nullopt;
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 1u);  // 10% of 10
  w.ReportAll("running");          // never healthy
  p = w.Step();
  ASSERT_TRUE(p.requeue_after.has_value());
  EXPECT_LE(*p.requeue_after, std::chrono::nanoseconds(60s) + 1ns);
  w.Advance(60s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "progressing") << "exactly at the deadline it has not failed yet";
  w.Advance(1ms);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
  EXPECT_NE(w.rollout.message.find("deadline"), std::string::npos) << w.rollout.message;
}

TEST(DecideRolling, BudgetHaltsAndRollsBackToStable) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  // v1 is stable everywhere
  w.job.stable_version = 1;
  w.rollout.phase = "succeeded";
  for (int i = 0; i < 10; ++i) {
    ExecutionRecord e;
    e.id = "old-" + std::to_string(i);
    e.job_id = w.job.id;
    e.node_id = World::NodeName(i);
    e.version = 1;
    e.state = "running";
    e.health = "healthy";
    w.executions[e.id] = e;
  }
  JobSpec v2 = w.job.spec;
  v2.description = "v2";
  v2.rollout.max_parallel = 30;
  v2.rollout.max_failed_nodes = 1;
  w.Update(v2);
  w.Step();  // stop three v1 executions
  EXPECT_EQ(w.rollout.current_wave, 1);
  w.Step();  // nothing new while the stops are in flight: still wave 1
  EXPECT_EQ(w.rollout.current_wave, 1);
  EXPECT_EQ(w.rollout.updated_nodes, 3);
  w.AckStops();
  w.Step();  // start three v2 executions
  EXPECT_EQ(CountVersion(w.Running(), 2), 3);
  EXPECT_EQ(w.rollout.current_wave, 1);
  for (const auto& [id, e] : w.executions) {
    if (e.version == 2) {
      EXPECT_EQ(e.wave, 1);
    }
  }
  w.ReportAll("running", "unhealthy");
  Plan p = w.Step();
  EXPECT_EQ(w.rollout.phase, "rolling_back") << w.rollout.message;
  EXPECT_EQ(w.rollout.to_version, 1);
  EXPECT_EQ(w.rollout.from_version, 2);
  EXPECT_EQ(w.rollout.rollback_reason, "failure_budget");
  EXPECT_EQ(w.job.failed_version, 2);
  ASSERT_EQ(p.rollbacks.size(), 1u);
  EXPECT_TRUE(w.HasEvent("Halted"));
  EXPECT_TRUE(w.HasEvent("RollbackStarted"));
  // fast-tracked: every node that got v2 goes back at once
  w.AckStops();
  w.Step();
  w.ReportAll("running", "healthy");
  w.Settle();
  EXPECT_EQ(w.rollout.phase, "rolled_back") << w.rollout.message;
  EXPECT_EQ(w.job.state, "rollout_failed");
  EXPECT_EQ(w.job.stable_version, 1);
  EXPECT_EQ(w.job.failed_version, 2);
  EXPECT_EQ(CountVersion(w.Running(), 1), 10);
  EXPECT_TRUE(w.HasEvent("RolledBack"));
  EXPECT_EQ(w.job.version, 2) << "the user's spec is kept; the rollback lives in status";
}

TEST(DecideRolling, ExplicitZeroPercentBudgetToleratesNoFailure) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 100);
  w.job.spec.rollout.max_failed_nodes = 100;
  w.job.spec.rollout.max_failed_nodes_percent = 0;
  w.Step();
  w.Report(w.Running().begin()->first, "failed");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
}

TEST(DecideRolling, PercentBudgetIsStrictlyGreaterThan) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_parallel = 100;
  w.job.spec.rollout.max_failed_nodes_percent = 10;  // 1 of 10 is exactly 10%: tolerated
  w.Step();
  w.ReportAll("running", "healthy");
  w.Report("n000", "failed");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded") << w.rollout.message;
  EXPECT_EQ(w.rollout.failed_nodes, 1);
}

TEST(DecideRolling, NoAutoRollbackHaltsForAHuman) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.stable_version = 0;  // pretend a stable version exists
  w.job.spec.rollout.no_auto_rollback = true;
  w.job.spec.rollout.max_failed_nodes = 0;
  w.Step();
  w.ReportAll("running", "unhealthy");
  Plan p = w.Step();
  EXPECT_EQ(w.rollout.phase, "halted");
  EXPECT_EQ(p.waiting, Waiting::kHuman);
  EXPECT_FALSE(p.requeue_after.has_value());
  EXPECT_EQ(w.job.state, "rollout_failed");
  EXPECT_EQ(w.job.failed_version, 1);
}

TEST(DecideRolling, ResumeAfterHaltGivesFailedNodesTheTargetAgain) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.stable_version = 0;
  w.job.spec.rollout.no_auto_rollback = true;
  w.job.spec.rollout.max_failed_nodes = 0;
  w.Step();
  std::string node = w.Running().begin()->first;
  w.Report(node, "failed");
  w.Step();
  ASSERT_EQ(w.rollout.phase, "halted");
  Result<RolloutRecord> resumed =
      ApplyRolloutControl(w.rollout, RolloutControl::kResume, std::nullopt, 0, "t");
  ASSERT_TRUE(resumed.ok());
  w.rollout = *resumed;
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].node_id, node);
  EXPECT_EQ(p.create[0].attempt, 1);
  EXPECT_EQ(w.rollout.phase, "progressing");
}

TEST(DecideRolling, PauseStopsNewWavesButStillJudges) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_parallel = 20;
  w.Step();
  w.rollout = *ApplyRolloutControl(w.rollout, RolloutControl::kPause, std::nullopt, {}, "t");
  w.ReportAll("running", "healthy");
  Plan p = w.Step();
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(w.rollout.phase, "paused");
  EXPECT_EQ(p.waiting, Waiting::kHuman);
  EXPECT_EQ(w.job.state, "rollout_paused");
  w.rollout = *ApplyRolloutControl(w.rollout, RolloutControl::kResume, std::nullopt, {}, "t");
  p = w.Step();
  EXPECT_EQ(p.create.size(), 2u);
  EXPECT_EQ(w.rollout.current_wave, 2);
}

TEST(DecideRolling, HaltWinsOverPause) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_failed_nodes = 0;
  w.Step();
  w.rollout = *ApplyRolloutControl(w.rollout, RolloutControl::kPause, std::nullopt, {}, "t");
  w.ReportAll("failed");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
}

TEST(DecideRolling, APausedRolloutWithNoNodeStaysPausedNotQueued) {
  World w(PipelineSpec(RolloutStrategy::kRolling));
  w.Step();
  ASSERT_EQ(w.job.state, "queued");
  w.rollout = *ApplyRolloutControl(w.rollout, RolloutControl::kPause, std::nullopt, {}, "t");
  w.job.state = "rollout_paused";  // as the control route writes it
  Plan p = w.Step();
  EXPECT_EQ(w.job.state, "rollout_paused");
  EXPECT_EQ(p.waiting, Waiting::kHuman);
  w.AddNode("n1");
  p = w.Step();
  EXPECT_TRUE(p.create.empty()) << "paused: no node gets the version";
}

// ---- offline, joining, draining ----

TEST(DecideRolling, OfflineBeforeDispatchIsSkippedAndCaughtUpOnReturn) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 5);
  w.job.spec.rollout.max_parallel = 100;
  w.Step();  // T0 = 5 nodes; all given at once (one wave)
  World w2(PipelineSpec(RolloutStrategy::kRolling), 5);
  w2.job.spec.rollout.max_parallel = 40;
  w2.Step();  // wave 1: 2 nodes
  std::string offline;
  for (const auto& [id, n] : w2.nodes) {
    if (!w2.Running().count(id)) {
      offline = id;
      break;
    }
  }
  w2.nodes[offline].connection = Connection::kDisconnected;
  w2.ReportAll("running", "healthy");
  w2.Step();  // wave 2: the 2 connected ones left
  w2.ReportAll("running", "healthy");
  w2.Step();
  EXPECT_EQ(w2.rollout.skipped_nodes, 1);
  EXPECT_EQ(w2.rollout.failed_nodes, 0);
  EXPECT_FALSE(w2.Running().count(offline));
  EXPECT_EQ(w2.rollout.phase, "succeeded") << "skipped nodes do not hold the rollout";
  w2.nodes[offline].connection = Connection::kConnected;
  Plan p = w2.Step();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].node_id, offline);
  EXPECT_EQ(p.create[0].version, 1);
}

TEST(DecideRolling, OfflineAfterDispatchFailsAtTheDeadline) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_failed_nodes = 0;
  w.Step();
  std::string node = w.Running().begin()->first;
  w.nodes[node].connection = Connection::kDisconnected;
  w.Advance(61s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
}

TEST(DecideRolling, NodesJoiningMidRolloutRunTheStableVersion) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 4);
  w.job.stable_version = 1;
  w.rollout.phase = "succeeded";
  w.Settle();
  w.ReportAll("running", "healthy");
  JobSpec v2 = w.job.spec;
  v2.description = "v2";
  w.Update(v2);
  w.Settle();
  w.AddNode("late");
  Plan p = w.Step();
  bool late_created = false;
  for (const NewExecution& e : p.create) {
    if (e.node_id == "late") {
      late_created = true;
      EXPECT_EQ(e.version, 1);
      EXPECT_EQ(e.wave, 0);
    }
  }
  EXPECT_TRUE(late_created);
}

TEST(DecideRolling, DrainStopsAndLeavesTheTargetSet) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 2);
  w.job.spec.rollout.max_parallel = 100;
  w.Step();
  w.nodes["n000"].draining = true;
  w.nodes["n000"].schedulable = false;
  Plan p = w.Step();
  ASSERT_EQ(p.update.size(), 1u);
  EXPECT_EQ(p.update[0].node_id, "n000");
  EXPECT_EQ(p.update[0].desired_state, "stopped");
  EXPECT_EQ(w.rollout.target_nodes, 1);
}

TEST(DecideRolling, CordonBlocksNewPlacementsButUpdatesExistingOnes) {
  World w(PipelineSpec(), 2);
  w.job.stable_version = 1;
  w.rollout.phase = "succeeded";
  w.Settle();
  w.ReportAll("running");
  w.nodes["n000"].schedulable = false;
  w.AddNode("cordoned-new");
  w.nodes["cordoned-new"].schedulable = false;
  JobSpec v2 = w.job.spec;
  v2.description = "v2";
  w.Update(v2);
  w.Settle();
  w.AckStops();
  w.Settle();
  EXPECT_EQ(w.Running().at("n000"), 2) << "an execution on a cordoned node is still updated";
  EXPECT_FALSE(w.Running().count("cordoned-new"));
}

// ---- canary ----

TEST(DecideCanary, WaitsForPromotionWithoutAutoPromote) {
  World w(PipelineSpec(RolloutStrategy::kCanary), 10);
  w.job.spec.rollout.canary_count = 2;
  w.rollout.strategy = "canary";
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 2u);
  EXPECT_EQ(w.rollout.canary_nodes.size(), 2u);
  EXPECT_TRUE(w.HasEvent("CanaryStarted"));
  w.ReportAll("running", "healthy");
  p = w.Step();
  EXPECT_EQ(w.rollout.phase, "awaiting_promotion");
  EXPECT_EQ(w.job.state, "rollout_paused");
  EXPECT_EQ(p.waiting, Waiting::kHuman);
  w.Advance(1h);
  p = w.Step();
  EXPECT_EQ(w.rollout.phase, "awaiting_promotion") << "waits for a human, however long";
  w.rollout = *ApplyRolloutControl(w.rollout, RolloutControl::kPromote, std::nullopt, {}, "t");
  p = w.Step();
  EXPECT_EQ(p.create.size(), 1u);  // waves of 10% of 10
  EXPECT_EQ(w.rollout.current_wave, 2);
}

TEST(DecideCanary, AutoPromoteContinuesIntoWaves) {
  World w(PipelineSpec(RolloutStrategy::kCanary), 10);
  w.job.spec.rollout.canary_percent = 20;
  w.job.spec.rollout.auto_promote = true;
  w.job.spec.rollout.max_parallel = 40;
  w.Step();
  w.ReportAll("running", "healthy");
  Plan p = w.Step();
  EXPECT_TRUE(w.rollout.promoted);
  EXPECT_TRUE(w.HasEvent("CanaryPromoted"));
  EXPECT_EQ(p.create.size(), 4u);
  w.ReportAll("running", "healthy");
  w.Step();
  w.ReportAll("running", "healthy");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
}

TEST(DecideCanary, AnyFailedCanaryHaltsWhateverTheBudget) {
  World w(PipelineSpec(RolloutStrategy::kCanary), 100);
  w.job.spec.rollout.canary_count = 3;
  w.job.spec.rollout.max_failed_nodes = 50;
  w.job.spec.rollout.max_failed_nodes_percent = 50;
  w.job.spec.rollout.no_auto_rollback = true;
  w.Step();
  w.Report(w.rollout.canary_nodes[0], "running", "unhealthy");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "halted");
  EXPECT_NE(w.rollout.message.find("canary"), std::string::npos);
}

TEST(DecideCanary, CanariesAreAStableFunctionOfJobAndNodes) {
  World a(PipelineSpec(RolloutStrategy::kCanary), 50);
  a.job.spec.rollout.canary_count = 3;
  a.Step();
  World b(PipelineSpec(RolloutStrategy::kCanary), 50);
  b.job.spec.rollout.canary_count = 3;
  b.Step();
  EXPECT_EQ(a.rollout.canary_nodes, b.rollout.canary_nodes);
  World c(PipelineSpec(RolloutStrategy::kCanary), 50);
  c.job.id = "j-another";
  c.job.spec.rollout.canary_count = 3;
  c.Step();
  EXPECT_NE(a.rollout.canary_nodes, c.rollout.canary_nodes);
}

// ---- after the rollout ----

TEST(DecideSettled, DegradedAfterStableNeverRollsBack) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 3);
  w.job.spec.rollout.max_parallel = 100;
  w.Step();
  w.ReportAll("running", "healthy");
  w.Step();
  ASSERT_EQ(w.rollout.phase, "succeeded");
  w.Report("n001", "running", "unhealthy");
  Plan p = w.Step();
  EXPECT_EQ(w.job.state, "degraded");
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_TRUE(p.rollbacks.empty());
  EXPECT_TRUE(w.HasEvent("Degraded"));
  w.Report("n001", "running", "healthy");
  w.Step();
  EXPECT_EQ(w.job.state, "running");
  EXPECT_TRUE(w.HasEvent("Recovered"));
}

TEST(DecideSettled, FollowsNodesJoiningLeavingAndRelabelled) {
  World w(PipelineSpec(), 2);
  w.Step();
  w.ReportAll("running");
  w.Advance(10s);
  w.Step();
  ASSERT_EQ(w.rollout.phase, "succeeded");
  w.AddNode("new");
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].node_id, "new");
  w.nodes["n000"].matches = false;  // relabelled out of the selector
  p = w.Step();
  ASSERT_EQ(p.update.size(), 1u);
  EXPECT_EQ(p.update[0].node_id, "n000");
  EXPECT_EQ(p.update[0].desired_state, "stopped");
}

TEST(DecideSettled, StoppedJobStopsEveryExecution) {
  World w(PipelineSpec(), 3);
  w.Step();
  w.job.state = "stopped";
  Plan p = w.Step();
  EXPECT_EQ(p.update.size(), 3u);
  for (const ExecutionRecord& e : p.update) EXPECT_EQ(e.desired_state, "stopped");
  w.AckStops();
  p = w.Step();
  EXPECT_EQ(p.remove.size(), 3u) << "finished stops are garbage-collected";
}

TEST(DecideSettled, NeverTwoActiveExecutionsOnANode) {
  World w(PipelineSpec(), 1);
  w.Step();
  w.ReportAll("running");
  w.Advance(10s);
  w.Step();
  JobSpec v2 = w.job.spec;
  v2.description = "v2";
  w.Update(v2);
  Plan p = w.Step();
  EXPECT_EQ(p.update.size(), 1u);
  EXPECT_TRUE(p.create.empty()) << "the replacement waits until the old execution is terminal";
  EXPECT_EQ(w.ActiveCount()["n000"], 1);
  w.AckStops();
  p = w.Step();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].version, 2);
}

TEST(DecideSettled, RestartsBelongToTheAgentAFailedExecutionIsNotRecreated) {
  // on-failure and always restart on the node (the agent counts restarts); when the agent gives
  // up (never, or a command that keeps failing) the execution is failed for good: the job is
  // degraded, and only a new version, a forced re-rollout or a manual rollback runs it again.
  for (RestartPolicy policy : {RestartPolicy::kNever, RestartPolicy::kOnFailure}) {
    JobSpec spec = PipelineSpec(RolloutStrategy::kRolling);
    spec.restart_policy = policy;
    spec.rollout.max_parallel = 100;
    World w(spec, 2);
    w.Step();
    w.ReportAll("running", "healthy");
    w.Step();
    ASSERT_EQ(w.rollout.phase, "succeeded");
    w.Report("n000", "running", "healthy", 2);  // restarted twice on the node: still fine
    w.Step();
    EXPECT_EQ(w.job.state, "running");
    w.Report("n000", "failed");
    Plan p = w.Step();
    EXPECT_TRUE(p.create.empty());
    EXPECT_EQ(w.job.state, "degraded");
    p = w.Step();
    EXPECT_TRUE(p.create.empty()) << "not re-created on the next reconcile either";
  }
}

TEST(DecideRolling, ANewerVersionSupersedesTheRolloutInProgress) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 10);
  w.job.spec.rollout.max_parallel = 100;
  w.Step();
  w.ReportAll("running", "healthy");
  w.Step();
  ASSERT_EQ(w.job.stable_version, 1);
  JobSpec v2 = w.job.spec;
  v2.description = "v2";
  v2.rollout.max_parallel = 20;
  w.Update(v2);
  w.Settle();
  w.AckStops();
  w.Settle();
  ASSERT_EQ(CountVersion(w.Running(), 2), 2);
  JobSpec v3 = v2;
  v3.description = "v3";
  w.Update(v3);  // the PUT writes a new rollout: the v2 rollout is over
  w.Settle();
  EXPECT_EQ(w.rollout.to_version, 3);
  EXPECT_EQ(w.rollout.from_version, 1);
  w.AckStops();
  w.Settle();
  std::map<std::string, int> running = w.Running();
  EXPECT_EQ(CountVersion(running, 2), 0) << "no node keeps the superseded version";
  EXPECT_EQ(CountVersion(running, 3), 2) << "the first wave of the new rollout";
  EXPECT_EQ(CountVersion(running, 1), 8) << "the others run the stable version";
  for (const auto& [node, n] : w.ActiveCount()) EXPECT_LE(n, 1) << node;
}

// ---- one-shot types and timeouts ----

TEST(DecideUpdate, RunsOncePerNodePerVersion) {
  JobSpec spec = PipelineSpec(RolloutStrategy::kRolling);
  spec.type = JobType::kUpdate;
  spec.rollout.max_parallel = 50;
  World w(spec, 4);
  w.Step();
  w.ReportAll("completed");
  w.Step();
  w.ReportAll("completed");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_EQ(w.job.state, "completed");
  Plan p = w.Step();
  EXPECT_TRUE(p.create.empty()) << "a completed update is not run again";
  w.AddNode("late");
  p = w.Step();
  ASSERT_EQ(p.create.size(), 1u) << "nodes that join later run it too";
  EXPECT_EQ(p.create[0].node_id, "late");
}

TEST(DecideUpdate, ARolloutThatFailsWaitsForNoExecution) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kUpdate;
  spec.rollout.max_failed_nodes = 0;
  spec.rollout.max_failed_nodes_percent = 0;
  World w(spec, 3);
  w.Step();
  w.Report("n000", "failed");
  w.Report("n001", "running");
  Plan p = w.Step();
  EXPECT_EQ(w.rollout.phase, "failed") << "over the budget with no stable version";
  EXPECT_EQ(p.waiting, Waiting::kNone) << "the rollout ended: the running ones hold nothing up";
}

TEST(DecideUpdate, ARollbackRunsTheFailedVersionsRollbackCommandOnceOnEachNodeThatRanIt) {
  JobSpec spec = PipelineSpec(RolloutStrategy::kRolling);
  spec.type = JobType::kUpdate;
  spec.config = {{"command", {"install", "v1"}}};
  spec.rollout.max_parallel = 50;
  World w(spec, 4);
  w.Step();
  w.ReportAll("completed");
  w.Step();
  w.ReportAll("completed");
  w.Settle();
  ASSERT_EQ(w.rollout.phase, "succeeded");
  ASSERT_EQ(w.job.stable_version, 1);

  JobSpec v2 = spec;
  v2.config = {{"command", {"install", "v2"}}, {"rollback_command", {"uninstall", "v2"}}};
  v2.rollout.max_failed_nodes = 0;
  v2.rollout.max_failed_nodes_percent = 0;
  w.Update(v2);
  Plan p = w.Step();  // wave 1: two nodes
  ASSERT_EQ(p.create.size(), 2u);
  const std::string ok_node = p.create[0].node_id, bad_node = p.create[1].node_id;
  w.Report(ok_node, "completed");
  w.Report(bad_node, "failed");
  p = w.Step();
  ASSERT_EQ(w.rollout.phase, "rolling_back") << w.rollout.message;
  // at once, the two nodes that ran v2 get a rollback run: version 1, rollback_of 2; the others
  // (which completed v1 and never ran v2) nothing
  std::set<std::string> undone;
  for (const NewExecution& c : p.create) {
    EXPECT_EQ(c.version, 1);
    EXPECT_EQ(c.rollback_of, 2);
    EXPECT_EQ(NewExecutionRecord(w.job, c, w.Wall()).rollback_of, 2);
    undone.insert(c.node_id);
  }
  EXPECT_EQ(undone, (std::set<std::string>{ok_node, bad_node}));
  EXPECT_NE(w.rollout.phase, "rolled_back") << "waits for the rollback runs";
  w.ReportAll("completed");
  p = w.Step();
  EXPECT_TRUE(p.create.empty()) << "each node undoes a version once";
  w.Settle();
  EXPECT_EQ(w.rollout.phase, "rolled_back") << w.rollout.message;
  EXPECT_EQ(w.job.stable_version, 1);
  EXPECT_TRUE(w.Step().create.empty());
}

TEST(DecideUpdate, ARollbackWithoutRollbackCommandRunsTheStableCommandOnlyWhereTheFailedOneRan) {
  JobSpec spec = PipelineSpec(RolloutStrategy::kRolling);
  spec.type = JobType::kUpdate;
  spec.rollout.max_parallel = 50;
  World w(spec, 4);
  w.Step();
  w.ReportAll("completed");
  w.Settle();
  w.ReportAll("completed");
  w.Settle();
  JobSpec v2 = spec;
  v2.description = "v2";
  v2.rollout.max_failed_nodes = 0;
  v2.rollout.max_failed_nodes_percent = 0;
  w.Update(v2);
  Plan p = w.Step();
  ASSERT_EQ(p.create.size(), 2u);
  const std::string failed_node = p.create[0].node_id;
  w.Report(failed_node, "failed");
  p = w.Step();
  EXPECT_EQ(w.rollout.phase, "rolling_back");
  ASSERT_EQ(p.create.size(), 1u) << "only the node that ran v2; the others completed v1 already";
  EXPECT_EQ(p.create[0].node_id, failed_node);
  EXPECT_EQ(p.create[0].version, 1);
  EXPECT_EQ(p.create[0].rollback_of, 2);
  w.AckStops();  // the other wave-1 node's pending v2 is stopped: it never ran
  w.ReportAll("completed");
  w.Settle();
  EXPECT_EQ(w.rollout.phase, "rolled_back") << w.rollout.message;
}

TEST(DecideQuery, CompletesWithEveryNodeDone) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kQuery;
  World w(spec, 3);
  Plan p = w.Step();
  EXPECT_EQ(p.create.size(), 3u);
  w.ReportAll("running");
  w.Step();
  EXPECT_EQ(w.job.state, "deploying");
  w.ReportAll("completed");
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_EQ(w.job.state, "completed");
  EXPECT_TRUE(w.HasEvent("QueryCompleted"));
  w.AddNode("late");
  p = w.Step();
  EXPECT_TRUE(p.create.empty()) << "a query runs on the nodes matching when first placed";
}

TEST(DecideQuery, AnyFailedNodeFailsTheQuery) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kQuery;
  World w(spec, 3);
  w.Step();
  w.ReportAll("completed");
  w.Report("n001", "failed");
  w.executions.begin()->second.state = "failed";
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
  EXPECT_EQ(w.job.state, "failed");
}

TEST(DecideQuery, NoMatchingNodesFailsAtOnce) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kQuery;
  World w(spec);
  w.Step();
  EXPECT_EQ(w.job.state, "failed");
  EXPECT_EQ(w.rollout.phase, "failed");
  EXPECT_NE(w.rollout.message.find("no node"), std::string::npos);
}

TEST(DecideQuery, QueueTimeoutWaitsForNodesThatLong) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kQuery;
  spec.timeouts.queue_timeout = 30;
  World w(spec);
  Plan p = w.Step();
  EXPECT_EQ(w.job.state, "queued");
  ASSERT_TRUE(p.requeue_after.has_value());
  EXPECT_EQ(*p.requeue_after, std::chrono::nanoseconds(30s));
  w.Advance(10s);
  w.AddNode("a");
  p = w.Step();
  EXPECT_EQ(p.create.size(), 1u);
  World late(spec);
  late.Step();
  late.Advance(30s);
  late.Step();
  EXPECT_EQ(late.job.state, "failed");
}

TEST(DecideTimeouts, QueueTimeoutFailsAnExecutionNeverStarted) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kUpdate;
  spec.timeouts.queue_timeout = 20;
  World w(spec, 2);
  w.Step();
  w.Report("n000", "completed");
  w.Advance(20s);
  w.Step();
  int timed_out = 0;
  for (const auto& [id, e] : w.executions) {
    if (e.message.find("queue_timeout") != std::string::npos) {
      ++timed_out;
      EXPECT_EQ(e.state, "failed");
      EXPECT_EQ(e.desired_state, "stopped");
    }
  }
  EXPECT_EQ(timed_out, 1);
}

TEST(DecideTimeouts, ExecutionTimeoutIsEnforcedPastTheAgentsGrace) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kUpdate;
  spec.timeouts.execution_timeout = 60;
  World w(spec, 1);
  w.Step();
  w.ReportAll("running");
  w.Advance(60s + kExecutionTimeoutGrace - 1ms);
  Plan p = w.Step();
  EXPECT_TRUE(p.update.empty());
  w.Advance(1ms);
  w.Step();
  EXPECT_EQ(w.executions.begin()->second.state, "failed");
  EXPECT_NE(w.executions.begin()->second.message.find("execution_timeout"), std::string::npos);
}

TEST(DecideTimeouts, TotalTimeoutFailsAOneShotJob) {
  JobSpec spec = PipelineSpec();
  spec.type = JobType::kQuery;
  spec.timeouts.total_timeout = 100;
  World w(spec, 2);
  w.Step();
  w.ReportAll("running");
  w.Advance(100s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "failed");
  EXPECT_EQ(w.job.state, "failed");
  EXPECT_TRUE(w.HasEvent("TimedOut"));
  EXPECT_TRUE(w.Running().empty());
}

TEST(DecideTimeouts, TotalTimeoutIgnoredForPipelines) {
  JobSpec spec = PipelineSpec();
  spec.timeouts.total_timeout = 100;
  World w(spec, 1);
  w.Step();
  w.ReportAll("running");
  w.Advance(1000s);
  w.Step();
  EXPECT_EQ(w.rollout.phase, "succeeded");
  EXPECT_EQ(w.Running().size(), 1u);
}

// ---- the rollback guard and determinism ----

TEST(DecideGuard, ReapplyingTheFailedSpecIsUnchanged) {
  JobRecord job;
  job.spec = PipelineSpec();
  job.version = 2;
  job.failed_version = 2;
  job.stable_version = 1;
  job.state = "rollout_failed";
  EXPECT_EQ(DecidePut(&job, job.spec, false).outcome, PutOutcome::kUnchanged);
  EXPECT_EQ(DecidePut(&job, job.spec, true).outcome, PutOutcome::kForced);
}

TEST(DecideDeterminism, SameInputsGiveTheSamePlan) {
  World w(PipelineSpec(RolloutStrategy::kCanary), 40);
  w.job.spec.rollout.canary_count = 4;
  Observed o = w.MakeObserved();
  Plan a = Decide(w.job, w.rollout, o, w.now, "t");
  Plan b = Decide(w.job, w.rollout, o, w.now, "t");
  ASSERT_EQ(a.create.size(), b.create.size());
  for (size_t i = 0; i < a.create.size(); ++i) EXPECT_EQ(a.create[i], b.create[i]);
  EXPECT_EQ(a.rollout, b.rollout);
  std::reverse(o.nodes.begin(), o.nodes.end());
  Plan c = Decide(w.job, w.rollout, o, w.now, "t");
  EXPECT_EQ(a.rollout, c.rollout) << "input order does not matter";
}

}  // namespace
}  // namespace drover
