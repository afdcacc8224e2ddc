#include "controller/clock.h"

#include <ctime>

namespace drover::controller {
namespace {

class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  std::string WallTime() const override { return FormatRfc3339(std::chrono::system_clock::now()); }
};

}  // namespace

const Clock& RealClock() {
  static const SystemClock clock;
  return clock;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buffer, static_cast<int>(millis % 1000));
  return out;
}

}  // namespace drover::controller
