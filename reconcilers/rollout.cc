#include "reconcilers/rollout.h"

#include <algorithm>
#include <map>
#include <set>
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
    for (const NodeFacts& n : observed_.nodes) nodes_[n.id] = &n;
    execs_ = observed_.executions;
    for (size_t i = 0; i < execs_.size(); ++i) by_node_[execs_[i].node_id].push_back(i);
  }

  const NodeFacts* NodeOf(const std::string& id) const {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second;
  }

  bool Connected(const NodeFacts* n) const {
    return n != nullptr && n->connection == Connection::kConnected;
  }

  bool Eligible(const NodeFacts* n) const { return n != nullptr && n->matches && !n->draining; }

  bool HasActive(const std::string& node) const {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return false;
    for (size_t i : it->second) {
      if (IsActive(execs_[i]) && execs_[i].desired_state == "running") return true;
    }
    return false;
  }

  // True when the node runs the job, or ran it until the controller stopped it to be replaced.
  bool RunsJob(const std::string& node) const {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return false;
    for (size_t i : it->second) {
      const ExecutionRecord& e = execs_[i];
      if (IsActive(e) || (e.desired_state == "stopped" && e.state == "stopped")) return true;
    }
    return false;
  }

  // A node that may be given an execution now: new placements need a connected, schedulable
  // node; a cordoned node that already runs the job is still updated and rolled back.
  bool Placeable(const NodeFacts* n) const {
    if (!Eligible(n) || !Connected(n)) return false;
    return n->schedulable || RunsJob(n->id);
  }

  const ExecutionTiming* TimingOf(const ExecutionRecord& e) const {
    auto it = observed_.timing.find(e.id);
    return it == observed_.timing.end() ? nullptr : &it->second;
  }

  MonoTime FirstSeen(const ExecutionRecord& e) const {
    const ExecutionTiming* t = TimingOf(e);
    return t ? t->first_seen : now_;
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

  void Mark(size_t index, std::string state, std::string message) {
    ExecutionRecord& e = execs_[index];
    e.state = std::move(state);
    e.desired_state = "stopped";
    e.message = std::move(message);
    e.updated_at = wall_;
    changed_.insert(index);
  }

  // The verdict on one execution of the rollout's target version (SPEC §5 "Failed nodes").
  Verdict Judge(const ExecutionRecord& e, std::string* why) {
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
    const ExecutionTiming* t = TimingOf(e);
    const MonoTime base = t && t->started ? *t->started : FirstSeen(e);
    if (rules_.judged_by_agent) {
      if (e.health == "unhealthy") {
        *why = "reported unhealthy";
        return Verdict::kFailed;
      }
      if (e.health == "healthy" || !e.stable_at.empty()) return Verdict::kHealthy;
    } else if (t && t->started && (e.state == "running")) {
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
    for (size_t i = 0; i < execs_.size(); ++i) {
      const ExecutionRecord& e = execs_[i];
      if (!IsActive(e) || e.desired_state != "running") continue;
      const ExecutionTiming* t = TimingOf(e);
      if (to.queue_timeout > 0 && e.state == "pending") {
        MonoTime limit = FirstSeen(e) + std::chrono::seconds(to.queue_timeout);
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
    MonoTime limit = observed_.phase_since + std::chrono::seconds(job_.spec.timeouts.total_timeout);
    if (r_.phase != kPhaseProgressing && r_.phase != kPhasePaused) return false;
    if (now_ >= limit) return true;
    Deadline(limit);
    return false;
  }

  void FailForTotalTimeout() {
    for (size_t i = 0; i < execs_.size(); ++i) {
      if (IsActive(execs_[i]) && execs_[i].desired_state == "running") {
        Mark(i, "failed",
             "total_timeout: not done within " +
                 std::to_string(job_.spec.timeouts.total_timeout) + "s");
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
  // the job: cordon blocks new placements only) in hash order, nodes whose current
  // execution of the job has failed first (so a fix-forward repairs them first).
  std::vector<std::string> InitialTargets() const {
    std::vector<std::string> ids;
    for (const NodeFacts& n : observed_.nodes) {
      if (Placeable(&n)) ids.push_back(n.id);
    }
    std::vector<std::string> ordered = OrderTargets(job_.id, std::move(ids));
    std::stable_partition(ordered.begin(), ordered.end(), [&](const std::string& id) {
      auto it = by_node_.find(id);
      if (it == by_node_.end()) return false;
      for (size_t i : it->second) {
        const ExecutionRecord& e = execs_[i];
        if (e.desired_state == "running" && (e.state == "failed" || e.health == "unhealthy"))
          return true;
      }
      return false;
    });
    return ordered;
  }

  void StartTargets(std::vector<std::string> targets) {
    r_.targets = std::move(targets);
    const size_t n = r_.targets.size();
    r_.wave_size = static_cast<int>(WaveSize(job_.spec.rollout.max_parallel, n));
    r_.canary_nodes.clear();
    if (job_.spec.rollout.strategy == RolloutStrategy::kCanary && !r_.promoted) {
      size_t c = CanarySize(job_.spec.rollout.canary_count, job_.spec.rollout.canary_percent, n);
      r_.canary_nodes.assign(r_.targets.begin(), r_.targets.begin() + c);
    }
    if (job_.spec.rollout.strategy == RolloutStrategy::kImmediate) r_.wave_size = static_cast<int>(n);
  }

  // T: T0 less the nodes that left the selector, were deleted or are draining.
  std::vector<std::string> LiveTargets() const {
    std::vector<std::string> live;
    live.reserve(r_.targets.size());
    for (const std::string& id : r_.targets) {
      if (Eligible(NodeOf(id))) live.push_back(id);
    }
    return live;
  }

  // The node's execution of the rollout's target version in this rollout (latest attempt).
  const ExecutionRecord* TargetExecution(const std::string& node, size_t* index = nullptr) const {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return nullptr;
    const ExecutionRecord* best = nullptr;
    for (size_t i : it->second) {
      const ExecutionRecord& e = execs_[i];
      if (e.version != r_.to_version || e.rollout_id != r_.rollout_id) continue;
      if (e.desired_state == "stopped" && e.state == "stopped") continue;  // a drain's stop
      bool better = best == nullptr || e.attempt > best->attempt ||
                    (e.attempt == best->attempt && IsActive(e) && !IsActive(*best));
      if (better) {
        best = &e;
        if (index) *index = i;
      }
    }
    return best;
  }

  // An execution on the node that the controller stopped to make room for this rollout's
  // target version (the replacement is created once the stop completes).
  const ExecutionRecord* ReplacedFor(const std::string& node) const {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return nullptr;
    for (size_t i : it->second) {
      const ExecutionRecord& e = execs_[i];
      if (e.replaced_for_rollout == r_.rollout_id && e.replaced_for_version == r_.to_version &&
          e.desired_state == "stopped")
        return &e;
    }
    return nullptr;
  }

  // ---- forward rollouts: progressing, paused, awaiting_promotion, halted ----

  struct NodeState {
    std::string id;
    bool given = false;
    bool connected = false;
    bool placeable = false;
    bool canary = false;
    Verdict verdict = Verdict::kPending;
    std::string why;
  };

  void Forward() {
    const RolloutStrategy strategy = job_.spec.rollout.strategy;
    std::vector<std::string> live = r_.wave_size > 0 ? LiveTargets() : std::vector<std::string>{};
    if (live.empty()) {
      std::vector<std::string> fresh = InitialTargets();
      if (fresh.empty()) {
        WaitForNodes();
        return;
      }
      StartTargets(fresh);
      live = LiveTargets();
    }
    std::set<std::string> canaries(r_.canary_nodes.begin(), r_.canary_nodes.end());

    std::vector<NodeState> states;
    states.reserve(live.size());
    int given = 0, healthy = 0, failed = 0, skipped = 0;
    bool canary_failed = false;
    for (const std::string& id : live) {
      NodeState s;
      s.id = id;
      const NodeFacts* facts = NodeOf(id);
      s.connected = Connected(facts);
      s.placeable = Placeable(facts);
      s.canary = canaries.count(id) > 0;
      size_t index = 0;
      const ExecutionRecord* e = TargetExecution(id, &index);
      if (e != nullptr) {
        s.verdict = Judge(*e, &s.why);
        if (s.verdict == Verdict::kFailed && e->attempt < r_.attempt) {
          // resumed after a halt: this failed node is given the target again
          retry_.insert(index);
          s.verdict = Verdict::kPending;
          retry_nodes_.insert(id);
        }
        s.given = true;
        ++given;
        if (s.verdict == Verdict::kHealthy) ++healthy;
        if (s.verdict == Verdict::kFailed) {
          ++failed;
          if (s.canary && !r_.promoted) canary_failed = true;
          if (first_failure_.empty()) first_failure_ = id + ": " + s.why;
        }
      } else if (const ExecutionRecord* old = ReplacedFor(id)) {
        // its old execution is being stopped to make room for the target: given, pending
        s.given = true;
        ++given;
        wave_of_[id] = old->replaced_for_wave;
      } else if (!s.connected) {
        ++skipped;
      }
      states.push_back(std::move(s));
    }

    const Rollout& policy = job_.spec.rollout;
    const bool over_budget =
        failed > policy.max_failed_nodes ||
        100.0 * failed > policy.max_failed_nodes_percent * static_cast<double>(live.size());
    if (canary_failed || over_budget) {
      SetCounters(live.size(), given, healthy, failed, skipped);
      std::string why = canary_failed
                            ? "a canary failed (" + first_failure_ + ")"
                            : std::to_string(failed) + " of " + std::to_string(live.size()) +
                                  " nodes failed, over the budget of " +
                                  std::to_string(policy.max_failed_nodes) + " nodes / " +
                                  FormatPercent(policy.max_failed_nodes_percent) +
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
        want_.clear();  // a failed create: its executions are stopped
      } else {
        plan_.waiting = Waiting::kHuman;
        PlaceStableElsewhere(states);
      }
      return;
    }

    if (r_.phase == kPhaseProgressing) {
      Advance(strategy, states, &given);
    }
    KeepGiven(states);

    // Success: nothing left to give, every given node conclusive, at least one healthy.
    int pending = 0, remaining = 0;
    healthy = 0;
    failed = 0;
    for (const NodeState& s : states) {
      if (!s.given && !placed_.count(s.id)) {
        if (s.placeable) ++remaining;
        continue;
      }
      if (placed_.count(s.id) || s.verdict == Verdict::kPending) ++pending;
      if (s.verdict == Verdict::kHealthy && !placed_.count(s.id)) ++healthy;
      if (s.verdict == Verdict::kFailed) ++failed;
    }
    given = 0;
    skipped = 0;
    for (const NodeState& s : states) {
      if (s.given || placed_.count(s.id)) {
        ++given;
      } else if (!s.connected) {
        ++skipped;
      }
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

  static std::string FormatPercent(double p) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%g%%", p);
    return buffer;
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

  void Advance(RolloutStrategy strategy, std::vector<NodeState>& states, int* given) {
    auto conclusive = [&](bool canaries_only) {
      for (const NodeState& s : states) {
        if (canaries_only && !s.canary) continue;
        if (s.given && s.verdict == Verdict::kPending) return false;
      }
      return true;
    };
    auto give = [&](NodeState& s, int wave) {
      want_[s.id] = r_.to_version;
      wave_of_[s.id] = wave;
      placed_.insert(s.id);
    };
    // retried nodes (resume after a halt) get the version again at once
    for (NodeState& s : states) {
      if (retry_nodes_.count(s.id)) {
        size_t index = 0;
        const ExecutionRecord* e = TargetExecution(s.id, &index);
        give(s, e ? e->wave : r_.current_wave);
      }
    }
    if (strategy == RolloutStrategy::kImmediate) {
      int count = 0;
      for (NodeState& s : states) {
        if (!s.given && s.placeable) {
          give(s, 1);
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
      bool any_canary = false;
      for (const NodeState& s : states) any_canary = any_canary || (s.canary && (s.given || s.connected));
      if (!any_canary) {
        // every canary left the target set (relabelled, drained, deleted) or was offline before
        // it got the version: pick new ones among the nodes that can take it now
        const size_t c =
            CanarySize(policy().canary_count, policy().canary_percent, states.size());
        std::vector<std::string> picked;
        for (NodeState& s : states) {
          if (picked.size() == c) break;
          if (s.placeable || s.given) picked.push_back(s.id);
        }
        if (picked.empty()) {
          plan_.waiting = Waiting::kNodes;
          r_.message = "waiting for a connected node to be the canary";
          return;
        }
        r_.canary_nodes = picked;
        for (NodeState& s : states) {
          s.canary = std::find(picked.begin(), picked.end(), s.id) != picked.end();
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
          give(s, 1);
          ++count;
        }
      }
      if (count > 0 && r_.current_wave == 0) {
        r_.current_wave = 1;
        ++plan_.waves_started;
        Event("CanaryStarted", "canary wave started on " + std::to_string(count) + " of " +
                                   std::to_string(canary_total) + " canary nodes");
      }
      r_.total_waves = 1 + TotalWavesAfterCanary(states);
      if (count > 0 || canary_given == 0 || !conclusive(true)) {
        r_.message = "canary wave: " + std::to_string(canary_given + count) + " of " +
                     std::to_string(canary_total) + " canaries updating";
        return;
      }
      // every given canary is healthy (a failed one would have halted)
      if (!policy().auto_promote) {
        r_.phase = std::string(kPhaseAwaitingPromotion);
        r_.message = "canaries healthy; waiting for POST .../rollout/promote";
        Event("AwaitingPromotion", "all " + std::to_string(canary_given) +
                                       " canaries are healthy; waiting for promotion");
        return;
      }
      r_.promoted = true;
      Event("CanaryPromoted", "all " + std::to_string(canary_given) +
                                  " canaries are healthy; promoted automatically");
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
      if (!s.given && !placed_.count(s.id) && s.placeable) next.push_back(&s);
    }
    if (!next.empty()) {
      ++r_.current_wave;
      for (NodeState* s : next) give(*s, r_.current_wave);
      *given += static_cast<int>(next.size());
      ++plan_.waves_started;
      r_.total_waves = r_.current_wave + TotalWavesAfterCanary(states);
      Event("WaveStarted", "wave " + std::to_string(r_.current_wave) + "/" +
                               std::to_string(r_.total_waves) + " started on " +
                               std::to_string(next.size()) + " nodes");
      r_.message = "wave " + std::to_string(r_.current_wave) + "/" +
                   std::to_string(r_.total_waves) + " in progress";
    }
  }

  // Waves still needed for the targets not yet given the version.
  int TotalWavesAfterCanary(const std::vector<NodeState>& states) const {
    size_t left = 0;
    for (const NodeState& s : states) {
      if (!s.given && !placed_.count(s.id) && !s.canary) ++left;
    }
    const size_t w = static_cast<size_t>(std::max(1, r_.wave_size));
    return static_cast<int>((left + w - 1) / w);
  }

  const Rollout& policy() const { return job_.spec.rollout; }

  // Given nodes keep the target version (failed ones too: they are not re-created, and a
  // rollback or a new rollout moves them on).
  void KeepGiven(const std::vector<NodeState>& states) {
    for (const NodeState& s : states) {
      if (s.given && !want_.count(s.id)) {
        want_[s.id] = r_.to_version;
      }
    }
  }

  // Every other eligible node runs the stable version, or nothing when there is none.
  void PlaceStableElsewhere(const std::vector<NodeState>& states) {
    std::unordered_set<std::string> in_rollout;
    for (const NodeState& s : states) {
      if (s.given || placed_.count(s.id)) in_rollout.insert(s.id);
    }
    if (!job_.stable_version) return;
    for (const NodeFacts& n : observed_.nodes) {
      if (in_rollout.count(n.id) || want_.count(n.id)) continue;
      if (Placeable(&n) || (Eligible(&n) && HasActive(n.id))) want_[n.id] = *job_.stable_version;
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
    EndRollout(kPhaseSucceeded, "version " + std::to_string(r_.to_version) + " is rolled out to " +
                                    std::to_string(r_.healthy_nodes) + " nodes" +
                                    (failed > 0 ? " (" + std::to_string(failed) +
                                                      " failed within the budget)"
                                                : ""));
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
    for (const NodeFacts& n : observed_.nodes) {
      if (!Eligible(&n)) continue;
      bool holds_failed = false;
      auto it = by_node_.find(n.id);
      if (it != by_node_.end()) {
        for (size_t i : it->second) {
          if (execs_[i].version == failed_version && IsActive(execs_[i])) holds_failed = true;
        }
      }
      if (holds_failed || Placeable(&n) || HasActive(n.id)) want_[n.id] = target;
    }
    if (rollback_started_now_) return;  // give the stops a round trip first
    // Done when no connected node still runs the failed version and every connected wanted
    // node has started the target — or the deadline passed (a rollback is never rolled back).
    bool done = true;
    std::string waiting_on;
    for (const auto& [node, version] : want_) {
      const NodeFacts* facts = NodeOf(node);
      if (!Connected(facts)) continue;
      auto it = by_node_.find(node);
      bool started_target = false;
      if (it != by_node_.end()) {
        for (size_t i : it->second) {
          const ExecutionRecord& e = execs_[i];
          if (e.version == failed_version && IsActive(e)) done = false;
          if (e.version == version && e.desired_state == "running" && e.state != "pending") {
            started_target = true;
          }
        }
      }
      if (!started_target) {
        done = false;
        if (waiting_on.empty()) waiting_on = node;
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
    for (const ExecutionRecord& e : execs_) {
      if (e.version != version || e.desired_state != "running") continue;
      if (!Eligible(NodeOf(e.node_id))) continue;
      if (e.state == "failed" || (IsActive(e) && e.health == "unhealthy")) return true;
    }
    return false;
  }

  // ---- after the rollout: the stable version follows the fleet ----

  void Settled() {
    const std::optional<int> stable = job_.stable_version;
    if (stable) {
      for (const NodeFacts& n : observed_.nodes) {
        if (Placeable(&n) || (Eligible(&n) && HasActive(n.id))) want_[n.id] = *stable;
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
      Event("Degraded", "executions of stable version " + std::to_string(stable.value_or(0)) +
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
      for (const ExecutionRecord& e : execs_) {
        if (IsActive(e) && e.desired_state == "running" && e.version == r_.to_version)
          want_[e.node_id] = e.version;
      }
      return;
    }
    if (r_.wave_size == 0) {
      std::vector<std::string> targets = InitialTargets();
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
      StartTargets(std::move(targets));
      r_.wave_size = static_cast<int>(r_.targets.size());
      r_.canary_nodes.clear();
      r_.current_wave = 1;
      r_.total_waves = 1;
      ++plan_.waves_started;
      Event("WaveStarted",
            "query started on " + std::to_string(r_.targets.size()) + " nodes");
    }
    int completed = 0, failed = 0, running = 0;
    for (const std::string& id : r_.targets) {
      const NodeFacts* facts = NodeOf(id);
      size_t index = 0;
      const ExecutionRecord* e = TargetExecution(id, &index);
      if (facts == nullptr || facts->connection == Connection::kLost) {
        // a deleted or lost node will not answer: its part of the query has failed
        if (e == nullptr || IsActive(*e)) {
          ++failed;
          continue;
        }
      }
      want_[id] = r_.to_version;
      wave_of_[id] = 1;
      if (e == nullptr || IsActive(*e)) {
        ++running;
        if (job_.spec.timeouts.execution_timeout == 0 && job_.spec.timeouts.total_timeout == 0)
          waiting_on_executions_ = true;
      } else if (e->state == "completed") {
        ++completed;
      } else {
        ++failed;
      }
    }
    SetCounters(r_.targets.size(), completed + failed + running, completed, failed, 0);
    if (running > 0) {
      r_.message = std::to_string(completed + failed) + " of " +
                   std::to_string(r_.targets.size()) + " nodes done";
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
    for (size_t i = 0; i < execs_.size(); ++i) {
      ExecutionRecord& e = execs_[i];
      if (!IsActive(e) || e.desired_state == "stopped") continue;
      e.desired_state = "stopped";
      e.updated_at = wall_;
      changed_.insert(i);
    }
    StopOnDeletedNodes();
  }

  // Executions on nodes that were deleted will never be reported again: they are stopped.
  void StopOnDeletedNodes() {
    for (size_t i = 0; i < execs_.size(); ++i) {
      ExecutionRecord& e = execs_[i];
      if (!IsActive(e) || NodeOf(e.node_id) != nullptr) continue;
      e.desired_state = "stopped";
      e.state = "stopped";
      e.message = "node " + e.node_id + " was deleted";
      e.updated_at = wall_;
      changed_.insert(i);
    }
  }

  // ---- convergence: the executions that `want_` implies ----

  // True when the node must not get a new execution of `version`: it already ran it to
  // completion (one-shot types run once per node per version), or it failed in this rollout's
  // current attempt (the agent's restart policy has had its turn; a new version or a resume
  // moves it on).
  bool Blocked(const std::string& node, int version) const {
    auto it = by_node_.find(node);
    if (it == by_node_.end()) return false;
    const bool target = version == r_.to_version;
    for (size_t i : it->second) {
      const ExecutionRecord& e = execs_[i];
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
    std::set<std::string> node_ids;
    for (const auto& [node, indexes] : by_node_) node_ids.insert(node);
    for (const auto& [node, version] : want_) node_ids.insert(node);
    for (const std::string& node : node_ids) {
      auto wanted = want_.find(node);
      bool kept = false, stopping = false;
      auto it = by_node_.find(node);
      if (it != by_node_.end()) {
        // newest first, so that if two were ever active the newest is the one kept
        std::vector<size_t> order = it->second;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          if (execs_[a].attempt != execs_[b].attempt) return execs_[a].attempt > execs_[b].attempt;
          return execs_[a].created_at > execs_[b].created_at;
        });
        for (size_t i : order) {
          ExecutionRecord& e = execs_[i];
          if (!IsActive(e)) continue;
          const NodeFacts* facts = NodeOf(node);
          if (e.desired_state == "stopped" && facts != nullptr &&
              facts->connection == Connection::kLost) {
            // a lost node will not confirm the stop; its executions count as gone
            e.state = "stopped";
            e.message = "node " + node + " was lost before it confirmed the stop";
            e.updated_at = wall_;
            changed_.insert(i);
            continue;
          }
          if (e.desired_state == "stopped") {
            stopping = true;
            // already stopping (for an older rollout, or by a drain): this rollout's wave now
            // waits on that stop, so the node counts as given in it
            auto wave = wave_of_.find(node);
            if (wanted != want_.end() && wanted->second == r_.to_version &&
                r_.phase != kPhaseRollingBack && wave != wave_of_.end() &&
                (e.replaced_for_rollout != r_.rollout_id ||
                 e.replaced_for_version != r_.to_version)) {
              e.replaced_for_rollout = r_.rollout_id;
              e.replaced_for_version = r_.to_version;
              e.replaced_for_wave = wave->second;
              e.updated_at = wall_;
              changed_.insert(i);
            }
            continue;
          }
          bool keep = wanted != want_.end() && wanted->second == e.version && !kept &&
                      !retry_.count(i);
          if (keep) {
            kept = true;
            continue;
          }
          e.desired_state = "stopped";
          e.updated_at = wall_;
          if (wanted != want_.end() && wanted->second == r_.to_version &&
              r_.phase != kPhaseRollingBack) {
            auto wave = wave_of_.find(node);
            e.replaced_for_rollout = r_.rollout_id;
            e.replaced_for_version = r_.to_version;
            e.replaced_for_wave = wave != wave_of_.end() ? wave->second : 0;
          }
          changed_.insert(i);
          stopping = true;
        }
      }
      if (wanted == want_.end() || kept) continue;
      if (stopping) {
        // the replacement waits until the agent confirms the stop; look again within an interval
        Deadline(now_ + rules_.interval);
        continue;
      }
      if (Blocked(node, wanted->second)) continue;
      ExecutionRecord e;
      e.job_id = job_.id;
      e.namespace_ = job_.spec.namespace_;
      e.name = job_.spec.name;
      e.node_id = node;
      e.version = wanted->second;
      e.created_at = wall_;
      e.updated_at = wall_;
      const bool for_rollout = wanted->second == r_.to_version;
      e.rollout_id = for_rollout ? r_.rollout_id : 0;
      e.attempt = for_rollout ? r_.attempt : 0;
      auto wave = wave_of_.find(node);
      e.wave = for_rollout && wave != wave_of_.end() ? wave->second : 0;
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
    for (size_t i = 0; i < execs_.size(); ++i) {
      const ExecutionRecord& e = execs_[i];
      if (IsActive(e) || changed_.count(i)) continue;
      bool old_version = !live_versions.count(e.version);
      bool finished_stop = ended && e.desired_state == "stopped" && e.state == "stopped";
      if (old_version || finished_stop) plan_.remove.push_back(e.id);
    }
  }

  Plan Finish() {
    for (size_t i : changed_) plan_.update.push_back(execs_[i]);
    std::sort(plan_.update.begin(), plan_.update.end(),
              [](const ExecutionRecord& a, const ExecutionRecord& b) { return a.id < b.id; });
    std::sort(plan_.create.begin(), plan_.create.end(),
              [](const ExecutionRecord& a, const ExecutionRecord& b) {
                return a.node_id < b.node_id;
              });
    if (!job_.stopped() && !IsTerminalPhase(r_.phase) && job_.state != kJobQueued) {
      job_.state = JobStateForPhase(r_.phase, job_.spec.type);
      if (r_.phase == kPhaseProgressing && r_.current_wave == 0 && r_.wave_size == 0) {
        job_.state = std::string(kJobPending);
      }
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
  const JobRecord original_job_;
  RolloutRecord r_;
  const RolloutRecord original_rollout_;
  const Observed& observed_;
  const MonoTime now_;
  const std::string wall_;
  const HealthRules rules_;
  const bool one_shot_;

  std::unordered_map<std::string, const NodeFacts*> nodes_;
  std::vector<ExecutionRecord> execs_;
  std::unordered_map<std::string, std::vector<size_t>> by_node_;
  std::set<size_t> changed_;
  std::set<size_t> retry_;
  std::unordered_set<std::string> retry_nodes_;
  std::map<std::string, int> want_;
  std::unordered_map<std::string, int> wave_of_;
  std::unordered_set<std::string> placed_;
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
