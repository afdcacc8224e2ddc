// One Decide over a 100,000-node job (issue 4, acceptance 5; target under 50 ms), in the
// situations that cost the most:
//   first_placement   immediate strategy, no execution yet: 100,000 creates planned
//   steady            every node runs the stable version and is healthy: nothing to do
//   rolling_wave      10% waves, wave 3 healthy: the next 10,000 nodes are given the version
//   rollback          the budget broke in a 10,000-node wave of v2: everything goes back to v1
//
//   ./build/decide_bench [--benchmark_filter=...] [--nodes=100000]
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "reconcilers/job_put.h"
#include "reconcilers/rollout.h"

namespace drover {
namespace {

int g_nodes = 100'000;

JobSpec Spec(RolloutStrategy strategy) {
  JobSpec s;
  s.name = "fleet";
  s.type = JobType::kPipeline;
  s.selector.match_labels = {{"role", "edge"}};
  s.rollout.strategy = strategy;
  s.rollout.max_parallel = 10;
  if (strategy != RolloutStrategy::kImmediate) {
    HealthCheck hc;
    hc.deadline = Duration::Seconds(300);
    s.rollout.health_check = hc;
  }
  return s;
}

std::string NodeId(int i) {
  char b[32];
  std::snprintf(b, sizeof(b), "edge-%06d", i);
  return b;
}

ExecutionRecord Exec(int i, int version, int64_t rollout_id, int wave) {
  ExecutionRecord e;
  e.id = "e-" + std::to_string(version) + "-" + std::to_string(i);
  e.job_id = "j-bench";
  e.namespace_ = "default";
  e.name = "fleet";
  e.node_id = NodeId(i);
  e.version = version;
  e.state = "running";
  e.health = "healthy";
  e.stable_at = "2026-12-04T00:00:00Z";
  e.rollout_id = rollout_id;
  e.wave = wave;
  return e;
}

struct Case {
  JobRecord job;
  RolloutRecord rollout;
  Observed observed;
};

Case Base(RolloutStrategy strategy) {
  Case c;
  c.job.id = "j-bench";
  c.job.spec = Spec(strategy);
  c.job.version = 1;
  c.rollout = NewRollout(c.job.spec, std::nullopt, 1, "t0");
  c.rollout.rollout_id = 1;
  c.observed.nodes.reserve(static_cast<size_t>(g_nodes));
  for (int i = 0; i < g_nodes; ++i) {
    NodeFacts f;
    f.id = NodeId(i);
    f.matches = true;
    c.observed.nodes.push_back(std::move(f));
  }
  return c;
}

void Run(benchmark::State& state, const Case& c) {
  const MonoTime now{std::chrono::hours(1000)};
  size_t planned = 0;
  for (auto _ : state) {
    Plan p = Decide(c.job, c.rollout, c.observed, now, "2026-12-04T00:00:00Z");
    planned = p.create.size() + p.update.size();
    benchmark::DoNotOptimize(p);
  }
  state.counters["nodes"] = static_cast<double>(g_nodes);
  state.counters["planned_changes"] = static_cast<double>(planned);
}

void BM_FirstPlacement(benchmark::State& state) {
  Case c = Base(RolloutStrategy::kImmediate);
  Run(state, c);
}

void BM_Steady(benchmark::State& state) {
  Case c = Base(RolloutStrategy::kImmediate);
  c.job.stable_version = 1;
  c.rollout.phase = "succeeded";
  for (int i = 0; i < g_nodes; ++i) c.observed.executions.push_back(Exec(i, 1, 1, 1));
  Run(state, c);
}

// v1 stable everywhere; v2 rolling in 10% waves; waves 1-3 given and healthy.
Case RollingCase() {
  Case c = Base(RolloutStrategy::kRolling);
  c.job.stable_version = 1;
  c.job.version = 2;
  c.rollout = NewRollout(c.job.spec, 1, 2, "t0");
  c.rollout.rollout_id = 7;
  std::vector<std::string> ids;
  for (int i = 0; i < g_nodes; ++i) ids.push_back(NodeId(i));
  c.rollout.targets = ids;  // any order will do for the cost
  c.rollout.wave_size = g_nodes / 10;
  c.rollout.current_wave = 3;
  for (int i = 0; i < g_nodes; ++i) {
    bool upgraded = i < 3 * c.rollout.wave_size;
    c.observed.executions.push_back(upgraded ? Exec(i, 2, 7, 1 + i / c.rollout.wave_size)
                                             : Exec(i, 1, 1, 1));
  }
  return c;
}

void BM_RollingWave(benchmark::State& state) { Run(state, RollingCase()); }

void BM_Rollback(benchmark::State& state) {
  Case c = RollingCase();
  // the third wave turned unhealthy: over the budget
  for (ExecutionRecord& e : c.observed.executions) {
    if (e.version == 2 && e.wave == 3) e.health = "unhealthy";
  }
  Run(state, c);
}

BENCHMARK(BM_FirstPlacement)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Steady)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_RollingWave)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Rollback)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace drover

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--nodes=", 8) == 0) drover::g_nodes = std::atoi(argv[i] + 8);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
