// Randomised sequences against Decide (issue 4, acceptance 2): nodes join, leave, return and are
// relabelled, agents report every kind of health, specs are updated, operators pause, resume,
// promote and roll back, and the controller restarts (its in-memory timings are lost). After every
// step the invariants of SPEC §1 and §5 must hold:
//   - never two non-terminal executions of one job on one node;
//   - a forward rollout that is still going never has more failed nodes than its budget allows,
//     and never a failed canary before promotion;
//   - every non-terminal phase has a deadline (requeue_after), or says it waits for a human or
//     for nodes, or has just written (the runtime looks again after a write);
//   - the same inputs give the same plan.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "tests/reconcilers/rollout_world.h"

namespace drover {
namespace {

using testing::PipelineSpec;
using testing::World;
using namespace std::chrono_literals;

std::string PlanText(const Plan& p) {
  std::ostringstream out;
  for (const NewExecution& e : p.create) {
    out << "C " << e.node_id << " " << e.version << " " << e.rollout_id << " " << e.attempt << " "
        << e.wave << "\n";
  }
  for (const ExecutionRecord& e : p.update) out << "U " << ExecutionToJson(e).dump() << "\n";
  for (const std::string& id : p.remove) out << "R " << id << "\n";
  if (p.rollout) out << "O " << RolloutRecordToJson(*p.rollout).dump() << "\n";
  if (p.job) out << "J " << JobRecordToJson(*p.job).dump() << "\n";
  for (const EventRecord& e : p.events) out << "E " << e.reason << " " << e.message << "\n";
  if (p.requeue_after) out << "T " << p.requeue_after->count() << "\n";
  out << "W " << static_cast<int>(p.waiting) << "\n";
  return out.str();
}

JobSpec RandomSpec(std::mt19937& rng, JobType type) {
  const RolloutStrategy strategies[] = {RolloutStrategy::kImmediate, RolloutStrategy::kRolling,
                                        RolloutStrategy::kCanary};
  JobSpec s = PipelineSpec(strategies[rng() % 3]);
  s.type = type;
  s.description = "v" + std::to_string(rng());
  s.rollout.max_parallel = 1 + static_cast<int>(rng() % 60);
  s.rollout.max_failed_nodes = static_cast<int>(rng() % 4);
  s.rollout.max_failed_nodes_percent = static_cast<double>(rng() % 40);
  s.rollout.no_auto_rollback = rng() % 4 == 0;
  if (s.rollout.strategy == RolloutStrategy::kCanary) {
    s.rollout.canary_count = 1 + static_cast<int>(rng() % 3);
    s.rollout.auto_promote = rng() % 2 == 0;
  }
  if (rng() % 5 == 0) s.timeouts.queue_timeout = 30;
  if (type != JobType::kPipeline && rng() % 4 == 0) s.timeouts.total_timeout = 600;
  return s;
}

struct Checker {
  std::string where;
  std::vector<std::string> failures;

  void Check(World& w, const Plan& plan) {
    for (const auto& [node, n] : w.ActiveCount()) {
      if (n > 1) failures.push_back(where + ": node " + node + " has " + std::to_string(n));
    }
    const RolloutRecord& r = w.rollout;
    const Rollout& policy = w.job.spec.rollout;
    bool forward = r.phase == kPhaseProgressing || r.phase == kPhasePaused ||
                   r.phase == kPhaseAwaitingPromotion;
    if (forward && w.job.spec.type != JobType::kQuery) {
      bool over = r.failed_nodes > policy.max_failed_nodes ||
                  100.0 * r.failed_nodes > policy.max_failed_nodes_percent * r.target_nodes;
      if (over) failures.push_back(where + ": budget broken in phase " + r.phase);
    }
    // every wave gives at least one node the version: never more waves than such executions
    int given = 0;
    for (const auto& [id, e] : w.executions) {
      given += e.rollout_id == r.rollout_id || e.replaced_for_rollout == r.rollout_id;
    }
    if (!IsTerminalPhase(r.phase) && r.current_wave > given + 1) {
      std::string detail;
      if (getenv("DROVER_DEBUG_RANDOM")) {
        for (const auto& [id, e] : w.executions) detail += "\n  " + ExecutionToJson(e).dump();
        detail += "\n  " + RolloutRecordToJson(r).dump();
        for (const EventRecord& e : w.events) detail += "\n  " + e.reason + " " + e.message;
      }
      failures.push_back(where + ": wave " + std::to_string(r.current_wave) + " with only " +
                         std::to_string(given) + " executions given" + detail);
    }
    if (IsTerminalPhase(r.phase) && plan.waiting == Waiting::kExecutions) {
      failures.push_back(where + ": phase " + r.phase + " still waits for executions");
    }
    if (!IsTerminalPhase(r.phase) && !w.job.stopped() && !plan.requeue_after &&
        plan.waiting == Waiting::kNone && plan.empty()) {
      std::string detail;
      if (getenv("DROVER_DEBUG_RANDOM")) {
        for (const auto& [id, e] : w.executions) detail += "\n  " + ExecutionToJson(e).dump();
        for (const auto& [id, n] : w.nodes)
          detail += "\n  node " + id + " m=" + std::to_string(n.matches) +
                    " c=" + std::to_string(static_cast<int>(n.connection)) +
                    " s=" + std::to_string(n.schedulable);
        detail += "\n  " + RolloutRecordToJson(r).dump() + "\n  " + JobRecordToJson(w.job).dump();
      }
      failures.push_back(where + ": phase " + r.phase + " has no deadline and waits for nobody (" +
                         r.message + ")" + detail);
    }
  }
};

void RunSequence(uint32_t seed, Checker* checker) {
  std::mt19937 rng(seed);
  const JobType types[] = {JobType::kPipeline, JobType::kPipeline, JobType::kUpdate,
                           JobType::kQuery, JobType::kConfig};
  JobType type = types[rng() % 5];
  World w(RandomSpec(rng, type), 3 + static_cast<int>(rng() % 12));
  int next_node = 100;
  for (int step = 0; step < 60; ++step) {
    checker->where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
    std::vector<std::string> ids;
    for (auto& [id, n] : w.nodes) ids.push_back(id);
    const std::string& some = ids[rng() % ids.size()];
    switch (rng() % 16) {
      case 0:
        w.AddNode(World::NodeName(next_node++));
        break;
      case 1:
        w.nodes[some].connection = Connection::kDisconnected;
        break;
      case 2:
        w.nodes[some].connection = Connection::kConnected;
        break;
      case 3:
        w.nodes[some].matches = !w.nodes[some].matches;  // relabel
        break;
      case 4:
        w.nodes[some].connection = Connection::kLost;
        break;
      case 5:
        if (type != JobType::kQuery || IsTerminalPhase(w.rollout.phase)) {
          w.Update(RandomSpec(rng, type));
        }
        break;
      case 6: {
        w.timing.clear();  // controller restart: the monotonic memory is gone
        w.phase_key.clear();
        break;
      }
      case 7: {
        const RolloutControl controls[] = {RolloutControl::kPause, RolloutControl::kResume,
                                           RolloutControl::kPromote, RolloutControl::kRollback};
        Result<RolloutRecord> next = ApplyRolloutControl(
            w.rollout, controls[rng() % 4], std::nullopt, w.job.stable_version, w.Wall());
        if (next.ok()) w.rollout = *next;
        break;
      }
      case 8:
        w.nodes[some].schedulable = !w.nodes[some].schedulable;
        break;
      default: {
        // agents report
        const char* states[] = {"running", "running", "running", "completed", "failed"};
        const char* healths[] = {"healthy", "healthy", "unknown", "unhealthy"};
        for (auto& [id, n] : w.nodes) {
          if (n.connection != Connection::kConnected || rng() % 3 == 0) continue;
          std::string state = states[rng() % 5];
          if (type == JobType::kPipeline || type == JobType::kConfig) {
            if (state == "completed") state = "running";
          }
          w.Report(id, state, healths[rng() % 4], rng() % 8 == 0 ? 3 : 0);
        }
        w.AckStops();
      }
    }
    w.Advance(std::chrono::seconds(rng() % 40));
    // the same inputs give the same plan
    Observed observed = w.MakeObserved();
    Plan a = Decide(w.job, w.rollout, observed, w.now, w.Wall());
    Plan b = Decide(w.job, w.rollout, observed, w.now, w.Wall());
    if (PlanText(a) != PlanText(b)) {
      checker->failures.push_back(checker->where + ": two plans for the same inputs");
    }
    w.Apply(a);
    checker->Check(w, a);
    // a second reconcile in the same instant: the runtime requeues after every write
    Plan again = w.Step();
    checker->Check(w, again);
    if (checker->failures.size() > 20) return;
  }
}

TEST(DecideRandomised, InvariantsHoldOverThousandsOfRandomSequences) {
  Checker checker;
  int sequences = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    RunSequence(seed, &checker);
    ++sequences;
    if (checker.failures.size() > 20) break;
  }
  EXPECT_EQ(sequences, 3000);
  for (size_t i = 0; i < std::min<size_t>(checker.failures.size(), 20); ++i) {
    ADD_FAILURE() << checker.failures[i];
  }
}

// The checker must be able to fail: a world that breaks each invariant is caught.
TEST(DecideRandomised, TheCheckerCatchesBrokenInvariants) {
  World w(PipelineSpec(RolloutStrategy::kRolling), 2);
  Checker checker;
  ExecutionRecord a;
  a.id = "a";
  a.node_id = "n000";
  a.state = "running";
  ExecutionRecord b = a;
  b.id = "b";
  w.executions["a"] = a;
  w.executions["b"] = b;
  w.rollout.failed_nodes = 5;
  w.rollout.target_nodes = 5;
  Plan empty;
  checker.Check(w, empty);
  w.rollout.current_wave = 9;
  checker.Check(w, empty);
  EXPECT_EQ(checker.failures.size(), 7u);
  Checker ended;
  World failed(PipelineSpec(), 1);
  failed.rollout.phase = "failed";
  Plan waits;
  waits.waiting = Waiting::kExecutions;
  ended.Check(failed, waits);
  EXPECT_EQ(ended.failures.size(), 1u);
}

}  // namespace
}  // namespace drover
