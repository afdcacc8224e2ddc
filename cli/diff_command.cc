// drover diff -f FILE|DIR|-: the unified diff of each job against the server. Placeholder while the
// command is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunDiff(const std::vector<std::string>&, Streams s) {
  s.err << "drover diff: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
