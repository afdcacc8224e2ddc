// The parts of the pipeline engine (pipeline/engine.h): batches of messages, the Processor,
// Output and Input interfaces, the Pipeline that runs a batch through processors and output and
// counts it, and the factories of each supported component (SPEC §10). Private to pipeline/ and
// its tests. An Input runs on the engine's Run() thread and hands batches to the Pipeline there:
// no per-message thread hand-off.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "bloblang/bloblang.h"
#include "pipeline/engine.h"
#include "pipeline/files.h"
#include "pipeline/stop_signal.h"

namespace drover::pipeline {

using Metadata = std::map<std::string, std::string>;
using LineSink = std::function<void(std::string_view line)>;

// Per-message flags within a batch.
inline constexpr uint8_t kFailed = 1;   // a processor or the output failed it (passed on as is)
inline constexpr uint8_t kDeleted = 2;  // a mapping deleted it: no later step sees it

// Messages on their way through the pipeline, with a flag byte each. Clear() keeps the message
// objects (and their buffers) for the next batch.
class Batch {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bloblang::Message& message(size_t i) { return messages_[i]; }
  const bloblang::Message& message(size_t i) const { return messages_[i]; }
  uint8_t& flags(size_t i) { return flags_[i]; }
  uint8_t flags(size_t i) const { return flags_[i]; }
  bool live(size_t i) const { return (flags_[i] & kDeleted) == 0; }

  // Appends a message with this content and metadata.
  bloblang::Message& Add(std::string_view content, const Metadata& metadata);
  bloblang::Message& Add(bloblang::Message message);
  void Clear() { size_ = 0; }

 private:
  bloblang::Message& Next();  // one more message, reused when it can be

  std::vector<bloblang::Message> messages_;
  std::vector<uint8_t> flags_;
  size_t size_ = 0;
};

class Processor {
 public:
  virtual ~Processor() = default;
  // Processes the live messages in place. One that fails gets kFailed and passes on unchanged
  // (as Bento does); one that is dropped gets kDeleted.
  virtual void Process(Batch& batch) = 0;
};

class Output {
 public:
  virtual ~Output() = default;
  // Called once by Run() before the first batch: a failure here fails the run.
  virtual Status Open() { return Status::Ok(); }
  // Writes the live messages, flagging kFailed those that could not be written. Returns how
  // many messages of the batch (a prefix) were handled: all of them, unless a stop cut the
  // writing short.
  virtual size_t Write(Batch& batch) = 0;
  virtual void Close() {}
};

// Processors, then the output, then the counts and the result sink, for one batch at a time.
// Process() runs on one thread; counts() may be read from any.
class Pipeline {
 public:
  using ResultSink = std::function<void(const bloblang::Message&)>;
  Pipeline(std::vector<std::unique_ptr<Processor>> processors, std::unique_ptr<Output> output,
           ResultSink result_sink);

  Status Open() { return output_->Open(); }
  void Close() { output_->Close(); }

  // Returns how many messages of the batch (a prefix) were handled and counted: all, unless a
  // stop cut the output short; the others were not delivered (an input may read them again).
  size_t Process(Batch& batch);

  Counts counts() const {
    return {processed_.load(std::memory_order_relaxed), errors_.load(std::memory_order_relaxed)};
  }
  // For inputs whose messages fail before any processor (e.g. a `generate` mapping error).
  void CountErrors(uint64_t n) { errors_.fetch_add(n, std::memory_order_relaxed); }

 private:
  std::vector<std::unique_ptr<Processor>> processors_;
  std::unique_ptr<Output> output_;
  ResultSink result_sink_;
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> errors_{0};
};

class Input {
 public:
  virtual ~Input() = default;
  // Reads and hands batches to `pipeline` until the input ends (OK), the stop is requested
  // (OK), or it fails for good (an error).
  virtual Status Run(Pipeline& pipeline, const StopSignal& stop) = 0;
};

// ---- Inputs ----

struct FileInputOptions {
  std::vector<std::string> patterns;  // glob(3) patterns
  bool follow = true;                 // stream mode; false: read to the end (query mode)
  std::string state_dir;              // where offsets persist (follow mode); empty: none
  ReadRoot read_root;                 // matched files must resolve under it; empty: anywhere
  std::chrono::milliseconds poll_interval{200};
  std::chrono::milliseconds save_interval{1000};
  LineSink log;  // warnings (a file skipped, offsets unreadable)
};
std::unique_ptr<Input> MakeFileInput(FileInputOptions options);

// Lines from a descriptor until end of file (the `stdin` input).
std::unique_ptr<Input> MakeStdinInput(int fd);

// `generate`: the mapping on an empty message every `interval` (0: as fast as possible),
// `count` times (0: forever). The first message comes at once, as in Bento.
std::unique_ptr<Input> MakeGenerateInput(bloblang::Mapping mapping,
                                         std::chrono::nanoseconds interval, int64_t count,
                                         const bloblang::Environment& environment);

// `http_server`: each request body with the allowed verb (POST) on `path` is one message.
std::unique_ptr<Input> MakeHttpServerInput(std::string host, int port, std::string path);

// ---- Processors ----

std::unique_ptr<Processor> MakeMappingProcessor(bloblang::Mapping mapping,
                                                const bloblang::Environment& environment);

// `log`: one line per message at `level` (TRACE..ERROR) when it is at least `min_level`. The
// message may hold `${! expression }` interpolations. An error is kInvalid, its message
// naming the interpolation that does not parse (the caller prefixes the field).
Result<std::unique_ptr<Processor>> MakeLogProcessor(std::string level, std::string_view message,
                                                    std::string component_path,
                                                    std::string_view min_level,
                                                    const bloblang::Environment& environment,
                                                    LineSink sink);

std::unique_ptr<Processor> MakeSleepProcessor(std::chrono::nanoseconds duration,
                                              const StopSignal& stop);

// ---- Outputs ----

// One line per message through `sink`, or straight to file descriptor 1 when it is empty.
std::unique_ptr<Output> MakeStdoutOutput(LineSink sink);
// Appends one line per message to `path`; its folder must exist and, when `root` is set,
// resolve under it.
std::unique_ptr<Output> MakeFileOutput(std::string path, ReadRoot root);
// One request per message with the message as its body; a non-2xx answer is an output error.
// An error (kInvalid) when `url` is not an absolute http(s) URL.
Result<std::unique_ptr<Output>> MakeHttpClientOutput(const std::string& url, std::string verb,
                                                     StopSignal& stop);
std::unique_ptr<Output> MakeDropOutput();

}  // namespace drover::pipeline
