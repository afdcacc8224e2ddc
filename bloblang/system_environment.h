// The wall clock behind SystemEnvironment().NowUnixNanos(): CLOCK_REALTIME, read through the
// CPU's time-stamp counter (TSC) when the kernel itself keeps time with it. A `now()` per message
// would otherwise cost a clock_gettime per message (~25 ns on a VM, more than reading the
// counter and scaling it).
//
// How: each thread keeps an anchor, one reading of CLOCK_REALTIME taken between two readings of
// the counter, and the counter's rate (nanoseconds per tick), measured between the thread's first
// anchor and its latest one (at least 1 ms apart; until then every call reads the clock). A call
// reads the counter; within kTscAnchorNanos of ticks of the anchor, the time is the anchor's plus
// the ticks scaled; past them, or when the counter is behind the anchor (a restored VM, a reset
// counter), the clock is read again and becomes the anchor. At each new anchor the extrapolation
// is compared with the clock: more than kTscMaxErrorNanos apart (the clock was set, the counter's
// rate changed, or NTP slewed the clock harder than the measured rate allows) and the rate is
// measured again from that anchor, reading the clock on every call meanwhile. A reading that took
// more than twice the quickest one (the thread was preempted within it) is returned but is not
// an anchor.
//
// So the time returned is within about a microsecond of CLOCK_REALTIME (the error found at each
// anchor, tens of nanoseconds on a steady counter, bounds it over the millisecond before); a
// setting of the clock is followed within one anchor period (~1 ms), a change of the counter's
// rate within two (off meanwhile by the change over them: 20 us for 1%). It does not go back by
// the small amount an extrapolation may have run ahead of the clock: after such an anchor it
// holds at the last extrapolated value until the clock passes it (at most kTscMaxErrorNanos). A
// setting of the clock backwards is followed as it is. Tests: tests/bloblang/system_clock_test.cc.
#pragma once

#include <climits>
#include <cstdint>

namespace drover::bloblang {

constexpr int64_t kTscAnchorNanos = 1'000'000;       // how long an anchor serves
constexpr int64_t kTscCalibrationNanos = 1'000'000;  // the least span the rate is measured over
constexpr int64_t kTscMaxErrorNanos = 1'000;         // beyond: measure the rate again

// One thread's clock. Trivially constructible (thread_local without a guard).
struct TscClockState {
  uint64_t anchor_tsc = 0;
  int64_t anchor_ns = 0;
  uint64_t period = 0;        // the ticks an anchor serves for; 0: read the clock on the next call
  uint64_t scale = 0;         // nanoseconds per tick, times 2^32; 0: not measured yet
  int64_t floor = INT64_MIN;  // the least time to return until the next anchor
  uint64_t base_tsc = 0;      // where the rate is measured from
  int64_t base_ns = 0;
  bool has_base = false;
  uint64_t min_width = UINT64_MAX;  // the fewest ticks a reading of the clock took
};

// A reading of CLOCK_REALTIME (`ns`) between two readings of the counter.
struct TscClockReading {
  uint64_t tsc_before = 0;
  int64_t ns = 0;
  uint64_t tsc_after = 0;
};

// Takes `reading` as the state's new anchor when it is good enough and returns the time to
// report for it.
int64_t TscClockAnchor(TscClockState& state, const TscClockReading& reading);

// The time at counter value `tsc`: extrapolated from the anchor while it serves, else from
// `read()` (a TscClockReading taken now), which becomes the anchor.
template <typename Read>
inline int64_t TscClockNow(TscClockState& state, uint64_t tsc, Read&& read) {
  const uint64_t ticks = tsc - state.anchor_tsc;  // huge when the counter went back
  if (ticks < state.period) [[likely]] {
    // ticks * scale < 2^64: period is ~1 ms of ticks, scale ~2^32 ns per tick.
    const int64_t now = state.anchor_ns + static_cast<int64_t>((ticks * state.scale) >> 32);
    return now < state.floor ? state.floor : now;
  }
  return TscClockAnchor(state, read());
}

}  // namespace drover::bloblang
