// Where each kind of object lives in the store. One place, so that every reader and writer
// agrees; keys sort so that a prefix list returns a job's versions and events in order.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace drover::controller::keys {

inline const std::string kRoot = "/drover/";
inline const std::string kJobs = "/drover/jobs/";
inline const std::string kJobIds = "/drover/job-ids/";
inline const std::string kVersions = "/drover/versions/";
inline const std::string kEvents = "/drover/events/";
inline const std::string kRollouts = "/drover/rollouts/";
inline const std::string kNodes = "/drover/nodes/";
inline const std::string kExecutions = "/drover/executions/";
inline const std::string kResults = "/drover/results/";

inline std::string Padded(long long n, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%0*lld", width, n);
  return buffer;
}

inline std::string Job(std::string_view ns, std::string_view name) {
  return kJobs + std::string(ns) + "/" + std::string(name);
}
inline std::string JobsIn(std::string_view ns) { return kJobs + std::string(ns) + "/"; }
inline std::string JobId(std::string_view id) { return kJobIds + std::string(id); }
inline std::string VersionsOf(std::string_view id) { return kVersions + std::string(id) + "/"; }
inline std::string Version(std::string_view id, int version) {
  return VersionsOf(id) + Padded(version, 10);
}
inline std::string EventsOf(std::string_view id) { return kEvents + std::string(id) + "/"; }
inline std::string Event(std::string_view id, long long sequence) {
  return EventsOf(id) + Padded(sequence, 12);
}
inline std::string Rollout(std::string_view id) { return kRollouts + std::string(id); }
inline std::string Node(std::string_view id) { return kNodes + std::string(id); }
inline std::string ExecutionsOf(std::string_view job_id) {
  return kExecutions + std::string(job_id) + "/";
}
inline std::string Execution(std::string_view job_id, std::string_view execution_id) {
  return ExecutionsOf(job_id) + std::string(execution_id);
}
inline std::string ResultsOf(std::string_view job_id) {
  return kResults + std::string(job_id) + "/";
}
inline std::string Result(std::string_view job_id, std::string_view execution_id) {
  return ResultsOf(job_id) + std::string(execution_id);
}

}  // namespace drover::controller::keys
