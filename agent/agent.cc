#include "agent/agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "agent/agent_metrics.h"
#include "agent/assignment.h"
#include "agent/config_files.h"
#include "agent/controller_client.h"
#include "agent/external_engine.h"
#include "agent/log_stream.h"
#include "agent/process.h"
#include "reconcilers/health_window.h"
#include "reconcilers/node_converge.h"
#include "reconcilers/restart_policy.h"

extern char** environ;

namespace drover::agent {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

namespace {

constexpr size_t kLogBytesPerHeartbeat = 256 * 1024;
constexpr size_t kQueryResultsCap = 1 << 20;  // SPEC §4: about 1 MiB of results per node
constexpr std::chrono::seconds kRequestTimeout{15};
constexpr std::chrono::seconds kLongPollWait{30};

std::chrono::nanoseconds ToChrono(Duration d) { return std::chrono::nanoseconds(d.nanoseconds()); }
Duration FromChrono(Clock::duration d) {
  return Duration::Nanoseconds(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

bool IsTerminal(const std::string& state) {
  return state == "completed" || state == "failed" || state == "stopped";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to `path` through a temporary file and a rename, so a crash leaves the old or
// the new content, never half of one.
bool WriteFileAtomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  return !ec;
}

// One line on stderr, whole (several agents may share a process under `drover dev`).
void Log(const std::string& node_id, const std::string& line) {
  std::string text = "drover-agent[" + node_id + "]: " + line + "\n";
  std::cerr << text << std::flush;
}

}  // namespace

// One execution on this node: its assignment, what runs for it, and what the agent reports.
struct Execution {
  Assignment a;
  fs::path dir;
  std::string state = "pending";
  std::optional<int> exit_code;
  int restarts = 0;
  std::string message;

  std::optional<ChildProcess> process;
  bool process_is_hook = false;  // config jobs: the process is an on_change hook
  bool hook_pending = false;     // config jobs: files changed while the hook ran: run it again
  uint64_t pid_start = 0;
  TimePoint run_started{};
  std::optional<TimePoint> first_started;
  Duration last_backoff;
  std::optional<TimePoint> start_at;  // a (re)start is due then
  bool counts_as_restart = false;     // the due start is a restart of the workload

  bool stopping = false;
  std::optional<TimePoint> kill_at;
  std::string stop_outcome;  // the state once it has exited: "stopped" or "failed"

  HealthJudge judge;
  WindowCounts window;       // the window in progress
  WindowCounts last_window;  // the last closed one, as reported
  TimePoint window_end{};
  uint64_t stats_processed = 0, stats_errors = 0;  // the engine's cumulative counts so far

  std::unique_ptr<LogStream> out, err;
  Json results;  // query: the output messages, once completed
  bool results_truncated = false;
  bool terminal_reported = false;
  std::optional<TimePoint> next_drift_check;
  int metrics_port = 0;  // an external engine's metrics endpoint; 0 for the built-in engine

  explicit Execution(Assignment assignment) : a(std::move(assignment)), judge(a.health) {}
  bool terminal() const { return IsTerminal(state); }
};

struct Agent::State {
  AgentOptions options;
  std::string node_id;
  fs::path data_dir;

  std::mutex mu;
  std::condition_variable heartbeat_cv;
  bool report_soon = false;
  std::vector<Assignment> assignments;  // the controller's order
  int64_t assignments_index = -1;
  bool assignments_changed = true;
  std::map<std::string, std::unique_ptr<Execution>> executions;
  std::vector<std::string> waiting;  // assigned but not started (capacity, a job's stop)
  // Executions that ended here and were forgotten, newest last (bounded): an assignment that
  // still names one (an answer computed before the controller saw the end) is not run again.
  std::set<std::string> finished;
  std::deque<std::string> finished_order;
  std::atomic<bool> registered{false};
  std::atomic<int64_t> heartbeat_interval_ms{5000};
  int wake_pipe[2] = {-1, -1};
  AgentMetrics metrics;

  // ---------------------------------------------------------------------------------------
  // persistence

  fs::path ExecutionsDir() const { return data_dir / "executions"; }

  void SaveExecution(const Execution& e) {
    Json j = {{"assignment", e.a.raw},
              {"state", e.state},
              {"exit_code", e.exit_code ? Json(*e.exit_code) : Json()},
              {"restarts", e.restarts},
              {"message", e.message},
              {"pid", e.process && !e.process->exited() ? e.process->pid() : 0},
              {"pid_start", e.pid_start},
              {"stdout", {{"produced", e.out->produced()}, {"acked", e.out->acked()}}},
              {"stderr", {{"produced", e.err->produced()}, {"acked", e.err->acked()}}},
              {"results", e.results},
              {"results_truncated", e.results_truncated},
              {"terminal_reported", e.terminal_reported}};
    WriteFileAtomically(e.dir / "state.json", j.dump());
  }

  void SaveAssignments() {
    Json list = Json::array();
    for (const Assignment& a : assignments) list.push_back(a.raw);
    WriteFileAtomically(data_dir / "assignments.json",
                        Json{{"index", assignments_index}, {"assignments", list}}.dump());
  }

  std::unique_ptr<Execution> NewExecution(Assignment a, const Json* saved) {
    auto e = std::make_unique<Execution>(std::move(a));
    e->dir = ExecutionsDir() / e->a.execution_id;
    std::error_code ec;
    fs::create_directories(e->dir, ec);
    uint64_t out_produced = 0, out_acked = 0, err_produced = 0, err_acked = 0;
    if (saved != nullptr) {
      const Json& s = *saved;
      e->state = s.value("state", "pending");
      if (s.contains("exit_code") && s["exit_code"].is_number_integer()) {
        e->exit_code = s["exit_code"].get<int>();
      }
      e->restarts = s.value("restarts", 0);
      e->message = s.value("message", "");
      e->results = s.value("results", Json());
      e->results_truncated = s.value("results_truncated", false);
      e->terminal_reported = s.value("terminal_reported", false);
      if (s.contains("stdout") && s["stdout"].is_object()) {
        out_produced = s["stdout"].value("produced", uint64_t{0});
        out_acked = s["stdout"].value("acked", uint64_t{0});
      }
      if (s.contains("stderr") && s["stderr"].is_object()) {
        err_produced = s["stderr"].value("produced", uint64_t{0});
        err_acked = s["stderr"].value("acked", uint64_t{0});
      }
    }
    e->out = std::make_unique<LogStream>(e->dir / "stdout.log", out_produced, out_acked);
    e->err = std::make_unique<LogStream>(e->dir / "stderr.log", err_produced, err_acked);
    return e;
  }

  // Reads what an earlier run of the agent left: the assignments and every execution. Process
  // groups still alive from it are killed (children die with the agent); executions that were
  // running start again, without counting a restart — the workload did not fail.
  void Restore() {
    std::error_code ec;
    fs::create_directories(ExecutionsDir(), ec);
    Json saved = Json::parse(ReadFile(data_dir / "assignments.json"), nullptr, false);
    if (saved.is_object() && saved.contains("assignments") && saved["assignments"].is_array()) {
      for (const Json& item : saved["assignments"]) {
        Result<Assignment> a = ParseAssignment(item);
        if (a.ok()) assignments.push_back(std::move(*a));
      }
      // the index is not restored: the first answer from the controller replaces these
    }
    for (const auto& entry : fs::directory_iterator(ExecutionsDir(), ec)) {
      Json s = Json::parse(ReadFile(entry.path() / "state.json"), nullptr, false);
      if (!s.is_object()) {
        fs::remove_all(entry.path(), ec);
        continue;
      }
      Result<Assignment> a = ParseAssignment(s.value("assignment", Json()));
      if (!a.ok()) {
        fs::remove_all(entry.path(), ec);
        continue;
      }
      const pid_t pid = s.value("pid", 0);
      if (pid > 0 && KillLeftoverGroup(pid, s.value("pid_start", uint64_t{0}))) {
        Log(node_id, "killed the process group " + std::to_string(pid) + " left by an earlier run");
      }
      auto e = NewExecution(std::move(*a), &s);
      if (!e->terminal()) {
        e->state = "pending";
        e->start_at = Clock::now();
      }
      executions[e->a.execution_id] = std::move(e);
    }
  }

  // ---------------------------------------------------------------------------------------
  // starting and stopping workloads

  std::map<std::string, std::string> ChildEnvironment(const Execution& e) const {
    std::map<std::string, std::string> env;
    for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
      std::string kv(*p);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    // The agent's credential is not the workload's: with it a workload could speak for the node.
    env.erase("DROVER_TOKEN");
    env["DROVER_NODE_ID"] = node_id;
    env["DROVER_EXECUTION_ID"] = e.a.execution_id;
    env["DROVER_JOB_ID"] = e.a.job_id;
    env["DROVER_JOB_NAME"] = e.a.name;
    env["DROVER_NAMESPACE"] = e.a.namespace_;
    env["DROVER_VERSION"] = std::to_string(e.a.version);
    return env;
  }

  // What runs for a pipeline, query or update execution; an error says why it cannot run here.
  Result<SpawnRequest> Command(Execution& e) const {
    SpawnRequest request;
    request.env = ChildEnvironment(e);
    request.working_dir = e.dir.string();
    const Json& config = e.a.config;
    if (e.a.type == JobType::kUpdate) {
      if (!options.allow_commands) {
        return InvalidError(
            "commands are not allowed on this node (start the agent with --allow-commands)");
      }
      if (!e.a.rollback_command.empty()) {
        // rolling the node back from version rollback_of: that version's rollback_command
        request.argv = e.a.rollback_command;
      } else if (!config.contains("command") || !config["command"].is_array() ||
                 config["command"].empty()) {
        return InvalidError("config.command: expected a non-empty list");
      }
      if (request.argv.empty()) {
        for (const Json& arg : config["command"]) {
          if (!arg.is_string()) return InvalidError("config.command: expected strings");
          request.argv.push_back(arg.get<std::string>());
        }
      }
      if (e.a.rollback_of > 0) request.env["DROVER_ROLLBACK_OF"] = std::to_string(e.a.rollback_of);
      if (config.contains("env") && config["env"].is_object()) {
        for (const auto& [k, v] : config["env"].items()) {
          if (v.is_string()) request.env[k] = v.get<std::string>();
        }
      }
      return request;
    }
    // pipeline and query: the engine, in a process of its own
    const bool query = e.a.type == JobType::kQuery;
    const auto uses = [&](const char* part, const char* component) {
      return config.contains(part) && config[part].is_object() && config[part].contains(component);
    };
    if (options.read_root.empty() && (uses("input", "file") || uses("output", "file"))) {
      return InvalidError(
          "files are not readable on this node (start the agent with --read-root DIR)");
    }
    if (!options.pipeline_engine.empty()) {
      // JSON is YAML: the engine reads it as its config file
      const int port = FreeLoopbackPort();
      if (!WriteFileAtomically(e.dir / "config.yaml", ExternalEngineConfig(config, port).dump(2))) {
        return InternalError("cannot write " + (e.dir / "config.yaml").string());
      }
      e.metrics_port = port;
      request.argv = {options.pipeline_engine, "-c", (e.dir / "config.yaml").string()};
      return request;
    }
    if (!WriteFileAtomically(e.dir / "config.json", config.dump())) {
      return InternalError("cannot write " + (e.dir / "config.json").string());
    }
    std::error_code ec;
    fs::remove(e.dir / "stats", ec);
    request.argv = {options.drover_binary,
                    "engine",
                    "--config",
                    (e.dir / "config.json").string(),
                    "--stats",
                    (e.dir / "stats").string()};
    if (query) {
      request.argv.insert(request.argv.end(),
                          {"--query", "--results", (e.dir / "results.json").string()});
    } else {
      // offsets belong to the job, so that a new version goes on where the old one stopped
      fs::path offsets = data_dir / "jobs" / e.a.job_id / "engine-state";
      fs::create_directories(offsets, ec);
      request.argv.insert(request.argv.end(), {"--state-dir", offsets.string()});
    }
    if (!options.read_root.empty()) {
      request.argv.insert(request.argv.end(), {"--read-root", options.read_root});
    }
    if (options.allow_listen) request.argv.push_back("--allow-listen");
    return request;
  }

  void SetState(Execution& e, std::string state, std::string message) {
    const bool changed = e.state != state || e.message != message;
    const bool became_terminal = !e.terminal() && IsTerminal(state);
    e.state = std::move(state);
    e.message = std::move(message);
    if (became_terminal) {
      e.terminal_reported = false;
      ReportSoon();
    }
    if (changed) SaveExecution(e);
  }

  void Remember(const std::string& id) {
    if (!finished.insert(id).second) return;
    finished_order.push_back(id);
    if (finished_order.size() > 10'000) {
      finished.erase(finished_order.front());
      finished_order.pop_front();
    }
  }

  static std::string JobName(const Execution& e) { return e.a.namespace_ + "/" + e.a.name; }

  // The next heartbeat goes out shortly instead of at the end of the interval. Under `mu`.
  void ReportSoon() {
    report_soon = true;
    heartbeat_cv.notify_all();
  }

  void StartWindowClock(Execution& e, TimePoint now) {
    e.window = {};
    e.window_end = now + ToChrono(e.a.health.interval);
  }

  // Starts (or restarts) the workload of `e` now.
  void Launch(Execution& e, TimePoint now) {
    e.start_at.reset();
    if (e.counts_as_restart) ++e.restarts;
    e.counts_as_restart = false;
    if (!e.first_started) {
      e.first_started = now;
      StartWindowClock(e, now);
    }
    if (e.a.type == JobType::kConfig) {
      ApplyConfig(e, now, /*first=*/true);
      return;
    }
    Result<SpawnRequest> request = Command(e);
    if (!request.ok()) {
      e.exit_code.reset();
      SetState(e, "failed", request.status().message());
      return;
    }
    Result<ChildProcess> child = ChildProcess::Spawn(*request);
    if (!child.ok()) {
      e.exit_code = 127;
      SetState(e, "failed", child.status().message());
      return;
    }
    e.process = std::move(*child);
    e.process_is_hook = false;
    e.pid_start = ChildProcess::StartTime(e.process->pid()).value_or(0);
    e.run_started = now;
    e.stats_processed = e.stats_errors = 0;
    SetState(e, "running", "");
    SaveExecution(e);  // the pid, for the next agent to clean up after a crash
  }

  // Config jobs: write what differs, run on_change when something was written.
  void ApplyConfig(Execution& e, TimePoint now, bool first) {
    e.next_drift_check = now + options.drift_check;
    Result<std::vector<ConfigFile>> files = ParseConfigFiles(e.a.config, options.config_root);
    if (!files.ok()) {
      SetState(e, "failed", files.status().message());
      return;
    }
    const Json& config = e.a.config;
    const bool has_hook = config.contains("on_change") && config["on_change"].is_array() &&
                          !config["on_change"].empty();
    if (has_hook && !options.allow_commands) {
      SetState(e, "failed",
               "on_change needs commands, which are not allowed on this node (start the agent "
               "with --allow-commands)");
      return;
    }
    Result<std::vector<std::string>> written = SyncConfigFiles(*files);
    if (!written.ok()) {
      ++e.window.errors;
      SetState(e, "running", written.status().message());
      return;
    }
    if (written->empty()) {
      if (first) SetState(e, "running", "");
      return;
    }
    ++e.window.processed;
    std::string what = first ? "wrote " : "restored (changed on the node) ";
    for (size_t i = 0; i < written->size(); ++i) what += (i ? ", " : "") + (*written)[i];
    if (!first) Log(node_id, e.a.execution_id + ": " + what);
    SetState(e, "running", what);
    if (!has_hook) return;
    if (e.process) {
      // the running hook may have read the files before this write: it runs again once done
      e.hook_pending = true;
      return;
    }
    RunHook(e);
  }

  // Starts a config job's on_change command.
  void RunHook(Execution& e) {
    e.hook_pending = false;
    SpawnRequest hook;
    hook.env = ChildEnvironment(e);
    hook.working_dir = e.dir.string();
    for (const Json& arg : e.a.config["on_change"]) {
      if (arg.is_string()) hook.argv.push_back(arg.get<std::string>());
    }
    Result<ChildProcess> child = ChildProcess::Spawn(hook);
    if (!child.ok()) {
      ++e.window.errors;
      e.message = "on_change: " + child.status().message();
      return;
    }
    e.process = std::move(*child);
    e.process_is_hook = true;
    e.pid_start = ChildProcess::StartTime(e.process->pid()).value_or(0);
  }

  // Asks the workload to end: SIGTERM now, SIGKILL after the grace period. `outcome` is the
  // state it ends in ("stopped", or "failed" for a timeout).
  void Stop(Execution& e, TimePoint now, const std::string& outcome, const std::string& why) {
    if (e.terminal() || e.stopping) return;
    e.start_at.reset();
    if (e.process && !e.process->exited() && !e.process_is_hook) {
      e.stopping = true;
      e.stop_outcome = outcome;
      e.message = why;
      e.process->Signal(SIGTERM);
      e.kill_at = now + options.stop_grace;
      return;
    }
    if (e.process) e.process.reset();  // a hook: killed with the execution
    e.hook_pending = false;
    SetState(e, outcome, why);
  }

  // A workload's process exited with `code`.
  void Exited(Execution& e, int code, TimePoint now) {
    ReadStats(e);
    e.exit_code = code;
    const bool hook = e.process_is_hook;
    e.process.reset();
    e.kill_at.reset();
    if (hook) {
      if (code != 0) {
        ++e.window.errors;
        e.message = "on_change exited with code " + std::to_string(code);
      }
      if (e.hook_pending && !e.terminal()) RunHook(e);
      SaveExecution(e);
      return;
    }
    if (e.stopping) {
      e.stopping = false;
      SetState(e, e.stop_outcome, e.message);
      return;
    }
    ExitFacts facts;
    facts.type = e.a.type;
    facts.policy = e.a.restart_policy;
    facts.exit_code = code;
    facts.ran_for = FromChrono(now - e.run_started);
    facts.last_backoff = e.last_backoff;
    facts.restarts = e.restarts;
    if (e.a.type == JobType::kUpdate && e.a.has_health_check) {
      facts.max_restarts = e.a.health.failure_threshold;
    }
    AfterExitDecision d = AfterExit(facts);
    if (code != 0) e.window.crashed = true;
    if (e.a.type == JobType::kUpdate) ++(code == 0 ? e.window.processed : e.window.errors);
    using Outcome = AfterExitDecision::Outcome;
    switch (d.outcome) {
      case Outcome::kRestart:
        e.window.crashed = true;  // a restart makes the window unhealthy
        e.last_backoff = d.delay;
        e.start_at = now + ToChrono(d.delay);
        e.counts_as_restart = true;
        metrics.CountRestart(JobName(e));
        SetState(e, "starting", d.why);
        break;
      case Outcome::kCompleted:
        if (e.a.type == JobType::kQuery) ReadResults(e);
        SetState(e, "completed", "");
        break;
      case Outcome::kFailed:
        if (e.a.type == JobType::kQuery) ReadResults(e);
        SetState(e, "failed", d.why + LastErrorLine(e));
        break;
      case Outcome::kStopped:
        SetState(e, "stopped", d.why);
        break;
    }
  }

  // The last line the workload wrote on stderr, to explain a failure in its message.
  static std::string LastErrorLine(const Execution& e) {
    std::optional<LogChunk> tail;
    std::string text = ReadFile(e.dir / "stderr.log");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    size_t nl = text.rfind('\n');
    std::string line = nl == std::string::npos ? text : text.substr(nl + 1);
    if (line.empty()) return "";
    if (line.size() > 300) line = line.substr(0, 300) + "...";
    return ": " + line;
  }

  void ReadStats(Execution& e) {
    if (e.a.type != JobType::kPipeline && e.a.type != JobType::kQuery) return;
    uint64_t processed = 0, errors = 0;
    if (e.metrics_port > 0) {
      if (!e.process || e.process->exited()) return;
      std::optional<std::string> text = LoopbackGet(e.metrics_port, "/metrics", 300);
      std::optional<EngineCounts> counts = text ? ParseEngineMetrics(*text) : std::nullopt;
      if (!counts) return;
      processed = counts->processed;
      errors = counts->errors;
    } else {
      Json s = Json::parse(ReadFile(e.dir / "stats"), nullptr, false);
      if (!s.is_object()) return;
      processed = s.value("processed", uint64_t{0});
      errors = s.value("errors", uint64_t{0});
    }
    if (processed >= e.stats_processed) e.window.processed += processed - e.stats_processed;
    if (errors >= e.stats_errors) e.window.errors += errors - e.stats_errors;
    e.stats_processed = processed;
    e.stats_errors = errors;
  }

  void ReadResults(Execution& e) {
    if (e.metrics_port > 0) {
      // an external engine's query results are the lines it wrote on stdout
      e.results = Json::array();
      size_t bytes = 0;
      std::istringstream lines(ReadFile(e.dir / "stdout.log"));
      for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        bytes += line.size();
        if (bytes > kQueryResultsCap) {
          e.results_truncated = true;
          break;
        }
        Json parsed = Json::parse(line, nullptr, false);
        e.results.push_back(parsed.is_discarded() ? Json(line) : std::move(parsed));
      }
      return;
    }
    Json r = Json::parse(ReadFile(e.dir / "results.json"), nullptr, false);
    if (r.is_object() && r.contains("results") && r["results"].is_array()) {
      e.results = r["results"];
      e.results_truncated = r.value("truncated", false);
    } else {
      e.results = Json::array();
    }
  }

  // ---------------------------------------------------------------------------------------
  // the supervision loop

  void Converge(TimePoint now) {
    std::vector<DesiredExecution> desired;
    desired.reserve(assignments.size());
    for (const Assignment& a : assignments)
      desired.push_back({a.execution_id, a.job_id, a.running});
    std::vector<LocalExecution> local;
    for (const auto& [id, e] : executions) {
      LocalPhase phase = e->terminal() ? LocalPhase::kTerminal
                         : e->stopping ? LocalPhase::kStopping
                                       : LocalPhase::kActive;
      local.push_back({id, e->a.job_id, phase, e->terminal_reported});
    }
    NodeActions actions = ConvergeNode(desired, local, options.max_executions);
    for (const std::string& id : actions.stop) {
      Stop(*executions[id], now, "stopped", "stopped: no longer assigned to this node");
    }
    for (const std::string& id : actions.forget) {
      std::error_code ec;
      fs::remove_all(executions[id]->dir, ec);
      executions.erase(id);
      Remember(id);
    }
    for (const std::string& id : actions.start) {
      if (finished.contains(id)) continue;  // an execution runs once: its id never starts again
      for (const Assignment& a : assignments) {
        if (a.execution_id != id) continue;
        auto e = NewExecution(a, nullptr);
        Execution& ref = *e;
        executions[id] = std::move(e);
        Launch(ref, now);
        break;
      }
    }
    waiting = actions.waiting;
  }

  void Tick(TimePoint now) {
    for (auto& [id, ep] : executions) {
      Execution& e = *ep;
      if (e.process) {
        if (std::optional<int> code = e.process->Poll()) {
          // drain what the pipes still hold before the exit is judged
          DrainPipes(e);
          Exited(e, *code, now);
        } else if (e.kill_at && now >= *e.kill_at) {
          e.process->Signal(SIGKILL);
          e.kill_at.reset();
        }
      }
      if (e.terminal()) continue;
      if (e.start_at && now >= *e.start_at && !e.stopping) Launch(e, now);
      if (e.terminal()) continue;
      const int64_t limit = e.a.timeouts.execution_timeout;
      if (limit > 0 && e.first_started && e.a.type != JobType::kConfig &&
          now - *e.first_started >= std::chrono::seconds(limit)) {
        Stop(e, now, "failed", "execution_timeout of " + std::to_string(limit) + "s exceeded");
      }
      if (e.a.type == JobType::kConfig && e.next_drift_check && now >= *e.next_drift_check &&
          !e.stopping) {
        ApplyConfig(e, now, /*first=*/false);
      }
      if (e.first_started && now >= e.window_end) {
        ReadStats(e);
        e.last_window = e.window;
        const HealthVerdict before = e.judge.verdict();
        if (e.judge.Close(e.window) != before) ReportSoon();
        metrics.CountWindow(JobName(e), e.window.processed, e.window.errors,
                            WindowHealthy(e.window, e.a.health.max_error_rate));
        e.window = {};
        while (e.window_end <= now) e.window_end += ToChrono(e.a.health.interval);
      }
    }
  }

  void DrainPipes(Execution& e) {
    if (!e.process) return;
    std::string data;
    for (int fd : {e.process->stdout_fd(), e.process->stderr_fd()}) {
      if (fd < 0) continue;
      data.clear();
      const bool is_out = fd == e.process->stdout_fd();
      while (e.process->Read(fd, &data) && !data.empty()) {
        (is_out ? e.out : e.err)->Append(data);
        data.clear();
      }
      (is_out ? e.out : e.err)->Append(data);
    }
  }

  void Supervise(const std::atomic<bool>& stop) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Execution*, int>> owners;
    while (!stop.load()) {
      fds.clear();
      owners.clear();
      fds.push_back({wake_pipe[0], POLLIN, 0});
      {
        std::lock_guard<std::mutex> lock(mu);
        const TimePoint now = Clock::now();
        Tick(now);
        Converge(now);
        if (assignments_changed) {
          assignments_changed = false;
          SaveAssignments();
        }
        for (auto& [id, e] : executions) {
          if (!e->process) continue;
          for (int fd : {e->process->stdout_fd(), e->process->stderr_fd()}) {
            if (fd < 0) continue;
            fds.push_back({fd, POLLIN, 0});
            owners.emplace_back(e.get(), fd);
          }
        }
      }
      int n = ::poll(fds.data(), fds.size(), 100);
      if (n <= 0) continue;
      if (fds[0].revents != 0) {
        char buffer[64];
        while (::read(wake_pipe[0], buffer, sizeof(buffer)) > 0) {
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      std::string data;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Execution* e = owners[i - 1].first;
        if (!e->process) continue;
        data.clear();
        const int fd = owners[i - 1].second;
        const bool is_out = fd == e->process->stdout_fd();
        e->process->Read(fd, &data);
        (is_out ? e->out : e->err)->Append(data);
      }
    }
    // Shut down: end every workload, but keep their records running, so that the next agent
    // starts them again.
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [id, e] : executions) {
      if (!e->process) continue;
      e->process->Signal(SIGTERM);
    }
    const TimePoint deadline = Clock::now() + options.stop_grace;
    for (auto& [id, e] : executions) {
      while (e->process && !e->process->Poll() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      DrainPipes(*e);
      if (e->process) e->process.reset();  // SIGKILLs what is left
      SaveExecution(*e);
    }
  }

  void Wake() {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_pipe[1], &c, 1);
  }

  // ---------------------------------------------------------------------------------------
  // the protocol

  // Replaces the assignments with the controller's answer. Called by the network threads.
  void ApplyAssignments(const Json& answer) {
    if (!answer.is_object() || !answer.contains("assignments") ||
        !answer["assignments"].is_array()) {
      return;
    }
    const int64_t index = answer.value("index", int64_t{-1});
    std::vector<Assignment> parsed;
    for (size_t i = 0; i < answer["assignments"].size(); ++i) {
      Result<Assignment> a = ParseAssignment(answer["assignments"][i]);
      if (!a.ok()) {
        Log(node_id, "ignoring assignments[" + std::to_string(i) + "]: " + a.status().message());
        continue;
      }
      parsed.push_back(std::move(*a));
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      // answers from the two threads may cross: never go back to an older set
      if (index >= 0 && index <= assignments_index) return;
      assignments = std::move(parsed);
      assignments_index = index;
      assignments_changed = true;
    }
    Wake();
  }

  Json RegisterBody() const {
    utsname u{};
    ::uname(&u);
    Json body = {
        {"node_id", node_id},       {"name", options.name.empty() ? node_id : options.name},
        {"labels", options.labels}, {"agent_version", options.agent_version},
        {"os", u.sysname},          {"arch", u.machine}};
    if (options.max_executions) body["capacity"] = {{"max_executions", *options.max_executions}};
    return body;
  }

  struct SentLogs {
    std::string execution_id;
    bool is_out;
    uint64_t end;
  };

  // The heartbeat body: every execution this node holds, as it stands, and new log bytes.
  Json HeartbeatBody(std::vector<std::string>* terminal_sent, std::vector<SentLogs>* logs_sent) {
    std::lock_guard<std::mutex> lock(mu);
    Json items = Json::array();
    Json logs = Json::array();
    size_t log_budget = kLogBytesPerHeartbeat;
    for (auto& [id, e] : executions) {
      Json item = {
          {"execution_id", id},
          {"job_id", e->a.job_id},
          {"version", e->a.version},
          {"state", e->stopping ? "running" : e->state},
          {"exit_code", e->exit_code ? Json(*e->exit_code) : Json()},
          {"restarts", e->restarts},
          {"health", std::string(HealthVerdictName(e->judge.verdict()))},
          {"window", {{"processed", e->last_window.processed}, {"errors", e->last_window.errors}}},
          {"message", e->message}};
      if (e->terminal() && e->a.type == JobType::kQuery && !e->results.is_null()) {
        item["results"] = e->results;
        if (e->results_truncated) item["results_truncated"] = true;
      }
      if (e->terminal()) terminal_sent->push_back(id);
      items.push_back(std::move(item));
      for (bool is_out : {true, false}) {
        LogStream& stream = is_out ? *e->out : *e->err;
        std::optional<LogChunk> chunk = stream.Next(log_budget);
        if (!chunk) continue;
        log_budget -= chunk->data.size();
        logs_sent->push_back({id, is_out, chunk->offset + chunk->data.size()});
        logs.push_back({{"execution_id", id},
                        {"stream", is_out ? "stdout" : "stderr"},
                        {"offset", chunk->offset},
                        {"data", std::move(chunk->data)}});
      }
    }
    for (const std::string& id : waiting) {
      for (const Assignment& a : assignments) {
        if (a.execution_id != id) continue;
        items.push_back({{"execution_id", id},
                         {"job_id", a.job_id},
                         {"version", a.version},
                         {"state", "pending"},
                         {"exit_code", nullptr},
                         {"restarts", 0},
                         {"health", "unknown"},
                         {"window", {{"processed", 0}, {"errors", 0}}},
                         {"message", options.max_executions
                                         ? "waiting for a free slot (max_executions " +
                                               std::to_string(*options.max_executions) +
                                               ") or for the job's previous execution to stop"
                                         : "waiting for the job's previous execution to stop"}});
      }
    }
    std::map<std::string, int64_t> by_state;
    for (const auto& [id, e] : executions) ++by_state[e->state];
    by_state["pending"] += static_cast<int64_t>(waiting.size());
    metrics.SetExecutions(by_state);
    Json body = {{"node_id", node_id}, {"executions", std::move(items)}};
    if (!logs.empty()) body["logs"] = std::move(logs);
    return body;
  }

  void Acknowledge(const std::vector<std::string>& terminal_sent,
                   const std::vector<SentLogs>& logs_sent) {
    std::lock_guard<std::mutex> lock(mu);
    std::map<std::string, bool> touched;
    for (const std::string& id : terminal_sent) {
      auto it = executions.find(id);
      if (it == executions.end() || !it->second->terminal()) continue;
      it->second->terminal_reported = true;
      touched[id] = true;
    }
    for (const SentLogs& s : logs_sent) {
      auto it = executions.find(s.execution_id);
      if (it == executions.end()) continue;
      (s.is_out ? it->second->out : it->second->err)->Ack(s.end);
      touched[s.execution_id] = true;
    }
    for (const auto& [id, unused] : touched) SaveExecution(*executions[id]);
  }

  void HeartbeatLoop(const std::atomic<bool>& stop) {
    Result<std::unique_ptr<ControllerClient>> client =
        ControllerClient::Create(options.server, options.token, kRequestTimeout);
    if (!client.ok()) return;
    std::chrono::milliseconds retry{500};
    std::string last_error;
    while (!stop.load()) {
      if (!registered.load()) {
        HttpAnswer answer = (*client)->Post("/api/v1/agent/register", RegisterBody());
        if (answer.status == 200) {
          registered = true;
          retry = std::chrono::milliseconds(500);
          if (answer.body.is_object()) {
            heartbeat_interval_ms = answer.body.value("heartbeat_interval_ms", int64_t{5000});
          }
          Log(node_id, "registered with " + options.server + " as " + node_id);
          last_error.clear();
        } else {
          std::string why = answer.status == 0 ? answer.error
                                               : std::to_string(answer.status) + " " + answer.error;
          if (why != last_error)
            Log(node_id, "cannot register with " + options.server + ": " + why);
          last_error = why;
          // a refusal (bad labels, another token's node id) will not fix itself quickly
          std::unique_lock<std::mutex> lock(mu);
          heartbeat_cv.wait_for(lock, retry, [&] { return stop.load(); });
          retry = std::min(retry * 2, std::chrono::milliseconds(30'000));
          continue;
        }
      }
      std::vector<std::string> terminal_sent;
      std::vector<SentLogs> logs_sent;
      Json body = HeartbeatBody(&terminal_sent, &logs_sent);
      HttpAnswer answer = (*client)->Post("/api/v1/agent/heartbeat", body);
      metrics.CountHeartbeat(answer.status == 200);
      if (answer.status == 200) {
        Acknowledge(terminal_sent, logs_sent);
        ApplyAssignments(answer.body);
        last_error.clear();
      } else {
        std::string why =
            answer.status == 0 ? answer.error : std::to_string(answer.status) + " " + answer.error;
        if (why != last_error) Log(node_id, "heartbeat failed: " + why);
        last_error = why;
        if (answer.status == 404 || answer.status == 409) registered = false;
      }
      std::unique_lock<std::mutex> lock(mu);
      const auto interval = std::chrono::milliseconds(heartbeat_interval_ms.load());
      const auto soonest = Clock::now() + std::chrono::milliseconds(200);
      heartbeat_cv.wait_until(lock, Clock::now() + interval,
                              [&] { return stop.load() || report_soon; });
      if (report_soon && !stop.load()) {
        // batch what else changes in the next moment into the same heartbeat
        heartbeat_cv.wait_until(lock, soonest, [&] { return stop.load(); });
      }
      report_soon = false;
    }
  }

  void PollLoop(const std::atomic<bool>& stop, ControllerClient* client) {
    while (!stop.load()) {
      if (!registered.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      int64_t index;
      {
        std::lock_guard<std::mutex> lock(mu);
        index = std::max<int64_t>(assignments_index, 0);
      }
      HttpAnswer answer = client->Get("/api/v1/agent/assignments?node_id=" + node_id +
                                      "&index=" + std::to_string(index) +
                                      "&wait=" + std::to_string(kLongPollWait.count()) + "s");
      if (stop.load()) break;
      if (answer.status == 200) {
        ApplyAssignments(answer.body);
      } else {
        if (answer.status == 404) registered = false;
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  }
};

Agent::Agent(std::unique_ptr<State> state) : state_(std::move(state)) {}

Agent::~Agent() {
  if (state_->wake_pipe[0] >= 0) ::close(state_->wake_pipe[0]);
  if (state_->wake_pipe[1] >= 0) ::close(state_->wake_pipe[1]);
}

const std::string& Agent::node_id() const { return state_->node_id; }

Result<std::unique_ptr<Agent>> Agent::Create(AgentOptions options) {
  auto state = std::make_unique<State>();
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) return InvalidError("--data-dir " + options.data_dir + ": " + ec.message());
  state->data_dir = fs::absolute(options.data_dir);
  // The node id: the flag, else the one this data dir already has, else the host name.
  std::string saved_id = ReadFile(state->data_dir / "node_id");
  while (!saved_id.empty() && (saved_id.back() == '\n' || saved_id.back() == ' ')) {
    saved_id.pop_back();
  }
  std::string node_id = options.node_id;
  if (node_id.empty()) node_id = saved_id;
  if (node_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    node_id = host;
  }
  if (node_id.empty() || node_id.size() > 253 ||
      node_id.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
          std::string::npos) {
    return InvalidError("--node-id \"" + node_id + "\": at most 253 characters of [A-Za-z0-9._-]");
  }
  if (!saved_id.empty() && saved_id != node_id) {
    return InvalidError("--data-dir " + options.data_dir + " belongs to node " + saved_id +
                        ", not " + node_id + " (use another data dir for another node)");
  }
  WriteFileAtomically(state->data_dir / "node_id", node_id + "\n");
  if (options.drover_binary.empty()) {
    options.drover_binary = fs::read_symlink("/proc/self/exe", ec).string();
  }
  if (!options.read_root.empty()) options.read_root = fs::absolute(options.read_root).string();
  if (!options.config_root.empty()) {
    options.config_root = fs::absolute(options.config_root).string();
  }
  if (::pipe2(state->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return InternalError("cannot create the agent's wake-up pipe");
  }
  state->node_id = node_id;
  state->options = std::move(options);
  state->Restore();
  return std::unique_ptr<Agent>(new Agent(std::move(state)));
}

Status Agent::Run(const std::atomic<bool>& stop) {
  State& s = *state_;
  Result<std::unique_ptr<ControllerClient>> poller =
      ControllerClient::Create(s.options.server, s.options.token, kLongPollWait + kRequestTimeout);
  if (!poller.ok()) return poller.status();
  std::unique_ptr<MetricsServer> metrics_server;
  if (!s.options.metrics_listen.empty()) {
    Result<std::unique_ptr<MetricsServer>> started =
        MetricsServer::Start(s.options.metrics_listen, s.metrics);
    if (!started.ok()) return started.status();
    metrics_server = std::move(*started);
  }
  std::thread heartbeats([&] { s.HeartbeatLoop(stop); });
  std::thread polls([&] { s.PollLoop(stop, poller->get()); });
  s.Supervise(stop);
  s.heartbeat_cv.notify_all();
  heartbeats.join();
  (*poller)->Cancel();
  polls.join();
  return Status::Ok();
}

}  // namespace drover::agent
