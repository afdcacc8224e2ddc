// LogStore: the controller's in-memory tail of every execution's output (SPEC §8 "Logs"). Agents
// ship new stdout/stderr bytes with their heartbeats as chunks {execution_id, stream, offset,
// data}; the store keeps the last lines of each execution, capped per execution and in total
// (the least recently written execution is evicted first), and the /logs routes read them.
//
// Offsets make shipping idempotent: bytes the store already holds (a chunk resent after a lost
// answer) are dropped, and a chunk that starts past the expected offset (bytes the node itself
// dropped, or held before a controller restart) leaves a "[... N bytes skipped ...]" line. Nothing
// here is durable: logs are frequent, low-value state (SPEC §9), so a controller restart starts
// empty and the agents keep their own copies. No HTTP and no I/O; time comes from the injected
// Clock. Thread-safe (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/diagnostics.h"
#include "api/document.h"
#include "controller/clock.h"

namespace drover::controller {

enum class LogStream { kStdout, kStderr };

std::string_view LogStreamName(LogStream stream);  // "stdout" | "stderr"

// One chunk of a heartbeat's `logs` list.
struct LogChunk {
  std::string execution_id;
  LogStream stream = LogStream::kStdout;
  uint64_t offset = 0;  // of data's first byte: what the stream had produced before it
  std::string data;     // UTF-8
};

// Decodes a heartbeat's `logs` value (null or absent: no chunks). Every problem is reported with
// its field path ("logs[2].offset"); the chunks are only meaningful when `diagnostics` stays ok.
std::vector<LogChunk> ParseLogChunks(const Json& logs, Diagnostics* diagnostics);

// Where an execution's output belongs, as the controller's records say.
struct LogOwner {
  std::string node_id;
  std::string job_id;
  std::string namespace_;
  int version = 0;
};

// One line as the routes answer it.
struct LogEntry {
  std::string execution_id;
  LogOwner owner;
  // Store-wide, in order of arrival, stable while a partial line grows; starts from the store's
  // creation time in microseconds, so it also grows across controller restarts.
  uint64_t seq = 0;
  std::string time;  // RFC 3339: when the line's first byte reached the controller
  LogStream stream = LogStream::kStdout;
  std::string text;      // without its newline
  bool partial = false;  // no newline yet: a later chunk may extend it
};

// The newest lines of one execution or of a job, oldest first.
struct LogPage {
  std::vector<LogEntry> entries;
  bool truncated = false;  // older output existed that is not here (tail limit or caps)
};

// `{items: [{execution_id, node_id, job_id, version, seq, time, stream, line, partial}],
// next_token: null, truncated}`: the body of both /logs routes.
Json LogPageToJson(const LogPage& page);

struct LogStoreLimits {
  // Bytes counted per line: its text plus kLineOverhead (the line's record, its time stamp).
  size_t execution_bytes = 256 * 1024;     // per execution; the oldest lines go first
  size_t total_bytes = 256 * 1024 * 1024;  // all executions; least recently written go first
  size_t line_bytes = 16 * 1024;           // a longer line is broken (at a UTF-8 boundary)
};

// What one Append did with a chunk's bytes.
struct LogAppendResult {
  uint64_t stored = 0;     // new bytes kept
  uint64_t duplicate = 0;  // bytes the store already had (a resent chunk)
  uint64_t skipped = 0;    // the gap before the chunk (bytes that will never arrive)
};

class LogStore {
 public:
  static constexpr size_t kLineOverhead = 96;
  static constexpr size_t kExecutionOverhead = 512;

  explicit LogStore(const Clock& clock, LogStoreLimits limits = {});
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // Adds one chunk of `chunk.execution_id`'s output. `owner` is recorded the first time the
  // execution is seen (an execution never moves).
  LogAppendResult Append(const LogOwner& owner, const LogChunk& chunk);

  // The newest `max_lines` lines of one execution; nullopt when the store holds nothing of it
  // (never written, or evicted).
  std::optional<LogPage> ExecutionTail(const std::string& execution_id, size_t max_lines) const;

  // The newest `max_lines` lines over every execution of a job (only those on `node_id` when it
  // is not empty), merged in order of arrival.
  LogPage JobTail(const std::string& job_id, const std::string& node_id, size_t max_lines) const;

  // Where an execution's tail belongs; nullopt when the store holds nothing of it.
  std::optional<LogOwner> OwnerOf(const std::string& execution_id) const;

  // Drops an execution's tail (e.g. its record was deleted).
  void Forget(const std::string& execution_id);

  struct Usage {
    size_t bytes = 0;       // as counted against total_bytes
    size_t executions = 0;  // executions with a tail
    uint64_t evicted = 0;   // executions dropped by the total cap since start
  };
  Usage usage() const;

  const LogStoreLimits& limits() const { return limits_; }

 private:
  struct Line {
    uint64_t seq = 0;
    std::string time;
    LogStream stream = LogStream::kStdout;
    std::string text;
    bool partial = true;
  };
  struct StreamState {
    uint64_t next_offset = 0;          // bytes of the stream seen so far (held or skipped)
    std::optional<uint64_t> open_seq;  // the line still waiting for its newline
  };
  struct ExecutionLog {
    LogOwner owner;
    std::deque<Line> lines;  // ascending seq
    StreamState streams[2];
    size_t bytes = 0;
    bool truncated = false;                    // lines were dropped from the front
    std::list<std::string>::iterator recency;  // its place in recency_
  };

  void AppendText(ExecutionLog& log, LogStream stream, std::string_view text,
                  const std::string& time);
  Line* OpenLine(ExecutionLog& log, LogStream stream);
  void NewLine(ExecutionLog& log, LogStream stream, std::string text, bool partial,
               const std::string& time);
  using Executions = std::unordered_map<std::string, ExecutionLog>;
  void DropFront(ExecutionLog& log);
  void Remove(Executions::iterator it);
  void AppendEntries(const std::string& id, const ExecutionLog& log, size_t max_lines,
                     LogPage* page) const;

  const Clock& clock_;
  const LogStoreLimits limits_;
  mutable std::mutex mu_;
  Executions executions_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_job_;
  std::list<std::string> recency_;  // execution ids, least recently written first
  size_t total_bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t evicted_ = 0;
};

}  // namespace drover::controller
