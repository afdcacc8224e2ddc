// drover dev: a whole cluster in one process for a laptop — the controller on the embedded
// SQLite store and N node agents with varied labels — until SIGINT or SIGTERM.
#include <signal.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <ostream>
#include <thread>

#include "agent/agent.h"
#include "agent/controller_client.h"
#include "cli/commands.h"
#include "controller/controller_main.h"

#ifndef DROVER_VERSION
#define DROVER_VERSION "dev"
#endif

namespace drover::cli {
namespace {

constexpr const char* kDevUsage =
    "Usage: drover dev [--nodes N] [--listen HOST:PORT] [--data-dir DIR]\n"
    "\n"
    "Runs a whole Drover cluster in one process, the fastest way to try it: the controller on\n"
    "the embedded SQLite store and N node agents (ids dev-1..dev-N) with varied labels\n"
    "(region, role, env). The agents run commands (--allow-commands) and read files anywhere\n"
    "(--read-root /), as on a trusted laptop; each writes config files under its own root,\n"
    "DIR/nodes/dev-K/root. Stop it with Ctrl-C: work stops with it and resumes next time.\n"
    "\n"
    "Flags:\n"
    "  --nodes N            how many agents (default 3, at most 100)\n"
    "  --listen HOST:PORT   the controller's address (default 127.0.0.1:9010)\n"
    "  --data-dir DIR       the controller's store and the agents' state (default ./drover-dev)\n"
    "  --heartbeat-interval DUR  agents' heartbeat interval (default 5s)\n"
    "  -h, --help           this help\n";

// Labels of node number `i` (from 1): dev-1 and dev-2 match the seed example's selector
// (env=production, role=app-server); the others vary region, role and env.
Labels DevLabels(int i) {
  static const char* kRegions[] = {"us-west", "us-east", "eu-west"};
  static const char* kRoles[] = {"app-server", "app-server", "edge-gateway"};
  static const char* kEnvs[] = {"production", "production", "staging"};
  const int k = (i - 1) % 3;
  return {{"region", kRegions[k]}, {"role", kRoles[k]}, {"env", kEnvs[k]}};
}

}  // namespace

int RunDev(const std::vector<std::string>& args, Streams s) {
  int nodes = 3;
  std::string listen = "127.0.0.1:9010";
  std::string data_dir = "./drover-dev";
  std::string heartbeat = "5s";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "-h" || flag == "--help") {
      s.out << kDevUsage;
      return kExitOk;
    }
    if (i + 1 >= args.size()) {
      s.err << "drover dev: "
            << (flag.rfind("--", 0) == 0 ? flag + " needs a value" : "unexpected argument " + flag)
            << "\n\n"
            << kDevUsage;
      return kExitUsage;
    }
    const std::string& v = args[++i];
    if (flag == "--nodes") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), nodes);
      if (ec != std::errc() || p != v.data() + v.size() || nodes < 1 || nodes > 100) {
        s.err << "drover dev: --nodes " << v << ": expected a number from 1 to 100\n";
        return kExitUsage;
      }
    } else if (flag == "--listen") {
      listen = v;
    } else if (flag == "--data-dir") {
      data_dir = v;
    } else if (flag == "--heartbeat-interval") {
      heartbeat = v;
    } else {
      s.err << "drover dev: unknown flag " << flag << "\n\n" << kDevUsage;
      return kExitUsage;
    }
  }
  namespace fs = std::filesystem;
  const fs::path root = fs::absolute(data_dir).lexically_normal();

  // The controller takes SIGINT/SIGTERM with sigwait; every thread must block them first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // This thread takes the signal; the controller runs until told to stop, after the agents.
  std::mutex mu;
  std::condition_variable cv;
  std::string stop_controller;  // why, once it should stop
  auto tell_controller = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    stop_controller = why;
    cv.notify_all();
  };
  std::atomic<int> controller_exit{-1};
  std::thread controller([&] {
    controller_exit =
        controller::RunController({"--listen", listen, "--data-dir", (root / "controller").string(),
                                   "--store", "sqlite", "--heartbeat-interval", heartbeat},
                                  s.out, s.err, [&] {
                                    std::unique_lock<std::mutex> lock(mu);
                                    cv.wait(lock, [&] { return !stop_controller.empty(); });
                                    return stop_controller;
                                  });
  });
  // Wait until it answers (or gave up).
  const std::string server = "http://" + listen;
  bool up = false;
  {
    Result<std::unique_ptr<agent::ControllerClient>> client =
        agent::ControllerClient::Create(server, "", std::chrono::seconds(2));
    for (int attempt = 0; attempt < 300 && client.ok() && controller_exit.load() < 0; ++attempt) {
      if ((*client)->Get("/healthz").status == 200) {
        up = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (!up) {
    tell_controller("a failed start");
    controller.join();
    s.err << "drover dev: the controller did not start\n";
    return controller_exit.load() > 0 ? controller_exit.load() : kExitFailure;
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> agents;
  std::vector<std::unique_ptr<agent::Agent>> built;
  for (int i = 1; i <= nodes; ++i) {
    agent::AgentOptions options;
    options.server = server;
    options.node_id = "dev-" + std::to_string(i);
    options.labels = DevLabels(i);
    options.data_dir = (root / "nodes" / options.node_id / "agent").string();
    options.config_root = (root / "nodes" / options.node_id / "root").string();
    options.read_root = "/";
    options.allow_commands = true;
    options.agent_version = std::string("drover-") + DROVER_VERSION;
    Result<std::unique_ptr<agent::Agent>> a = agent::Agent::Create(std::move(options));
    if (!a.ok()) {
      s.err << "drover dev: " << a.status().message() << "\n";
      continue;
    }
    built.push_back(std::move(*a));
  }
  for (auto& a : built) {
    agents.emplace_back([&stop, agent = a.get()] { (void)agent->Run(stop); });
  }
  s.out << "drover dev: controller on " << server << " (store " << (root / "controller").string()
        << "), " << built.size() << " agents:\n";
  for (int i = 1; i <= static_cast<int>(built.size()); ++i) {
    s.out << "  dev-" << i << "  ";
    for (const auto& [k, v] : DevLabels(i)) s.out << k << "=" << v << " ";
    s.out << "\n";
  }
  s.out << "Try: curl -s " << server << "/api/v1/nodes   (Ctrl-C stops everything)\n" << std::flush;

  int received = 0;
  sigwait(&signals, &received);
  const std::string why = received == SIGINT ? "SIGINT" : "SIGTERM";
  s.err << "drover dev: received " << why << ", stopping the agents and their work\n" << std::flush;
  // Agents first, so that their work stops while the controller can still hear about it.
  stop = true;
  for (std::thread& t : agents) t.join();
  tell_controller(why);
  controller.join();
  return controller_exit.load();
}

}  // namespace drover::cli
