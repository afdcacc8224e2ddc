// An assignment as the agent receives it from the controller (SPEC §8): which execution to run
// or stop, with the job version's full spec. Parsing is strict about what the agent needs and
// lenient about the rest, so a newer controller's extra fields never stop an older agent.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/job.h"
#include "api/status.h"

namespace drover::agent {

struct Assignment {
  std::string execution_id;
  std::string job_id;
  std::string namespace_;
  std::string name;
  int version = 0;
  JobType type = JobType::kPipeline;
  nlohmann::json config = nlohmann::json::object();
  RestartPolicy restart_policy = RestartPolicy::kOnFailure;
  Timeouts timeouts;
  HealthCheck health;             // the job's, or the defaults of SPEC §2
  bool has_health_check = false;  // the job declared one
  bool running = true;            // desired_state
  // An update's rollback run (the controller rolls the node back from version `rollback_of`):
  // `rollback_command`, when the rolled-back version declared one, runs instead of the command.
  int rollback_of = 0;
  std::vector<std::string> rollback_command;
  nlohmann::json raw;  // as received, for the agent's data dir
};

// Errors name the field, e.g. `assignments[2].type: unknown job type "batch"`.
Result<Assignment> ParseAssignment(const nlohmann::json& item);

}  // namespace drover::agent
