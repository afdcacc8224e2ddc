// drover completion bash: the bash completion script. Placeholder while the command is being
// written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunCompletion(const std::vector<std::string>&, Streams s) {
  s.err << "drover completion: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
