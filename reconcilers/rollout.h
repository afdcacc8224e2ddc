// The rollout state machine and placement of SPEC §4–§7 as one pure function:
// Decide(desired, observed, now) -> Plan. Given a job (its latest spec and status), its rollout
// record, the fleet as the controller sees it and the job's executions, it says which executions
// to create, stop, mark or delete, the next rollout record and job status, the events to write,
// and when to look again. Every type (pipeline, query, update, config) and strategy (immediate,
// rolling, canary) goes through here; the runtime (controller/job_controller.h) only observes and
// applies. Pure: no clock, no I/O; safe to call from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/records.h"

namespace drover {

using MonoTime = std::chrono::steady_clock::time_point;

enum class Connection { kConnected, kDisconnected, kLost };

// What the decision needs to know of one node. The runtime passes every node that matches the
// job's selector and every node that holds one of the job's executions.
struct NodeFacts {
  std::string id;
  bool matches = false;  // the selector of the job's latest spec matches it
  Connection connection = Connection::kConnected;
  bool schedulable = true;  // false when cordoned
  bool draining = false;
};

// The controller's own observations of an execution on its monotonic clock (SPEC §5, pitfall
// 12: never node clocks). Kept in memory by the runtime; after a controller restart they start
// again from the restart, which can only lengthen a deadline, never shorten it.
struct ExecutionTiming {
  MonoTime first_seen{};            // when this controller first knew the execution
  std::optional<MonoTime> started;  // first seen `starting` or `running` (reset on restart)
  int restarts_at_start = 0;        // the restart count when `started` was set
};

struct Observed {
  std::vector<NodeFacts> nodes;
  std::vector<ExecutionRecord> executions;  // every stored execution of the job
  // timing[i] belongs to executions[i]; missing entries count as first seen `now`.
  std::vector<ExecutionTiming> timing;
  // When this controller first saw the rollout in its current phase (the rollback deadline,
  // the query's wait for nodes and total_timeout count from here).
  MonoTime phase_since{};
};

// Why a non-terminal rollout may have no deadline: it waits for a human (paused, awaiting
// promotion, halted), for a matching node to connect, or for one-shot executions (query, update)
// that run with neither execution_timeout nor total_timeout to end by themselves (they also end
// when their node is lost or the job is stopped).
enum class Waiting { kNone, kHuman, kNodes, kExecutions };

// A new execution the plan creates, in compact form: the rest of its record follows from the
// job and the decision's time (NewExecutionRecord). A 100,000-node placement plans 100,000 of
// these, so they hold no more than what differs from one node to the next.
struct NewExecution {
  std::string node_id;
  int version = 1;
  int64_t rollout_id = 0;  // the rollout that creates it, 0 for a stable placement outside it
  int attempt = 0;
  int wave = 0;         // the wave that gives it (0: not part of a wave)
  int rollback_of = 0;  // an update's rollback run (ExecutionRecord::rollback_of)

  bool operator==(const NewExecution&) const = default;
};

// The record of a planned execution of `job` decided at `wall_now` (the `wall_now` given to
// Decide): desired running, state pending, created and updated then; the id is left empty for
// the runtime.
ExecutionRecord NewExecutionRecord(const JobRecord& job, const NewExecution& create,
                                   const std::string& wall_now);

struct Plan {
  std::vector<NewExecution> create;      // new executions, by node id; see NewExecutionRecord
  std::vector<ExecutionRecord> update;   // changed executions (stop requests, controller verdicts)
  std::vector<std::string> remove;       // ids of terminal executions to garbage-collect
  std::optional<RolloutRecord> rollout;  // the new rollout record, when it changed
  std::optional<JobRecord> job;          // the new job record, when its status changed
  std::vector<EventRecord> events;       // sequence numbers are assigned by the runtime
  std::optional<std::chrono::nanoseconds> requeue_after;  // the next deadline, if any
  Waiting waiting = Waiting::kNone;
  int waves_started = 0;               // for drover_rollout_waves_total
  std::vector<std::string> rollbacks;  // reasons of rollbacks started, for drover_rollbacks_total

  bool empty() const {
    return create.empty() && update.empty() && remove.empty() && !rollout && !job && events.empty();
  }
};

// Defaults the controller uses where a spec has no health_check (immediate strategy, one-shot
// types): one interval of 10 s without a restart makes a node healthy; a node given the version
// that is still not healthy after 5 minutes has failed (so no rollout hangs on a silent node).
inline constexpr std::chrono::seconds kDefaultHealthDeadline{300};
// Grace the controller gives the agent past execution_timeout before it enforces it itself.
inline constexpr std::chrono::seconds kExecutionTimeoutGrace{10};

Plan Decide(const JobRecord& job, const RolloutRecord& rollout, const Observed& observed,
            MonoTime now, const std::string& wall_now);

}  // namespace drover
