// drover get jobs|nodes|executions [-n NS|-A] [-l SELECTOR] [-o table|json|yaml]. Placeholder while
// the command is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunGet(const std::vector<std::string>&, Streams s) {
  s.err << "drover get: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
