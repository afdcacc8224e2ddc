// Bloblang, the mapping language of Bento pipelines (SPEC §10): the subset Drover supports,
// parsed once into an immutable Mapping and applied to one message at a time. Used by the
// pipeline engine's `mapping` processor and `generate` input, by `drover blobl`, and by job
// validation (so that an unsupported function is a 400 at PUT time, not a surprise on a node).
//
// A parsed Mapping is immutable and safe to apply from several threads at once. Everything a
// mapping may read from the world (clock, hostname, environment, random ids) comes through the
// injected Environment, so tests are deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/status.h"

namespace drover::bloblang {

// What a mapping may read from the world: now(), timestamp_unix(), hostname(), env(), uuid_v4().
class Environment {
 public:
  virtual ~Environment() = default;
  virtual int64_t NowUnixNanos() const = 0;
  virtual std::string Hostname() const = 0;
  virtual std::optional<std::string> Env(std::string_view name) const = 0;
  virtual std::string UuidV4() const = 0;
};

// The real clock, hostname, process environment and a random generator. Thread-safe.
const Environment& SystemEnvironment();

// One message: its raw bytes and its metadata (Bento metadata values are strings here).
struct Message {
  std::string content;
  std::map<std::string, std::string> metadata;
};

enum class Outcome {
  kMessage,  // `message` is the result
  kDeleted,  // the mapping deleted the message (root = deleted())
  kError,    // `error` says why; `message` is the input, unchanged (Bento passes it on)
};

struct MappingResult {
  Outcome outcome = Outcome::kMessage;
  Message message;
  std::string error;  // "failed assignment (line N): ..."
};

struct Program;  // the parsed statements; private to the implementation

class Mapping {
 public:
  // Parses `text`. An error is kInvalid with a message "line L char C: ..." (1-based), naming
  // the unsupported function, method or construct where that is the cause.
  static Result<Mapping> Parse(std::string_view text);

  // Runs the mapping on `input`. Root starts as "nothing": an unassigned root passes the input
  // through unchanged. A string root is written raw, any other value as JSON with sorted keys.
  MappingResult Apply(const Message& input, const Environment& env) const;

  // The same as Apply, written into `message` itself: on kMessage its content and metadata
  // become the result's; on kDeleted and kError it is left as it was (and on kError `*error`
  // says why). Reuses the message's buffers instead of copying the message, so a caller that
  // maps many messages (the pipeline engine) allocates next to nothing per message.
  Outcome ApplyInPlace(Message& message, const Environment& env, std::string* error) const;

 private:
  friend struct MappingInternals;  // bloblang/internals.h, for tests and benchmarks
  explicit Mapping(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace drover::bloblang
