// Subcommand dispatch for the drover binary.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "controller/controller_main.h"

#ifndef DROVER_VERSION
#define DROVER_VERSION "dev"
#endif

namespace drover::cli {
namespace {

constexpr const char* kMainUsage =
    "Drover: declare jobs, place them on matching edge nodes, roll them out safely.\n"
    "\n"
    "Usage: drover COMMAND [flags]\n"
    "\n"
    "Run a cluster:\n"
    "  controller serve the API over the declarative store (drover controller --help)\n"
    "  dev        a controller, an embedded store and 3 agents in one process (drover dev)\n"
    "  agent      run the node agent (drover agent --help)\n"
    "  sim        simulate a fleet of nodes against a controller (drover sim --help)\n"
    "\n"
    "Manage jobs (against --server, $DROVER_ADDR or a profile):\n"
    "  apply      create or update the jobs of manifests (apply -f FILE|DIR|- [--dry-run] "
    "[--prune])\n"
    "  diff       show what apply would change (diff -f FILE|DIR|- [--exit-code])\n"
    "  validate   check job manifests locally, no server (validate -f FILE|DIR|-)\n"
    "  get        list jobs, nodes or executions (get jobs|nodes|executions [-o table|json|yaml])\n"
    "  describe   a job's spec, status, rollout and events (describe job NAME)\n"
    "  rollout    follow or steer a rollout (rollout status|pause|resume|promote|rollback NAME)\n"
    "  delete     stop a job, or remove it with --purge (delete job NAME)\n"
    "  logs       print a job's execution output (logs NAME [--node ID] [-f])\n"
    "  nodes      cordon, uncordon or drain a node (nodes cordon|uncordon|drain ID)\n"
    "\n"
    "Tools:\n"
    "  blobl      run a Bloblang mapping on stdin (drover blobl MAPPING|-f FILE [--lines])\n"
    "  completion print the bash completion script (source <(drover completion bash))\n"
    "  version    print the version\n"
    "  help       show this help\n"
    "\n"
    "Run 'drover COMMAND --help' for a command's flags.\n";

}  // namespace

int RunMain(const std::vector<std::string>& args, Streams s) {
  if (args.empty()) {
    s.err << kMainUsage;
    return kExitUsage;
  }
  const std::string& command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "help") {
    s.out << kMainUsage;
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    s.out << "drover " << DROVER_VERSION << "\n";
    return kExitOk;
  }
  if (command == "validate") return RunValidate(rest, s);
  if (command == "sim") return RunSim(rest, s);
  if (command == "blobl") return RunBlobl(rest, s);
  if (command == "engine") return RunEngine(rest, s);
  if (command == "agent") return RunAgent(rest, s);
  if (command == "dev") return RunDev(rest, s);
  if (command == "logs") return RunLogs(rest, s);
  if (command == "apply") return RunApply(rest, s);
  if (command == "diff") return RunDiff(rest, s);
  if (command == "get") return RunGet(rest, s);
  if (command == "describe") return RunDescribe(rest, s);
  if (command == "rollout") return RunRollout(rest, s);
  if (command == "delete") return RunDelete(rest, s);
  if (command == "nodes") return RunNodes(rest, s);
  if (command == "completion") return RunCompletion(rest, s);
  if (command == "controller") return controller::RunController(rest, s.out, s.err);
  s.err << "drover: unknown command \"" << command << "\"\n\n" << kMainUsage;
  return kExitUsage;
}

}  // namespace drover::cli
