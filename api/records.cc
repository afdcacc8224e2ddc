#include "api/records.h"

#include "api/job_codec.h"
#include "api/validation.h"

namespace drover {
namespace {

template <typename T>
T Value(const Json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

std::optional<int> OptionalInt(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<int>();
}

Json OptionalJson(const std::optional<int>& v) { return v ? Json(*v) : Json(nullptr); }

// Stored specs were validated before they were written; decoding them again only fails when
// the store holds something Drover did not write.
Result<JobSpec> SpecFromJson(const Json& j) {
  Diagnostics d;
  JobSpec spec = DecodeJobSpec(j, "spec", &d);
  if (!d.ok()) return InternalError("stored spec does not decode: " + d.Summary());
  // The decoder drops reserved meta from users; a stored spec's is the system's own: keep it.
  if (auto meta = j.find("meta"); meta != j.end() && meta->is_object()) {
    for (const auto& [k, v] : meta->items()) {
      if (IsReservedMetaKey(k) && v.is_string()) spec.meta[k] = v.get<std::string>();
    }
  }
  return spec;
}

template <typename F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return InternalError(std::string("malformed stored record: ") + e.what());
  }
}

}  // namespace

bool IsTerminalPhase(std::string_view phase) {
  return phase == kPhaseSucceeded || phase == kPhaseRolledBack || phase == kPhaseFailed ||
         phase == kPhaseSuperseded || phase == kPhaseCancelled;
}

Json RolloutStatusJson(const RolloutRecord& r) {
  return {{"phase", r.phase},
          {"from_version", OptionalJson(r.from_version)},
          {"to_version", r.to_version},
          {"strategy", r.strategy},
          {"current_wave", r.current_wave},
          {"total_waves", r.total_waves},
          {"target_nodes", r.target_nodes},
          {"updated_nodes", r.updated_nodes},
          {"healthy_nodes", r.healthy_nodes},
          {"failed_nodes", r.failed_nodes},
          {"skipped_nodes", r.skipped_nodes},
          {"canary_nodes", r.canary_nodes},
          {"started_at", r.started_at},
          {"completed_at", r.completed_at.empty() ? Json(nullptr) : Json(r.completed_at)},
          {"message", r.message}};
}

Json RolloutRecordToJson(const RolloutRecord& r) {
  Json j = RolloutStatusJson(r);
  j["targets"] = r.targets;
  j["wave_size"] = r.wave_size;
  j["paused_from"] = r.paused_from;
  j["rollout_id"] = r.rollout_id;
  j["attempt"] = r.attempt;
  j["promoted"] = r.promoted;
  j["rollback_reason"] = r.rollback_reason;
  return j;
}

Result<RolloutRecord> RolloutRecordFromJson(const Json& j) {
  return Guard([&]() -> Result<RolloutRecord> {
    RolloutRecord r;
    r.phase = Value<std::string>(j, "phase", r.phase);
    r.from_version = OptionalInt(j, "from_version");
    r.to_version = Value<int>(j, "to_version", 1);
    r.strategy = Value<std::string>(j, "strategy", r.strategy);
    r.current_wave = Value<int>(j, "current_wave", 0);
    r.total_waves = Value<int>(j, "total_waves", 0);
    r.target_nodes = Value<int>(j, "target_nodes", 0);
    r.updated_nodes = Value<int>(j, "updated_nodes", 0);
    r.healthy_nodes = Value<int>(j, "healthy_nodes", 0);
    r.failed_nodes = Value<int>(j, "failed_nodes", 0);
    r.skipped_nodes = Value<int>(j, "skipped_nodes", 0);
    r.canary_nodes = Value<std::vector<std::string>>(j, "canary_nodes", {});
    r.targets = Value<std::vector<std::string>>(j, "targets", {});
    r.wave_size = Value<int>(j, "wave_size", 0);
    r.paused_from = Value<std::string>(j, "paused_from", "");
    r.rollout_id = Value<int64_t>(j, "rollout_id", 0);
    r.attempt = Value<int>(j, "attempt", 0);
    r.promoted = Value<bool>(j, "promoted", false);
    r.rollback_reason = Value<std::string>(j, "rollback_reason", "");
    r.started_at = Value<std::string>(j, "started_at", "");
    r.completed_at = Value<std::string>(j, "completed_at", "");
    r.message = Value<std::string>(j, "message", "");
    return r;
  });
}

Json JobRecordToJson(const JobRecord& job) {
  return {{"id", job.id},
          {"spec", EncodeJobSpec(job.spec)},
          {"version", job.version},
          {"state", job.state},
          {"stable_version", OptionalJson(job.stable_version)},
          {"failed_version", OptionalJson(job.failed_version)},
          {"message", job.message},
          {"created_at", job.created_at},
          {"updated_at", job.updated_at},
          {"event_sequence", job.event_sequence}};
}

Result<JobRecord> JobRecordFromJson(const Json& j) {
  return Guard([&]() -> Result<JobRecord> {
    JobRecord job;
    job.id = j.at("id").get<std::string>();
    Result<JobSpec> spec = SpecFromJson(j.at("spec"));
    if (!spec.ok()) return spec.status();
    job.spec = std::move(spec).value();
    job.version = j.at("version").get<int>();
    job.state = Value<std::string>(j, "state", job.state);
    job.stable_version = OptionalInt(j, "stable_version");
    job.failed_version = OptionalInt(j, "failed_version");
    job.message = Value<std::string>(j, "message", "");
    job.created_at = Value<std::string>(j, "created_at", "");
    job.updated_at = Value<std::string>(j, "updated_at", "");
    job.event_sequence = Value<int64_t>(j, "event_sequence", 0);
    return job;
  });
}

Json JobVersionToJson(const JobVersionRecord& v) {
  return {{"version", v.version},
          {"spec", EncodeJobSpec(v.spec)},
          {"created_at", v.created_at},
          {"forced", v.forced}};
}

Result<JobVersionRecord> JobVersionFromJson(const Json& j) {
  return Guard([&]() -> Result<JobVersionRecord> {
    JobVersionRecord v;
    v.version = j.at("version").get<int>();
    Result<JobSpec> spec = SpecFromJson(j.at("spec"));
    if (!spec.ok()) return spec.status();
    v.spec = std::move(spec).value();
    v.created_at = Value<std::string>(j, "created_at", "");
    v.forced = Value<bool>(j, "forced", false);
    return v;
  });
}

Json EventToJson(const EventRecord& e) {
  return {{"time", e.time},
          {"type", e.type},
          {"reason", e.reason},
          {"message", e.message},
          {"sequence", e.sequence}};
}

Result<EventRecord> EventFromJson(const Json& j) {
  return Guard([&]() -> Result<EventRecord> {
    EventRecord e;
    e.time = Value<std::string>(j, "time", "");
    e.type = Value<std::string>(j, "type", "normal");
    e.reason = Value<std::string>(j, "reason", "");
    e.message = Value<std::string>(j, "message", "");
    e.sequence = Value<int64_t>(j, "sequence", 0);
    return e;
  });
}

Json NodeRecordToJson(const NodeRecord& n) {
  return {{"id", n.id},
          {"name", n.name},
          {"labels", n.labels},
          {"agent_version", n.agent_version},
          {"os", n.os},
          {"arch", n.arch},
          {"capacity", n.capacity},
          {"schedulable", n.schedulable},
          {"draining", n.draining},
          {"token_id", n.token_id},
          {"registered_at", n.registered_at}};
}

Result<NodeRecord> NodeRecordFromJson(const Json& j) {
  return Guard([&]() -> Result<NodeRecord> {
    NodeRecord n;
    n.id = j.at("id").get<std::string>();
    n.name = Value<std::string>(j, "name", n.id);
    n.labels = Value<Labels>(j, "labels", {});
    n.agent_version = Value<std::string>(j, "agent_version", "");
    n.os = Value<std::string>(j, "os", "");
    n.arch = Value<std::string>(j, "arch", "");
    n.capacity = Value<Json>(j, "capacity", Json::object());
    n.schedulable = Value<bool>(j, "schedulable", true);
    n.draining = Value<bool>(j, "draining", false);
    n.token_id = Value<std::string>(j, "token_id", "");
    n.registered_at = Value<std::string>(j, "registered_at", "");
    return n;
  });
}

Json ExecutionToJson(const ExecutionRecord& e) {
  return {{"id", e.id},
          {"job_id", e.job_id},
          {"namespace", e.namespace_},
          {"name", e.name},
          {"node_id", e.node_id},
          {"version", e.version},
          {"desired_state", e.desired_state},
          {"state", e.state},
          {"health", e.health},
          {"exit_code", e.exit_code ? Json(*e.exit_code) : Json(nullptr)},
          {"restarts", e.restarts},
          {"stable_at", e.stable_at.empty() ? Json(nullptr) : Json(e.stable_at)},
          {"message", e.message},
          {"created_at", e.created_at},
          {"updated_at", e.updated_at},
          {"rollout_id", e.rollout_id},
          {"attempt", e.attempt},
          {"wave", e.wave},
          {"replaced_for_rollout", e.replaced_for_rollout},
          {"replaced_for_version", e.replaced_for_version},
          {"replaced_for_wave", e.replaced_for_wave},
          {"rollback_of", e.rollback_of}};
}

Result<ExecutionRecord> ExecutionFromJson(const Json& j) {
  return Guard([&]() -> Result<ExecutionRecord> {
    ExecutionRecord e;
    e.id = j.at("id").get<std::string>();
    e.job_id = Value<std::string>(j, "job_id", "");
    e.namespace_ = Value<std::string>(j, "namespace", "");
    e.name = Value<std::string>(j, "name", "");
    e.node_id = Value<std::string>(j, "node_id", "");
    e.version = Value<int>(j, "version", 1);
    e.desired_state = Value<std::string>(j, "desired_state", "running");
    e.state = Value<std::string>(j, "state", "pending");
    e.health = Value<std::string>(j, "health", "unknown");
    e.exit_code = OptionalInt(j, "exit_code");
    e.restarts = Value<int>(j, "restarts", 0);
    e.stable_at = Value<std::string>(j, "stable_at", "");
    e.message = Value<std::string>(j, "message", "");
    e.created_at = Value<std::string>(j, "created_at", "");
    e.updated_at = Value<std::string>(j, "updated_at", "");
    e.rollout_id = Value<int64_t>(j, "rollout_id", 0);
    e.attempt = Value<int>(j, "attempt", 0);
    e.wave = Value<int>(j, "wave", 0);
    e.replaced_for_rollout = Value<int64_t>(j, "replaced_for_rollout", 0);
    e.replaced_for_version = Value<int>(j, "replaced_for_version", 0);
    e.replaced_for_wave = Value<int>(j, "replaced_for_wave", 0);
    e.rollback_of = Value<int>(j, "rollback_of", 0);
    return e;
  });
}

}  // namespace drover
