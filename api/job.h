// The job model of SPEC §2 as plain values: what an operator declares. Built by the codecs
// (api/job_codec.h), checked by api/validation.h. A JobSpec that came out of DecodeJobSpec has
// every default filled in, so two specs compare equal exactly when they mean the same thing.
// Plain data: copy freely, no thread-safety concerns of its own.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/duration.h"

namespace drover {

using Json = nlohmann::json;
using Labels = std::map<std::string, std::string>;

enum class JobType { kPipeline, kQuery, kUpdate, kConfig };
enum class RestartPolicy { kOnFailure, kAlways, kNever };
enum class RolloutStrategy { kImmediate, kRolling, kCanary };

std::string_view JobTypeName(JobType type);
std::string_view RestartPolicyName(RestartPolicy policy);
std::string_view RolloutStrategyName(RolloutStrategy strategy);
std::optional<JobType> ParseJobType(std::string_view text);
std::optional<RestartPolicy> ParseRestartPolicy(std::string_view text);
std::optional<RolloutStrategy> ParseRolloutStrategy(std::string_view text);

// Defaults of SPEC §2, in one place.
struct JobDefaults {
  static constexpr std::string_view kNamespace = "default";
  static constexpr int kPriority = 50;
  static constexpr int kMaxParallel = 10;
  static constexpr int kMaxFailedNodes = 10;
  static constexpr double kMaxFailedNodesPercent = 10.0;
  static constexpr Duration kHealthInterval = Duration::Seconds(10);
  static constexpr int kSuccessThreshold = 2;
  static constexpr int kFailureThreshold = 3;
  static constexpr double kMaxErrorRate = 0.10;
};

struct HealthCheck {
  Duration deadline;  // required, > 0
  Duration interval = JobDefaults::kHealthInterval;
  int success_threshold = JobDefaults::kSuccessThreshold;
  int failure_threshold = JobDefaults::kFailureThreshold;
  double max_error_rate = JobDefaults::kMaxErrorRate;

  bool operator==(const HealthCheck&) const = default;
};

struct Rollout {
  RolloutStrategy strategy = RolloutStrategy::kImmediate;
  int max_parallel = JobDefaults::kMaxParallel;  // percent of target nodes per wave
  int max_failed_nodes = JobDefaults::kMaxFailedNodes;
  double max_failed_nodes_percent = JobDefaults::kMaxFailedNodesPercent;
  bool no_auto_rollback = false;
  bool auto_promote = false;
  int canary_count = 0;
  int canary_percent = 0;
  std::optional<HealthCheck> health_check;

  bool operator==(const Rollout&) const = default;
};

struct Selector {
  Labels match_labels;
  std::vector<std::string> match_expressions;  // one requirement each
  std::vector<std::string> match_ids;          // sorted, unique after normalisation

  bool operator==(const Selector&) const = default;
};

// Seconds; 0 means none.
struct Timeouts {
  int64_t execution_timeout = 0;
  int64_t queue_timeout = 0;
  int64_t total_timeout = 0;

  bool operator==(const Timeouts&) const = default;
};

struct JobSpec {
  std::string name;
  std::string namespace_ = std::string(JobDefaults::kNamespace);
  JobType type = JobType::kPipeline;
  std::string description;
  Labels labels;
  Labels meta;
  int priority = JobDefaults::kPriority;
  RestartPolicy restart_policy = RestartPolicy::kOnFailure;
  Json config = Json::object();  // type-specific (SPEC §4)
  Selector selector;
  Rollout rollout;
  Timeouts timeouts;

  bool operator==(const JobSpec&) const = default;
};

struct PutJobRequest {
  bool dry_run = false;
  bool force = false;
  // Drover extension: the name of the set of manifests this PUT comes from (`drover apply`'s
  // folder, the controller's --manifests folder). The server records it in the job's meta under
  // kAppliedSetMetaKey; `apply --prune` deletes only jobs of its own set. Empty: keep the job's.
  std::string applied_set;
  JobSpec spec;
};

// Meta keys with this prefix belong to the system; user-supplied ones are dropped.
inline constexpr std::string_view kReservedMetaPrefix = "expanso.io/";
inline constexpr const char* kAppliedSetMetaKey = "expanso.io/applied-set";

inline bool IsReservedMetaKey(std::string_view key) {
  return key.substr(0, kReservedMetaPrefix.size()) == kReservedMetaPrefix;
}

// The two specs are the same but for the system's own (reserved) meta.
bool SameSpecIgnoringReservedMeta(const JobSpec& a, const JobSpec& b);

}  // namespace drover
