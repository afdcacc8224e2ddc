#include "reconcilers/rollout.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <string_view>
#include <tuple>
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

// A hash of a node id for NodeTable: 8 bytes at a time, multiply-xorshift mixed. Only placement
// in the table depends on it, never the plan.
uint64_t IdHash(std::string_view id) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ id.size();
  const char* p = id.data();
  size_t left = id.size();
  for (; left >= 8; p += 8, left -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  if (left > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, left);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// Node id -> node index without an allocation per node: open addressing (linear probing) over a
// power-of-two table of slots holding the id's hash tag (high 32 bits) and index + 1 (low 32;
// 0: empty). The ids themselves stay in the caller's `ids` vector.
class NodeTable {
 public:
  void Reserve(size_t n) {
    size_t capacity = 16;
    while (capacity < 2 * n) capacity <<= 1;
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
    size_ = 0;
  }

  int Find(std::string_view id, const std::vector<std::string_view>& ids) const {
    return Find(id, IdHash(id), ids);
  }

  // Resolves `count` ids at once, in order: done(i, index) with the index of id_of(i) — for
  // FindAll -1 when it is missing; InsertAll maps a missing id to `ids.size()` and appends it to
  // `ids`. The memory each lookup will touch (its slot, then the id it compares with) is
  // prefetched a few lookups ahead: a table of 100,000 nodes does not fit in a core's cache, and
  // one lookup alone waits on three cache misses in a row.
  template <typename IdOf, typename Done>
  void FindAll(size_t count, IdOf id_of, const std::vector<std::string_view>& ids,
               Done done) const {
    Resolve<false>(*this, count, id_of, ids, done);
  }
  template <typename IdOf, typename Done>
  void InsertAll(size_t count, IdOf id_of, std::vector<std::string_view>& ids, Done done) {
    Resolve<true>(*this, count, id_of, ids, done);
  }

 private:
  template <bool kInsert, typename Self, typename IdOf, typename Ids, typename Done>
  static void Resolve(Self& self, size_t count, IdOf id_of, Ids& ids, Done done) {
    const std::vector<uint64_t>& slots = self.slots_;
    constexpr size_t kStep = 8;
    constexpr size_t kRing = 4 * kStep;
    uint64_t hashes[kRing];
    for (size_t i = 0; i < count + 3 * kStep; ++i) {
      if (i < count) {
        const uint64_t h = IdHash(id_of(i));
        hashes[i % kRing] = h;
        __builtin_prefetch(&slots[static_cast<size_t>(h) & self.mask_]);
      }
      for (size_t stage = 1; stage <= 2; ++stage) {
        if (i < stage * kStep || i - stage * kStep >= count) continue;
        const uint64_t h = hashes[(i - stage * kStep) % kRing];
        const uint64_t slot = slots[static_cast<size_t>(h) & self.mask_];
        if (slot == 0 || (slot >> 32) != (h >> 32)) continue;
        const size_t index = static_cast<size_t>(static_cast<uint32_t>(slot)) - 1;
        if (stage == 1) {
          __builtin_prefetch(&ids[index]);
        } else {
          __builtin_prefetch(ids[index].data());
        }
      }
      if (i >= 3 * kStep) {
        const size_t j = i - 3 * kStep;
        const uint64_t h = hashes[j % kRing];
        if constexpr (kInsert) {
          done(j, self.Insert(id_of(j), h, ids).first);
        } else {
          done(j, self.Find(id_of(j), h, ids));
        }
      }
    }
  }

  int Find(std::string_view id, uint64_t h, const std::vector<std::string_view>& ids) const {
    const uint64_t tag = h >> 32;
    for (size_t at = static_cast<size_t>(h) & mask_;; at = (at + 1) & mask_) {
      const uint64_t slot = slots_[at];
      if (slot == 0) return -1;
      if ((slot >> 32) == tag) {
        const int index = static_cast<int>(static_cast<uint32_t>(slot)) - 1;
        if (ids[static_cast<size_t>(index)] == id) return index;
      }
    }
  }

  std::pair<int, bool> Insert(std::string_view id, uint64_t h, std::vector<std::string_view>& ids) {
    if (2 * (size_ + 1) > slots_.size()) Grow(ids);
    const uint64_t tag = h >> 32;
    size_t at = static_cast<size_t>(h) & mask_;
    for (;; at = (at + 1) & mask_) {
      const uint64_t slot = slots_[at];
      if (slot == 0) break;
      if ((slot >> 32) == tag) {
        const int index = static_cast<int>(static_cast<uint32_t>(slot)) - 1;
        if (ids[static_cast<size_t>(index)] == id) return {index, false};
      }
    }
    const int index = static_cast<int>(ids.size());
    ids.push_back(id);
    slots_[at] = (tag << 32) | static_cast<uint64_t>(index + 1);
    ++size_;
    return {index, true};
  }

  void Grow(const std::vector<std::string_view>& ids) {
    std::vector<uint64_t> old;
    old.swap(slots_);
    slots_.assign(std::max<size_t>(16, 2 * old.size()), 0);
    mask_ = slots_.size() - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      const size_t index = static_cast<size_t>(static_cast<uint32_t>(slot)) - 1;
      size_t at = static_cast<size_t>(IdHash(ids[index])) & mask_;
      while (slots_[at] != 0) at = (at + 1) & mask_;
      slots_[at] = slot;
    }
  }

  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// The first 8 bytes of an id as a big-endian number (zero-padded): comparing these compares the
// ids byte-wise as std::string does, up to ties.
uint64_t IdPrefix(std::string_view id) {
  uint64_t key = 0;
  for (size_t i = 0; i < 8; ++i) {
    key = (key << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0u);
  }
  return key;
}

// Every field of a rollout record but its targets, as a tuple of references (one binding per
// field: a field added to RolloutRecord fails to compile here until it is added below too).
template <typename Record>
auto FieldsButTargets(Record& r) {
  auto& [phase, from_version, to_version, strategy, current_wave, total_waves, target_nodes,
         updated_nodes, healthy_nodes, failed_nodes, skipped_nodes, canary_nodes, targets,
         wave_size, paused_from, rollout_id, attempt, promoted, rollback_reason, started_at,
         completed_at, message] = r;
  return std::tie(phase, from_version, to_version, strategy, current_wave, total_waves,
                  target_nodes, updated_nodes, healthy_nodes, failed_nodes, skipped_nodes,
                  canary_nodes, wave_size, paused_from, rollout_id, attempt, promoted,
                  rollback_reason, started_at, completed_at, message);
}

// A copy of a rollout record without its targets (100,000 strings in a large job).
RolloutRecord WithoutTargets(const RolloutRecord& r) {
  RolloutRecord copy;
  FieldsButTargets(copy) = FieldsButTargets(r);
  return copy;
}

// Sorts (key, node) pairs by key, then by node id: an LSD radix sort on the 64-bit keys (stable),
// then runs of equal keys (hash collisions) ordered by id.
void SortByKeyThenId(std::vector<std::pair<uint64_t, int>>& keyed,
                     const std::vector<std::string_view>& ids) {
  std::vector<std::pair<uint64_t, int>> buffer(keyed.size());
  std::vector<size_t> count(1 << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const auto& k : keyed) ++count[(k.first >> shift) & 0xffff];
    size_t sum = 0;
    for (size_t& c : count) {
      const size_t n = c;
      c = sum;
      sum += n;
    }
    for (const auto& k : keyed) buffer[count[(k.first >> shift) & 0xffff]++] = k;
    keyed.swap(buffer);
  }
  for (size_t begin = 0; begin < keyed.size();) {
    size_t end = begin + 1;
    while (end < keyed.size() && keyed[end].first == keyed[begin].first) ++end;
    if (end - begin > 1) {
      std::sort(keyed.begin() + static_cast<long>(begin), keyed.begin() + static_cast<long>(end),
                [&](const auto& a, const auto& b) {
                  return ids[static_cast<size_t>(a.second)] < ids[static_cast<size_t>(b.second)];
                });
    }
    begin = end;
  }
}

// What the decision reads of an execution in its loops, in 40 bytes (a record is ~480 with its
// strings): a reconcile of a 100,000-execution job goes over them several times.
enum class ExecState : uint8_t {
  kPending,
  kStarting,
  kRunning,
  kCompleted,
  kFailed,
  kStopped,
  kOther
};
enum class Desired : uint8_t { kRunning, kStopped, kOther };
enum class Health : uint8_t { kHealthy, kUnhealthy, kOther };

struct Summary {
  int64_t rollout_id = 0;
  int64_t replaced_for_rollout = 0;
  int version = 0;
  int attempt = 0;
  int replaced_for_version = 0;
  int restarts = 0;
  ExecState state = ExecState::kOther;
  Desired desired = Desired::kOther;
  Health health = Health::kOther;
  bool stable = false;  // stable_at is set

  // not terminal (IsActive)
  bool active() const {
    return state != ExecState::kCompleted && state != ExecState::kFailed &&
           state != ExecState::kStopped;
  }
};

ExecState StateOf(std::string_view s) {
  if (s == "pending") return ExecState::kPending;
  if (s == "starting") return ExecState::kStarting;
  if (s == "running") return ExecState::kRunning;
  if (s == "completed") return ExecState::kCompleted;
  if (s == "failed") return ExecState::kFailed;
  if (s == "stopped") return ExecState::kStopped;
  return ExecState::kOther;
}

Summary Summarize(const ExecutionRecord& e) {
  Summary s;
  s.rollout_id = e.rollout_id;
  s.replaced_for_rollout = e.replaced_for_rollout;
  s.version = e.version;
  s.attempt = e.attempt;
  s.replaced_for_version = e.replaced_for_version;
  s.restarts = e.restarts;
  s.state = StateOf(e.state);
  s.desired = e.desired_state == "running"   ? Desired::kRunning
              : e.desired_state == "stopped" ? Desired::kStopped
                                             : Desired::kOther;
  s.health = e.health == "healthy"     ? Health::kHealthy
             : e.health == "unhealthy" ? Health::kUnhealthy
                                       : Health::kOther;
  s.stable = !e.stable_at.empty();
  return s;
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
        r_(WithoutTargets(rollout)),
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
    index_.Reserve(n + 16);
    facts_.reserve(n);
    ids_.reserve(n);
    index_.InsertAll(
        n, [&](size_t k) -> std::string_view { return nodes[k].id; }, ids_,
        [&](size_t k, int node) {
          // a duplicate maps to the first one: that one counts
          if (static_cast<size_t>(node) == facts_.size()) facts_.push_back(&nodes[k]);
        });
    const std::vector<ExecutionRecord>& execs = observed_.executions;
    exec_node_.resize(execs.size());
    summary_.reserve(execs.size());
    index_.InsertAll(
        execs.size(), [&](size_t i) -> std::string_view { return execs[i].node_id; }, ids_,
        [&](size_t i, int node) {
          if (static_cast<size_t>(node) == facts_.size()) facts_.push_back(nullptr);
          exec_node_[i] = node;
          summary_.push_back(Summarize(execs[i]));
        });
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
    undo_.assign(m, false);
    placed_.assign(m, 0);
    retry_node_.assign(m, 0);
    retry_exec_.assign(execs.size(), 0);
    copy_of_.assign(execs.size(), -1);
  }

  size_t NodeCount() const { return facts_.size(); }
  int NodeIndex(std::string_view id) const { return index_.Find(id, ids_); }
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
    const int copy = copy_of_[static_cast<size_t>(i)];
    return copy < 0 ? observed_.executions[static_cast<size_t>(i)]
                    : copies_[static_cast<size_t>(copy)];
  }
  bool Changed(int i) const { return copy_of_[static_cast<size_t>(i)] >= 0; }
  // The summary of execution i as the plan has it so far.
  Summary S(int i) const {
    const int copy = copy_of_[static_cast<size_t>(i)];
    return copy < 0 ? summary_[static_cast<size_t>(i)]
                    : Summarize(copies_[static_cast<size_t>(copy)]);
  }
  // A copy of execution i that the plan will write.
  ExecutionRecord& Mut(int i) {
    int& copy = copy_of_[static_cast<size_t>(i)];
    if (copy < 0) {
      copy = static_cast<int>(copies_.size());
      copies_.push_back(observed_.executions[static_cast<size_t>(i)]);
    }
    ExecutionRecord& e = copies_[static_cast<size_t>(copy)];
    e.updated_at = wall_;
    return e;
  }
  int ExecCount() const { return static_cast<int>(observed_.executions.size()); }

  static bool Connected(const NodeFacts* n) {
    return n != nullptr && n->connection == Connection::kConnected;
  }
  static bool Eligible(const NodeFacts* n) { return n != nullptr && n->matches && !n->draining; }

  bool HasActive(int node) const {
    for (int i : On(node)) {
      const Summary e = S(i);
      if (e.active() && e.desired == Desired::kRunning) return true;
    }
    return false;
  }

  // True when the node runs the job, or ran it until the controller stopped it to be replaced.
  bool RunsJob(int node) const {
    for (int i : On(node)) {
      const Summary e = S(i);
      if (e.active() || (e.desired == Desired::kStopped && e.state == ExecState::kStopped))
        return true;
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
    const Summary e = S(i);
    if (e.state == ExecState::kFailed) {
      const std::string& message = E(i).message;
      *why = message.empty() ? "failed" : message;
      return Verdict::kFailed;
    }
    if (e.state == ExecState::kStopped) {
      *why = "stopped on the node";
      return e.desired == Desired::kStopped ? Verdict::kPending : Verdict::kFailed;
    }
    if (e.state == ExecState::kCompleted) return Verdict::kHealthy;
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
      if (e.health == Health::kUnhealthy) {
        *why = "reported unhealthy";
        return Verdict::kFailed;
      }
      if (e.health == Health::kHealthy || e.stable) return Verdict::kHealthy;
    } else if (started && e.state == ExecState::kRunning) {
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
      const Summary e = S(i);
      if (!e.active() || e.desired != Desired::kRunning) continue;
      const ExecutionTiming* t = TimingOf(i);
      if (to.queue_timeout > 0 && e.state == ExecState::kPending) {
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
      const Summary e = S(i);
      if (e.active() && e.desired == Desired::kRunning) {
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
    SortByKeyThenId(keyed, ids_);
    std::vector<int> ordered;
    ordered.reserve(keyed.size());
    for (const auto& [key, node] : keyed) ordered.push_back(node);
    std::stable_partition(ordered.begin(), ordered.end(), [&](int node) {
      for (int i : On(node)) {
        const Summary e = S(i);
        if (e.desired == Desired::kRunning &&
            (e.state == ExecState::kFailed || e.health == Health::kUnhealthy))
          return true;
      }
      return false;
    });
    return ordered;
  }

  void StartTargets(const std::vector<int>& targets) {
    std::vector<std::string>& ids = new_targets_.emplace();
    ids.reserve(targets.size());
    // targets are in rollout (hash) order: each id is a cache miss unless fetched ahead
    constexpr size_t kAhead = 8;
    for (size_t t = 0; t < targets.size(); ++t) {
      if (t + 2 * kAhead < targets.size()) {
        __builtin_prefetch(&ids_[static_cast<size_t>(targets[t + 2 * kAhead])]);
      }
      if (t + kAhead < targets.size()) {
        __builtin_prefetch(ids_[static_cast<size_t>(targets[t + kAhead])].data());
      }
      ids.emplace_back(ids_[static_cast<size_t>(targets[t])]);
    }
    const size_t n = ids.size();
    r_.wave_size = static_cast<int>(WaveSize(policy().max_parallel, n));
    r_.canary_nodes.clear();
    if (policy().strategy == RolloutStrategy::kCanary && !r_.promoted) {
      size_t c = CanarySize(policy().canary_count, policy().canary_percent, n);
      r_.canary_nodes.assign(ids.begin(), ids.begin() + static_cast<long>(c));
    }
    if (policy().strategy == RolloutStrategy::kImmediate) r_.wave_size = static_cast<int>(n);
  }

  // T0: the rollout's targets, as stored or as this decision chose them.
  const std::vector<std::string>& Targets() const {
    return new_targets_ ? *new_targets_ : original_rollout_.targets;
  }

  // T: T0 less the nodes that left the selector, were deleted or are draining (node indexes).
  std::vector<int> LiveTargets() const {
    const std::vector<std::string>& targets = Targets();
    std::vector<int> live;
    live.reserve(targets.size());
    index_.FindAll(
        targets.size(), [&](size_t t) -> std::string_view { return targets[t]; }, ids_,
        [&](size_t, int node) {
          if (Eligible(Facts(node))) live.push_back(node);
        });
    return live;
  }

  // The node's execution of the rollout's target version in this rollout (latest attempt), or -1.
  int TargetExecution(int node) const {
    int best = -1;
    for (int i : On(node)) {
      const Summary e = S(i);
      if (e.version != r_.to_version || e.rollout_id != r_.rollout_id) continue;
      if (e.desired == Desired::kStopped && e.state == ExecState::kStopped)
        continue;  // a drain's stop
      if (best < 0) {
        best = i;
        continue;
      }
      const Summary b = S(best);
      if (e.attempt > b.attempt || (e.attempt == b.attempt && e.active() && !b.active())) {
        best = i;
      }
    }
    return best;
  }

  // An execution on the node that the controller stopped to make room for this rollout's
  // target version (the replacement is created once the stop completes), or -1.
  int ReplacedFor(int node) const {
    for (int i : On(node)) {
      const Summary e = S(i);
      if (e.replaced_for_rollout == r_.rollout_id && e.replaced_for_version == r_.to_version &&
          e.desired == Desired::kStopped)
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
        if (s.verdict == Verdict::kFailed && S(target).attempt < r_.attempt) {
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

    const bool over_budget = OverFailureBudget(policy(), failed, live.size());
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

  // Rolling an update job back undoes the failed version on every node that ran it, once: an
  // execution of the target version with rollback_of set. The agent runs the failed version's
  // rollback_command for it when the spec declares one, else the target version's command again
  // (SPEC §4). Nodes that never ran the failed version run nothing.
  bool UndoesUpdates(int failed_version) const {
    return job_.spec.type == JobType::kUpdate && failed_version > 0;
  }

  // The node ran `failed_version` (its command started) and has no rollback run for it yet.
  bool NeedsUndo(int node, int failed_version) const {
    bool ran = false;
    for (int i : On(node)) {
      const ExecutionRecord& e = E(i);
      if (e.rollback_of == failed_version) return false;
      if (e.version != failed_version || e.rollback_of != 0) continue;
      if (e.state == "running" || e.state == "starting" || e.state == "completed" ||
          e.state == "failed") {
        ran = true;
      }
    }
    return ran;
  }

  void RollBack() {
    const int target = r_.to_version;
    const int failed_version = r_.from_version.value_or(0);
    const bool undo = UndoesUpdates(failed_version);
    for (size_t k = 0; k < NodeCount(); ++k) {
      const int node = static_cast<int>(k);
      if (!Eligible(Facts(node))) continue;
      bool holds_failed = false;
      for (int i : On(node)) {
        const Summary e = S(i);
        if (e.version == failed_version && e.active()) holds_failed = true;
      }
      if (holds_failed || Placeable(node) || HasActive(node)) want_[k] = target;
      if (undo && want_[k] == target && NeedsUndo(node, failed_version)) undo_[k] = true;
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
        const Summary e = S(i);
        if (e.version == failed_version && e.active()) done = false;
        if (e.version == want_[k] && e.desired == Desired::kRunning &&
            e.state != ExecState::kPending) {
          started_target = true;
        }
        // a rollback run is done when it has ended
        if (undo && e.active() && E(i).rollback_of == failed_version) done = false;
      }
      if (undo_[k]) started_target = false;
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
      const Summary e = S(i);
      if (e.version != version || e.desired != Desired::kRunning) continue;
      if (e.state != ExecState::kFailed && !(e.active() && e.health == Health::kUnhealthy))
        continue;
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
        const Summary e = S(i);
        if (e.active() && e.desired == Desired::kRunning && e.version == r_.to_version)
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
      r_.wave_size = static_cast<int>(Targets().size());
      r_.canary_nodes.clear();
      r_.current_wave = 1;
      r_.total_waves = 1;
      ++plan_.waves_started;
      Event("WaveStarted", "query started on " + std::to_string(Targets().size()) + " nodes");
    }
    int completed = 0, failed = 0, running = 0;
    for (const std::string& id : Targets()) {
      const int node = NodeIndex(id);
      const NodeFacts* facts = Facts(node);
      const int e = TargetExecution(node);
      const bool active = e < 0 || S(e).active();
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
      } else if (S(e).state == ExecState::kCompleted) {
        ++completed;
      } else {
        ++failed;
      }
    }
    SetCounters(Targets().size(), completed + failed + running, completed, failed, 0);
    if (running > 0) {
      r_.message = std::to_string(completed + failed) + " of " + std::to_string(Targets().size()) +
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
                                   std::to_string(Targets().size()) + " nodes");
      job_.state = std::string(kJobFailed);
      job_.failed_version = r_.to_version;
      Event("QueryFailed", r_.message, "warning");
    }
  }

  // ---- a stopped job ----

  void StopEverything() {
    for (int i = 0; i < ExecCount(); ++i) {
      const Summary e = S(i);
      if (!e.active() || e.desired == Desired::kStopped) continue;
      Mut(i).desired_state = "stopped";
    }
    StopOnDeletedNodes();
  }

  // Executions on nodes that were deleted will never be reported again: they are stopped.
  void StopOnDeletedNodes() {
    for (int i = 0; i < ExecCount(); ++i) {
      if (Facts(exec_node_[static_cast<size_t>(i)]) != nullptr || !S(i).active()) continue;
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
      const Summary e = S(i);
      if (e.version != version || e.active()) continue;
      if (e.state == ExecState::kCompleted) {
        // a completed one-shot target is run again only by a new rollout of it, not by a
        // rollback to it (that is the rollback run's job)
        if (!target || e.rollout_id == r_.rollout_id || !one_shot_ ||
            r_.phase == kPhaseRollingBack || r_.phase == kPhaseRolledBack)
          return true;
      } else if (e.state == ExecState::kFailed) {
        if (!target) return true;
        if (e.rollout_id == r_.rollout_id && e.attempt >= r_.attempt) return true;
      }
    }
    return false;
  }

  void Converge() {
    const bool forward = r_.phase != kPhaseRollingBack;
    std::vector<int> order;
    std::vector<int> create;  // nodes given a new execution
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
          const Summary e = S(i);
          if (!e.active()) continue;
          if (e.desired == Desired::kStopped && facts != nullptr &&
              facts->connection == Connection::kLost) {
            // a lost node will not confirm the stop; its executions count as gone
            ExecutionRecord& m = Mut(i);
            m.state = "stopped";
            m.message = "node " + m.node_id + " was lost before it confirmed the stop";
            continue;
          }
          if (e.desired == Desired::kStopped) {
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
      if (Blocked(node, wanted) && !undo_[k]) continue;
      create.push_back(node);
    }
    plan_.create.reserve(create.size());
    for (int node : create) {
      const size_t k = static_cast<size_t>(node);
      NewExecution& e = plan_.create.emplace_back();
      e.node_id = std::string(ids_[k]);
      e.version = want_[k];
      const bool for_rollout = e.version == r_.to_version;
      e.rollout_id = for_rollout ? r_.rollout_id : 0;
      e.attempt = for_rollout ? r_.attempt : 0;
      e.wave = for_rollout ? std::max(0, wave_of_[k]) : 0;
      if (undo_[k]) e.rollback_of = r_.from_version.value_or(0);
    }
    StopOnDeletedNodes();
  }

  // Terminal executions that nothing needs any more: those of versions that are neither the
  // rollout's, nor stable; and the controller's finished stops once the rollout has ended.
  void CollectGarbage() {
    if (job_.spec.type == JobType::kQuery) return;  // results stay with their executions
    std::vector<int> live_versions = {r_.to_version, job_.version};
    if (r_.from_version) live_versions.push_back(*r_.from_version);
    if (job_.stable_version) live_versions.push_back(*job_.stable_version);
    const bool ended = IsTerminalPhase(r_.phase) || job_.stopped();
    for (int i = 0; i < ExecCount(); ++i) {
      if (Changed(i)) continue;
      const Summary& e = summary_[static_cast<size_t>(i)];
      if (e.active()) continue;
      const bool old_version =
          std::find(live_versions.begin(), live_versions.end(), e.version) == live_versions.end();
      const bool finished_stop =
          ended && e.desired == Desired::kStopped && e.state == ExecState::kStopped;
      if (old_version || finished_stop) plan_.remove.push_back(E(i).id);
    }
  }

  Plan Finish() {
    // updates by execution id: (first 8 bytes of the id, copy) pairs are sorted, then each
    // record is moved once
    std::vector<std::pair<uint64_t, size_t>> order;
    order.reserve(copies_.size());
    for (size_t c = 0; c < copies_.size(); ++c) order.emplace_back(IdPrefix(copies_[c].id), c);
    std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      const int by_id = copies_[a.second].id.compare(copies_[b.second].id);
      return by_id != 0 ? by_id < 0 : a.second < b.second;
    });
    plan_.update.reserve(order.size());
    for (const auto& [prefix, c] : order) plan_.update.push_back(std::move(copies_[c]));
    auto by_node = [](const NewExecution& a, const NewExecution& b) {
      return a.node_id < b.node_id;
    };
    if (!std::is_sorted(plan_.create.begin(), plan_.create.end(), by_node)) {
      std::sort(plan_.create.begin(), plan_.create.end(), by_node);
    }
    if (!job_.stopped() && !IsTerminalPhase(r_.phase) && job_.state != kJobQueued) {
      job_.state = JobStateForPhase(r_.phase, job_.spec.type);
    }
    if (!job_.stopped() && !IsTerminalPhase(r_.phase) && job_.state == kJobQueued &&
        plan_.waiting != Waiting::kNodes) {
      job_.state = JobStateForPhase(r_.phase, job_.spec.type);
    }
    if (job_.state != kJobQueued && !job_.stopped()) job_.message = r_.message;
    if (new_targets_ && *new_targets_ == original_rollout_.targets) new_targets_.reset();
    if (new_targets_ || FieldsButTargets(r_) != FieldsButTargets(original_rollout_)) {
      plan_.rollout = r_;  // r_ is still read below
      plan_.rollout->targets = new_targets_ ? std::move(*new_targets_) : original_rollout_.targets;
    }
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
  RolloutRecord r_;  // without its targets: they are Targets()
  const RolloutRecord& original_rollout_;
  std::optional<std::vector<std::string>> new_targets_;  // T0 when this decision chose it
  const Observed& observed_;
  const MonoTime now_;
  const std::string& wall_;
  const HealthRules rules_;
  const bool one_shot_;

  // nodes
  NodeTable index_;
  std::vector<const NodeFacts*> facts_;  // null: only known from an execution (deleted)
  std::vector<std::string_view> ids_;
  // executions
  std::vector<int> exec_node_;
  std::vector<Summary> summary_;  // as observed; S(i) for the plan's view
  std::vector<int> node_begin_;
  std::vector<int> node_execs_;
  std::vector<int> copy_of_;            // index in copies_ of a changed execution, or -1
  std::deque<ExecutionRecord> copies_;  // changed executions (a deque: references stay valid)
  std::vector<char> retry_exec_;
  // per node decisions
  std::vector<int> want_;     // version the node should run, 0: nothing
  std::vector<int> wave_of_;  // wave that gives it the target, -1: none
  std::vector<bool> undo_;    // an update's rollback run is to be created on the node
  std::vector<char> placed_;  // given the target by this decision
  std::vector<char> retry_node_;

  std::optional<MonoTime> next_deadline_;
  std::string first_failure_;
  bool rollback_started_now_ = false;
  bool waiting_on_executions_ = false;
  Plan plan_;
};

}  // namespace

ExecutionRecord NewExecutionRecord(const JobRecord& job, const NewExecution& create,
                                   const std::string& wall_now) {
  ExecutionRecord e;
  e.job_id = job.id;
  e.namespace_ = job.spec.namespace_;
  e.name = job.spec.name;
  e.node_id = create.node_id;
  e.version = create.version;
  e.created_at = wall_now;
  e.updated_at = wall_now;
  e.rollout_id = create.rollout_id;
  e.attempt = create.attempt;
  e.wave = create.wave;
  e.rollback_of = create.rollback_of;
  return e;
}

Plan Decide(const JobRecord& job, const RolloutRecord& rollout, const Observed& observed,
            MonoTime now, const std::string& wall_now) {
  return Decider(job, rollout, observed, now, wall_now).Run();
}

}  // namespace drover
