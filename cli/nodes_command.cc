// drover nodes cordon|uncordon|drain ID. Placeholder while the command is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunNodes(const std::vector<std::string>&, Streams s) {
  s.err << "drover nodes: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
