// drover apply -f FILE|DIR|- [--dry-run] [--force] [--prune]. Placeholder while the command is
// being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunApply(const std::vector<std::string>&, Streams s) {
  s.err << "drover apply: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
