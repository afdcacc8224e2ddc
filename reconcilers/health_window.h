// Health windows (SPEC §6), judged on the node: each execution's health is decided per window of
// `interval` from the counts its workload reported in that window, and the verdict moves after
// `success_threshold` consecutive healthy or `failure_threshold` consecutive unhealthy windows.
// Pure values; the agent owns one HealthJudge per execution and calls Close() when a window ends.
#pragma once

#include <cstdint>
#include <string_view>

#include "api/job.h"

namespace drover {

enum class HealthVerdict { kUnknown, kHealthy, kUnhealthy };
std::string_view HealthVerdictName(HealthVerdict verdict);  // "unknown" | "healthy" | "unhealthy"

// What happened in one window. `crashed` is any exit or restart of the workload in the window
// other than a clean completion.
struct WindowCounts {
  uint64_t processed = 0;
  uint64_t errors = 0;
  bool crashed = false;
};

// A window is unhealthy when it saw a crash, or when errors / (processed + errors) is greater than
// max_error_rate (an explicit 0 tolerates no error). No traffic and no crash is healthy.
bool WindowHealthy(const WindowCounts& window, double max_error_rate);

class HealthJudge {
 public:
  explicit HealthJudge(const HealthCheck& rules) : rules_(rules) {}

  // Ends a window and returns the verdict after it.
  HealthVerdict Close(const WindowCounts& window);

  HealthVerdict verdict() const { return verdict_; }
  int consecutive_healthy() const { return healthy_streak_; }
  int consecutive_unhealthy() const { return unhealthy_streak_; }

 private:
  HealthCheck rules_;
  HealthVerdict verdict_ = HealthVerdict::kUnknown;
  int healthy_streak_ = 0;
  int unhealthy_streak_ = 0;
};

}  // namespace drover
