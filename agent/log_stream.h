// One output stream (stdout or stderr) of one execution on the node: every byte the workload
// writes is appended to a file in the execution's folder (rotated at a cap, one old file kept)
// and held in memory until a heartbeat carrying it is answered (SPEC §8 "Logs"). Offsets count
// every byte the stream ever produced, so the controller can drop a resent chunk and see a gap.
// Not thread-safe: owned by the agent's state, under its lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace drover::agent {

struct LogChunk {
  uint64_t offset = 0;  // of data's first byte in the stream
  std::string data;     // valid UTF-8 (invalid bytes replaced by '?', same length)
};

class LogStream {
 public:
  static constexpr size_t kFileCap = 1 << 20;     // rotate the file past this
  static constexpr size_t kPendingCap = 1 << 20;  // unshipped bytes kept in memory

  // `produced` and `acked` as persisted by an earlier run (0 for a new execution); the unshipped
  // tail is read back from the file.
  LogStream(std::filesystem::path file, uint64_t produced, uint64_t acked);

  void Append(std::string_view data);
  // Up to `max_bytes` of the unshipped bytes, cut so that no UTF-8 sequence is split (unless the
  // stream holds nothing else); nullopt when everything was shipped.
  std::optional<LogChunk> Next(size_t max_bytes) const;
  // The controller holds the stream up to `end`.
  void Ack(uint64_t end);

  uint64_t produced() const { return produced_; }
  uint64_t acked() const { return acked_; }

 private:
  std::filesystem::path file_;
  uint64_t produced_ = 0;
  uint64_t acked_ = 0;
  std::string pending_;  // bytes [pending_base_, produced_)
  uint64_t pending_base_ = 0;
  uint64_t file_bytes_ = 0;
};

}  // namespace drover::agent
