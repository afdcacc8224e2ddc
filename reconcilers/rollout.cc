#include "reconcilers/rollout.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <unordered_set>

#include "reconcilers/executions.h"
#include "reconcilers/job_put.h"
#include "reconcilers/waves.h"

namespace drover {
namespace {

using Nanos = std::chrono::nanoseconds;

enum class Verdict { kPending, kHealthy, kFailed };

struct HealthRules {
  bool judged_by_agent = false;  // rolling/canary with a health_check: the agent's verdict counts
  Nanos interval{std::chrono::seconds(10)};
  int failure_threshold = JobDefaults::kFailureThreshold;
  Nanos deadline{kDefaultHealthDeadline};
};

HealthRules RulesFor(const JobSpec& spec) {
  HealthRules rules;
  const Rollout& r = spec.rollout;
  if (r.strategy != RolloutStrategy::kImmediate && r.health_check) {
    rules.judged_by_agent = true;
    rules.interval = Nanos(r.health_check->interval.nanoseconds());
    rules.failure_threshold = r.health_check->failure_threshold;
    rules.deadline = Nanos(r.health_check->deadline.nanoseconds());
  } else if (r.health_check) {
    // immediate ignores the health check but keeps its failure threshold and deadline as bounds
    rules.failure_threshold = r.health_check->failure_threshold;
    rules.deadline = Nanos(r.health_check->deadline.nanoseconds());
  }
  return rules;
}

bool IsOneShot(JobType type) { return type == JobType::kQuery || type == JobType::kUpdate; }

std::string Seconds(Nanos d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

std::string FormatPercent(double p) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g%%", p);
  return buffer;
}

// Decide's working state. Nodes are numbered: 0..N-1 are the observed nodes, N.. the nodes that
// only appear in executions (deleted nodes). Executions are read in place and copied only when
// the plan changes one, so a reconcile of a 100,000-node job that changes nothing copies nothing.
class Decider {
 public:
  Decider(const JobRecord& job, const RolloutRecord& rollout, const Observed& observed,
          MonoTime now, const std::string& wall)
      : job_(job),
        original_job_(job),
        r_(rollout),
        original_rollout_(rollout),
        observed_(observed),
        now_(now),
        wall_(wall),
        rules_(RulesFor(job.spec)),
        one_shot_(IsOneShot(job.spec.type)) {}

  Plan Run() {
    Index();
    if (job_.stopped()) {
      StopEverything();
    } else {
      ApplyExecutionTimeouts();
      if (!IsTerminalPhase(r_.phase) && TotalTimeoutPassed()) {
        FailForTotalTimeout();
      } else if (job_.spec.type == JobType::kQuery) {
        Query();
      } else if (r_.phase == kPhaseRollingBack) {
        RollBack();
      } else if (IsTerminalPhase(r_.phase)) {
        Settled();
      } else {
        Forward();
      }
      Converge();
    }
    CollectGarbage();
    return Finish();
  }

 private:
  // ---- observation ----

  void Index() {
    const std::vector<NodeFacts>& nodes = observed_.nodes;
    const size_t n = nodes.size();
    index_.reserve(n + 16);
    facts_.reserve(n);
    ids_.reserve(n);
    for (const NodeFacts& f : nodes) {
      auto [it, inserted] = index_.emplace(std::string_view(f.id), static_cast<int>(facts_.size()));
      if (!inserted) continue;  // a duplicate: the first one counts
      facts_.push_back(&f);
      ids_.push_back(f.id);
    }
    const std::vector<ExecutionRecord>& execs = observed_.executions;
    exec_node_.resize(execs.size());
    for (size_t i = 0; i < execs.size(); ++i) {
      std::string_view node = execs[i].node_id;
      auto it = index_.find(node);
      if (it == index_.end()) {
        it = index_.emplace(node, static_cast<int>(facts_.size())).first;
        facts_.push_back(nullptr);
        ids_.push_back(node);
      }
      exec_node_[i] = it->second;
    }
    // executions grouped by node (counting sort)
    const size_t m = facts_.size();
    node_begin_.assign(m + 1, 0);
    for (int node : exec_node_) ++node_begin_[static_cast<size_t>(node) + 1];
    for (size_t k = 0; k < m; ++k) node_begin_[k + 1] += node_begin_[k];
    node_execs_.resize(execs.size());
    std::vector<int> fill(node_begin_.begin(), node_begin_.end() - 1);
    for (size_t i = 0; i < execs.size(); ++i) {
      node_execs_[static_cast<size_t>(fill[static_cast<size_t>(exec_node_[i])]++)] =
          static_cast<int>(i);
    }
    want_.assign(m, 0);
    wave_of_.assign(m, -1);
    placed_.assign(m, 0);
    retry_node_.assign(m, 0);
    retry_exec_.assign(execs.size(), 0);
    changed_.assign(execs.size(), 0);
  }

  size_t NodeCount() const { return facts_.size(); }
  int NodeIndex(std::string_view id) const {
    auto it = index_.find(id);
    return it == index_.end() ? -1 : it->second;
  }
  const NodeFacts* Facts(int node) const {
    return node < 0 ? nullptr : facts_[static_cast<size_t>(node)];
  }

  // The executions on a node, as indexes.
  struct ExecRange {
    const int* b;
    const int* e;
    const int* begin() const { return b; }
    const int* end() const { return e; }
  };
  ExecRange On(int node) const {
    if (node < 0) return {nullptr, nullptr};
    const size_t k = static_cast<size_t>(node);
    const int* base = node_execs_.data();
    return {base + node_begin_[k], base + node_begin_[k + 1]};
  }

  const ExecutionRecord& E(int i) const {
    if (!modified_.empty()) {
      auto it = modified_.find(i);
      if (it != modified_.end()) return it->second;
    }
    return observed_.executions[static_cast<size_t>(i)];
  }
  // A copy of execution i that the plan will write.
  ExecutionRecord& Mut(int i) {
    auto it = modified_.find(i);
    if (it == modified_.end()) {
      it = modified_.emplace(i, observed_.executions[static_cast<size_t>(i)]).first;
    }
    changed_[static_cast<size_t>(i)] = 1;
    it->second.updated_at = wall_;
    return it->second;
  }
  int ExecCount() const { return static_cast<int>(observed_.executions.size()); }

  static bool Connected(const NodeFacts* n) {
    return n != nullptr && n->connection == Connection::kConnected;
  }
  static bool Eligible(const NodeFacts* n) { return n != nullptr && n->matches && !n->draining; }

  bool HasActive(int node) const {
    for (int i : On(node)) {
      if (IsActive(E(i)) && E(i).desired_state == "running") return true;
    }
    return false;
  }

  // True when the node runs the job, or ran it until the controller stopped it to be replaced.
  bool RunsJob(int node) const {
    for (int i : On(node)) {
      const ExecutionRecord& e = E(i);
      if (IsActive(e) || (e.desired_state == "stopped" && e.state == "stopped")) return true;
    }
    return false;
  }

  // A node that may be given an execution now: new placements need a connected, schedulable
  // node; a cordoned node that already runs the job is still updated and rolled back.
  bool Placeable(int node) const {
    const NodeFacts* f = Facts(node);
    if (!Eligible(f) || !Connected(f)) return false;
    return f->schedulable || RunsJob(node);
  }

  const ExecutionTiming* TimingOf(int i) const {
    const size_t k = static_cast<size_t>(i);
    return k < observed_.timing.size() ? &observed_.timing[k] : nullptr;
  }
  MonoTime FirstSeen(int i) const {
    const ExecutionTiming* t = TimingOf(i);
    return t && t->first_seen != MonoTime{} ? t->first_seen : now_;
  }

  void Deadline(MonoTime at) {
    if (at > now_ && (!next_deadline_ || at < *next_deadline_)) next_deadline_ = at;
  }

  void Event(std::string reason, std::string message, std::string type = "normal") {
    EventRecord e;
    e.time = wall_;
    e.type = std::move(type);
    e.reason = std::move(reason);
    e.message = std::move(message);
    plan_.events.push_back(std::move(e));
  }

  void Mark(int i, std::string state, std::string message) {
    ExecutionRecord& e = Mut(i);
    e.state = std::move(state);
    e.desired_state = "stopped";
    e.message = std::move(message);
  }

  // The verdict on one execution of the rollout's target version (SPEC §5 "Failed nodes").
  Verdict Judge(int i, std::string* why) {
    const ExecutionRecord& e = E(i);
    if (e.state == "failed") {
      *why = e.message.empty() ? "failed" : e.message;
      return Verdict::kFailed;
    }
    if (e.state == "stopped") {
      *why = "stopped on the node";
      return e.desired_state == "stopped" ? Verdict::kPending : Verdict::kFailed;
    }
    if (e.state == "completed") return Verdict::kHealthy;
    if (e.restarts >= rules_.failure_threshold) {
      *why = "restarted " + std::to_string(e.restarts) + " times";
      return Verdict::kFailed;
    }
    if (one_shot_) {
      // done when it completes; the timeouts bound it when set
      if (job_.spec.timeouts.execution_timeout == 0 && job_.spec.timeouts.total_timeout == 0)
        waiting_on_executions_ = true;
      return Verdict::kPending;
    }
    const ExecutionTiming* t = TimingOf(i);
    const bool started = t != nullptr && t->started.has_value();
    const MonoTime base = started ? *t->started : FirstSeen(i);
    if (rules_.judged_by_agent) {
      if (e.health == "unhealthy") {
        *why = "reported unhealthy";
        return Verdict::kFailed;
      }
      if (e.health == "healthy" || !e.stable_at.empty()) return Verdict::kHealthy;
    } else if (started && e.state == "running") {
      // immediate: one health interval running without a restart
      if (now_ - *t->started >= rules_.interval) return Verdict::kHealthy;
      Deadline(*t->started + rules_.interval);
    }
    if (now_ - base > rules_.deadline) {
      *why = "not healthy within the deadline of " + Seconds(rules_.deadline);
      return Verdict::kFailed;
    }
    Deadline(base + rules_.deadline + Nanos(1));
    return Verdict::kPending;
  }

  // ---- timeouts (SPEC §7) ----

  void ApplyExecutionTimeouts() {
    const Timeouts& to = job_.spec.timeouts;
    int64_t execution_timeout = to.execution_timeout;
    if (one_shot_ && execution_timeout == 0) execution_timeout = to.total_timeout;
    if (to.queue_timeout <= 0 && execution_timeout <= 0) return;
    for (int i = 0; i < ExecCount(); ++i) {
      const ExecutionRecord& e = E(i);
      if (!IsActive(e) || e.desired_state != "running") continue;
      const ExecutionTiming* t = TimingOf(i);
      if (to.queue_timeout > 0 && e.state == "pending") {
        MonoTime limit = FirstSeen(i) + std::chrono::seconds(to.queue_timeout);
        if (now_ >= limit) {
          Mark(i, "failed",
               "queue_timeout: not started within " + std::to_string(to.queue_timeout) + "s");
          continue;
        }
        Deadline(limit);
      }
      if (execution_timeout > 0 && t && t->started) {
        MonoTime limit =
            *t->started + std::chrono::seconds(execution_timeout) + kExecutionTimeoutGrace;
        if (now_ >= limit) {
          Mark(i, "failed",
               "execution_timeout: ran longer than " + std::to_string(execution_timeout) + "s");
          continue;
        }
        Deadline(limit);
      }
    }
  }

  bool TotalTimeoutPassed() {
    if (!one_shot_ || job_.spec.timeouts.total_timeout <= 0) return false;
    if (r_.phase != kPhaseProgressing && r_.phase != kPhasePaused) return false;
    MonoTime limit = observed_.phase_since + std::chrono::seconds(job_.spec.timeouts.total_timeout);
    if (now_ >= limit) return true;
    Deadline(limit);
    return false;
  }

  void FailForTotalTimeout() {
    for (int i = 0; i < ExecCount(); ++i) {
      if (IsActive(E(i)) && E(i).desired_state == "running") {
        Mark(i, "failed",
             "total_timeout: not done within " + std::to_string(job_.spec.timeouts.total_timeout) +
                 "s");
      }
    }
    EndRollout(kPhaseFailed, "total_timeout of " +
                                 std::to_string(job_.spec.timeouts.total_timeout) +
                                 "s passed before every node finished");
    Event("TimedOut", r_.message, "warning");
    job_.state = std::string(kJobFailed);
    job_.failed_version = r_.to_version;
  }

  // ---- the rollout's target set ----

  // T0 at the start: connected, schedulable, matching nodes (and cordoned ones that already run
  // the job: cordon blocks new placements only) in the order of waves.h's OrderTargets (hash of
  // job id and node id, ties by id), nodes whose current execution of the job has failed first
  // (so a fix-forward repairs them first). Node indexes; StartTargets records the ids.
  std::vector<int> InitialTargets() const {
    std::vector<std::pair<uint64_t, int>> keyed;
    keyed.reserve(NodeCount());
    for (size_t k = 0; k < NodeCount(); ++k) {
      const int node = static_cast<int>(k);
      if (Placeable(node)) keyed.emplace_back(TargetOrderKey(job_.id, ids_[k]), node);
    }
    std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      return ids_[static_cast<size_t>(a.second)] < ids_[static_cast<size_t>(b.second)];
    });
    std::vector<int> ordered;
    ordered.reserve(keyed.size());
    for (const auto& [key, node] : keyed) ordered.push_back(node);
    std::stable_partition(ordered.begin(), ordered.end(), [&](int node) {
      for (int i : On(node)) {
        const ExecutionRecord& e = E(i);
        if (e.desired_state == "running" && (e.state == "failed" || e.health == "unhealthy"))
          return true;
      }
      return false;
    });
    return ordered;
  }

  void StartTargets(const std::vector<int>& targets) {
    r_.targets.clear();
    r_.targets.reserve(targets.size());
    for (int node : targets) r_.targets.emplace_back(ids_[static_cast<size_t>(node)]);
    const size_t n = r_.targets.size();
    r_.wave_size = static_cast<int>(WaveSize(policy().max_parallel, n));
    r_.canary_nodes.clear();
    if (policy().strategy == RolloutStrategy::kCanary && !r_.promoted) {
      size_t c = CanarySize(policy().canary_count, policy().canary_percent, n);
      r_.canary_nodes.assign(r_.targets.begin(), r_.targets.begin() + static_cast<long>(c));
    }
    if (policy().strategy == RolloutStrategy::kImmediate) r_.wave_size = static_cast<int>(n);
  }

  // T: T0 less the nodes that left the selector, were deleted or are draining (node indexes).
  std::vector<int> LiveTargets() const {
    std::vector<int> live;
    live.reserve(r_.targets.size());
    for (const std::string& id : r_.targets) {
      int node = NodeIndex(id);
      if (Eligible(Facts(node))) live.push_back(node);
    }
    return live;
  }

  // The node's execution of the rollout's target version in this rollout (latest attempt), or -1.
  int TargetExecution(int node) const {
    int best = -1;
    for (int i : On(node)) {
      const ExecutionRecord& e = E(i);
      if (e.version != r_.to_version || e.rollout_id != r_.rollout_id) continue;
      if (e.desired_state == "stopped" && e.state == "stopped") continue;  // a drain's stop
      if (best < 0) {
        best = i;
        continue;
      }
      const ExecutionRecord& b = E(best);
      if (e.attempt > b.attempt || (e.attempt == b.attempt && IsActive(e) && !IsActive(b))) {
        best = i;
      }
    }
    return best;
  }

  // An execution on the node that the controller stopped to make room for this rollout's
  // target version (the replacement is created once the stop completes), or -1.
  int ReplacedFor(int node) const {
    for (int i : On(node)) {
      const ExecutionRecord& e = E(i);
      if (e.replaced_for_rollout == r_.rollout_id && e.replaced_for_version == r_.to_version &&
          e.desired_state == "stopped")
        return i;
    }
    return -1;
  }

  // ---- forward rollouts: progressing, paused, awaiting_promotion, halted ----

  struct NodeState {
    int node = -1;
    bool given = false;
    bool connected = false;
    bool placeable = false;
    bool canary = false;
    Verdict verdict = Verdict::kPending;
  };

  bool Placed(const NodeState& s) const { return placed_[static_cast<size_t>(s.node)] != 0; }

  void Forward() {
    const RolloutStrategy strategy = policy().strategy;
    std::vector<int> live = r_.wave_size > 0 ? LiveTargets() : std::vector<int>{};
    if (live.empty()) {
      if (r_.phase != kPhaseProgressing) {
        // paused (or halted) before any node matched: a human's move comes first
        plan_.waiting = Waiting::kHuman;
        PlaceStableElsewhere({});
        return;
      }
      live = InitialTargets();
      if (live.empty()) {
        WaitForNodes();
        return;
      }
      StartTargets(live);
    }
    std::unordered_set<int> canaries;
    for (const std::string& id : r_.canary_nodes) canaries.insert(NodeIndex(id));

    std::vector<NodeState> states;
    states.reserve(live.size());
    int given = 0, healthy = 0, failed = 0, skipped = 0;
    bool canary_failed = false;
    for (int node : live) {
      NodeState s;
      s.node = node;
      const NodeFacts* facts = Facts(node);
      s.connected = Connected(facts);
      s.placeable = Placeable(node);
      s.canary = !canaries.empty() && canaries.count(node) > 0;
      const int target = TargetExecution(node);
      if (target >= 0) {
        std::string why;
        s.verdict = Judge(target, &why);
        if (s.verdict == Verdict::kFailed && E(target).attempt < r_.attempt) {
          // resumed after a halt: this failed node is given the target again
          retry_exec_[static_cast<size_t>(target)] = 1;
          retry_node_[static_cast<size_t>(node)] = 1;
          s.verdict = Verdict::kPending;
        }
        s.given = true;
        ++given;
        if (s.verdict == Verdict::kHealthy) ++healthy;
        if (s.verdict == Verdict::kFailed) {
          ++failed;
          if (s.canary && !r_.promoted) canary_failed = true;
          if (first_failure_.empty()) first_failure_ = std::string(ids_[node]) + ": " + why;
        }
      } else if (int old = ReplacedFor(node); old >= 0) {
        // its old execution is being stopped to make room for the target: given, pending
        s.given = true;
        ++given;
        wave_of_[static_cast<size_t>(node)] = E(old).replaced_for_wave;
      } else if (!s.connected) {
        ++skipped;
      }
      states.push_back(s);
    }

    const bool over_budget =
        failed > policy().max_failed_nodes ||
        100.0 * failed > policy().max_failed_nodes_percent * static_cast<double>(live.size());
    if (canary_failed || over_budget) {
      SetCounters(live.size(), given, healthy, failed, skipped);
      std::string why = canary_failed
                            ? "a canary failed (" + first_failure_ + ")"
                            : std::to_string(failed) + " of " + std::to_string(live.size()) +
                                  " nodes failed, over the budget of " +
                                  std::to_string(policy().max_failed_nodes) + " nodes / " +
                                  FormatPercent(policy().max_failed_nodes_percent) +
                                  " (first: " + first_failure_ + ")";
      if (r_.phase != kPhaseHalted) {
        Halt(canary_failed ? "canary" : "failure_budget", why);
        if (r_.phase == kPhaseRollingBack) {
          RollBack();
          return;
        }
      }
      KeepGiven(states);
      if (r_.phase == kPhaseFailed) {
        std::fill(want_.begin(), want_.end(), 0);  // a failed create: its executions are stopped
      } else {
        plan_.waiting = Waiting::kHuman;
        PlaceStableElsewhere(states);
      }
      return;
    }

    if (r_.phase == kPhaseProgressing) Advance(strategy, states);
    KeepGiven(states);

    // Success: nothing left to give, every given node conclusive, at least one healthy.
    int pending = 0, remaining = 0;
    given = healthy = failed = skipped = 0;
    for (const NodeState& s : states) {
      const bool placed = Placed(s);
      if (!s.given && !placed) {
        if (s.placeable) ++remaining;
        if (!s.connected) ++skipped;
        continue;
      }
      ++given;
      if (placed || s.verdict == Verdict::kPending) ++pending;
      if (s.verdict == Verdict::kHealthy && !placed) ++healthy;
      if (s.verdict == Verdict::kFailed) ++failed;
    }
    SetCounters(live.size(), given, healthy, failed, skipped);
    const bool canary_done = strategy != RolloutStrategy::kCanary || r_.promoted;
    if (r_.phase == kPhaseProgressing && canary_done && remaining == 0 && pending == 0 &&
        healthy > 0) {
      Succeed(failed);
      return;
    }
    if (r_.phase == kPhasePaused || r_.phase == kPhaseAwaitingPromotion ||
        r_.phase == kPhaseHalted) {
      plan_.waiting = Waiting::kHuman;
    } else if (pending == 0 && remaining == 0 && healthy == 0) {
      plan_.waiting = Waiting::kNodes;  // every target offline before it was given the version
      if (r_.message.find("waiting") == std::string::npos)
        r_.message = "waiting: every target node is offline";
    }
    PlaceStableElsewhere(states);
  }

  void WaitForNodes() {
    plan_.waiting = Waiting::kNodes;
    r_.message = "waiting for a connected, schedulable node that matches the selector";
    if (job_.state != kJobQueued) {
      Event("NoMatchingNodes", "no connected node matches the selector yet; the rollout waits",
            "warning");
    }
    job_.state = std::string(kJobQueued);
    job_.message = r_.message;
    PlaceStableElsewhere({});
  }

  void Give(NodeState& s, int wave) {
    const size_t k = static_cast<size_t>(s.node);
    want_[k] = r_.to_version;
    wave_of_[k] = wave;
    placed_[k] = 1;
  }

  void Advance(RolloutStrategy strategy, std::vector<NodeState>& states) {
    auto conclusive = [&](bool canaries_only) {
      for (const NodeState& s : states) {
        if (canaries_only && !s.canary) continue;
        if (s.given && s.verdict == Verdict::kPending) return false;
      }
      return true;
    };
    // retried nodes (resume after a halt) get the version again at once
    for (NodeState& s : states) {
      if (retry_node_[static_cast<size_t>(s.node)]) {
        int e = TargetExecution(s.node);
        Give(s, e >= 0 ? E(e).wave : r_.current_wave);
      }
    }
    if (strategy == RolloutStrategy::kImmediate) {
      int count = 0;
      for (NodeState& s : states) {
        if (!s.given && s.placeable) {
          Give(s, 1);
          ++count;
        }
      }
      if (r_.current_wave == 0 && count > 0) {
        r_.current_wave = 1;
        r_.total_waves = 1;
        ++plan_.waves_started;
        Event("WaveStarted", "wave 1/1 started on " + std::to_string(count) + " nodes (immediate)");
      }
      r_.message = "updating every target node at once";
      return;
    }
    if (strategy == RolloutStrategy::kCanary && !r_.promoted) {
      if (!AdvanceCanary(states, conclusive(true))) return;
    }
    // rolling, and canary after promotion: waves of W over what is left
    if (!conclusive(false)) {
      r_.message = "wave " + std::to_string(r_.current_wave) + "/" +
                   std::to_string(r_.total_waves) + " in progress";
      return;
    }
    const size_t wave_size = static_cast<size_t>(std::max(1, r_.wave_size));
    std::vector<NodeState*> next;
    for (NodeState& s : states) {
      if (next.size() == wave_size) break;
      if (!s.given && !Placed(s) && s.placeable) next.push_back(&s);
    }
    if (next.empty()) return;
    ++r_.current_wave;
    for (NodeState* s : next) Give(*s, r_.current_wave);
    ++plan_.waves_started;
    r_.total_waves = r_.current_wave + WavesLeft(states);
    Event("WaveStarted", "wave " + std::to_string(r_.current_wave) + "/" +
                             std::to_string(r_.total_waves) + " started on " +
                             std::to_string(next.size()) + " nodes");
    r_.message = "wave " + std::to_string(r_.current_wave) + "/" + std::to_string(r_.total_waves) +
                 " in progress";
  }

  // The canary wave; true when the canaries are promoted and the waves may go on.
  bool AdvanceCanary(std::vector<NodeState>& states, bool canaries_conclusive) {
    bool any_canary = false;
    for (const NodeState& s : states) {
      any_canary = any_canary || (s.canary && (s.given || s.connected));
    }
    if (!any_canary) {
      // every canary left the target set (relabelled, drained, deleted) or was offline before
      // it got the version: pick new ones among the nodes that can take it now
      const size_t c = CanarySize(policy().canary_count, policy().canary_percent, states.size());
      std::vector<int> picked;
      for (const NodeState& s : states) {
        if (picked.size() == c) break;
        if (s.placeable || s.given) picked.push_back(s.node);
      }
      if (picked.empty()) {
        plan_.waiting = Waiting::kNodes;
        r_.message = "waiting for a connected node to be the canary";
        return false;
      }
      r_.canary_nodes.clear();
      for (int node : picked) r_.canary_nodes.emplace_back(ids_[static_cast<size_t>(node)]);
      for (NodeState& s : states) {
        s.canary = std::find(picked.begin(), picked.end(), s.node) != picked.end();
      }
      Event("CanariesReplaced", "the canary nodes left the target set or were offline; " +
                                    std::to_string(picked.size()) + " new canaries");
    }
    int count = 0, canary_total = 0, canary_given = 0;
    for (NodeState& s : states) {
      if (!s.canary) continue;
      ++canary_total;
      if (s.given) ++canary_given;
      if (!s.given && s.placeable) {
        Give(s, 1);
        ++count;
      }
    }
    if (count > 0 && r_.current_wave == 0) {
      r_.current_wave = 1;
      ++plan_.waves_started;
      Event("CanaryStarted", "canary wave started on " + std::to_string(count) + " of " +
                                 std::to_string(canary_total) + " canary nodes");
    }
    r_.total_waves = 1 + WavesLeft(states);
    if (count > 0 || canary_given == 0 || !canaries_conclusive) {
      r_.message = "canary wave: " + std::to_string(canary_given + count) + " of " +
                   std::to_string(canary_total) + " canaries updating";
      return false;
    }
    // every given canary is healthy (a failed one would have halted)
    if (!policy().auto_promote) {
      if (r_.phase != kPhaseAwaitingPromotion) {
        Event("AwaitingPromotion", "all " + std::to_string(canary_given) +
                                       " canaries are healthy; waiting for promotion");
      }
      r_.phase = std::string(kPhaseAwaitingPromotion);
      r_.message = "canaries healthy; waiting for POST .../rollout/promote";
      return false;
    }
    r_.promoted = true;
    Event("CanaryPromoted",
          "all " + std::to_string(canary_given) + " canaries are healthy; promoted automatically");
    return true;
  }

  // Waves still needed for the targets not yet given the version.
  int WavesLeft(const std::vector<NodeState>& states) const {
    size_t left = 0;
    for (const NodeState& s : states) {
      if (!s.given && !Placed(s) && !s.canary) ++left;
    }
    const size_t w = static_cast<size_t>(std::max(1, r_.wave_size));
    return static_cast<int>((left + w - 1) / w);
  }

  const Rollout& policy() const { return job_.spec.rollout; }

  // Given nodes keep the target version (failed ones too: they are not re-created, and a
  // rollback or a new rollout moves them on).
  void KeepGiven(const std::vector<NodeState>& states) {
    for (const NodeState& s : states) {
      const size_t k = static_cast<size_t>(s.node);
      if (s.given && want_[k] == 0) want_[k] = r_.to_version;
    }
  }

  // Every other eligible node runs the stable version, or nothing when there is none.
  void PlaceStableElsewhere(const std::vector<NodeState>& states) {
    if (!job_.stable_version) return;
    std::vector<char> in_rollout(NodeCount(), 0);
    for (const NodeState& s : states) {
      if (s.given || Placed(s)) in_rollout[static_cast<size_t>(s.node)] = 1;
    }
    for (size_t k = 0; k < NodeCount(); ++k) {
      if (in_rollout[k] || want_[k] != 0) continue;
      const int node = static_cast<int>(k);
      if (Placeable(node) || (Eligible(Facts(node)) && HasActive(node))) {
        want_[k] = *job_.stable_version;
      }
    }
  }

  void SetCounters(size_t targets, int given, int healthy, int failed, int skipped) {
    r_.target_nodes = static_cast<int>(targets);
    r_.updated_nodes = given;
    r_.healthy_nodes = healthy;
    r_.failed_nodes = failed;
    r_.skipped_nodes = skipped;
  }

  void Halt(const std::string& reason, const std::string& why) {
    job_.failed_version = r_.to_version;
    Event("Halted", "rollout to version " + std::to_string(r_.to_version) + " halted: " + why,
          "warning");
    if (policy().no_auto_rollback) {
      r_.phase = std::string(kPhaseHalted);
      r_.message = "halted: " + why + "; no_auto_rollback is set: resume or roll back by hand";
      plan_.waiting = Waiting::kHuman;
      return;
    }
    const std::optional<int> stable = job_.stable_version;
    if (!stable) {
      EndRollout(kPhaseFailed, "failed: " + why + "; there is no stable version to roll back to");
      Event("RolloutFailed", r_.message, "warning");
      job_.state = std::string(kJobRolloutFailed);
      return;
    }
    r_.phase = std::string(kPhaseRollingBack);
    r_.from_version = r_.to_version;
    r_.to_version = *stable;
    r_.rollback_reason = reason;
    r_.message = "rolling back to version " + std::to_string(*stable) + ": " + why;
    plan_.rollbacks.push_back(reason);
    Event("RollbackStarted", r_.message, "warning");
    rollback_started_now_ = true;
  }

  void EndRollout(std::string_view phase, std::string message) {
    r_.phase = std::string(phase);
    r_.completed_at = wall_;
    r_.message = std::move(message);
    r_.paused_from.clear();
  }

  void Succeed(int failed) {
    EndRollout(
        kPhaseSucceeded,
        "version " + std::to_string(r_.to_version) + " is rolled out to " +
            std::to_string(r_.healthy_nodes) + " nodes" +
            (failed > 0 ? " (" + std::to_string(failed) + " failed within the budget)" : ""));
    job_.stable_version = r_.to_version;
    job_.failed_version.reset();
    Event("RolloutSucceeded", r_.message);
    Settled();
  }

  // ---- rolling back (SPEC §5 "Rollback"): every node that got the failed version goes back
  // to the target at once, no waves ----

  void RollBack() {
    const int target = r_.to_version;
    const int failed_version = r_.from_version.value_or(0);
    for (size_t k = 0; k < NodeCount(); ++k) {
      const int node = static_cast<int>(k);
      if (!Eligible(Facts(node))) continue;
      bool holds_failed = false;
      for (int i : On(node)) {
        if (E(i).version == failed_version && IsActive(E(i))) holds_failed = true;
      }
      if (holds_failed || Placeable(node) || HasActive(node)) want_[k] = target;
    }
    if (rollback_started_now_) return;  // give the stops a round trip first
    // Done when no connected node still runs the failed version and every connected wanted
    // node has started the target — or the deadline passed (a rollback is never rolled back).
    bool done = true;
    std::string waiting_on;
    for (size_t k = 0; k < NodeCount(); ++k) {
      if (want_[k] == 0) continue;
      const int node = static_cast<int>(k);
      if (!Connected(Facts(node))) continue;
      bool started_target = false;
      for (int i : On(node)) {
        const ExecutionRecord& e = E(i);
        if (e.version == failed_version && IsActive(e)) done = false;
        if (e.version == want_[k] && e.desired_state == "running" && e.state != "pending") {
          started_target = true;
        }
      }
      if (!started_target) {
        done = false;
        if (waiting_on.empty()) waiting_on = std::string(ids_[k]);
      }
    }
    const MonoTime limit = observed_.phase_since + rules_.deadline;
    if (!done && now_ < limit) {
      Deadline(limit);
      r_.message = "rolling back to version " + std::to_string(target) +
                   (waiting_on.empty() ? "" : " (waiting for " + waiting_on + ")");
      return;
    }
    const bool failing = StableFailing(target);
    std::string reason = r_.rollback_reason == "operator" ? "by an operator" : r_.rollback_reason;
    EndRollout(kPhaseRolledBack,
               "rolled back to version " + std::to_string(target) + " from version " +
                   std::to_string(failed_version) + " (" + reason + ")" +
                   (done ? "" : "; some nodes did not confirm before the deadline"));
    job_.stable_version = target;
    if (failed_version > 0) job_.failed_version = failed_version;
    Event("RolledBack", r_.message, done ? "normal" : "warning");
    job_.state = std::string(failing ? kJobDegraded : kJobRolloutFailed);
  }

  // True when an active execution of `version` on an eligible node has failed or is unhealthy.
  bool StableFailing(int version) const {
    for (int i = 0; i < ExecCount(); ++i) {
      const ExecutionRecord& e = E(i);
      if (e.version != version || e.desired_state != "running") continue;
      if (e.state != "failed" && !(IsActive(e) && e.health == "unhealthy")) continue;
      if (Eligible(Facts(exec_node_[static_cast<size_t>(i)]))) return true;
    }
    return false;
  }

  // ---- after the rollout: the stable version follows the fleet ----

  void Settled() {
    const std::optional<int> stable = job_.stable_version;
    if (stable) {
      for (size_t k = 0; k < NodeCount(); ++k) {
        const int node = static_cast<int>(k);
        if (Placeable(node) || (Eligible(Facts(node)) && HasActive(node))) want_[k] = *stable;
      }
    }
    std::string_view state;
    if (r_.phase == kPhaseSucceeded) {
      state = one_shot_ ? kJobCompleted : kJobRunning;
      if (!one_shot_ && stable && StableFailing(*stable)) state = kJobDegraded;
    } else if (r_.phase == kPhaseRolledBack) {
      state = stable && StableFailing(*stable) ? kJobDegraded : kJobRolloutFailed;
    } else if (r_.phase == kPhaseFailed) {
      state = kJobRolloutFailed;
    } else {
      state = job_.state;
    }
    if (state == kJobDegraded && job_.state != kJobDegraded) {
      Event("Degraded",
            "executions of stable version " + std::to_string(stable.value_or(0)) +
                " are failing after the rollout; roll back by hand with to_version "
                "if needed",
            "warning");
    } else if (state != kJobDegraded && job_.state == kJobDegraded) {
      Event("Recovered", "every execution of the stable version is healthy again");
    }
    job_.state = std::string(state);
  }

  // ---- queries: every node matching when first placed, once ----

  void Query() {
    if (IsTerminalPhase(r_.phase)) {
      for (int i = 0; i < ExecCount(); ++i) {
        const ExecutionRecord& e = E(i);
        if (IsActive(e) && e.desired_state == "running" && e.version == r_.to_version)
          want_[static_cast<size_t>(exec_node_[static_cast<size_t>(i)])] = e.version;
      }
      return;
    }
    if (r_.wave_size == 0) {
      std::vector<int> targets = InitialTargets();
      if (targets.empty()) {
        const int64_t wait = job_.spec.timeouts.queue_timeout;
        const MonoTime limit = observed_.phase_since + std::chrono::seconds(wait);
        if (wait > 0 && now_ < limit) {
          Deadline(limit);
          WaitForNodes();
          return;
        }
        EndRollout(kPhaseFailed, "no node matches the query's selector");
        Event("NoMatchingNodes", r_.message, "warning");
        job_.state = std::string(kJobFailed);
        job_.message = r_.message;
        return;
      }
      StartTargets(targets);
      r_.wave_size = static_cast<int>(r_.targets.size());
      r_.canary_nodes.clear();
      r_.current_wave = 1;
      r_.total_waves = 1;
      ++plan_.waves_started;
      Event("WaveStarted", "query started on " + std::to_string(r_.targets.size()) + " nodes");
    }
    int completed = 0, failed = 0, running = 0;
    for (const std::string& id : r_.targets) {
      const int node = NodeIndex(id);
      const NodeFacts* facts = Facts(node);
      const int e = TargetExecution(node);
      const bool active = e < 0 || IsActive(E(e));
      if (facts == nullptr || facts->connection == Connection::kLost) {
        // a deleted or lost node will not answer: its part of the query has failed
        if (active) {
          ++failed;
          continue;
        }
      }
      want_[static_cast<size_t>(node)] = r_.to_version;
      wave_of_[static_cast<size_t>(node)] = 1;
      if (active) {
        ++running;
        if (job_.spec.timeouts.execution_timeout == 0 && job_.spec.timeouts.total_timeout == 0)
          waiting_on_executions_ = true;
      } else if (E(e).state == "completed") {
        ++completed;
      } else {
        ++failed;
      }
    }
    SetCounters(r_.targets.size(), completed + failed + running, completed, failed, 0);
    if (running > 0) {
      r_.message = std::to_string(completed + failed) + " of " + std::to_string(r_.targets.size()) +
                   " nodes done";
      job_.state = std::string(kJobDeploying);
      return;
    }
    if (failed == 0) {
      EndRollout(kPhaseSucceeded, "query completed on " + std::to_string(completed) + " nodes");
      job_.stable_version = r_.to_version;
      job_.state = std::string(kJobCompleted);
      Event("QueryCompleted", r_.message);
    } else {
      EndRollout(kPhaseFailed, "query failed on " + std::to_string(failed) + " of " +
                                   std::to_string(r_.targets.size()) + " nodes");
      job_.state = std::string(kJobFailed);
      job_.failed_version = r_.to_version;
      Event("QueryFailed", r_.message, "warning");
    }
  }

  // ---- a stopped job ----

  void StopEverything() {
    for (int i = 0; i < ExecCount(); ++i) {
      const ExecutionRecord& e = E(i);
      if (!IsActive(e) || e.desired_state == "stopped") continue;
      Mut(i).desired_state = "stopped";
    }
    StopOnDeletedNodes();
  }

  // Executions on nodes that were deleted will never be reported again: they are stopped.
  void StopOnDeletedNodes() {
    for (int i = 0; i < ExecCount(); ++i) {
      if (!IsActive(E(i)) || Facts(exec_node_[static_cast<size_t>(i)]) != nullptr) continue;
      ExecutionRecord& e = Mut(i);
      e.desired_state = "stopped";
      e.state = "stopped";
      e.message = "node " + e.node_id + " was deleted";
    }
  }

  // ---- convergence: the executions that `want_` implies ----

  // True when the node must not get a new execution of `version`: it already ran it to
  // completion (one-shot types run once per node per version), or it failed in this rollout's
  // current attempt (the agent's restart policy has had its turn; a new version or a resume
  // moves it on).
  bool Blocked(int node, int version) const {
    const bool target = version == r_.to_version;
    for (int i : On(node)) {
      const ExecutionRecord& e = E(i);
      if (e.version != version || IsActive(e)) continue;
      if (e.state == "completed") {
        if (!target || e.rollout_id == r_.rollout_id || !one_shot_) return true;
      } else if (e.state == "failed") {
        if (!target) return true;
        if (e.rollout_id == r_.rollout_id && e.attempt >= r_.attempt) return true;
      }
    }
    return false;
  }

  void Converge() {
    const bool forward = r_.phase != kPhaseRollingBack;
    std::vector<int> order;
    for (size_t k = 0; k < NodeCount(); ++k) {
      const int node = static_cast<int>(k);
      const int wanted = want_[k];
      bool kept = false, stopping = false;
      ExecRange on = On(node);
      if (on.begin() != on.end()) {
        // newest first, so that if two were ever active the newest is the one kept
        order.assign(on.begin(), on.end());
        if (order.size() > 1) {
          std::sort(order.begin(), order.end(), [&](int a, int b) {
            if (E(a).attempt != E(b).attempt) return E(a).attempt > E(b).attempt;
            return E(a).created_at > E(b).created_at;
          });
        }
        const NodeFacts* facts = Facts(node);
        for (int i : order) {
          const ExecutionRecord& e = E(i);
          if (!IsActive(e)) continue;
          if (e.desired_state == "stopped" && facts != nullptr &&
              facts->connection == Connection::kLost) {
            // a lost node will not confirm the stop; its executions count as gone
            ExecutionRecord& m = Mut(i);
            m.state = "stopped";
            m.message = "node " + m.node_id + " was lost before it confirmed the stop";
            continue;
          }
          if (e.desired_state == "stopped") {
            stopping = true;
            // already stopping (for an older rollout, or by a drain): this rollout's wave now
            // waits on that stop, so the node counts as given in it
            const int wave = wave_of_[k];
            if (wanted != 0 && wanted == r_.to_version && forward && wave >= 0 &&
                (e.replaced_for_rollout != r_.rollout_id ||
                 e.replaced_for_version != r_.to_version)) {
              ExecutionRecord& m = Mut(i);
              m.replaced_for_rollout = r_.rollout_id;
              m.replaced_for_version = r_.to_version;
              m.replaced_for_wave = wave;
            }
            continue;
          }
          const bool keep =
              wanted != 0 && wanted == e.version && !kept && !retry_exec_[static_cast<size_t>(i)];
          if (keep) {
            kept = true;
            continue;
          }
          ExecutionRecord& m = Mut(i);
          m.desired_state = "stopped";
          if (wanted != 0 && wanted == r_.to_version && forward) {
            m.replaced_for_rollout = r_.rollout_id;
            m.replaced_for_version = r_.to_version;
            m.replaced_for_wave = std::max(0, wave_of_[k]);
          }
          stopping = true;
        }
      }
      if (wanted == 0 || kept) continue;
      if (stopping) {
        // the replacement waits until the agent confirms the stop; look again within an interval
        Deadline(now_ + rules_.interval);
        continue;
      }
      if (Blocked(node, wanted)) continue;
      ExecutionRecord e;
      e.job_id = job_.id;
      e.namespace_ = job_.spec.namespace_;
      e.name = job_.spec.name;
      e.node_id = std::string(ids_[k]);
      e.version = wanted;
      e.created_at = wall_;
      e.updated_at = wall_;
      const bool for_rollout = wanted == r_.to_version;
      e.rollout_id = for_rollout ? r_.rollout_id : 0;
      e.attempt = for_rollout ? r_.attempt : 0;
      e.wave = for_rollout ? std::max(0, wave_of_[k]) : 0;
      plan_.create.push_back(std::move(e));
    }
    StopOnDeletedNodes();
  }

  // Terminal executions that nothing needs any more: those of versions that are neither the
  // rollout's, nor stable; and the controller's finished stops once the rollout has ended.
  void CollectGarbage() {
    if (job_.spec.type == JobType::kQuery) return;  // results stay with their executions
    std::set<int> live_versions = {r_.to_version, job_.version};
    if (r_.from_version) live_versions.insert(*r_.from_version);
    if (job_.stable_version) live_versions.insert(*job_.stable_version);
    const bool ended = IsTerminalPhase(r_.phase) || job_.stopped();
    for (int i = 0; i < ExecCount(); ++i) {
      const ExecutionRecord& e = E(i);
      if (IsActive(e) || changed_[static_cast<size_t>(i)]) continue;
      const bool old_version = !live_versions.count(e.version);
      const bool finished_stop = ended && e.desired_state == "stopped" && e.state == "stopped";
      if (old_version || finished_stop) plan_.remove.push_back(e.id);
    }
  }

  Plan Finish() {
    for (auto& [i, e] : modified_) {
      if (changed_[static_cast<size_t>(i)]) plan_.update.push_back(std::move(e));
    }
    std::sort(plan_.update.begin(), plan_.update.end(),
              [](const ExecutionRecord& a, const ExecutionRecord& b) { return a.id < b.id; });
    if (!std::is_sorted(plan_.create.begin(), plan_.create.end(),
                        [](const ExecutionRecord& a, const ExecutionRecord& b) {
                          return a.node_id < b.node_id;
                        })) {
      std::sort(
          plan_.create.begin(), plan_.create.end(),
          [](const ExecutionRecord& a, const ExecutionRecord& b) { return a.node_id < b.node_id; });
    }
    if (!job_.stopped() && !IsTerminalPhase(r_.phase) && job_.state != kJobQueued) {
      job_.state = JobStateForPhase(r_.phase, job_.spec.type);
    }
    if (!job_.stopped() && !IsTerminalPhase(r_.phase) && job_.state == kJobQueued &&
        plan_.waiting != Waiting::kNodes) {
      job_.state = JobStateForPhase(r_.phase, job_.spec.type);
    }
    if (job_.state != kJobQueued && !job_.stopped()) job_.message = r_.message;
    if (!(r_ == original_rollout_)) plan_.rollout = r_;
    if (job_.state != original_job_.state || job_.message != original_job_.message ||
        job_.stable_version != original_job_.stable_version ||
        job_.failed_version != original_job_.failed_version) {
      job_.updated_at = wall_;
      plan_.job = job_;
    }
    if (!next_deadline_ && plan_.waiting == Waiting::kNone && waiting_on_executions_ &&
        !IsTerminalPhase(r_.phase)) {
      plan_.waiting = Waiting::kExecutions;
    }
    if (next_deadline_) {
      plan_.requeue_after = std::chrono::duration_cast<Nanos>(*next_deadline_ - now_);
    }
    return std::move(plan_);
  }

  JobRecord job_;
  const JobRecord& original_job_;
  RolloutRecord r_;
  const RolloutRecord& original_rollout_;
  const Observed& observed_;
  const MonoTime now_;
  const std::string& wall_;
  const HealthRules rules_;
  const bool one_shot_;

  // nodes
  std::unordered_map<std::string_view, int> index_;
  std::vector<const NodeFacts*> facts_;  // null: only known from an execution (deleted)
  std::vector<std::string_view> ids_;
  // executions
  std::vector<int> exec_node_;
  std::vector<int> node_begin_;
  std::vector<int> node_execs_;
  std::unordered_map<int, ExecutionRecord> modified_;
  std::vector<char> changed_;
  std::vector<char> retry_exec_;
  // per node decisions
  std::vector<int> want_;     // version the node should run, 0: nothing
  std::vector<int> wave_of_;  // wave that gives it the target, -1: none
  std::vector<char> placed_;  // given the target by this decision
  std::vector<char> retry_node_;

  std::optional<MonoTime> next_deadline_;
  std::string first_failure_;
  bool rollback_started_now_ = false;
  bool waiting_on_executions_ = false;
  Plan plan_;
};

}  // namespace

Plan Decide(const JobRecord& job, const RolloutRecord& rollout, const Observed& observed,
            MonoTime now, const std::string& wall_now) {
  return Decider(job, rollout, observed, now, wall_now).Run();
}

}  // namespace drover
