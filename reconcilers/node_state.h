// A node's connection state (SPEC §8) from how long it has been silent: connected until three
// heartbeat intervals pass without one, then disconnected, then lost once disconnected for
// longer than `lost_after`. A node not heard from since the controller started is disconnected.
// Pure function.
#pragma once

#include <chrono>
#include <string_view>

namespace drover {

inline std::string_view NodeConnectionState(bool heard_since_start,
                                            std::chrono::nanoseconds silent_for,
                                            std::chrono::nanoseconds heartbeat_interval,
                                            std::chrono::nanoseconds lost_after) {
  if (!heard_since_start) return "disconnected";
  const auto disconnect_after = 3 * heartbeat_interval;
  if (silent_for < disconnect_after) return "connected";
  if (silent_for < disconnect_after + lost_after) return "disconnected";
  return "lost";
}

}  // namespace drover
