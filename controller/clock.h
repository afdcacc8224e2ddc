// Clock: the one seam through which the runtime reads time. Real in production
// (controller/clock.cc is the only file that reads the system clocks), fake in tests.
// Implementations are thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace drover::controller {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for liveness and deadlines.
  virtual SteadyTime Now() const = 0;
  // Wall-clock time as RFC 3339 UTC with milliseconds ("2026-12-04T15:33:51.123Z"), for records.
  virtual std::string WallTime() const = 0;
};

// The process's real clocks.
const Clock& RealClock();

// Formats a system_clock time point as RFC 3339 UTC with milliseconds.
std::string FormatRfc3339(std::chrono::system_clock::time_point time);

}  // namespace drover::controller
