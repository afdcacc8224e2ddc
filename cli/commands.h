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
// drover diff --exit-code: differences shown, nothing failed (git's convention; 1 stays
// "failed").
inline constexpr int kExitDifferences = 3;

// drover validate -f FILE|DIR|- [-f ...]: local checks, no server.
int RunValidate(const std::vector<std::string>& args, Streams streams);
int RunSim(const std::vector<std::string>& args, Streams s);  // drover sim: a simulated fleet
// drover blobl MAPPING|-f FILE [--lines]: run a Bloblang mapping on stdin (SPEC §10). Exit 0 with
// the output, 3 when the mapping deleted the message, 1 on a runtime error, 2 on a parse error.
int RunBlobl(const std::vector<std::string>& args, Streams s);
// drover engine --config FILE ...: run one pipeline or query config in this process (what the
// agent starts for each pipeline/query execution; see pipeline/engine.h).
int RunEngine(const std::vector<std::string>& args, Streams s);
// drover agent --server URL --node-id ID ...: the node agent (SPEC §8, §13).
int RunAgent(const std::vector<std::string>& args, Streams s);
// drover dev [--nodes N]: a controller, the embedded store and N agents in one process.
int RunDev(const std::vector<std::string>& args, Streams s);
// drover logs NAME [-n NS] [--node ID] [--tail N] [-f]: a job's execution output (SPEC §8).
int RunLogs(const std::vector<std::string>& args, Streams s);

// Client commands (SPEC §13; cli/client.h: server, token, profiles).
// drover get jobs|nodes|executions [-n NS|-A] [-l SELECTOR] [-o table|json|yaml]
int RunGet(const std::vector<std::string>& args, Streams s);
// drover describe job NAME: spec summary, status, rollout progress, events
int RunDescribe(const std::vector<std::string>& args, Streams s);
// drover rollout status|pause|resume|promote|rollback NAME [--watch]
int RunRollout(const std::vector<std::string>& args, Streams s);
// drover delete job NAME [--purge]
int RunDelete(const std::vector<std::string>& args, Streams s);
// drover nodes cordon|uncordon|drain ID
int RunNodes(const std::vector<std::string>& args, Streams s);
// drover completion bash: the bash completion script
int RunCompletion(const std::vector<std::string>& args, Streams s);
// drover apply -f FILE|DIR|- [--dry-run] [--force] [--prune]
int RunApply(const std::vector<std::string>& args, Streams s);
// drover diff -f FILE|DIR|- [--exit-code]: the unified diff of each job against the server;
// exit 0 with or without differences, 3 for differences under --exit-code.
int RunDiff(const std::vector<std::string>& args, Streams s);

// drover [--help | --version | COMMAND ...]
int RunMain(const std::vector<std::string>& args, Streams streams);

}  // namespace drover::cli
