// Wave planning of SPEC §5: the order of a rollout's target nodes, the wave and canary sizes, and
// the split of the targets into a canary wave and the waves after it. The controller and the
// dry-run `plan` both use these. Pure functions of values: safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/job.h"

namespace drover {

// The key that orders a job's target nodes: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
// 0x100000001b3) over the bytes of `job_id`, one 0 byte, then the bytes of `node_id`, passed
// through MurmurHash3's fmix64 finalizer (shifts by 33, multipliers 0xff51afd7ed558ccd and
// 0xc4ceb9fe1a85ec53) so that node ids differing only in a last digit still scatter. Defined on
// bytes and 64-bit unsigned arithmetic alone: the same on every platform, build and run. The 0
// byte keeps ("ab", "c") and ("a", "bc") apart; different jobs order the same nodes differently,
// so they do not all pick the same canaries.
uint64_t TargetOrderKey(std::string_view job_id, std::string_view node_id);

// The same hash over one string (FNV-1a 64, then fmix64): a reproducible rank for any id.
uint64_t StableHash(std::string_view bytes);

// The target set T0 in rollout order: sorted by TargetOrderKey(job_id, id), ties (hash
// collisions) broken by node id, duplicates removed. The input order does not matter.
std::vector<std::string> OrderTargets(std::string_view job_id, std::vector<std::string> node_ids);

// The wave size W = max(1, ceil(max_parallel_percent * target_count / 100)) in exact integer
// arithmetic: 10% of 3 nodes is 1, 33% of 7 is 3, 50% of 7 is 4. The percent is clamped to
// [0, 100], so W never exceeds target_count; 0% still gives 1 (normalisation has turned a
// declared 0 into the default 10 long before). Returns 0 when there are no targets.
size_t WaveSize(int max_parallel_percent, size_t target_count);

// The failure budget (SPEC §5): a rollout over `targets` nodes halts when `failed` exceeds
// max_failed_nodes or max_failed_nodes_percent of the targets.
bool OverFailureBudget(const Rollout& policy, int failed, size_t targets);

// The most failed nodes that a rollout over `targets` nodes tolerates (0: the first failure
// halts it).
int ToleratedFailures(const Rollout& policy, size_t targets);

// The number of canaries: canary_count when > 0 (it wins over canary_percent), clamped to
// target_count; otherwise, when canary_percent > 0, computed from it as WaveSize computes a wave;
// otherwise 0. Returns 0 when there are no targets.
size_t CanarySize(int canary_count, int canary_percent, size_t target_count);

// The waves a rollout would run, in order. `canary` is the canary wave (canary strategy only);
// `waves` are the waves after it and never hold a canary. Every target appears exactly once.
struct WavePlan {
  std::vector<std::string> canary;
  std::vector<std::vector<std::string>> waves;

  bool operator==(const WavePlan&) const = default;
};

// Splits `ordered_targets` (from OrderTargets; order kept, not re-sorted or de-duplicated) by
// `rollout.strategy`, with n = ordered_targets.size() and W = WaveSize(rollout.max_parallel, n):
//   immediate: no canary, one wave holding every target;
//   rolling:   consecutive waves of W (the last may be smaller);
//   canary:    the first CanarySize(canary_count, canary_percent, n) targets are the canary
//              wave, the rest follow in waves of W (W still counts the whole target set).
// No targets gives an empty plan. A canary rollout whose canary size is 0 (validation rejects
// it) plans no canary wave.
WavePlan PlanWaves(const Rollout& rollout, const std::vector<std::string>& ordered_targets);

}  // namespace drover
