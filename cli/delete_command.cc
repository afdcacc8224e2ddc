// drover delete job NAME... [-n NS] [--purge] (SPEC §3): stops a job (every execution stopped,
// state `stopped`, the record and its history kept) or, with --purge, removes it altogether,
// through DELETE /api/v1/jobs/{job}[?purge=true].
#include <ostream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kDeleteUsage =
    "Usage: drover delete job NAME... [-n NAMESPACE] [--purge]\n"
    "\n"
    "Stops each job: its executions are stopped on every node, its state becomes \"stopped\",\n"
    "its record, versions and events are kept (applying the same spec again starts it). With\n"
    "--purge the job is removed altogether. Prints \"job NS/NAME stopped\" or \"job NS/NAME\n"
    "deleted\" per job. NAME is a job name (or a job id, j-...).\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS   the jobs' namespace (default: the profile's, else \"default\")\n"
    "  --purge              also delete the job's record, versions, executions and events\n"
    "  -h, --help           show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "Exit status: 0 every job stopped or deleted, 1 a request failed or a job does not exist,\n"
    "2 usage error.\n";

const std::vector<FlagDef> kDeleteFlags = {{"--namespace", "-n", true}, {"--purge", "", false}};

}  // namespace

int RunDelete(const std::vector<std::string>& args, Streams s) {
  CommandRun run("delete", kDeleteUsage, s);
  if (std::optional<int> code = run.Start(args, kDeleteFlags)) return *code;
  const std::vector<std::string>& positional = run.args().positional;
  if (positional.empty()) return run.Usage("say what to delete: delete job NAME");
  if (positional[0] != "job" && positional[0] != "jobs") {
    return run.Usage("cannot delete \"" + positional[0] + "\": only jobs (delete job NAME)");
  }
  if (positional.size() < 2) return run.Usage("give the job's NAME");
  const bool purge = run.args().Has("--purge");
  const std::string ns = run.Namespace();
  int code = kExitOk;
  for (size_t i = 1; i < positional.size(); ++i) {
    const std::string& name = positional[i];
    std::string path = JobPath(name, ns) + (purge ? "&purge=true" : "");
    ApiAnswer answer = run.client().Call("DELETE", path);
    if (!answer.ok()) {
      code = run.Fail("", answer);
      continue;
    }
    std::string ref = ns + "/" + name;
    if (answer.body.contains("job")) {
      const Json& spec = answer.body["job"]["spec"];
      ref = spec.value("namespace", ns) + "/" + spec.value("name", name);
    }
    run.out() << "job " << ref << (purge ? " deleted" : " stopped") << "\n";
  }
  return code;
}

}  // namespace drover::cli
