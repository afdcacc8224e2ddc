// drover rollout status|pause|resume|promote|rollback NAME [--watch] (SPEC §5, §13): a job's
// latest rollout, read from GET /api/v1/jobs/{job} (status.rollout) and steered with
// POST /api/v1/jobs/{job}/rollout/{action}. --watch polls until the rollout ends and exits 0 or 1
// by how it ended, for deploy scripts.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "api/duration.h"
#include "api/records.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kRolloutUsage =
    "Usage: drover rollout status|pause|resume|promote|rollback NAME [flags]\n"
    "\n"
    "Shows or steers a job's latest rollout (NAME is a job name, or a job id j-...):\n"
    "  status    its phase and progress: wave k/N, nodes updated, healthy and failed against\n"
    "            the failure budget\n"
    "  pause     give the new version to no more nodes (from progressing or\n"
    "            awaiting_promotion); nodes that have it are still judged\n"
    "  resume    go on after a pause; after a halt, give the failed nodes the version again\n"
    "  promote   let a canary rollout that awaits promotion go on to every node\n"
    "  rollback  put the nodes back on the stable version (or --to-version N; after a\n"
    "            rollout succeeded, --to-version is required)\n"
    "A control in a phase that does not allow it fails naming the current phase.\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS   the job's namespace (default: the profile's, else \"default\")\n"
    "  -w, --watch          follow the rollout until it ends (after the control, if any)\n"
    "  --timeout DUR        with --watch: give up after DUR (\"90s\", \"10m\") and exit 1\n"
    "  --to-version N       rollback: the version to go back to\n"
    "  -o, --output FORMAT  status without --watch: table (default), json or yaml (the\n"
    "                       rollout object of the job's status)\n"
    "  -h, --help           show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "Watching polls twice a second. On a terminal one line is redrawn in place with a progress\n"
    "bar of the nodes updated; otherwise (a pipe, a CI log) a line is printed for each change.\n"
    "If a newer version is applied meanwhile, the watch follows its rollout instead.\n"
    "\n"
    "Exit status: 0 done (with --watch: the rollout succeeded, or for rollback --watch: it\n"
    "rolled back); 1 a request failed, the job does not exist, the control is not allowed in\n"
    "the current phase, or the watched rollout halted, failed, was rolled back or cancelled,\n"
    "or --timeout passed; 2 usage error.\n";

const std::vector<FlagDef> kRolloutFlags = {
    {"--namespace", "-n", true}, {"--watch", "-w", false}, {"--timeout", "", true},
    {"--to-version", "", true},  {"--output", "-o", true},
};

constexpr auto kPollInterval = std::chrono::milliseconds(500);
constexpr int kBarWidth = 24;

struct Target {
  std::string name;
  std::string ns;
  std::string Ref() const { return "job " + ns + "/" + name; }
};

// What a watch is waiting for: the rollout to succeed, or (after `rollback`) to be rolled back.
enum class Goal { kSucceed, kRollBack };

// How a watched rollout stands: still going (nullopt) or ended with an exit code and a message.
struct Verdict {
  int code;
  std::string message;
};

std::optional<Verdict> Judge(const Json& rollout, Goal goal, const Target& t) {
  if (!rollout.is_object()) return std::nullopt;
  const std::string phase = rollout.value("phase", std::string());
  const std::string to = "version " + Cell(rollout.value("to_version", Json()));
  const std::string message = rollout.value("message", std::string());
  const std::string why = message.empty() ? "" : ": " + message;
  if (phase == kPhaseSucceeded) {
    if (goal == Goal::kSucceed)
      return Verdict{kExitOk, "rollout of " + t.Ref() + " to " + to + " succeeded"};
    return Verdict{kExitFailure,
                   "the rollout of " + t.Ref() + " succeeded instead of rolling back"};
  }
  if (phase == kPhaseRolledBack) {
    if (goal == Goal::kRollBack) return Verdict{kExitOk, t.Ref() + " rolled back to " + to};
    return Verdict{kExitFailure, t.Ref() + " was rolled back to " + to + why};
  }
  if (phase == kPhaseHalted) {
    return Verdict{kExitFailure, "the rollout of " + t.Ref() + " halted" + why +
                                     " (a human's move: drover rollout resume|rollback " + t.name +
                                     ")"};
  }
  if (phase == kPhaseFailed || phase == kPhaseCancelled) {
    return Verdict{kExitFailure, "the rollout of " + t.Ref() + " " + phase + why};
  }
  return std::nullopt;  // progressing, paused, awaiting_promotion, rolling_back, superseded
}

// A hint for the phases that wait for a person.
std::string Hint(const std::string& phase, const std::string& name) {
  if (phase == kPhaseAwaitingPromotion) {
    return "the canaries are healthy: waiting for drover rollout promote " + name;
  }
  if (phase == kPhasePaused) return "paused: waiting for drover rollout resume " + name;
  return "";
}

bool IsTerminal(std::ostream& out) { return &out == &std::cout && isatty(STDOUT_FILENO) == 1; }

class Watch {
 public:
  Watch(const CommandRun& run, Target target, Goal goal, std::optional<Duration> timeout)
      : run_(run),
        t_(std::move(target)),
        goal_(goal),
        timeout_(timeout),
        tty_(IsTerminal(run.out())) {}

  int Run() {
    const auto started = std::chrono::steady_clock::now();
    const auto deadline =
        started + std::chrono::nanoseconds(timeout_ ? timeout_->nanoseconds() : 0);
    bool unreachable = false;
    while (true) {
      ApiAnswer answer = run_.client().Get(JobPath(t_.name, t_.ns));
      if (answer.status == 0) {
        // The controller may be restarting: keep trying until the timeout, say so once.
        if (!unreachable) {
          EndBar();
          run_.err() << "drover rollout: " << answer.Message() << " (retrying)\n";
        }
        unreachable = true;
      } else if (!answer.ok()) {
        EndBar();
        return run_.Fail("", answer);
      } else {
        unreachable = false;
        if (std::optional<Verdict> verdict = Show(answer.body["job"])) {
          EndBar();
          if (verdict->code == kExitOk) {
            run_.out() << verdict->message << "\n";
            return kExitOk;
          }
          return run_.Fail(verdict->message);
        }
      }
      auto now = std::chrono::steady_clock::now();
      if (timeout_ && now >= deadline) {
        EndBar();
        return run_.Fail("timed out after " + timeout_->ToString() + ": the rollout of " +
                         t_.Ref() + " is still " + (phase_.empty() ? "unknown" : phase_));
      }
      auto next = now + kPollInterval;
      std::this_thread::sleep_until(timeout_ ? std::min(next, deadline) : next);
    }
  }

 private:
  // Prints what changed in `job`'s latest rollout; its verdict when it has ended.
  std::optional<Verdict> Show(const Json& job) {
    const Json& status = job["status"];
    const int version = status.value("version", 0);
    if (version_ == 0) {
      version_ = version;
    } else if (version > version_) {
      Line("version " + std::to_string(version) + " of " + t_.Ref() +
           " was applied: following its rollout");
      version_ = version;
    }
    const Json rollout = status.value("rollout", Json());
    if (!rollout.is_object()) {
      if (phase_ != "none") Line("no rollout yet");
      phase_ = "none";
      return std::nullopt;
    }
    const std::string phase = rollout.value("phase", std::string());
    const int targets = rollout.value("target_nodes", 0);
    std::string line =
        RolloutLine(rollout, FailureBudget(job["spec"].value("rollout", Json()), targets));
    if (tty_) {
      if (phase != phase_) EndBar();  // keep the last line of the previous phase
      run_.out() << "\r\033[K" << ProgressBar(rollout.value("updated_nodes", 0), targets, kBarWidth)
                 << " " << line << std::flush;
      bar_open_ = true;
    } else if (line != line_) {
      run_.out() << line << std::endl;
    }
    if (phase != phase_) {
      if (std::string hint = Hint(phase, t_.name); !hint.empty()) Line(hint);
    }
    line_ = line;
    phase_ = phase;
    return Judge(rollout, goal_, t_);
  }

  void Line(const std::string& text) {
    EndBar();
    run_.out() << text << std::endl;
  }

  void EndBar() {
    if (bar_open_) run_.out() << "\n" << std::flush;
    bar_open_ = false;
  }

  const CommandRun& run_;
  const Target t_;
  const Goal goal_;
  const std::optional<Duration> timeout_;
  const bool tty_;
  bool bar_open_ = false;
  int version_ = 0;
  std::string phase_;
  std::string line_;
};

int Status(const CommandRun& run, const Target& t, OutputFormat format) {
  ApiAnswer answer = run.client().Get(JobPath(t.name, t.ns));
  if (!answer.ok()) return run.Fail("", answer);
  const Json& job = answer.body["job"];
  const Json rollout = job["status"].value("rollout", Json());
  if (format == OutputFormat::kJson || format == OutputFormat::kYaml) {
    PrintDocument(rollout, format, run.out());
    return kExitOk;
  }
  std::ostream& out = run.out();
  if (!rollout.is_object()) {
    out << t.Ref() << ": no rollout yet\n";
    return kExitOk;
  }
  const Json from = rollout.value("from_version", Json());
  out << t.Ref() << ": rollout " << (from.is_null() ? "" : "v" + Cell(from) + " -> ") << "v"
      << Cell(rollout.value("to_version", Json())) << " ("
      << rollout.value("strategy", std::string()) << "), started "
      << AgeOf(rollout.value("started_at", Json()), std::chrono::system_clock::now()) << " ago\n";
  const int targets = rollout.value("target_nodes", 0);
  out << RolloutLine(rollout, FailureBudget(job["spec"].value("rollout", Json()), targets)) << "\n";
  if (!rollout.value("message", std::string()).empty()) {
    out << rollout.value("message", std::string()) << "\n";
  }
  const std::string phase = rollout.value("phase", std::string());
  if (std::string hint = Hint(phase, t.name); !hint.empty()) out << hint << "\n";
  return kExitOk;
}

// POST .../rollout/{action}; prints the new phase, or why the controller refused.
int Control(const CommandRun& run, const Target& t, const std::string& action,
            std::optional<int> to_version) {
  Json body = to_version ? Json{{"to_version", *to_version}} : Json();
  ApiAnswer answer = run.client().Call("POST", JobPath(t.name, t.ns, "/rollout/" + action), body);
  if (answer.status == 409) {
    std::string phase;
    for (const Json& d : answer.body["error"].value("details", Json::array())) {
      if (d.value("field", std::string()) == "rollout.phase") phase = d.value("message", "");
    }
    // Name the phase, unless the controller's message already does.
    std::string message = answer.Message();
    if (!phase.empty() && message.find(phase) == std::string::npos) {
      message += " (the rollout is " + phase + ")";
    }
    return run.Fail("cannot " + std::string(action == "rollback" ? "roll back" : action) +
                    " the rollout of " + t.Ref() + ": " + message);
  }
  if (!answer.ok()) return run.Fail(action + " " + t.Ref(), answer);
  const Json rollout = answer.body.value("rollout", Json::object());
  static const std::map<std::string, std::string> kDone = {{"pause", "paused"},
                                                           {"resume", "resumed"},
                                                           {"promote", "promoted"},
                                                           {"rollback", "rolling back"}};
  run.out() << "rollout of " << t.Ref() << " " << kDone.at(action) << ": now "
            << rollout.value("phase", std::string("?"));
  if (action == "rollback")
    run.out() << " to version " << Cell(rollout.value("to_version", Json()));
  run.out() << "\n";
  return kExitOk;
}

}  // namespace

int RunRollout(const std::vector<std::string>& args, Streams s) {
  CommandRun run("rollout", kRolloutUsage, s);
  if (std::optional<int> code = run.Start(args, kRolloutFlags)) return *code;
  const ParsedArgs& a = run.args();
  const std::vector<std::string>& positional = a.positional;
  if (positional.empty()) {
    return run.Usage("give an action: status, pause, resume, promote or rollback");
  }
  const std::string& action = positional[0];
  if (action != "status" && action != "pause" && action != "resume" && action != "promote" &&
      action != "rollback") {
    return run.Usage("unknown action \"" + action +
                     "\": expected status, pause, resume, promote or rollback");
  }
  if (positional.size() < 2) return run.Usage("give the job's NAME");
  if (positional.size() > 2) return run.Usage("one job NAME at a time");
  const bool watch = a.Has("--watch");
  std::optional<Duration> timeout;
  if (a.Has("--timeout")) {
    if (!watch) return run.Usage("--timeout goes with --watch");
    Result<Duration> d = ParseDuration(a.Value("--timeout"));
    if (!d.ok() || d->nanoseconds() <= 0) {
      return run.Usage("--timeout: expected a duration such as 90s or 10m, got \"" +
                       a.Value("--timeout") + "\"");
    }
    timeout = *d;
  }
  std::optional<int> to_version;
  if (a.Has("--to-version")) {
    if (action != "rollback") return run.Usage("--to-version goes with rollback");
    const std::string text = a.Value("--to-version");
    int n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 1) {
      return run.Usage("--to-version: expected a version number, got \"" + text + "\"");
    }
    to_version = n;
  }
  Result<OutputFormat> format = ParseOutputFormat(a.Value("--output", "table"));
  if (!format.ok() || *format == OutputFormat::kName) {
    return run.Usage("-o: expected table, json or yaml, got \"" + a.Value("--output") + "\"");
  }
  if (a.Has("--output") && (action != "status" || watch)) {
    return run.Usage("-o goes with status, without --watch");
  }
  const Target target{positional[1], run.Namespace()};
  if (action == "status") {
    if (!watch) return Status(run, target, *format);
  } else if (int code = Control(run, target, action, to_version); code != kExitOk || !watch) {
    return code;
  }
  return Watch(run, target, action == "rollback" ? Goal::kRollBack : Goal::kSucceed, timeout).Run();
}

}  // namespace drover::cli
