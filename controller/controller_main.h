// `drover controller`: flags in, a running API server out, until SIGINT or SIGTERM. Wiring
// only: the store, the node registry, the job service, the API server and the HTTP listener.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace drover::controller {

// Returns the process exit code: 0 after a clean shutdown, 1 when the server could not start
// (store, port, TLS, auth file), 2 on a usage error.
int RunController(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace drover::controller
