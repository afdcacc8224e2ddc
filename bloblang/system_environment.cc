// The real Environment: the system clock, the host name, the process environment and a random
// source for UUIDs. The only file of bloblang/ that reads the world.
#include "bloblang/system_environment.h"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "bloblang/bloblang.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace drover::bloblang {

int64_t TscClockAnchor(TscClockState& state, const TscClockReading& reading) {
  __extension__ typedef unsigned __int128 u128;
  const int64_t ns = reading.ns;
  state.period = 0;  // unless this reading becomes the anchor
  if (reading.tsc_after < reading.tsc_before) return ns;
  // A reading that took much longer than the quickest (the thread was preempted between the
  // counter and the clock) does not say when, in ticks, the clock was read.
  const uint64_t width = reading.tsc_after - reading.tsc_before;
  if (width < state.min_width) state.min_width = width;
  if (width > 2 * state.min_width + 64) return ns;
  const uint64_t tsc = reading.tsc_before + width / 2;
  int64_t floor = INT64_MIN;
  if (state.scale != 0) {
    // What the extrapolation gives for this reading.
    const bool back = tsc < state.anchor_tsc;
    const int64_t predicted =
        state.anchor_ns + static_cast<int64_t>((u128{tsc - state.anchor_tsc} * state.scale) >> 32);
    const int64_t error = predicted - ns;
    if (back || error > kTscMaxErrorNanos || error < -kTscMaxErrorNanos) {
      state.scale = 0;  // measure the rate again, from this reading
      state.has_base = false;
    } else if (error > 0) {
      floor = predicted;  // what was returned may be ahead of the clock: not back
    }
  }
  if (!state.has_base) {
    state.base_tsc = tsc;
    state.base_ns = ns;
    state.has_base = true;
  } else if (ns - state.base_ns >= kTscCalibrationNanos && tsc > state.base_tsc) {
    state.scale = static_cast<uint64_t>((u128(static_cast<uint64_t>(ns - state.base_ns)) << 32) /
                                        (tsc - state.base_tsc));
  }
  state.anchor_tsc = tsc;
  state.anchor_ns = ns;
  state.floor = floor;
  if (state.scale != 0) {
    state.period = static_cast<uint64_t>((u128{kTscAnchorNanos} << 32) / state.scale);
  }
  return ns < floor ? floor : ns;
}

namespace {

int64_t RealtimeNanos() {
  // clock_gettime itself rather than through std::chrono: one call less for every now().
  timespec now{};
  if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

#if defined(__x86_64__)
// Whether the counter may stand in for the clock: it runs at a constant rate whatever the
// power state (CPUID's invariant TSC), and the kernel keeps time with it (so that it found the
// counters of all CPUs in step; a VM whose host it does not trust uses another clocksource).
bool TscUsable() {
  static const bool kUsable = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0 || (edx & (1u << 8)) == 0) {
      return false;
    }
    std::ifstream source("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string name;
    return static_cast<bool>(source >> name) && name == "tsc";
  }();
  return kUsable;
}

int64_t TscNow() {
  thread_local TscClockState state;  // trivially constructible: no guard
  // (Without an anchor, the counter is not read at all where it may not be used.)
  if (state.period == 0 && !TscUsable()) return RealtimeNanos();
  return TscClockNow(state, __rdtsc(), [] {
    TscClockReading reading;
    reading.tsc_before = __rdtsc();
    reading.ns = RealtimeNanos();
    reading.tsc_after = __rdtsc();
    return reading;
  });
}
#endif

class SystemEnvironmentImpl final : public Environment {
 public:
  int64_t NowUnixNanos() const override {
#if defined(__x86_64__)
    return TscNow();
#else
    return RealtimeNanos();
#endif
  }

  std::string Hostname() const override {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return "";
    return name;
  }

  std::optional<std::string> Env(std::string_view name) const override {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }

  std::string UuidV4() const override {
    thread_local std::mt19937_64 random = [] {
      std::random_device device;
      std::seed_seq seed{device(), device(), device(), device()};
      return std::mt19937_64(seed);
    }();
    uint64_t high = random();
    uint64_t low = random();
    high = (high & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
    low = (low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;    // RFC 4122 variant
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 32; ++i) {
      uint64_t word = i < 16 ? high : low;
      int shift = 60 - 4 * (i % 16);
      out.push_back(kHex[(word >> shift) & 0xF]);
      if (i == 7 || i == 11 || i == 15 || i == 19) out.push_back('-');
    }
    return out;
  }
};

}  // namespace

const Environment& SystemEnvironment() {
  static const SystemEnvironmentImpl kEnvironment;
  return kEnvironment;
}

}  // namespace drover::bloblang
