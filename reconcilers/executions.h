// Execution convergence, the step every job type and rollout strategy shares (SPEC §1, §4, §8):
// given which version each node should run (or nothing), and the executions that exist, which
// executions to create and which to stop — keeping the invariant that a (job, node) pair never
// has two non-terminal executions: a node's old execution is stopped first, and its replacement
// is created only once the old one is terminal. Pure functions of their arguments.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/records.h"

namespace drover {

// pending, starting and running are non-terminal; completed, failed and stopped are terminal.
bool IsTerminalExecutionState(std::string_view state);

// An execution counts as active on its node until it is terminal.
inline bool IsActive(const ExecutionRecord& e) { return !IsTerminalExecutionState(e.state); }

struct ExecutionChanges {
  std::vector<ExecutionRecord> create;  // new executions (ids left empty for the caller)
  std::vector<ExecutionRecord> stop;    // existing executions with desired_state set to stopped
  std::vector<std::string> waiting;     // nodes whose replacement waits for a stop to finish
  bool operator==(const ExecutionChanges&) const = default;
};

// `want` maps node id -> the version the node should run; nodes not in it should run nothing.
// `one_shot` (query, update): a node whose execution of the wanted version completed or failed is
// done (an update runs once per node per version; retries are the agent's restart policy) and
// gets no new execution; one stopped by the controller (a drain) may run again.
ExecutionChanges ConvergeExecutions(const JobRecord& job, const std::map<std::string, int>& want,
                                    const std::vector<ExecutionRecord>& existing, bool one_shot,
                                    const std::string& now);

// What an agent's heartbeat says of one execution (SPEC §8).
struct ReportedState {
  std::string state;
  std::string health;
  std::optional<int> exit_code;
  int restarts = 0;
  std::string message;
};

// Merges a report into the stored record: false when nothing would change. A terminal record is
// final (execution ids are per run); `stable_at` is set (to `now`) the first time it is healthy.
bool MergeReport(const ReportedState& report, const std::string& now, ExecutionRecord* record);

}  // namespace drover
