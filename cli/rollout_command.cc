// drover rollout status|pause|resume|promote|rollback NAME [--watch]. Placeholder while the command
// is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunRollout(const std::vector<std::string>&, Streams s) {
  s.err << "drover rollout: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
