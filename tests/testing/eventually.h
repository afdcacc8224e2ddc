// Test helper: bounded polling for end-to-end tests. A condition is checked every 100 ms until
// it holds or the limit passes; the limit is generous because it bounds a failure, never a
// measurement (timing goals live in bench/). Only for tests.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace drover::testing {

// True once `condition` holds, false if it still does not after `limit`.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(40)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

}  // namespace drover::testing
