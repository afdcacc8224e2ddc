// drover describe job NAME: spec summary, status, rollout progress, events. Placeholder while the
// command is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunDescribe(const std::vector<std::string>&, Streams s) {
  s.err << "drover describe: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
