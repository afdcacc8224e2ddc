// drover delete job NAME [--purge]. Placeholder while the command is being written (issue 6).
#include <ostream>

#include "cli/commands.h"

namespace drover::cli {

int RunDelete(const std::vector<std::string>&, Streams s) {
  s.err << "drover delete: not available in this build yet\n";
  return kExitUsage;
}

}  // namespace drover::cli
