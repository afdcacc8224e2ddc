// ConvergeExecutions: what to create and stop so each node runs the version it should, without
// ever two active executions of one job on one node.
#include "reconcilers/executions.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace drover {
namespace {

JobRecord Job() {
  JobRecord j;
  j.id = "j-1";
  j.spec.name = "web";
  j.spec.namespace_ = "prod";
  j.version = 2;
  return j;
}

ExecutionRecord Exec(std::string id, std::string node, int version, std::string state,
                     std::string desired = "running") {
  ExecutionRecord e;
  e.id = std::move(id);
  e.job_id = "j-1";
  e.node_id = std::move(node);
  e.version = version;
  e.state = std::move(state);
  e.desired_state = std::move(desired);
  return e;
}

TEST(ConvergeExecutions, CreatesOnNodesWithNothing) {
  ExecutionChanges c = ConvergeExecutions(Job(), {{"a", 2}, {"b", 2}}, {}, false, "t");
  ASSERT_EQ(c.create.size(), 2u);
  EXPECT_EQ(c.create[0].node_id, "a");
  EXPECT_EQ(c.create[0].version, 2);
  EXPECT_EQ(c.create[0].desired_state, "running");
  EXPECT_EQ(c.create[0].namespace_, "prod");
  EXPECT_TRUE(c.stop.empty());
}

TEST(ConvergeExecutions, LeavesTheWantedActiveExecutionAlone) {
  ExecutionChanges c =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 2, "running")}, false, "t");
  EXPECT_EQ(c, ExecutionChanges{});
}

TEST(ConvergeExecutions, UpdateStopsTheOldVersionFirstAndWaits) {
  ExecutionChanges c =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 1, "running")}, false, "t");
  ASSERT_EQ(c.stop.size(), 1u);
  EXPECT_EQ(c.stop[0].id, "e1");
  EXPECT_EQ(c.stop[0].desired_state, "stopped");
  EXPECT_TRUE(c.create.empty()) << "never two active executions on one node";
  EXPECT_EQ(c.waiting, std::vector<std::string>{"a"});
}

TEST(ConvergeExecutions, ReplacementIsCreatedOnceTheOldOneIsTerminal) {
  ExecutionChanges c =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 1, "stopped", "stopped")}, false, "t");
  ASSERT_EQ(c.create.size(), 1u);
  EXPECT_EQ(c.create[0].version, 2);
}

TEST(ConvergeExecutions, StopRequestedButStillRunningIsNotStoppedTwice) {
  ExecutionChanges c =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 1, "running", "stopped")}, false, "t");
  EXPECT_TRUE(c.stop.empty());
  EXPECT_TRUE(c.create.empty());
  EXPECT_EQ(c.waiting, std::vector<std::string>{"a"});
}

TEST(ConvergeExecutions, NodesThatShouldRunNothingAreStopped) {
  ExecutionChanges c = ConvergeExecutions(
      Job(), {}, {Exec("e1", "a", 2, "running"), Exec("e2", "b", 2, "completed")}, false, "t");
  ASSERT_EQ(c.stop.size(), 1u);
  EXPECT_EQ(c.stop[0].id, "e1") << "terminal executions need no stop";
}

TEST(ConvergeExecutions, OneShotRunsOncePerNodePerVersion) {
  ExecutionChanges done =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 2, "completed")}, true, "t");
  EXPECT_TRUE(done.create.empty());
  ExecutionChanges failed =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 2, "failed")}, true, "t");
  EXPECT_TRUE(failed.create.empty()) << "a failed one-shot is final: no controller retry loop";
  ExecutionChanges drained =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 2, "stopped", "stopped")}, true, "t");
  EXPECT_EQ(drained.create.size(), 1u) << "stopped by the controller: it may run again";
  ExecutionChanges long_running =
      ConvergeExecutions(Job(), {{"a", 2}}, {Exec("e1", "a", 2, "completed")}, false, "t");
  EXPECT_EQ(long_running.create.size(), 1u) << "a pipeline that exited is placed again";
}

// Randomised: whatever mix of executions exists, applying the changes (stops become terminal
// later, creates become active) never leaves a node with two active executions.
TEST(ConvergeExecutions, NeverTwoActiveExecutionsOnANode) {
  std::mt19937 rng(42);
  const char* states[] = {"pending", "starting", "running", "completed", "failed", "stopped"};
  for (int round = 0; round < 2000; ++round) {
    std::vector<ExecutionRecord> existing;
    std::map<std::string, int> want;
    std::map<std::string, int> active;
    for (int n = 0; n < 4; ++n) {
      std::string node = "n" + std::to_string(n);
      bool has_active = false;
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) {
        std::string state = states[rng() % 6];
        if (!IsTerminalExecutionState(state)) {
          if (has_active) state = "stopped";  // the input itself respects the invariant
          has_active = true;
        }
        existing.push_back(Exec("e" + std::to_string(existing.size()), node,
                                1 + static_cast<int>(rng() % 3), state,
                                rng() % 4 == 0 ? "stopped" : "running"));
      }
      if (rng() % 3 != 0) want[node] = 1 + static_cast<int>(rng() % 3);
      active[node] = has_active ? 1 : 0;
    }
    ExecutionChanges c = ConvergeExecutions(Job(), want, existing, rng() % 2 == 0, "t");
    for (const ExecutionRecord& e : c.create) {
      EXPECT_EQ(active[e.node_id], 0) << "created next to an active execution on " << e.node_id;
      active[e.node_id] += 1;
      EXPECT_EQ(want.at(e.node_id), e.version);
    }
    std::set<std::string> stopped;
    for (const ExecutionRecord& e : c.stop) EXPECT_TRUE(stopped.insert(e.id).second);
  }
}

}  // namespace
}  // namespace drover
