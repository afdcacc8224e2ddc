// drover sim: flags in, a simulated fleet (cli/sim_fleet.h) out, until --duration passes or a
// SIGINT/SIGTERM arrives, with a summary line every --report-every.
#include <signal.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "api/duration.h"
#include "api/labels.h"
#include "cli/commands.h"
#include "cli/sim_fleet.h"
#include "controller/clock.h"

namespace drover::cli {
namespace {

constexpr const char* kSimUsage =
    "Usage: drover sim [flags]\n"
    "\n"
    "Simulates a fleet of edge nodes speaking the agent protocol (SPEC section 8) to a\n"
    "controller: every node registers, heartbeats its full observed state and runs what it is\n"
    "assigned the way the --behaviour rules script it. For integration tests, benchmarks and\n"
    "rehearsing a rollout policy. A few threads and --connections sockets serve any number of\n"
    "nodes.\n"
    "\n"
    "Flags:\n"
    "  --server URL              the controller, http://HOST:PORT (default $DROVER_ADDR or\n"
    "                            http://127.0.0.1:9010)\n"
    "  --token TOKEN             agent token (default $DROVER_TOKEN)\n"
    "  --nodes N                 how many nodes (default 10)\n"
    "  --id-prefix PREFIX        node ids PREFIX00001, PREFIX00002, ... (default sim-)\n"
    "  --label KEY=VALUE         a label on every node (repeatable)\n"
    "  --label-values KEY=A,B,C  node number i (from 1) gets value number (i-1) mod 3, so labels\n"
    "                            vary across the fleet (repeatable)\n"
    "  --behaviour RULE          how executions behave (repeatable; first match wins; default\n"
    "                            healthy); grammar below\n"
    "  --offline WINDOW          nodes that send nothing for a while (repeatable); grammar below\n"
    "  --heartbeat-interval DUR  heartbeat interval (default: what the controller answers at\n"
    "                            registration)\n"
    "  --health-interval DUR     health window for assignments without a health_check\n"
    "                            (default 10s; thresholds stay 2 healthy / 3 unhealthy)\n"
    "  --one-shot-time DUR       how long query and update executions run (default 200ms)\n"
    "  --connections N           keep-alive connections shared by all nodes (default 16)\n"
    "  --long-poll               also long-poll for assignments (one connection per polling node)\n"
    "  --max-long-polls N        at most this many nodes long-poll (default 1000)\n"
    "  --duration DUR            stop after this long (default: at SIGINT or SIGTERM)\n"
    "  --report-every DUR        print a summary line this often (default 10s; 0s: never)\n"
    "  -h, --help                this help\n"
    "\n"
    "Behaviour rules (--behaviour):\n"
    "  RULE    := [MATCHER{,MATCHER}:]KIND{,OPTION}\n"
    "  MATCHER := job=NAME | job=NAMESPACE/NAME | job=JOB_ID | version=N\n"
    "           | nodes=all | nodes=P% | nodes=ID{|ID} | count=N\n"
    "  KIND    := healthy    long-running: health unknown, then healthy after success_threshold\n"
    "                        windows; query/update: completed, exit 0\n"
    "           | unhealthy  errors in every window, unhealthy after failure_threshold windows;\n"
    "                        query/update: failed, exit 1\n"
    "           | crash      crash loop: one restart per health window, then unhealthy (query/\n"
    "                        update fail after failure_threshold restarts)\n"
    "           | fail       failed, exit 1, shortly after starting\n"
    "           | slow       stays starting for delay=DUR (default 30s), then healthy\n"
    "           | complete   completes with exit 0, whatever the type\n"
    "           | hang       running forever, health unknown forever\n"
    "  OPTION  := delay=DUR (slow) | results=N (result messages of a completed query, default 1)\n"
    "  P% and count=N pick nodes by a hash of their id: reproducible, and nested (the 10% are\n"
    "  part of the 20%). Examples:\n"
    "    --behaviour 'job=web,version=2,nodes=20%:unhealthy'\n"
    "    --behaviour 'count=3:slow,delay=20s'   --behaviour 'nodes=sim-00007:crash'\n"
    "\n"
    "Offline windows (--offline), times from the start of the simulation:\n"
    "  nodes=ID{|ID} | nodes=P% | nodes=all | count=N, then at=DUR (default 0s), for=DUR\n"
    "  e.g. --offline 'count=5,at=10s,for=30s'. Offline nodes send nothing; their executions\n"
    "  keep running and their next heartbeat reports everything.\n"
    "\n"
    "Durations: 500ms, 10s, 1m30s. Exit status: 0 stopped cleanly, 1 the controller could not\n"
    "be reached at start, 2 usage error.\n";

struct SimFlags {
  sim::FleetOptions fleet;
  int64_t nodes = 10;
  std::string id_prefix = "sim-";
  Labels labels;
  std::vector<std::pair<std::string, std::vector<std::string>>> label_values;
  std::optional<std::chrono::nanoseconds> duration;
  std::chrono::nanoseconds report_every = std::chrono::seconds(10);
};

Result<int64_t> ParseInteger(const std::string& flag, const std::string& text, int64_t min,
                             int64_t max) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < min || v > max) {
    return InvalidError(flag + ": expected an integer from " + std::to_string(min) + " to " +
                        std::to_string(max) + ", got \"" + text + "\"");
  }
  return v;
}

Result<std::chrono::nanoseconds> ParseFlagDuration(const std::string& flag, const std::string& text,
                                                   bool allow_zero) {
  Result<Duration> d = ParseDuration(text);
  if (!d.ok() || d->nanoseconds() < 0 || (!allow_zero && d->nanoseconds() == 0)) {
    return InvalidError(flag + ": expected a " + (allow_zero ? "" : "positive ") +
                        "duration such as 500ms or 10s, got \"" + text + "\"");
  }
  return std::chrono::nanoseconds(d->nanoseconds());
}

Status CheckLabel(const std::string& flag, const std::string& key, const std::string& value) {
  if (auto e = LabelKeyError(key)) {
    return InvalidError(flag + ": label key \"" + key + "\": " + *e);
  }
  if (auto e = LabelValueError(value)) {
    return InvalidError(flag + ": label " + key + " value \"" + value + "\": " + *e);
  }
  return Status::Ok();
}

Result<SimFlags> ParseSimFlags(const std::vector<std::string>& args, bool* help) {
  SimFlags f;
  if (const char* addr = std::getenv("DROVER_ADDR"); addr != nullptr && *addr != '\0') {
    f.fleet.server = addr;
  }
  if (const char* token = std::getenv("DROVER_TOKEN"); token != nullptr) f.fleet.token = token;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    bool inline_value = false;
    if (name == "-h" || name == "--help") {
      *help = true;
      return f;
    }
    size_t eq = name.find('=');
    if (name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto take = [&]() -> Result<std::string> {
      if (inline_value) return value;
      if (i + 1 >= args.size()) return InvalidError(name + " needs a value");
      return args[++i];
    };
    if (name == "--long-poll") {
      if (inline_value) return InvalidError("--long-poll takes no value");
      f.fleet.long_poll = true;
      continue;
    }
    static const std::set<std::string> kWithValue = {"--server",          "--token",
                                                     "--nodes",           "--id-prefix",
                                                     "--label",           "--label-values",
                                                     "--behaviour",       "--behavior",
                                                     "--offline",         "--heartbeat-interval",
                                                     "--health-interval", "--one-shot-time",
                                                     "--connections",     "--max-long-polls",
                                                     "--duration",        "--report-every"};
    if (!kWithValue.count(name)) return InvalidError("unknown flag \"" + args[i] + "\"");
    Result<std::string> v = take();
    if (!v.ok()) return v.status();
    const std::string& text = *v;
    if (name == "--server") {
      Result<std::pair<std::string, int>> url = sim::ParseServerUrl(text);
      if (!url.ok()) return InvalidError("--server: " + url.status().message());
      f.fleet.server = text;
    } else if (name == "--token") {
      f.fleet.token = text;
    } else if (name == "--nodes") {
      Result<int64_t> n = ParseInteger(name, text, 1, 10'000'000);
      if (!n.ok()) return n.status();
      f.nodes = *n;
    } else if (name == "--id-prefix") {
      if (auto e = NodeIdError(text + "1"); e && !text.empty()) {
        return InvalidError("--id-prefix: \"" + text + "\" cannot start a node id: " + *e);
      }
      f.id_prefix = text;
    } else if (name == "--label") {
      size_t at = text.find('=');
      if (at == std::string::npos)
        return InvalidError("--label: expected KEY=VALUE, got \"" + text + "\"");
      std::string key = text.substr(0, at);
      std::string val = text.substr(at + 1);
      if (Status s = CheckLabel(name, key, val); !s.ok()) return s;
      f.labels[key] = val;
    } else if (name == "--label-values") {
      size_t at = text.find('=');
      if (at == std::string::npos || at + 1 >= text.size()) {
        return InvalidError("--label-values: expected KEY=A,B,C, got \"" + text + "\"");
      }
      std::string key = text.substr(0, at);
      std::vector<std::string> values;
      std::stringstream list(text.substr(at + 1));
      for (std::string item; std::getline(list, item, ',');) {
        if (Status s = CheckLabel(name, key, item); !s.ok()) return s;
        values.push_back(item);
      }
      if (text.back() == ',') values.push_back("");
      f.label_values.emplace_back(key, std::move(values));
    } else if (name == "--behaviour" || name == "--behavior") {
      Result<sim::BehaviourRule> rule = sim::ParseBehaviourRule(text);
      if (!rule.ok()) return InvalidError(name + " \"" + text + "\": " + rule.status().message());
      f.fleet.rules.push_back(std::move(rule).value());
    } else if (name == "--offline") {
      Result<sim::OfflineWindow> window = sim::ParseOfflineWindow(text);
      if (!window.ok()) {
        return InvalidError("--offline \"" + text + "\": " + window.status().message());
      }
      f.fleet.offline.push_back(std::move(window).value());
    } else if (name == "--heartbeat-interval") {
      Result<std::chrono::nanoseconds> d = ParseFlagDuration(name, text, false);
      if (!d.ok()) return d.status();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
      if (ms.count() < 1) return InvalidError(name + ": at least 1ms");
      f.fleet.heartbeat_interval = ms;
    } else if (name == "--health-interval") {
      Result<std::chrono::nanoseconds> d = ParseFlagDuration(name, text, false);
      if (!d.ok()) return d.status();
      f.fleet.behaviour.default_health.interval = *d;
    } else if (name == "--one-shot-time") {
      Result<std::chrono::nanoseconds> d = ParseFlagDuration(name, text, true);
      if (!d.ok()) return d.status();
      f.fleet.behaviour.one_shot_run_time = *d;
    } else if (name == "--connections") {
      Result<int64_t> n = ParseInteger(name, text, 1, 4096);
      if (!n.ok()) return n.status();
      f.fleet.connections = static_cast<int>(*n);
    } else if (name == "--max-long-polls") {
      Result<int64_t> n = ParseInteger(name, text, 0, 1'000'000);
      if (!n.ok()) return n.status();
      f.fleet.max_long_polls = static_cast<int>(*n);
    } else if (name == "--duration") {
      Result<std::chrono::nanoseconds> d = ParseFlagDuration(name, text, false);
      if (!d.ok()) return d.status();
      f.duration = *d;
    } else if (name == "--report-every") {
      Result<std::chrono::nanoseconds> d = ParseFlagDuration(name, text, true);
      if (!d.ok()) return d.status();
      f.report_every = *d;
    }
  }
  return f;
}

std::vector<sim::SimNode> MakeNodes(const SimFlags& f) {
  int width = std::max<int>(5, static_cast<int>(std::to_string(f.nodes).size()));
  std::vector<sim::SimNode> nodes;
  nodes.reserve(static_cast<size_t>(f.nodes));
  for (int64_t i = 1; i <= f.nodes; ++i) {
    std::string number = std::to_string(i);
    sim::SimNode node;
    node.id = f.id_prefix + std::string(static_cast<size_t>(width) - number.size(), '0') + number;
    node.labels = f.labels;
    for (const auto& [key, values] : f.label_values) {
      node.labels[key] = values[static_cast<size_t>(i - 1) % values.size()];
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// One line: nodes, heartbeat rate, errors, executions by job, version and state.
std::string SummaryLine(const sim::Fleet& fleet, const sim::FleetCounters& now,
                        const sim::FleetCounters& before, double seconds) {
  std::ostringstream line;
  double rate =
      seconds > 0 ? static_cast<double>(now.heartbeats_ok - before.heartbeats_ok) / seconds : 0;
  int64_t errors =
      now.heartbeats_failed + now.registration_failures + now.polls_failed + now.malformed_answers;
  line << "drover sim: " << now.nodes << " nodes (" << now.registered << " registered, "
       << now.offline << " offline), " << std::fixed << std::setprecision(1) << rate
       << " heartbeats/s, " << errors << " errors (heartbeats " << now.heartbeats_failed
       << ", registrations " << now.registration_failures << ", polls " << now.polls_failed
       << ", connections " << now.connection_errors << ")";
  std::vector<std::string> violations = fleet.Violations();
  if (!violations.empty()) line << ", " << violations.size() << " protocol violations";
  std::map<std::string, int64_t> states = fleet.ExecutionStates();
  if (states.empty()) {
    line << "; no executions";
  } else {
    // "ns/name vN state" -> "ns/name vN state=count", grouped per job version.
    std::string current;
    line << ";";
    for (const auto& [key, count] : states) {
      size_t space = key.rfind(' ');
      std::string job_version = key.substr(0, space);
      if (job_version != current) {
        line << " " << job_version;
        current = job_version;
      }
      line << " " << key.substr(space + 1) << "=" << count;
    }
  }
  return line.str();
}

}  // namespace

int RunSim(const std::vector<std::string>& args, Streams s) {
  bool help = false;
  Result<SimFlags> parsed = ParseSimFlags(args, &help);
  if (help) {
    s.out << kSimUsage;
    return kExitOk;
  }
  if (!parsed.ok()) {
    s.err << "drover sim: " << parsed.status().message() << "\n(run 'drover sim --help' for the "
          << "flags)\n";
    return kExitUsage;
  }
  SimFlags& flags = *parsed;
  flags.fleet.nodes = MakeNodes(flags);
  if (auto e = NodeIdError(flags.fleet.nodes.back().id)) {
    s.err << "drover sim: --id-prefix: node id \"" << flags.fleet.nodes.back().id << "\": " << *e
          << "\n";
    return kExitUsage;
  }

  // Signals are taken synchronously by this thread; block them before the fleet's thread starts.
  // They stay blocked after the stop (as in `drover controller`): a second SIGTERM, which
  // `timeout` and process-group kills send, must not turn a clean stop into a kill.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int64_t node_count = static_cast<int64_t>(flags.fleet.nodes.size());
  std::string server = flags.fleet.server;
  Result<std::unique_ptr<sim::Fleet>> started = sim::Fleet::Start(std::move(flags.fleet));
  if (!started.ok()) {
    s.err << "drover sim: " << started.status().message() << "\n";
    return started.status().code() == StatusCode::kInvalid ? kExitUsage : kExitFailure;
  }
  sim::Fleet& fleet = **started;
  s.err << "drover sim: " << node_count << " nodes against " << server << " (stop with Ctrl-C)\n";
  s.err.flush();

  using Clock = std::chrono::steady_clock;
  Clock::time_point start = fleet.started_at();
  std::optional<Clock::time_point> end;
  if (flags.duration) end = start + *flags.duration;
  bool reporting = flags.report_every.count() > 0;
  Clock::time_point next_report = start + flags.report_every;
  sim::FleetCounters last = fleet.Counters();
  Clock::time_point last_time = controller::RealClock().Now();
  std::string reason = "the --duration passed";
  while (true) {
    Clock::time_point now = controller::RealClock().Now();
    if (end && now >= *end) break;
    if (reporting && now >= next_report) {
      sim::FleetCounters counters = fleet.Counters();
      double seconds = std::chrono::duration<double>(now - last_time).count();
      s.out << SummaryLine(fleet, counters, last, seconds) << "\n";
      s.out.flush();
      last = counters;
      last_time = now;
      while (next_report <= now) next_report += flags.report_every;
    }
    Clock::time_point wake = now + std::chrono::seconds(1);
    if (end) wake = std::min(wake, *end);
    if (reporting) wake = std::min(wake, next_report);
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now);
    if (wait.count() < 0) wait = std::chrono::nanoseconds(0);
    timespec timeout{static_cast<time_t>(wait.count() / 1'000'000'000),
                     static_cast<long>(wait.count() % 1'000'000'000)};
    int received = sigtimedwait(&signals, nullptr, &timeout);
    if (received == SIGINT || received == SIGTERM) {
      reason = received == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
  }
  fleet.Stop();
  sim::FleetCounters counters = fleet.Counters();
  double seconds = std::chrono::duration<double>(controller::RealClock().Now() - last_time).count();
  s.out << SummaryLine(fleet, counters, last, seconds) << "\n";
  for (const std::string& v : fleet.Violations()) s.err << "drover sim: violation: " << v << "\n";
  s.err << "drover sim: stopped (" << reason << ")\n";
  return kExitOk;
}

}  // namespace drover::cli
