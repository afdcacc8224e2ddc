#include "agent/assignment.h"

#include "api/duration.h"

namespace drover::agent {
namespace {

using Json = nlohmann::json;

// Durations arrive as integer nanoseconds (the controller's encoding) or as strings ("10s").
bool ReadDuration(const Json& object, const char* key, Duration* out, std::string* error) {
  if (!object.contains(key) || object[key].is_null()) return true;
  const Json& v = object[key];
  if (v.is_number_integer()) {
    *out = Duration::Nanoseconds(v.get<int64_t>());
    return true;
  }
  if (v.is_string()) {
    Result<Duration> d = ParseDuration(v.get<std::string>());
    if (d.ok()) {
      *out = *d;
      return true;
    }
  }
  *error = std::string("health_check.") + key + ": expected a duration";
  return false;
}

}  // namespace

Result<Assignment> ParseAssignment(const Json& item) {
  if (!item.is_object()) return InvalidError("expected an object");
  Assignment a;
  a.raw = item;
  auto text = [&](const char* key, std::string* out) -> bool {
    if (!item.contains(key) || !item[key].is_string()) return false;
    *out = item[key].get<std::string>();
    return true;
  };
  if (!text("execution_id", &a.execution_id) || a.execution_id.empty()) {
    return InvalidError("execution_id: required");
  }
  text("job_id", &a.job_id);
  text("namespace", &a.namespace_);
  text("name", &a.name);
  if (a.job_id.empty()) a.job_id = a.namespace_ + "/" + a.name;
  if (item.contains("version") && item["version"].is_number_integer()) {
    a.version = item["version"].get<int>();
  }
  std::string type;
  text("type", &type);
  std::optional<JobType> t = ParseJobType(type);
  if (!t) return InvalidError("type: unknown job type \"" + type + "\"");
  a.type = *t;
  if (item.contains("config") && item["config"].is_object()) a.config = item["config"];
  std::string policy;
  if (text("restart_policy", &policy) && !policy.empty()) {
    std::optional<RestartPolicy> p = ParseRestartPolicy(policy);
    if (!p) return InvalidError("restart_policy: unknown policy \"" + policy + "\"");
    a.restart_policy = *p;
  }
  if (item.contains("timeouts") && item["timeouts"].is_object()) {
    const Json& to = item["timeouts"];
    a.timeouts.execution_timeout = to.value("execution_timeout", int64_t{0});
    a.timeouts.queue_timeout = to.value("queue_timeout", int64_t{0});
    a.timeouts.total_timeout = to.value("total_timeout", int64_t{0});
  }
  if (item.contains("health_check") && item["health_check"].is_object()) {
    const Json& h = item["health_check"];
    a.has_health_check = true;
    std::string error;
    if (!ReadDuration(h, "deadline", &a.health.deadline, &error) ||
        !ReadDuration(h, "interval", &a.health.interval, &error)) {
      return InvalidError(error);
    }
    if (h.contains("success_threshold") && h["success_threshold"].is_number_integer()) {
      a.health.success_threshold = h["success_threshold"].get<int>();
    }
    if (h.contains("failure_threshold") && h["failure_threshold"].is_number_integer()) {
      a.health.failure_threshold = h["failure_threshold"].get<int>();
    }
    if (h.contains("max_error_rate") && h["max_error_rate"].is_number()) {
      a.health.max_error_rate = h["max_error_rate"].get<double>();
    }
  }
  if (a.health.interval <= Duration()) a.health.interval = JobDefaults::kHealthInterval;
  if (a.health.success_threshold < 1) a.health.success_threshold = 1;
  if (a.health.failure_threshold < 1) a.health.failure_threshold = 1;
  if (item.contains("rollback_of") && item["rollback_of"].is_number_integer()) {
    a.rollback_of = item["rollback_of"].get<int>();
  }
  if (item.contains("rollback_command") && item["rollback_command"].is_array()) {
    for (const Json& arg : item["rollback_command"]) {
      if (!arg.is_string()) return InvalidError("rollback_command: expected strings");
      a.rollback_command.push_back(arg.get<std::string>());
    }
  }
  std::string desired = "running";
  text("desired_state", &desired);
  a.running = desired != "stopped";
  return a;
}

}  // namespace drover::agent
