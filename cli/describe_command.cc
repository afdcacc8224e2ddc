// drover describe job NAME [-n NS]: one job for a person: its spec in short, its status, the
// progress of its latest rollout, its executions counted by version and state, and its recent
// events (SPEC §3, §5), from GET /api/v1/jobs/{job}, .../executions and .../events.
#include <chrono>
#include <map>
#include <ostream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kDescribeUsage =
    "Usage: drover describe job NAME [-n NAMESPACE] [--events N]\n"
    "\n"
    "Shows a job: its spec in short (type, selector, strategy and waves, health check, restart\n"
    "policy, priority, timeouts), its status (state, version, stable and failed versions), the\n"
    "progress of its latest rollout (phase, wave k/N, nodes updated/healthy/failed against the\n"
    "failure budget), its executions counted by version and state, and its recent events.\n"
    "NAME is a job name (or a job id, j-...).\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS   the job's namespace (default: the profile's, else \"default\")\n"
    "  --events N           how many of the newest events to show (default 20; 0: none)\n"
    "  -h, --help           show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "Exit status: 0 shown, 1 a request failed or the job does not exist, 2 usage error.\n";

const std::vector<FlagDef> kDescribeFlags = {{"--namespace", "-n", true}, {"--events", "", true}};

constexpr int kFieldWidth = 18;

// "Label:" padded so that values line up, at `indent`.
void Field(std::ostream& out, int indent, const std::string& label, const std::string& value) {
  std::string head = std::string(static_cast<size_t>(indent), ' ') + label + ":";
  head.resize(std::max<size_t>(head.size() + 1, kFieldWidth), ' ');
  out << head << (value.empty() ? "<none>" : value) << "\n";
}

std::string Join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

std::string SelectorText(const Json& selector) {
  std::vector<std::string> parts;
  if (selector.is_object()) {
    const Json labels = selector.value("match_labels", Json::object());
    for (const auto& [k, v] : labels.items()) parts.push_back(k + "=" + Cell(v));
    for (const Json& e : selector.value("match_expressions", Json::array()))
      parts.push_back(Cell(e));
    std::vector<std::string> ids;
    for (const Json& id : selector.value("match_ids", Json::array())) ids.push_back(Cell(id));
    if (!ids.empty()) parts.push_back("ids " + Join(ids, ","));
  }
  return parts.empty() ? "every node" : Join(parts, ", ");
}

std::string TimeoutsText(const Json& timeouts) {
  std::vector<std::string> parts;
  for (const char* kind : {"execution", "queue", "total"}) {
    int64_t seconds = timeouts.is_object() ? timeouts.value(std::string(kind) + "_timeout", 0) : 0;
    if (seconds > 0) parts.push_back(std::string(kind) + " " + std::to_string(seconds) + "s");
  }
  return parts.empty() ? "none" : Join(parts, ", ");
}

std::string StrategyText(const Json& rollout) {
  std::string strategy = rollout.value("strategy", std::string("immediate"));
  std::string text = strategy;
  if (strategy != "immediate") {
    text += ", " + Cell(rollout.value("max_parallel", Json())) + "% of the nodes per wave";
  }
  text += "; halts above " + Cell(rollout.value("max_failed_nodes", Json())) + " failed nodes or " +
          Cell(rollout.value("max_failed_nodes_percent", Json())) + "%";
  text +=
      rollout.value("no_auto_rollback", false) ? ", no automatic rollback" : ", then rolls back";
  if (strategy == "canary") {
    int count = rollout.value("canary_count", 0);
    text +=
        "; canary " +
        (count > 0 ? std::to_string(count) + " nodes"
                   : Cell(rollout.value("canary_percent", Json())) + "%") +
        (rollout.value("auto_promote", false) ? ", promoted automatically" : ", promoted by hand");
  }
  return text;
}

std::string HealthCheckText(const Json& h) {
  if (!h.is_object()) return "none";
  return "deadline " + DurationText(h.value("deadline", Json())) + ", interval " +
         DurationText(h.value("interval", Json())) + ", healthy after " +
         Cell(h.value("success_threshold", Json())) + " windows, unhealthy after " +
         Cell(h.value("failure_threshold", Json())) + ", max error rate " +
         Cell(h.value("max_error_rate", Json()));
}

std::string TimeText(const Json& timestamp, WallTime now) {
  if (!timestamp.is_string() || timestamp.get<std::string>().empty()) return "-";
  return timestamp.get<std::string>() + " (" + AgeOf(timestamp, now) + " ago)";
}

void PrintSpec(std::ostream& out, const Json& job, WallTime now) {
  const Json& spec = job["spec"];
  Field(out, 0, "Name", spec.value("name", std::string()));
  Field(out, 0, "Namespace", spec.value("namespace", std::string()));
  Field(out, 0, "ID", job.value("id", std::string()));
  Field(out, 0, "Type", spec.value("type", std::string()));
  if (!spec.value("description", std::string()).empty()) {
    Field(out, 0, "Description", spec.value("description", std::string()));
  }
  Field(out, 0, "Labels", LabelsText(spec.value("labels", Json())));
  Field(out, 0, "Selector", SelectorText(spec.value("selector", Json())));
  Field(out, 0, "Priority", Cell(spec.value("priority", Json())));
  Field(out, 0, "Restart policy", spec.value("restart_policy", std::string()));
  Field(out, 0, "Timeouts", TimeoutsText(spec.value("timeouts", Json())));
  const Json rollout = spec.value("rollout", Json::object());
  Field(out, 0, "Strategy", StrategyText(rollout));
  Field(out, 0, "Health check", HealthCheckText(rollout.value("health_check", Json())));
  Field(out, 0, "Created", TimeText(job["status"].value("created_at", Json()), now));
}

void PrintStatus(std::ostream& out, const Json& status, WallTime now) {
  out << "Status:\n";
  Field(out, 2, "State", status.value("state", std::string()));
  Field(out, 2, "Version", Cell(status.value("version", Json())));
  Field(out, 2, "Stable version", Cell(status.value("stable_version", Json())));
  Field(out, 2, "Failed version", Cell(status.value("failed_version", Json())));
  Field(out, 2, "Updated", TimeText(status.value("updated_at", Json()), now));
  if (!status.value("message", std::string()).empty()) {
    Field(out, 2, "Message", status.value("message", std::string()));
  }
}

void PrintRollout(std::ostream& out, const Json& rollout, const Json& policy, WallTime now) {
  out << "Rollout:\n";
  if (!rollout.is_object()) {
    out << "  <none yet>\n";
    return;
  }
  auto count = [&](const char* key) { return std::to_string(rollout.value(key, 0)); };
  Field(out, 2, "Phase", rollout.value("phase", std::string()));
  const Json from = rollout.value("from_version", Json());
  Field(out, 2, "Versions",
        (from.is_null() ? std::string("(none)") : "v" + Cell(from)) + " -> v" +
            Cell(rollout.value("to_version", Json())) + " (" +
            rollout.value("strategy", std::string()) + ")");
  Field(out, 2, "Wave", count("current_wave") + "/" + count("total_waves"));
  const int targets = rollout.value("target_nodes", 0);
  Field(out, 2, "Nodes",
        std::to_string(targets) + " target, " + count("updated_nodes") + " updated, " +
            count("healthy_nodes") + " healthy, " + count("failed_nodes") + " failed (budget " +
            std::to_string(FailureBudget(policy, targets)) + "), " + count("skipped_nodes") +
            " skipped");
  std::vector<std::string> canaries;
  for (const Json& id : rollout.value("canary_nodes", Json::array())) canaries.push_back(Cell(id));
  if (!canaries.empty()) Field(out, 2, "Canary nodes", Join(canaries, ", "));
  Field(out, 2, "Started", TimeText(rollout.value("started_at", Json()), now));
  Field(out, 2, "Completed", TimeText(rollout.value("completed_at", Json()), now));
  if (!rollout.value("message", std::string()).empty()) {
    Field(out, 2, "Message", rollout.value("message", std::string()));
  }
}

// Per version, newest first: "48 running (46 healthy, 2 unknown), 2 starting".
void PrintExecutions(std::ostream& out, const Json& executions) {
  out << "Executions:\n";
  std::map<int, std::map<std::string, int>, std::greater<>> states;
  std::map<int, std::map<std::string, int>> health;  // of the running ones
  for (const Json& e : executions) {
    int version = e.value("version", 0);
    std::string state = e.value("state", std::string("?"));
    ++states[version][state];
    if (state == "running") ++health[version][e.value("health", std::string("unknown"))];
  }
  if (states.empty()) out << "  <none>\n";
  for (const auto& [version, counts] : states) {
    std::vector<std::string> parts;
    for (const auto& [state, n] : counts) {
      std::string part = std::to_string(n) + " " + state;
      if (state == "running") {
        std::vector<std::string> h;
        for (const auto& [verdict, m] : health[version])
          h.push_back(std::to_string(m) + " " + verdict);
        part += " (" + Join(h, ", ") + ")";
      }
      parts.push_back(part);
    }
    Field(out, 2, "v" + std::to_string(version), Join(parts, ", "));
  }
}

void PrintEvents(std::ostream& out, const Json& events, size_t limit, WallTime now) {
  size_t start = events.size() > limit ? events.size() - limit : 0;
  out << "Events";
  if (start > 0) out << " (the last " << limit << " of " << events.size() << ")";
  out << ":\n";
  if (events.empty()) {
    out << "  <none>\n";
    return;
  }
  Table table({"  AGE", "TYPE", "REASON", "MESSAGE"});
  for (size_t i = start; i < events.size(); ++i) {
    const Json& e = events[i];
    table.AddRow({"  " + AgeOf(e.value("time", Json()), now), e.value("type", std::string()),
                  e.value("reason", std::string()), e.value("message", std::string())});
  }
  table.Print(out);
}

}  // namespace

int RunDescribe(const std::vector<std::string>& args, Streams s) {
  CommandRun run("describe", kDescribeUsage, s);
  if (std::optional<int> code = run.Start(args, kDescribeFlags)) return *code;
  const std::vector<std::string>& positional = run.args().positional;
  if (positional.empty()) return run.Usage("say what to describe: describe job NAME");
  if (positional[0] != "job" && positional[0] != "jobs") {
    return run.Usage("cannot describe \"" + positional[0] + "\": only jobs (describe job NAME)");
  }
  if (positional.size() < 2) return run.Usage("give the job's NAME");
  if (positional.size() > 2) return run.Usage("one job NAME at a time");
  size_t events_limit = 20;
  if (run.args().Has("--events")) {
    const std::string text = run.args().Value("--events");
    char* end = nullptr;
    long n = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || n < 0 || n > 1000) {
      return run.Usage("--events: expected an integer from 0 to 1000, got \"" + text + "\"");
    }
    events_limit = static_cast<size_t>(n);
  }
  const std::string& name = positional[1];
  const std::string ns = run.Namespace();
  ApiAnswer job = run.client().Get(JobPath(name, ns));
  if (!job.ok()) return run.Fail("", job);
  const Json& body = job.body["job"];
  // Ids resolve in any namespace: ask for the rest where the job is.
  const std::string job_ns = body["spec"].value("namespace", ns);
  ApiAnswer executions = run.client().Get(JobPath(name, job_ns, "/executions"));
  ApiAnswer events = run.client().Get(JobPath(name, job_ns, "/events"));

  const WallTime now = std::chrono::system_clock::now();
  std::ostream& out = run.out();
  PrintSpec(out, body, now);
  PrintStatus(out, body["status"], now);
  PrintRollout(out, body["status"].value("rollout", Json()),
               body["spec"].value("rollout", Json::object()), now);
  int code = kExitOk;
  if (executions.ok()) {
    PrintExecutions(out, executions.body.value("items", Json::array()));
  } else {
    code = run.Fail("reading the executions", executions);
  }
  if (events_limit > 0) {
    if (events.ok()) {
      PrintEvents(out, events.body.value("items", Json::array()), events_limit, now);
    } else {
      code = run.Fail("reading the events", events);
    }
  }
  return code;
}

}  // namespace drover::cli
