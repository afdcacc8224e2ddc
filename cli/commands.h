// The subcommands of the `drover` binary. Each takes its arguments (after the subcommand name)
// and the process's streams, and returns the exit code: 0 success, 1 failure (an invalid
// document, a failed request), 2 usage error (a bad flag, an unreadable path). Testable without
// a process; cli/main.cc only dispatches.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace drover::cli {

struct Streams {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// drover validate -f FILE|DIR|- [-f ...]: local checks, no server.
int RunValidate(const std::vector<std::string>& args, Streams streams);
int RunSim(const std::vector<std::string>& args, Streams s);  // drover sim: a simulated fleet

// drover [--help | --version | COMMAND ...]
int RunMain(const std::vector<std::string>& args, Streams streams);

}  // namespace drover::cli
