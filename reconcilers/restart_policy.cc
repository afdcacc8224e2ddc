#include "reconcilers/restart_policy.h"

#include <algorithm>

namespace drover {
namespace {

std::string ExitText(int exit_code) {
  if (exit_code > 128) return "killed by signal " + std::to_string(exit_code - 128);
  return "exit code " + std::to_string(exit_code);
}

}  // namespace

AfterExitDecision AfterExit(const ExitFacts& f) {
  using Outcome = AfterExitDecision::Outcome;
  AfterExitDecision d;
  if (f.stopped_by_agent) {
    d.outcome = Outcome::kStopped;
    d.why = "stopped";
    return d;
  }
  const bool clean = f.exit_code == 0;
  // Queries are one bounded run: their policy is never (SPEC §4).
  const RestartPolicy policy = f.type == JobType::kQuery ? RestartPolicy::kNever : f.policy;
  bool restart = false;
  switch (policy) {
    case RestartPolicy::kAlways:
      restart = true;
      break;
    case RestartPolicy::kOnFailure:
      restart = !clean;
      break;
    case RestartPolicy::kNever:
      restart = false;
      break;
  }
  if (restart && f.max_restarts && f.restarts >= *f.max_restarts) {
    d.outcome = Outcome::kFailed;
    d.why =
        ExitText(f.exit_code) + " after " + std::to_string(f.restarts) + " restarts (the limit)";
    return d;
  }
  if (!restart) {
    d.outcome = clean ? Outcome::kCompleted : Outcome::kFailed;
    d.why = clean ? "completed" : ExitText(f.exit_code);
    return d;
  }
  d.outcome = Outcome::kRestart;
  if (f.ran_for >= RestartBackoff::kResetAfter || f.last_backoff <= Duration()) {
    d.delay = RestartBackoff::kInitial;
  } else {
    d.delay =
        std::min(Duration::Nanoseconds(f.last_backoff.nanoseconds() * 2), RestartBackoff::kMax);
  }
  d.why = ExitText(f.exit_code) + "; restarting in " + d.delay.ToString();
  return d;
}

}  // namespace drover
