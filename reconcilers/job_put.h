// What a PUT of a job spec does (SPEC §3), decided from the stored job and the proposed spec
// alone: create, update, unchanged, forced re-rollout, or restart of a stopped job. Also the
// rollout controls (SPEC §5 "Controls") as transitions of a rollout record. Pure functions.
#pragma once

#include <optional>
#include <string>

#include "api/job.h"
#include "api/records.h"
#include "api/status.h"

namespace drover {

enum class PutOutcome {
  kCreated,    // new name: 201, version 1
  kUpdated,    // spec changed: 200, version + 1, a new rollout
  kUnchanged,  // same spec, no force: 422, nothing written
  kForced,     // same spec, force: 200, version + 1 with the same spec (re-rollout)
  kRestarted,  // stopped job, same spec, no force: 200, same version, starts again
};

struct PutDecision {
  PutOutcome outcome = PutOutcome::kCreated;
  int version = 1;          // the version the job has after the PUT
  bool new_version = true;  // a JobVersion record is written
  bool new_rollout = true;  // a rollout record is (re)started
  int http_status = 201;
  std::string event_reason;  // JobCreated, JobUpdated, JobForced, JobRestarted ("" if none)
};

// `existing` is the stored job, if any (its spec normalised, as `proposed` is).
PutDecision DecidePut(const JobRecord* existing, const JobSpec& proposed, bool force);

// The rollout a new version starts: from the stable version (if any) to `to_version`.
RolloutRecord NewRollout(const JobSpec& spec, std::optional<int> from_version, int to_version,
                         const std::string& now);

enum class RolloutControl { kPause, kResume, kPromote, kRollback };

std::optional<RolloutControl> ParseRolloutControl(std::string_view name);

// Applies a control to a rollout: the new record, or kConflict naming the current phase when
// the phase does not allow it (the HTTP layer answers 409 with field "rollout.phase"). A
// rollback of a succeeded rollout needs `to_version`; `stable_version` is the job's.
Result<RolloutRecord> ApplyRolloutControl(const RolloutRecord& rollout, RolloutControl control,
                                          std::optional<int> to_version,
                                          std::optional<int> stable_version,
                                          const std::string& now);

// The job state that a rollout phase implies (SPEC §5 "Job states"), for one-shot types too.
std::string JobStateForPhase(std::string_view phase, JobType type);

}  // namespace drover
