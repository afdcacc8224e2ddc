// drover nodes cordon|uncordon|drain ID... (SPEC §8): node operations through
// POST /api/v1/nodes/{id}/{action}. Cordon blocks new placements; drain cordons, then stops the
// node's executions; uncordon lets placements come back.
#include <map>
#include <ostream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kNodesUsage =
    "Usage: drover nodes cordon|uncordon|drain ID...\n"
    "\n"
    "  cordon     no new executions are placed on the node; those it runs keep running (and\n"
    "             are still updated and rolled back)\n"
    "  uncordon   the node takes new placements again (also ends a drain)\n"
    "  drain      cordon, then stop every execution of the node (it leaves rollouts' targets)\n"
    "Prints \"node ID cordoned\", \"uncordoned\" or \"draining\" per node. See the nodes with\n"
    "drover get nodes.\n"
    "\n"
    "Flags:\n"
    "  -h, --help           show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "Exit status: 0 done for every node, 1 a request failed or a node is unknown, 2 usage\n"
    "error.\n";

}  // namespace

int RunNodes(const std::vector<std::string>& args, Streams s) {
  CommandRun run("nodes", kNodesUsage, s);
  if (std::optional<int> code = run.Start(args, {})) return *code;
  const std::vector<std::string>& positional = run.args().positional;
  static const std::map<std::string, std::string> kDone = {
      {"cordon", "cordoned"}, {"uncordon", "uncordoned"}, {"drain", "draining"}};
  if (positional.empty()) return run.Usage("give an action: cordon, uncordon or drain");
  auto done = kDone.find(positional[0]);
  if (done == kDone.end()) {
    return run.Usage("unknown action \"" + positional[0] +
                     "\": expected cordon, uncordon or drain");
  }
  if (positional.size() < 2) return run.Usage("give the node's ID");
  int code = kExitOk;
  for (size_t i = 1; i < positional.size(); ++i) {
    const std::string& id = positional[i];
    ApiAnswer answer =
        run.client().Call("POST", "/api/v1/nodes/" + UrlEncode(id) + "/" + positional[0]);
    if (!answer.ok()) {
      code = run.Fail(positional[0] + " " + id, answer);
      continue;
    }
    run.out() << "node " << id << " " << done->second << "\n";
  }
  return code;
}

}  // namespace drover::cli
