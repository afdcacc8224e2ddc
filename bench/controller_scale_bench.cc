// Scale of the control loop (issue 4, acceptance 5; issue 8, acceptance 4 for etcd), with the
// real `drover controller` and a simulated fleet (cli/sim_fleet.h) in this process, both on
// loopback. The controller's store is SQLite in a temporary data dir, or etcd: a fresh member
// started by the bench for each run (bench/etcd_server.h, with --etcd-flags as given) or an
// existing one; --store sqlite,etcd runs each scenario on each store in turn, back to back.
//   placement  N nodes (default 100,000) register and heartbeat every 10 s; one pipeline job
//              (immediate) matching every node is PUT. Reports the time until every execution
//              is stored (the job's rollout shows all N updated: creates and rollout record are
//              one transaction) and until every simulated node has received its assignment;
//              then PUTs more jobs (--jobs, default 10 in all) and reports the controller's
//              resident memory (VmRSS / VmHWM) with N nodes and that many jobs.
//   rolling    N nodes (default 10,000): version 1 placed at once, then version 2 rolled out
//              in 10% waves gated by health checks (1 s interval). Reports the controller's CPU
//              seconds (user + system, from /proc) spent during the rollout per node updated.
//
//   ./build/controller_scale_bench [--drover PATH] [--scenario placement|rolling]
//                                  [--nodes N] [--jobs J] [--heartbeat DUR]
//                                  [--store sqlite,etcd] [--etcd /usr/bin/etcd]
//                                  [--etcd-flags "--max-txn-ops=200000 ..."]
//                                  [--etcd-data-parent /dev/shm]
//
// Stops by itself (every wait is bounded; a placement whose reconcile keeps failing with nothing
// stored is given up after 5 failures); the controller and the etcd it started are stopped at
// the end of each run.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
std::string g_drover_binary;
}  // namespace
#define DROVER_BINARY ::g_drover_binary

#include "bench/etcd_server.h"
#include "cli/sim_fleet.h"
#include "tests/testing/controller_process.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string drover = "./build/drover";
  std::string scenario = "placement";
  int nodes = 0;
  int jobs = 10;
  std::string heartbeat;
  std::vector<std::string> stores = {"sqlite"};
  bench::EtcdServerOptions etcd;  // for the "etcd" store
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool Wait(const std::function<bool()>& condition, std::chrono::seconds limit,
          std::chrono::milliseconds step = 200ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(step);
  }
  return condition();
}

// A field of /proc/PID/status in kB ("VmRSS", "VmHWM").
long StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// User + system CPU seconds of a process.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) {
      stime = std::stol(f);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Metric(const testing::ControllerProcess& c, const std::string& series) {
  std::string text = c.Call("GET", "/metrics").body;
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Executions stored, all states (the drover_executions{state} gauges).
long Executions(const testing::ControllerProcess& c) {
  std::istringstream text(c.Call("GET", "/metrics").body);
  long total = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("drover_executions{", 0) != 0) continue;
    total += std::lround(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

Json Spec(const std::string& name, const std::string& strategy, const std::string& description) {
  Json spec = {{"name", name},
               {"type", "pipeline"},
               {"description", description},
               {"selector", {{"match_labels", {{"role", "edge"}}}}},
               {"config",
                {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
               {"rollout", {{"strategy", strategy}}}};
  if (strategy != "immediate") {
    spec["rollout"]["max_parallel"] = 10;
    spec["rollout"]["health_check"] = {
        {"deadline", "120s"}, {"interval", "1s"}, {"success_threshold", 1}};
  }
  return spec;
}

std::unique_ptr<sim::Fleet> StartFleet(const testing::ControllerProcess& controller, int nodes,
                                       std::chrono::milliseconds spread) {
  sim::FleetOptions options;
  options.server = controller.url();
  options.registration_spread = spread;
  options.connections = 32;
  options.request_timeout = 30s;
  options.behaviour.default_health.interval = 1s;
  for (int i = 0; i < nodes; ++i) {
    char id[32];
    std::snprintf(id, sizeof(id), "edge-%06d", i);
    options.nodes.push_back({id, {{"role", "edge"}, {"zone", i % 2 ? "a" : "b"}}});
  }
  Result<std::unique_ptr<sim::Fleet>> fleet = sim::Fleet::Start(options);
  if (!fleet.ok()) {
    std::fprintf(stderr, "fleet: %s\n", fleet.status().message().c_str());
    return nullptr;
  }
  return std::move(fleet).value();
}

bool Connected(const testing::ControllerProcess& controller, int nodes) {
  return Wait([&] { return Metric(controller, "drover_nodes{state=\"connected\"}") >= nodes; },
              300s, 1000ms);
}

// A controller (--heartbeat-interval `heartbeat`) on a store opened for it (a fresh etcd for
// "etcd"). Members are destroyed in reverse: the controller stops before its etcd.
struct ControllerRun {
  bench::BenchStore store;
  std::unique_ptr<testing::ControllerProcess> controller;
};

std::optional<ControllerRun> StartController(const Options& o, const std::string& store_name,
                                             const std::string& heartbeat) {
  Result<bench::BenchStore> store = bench::BenchStore::Open(store_name, o.etcd);
  if (!store.ok()) {
    std::fprintf(stderr, "store %s: %s\n", store_name.c_str(), store.status().message().c_str());
    return std::nullopt;
  }
  ControllerRun run{std::move(store).value(), nullptr};
  run.controller = std::make_unique<testing::ControllerProcess>(
      std::vector<std::string>{"--heartbeat-interval", heartbeat, "--store", run.store.flag()});
  if (!run.controller->Start() || !run.controller->WaitReady()) {
    std::fprintf(stderr, "controller did not start or lead (exit %d): %s\n",
                 run.controller->exit_code(), run.controller->log().c_str());
    return std::nullopt;
  }
  return run;
}

// Failed reconciles of jobs so far (the controller logs no cause; etcd's refusals show here).
double ReconcileErrors(const testing::ControllerProcess& c) {
  return std::max(0.0, Metric(c, "drover_reconcile_total{controller=\"job\",result=\"error\"}"));
}

// The last `lines` lines of `text`, indented, for a report of what went wrong.
std::string Tail(const std::string& text, int lines) {
  size_t at = text.size();
  for (int i = 0; i <= lines && at != std::string::npos && at > 0; ++i) {
    at = text.rfind('\n', at - 1);
  }
  std::string tail = at == std::string::npos ? text : text.substr(at + 1);
  std::string out;
  for (const std::string& line : bench::SplitList(tail, '\n')) out += "    | " + line + "\n";
  return out;
}

int Placement(const Options& o, const std::string& store_name) {
  const int n = o.nodes > 0 ? o.nodes : 100'000;
  std::string heartbeat = o.heartbeat.empty() ? "10s" : o.heartbeat;
  std::optional<ControllerRun> run = StartController(o, store_name, heartbeat);
  if (!run) return 1;
  const testing::ControllerProcess& controller = *run->controller;
  const pid_t etcd = run->store.etcd_pid();
  std::printf("placement on %s: %d nodes, heartbeat %s, controller pid %d, %s\n",
              store_name.c_str(), n, heartbeat.c_str(), controller.pid(),
              run->store.Describe().c_str());
  auto fleet = StartFleet(controller, n, 20s);
  if (!fleet) return 1;
  const auto reg_start = Clock::now();
  if (!Connected(controller, n)) {
    std::printf("not every node connected\n");
    return 1;
  }
  std::printf("  %d nodes connected after %.1f s; controller RSS %ld MB\n", n,
              Seconds(Clock::now() - reg_start), StatusKb(controller.pid(), "VmRSS") / 1024);
  const double errors0 = ReconcileErrors(controller);
  const double controller_cpu0 = CpuSeconds(controller.pid());
  const double etcd_cpu0 = etcd > 0 ? CpuSeconds(etcd) : 0;
  const auto t0 = Clock::now();
  testing::HttpReply put =
      controller.Call("PUT", "/api/v1/jobs", Json{{"spec", Spec("job-0", "immediate", "")}}.dump());
  if (put.status != 201) {
    std::printf("PUT: %d %s\n", put.status, put.body.c_str());
    return 1;
  }
  const std::string id = put.Json()["job_id"];
  int updated = 0;
  bool failing = false;  // the placement's reconcile keeps failing and nothing is stored
  bool stored = Wait(
      [&] {
        Json r = controller.Call("GET", "/api/v1/jobs/job-0").Json()["job"]["status"]["rollout"];
        updated = r.is_object() ? r.value("updated_nodes", 0) : 0;
        failing = updated == 0 && ReconcileErrors(controller) - errors0 >= 5;
        return updated >= n || failing;
      },
      300s, 50ms);
  stored = stored && !failing;
  const double t_stored = Seconds(Clock::now() - t0);
  const double controller_cpu = CpuSeconds(controller.pid()) - controller_cpu0;
  const double etcd_cpu = etcd > 0 ? CpuSeconds(etcd) - etcd_cpu0 : 0;
  if (!stored) {
    std::printf(
        "  job-0 on %d nodes: NOT STORED after %.1f s (%d executions; %.0f failed reconciles of "
        "jobs since the PUT)\n  controller log, last lines:\n%s",
        n, t_stored, updated, ReconcileErrors(controller) - errors0,
        Tail(controller.log(), 10).c_str());
    if (run->store.etcd()) {
      std::printf("  etcd log, last lines:\n%s", Tail(run->store.etcd()->log(), 10).c_str());
    }
    fleet->Stop();
    return 1;
  }
  bool received =
      Wait([&] { return fleet->FirstReceived(id).size() >= static_cast<size_t>(n); }, 300s, 100ms);
  double t_received = 0;
  for (const auto& [node, at] : fleet->FirstReceived(id)) {
    t_received = std::max(t_received, Seconds(at - t0));
  }
  char etcd_note[64] = "";
  if (etcd > 0) std::snprintf(etcd_note, sizeof(etcd_note), ", etcd CPU %.2f s", etcd_cpu);
  std::printf(
      "  job-0 on %d nodes: every execution stored after %.2f s (controller CPU %.2f s%s, %.0f "
      "failed reconciles); every node received it after %.2f s%s\n",
      n, t_stored, controller_cpu, etcd_note, ReconcileErrors(controller) - errors0, t_received,
      received ? "" : " (NOT REACHED)");
  for (int j = 1; j < o.jobs; ++j) {
    std::string name = "job-" + std::to_string(j);
    controller.Call("PUT", "/api/v1/jobs", Json{{"spec", Spec(name, "immediate", "")}}.dump());
    Wait(
        [&] {
          Json r =
              controller.Call("GET", "/api/v1/jobs/" + name).Json()["job"]["status"]["rollout"];
          updated = r.is_object() ? r.value("updated_nodes", 0) : 0;
          return updated >= n;
        },
        300s, 200ms);
    std::printf("  %d jobs placed (this one on %d nodes): controller VmRSS %ld MB\n", j + 1,
                updated, StatusKb(controller.pid(), "VmRSS") / 1024);
  }
  std::this_thread::sleep_for(std::chrono::seconds(15));  // heartbeats carry every assignment
  sim::FleetCounters counters = fleet->Counters();
  std::printf(
      "  %d jobs x %d nodes (%ld executions stored): controller VmRSS %ld MB, VmHWM %ld MB; "
      "heartbeats ok %lld, failed %lld, connection errors %lld\n",
      o.jobs, n, Executions(controller), StatusKb(controller.pid(), "VmRSS") / 1024,
      StatusKb(controller.pid(), "VmHWM") / 1024, static_cast<long long>(counters.heartbeats_ok),
      static_cast<long long>(counters.heartbeats_failed),
      static_cast<long long>(counters.connection_errors));
  if (run->store.etcd()) {
    std::printf("  etcd: VmRSS %ld MB, VmHWM %ld MB, data dir %.0f MB\n",
                StatusKb(etcd, "VmRSS") / 1024, StatusKb(etcd, "VmHWM") / 1024,
                static_cast<double>(run->store.etcd()->DataBytes()) / 1e6);
  }
  fleet->Stop();
  run->controller->Stop();
  return 0;
}

int Rolling(const Options& o, const std::string& store_name) {
  const int n = o.nodes > 0 ? o.nodes : 10'000;
  std::string heartbeat = o.heartbeat.empty() ? "2s" : o.heartbeat;
  std::optional<ControllerRun> run = StartController(o, store_name, heartbeat);
  if (!run) return 1;
  testing::ControllerProcess& controller = *run->controller;
  std::printf("rolling on %s: %d nodes, heartbeat %s, 10%% waves, health interval 1s, %s\n",
              store_name.c_str(), n, heartbeat.c_str(), run->store.Describe().c_str());
  auto fleet = StartFleet(controller, n, 2s);
  if (!fleet || !Connected(controller, n)) return 1;
  auto phase = [&](int version) {
    Json r = controller.Call("GET", "/api/v1/jobs/roll").Json()["job"]["status"]["rollout"];
    return r.is_object() && r.value("to_version", 0) == version ? r.value("phase", "") : "";
  };
  controller.Call("PUT", "/api/v1/jobs", Json{{"spec", Spec("roll", "rolling", "v1")}}.dump());
  if (!Wait([&] { return phase(1) == "succeeded"; }, 600s)) {
    std::printf("v1 did not succeed\n");
    return 1;
  }
  std::this_thread::sleep_for(5s);
  const double idle_before = CpuSeconds(controller.pid());
  std::this_thread::sleep_for(10s);
  const double idle_per_s = (CpuSeconds(controller.pid()) - idle_before) / 10.0;
  const pid_t etcd = run->store.etcd_pid();
  const double cpu0 = CpuSeconds(controller.pid());
  const double etcd_cpu0 = etcd > 0 ? CpuSeconds(etcd) : 0;
  const auto t0 = Clock::now();
  controller.Call("PUT", "/api/v1/jobs", Json{{"spec", Spec("roll", "rolling", "v2")}}.dump());
  if (!Wait([&] { return phase(2) == "succeeded"; }, 900s)) {
    std::printf("v2 did not succeed: %s\n",
                controller.Call("GET", "/api/v1/jobs/roll").body.c_str());
    return 1;
  }
  const double wall = Seconds(Clock::now() - t0);
  const double cpu = CpuSeconds(controller.pid()) - cpu0;
  std::printf(
      "  v2 over %d nodes in 10 waves: %.1f s wall, controller CPU %.2f s = %.3f ms per "
      "node updated (idle heartbeat load alone: %.3f CPU s/s, i.e. %.2f s of the %.1f s)\n",
      n, wall, cpu, 1000.0 * cpu / n, idle_per_s, idle_per_s * wall, cpu);
  std::printf("  net of the idle heartbeat load: %.3f ms per node updated\n",
              1000.0 * (cpu - idle_per_s * wall) / n);
  if (etcd > 0) {
    const double etcd_cpu = CpuSeconds(etcd) - etcd_cpu0;
    std::printf("  etcd CPU during the rollout: %.2f s = %.3f ms per node updated\n", etcd_cpu,
                1000.0 * etcd_cpu / n);
  }
  fleet->Stop();
  controller.Stop();
  return 0;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (bench::ParseEtcdOption(a, value, &o.etcd)) {
      // --etcd, --etcd-flags, --etcd-data-parent
    } else if (a == "--drover") {
      o.drover = value();
    } else if (a == "--scenario") {
      o.scenario = value();
    } else if (a == "--nodes") {
      o.nodes = std::stoi(value());
    } else if (a == "--jobs") {
      o.jobs = std::stoi(value());
    } else if (a == "--heartbeat") {
      o.heartbeat = value();
    } else if (a == "--store") {
      o.stores = bench::SplitList(value(), ',');
    } else {
      std::fprintf(stderr,
                   "usage: %s [--drover PATH] [--scenario placement|rolling] [--nodes N] "
                   "[--jobs J] [--heartbeat DUR] [--store sqlite,etcd,etcd://HOST:PORT] %s\n",
                   argv[0], bench::kEtcdUsage);
      return 2;
    }
  }
  g_drover_binary = o.drover;
  if (access(g_drover_binary.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "no drover binary at %s (use --drover PATH)\n", g_drover_binary.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.scenario != "placement" && o.scenario != "rolling") {
    std::fprintf(stderr, "unknown scenario %s\n", o.scenario.c_str());
    return 2;
  }
  // Each store in turn, back to back; the exit code is the worst run's.
  int code = 0;
  for (const std::string& store : o.stores) {
    int run = o.scenario == "placement" ? Placement(o, store) : Rolling(o, store);
    code = std::max(code, run);
  }
  return code;
}

}  // namespace
}  // namespace drover

int main(int argc, char** argv) { return drover::Main(argc, argv); }
