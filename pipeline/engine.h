// The pipeline engine: runs one Bento-style `pipeline` or `query` config (SPEC §10) — inputs,
// processors, outputs — and counts processed messages and errors for the health windows.
// A library of its own, with no knowledge of the agent's protocol. The agent runs each pipeline
// or query execution as a child process `drover engine ...` (cli/engine_command.cc) that wraps
// this class, so a crash in one pipeline never takes the agent or another pipeline down.
//
// Thread-safety: Run() is called once, from one thread; counts() and RequestStop() may be called
// from any thread while it runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/status.h"
#include "bloblang/bloblang.h"

namespace drover::pipeline {

struct EngineOptions {
  // Query mode (SPEC §4): every input is read to its end (no following), then the engine
  // finishes. Stream mode (pipelines): `file` inputs follow appended lines and new files.
  bool query = false;
  // Where the `file` input keeps its offsets across restarts (stream mode). Empty: no offsets.
  std::string state_dir;
  // When not empty, `file` input paths and `file` output paths must lie under this directory
  // (the agent's --read-root); anything else is an error naming the path.
  std::string read_root;
  // The `http_server` input may listen only when this is true (the agent's --allow-listen).
  bool allow_listen = false;
  // Where the `stdout` output writes (one message per line). Defaults to the process stdout.
  std::function<void(std::string_view line)> stdout_sink;
  // Every message that reaches the output, in query mode: the query's results.
  std::function<void(const bloblang::Message& message)> result_sink;
  // Where `log` processors write. Defaults to the process stderr.
  std::function<void(std::string_view line)> log_sink;
  const bloblang::Environment* environment = nullptr;  // defaults to SystemEnvironment()
  // The descriptor the `stdin` input reads (tests pass a pipe). Not closed by the engine.
  int stdin_fd = 0;
  // `log` processors below this level (TRACE, DEBUG, INFO, WARN, ERROR) write nothing, as
  // with Bento's default logger level.
  std::string log_level = "INFO";
};

// Cumulative counts since the engine started. `processed`: messages that went through every
// processor and the output. `errors`: messages that failed a processor (passed on unchanged, as
// Bento does) or the output.
struct Counts {
  uint64_t processed = 0;
  uint64_t errors = 0;
};

class Engine {
 public:
  // Checks and builds the config (the same checks as job validation, plus the options' limits:
  // read_root, allow_listen). Errors are kInvalid and name the field, e.g.
  // `input.file.paths[0]: /etc/shadow is outside the read root /data`.
  static Result<std::unique_ptr<Engine>> Create(const nlohmann::json& config,
                                                EngineOptions options);
  virtual ~Engine() = default;

  // Runs until every input has ended (query mode, stdin EOF, generate `count` reached) or
  // RequestStop(). OK when it ended normally; an error when an input or output failed for good
  // (e.g. a file output that cannot be opened).
  virtual Status Run() = 0;
  virtual void RequestStop() = 0;
  virtual Counts counts() const = 0;
};

}  // namespace drover::pipeline
