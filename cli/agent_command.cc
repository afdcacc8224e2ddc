// drover agent: flags in, a node agent (agent/agent.h) out, until SIGINT or SIGTERM.
#include <signal.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <ostream>

#include "agent/agent.h"
#include "api/duration.h"
#include "cli/commands.h"

#ifndef DROVER_VERSION
#define DROVER_VERSION "dev"
#endif

namespace drover::cli {
namespace {

constexpr const char* kAgentUsage =
    "Usage: drover agent --server URL --node-id ID [flags]\n"
    "\n"
    "Runs on an edge node: registers with the controller, heartbeats, long-polls its\n"
    "assignments and runs them (pipelines and queries with the built-in engine, update\n"
    "commands, config files), judging health per window and applying the restart policy.\n"
    "Its state lives in --data-dir: a restarted agent picks up where it stopped, and an agent\n"
    "that cannot reach the controller keeps running its last assignments.\n"
    "\n"
    "Flags:\n"
    "  --server URL[,URL...] the controller (default $DROVER_ADDR or http://127.0.0.1:9010);\n"
    "                        several replicas' URLs: it moves on when one does not answer\n"
    "  --node-id ID          this node's id, [A-Za-z0-9._-]{1,253} (default: the one in\n"
    "                        --data-dir, else the host name)\n"
    "  --name NAME           a display name (default: the node id)\n"
    "  --label KEY=VALUE     a node label (repeatable)\n"
    "  --data-dir DIR        where the agent keeps its state (default ./drover-agent)\n"
    "  --token TOKEN         agent token (default $DROVER_TOKEN)\n"
    "  --max-executions N    run at most N executions at once, higher priority first\n"
    "  --pipeline-engine P   run pipelines with this Bento-compatible binary instead of the\n"
    "                        built-in engine (P -c CONFIG)\n"
    "  --allow-commands      allow update jobs and on_change hooks to run commands\n"
    "  --config-root DIR     config jobs may write files under DIR (default: none allowed)\n"
    "  --read-root DIR       pipelines may read and write files under DIR (default: none)\n"
    "  --allow-listen        pipelines may listen (http_server input)\n"
    "  --stop-grace DUR      SIGTERM, then SIGKILL after this long (default 10s)\n"
    "  --metrics-listen ADDR serve the agent's Prometheus metrics at http://ADDR/metrics\n"
    "  -h, --help            this help\n";

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

}  // namespace

int RunAgent(const std::vector<std::string>& args, Streams s) {
  agent::AgentOptions options;
  options.agent_version = std::string("drover-") + DROVER_VERSION;
  if (const char* addr = std::getenv("DROVER_ADDR"); addr != nullptr && *addr != '\0') {
    options.server = addr;
  }
  if (const char* token = std::getenv("DROVER_TOKEN"); token != nullptr) options.token = token;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= args.size()) {
        s.err << "drover agent: " << flag << " needs a value\n";
        return false;
      }
      *out = args[++i];
      return true;
    };
    std::string v;
    if (flag == "-h" || flag == "--help") {
      s.out << kAgentUsage;
      return kExitOk;
    } else if (flag == "--allow-commands") {
      options.allow_commands = true;
    } else if (flag == "--allow-listen") {
      options.allow_listen = true;
    } else if (!value(&v)) {
      return kExitUsage;
    } else if (flag == "--server") {
      options.server = v;
    } else if (flag == "--node-id") {
      options.node_id = v;
    } else if (flag == "--name") {
      options.name = v;
    } else if (flag == "--label") {
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        s.err << "drover agent: --label " << v << ": expected KEY=VALUE\n";
        return kExitUsage;
      }
      options.labels[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (flag == "--data-dir") {
      options.data_dir = v;
    } else if (flag == "--token") {
      options.token = v;
    } else if (flag == "--max-executions") {
      int n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1) {
        s.err << "drover agent: --max-executions " << v << ": expected a positive integer\n";
        return kExitUsage;
      }
      options.max_executions = n;
    } else if (flag == "--pipeline-engine") {
      options.pipeline_engine = v;
    } else if (flag == "--config-root") {
      options.config_root = v;
    } else if (flag == "--read-root") {
      options.read_root = v;
    } else if (flag == "--stop-grace") {
      Result<Duration> d = ParseDuration(v);
      if (!d.ok() || d->nanoseconds() < 0) {
        s.err << "drover agent: --stop-grace " << v << ": expected a duration like 10s\n";
        return kExitUsage;
      }
      options.stop_grace = std::chrono::milliseconds(d->nanoseconds() / 1'000'000);
    } else if (flag == "--metrics-listen") {
      options.metrics_listen = v;
    } else {
      s.err << "drover agent: unknown flag " << flag << "\n\n" << kAgentUsage;
      return kExitUsage;
    }
  }
  Result<std::unique_ptr<agent::Agent>> agent = agent::Agent::Create(std::move(options));
  if (!agent.ok()) {
    s.err << "drover agent: " << agent.status().message() << "\n";
    return kExitUsage;
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Status status = (*agent)->Run(g_stop);
  if (!status.ok()) {
    s.err << "drover agent: " << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace drover::cli
