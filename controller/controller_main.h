// `drover controller`: flags in, a running API server out, until SIGINT or SIGTERM. Wiring
// only: the store, the node registry, the job service, the API server and the HTTP listener.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace drover::controller {

// Returns the process exit code: 0 after a clean shutdown, 1 when the server could not start
// (store, port, TLS, auth file), 2 on a usage error.
//
// The controller runs until `wait_for_stop` returns (by default: until SIGINT or SIGTERM, taken
// with sigwait); it returns the name of what stopped it, for the log. `drover dev` passes its own
// so that it can stop its agents before the controller.
int RunController(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const std::function<std::string()>& wait_for_stop = nullptr);

}  // namespace drover::controller
