// Tests of the wave planning of SPEC §5 (reconcilers/waves.h): target order, wave and canary
// sizes at 1, 2, 3, 7 and 1000 nodes, and the plans of the three strategies. Expected hash values
// were computed independently (a few lines of Python over the documented definition).
#include "reconcilers/waves.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "api/job.h"

namespace drover {
namespace {

std::vector<std::string> NodeIds(size_t count) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back("node-" + std::to_string(i));
  return ids;
}

Rollout MakeRollout(RolloutStrategy strategy, int max_parallel, int canary_count = 0,
                    int canary_percent = 0) {
  Rollout rollout;
  rollout.strategy = strategy;
  rollout.max_parallel = max_parallel;
  rollout.canary_count = canary_count;
  rollout.canary_percent = canary_percent;
  return rollout;
}

std::vector<size_t> WaveSizes(const WavePlan& plan) {
  std::vector<size_t> sizes;
  for (const auto& wave : plan.waves) sizes.push_back(wave.size());
  return sizes;
}

// The canary wave followed by every wave, flattened.
std::vector<std::string> Flatten(const WavePlan& plan) {
  std::vector<std::string> all = plan.canary;
  for (const auto& wave : plan.waves) all.insert(all.end(), wave.begin(), wave.end());
  return all;
}

TEST(TargetOrderKeyTest, IsFnv1a64OverJobIdZeroByteNodeIdThenFinalized) {
  EXPECT_EQ(TargetOrderKey("", ""), 0xb9034ad37056f5fbULL);
  EXPECT_EQ(TargetOrderKey("default/web", "node-1"), 0x7e4b1cd2e3eb69f4ULL);
  EXPECT_EQ(TargetOrderKey("ab", "c"), 0xc87d91e7dc16f99dULL);
  EXPECT_EQ(TargetOrderKey("a", "bc"), 0xdf52f2b01fb62dc7ULL);
}

TEST(TargetOrderKeyTest, SeparatesJobIdFromNodeId) {
  EXPECT_NE(TargetOrderKey("ab", "c"), TargetOrderKey("a", "bc"));
  EXPECT_NE(TargetOrderKey("job", "node"), TargetOrderKey("node", "job"));
}

TEST(OrderTargetsTest, SortsByKeyInAFixedOrder) {
  const std::vector<std::string> nodes = {"edge-1", "edge-2", "edge-3", "edge-4",
                                          "edge-5", "edge-6", "edge-7", "edge-8"};
  EXPECT_EQ(OrderTargets("default/web", nodes),
            (std::vector<std::string>{"edge-4", "edge-1", "edge-8", "edge-5", "edge-3", "edge-7",
                                      "edge-2", "edge-6"}));
  const std::vector<std::string> ordered = OrderTargets("default/web", NodeIds(50));
  for (size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(TargetOrderKey("default/web", ordered[i - 1]),
              TargetOrderKey("default/web", ordered[i]));
  }
}

TEST(OrderTargetsTest, IsReproducibleWhateverTheInputOrder) {
  std::vector<std::string> nodes = NodeIds(30);
  const std::vector<std::string> first = OrderTargets("default/web", nodes);
  std::reverse(nodes.begin(), nodes.end());
  EXPECT_EQ(OrderTargets("default/web", nodes), first);
  std::rotate(nodes.begin(), nodes.begin() + 7, nodes.end());
  EXPECT_EQ(OrderTargets("default/web", nodes), first);
}

TEST(OrderTargetsTest, DiffersBetweenJobs) {
  const std::vector<std::string> nodes = {"edge-1", "edge-2", "edge-3", "edge-4",
                                          "edge-5", "edge-6", "edge-7", "edge-8"};
  EXPECT_EQ(OrderTargets("default/api", nodes),
            (std::vector<std::string>{"edge-1", "edge-6", "edge-2", "edge-5", "edge-7", "edge-8",
                                      "edge-4", "edge-3"}));
  EXPECT_NE(OrderTargets("default/api", nodes), OrderTargets("default/web", nodes));
}

TEST(OrderTargetsTest, SpreadsFirstCanaryAcrossJobs) {
  // With ids differing only in their last digit, the first node over 200 jobs should not be
  // the same node for most of them (a fair hash gives each of 8 nodes about 25).
  const std::vector<std::string> nodes = {"edge-1", "edge-2", "edge-3", "edge-4",
                                          "edge-5", "edge-6", "edge-7", "edge-8"};
  std::map<std::string, int> first_counts;
  for (int job = 0; job < 200; ++job) {
    ++first_counts[OrderTargets("default/job-" + std::to_string(job), nodes).front()];
  }
  EXPECT_EQ(first_counts.size(), nodes.size());
  for (const auto& [node, count] : first_counts) EXPECT_LT(count, 50) << node;
}

TEST(OrderTargetsTest, RemovesDuplicates) {
  EXPECT_EQ(OrderTargets("default/web", {"b", "a", "b", "c", "a", "a"}),
            OrderTargets("default/web", {"a", "b", "c"}));
  EXPECT_EQ(OrderTargets("default/web", {"x", "x", "x"}), (std::vector<std::string>{"x"}));
}

TEST(OrderTargetsTest, OfNoNodesIsEmpty) { EXPECT_TRUE(OrderTargets("default/web", {}).empty()); }

struct SizeCase {
  int percent;
  size_t targets;
  size_t expected;
};

TEST(WaveSizeTest, RoundsPercentOfTargetsUp) {
  const SizeCase cases[] = {
      {10, 1, 1},    {10, 2, 1},    {10, 3, 1},      {10, 7, 1},  {10, 1000, 100},
      {33, 1, 1},    {33, 2, 1},    {33, 3, 1},      {33, 7, 3},  {33, 1000, 330},
      {50, 1, 1},    {50, 2, 1},    {50, 3, 2},      {50, 7, 4},  {50, 1000, 500},
      {100, 1, 1},   {100, 2, 2},   {100, 3, 3},     {100, 7, 7}, {100, 1000, 1000},
      {1, 1000, 10}, {1, 1001, 11}, {99, 1000, 990}, {34, 3, 2},  {25, 4, 1},
  };
  for (const SizeCase& c : cases) {
    EXPECT_EQ(WaveSize(c.percent, c.targets), c.expected)
        << c.percent << "% of " << c.targets << " nodes";
  }
}

TEST(WaveSizeTest, OfNoTargetsIsZero) {
  EXPECT_EQ(WaveSize(10, 0), 0u);
  EXPECT_EQ(WaveSize(100, 0), 0u);
}

TEST(WaveSizeTest, IsAtLeastOneEvenAtZeroPercent) {
  EXPECT_EQ(WaveSize(0, 1), 1u);
  EXPECT_EQ(WaveSize(0, 1000), 1u);
}

TEST(WaveSizeTest, ClampsPercentToZeroThroughHundred) {
  EXPECT_EQ(WaveSize(150, 7), 7u);
  EXPECT_EQ(WaveSize(-20, 7), 1u);
}

TEST(WaveSizeTest, DoesNotOverflowForHugeTargetCounts) {
  const size_t huge = std::numeric_limits<size_t>::max();
  EXPECT_EQ(WaveSize(100, huge), huge);
  EXPECT_EQ(WaveSize(50, huge), huge / 2 + 1);  // ceil((2^k - 1) / 2)
}

TEST(CanarySizeTest, CountWinsOverPercent) {
  EXPECT_EQ(CanarySize(2, 50, 7), 2u);
  EXPECT_EQ(CanarySize(1, 100, 1000), 1u);
}

TEST(CanarySizeTest, CountLargerThanFleetClampsToFleet) {
  EXPECT_EQ(CanarySize(10, 0, 7), 7u);
  EXPECT_EQ(CanarySize(3, 0, 3), 3u);
}

TEST(CanarySizeTest, PercentRoundsUpLikeWaveSize) {
  EXPECT_EQ(CanarySize(0, 10, 3), 1u);
  EXPECT_EQ(CanarySize(0, 10, 7), 1u);
  EXPECT_EQ(CanarySize(0, 33, 7), 3u);
  EXPECT_EQ(CanarySize(0, 50, 7), 4u);
  EXPECT_EQ(CanarySize(0, 33, 1000), 330u);
}

TEST(CanarySizeTest, NeitherCountNorPercentGivesNoCanaries) {
  EXPECT_EQ(CanarySize(0, 0, 7), 0u);
  EXPECT_EQ(CanarySize(-1, -5, 7), 0u);
}

TEST(CanarySizeTest, OfNoTargetsIsZero) {
  EXPECT_EQ(CanarySize(3, 0, 0), 0u);
  EXPECT_EQ(CanarySize(0, 50, 0), 0u);
}

struct RollingCase {
  int max_parallel;
  size_t targets;
  std::vector<size_t> wave_sizes;
};

TEST(PlanWavesTest, RollingSplitsIntoWavesOfWaveSize) {
  const std::vector<size_t> ten_hundreds(10, 100);
  const RollingCase cases[] = {
      {10, 1, {1}},
      {33, 1, {1}},
      {50, 1, {1}},
      {100, 1, {1}},
      {10, 2, {1, 1}},
      {33, 2, {1, 1}},
      {50, 2, {1, 1}},
      {100, 2, {2}},
      {10, 3, {1, 1, 1}},
      {33, 3, {1, 1, 1}},
      {50, 3, {2, 1}},
      {100, 3, {3}},
      {10, 7, {1, 1, 1, 1, 1, 1, 1}},
      {33, 7, {3, 3, 1}},
      {50, 7, {4, 3}},
      {100, 7, {7}},
      {10, 1000, ten_hundreds},
      {33, 1000, {330, 330, 330, 10}},
      {50, 1000, {500, 500}},
      {100, 1000, {1000}},
  };
  for (const RollingCase& c : cases) {
    const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(c.targets));
    const WavePlan plan =
        PlanWaves(MakeRollout(RolloutStrategy::kRolling, c.max_parallel), targets);
    EXPECT_TRUE(plan.canary.empty());
    EXPECT_EQ(WaveSizes(plan), c.wave_sizes) << c.max_parallel << "% of " << c.targets;
    EXPECT_EQ(Flatten(plan), targets) << c.max_parallel << "% of " << c.targets;
  }
}

TEST(PlanWavesTest, RollingWavesAreConsecutiveRunsOfTheGivenOrder) {
  const std::vector<std::string> targets = {"z", "a", "m", "b", "y"};
  const WavePlan plan = PlanWaves(MakeRollout(RolloutStrategy::kRolling, 40), targets);
  EXPECT_EQ(plan, (WavePlan{{}, {{"z", "a"}, {"m", "b"}, {"y"}}}));
}

TEST(PlanWavesTest, ImmediateIsOneWaveWithEveryTarget) {
  for (size_t n : {1, 2, 3, 7, 1000}) {
    const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(n));
    const WavePlan plan = PlanWaves(MakeRollout(RolloutStrategy::kImmediate, 10), targets);
    EXPECT_TRUE(plan.canary.empty());
    ASSERT_EQ(plan.waves.size(), 1u);
    EXPECT_EQ(plan.waves[0], targets);
  }
}

TEST(PlanWavesTest, ImmediateIgnoresMaxParallelAndCanaryFields) {
  const std::vector<std::string> targets = {"c", "a", "b"};
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kImmediate, 10, 2, 50), targets),
            (WavePlan{{}, {{"c", "a", "b"}}}));
}

TEST(PlanWavesTest, RollingIgnoresCanaryFields) {
  const std::vector<std::string> targets = {"c", "a", "b"};
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kRolling, 50, 2, 50), targets),
            (WavePlan{{}, {{"c", "a"}, {"b"}}}));
}

TEST(PlanWavesTest, CanaryByCountTakesTheFirstTargets) {
  const std::vector<std::string> targets = {"g", "f", "e", "d", "c", "b", "a"};
  // 7 nodes, 2 canaries, W = 33% of 7 = 3.
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kCanary, 33, 2), targets),
            (WavePlan{{"g", "f"}, {{"e", "d", "c"}, {"b", "a"}}}));
}

TEST(PlanWavesTest, CanaryByPercentRoundsUp) {
  const std::vector<std::string> targets = {"g", "f", "e", "d", "c", "b", "a"};
  // 10% of 7 is 1 canary; W = 50% of 7 = 4.
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kCanary, 50, 0, 10), targets),
            (WavePlan{{"g"}, {{"f", "e", "d", "c"}, {"b", "a"}}}));
}

TEST(PlanWavesTest, CanaryCountWinsOverPercent) {
  const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(7));
  const WavePlan plan = PlanWaves(MakeRollout(RolloutStrategy::kCanary, 100, 2, 50), targets);
  EXPECT_EQ(plan.canary, (std::vector<std::string>{targets[0], targets[1]}));
  EXPECT_EQ(WaveSizes(plan), (std::vector<size_t>{5}));
}

TEST(PlanWavesTest, CanaryCountLargerThanFleetMakesEveryTargetACanary) {
  const std::vector<std::string> targets = {"c", "a", "b"};
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kCanary, 10, 10), targets),
            (WavePlan{{"c", "a", "b"}, {}}));
}

TEST(PlanWavesTest, WavesAfterCanaryUseWaveSizeOfTheWholeTargetSet) {
  // 10 nodes, 5 canaries; W = 30% of 10 = 3, not 30% of the 5 left (2).
  const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(10));
  const WavePlan plan = PlanWaves(MakeRollout(RolloutStrategy::kCanary, 30, 0, 50), targets);
  EXPECT_EQ(plan.canary.size(), 5u);
  EXPECT_EQ(WaveSizes(plan), (std::vector<size_t>{3, 2}));
}

TEST(PlanWavesTest, CanaryAtThousandNodes) {
  // 3% of 1000 = 30 canaries; the 970 left go in waves of W = 33% of 1000 = 330.
  const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(1000));
  const WavePlan plan = PlanWaves(MakeRollout(RolloutStrategy::kCanary, 33, 0, 3), targets);
  EXPECT_EQ(plan.canary.size(), 30u);
  EXPECT_EQ(WaveSizes(plan), (std::vector<size_t>{330, 330, 310}));
  EXPECT_EQ(Flatten(plan), targets);
}

TEST(PlanWavesTest, CanaryStrategyWithoutCanarySizePlansOnlyWaves) {
  const std::vector<std::string> targets = {"c", "a", "b"};
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kCanary, 50), targets),
            (WavePlan{{}, {{"c", "a"}, {"b"}}}));
}

TEST(PlanWavesTest, EveryTargetAppearsExactlyOnceInOrder) {
  const RolloutStrategy strategies[] = {RolloutStrategy::kImmediate, RolloutStrategy::kRolling,
                                        RolloutStrategy::kCanary};
  for (RolloutStrategy strategy : strategies) {
    for (size_t n : {1, 2, 3, 7, 1000}) {
      for (int max_parallel : {10, 33, 50, 100}) {
        for (int canary_count : {0, 1, 3, 2000}) {
          const std::vector<std::string> targets = OrderTargets("default/web", NodeIds(n));
          const WavePlan plan =
              PlanWaves(MakeRollout(strategy, max_parallel, canary_count, 10), targets);
          EXPECT_EQ(Flatten(plan), targets);
          for (const auto& wave : plan.waves) EXPECT_FALSE(wave.empty());
        }
      }
    }
  }
}

TEST(PlanWavesTest, NoTargetsGiveAnEmptyPlanForEveryStrategy) {
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kImmediate, 10), {}), WavePlan{});
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kRolling, 10), {}), WavePlan{});
  EXPECT_EQ(PlanWaves(MakeRollout(RolloutStrategy::kCanary, 10, 2), {}), WavePlan{});
}

}  // namespace
}  // namespace drover

namespace drover {
namespace {

TEST(FailureBudgetTest, ToleratedFailuresIsTheLargestCountNotOverTheBudget) {
  struct Case {
    int max_nodes;
    double max_percent;
    size_t targets;
    int want;
  };
  const Case cases[] = {
      {10, 10.0, 2, 0},                       // 10% of 2 nodes: the first failure halts
      {10, 10.0, 10, 1},                      // exactly 10%: tolerated
      {10, 10.0, 200, 10},                    // the count caps it
      {2, 100.0, 5, 2},    {0, 100.0, 5, 0},  // an explicit 0 tolerates nothing
      {10, 0.0, 100, 0},   {10, 33.3, 3, 0}, {10, 33.4, 3, 1}, {10, 10.0, 0, 0},
  };
  for (const Case& c : cases) {
    Rollout policy;
    policy.max_failed_nodes = c.max_nodes;
    policy.max_failed_nodes_percent = c.max_percent;
    const int got = ToleratedFailures(policy, c.targets);
    EXPECT_EQ(got, c.want) << c.max_nodes << " / " << c.max_percent << "% of " << c.targets;
    EXPECT_FALSE(OverFailureBudget(policy, got, c.targets));
    EXPECT_TRUE(OverFailureBudget(policy, got + 1, c.targets));
  }
}

}  // namespace
}  // namespace drover
