#include "reconcilers/waves.h"

#include <algorithm>
#include <utility>

namespace drover {
namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t FnvAppend(uint64_t hash, std::string_view bytes) {
  for (char c : bytes) {
    hash ^= static_cast<uint64_t>(static_cast<unsigned char>(c));
    hash *= kFnvPrime;
  }
  return hash;
}

// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
uint64_t Finalize(uint64_t hash) {
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ULL;
  hash ^= hash >> 33;
  return hash;
}

// ceil(percent * count / 100) for percent in [0, 100], without overflow for any count: with
// count = 100q + r, percent * count + 99 = 100 * percent * q + (percent * r + 99).
size_t PercentOfRoundedUp(int percent, size_t count) {
  const size_t p = static_cast<size_t>(std::clamp(percent, 0, 100));
  return p * (count / 100) + (p * (count % 100) + 99) / 100;
}

// Appends targets[begin, end) to `waves` in consecutive waves of `wave_size`.
void AppendWaves(const std::vector<std::string>& targets, size_t begin, size_t wave_size,
                 std::vector<std::vector<std::string>>* waves) {
  for (size_t start = begin; start < targets.size(); start += wave_size) {
    const size_t end = std::min(targets.size(), start + wave_size);
    waves->emplace_back(targets.begin() + start, targets.begin() + end);
  }
}

}  // namespace

uint64_t TargetOrderKey(std::string_view job_id, std::string_view node_id) {
  uint64_t hash = FnvAppend(kFnvOffsetBasis, job_id);
  hash = FnvAppend(hash, std::string_view("\0", 1));
  hash = FnvAppend(hash, node_id);
  // FNV-1a alone barely stirs the high bits for ids differing only in their last characters
  // ("edge-1" ... "edge-8"), which would hand many jobs the same first canary.
  return Finalize(hash);
}

uint64_t StableHash(std::string_view bytes) { return Finalize(FnvAppend(kFnvOffsetBasis, bytes)); }

std::vector<std::string> OrderTargets(std::string_view job_id, std::vector<std::string> node_ids) {
  std::vector<std::pair<uint64_t, std::string>> keyed;
  keyed.reserve(node_ids.size());
  for (std::string& id : node_ids) {
    const uint64_t key = TargetOrderKey(job_id, id);
    keyed.emplace_back(key, std::move(id));
  }
  // Equal ids have equal keys, so duplicates end up side by side.
  std::sort(keyed.begin(), keyed.end());
  keyed.erase(std::unique(keyed.begin(), keyed.end()), keyed.end());
  std::vector<std::string> ordered;
  ordered.reserve(keyed.size());
  for (auto& [key, id] : keyed) ordered.push_back(std::move(id));
  return ordered;
}

size_t WaveSize(int max_parallel_percent, size_t target_count) {
  if (target_count == 0) return 0;
  return std::max<size_t>(1, PercentOfRoundedUp(max_parallel_percent, target_count));
}

size_t CanarySize(int canary_count, int canary_percent, size_t target_count) {
  if (target_count == 0) return 0;
  if (canary_count > 0) return std::min(static_cast<size_t>(canary_count), target_count);
  if (canary_percent > 0) return WaveSize(canary_percent, target_count);
  return 0;
}

WavePlan PlanWaves(const Rollout& rollout, const std::vector<std::string>& ordered_targets) {
  WavePlan plan;
  const size_t n = ordered_targets.size();
  if (n == 0) return plan;
  switch (rollout.strategy) {
    case RolloutStrategy::kImmediate:
      plan.waves.push_back(ordered_targets);
      break;
    case RolloutStrategy::kRolling:
      AppendWaves(ordered_targets, 0, WaveSize(rollout.max_parallel, n), &plan.waves);
      break;
    case RolloutStrategy::kCanary: {
      const size_t canaries = CanarySize(rollout.canary_count, rollout.canary_percent, n);
      plan.canary.assign(ordered_targets.begin(), ordered_targets.begin() + canaries);
      AppendWaves(ordered_targets, canaries, WaveSize(rollout.max_parallel, n), &plan.waves);
      break;
    }
  }
  return plan;
}

bool OverFailureBudget(const Rollout& policy, int failed, size_t targets) {
  return failed > policy.max_failed_nodes ||
         100.0 * failed > policy.max_failed_nodes_percent * static_cast<double>(targets);
}

int ToleratedFailures(const Rollout& policy, size_t targets) {
  int tolerated = 0;
  while (tolerated <= policy.max_failed_nodes &&
         !OverFailureBudget(policy, tolerated + 1, targets)) {
    ++tolerated;
  }
  return tolerated;
}

}  // namespace drover
