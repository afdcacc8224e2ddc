// drover get jobs|nodes|executions [NAME...] [-n NS|-A] [-l SELECTOR] [-o table|json|yaml|name]
// (SPEC §3, §13): the controller's lists as kubectl-like tables, or as the API's own objects
// for scripts. The API lists executions per job, so the executions of several jobs are the
// jobs' list and then one request per job.
#include <algorithm>
#include <chrono>
#include <functional>
#include <ostream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kGetUsage =
    "Usage: drover get jobs|nodes|executions [NAME...] [flags]\n"
    "\n"
    "Lists what the controller holds, as a table or as the API's objects.\n"
    "\n"
    "  drover get jobs [NAME...] [-n NS | -A] [-l SELECTOR] [--state STATE]\n"
    "      NAMESPACE (with -A), NAME, TYPE, STATE, VERSION, STABLE, ROLLOUT (phase and wave),\n"
    "      AGE\n"
    "  drover get nodes [ID...] [-l SELECTOR] [--state connected|disconnected|lost]\n"
    "      ID, STATE, SCHEDULABLE (yes, cordoned, draining), LABELS, EXECUTIONS,\n"
    "      LAST HEARTBEAT (age), VERSION (the agent's)\n"
    "  drover get executions [JOB] [-n NS | -A] [-l SELECTOR] [--state STATE] [--version N]\n"
    "                        [--node ID]\n"
    "      ID, NODE, VERSION, STATE, HEALTH, RESTARTS, AGE: of one JOB, or without JOB of every\n"
    "      job of the namespace (of every namespace with -A) whose labels -l selects, with a\n"
    "      JOB column (and NAMESPACE with -A) first\n"
    "\n"
    "Also accepted: job, node, no, execution, exec, ex.\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS     the namespace (default: the profile's, else \"default\")\n"
    "  -A, --all-namespaces   jobs (or their executions) of every namespace\n"
    "  -l, --selector SEL     only jobs/nodes whose labels match a Kubernetes label selector\n"
    "                         (\"env=prod,zone in (a,b),!canary\"); for executions: those of\n"
    "                         the jobs it selects (not with a JOB)\n"
    "  --state STATE          only this state (job, node or execution state)\n"
    "  --job JOB              the job whose executions to list (instead of the argument)\n"
    "  --version N            executions: only those of version N\n"
    "  --node ID              executions: only those on node ID\n"
    "  -o, --output FORMAT    table (default), json or yaml (the API's objects: one object for\n"
    "                         one NAME, else {\"items\": [...]}), name (one name per line)\n"
    "  -h, --help             show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "An empty list prints \"No jobs found in namespace NS.\" on stderr and exits 0.\n"
    "Exit status: 0 listed, 1 a request failed or a NAME does not exist, 2 usage error.\n";

const std::vector<FlagDef> kGetFlags = {
    {"--namespace", "-n", true}, {"--all-namespaces", "-A", false},
    {"--selector", "-l", true},  {"--state", "", true},
    {"--job", "", true},         {"--version", "", true},
    {"--node", "", true},        {"--output", "-o", true},
};

enum class Kind { kJobs, kNodes, kExecutions };

std::optional<Kind> ParseKind(const std::string& text) {
  if (text == "jobs" || text == "job") return Kind::kJobs;
  if (text == "nodes" || text == "node" || text == "no") return Kind::kNodes;
  if (text == "executions" || text == "execution" || text == "exec" || text == "ex") {
    return Kind::kExecutions;
  }
  return std::nullopt;
}

std::string Query(const std::string& key, const std::string& value) {
  return value.empty() ? "" : "&" + key + "=" + UrlEncode(value);
}

// The items of a list answer, or the objects fetched one by one (`key` holds each one).
struct Fetched {
  Json items = Json::array();
  bool failed = false;
};

Fetched FetchEach(const CommandRun& run, const std::vector<std::string>& names,
                  const std::function<std::string(const std::string&)>& path_of, const char* key) {
  Fetched fetched;
  for (const std::string& name : names) {
    ApiAnswer answer = run.client().Get(path_of(name));
    if (!answer.ok()) {
      run.Fail("", answer);
      fetched.failed = true;
      continue;
    }
    fetched.items.push_back(answer.body.value(key, Json::object()));
  }
  return fetched;
}

// Prints `items` in `format`; `table` builds the table. Returns the exit code.
int Print(const CommandRun& run, const Fetched& fetched, size_t names, OutputFormat format,
          const std::string& empty_message, const std::function<Table()>& table,
          const std::function<std::string(const Json&)>& name_of) {
  const Json& items = fetched.items;
  if (format == OutputFormat::kJson || format == OutputFormat::kYaml) {
    if (names == 1 && items.size() == 1) {
      PrintDocument(items[0], format, run.out());
    } else if (names == 0 || !items.empty()) {
      PrintDocument(Json{{"items", items}}, format, run.out());
    }
  } else if (items.empty()) {
    if (names == 0) run.err() << empty_message << "\n";
  } else if (format == OutputFormat::kName) {
    for (const Json& item : items) run.out() << name_of(item) << "\n";
  } else {
    table().Print(run.out());
  }
  return fetched.failed ? kExitFailure : kExitOk;
}

std::string NamespaceOf(const Json& job) {
  return job["spec"].value("namespace", std::string("default"));
}

int GetJobs(const CommandRun& run, const std::vector<std::string>& names, OutputFormat format) {
  const ParsedArgs& a = run.args();
  const bool all = a.Has("--all-namespaces");
  if (all && !names.empty()) return run.Usage("-A lists every job; give NAMEs with -n instead");
  if (!names.empty() && (a.Has("--selector") || a.Has("--state"))) {
    return run.Usage("-l and --state filter a list; they do not go with NAMEs");
  }
  for (const char* flag : {"--job", "--version", "--node"}) {
    if (a.Has(flag)) return run.Usage(std::string(flag) + " applies to executions only");
  }
  const std::string ns = run.Namespace();
  Fetched fetched;
  if (names.empty()) {
    ApiAnswer answer = run.client().Get("/api/v1/jobs?namespace=" + UrlEncode(all ? "*" : ns) +
                                        Query("labels", a.Value("--selector")) +
                                        Query("state", a.Value("--state")));
    if (!answer.ok()) return run.Fail("listing jobs", answer);
    fetched.items = answer.body.value("items", Json::array());
  } else {
    fetched = FetchEach(
        run, names, [&](const std::string& name) { return JobPath(name, ns); }, "job");
  }
  auto table = [&] {
    std::vector<std::string> headers = {"NAME",   "TYPE",    "STATE", "VERSION",
                                        "STABLE", "ROLLOUT", "AGE"};
    if (all) headers.insert(headers.begin(), "NAMESPACE");
    Table t(headers);
    const WallTime now = std::chrono::system_clock::now();
    for (const Json& job : fetched.items) {
      const Json& status = job["status"];
      std::vector<std::string> row = {job["spec"].value("name", std::string()),
                                      job["spec"].value("type", std::string()),
                                      status.value("state", std::string()),
                                      Cell(status.value("version", Json())),
                                      Cell(status.value("stable_version", Json())),
                                      RolloutColumn(status.value("rollout", Json())),
                                      AgeOf(status.value("created_at", Json()), now)};
      if (all) row.insert(row.begin(), NamespaceOf(job));
      t.AddRow(std::move(row));
    }
    return t;
  };
  auto name_of = [&](const Json& job) {
    std::string name = job["spec"].value("name", std::string());
    return all ? NamespaceOf(job) + "/" + name : name;
  };
  return Print(run, fetched, names.size(), format,
               all ? "No jobs found." : "No jobs found in namespace " + ns + ".", table, name_of);
}

int GetNodes(const CommandRun& run, const std::vector<std::string>& names, OutputFormat format) {
  const ParsedArgs& a = run.args();
  if (!names.empty() && (a.Has("--selector") || a.Has("--state"))) {
    return run.Usage("-l and --state filter a list; they do not go with node IDs");
  }
  for (const char* flag : {"--job", "--version", "--node"}) {
    if (a.Has(flag)) return run.Usage(std::string(flag) + " applies to executions only");
  }
  Fetched fetched;
  if (names.empty()) {
    ApiAnswer answer = run.client().Get("/api/v1/nodes?" + Query("labels", a.Value("--selector")) +
                                        Query("state", a.Value("--state")));
    if (!answer.ok()) return run.Fail("listing nodes", answer);
    fetched.items = answer.body.value("items", Json::array());
  } else {
    fetched = FetchEach(
        run, names, [](const std::string& id) { return "/api/v1/nodes/" + UrlEncode(id); }, "node");
  }
  auto table = [&] {
    Table t({"ID", "STATE", "SCHEDULABLE", "LABELS", "EXECUTIONS", "LAST HEARTBEAT", "VERSION"});
    const WallTime now = std::chrono::system_clock::now();
    for (const Json& node : fetched.items) {
      std::string schedulable = node.value("draining", false)      ? "draining"
                                : !node.value("schedulable", true) ? "cordoned"
                                                                   : "yes";
      const Json heartbeat = node.value("last_heartbeat", Json());
      t.AddRow({node.value("id", std::string()), node.value("state", std::string()), schedulable,
                LabelsText(node.value("labels", Json())),
                std::to_string(node.value("executions", Json::array()).size()),
                heartbeat.is_null() ? "never" : AgeOf(heartbeat, now) + " ago",
                node.value("agent_version", std::string())});
    }
    return t;
  };
  auto name_of = [](const Json& node) { return node.value("id", std::string()); };
  return Print(run, fetched, names.size(), format, "No nodes found.", table, name_of);
}

// A job whose executions are listed.
struct JobRef {
  std::string ns;
  std::string name;
};

int GetExecutions(const CommandRun& run, const std::vector<std::string>& names,
                  OutputFormat format) {
  const ParsedArgs& a = run.args();
  std::vector<std::string> named = names;
  if (a.Has("--job")) named.insert(named.begin(), a.Value("--job"));
  if (named.size() > 1)
    return run.Usage("executions of one job at a time (or of every job: no JOB)");
  const bool all = a.Has("--all-namespaces");
  const bool one_job = !named.empty();
  if (one_job && all) {
    return run.Usage("-A lists the executions of every job; give a JOB with -n instead");
  }
  if (one_job && a.Has("--selector")) {
    return run.Usage("-l selects the jobs whose executions to list; it does not go with a JOB");
  }
  const std::string ns = run.Namespace();
  // The jobs: the one named, else those of the namespace (of every one with -A) -l selects.
  std::vector<JobRef> jobs;
  if (one_job) {
    jobs.push_back({ns, named[0]});
  } else {
    ApiAnswer answer = run.client().Get("/api/v1/jobs?namespace=" + UrlEncode(all ? "*" : ns) +
                                        Query("labels", a.Value("--selector")));
    if (!answer.ok()) return run.Fail("listing jobs", answer);
    for (const Json& job : answer.body.value("items", Json::array())) {
      jobs.push_back({NamespaceOf(job), job["spec"].value("name", std::string())});
    }
  }
  Fetched fetched;
  std::vector<const JobRef*> owners;  // the job of each of fetched.items
  for (const JobRef& job : jobs) {
    ApiAnswer answer = run.client().Get(JobPath(job.name, job.ns, "/executions") +
                                        Query("state", a.Value("--state")) +
                                        Query("version", a.Value("--version")));
    const std::string what = "listing the executions of job " + job.ns + "/" + job.name;
    if (!answer.ok() && (one_job || answer.status == 0)) return run.Fail(what, answer);
    if (answer.status == 404) continue;  // deleted since it was listed
    if (!answer.ok()) {
      run.Fail(what, answer);
      fetched.failed = true;
      continue;
    }
    std::vector<Json> items;
    for (const Json& e : answer.body.value("items", Json::array())) {
      if (!a.Has("--node") || e.value("node_id", std::string()) == a.Value("--node")) {
        items.push_back(e);
      }
    }
    // By node, the newest version first.
    std::stable_sort(items.begin(), items.end(), [](const Json& x, const Json& y) {
      std::string nx = x.value("node_id", std::string()), ny = y.value("node_id", std::string());
      if (nx != ny) return nx < ny;
      return x.value("version", 0) > y.value("version", 0);
    });
    for (Json& e : items) {
      fetched.items.push_back(std::move(e));
      owners.push_back(&job);
    }
  }
  auto table = [&] {
    std::vector<std::string> headers = {"ID",     "NODE",     "VERSION", "STATE",
                                        "HEALTH", "RESTARTS", "AGE"};
    if (!one_job) headers.insert(headers.begin(), "JOB");
    if (all) headers.insert(headers.begin(), "NAMESPACE");
    Table t(headers);
    const WallTime now = std::chrono::system_clock::now();
    for (size_t i = 0; i < fetched.items.size(); ++i) {
      const Json& e = fetched.items[i];
      std::string state = e.value("state", std::string());
      if (e.value("desired_state", std::string()) == "stopped" && state != "stopped" &&
          state != "completed" && state != "failed") {
        state += " (stopping)";
      }
      std::vector<std::string> row = {e.value("id", std::string()),
                                      e.value("node_id", std::string()),
                                      Cell(e.value("version", Json())),
                                      state,
                                      e.value("health", std::string()),
                                      Cell(e.value("restarts", Json())),
                                      AgeOf(e.value("created_at", Json()), now)};
      if (!one_job) row.insert(row.begin(), owners[i]->name);
      if (all) row.insert(row.begin(), owners[i]->ns);
      t.AddRow(std::move(row));
    }
    return t;
  };
  auto name_of = [](const Json& e) { return e.value("id", std::string()); };
  const std::string empty = one_job ? "No executions found for job " + ns + "/" + named[0] + "."
                            : all   ? std::string("No executions found.")
                                    : "No executions found in namespace " + ns + ".";
  return Print(run, fetched, 0, format, empty, table, name_of);
}

}  // namespace

int RunGet(const std::vector<std::string>& args, Streams s) {
  CommandRun run("get", kGetUsage, s);
  if (std::optional<int> code = run.Start(args, kGetFlags)) return *code;
  const ParsedArgs& a = run.args();
  if (a.positional.empty()) return run.Usage("say what to list: jobs, nodes or executions");
  std::optional<Kind> kind = ParseKind(a.positional[0]);
  if (!kind) {
    return run.Usage("cannot list \"" + a.positional[0] + "\": expected jobs, nodes or executions");
  }
  Result<OutputFormat> format = ParseOutputFormat(a.Value("--output", "table"));
  if (!format.ok()) return run.Usage(format.status().message());
  std::vector<std::string> names(a.positional.begin() + 1, a.positional.end());
  switch (*kind) {
    case Kind::kJobs:
      return GetJobs(run, names, *format);
    case Kind::kNodes:
      return GetNodes(run, names, *format);
    case Kind::kExecutions:
      return GetExecutions(run, names, *format);
  }
  return kExitUsage;
}

}  // namespace drover::cli
