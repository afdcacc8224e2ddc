// What a node must do to match its assignments (SPEC §8): which executions to start, which to
// stop, and which finished ones to forget. Pure; the agent calls ConvergeNode() whenever its
// assignments or its local executions change, then carries the actions out.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace drover {

// One assignment as the controller sent it, in the controller's order (priority first).
struct DesiredExecution {
  std::string execution_id;
  std::string job_id;
  bool running = true;  // desired_state: running (true) or stopped
};

enum class LocalPhase {
  kActive,    // started: running, starting, or waiting to restart after a backoff
  kStopping,  // asked to stop, its process has not exited yet
  kTerminal,  // completed, failed or stopped; kept until the controller has seen it
};

struct LocalExecution {
  std::string execution_id;
  std::string job_id;
  LocalPhase phase = LocalPhase::kActive;
  bool terminal_reported = false;  // a heartbeat carrying its terminal state was answered
};

struct NodeActions {
  std::vector<std::string> start;    // in assignment order
  std::vector<std::string> stop;     // active executions no longer wanted
  std::vector<std::string> forget;   // terminal, reported, and no longer assigned
  std::vector<std::string> waiting;  // wanted but not started: no free slot, or the job's
                                     // previous execution is still stopping here
};

// `capacity`: the node's max_executions (active + stopping count against it); nullopt: no limit.
// An execution is not started while another execution of the same job is still active or
// stopping on the node, so two versions of one job never run side by side.
NodeActions ConvergeNode(const std::vector<DesiredExecution>& desired,
                         const std::vector<LocalExecution>& local, std::optional<int> capacity);

}  // namespace drover
