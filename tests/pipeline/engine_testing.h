// Test helpers for the pipeline engine: temporary folders and files, a thread-safe line
// collector for the engine's sinks, an engine running on its own thread, and polling for a
// condition with a generous deadline (no timing assertions). Only for tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bloblang/bloblang.h"
#include "pipeline/engine.h"
#include "tests/testing/run_process.h"

namespace drover::pipeline::testing {

inline constexpr std::chrono::seconds kPatience{20};

// Polls `condition` every 10 ms until it holds or `patience` passes.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds patience = kPatience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class TempDir {
 public:
  TempDir() : path_(drover::testing::MakeTempDir("drover-pipeline")) {}
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}
inline void AppendText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::app) << text;
}
inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Lines from an engine sink (called on the engine's thread), read from the test's thread.
class Lines {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(line);
    };
  }
  std::function<void(const bloblang::Message&)> ResultSink() {
    return [this](const bloblang::Message& m) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(m.content);
      metadata_.push_back(m.metadata);
    };
  }
  std::vector<std::string> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  std::vector<std::map<std::string, std::string>> Metadata() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return metadata_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_.size();
  }
  bool WaitForSize(size_t n) const {
    return Eventually([&] { return size() >= n; });
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::vector<std::map<std::string, std::string>> metadata_;
};

// A fixed world for mappings: now() is 2024-01-02T03:04:05Z.
class FixedEnvironment : public bloblang::Environment {
 public:
  int64_t NowUnixNanos() const override { return 1704164645'000'000'000; }
  std::string Hostname() const override { return "test-host"; }
  std::optional<std::string> Env(std::string_view) const override { return std::nullopt; }
  std::string UuidV4() const override { return "00000000-0000-4000-8000-000000000000"; }
};

inline std::unique_ptr<Engine> MakeEngine(const nlohmann::json& config, EngineOptions options) {
  Result<std::unique_ptr<Engine>> engine = Engine::Create(config, std::move(options));
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// Engine::Run on a thread of its own. Stop() requests the stop and waits (patiently) for Run.
class RunningEngine {
 public:
  explicit RunningEngine(Engine& engine) : engine_(engine) {
    result_ = std::async(std::launch::async, [this] { return engine_.Run(); });
  }
  ~RunningEngine() {
    if (result_.valid()) {
      engine_.RequestStop();
      result_.wait();
    }
  }

  // Whether Run returned within the patience; its status in `*status`.
  bool Finished(Status* status, std::chrono::milliseconds patience = kPatience) {
    if (result_.wait_for(patience) != std::future_status::ready) return false;
    *status = result_.get();
    return true;
  }
  Status Stop() {
    engine_.RequestStop();
    Status status = InternalError("Run did not return after RequestStop");
    Finished(&status);
    return status;
  }

 private:
  Engine& engine_;
  std::future<Status> result_;
};

}  // namespace drover::pipeline::testing
