// Placeholder until the command lands; replaced by its real implementation.
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunEngine(const std::vector<std::string>&, Streams s) {
  s.err << "drover: this command is not built yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
