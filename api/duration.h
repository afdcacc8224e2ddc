// Duration: a signed count of nanoseconds, as Go's time.Duration, with Go's text forms
// ("500ms", "10s", "1h30m"). Used by the job model for health-check timings. Plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/status.h"

namespace drover {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration Nanoseconds(int64_t n) { return Duration(n); }
  static constexpr Duration Milliseconds(int64_t n) { return Duration(n * 1'000'000); }
  static constexpr Duration Seconds(int64_t n) { return Duration(n * 1'000'000'000); }
  static constexpr Duration Minutes(int64_t n) { return Seconds(n * 60); }

  constexpr int64_t nanoseconds() const { return nanoseconds_; }
  constexpr double seconds() const { return static_cast<double>(nanoseconds_) / 1e9; }

  constexpr auto operator<=>(const Duration&) const = default;

  // Go's Duration.String(): "0s", "1.5s", "500ms", "1h30m0s", "-2µs".
  std::string ToString() const;

 private:
  constexpr explicit Duration(int64_t n) : nanoseconds_(n) {}
  int64_t nanoseconds_ = 0;
};

// Go's time.ParseDuration: a sequence of decimal numbers with optional fraction and a unit
// (ns, us, µs, ms, s, m, h), optionally signed: "300ms", "-1.5h", "2h45m". The error message
// says what is wrong ("unknown unit \"d\" in \"3d\"").
Result<Duration> ParseDuration(std::string_view text);

}  // namespace drover
