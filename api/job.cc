#include "api/job.h"

namespace drover {

std::string_view JobTypeName(JobType type) {
  switch (type) {
    case JobType::kPipeline:
      return "pipeline";
    case JobType::kQuery:
      return "query";
    case JobType::kUpdate:
      return "update";
    case JobType::kConfig:
      return "config";
  }
  return "pipeline";
}

std::string_view RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kAlways:
      return "always";
    case RestartPolicy::kNever:
      return "never";
  }
  return "on-failure";
}

std::string_view RolloutStrategyName(RolloutStrategy strategy) {
  switch (strategy) {
    case RolloutStrategy::kImmediate:
      return "immediate";
    case RolloutStrategy::kRolling:
      return "rolling";
    case RolloutStrategy::kCanary:
      return "canary";
  }
  return "immediate";
}

std::optional<JobType> ParseJobType(std::string_view text) {
  for (JobType t : {JobType::kPipeline, JobType::kQuery, JobType::kUpdate, JobType::kConfig}) {
    if (JobTypeName(t) == text) return t;
  }
  return std::nullopt;
}

std::optional<RestartPolicy> ParseRestartPolicy(std::string_view text) {
  for (RestartPolicy p :
       {RestartPolicy::kOnFailure, RestartPolicy::kAlways, RestartPolicy::kNever}) {
    if (RestartPolicyName(p) == text) return p;
  }
  return std::nullopt;
}

std::optional<RolloutStrategy> ParseRolloutStrategy(std::string_view text) {
  for (RolloutStrategy s :
       {RolloutStrategy::kImmediate, RolloutStrategy::kRolling, RolloutStrategy::kCanary}) {
    if (RolloutStrategyName(s) == text) return s;
  }
  return std::nullopt;
}

bool SameSpecIgnoringReservedMeta(const JobSpec& a, const JobSpec& b) {
  auto user_meta = [](const Labels& meta) {
    Labels out;
    for (const auto& [k, v] : meta) {
      if (!IsReservedMetaKey(k)) out.emplace(k, v);
    }
    return out;
  };
  if (a.meta == b.meta) return a == b;
  JobSpec x = a;
  JobSpec y = b;
  x.meta = user_meta(a.meta);
  y.meta = user_meta(b.meta);
  return x == y;
}

}  // namespace drover
