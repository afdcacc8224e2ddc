// The real Environment: the system clock, the host name, the process environment and a random
// source for UUIDs. The only file of bloblang/ that reads the world.
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "bloblang/bloblang.h"

namespace drover::bloblang {
namespace {

class SystemEnvironmentImpl final : public Environment {
 public:
  int64_t NowUnixNanos() const override {
    // clock_gettime itself rather than through std::chrono: one call less for every now().
    timespec now{};
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    }
    return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
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
