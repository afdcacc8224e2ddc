// The objects Drover keeps in its store besides the spec (SPEC §1, §3, §5): the job record with
// its status, every accepted version, events, the rollout record, nodes and executions — as plain
// values with JSON codecs. Timestamps are RFC 3339 strings supplied by the caller (api/ reads no
// clock). Plain data; no thread-safety concerns of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/job.h"
#include "api/status.h"

namespace drover {

// Job states of SPEC §5 ("Job states").
inline constexpr std::string_view kJobPending = "pending";
inline constexpr std::string_view kJobQueued = "queued";
inline constexpr std::string_view kJobDeploying = "deploying";
inline constexpr std::string_view kJobRolloutPaused = "rollout_paused";
inline constexpr std::string_view kJobRolloutFailed = "rollout_failed";
inline constexpr std::string_view kJobRunning = "running";
inline constexpr std::string_view kJobCompleted = "completed";
inline constexpr std::string_view kJobDegraded = "degraded";
inline constexpr std::string_view kJobFailed = "failed";
inline constexpr std::string_view kJobStopped = "stopped";

// Rollout phases of SPEC §5.
inline constexpr std::string_view kPhaseProgressing = "progressing";
inline constexpr std::string_view kPhaseAwaitingPromotion = "awaiting_promotion";
inline constexpr std::string_view kPhasePaused = "paused";
inline constexpr std::string_view kPhaseHalted = "halted";
inline constexpr std::string_view kPhaseRollingBack = "rolling_back";
inline constexpr std::string_view kPhaseSucceeded = "succeeded";
inline constexpr std::string_view kPhaseRolledBack = "rolled_back";
inline constexpr std::string_view kPhaseFailed = "failed";
inline constexpr std::string_view kPhaseSuperseded = "superseded";
inline constexpr std::string_view kPhaseCancelled = "cancelled";

bool IsTerminalPhase(std::string_view phase);

struct RolloutRecord {
  std::string phase = std::string(kPhaseProgressing);
  std::optional<int> from_version;  // the stable version when the rollout started
  int to_version = 1;
  std::string strategy = "immediate";
  int current_wave = 0;  // 1-based; 0 before the first wave
  int total_waves = 0;
  int target_nodes = 0;
  int updated_nodes = 0;
  int healthy_nodes = 0;
  int failed_nodes = 0;
  int skipped_nodes = 0;
  std::vector<std::string> canary_nodes;
  std::vector<std::string> targets;  // T0, in rollout order (kept in the store, not in status)
  int wave_size = 0;                 // W
  std::string paused_from;           // the phase a pause interrupted
  int64_t rollout_id = 0;  // unique per job and rollout (the job's event sequence at its start)
  int attempt = 0;         // bumped by "resume" after a halt: failed nodes are tried again
  bool promoted = false;   // canary: the canary wave was promoted (by hand or automatically)
  std::string rollback_reason;  // why it is rolling back: failure_budget, canary, operator
  std::string started_at;
  std::string completed_at;
  std::string message;

  bool operator==(const RolloutRecord&) const = default;
};

// What GET /jobs/{job} shows as status.rollout (no targets list).
Json RolloutStatusJson(const RolloutRecord& rollout);
Json RolloutRecordToJson(const RolloutRecord& rollout);
Result<RolloutRecord> RolloutRecordFromJson(const Json& json);

struct JobRecord {
  std::string id;  // j-<uuid>
  JobSpec spec;    // normalised
  int version = 1;
  std::string state = std::string(kJobPending);
  std::optional<int> stable_version;
  std::optional<int> failed_version;
  std::string message;
  std::string created_at;
  std::string updated_at;
  int64_t event_sequence = 0;  // the sequence number of the job's latest event

  bool stopped() const { return state == kJobStopped; }
};

Json JobRecordToJson(const JobRecord& job);  // the stored form (spec with durations in ns)
Result<JobRecord> JobRecordFromJson(const Json& json);

struct JobVersionRecord {
  int version = 1;
  JobSpec spec;
  std::string created_at;
  bool forced = false;
};

Json JobVersionToJson(const JobVersionRecord& v);
Result<JobVersionRecord> JobVersionFromJson(const Json& json);

struct EventRecord {
  std::string time;
  std::string type = "normal";  // normal | warning
  std::string reason;           // JobCreated, JobUpdated, WaveStarted, Halted, RolledBack, ...
  std::string message;
  int64_t sequence = 0;
};

Json EventToJson(const EventRecord& e);
Result<EventRecord> EventFromJson(const Json& json);

// A node as the controller keeps it durably (liveness lives in memory).
struct NodeRecord {
  std::string id;
  std::string name;
  Labels labels;
  std::string agent_version;
  std::string os;
  std::string arch;
  Json capacity = Json::object();
  bool schedulable = true;
  bool draining = false;
  std::string token_id;  // fingerprint of the agent token that registered it ("" without auth)
  std::string registered_at;

  bool operator==(const NodeRecord&) const = default;
};

Json NodeRecordToJson(const NodeRecord& n);
Result<NodeRecord> NodeRecordFromJson(const Json& json);

struct ExecutionRecord {
  std::string id;  // e-<uuid>
  std::string job_id;
  std::string namespace_;
  std::string name;
  std::string node_id;
  int version = 1;
  std::string desired_state = "running";  // running | stopped
  std::string state = "pending";          // pending starting running completed failed stopped
  std::string health = "unknown";         // unknown healthy unhealthy
  std::optional<int> exit_code;
  int restarts = 0;
  std::string stable_at;
  std::string message;
  std::string created_at;
  std::string updated_at;
  int64_t rollout_id = 0;  // the rollout that created it (RolloutRecord::rollout_id)
  int attempt = 0;         // the rollout's attempt when it was created
  int wave = 0;            // the wave that gave it (0: not part of a wave: stable placement)
  // Set when the controller stops it to make room for a rollout's version on its node: the
  // node counts as given that version (in that wave) while the stop completes.
  int64_t replaced_for_rollout = 0;
  int replaced_for_version = 0;
  int replaced_for_wave = 0;
  // An update job's rollback run (SPEC §4 rollback_command): this execution, of the version
  // rolled back to, runs version `rollback_of`'s rollback_command on the node instead of its own
  // command. 0: an ordinary execution.
  int rollback_of = 0;

  bool operator==(const ExecutionRecord&) const = default;
};

Json ExecutionToJson(const ExecutionRecord& e);
Result<ExecutionRecord> ExecutionFromJson(const Json& json);

}  // namespace drover
