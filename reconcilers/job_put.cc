#include "reconcilers/job_put.h"

namespace drover {

PutDecision DecidePut(const JobRecord* existing, const JobSpec& proposed, bool force) {
  PutDecision d;
  if (existing == nullptr) return d;  // created, version 1
  const bool equal = existing->spec == proposed;
  d.http_status = 200;
  if (!equal) {
    d.outcome = PutOutcome::kUpdated;
    d.version = existing->version + 1;
    d.event_reason = "JobUpdated";
    return d;
  }
  if (force) {
    d.outcome = PutOutcome::kForced;
    d.version = existing->version + 1;
    d.event_reason = "JobForced";
    return d;
  }
  if (existing->stopped()) {
    d.outcome = PutOutcome::kRestarted;
    d.version = existing->version;
    d.new_version = false;
    d.event_reason = "JobRestarted";
    return d;
  }
  d.outcome = PutOutcome::kUnchanged;
  d.version = existing->version;
  d.new_version = false;
  d.new_rollout = false;
  d.http_status = 422;
  return d;
}

RolloutRecord NewRollout(const JobSpec& spec, std::optional<int> from_version, int to_version,
                         const std::string& now) {
  RolloutRecord r;
  r.phase = std::string(kPhaseProgressing);
  r.from_version = from_version;
  r.to_version = to_version;
  r.strategy = std::string(RolloutStrategyName(spec.rollout.strategy));
  r.started_at = now;
  r.message = "waiting for the controller to place version " + std::to_string(to_version);
  return r;
}

std::optional<RolloutControl> ParseRolloutControl(std::string_view name) {
  if (name == "pause") return RolloutControl::kPause;
  if (name == "resume") return RolloutControl::kResume;
  if (name == "promote") return RolloutControl::kPromote;
  if (name == "rollback") return RolloutControl::kRollback;
  return std::nullopt;
}

Result<RolloutRecord> ApplyRolloutControl(const RolloutRecord& rollout, RolloutControl control,
                                          std::optional<int> to_version,
                                          std::optional<int> stable_version,
                                          const std::string& now) {
  const std::string& phase = rollout.phase;
  auto conflict = [&](const std::string& why) -> Status {
    return ConflictError(why + " (rollout phase is \"" + phase + "\")");
  };
  RolloutRecord next = rollout;
  switch (control) {
    case RolloutControl::kPause:
      if (phase != kPhaseProgressing && phase != kPhaseAwaitingPromotion) {
        return conflict("pause needs a progressing rollout or one awaiting promotion");
      }
      next.paused_from = phase;
      next.phase = std::string(kPhasePaused);
      next.message = "paused by an operator";
      return next;
    case RolloutControl::kResume:
      if (phase == kPhasePaused) {
        next.phase =
            rollout.paused_from.empty() ? std::string(kPhaseProgressing) : rollout.paused_from;
        next.paused_from.clear();
        next.message = "resumed by an operator";
        return next;
      }
      if (phase == kPhaseHalted) {
        next.phase = std::string(kPhaseProgressing);
        next.failed_nodes = 0;
        ++next.attempt;
        next.message = "resumed after a halt: failed nodes get the target version again";
        return next;
      }
      return conflict("resume needs a paused or halted rollout");
    case RolloutControl::kPromote:
      if (phase != kPhaseAwaitingPromotion) {
        return conflict("promote needs a canary rollout awaiting promotion");
      }
      next.phase = std::string(kPhaseProgressing);
      next.promoted = true;
      next.message = "canary promoted by an operator";
      return next;
    case RolloutControl::kRollback: {
      bool active = phase == kPhaseProgressing || phase == kPhasePaused ||
                    phase == kPhaseAwaitingPromotion || phase == kPhaseHalted;
      if (phase == kPhaseSucceeded) {
        if (!to_version)
          return conflict("rollback of a succeeded rollout needs {\"to_version\": N}");
        if (*to_version < 1 || *to_version >= rollout.to_version) {
          return InvalidError("to_version must be an earlier version, 1.." +
                              std::to_string(rollout.to_version - 1));
        }
      } else if (!active) {
        return conflict("rollback needs an active, halted or succeeded rollout");
      }
      std::optional<int> target = to_version ? to_version : stable_version;
      if (!target) return conflict("there is no stable version to roll back to");
      if (to_version && *to_version >= rollout.to_version && phase != kPhaseSucceeded) {
        return InvalidError("to_version must be an earlier version than " +
                            std::to_string(rollout.to_version));
      }
      next.phase = std::string(kPhaseRollingBack);
      next.rollback_reason = "operator";
      next.from_version = rollout.to_version;
      next.to_version = *target;
      next.message = "rolling back to version " + std::to_string(*target) + " (operator)";
      next.started_at = now;
      next.completed_at.clear();
      return next;
    }
  }
  return InternalError("unknown rollout control");
}

std::string JobStateForPhase(std::string_view phase, JobType type) {
  bool one_shot = type == JobType::kQuery || type == JobType::kUpdate;
  if (phase == kPhaseProgressing || phase == kPhaseRollingBack) return std::string(kJobDeploying);
  if (phase == kPhasePaused || phase == kPhaseAwaitingPromotion) {
    return std::string(kJobRolloutPaused);
  }
  if (phase == kPhaseHalted || phase == kPhaseFailed || phase == kPhaseRolledBack) {
    return std::string(kJobRolloutFailed);
  }
  if (phase == kPhaseSucceeded) return std::string(one_shot ? kJobCompleted : kJobRunning);
  if (phase == kPhaseCancelled) return std::string(kJobStopped);
  return std::string(kJobPending);
}

}  // namespace drover
