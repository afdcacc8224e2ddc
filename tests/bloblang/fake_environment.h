// Test helper: a fixed Environment for Bloblang tests (clock, hostname, environment variables and
// UUIDs never change), plus a one-call way to parse and apply a mapping. Only for tests.
#pragma once

#include <map>
#include <string>

#include "bloblang/bloblang.h"

namespace drover::bloblang::fakes {

// 2026-12-04T21:52:48.123456789Z
inline constexpr int64_t kFakeNowNanos = 1796421168123456789;

class FakeEnvironment : public Environment {
 public:
  int64_t now_nanos = kFakeNowNanos;
  std::string hostname = "edge-7";
  std::map<std::string, std::string, std::less<>> variables = {{"REGION", "eu-west"}};
  std::string uuid = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";

  int64_t NowUnixNanos() const override { return now_nanos; }
  std::string Hostname() const override { return hostname; }
  std::optional<std::string> Env(std::string_view name) const override {
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  }
  std::string UuidV4() const override { return uuid; }
};

// Parses `mapping` (which must parse) and applies it to `content` with `metadata`.
inline MappingResult ApplyMapping(std::string_view mapping, std::string content,
                                  std::map<std::string, std::string> metadata = {},
                                  const Environment* env = nullptr) {
  static const FakeEnvironment kEnvironment;
  Result<Mapping> parsed = Mapping::Parse(mapping);
  if (!parsed.ok()) {
    MappingResult failed;
    failed.outcome = Outcome::kError;
    failed.error = "PARSE FAILED: " + parsed.status().message();
    return failed;
  }
  Message input{std::move(content), std::move(metadata)};
  return parsed->Apply(input, env != nullptr ? *env : kEnvironment);
}

}  // namespace drover::bloblang::fakes
