// Test helper: a controller::Clock that stands still until the test calls Advance, so tests of
// timers and deadlines need no sleeps. Owned by the test; thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "controller/clock.h"

namespace drover::testing {

class FakeClock final : public controller::Clock {
 public:
  // Steady time starts at an arbitrary non-zero point; wall time at 2026-01-01T00:00:00.000Z.
  FakeClock() = default;

  controller::SteadyTime Now() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return kSteadyStart + elapsed_;
  }

  std::string WallTime() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return controller::FormatRfc3339(
        kWallStart + std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed_));
  }

  // Moves both clocks forward by `duration` (negative values are ignored: time is monotonic).
  void Advance(std::chrono::nanoseconds duration) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (duration > std::chrono::nanoseconds::zero()) elapsed_ += duration;
  }

  // Time advanced since construction.
  std::chrono::nanoseconds Elapsed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return elapsed_;
  }

 private:
  static constexpr controller::SteadyTime kSteadyStart{std::chrono::hours(1000)};
  static constexpr std::chrono::system_clock::time_point kWallStart{
      std::chrono::seconds(1767225600)};  // 2026-01-01T00:00:00Z

  mutable std::mutex mutex_;
  std::chrono::nanoseconds elapsed_{0};
};

}  // namespace drover::testing
