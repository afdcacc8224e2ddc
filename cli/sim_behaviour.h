// The scripted behaviour of `drover sim` (SPEC §8): which simulated executions misbehave and how,
// as pure functions of values. A BehaviourRule picks executions (by job, version and node); the
// first matching rule's kind, fixed into an ExecutionScript when a node first receives the
// assignment, says what the node reports over time; Observe() turns a script and the time since
// the assignment into the state, health and counts of one heartbeat entry. Offline windows say
// when a node is silent. No clock reads, no I/O: time is always passed in. Plain values and
// immutable-after-construction classes, safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "api/job.h"
#include "api/status.h"

namespace drover::sim {

// Time since a reference point (an assignment's arrival, the fleet's start).
using SimDuration = std::chrono::nanoseconds;

// What a simulated execution does.
//   healthy   long-running: running, health unknown until success_threshold windows, then
//             healthy. One-shot (query, update): completed, exit 0, after the one-shot run time.
//   unhealthy long-running: running with errors in every window, unhealthy after
//             failure_threshold windows. One-shot: failed, exit 1.
//   crash     a crash loop: restarts counts up once per health interval, unhealthy after
//             failure_threshold windows; one-shot types fail after failure_threshold restarts,
//             and restart_policy "never" fails at the first crash.
//   fail      failed, exit 1, shortly after it started (the one-shot run time).
//   slow      stays starting for the rule's delay, then behaves as healthy.
//   complete  a one-shot success, whatever the type: completed, exit 0.
//   hang      running forever, health unknown forever.
enum class BehaviourKind { kHealthy, kUnhealthy, kCrash, kFail, kSlow, kComplete, kHang };

std::string_view BehaviourKindName(BehaviourKind kind);
std::optional<BehaviourKind> ParseBehaviourKind(std::string_view text);

// Which nodes of the fleet a rule or an offline window applies to. Percent and count choices
// take a prefix of the fleet ranked by a hash of the node id, so they are reproducible, spread
// over the id range, and nest (the 10% are part of the 20%).
struct NodeChoice {
  enum class Mode { kAll, kIds, kPercent, kCount };
  Mode mode = Mode::kAll;
  std::set<std::string> ids;  // kIds
  double percent = 100;       // kPercent: 0..100; ceil(percent * N / 100) nodes
  int64_t count = 0;          // kCount: min(count, N) nodes

  bool operator==(const NodeChoice&) const = default;
};

// The nodes of `fleet` that `choice` selects.
std::unordered_set<std::string> ChooseNodes(const NodeChoice& choice,
                                            const std::vector<std::string>& fleet);

// One scripted behaviour and the executions it applies to.
struct BehaviourRule {
  std::string job;             // a job id, a name or "namespace/name"; empty: every job
  std::optional<int> version;  // empty: every version
  NodeChoice nodes;
  BehaviourKind kind = BehaviourKind::kHealthy;
  std::optional<SimDuration> delay;  // slow: how long executions stay starting
  std::optional<int> results;        // completed queries: result messages per node

  bool operator==(const BehaviourRule&) const = default;
};

// The --behaviour grammar:
//   RULE    := [MATCHER{,MATCHER} ":"] KIND{,OPTION}
//   MATCHER := job=NAME|NAMESPACE/NAME|JOB_ID | version=N
//            | nodes=all | nodes=P% | nodes=ID{|ID} | count=N
//   KIND    := healthy | unhealthy | crash | fail | slow | complete | hang
//   OPTION  := delay=DURATION (slow) | results=N (queries)
// e.g. "job=web,version=2,nodes=20%:unhealthy", "count=3:slow,delay=20s", "crash".
// Errors name the part that is wrong.
Result<BehaviourRule> ParseBehaviourRule(std::string_view text);

// A time when nodes send nothing: from `at` after the fleet started, for `length`.
struct OfflineWindow {
  NodeChoice nodes;
  SimDuration at{0};
  SimDuration length{0};

  bool operator==(const OfflineWindow&) const = default;
};

// The --offline grammar: comma-separated nodes=all|P%|ID{|ID} or count=N, at=DURATION (default
// 0s) and for=DURATION (required, > 0). e.g. "nodes=sim-00001|sim-00002,at=10s,for=30s",
// "count=5,at=1m,for=45s".
Result<OfflineWindow> ParseOfflineWindow(std::string_view text);

// A health check's timing (SPEC §6), from an assignment or the defaults.
struct HealthSettings {
  SimDuration interval = std::chrono::seconds(10);
  int success_threshold = 2;
  int failure_threshold = 3;
  double max_error_rate = 0.10;

  bool operator==(const HealthSettings&) const = default;
};

// An assignment's health_check: null or absent gives std::nullopt; an object gives its fields
// (durations in integer nanoseconds, missing fields take the SPEC defaults).
Result<std::optional<HealthSettings>> ParseHealthCheck(const Json& health_check);

// Timings shared by every execution of a fleet.
struct BehaviourSettings {
  HealthSettings default_health;  // used when an assignment's health_check is null
  SimDuration pending_for = std::chrono::milliseconds(100);
  SimDuration starting_for = std::chrono::milliseconds(200);
  SimDuration one_shot_run_time = std::chrono::milliseconds(200);
  SimDuration slow_delay = std::chrono::seconds(30);  // a slow rule without delay=
  int64_t messages_per_window = 100;
  int query_results = 1;  // a completed query's result messages, unless its rule says
};

// What the behaviour needs to know of one assignment on one node.
struct AssignmentFacts {
  std::string node_id;
  std::string job_id;
  std::string namespace_;
  std::string name;
  int version = 0;
  std::string type;            // pipeline | query | update | config
  std::string restart_policy;  // on-failure | always | never
  std::optional<HealthSettings> health_check;
};

// Whether a rule applies to an assignment, its nodes already resolved (`chosen` is the rule's
// resolved node set; ignored for kAll and kIds).
bool RuleMatches(const BehaviourRule& rule, const AssignmentFacts& facts,
                 const std::unordered_set<std::string>& chosen);

// Rules resolved against a fleet: the first matching rule wins.
class RuleBook {
 public:
  RuleBook() = default;
  RuleBook(std::vector<BehaviourRule> rules, const std::vector<std::string>& fleet);

  // The first rule that applies, or nullptr (the default: healthy).
  const BehaviourRule* Match(const AssignmentFacts& facts) const;
  const std::vector<BehaviourRule>& rules() const { return rules_; }

 private:
  std::vector<BehaviourRule> rules_;
  std::vector<std::unordered_set<std::string>> chosen_;  // per rule (percent and count rules)
};

// Offline windows resolved against a fleet, per node, merged where they overlap or touch.
class OfflinePlan {
 public:
  OfflinePlan() = default;
  OfflinePlan(const std::vector<OfflineWindow>& windows, const std::vector<std::string>& fleet);

  // When `node_id` is offline at `since_start`: when it comes back. std::nullopt when online.
  std::optional<SimDuration> OfflineUntil(const std::string& node_id,
                                          SimDuration since_start) const;
  // The start of the node's next offline time after `since_start`, if any.
  std::optional<SimDuration> NextOffline(const std::string& node_id, SimDuration since_start) const;
  size_t nodes() const { return windows_.size(); }

 private:
  // [start, end) per node, sorted and disjoint.
  std::unordered_map<std::string, std::vector<std::pair<SimDuration, SimDuration>>> windows_;
};

// How one execution behaves, fixed when its node first receives the assignment.
struct ExecutionScript {
  BehaviourKind kind = BehaviourKind::kHealthy;
  bool one_shot = false;       // query and update run once; pipeline and config keep running
  bool restart_never = false;  // restart_policy "never"
  HealthSettings health;
  SimDuration pending_for{0};
  SimDuration starting_for{0};  // the slow delay for kSlow
  SimDuration run_time{0};      // one-shot run time, and how long `fail` runs before failing
  int64_t messages_per_window = 0;
  int results = 0;  // result messages of a completed query (0 for other types)
  std::string node_id;
  std::string job_name;

  bool operator==(const ExecutionScript&) const = default;
};

// The script for an assignment under `rule` (nullptr: the default, healthy).
ExecutionScript MakeScript(const AssignmentFacts& facts, const BehaviourRule* rule,
                           const BehaviourSettings& settings);

// One heartbeat entry's worth of observed state.
struct Observation {
  std::string state = "pending";  // pending starting running completed failed stopped
  std::optional<int> exit_code;
  int restarts = 0;
  std::string health = "unknown";  // unknown healthy unhealthy
  int64_t processed = 0;           // the last complete health window's counts
  int64_t errors = 0;
  std::string message;
  Json results;  // null, or the output messages of a completed query

  bool operator==(const Observation&) const = default;
};

// completed, failed and stopped.
bool IsTerminalState(std::string_view state);

// What the execution reports `since_assigned` after its node received it. With
// `stop_requested_at` (time since assignment when the controller asked for a stop, or dropped
// the assignment): from then on a non-terminal execution is `stopped`; a terminal one keeps its
// outcome.
Observation Observe(const ExecutionScript& script, SimDuration since_assigned,
                    std::optional<SimDuration> stop_requested_at = std::nullopt);

// The result messages of a completed query: {"node_id", "job"} objects (with "seq" when there is
// more than one).
Json QueryResults(const std::string& node_id, const std::string& job_name, int count);

// A heartbeat entry (SPEC §8) for one execution.
Json ExecutionReportJson(const std::string& execution_id, const std::string& job_id, int version,
                         const Observation& observation);

}  // namespace drover::sim
