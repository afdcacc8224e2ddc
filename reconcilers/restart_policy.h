// Restart policy (SPEC §7), as the node applies it when a workload's process exits: restart it
// (after an exponential backoff), or end the execution completed or failed. Pure; the agent's
// supervisor calls AfterExit() on every exit and keeps the returned backoff for the next one.
#pragma once

#include <optional>
#include <string>

#include "api/duration.h"
#include "api/job.h"

namespace drover {

// Backoff between restarts: 1 s, doubling up to 5 min, back to 1 s after 10 min of running.
struct RestartBackoff {
  static constexpr Duration kInitial = Duration::Seconds(1);
  static constexpr Duration kMax = Duration::Minutes(5);
  static constexpr Duration kResetAfter = Duration::Minutes(10);
};

struct ExitFacts {
  JobType type = JobType::kPipeline;
  RestartPolicy policy = RestartPolicy::kOnFailure;
  int exit_code = 0;              // the process's exit code, or 128 + signal number
  bool stopped_by_agent = false;  // the agent asked it to stop (desired stopped, timeout)
  Duration ran_for;               // how long this run lasted
  Duration last_backoff;          // the delay before this run; zero for the first run
  int restarts = 0;               // restarts so far
  // Update jobs within a rollout restart at most this many times, then they have failed
  // (SPEC §4); nullopt: no limit.
  std::optional<int> max_restarts;
};

struct AfterExitDecision {
  enum class Outcome { kRestart, kCompleted, kFailed, kStopped } outcome = Outcome::kCompleted;
  Duration delay;   // kRestart: wait this long first (also the next ExitFacts::last_backoff)
  std::string why;  // for the execution's message, e.g. "exit code 1; restarting in 2s"
};

AfterExitDecision AfterExit(const ExitFacts& facts);

}  // namespace drover
