#include "controller/controller_main.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "api/duration.h"
#include "controller/api_server.h"
#include "controller/compactor.h"
#include "controller/forwarder.h"
#include "controller/http_server.h"
#include "controller/instrumented_store.h"
#include "controller/job_controller.h"
#include "controller/leader_election.h"
#include "controller/log_store.h"
#include "controller/manifest_sync.h"
#include "store/etcd_store.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"

#ifndef DROVER_VERSION
#define DROVER_VERSION "dev"
#endif

namespace drover::controller {
namespace {

constexpr const char* kUsage =
    "Usage: drover controller [flags]\n"
    "\n"
    "Serves the Drover API over a declarative store (SPEC §3, §8, §12).\n"
    "\n"
    "Flags:\n"
    "  --listen HOST:PORT          address to serve on (default 127.0.0.1:9010)\n"
    "  --data-dir DIR              where the SQLite store lives (default ./drover-data)\n"
    "  --store sqlite|memory|etcd://HOST:PORT,...   the store backend (default sqlite)\n"
    "  --auth-token-file FILE      tokens with roles; required to listen beyond loopback\n"
    "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
    "  --heartbeat-interval DUR    agents' heartbeat interval (default 5s)\n"
    "  --node-lost-after DUR       disconnected nodes become lost after this (default 10m)\n"
    "  --max-body-bytes N          largest request body (default 1048576)\n"
    "  --history-limit N           versions kept per job (default 20)\n"
    "  --http-threads N            HTTP worker threads (default 8)\n"
    "  --workers N                 reconcile workers (default 2)\n"
    "  --resync DUR                every job is reconciled at least this often (default 30s)\n"
    "  --manifests DIR             keep the job manifests of DIR applied: on start, on every\n"
    "                              change and every --manifests-interval (docs/gitops.md)\n"
    "  --manifests-interval DUR    how often DIR is re-read without a change (default 30s)\n"
    "  --replica-id ID             this replica's name among several on etcd (default: the\n"
    "                              host name)\n"
    "  --advertise-address URL     where the other replicas reach this one while it leads\n"
    "                              (default http[s]://HOST:PORT of --listen, the host name\n"
    "                              when it listens on every address)\n"
    "  --leader-elect-lease-duration DUR   leader lease on etcd (default 15s)\n"
    "  --leader-elect-renew-deadline DUR   a leader that could not renew for this long steps\n"
    "                              down and exits (default 10s)\n"
    "  --leader-elect-retry-period DUR     renew / campaign interval (default 2s)\n"
    "  --log-format text|json      (default text)\n"
    "  --log-level LEVEL           debug|info|warn|error (default info)\n"
    "  -h, --help                  this help\n";

struct Flags {
  std::string listen = "127.0.0.1:9010";
  std::string data_dir = "./drover-data";
  std::string store = "sqlite";
  std::string auth_token_file;
  std::string tls_cert;
  std::string tls_key;
  Duration heartbeat_interval = Duration::Seconds(5);
  Duration node_lost_after = Duration::Minutes(10);
  int64_t max_body_bytes = 1 << 20;
  int64_t history_limit = 20;
  int64_t http_threads = 8;
  int64_t workers = 2;
  Duration resync = Duration::Seconds(30);
  std::string log_format = "text";
  std::string log_level = "info";
  std::string manifests;
  Duration manifests_interval = Duration::Seconds(30);
  std::string replica_id;
  std::string advertise_address;
  Duration lease_duration = Duration::Seconds(15);
  Duration renew_deadline = Duration::Seconds(10);
  Duration retry_period = Duration::Seconds(2);
};

Result<int64_t> ParsePositive(const std::string& flag, const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 1) {
    return InvalidError(flag + ": expected a positive integer, got \"" + text + "\"");
  }
  return v;
}

Result<Flags> ParseFlags(const std::vector<std::string>& args, bool* help) {
  Flags f;
  std::map<std::string, std::string*> strings = {{"--listen", &f.listen},
                                                 {"--data-dir", &f.data_dir},
                                                 {"--store", &f.store},
                                                 {"--auth-token-file", &f.auth_token_file},
                                                 {"--tls-cert", &f.tls_cert},
                                                 {"--tls-key", &f.tls_key},
                                                 {"--log-format", &f.log_format},
                                                 {"--log-level", &f.log_level},
                                                 {"--manifests", &f.manifests},
                                                 {"--replica-id", &f.replica_id},
                                                 {"--advertise-address", &f.advertise_address}};
  std::map<std::string, Duration*> durations = {
      {"--resync", &f.resync},
      {"--manifests-interval", &f.manifests_interval},
      {"--heartbeat-interval", &f.heartbeat_interval},
      {"--node-lost-after", &f.node_lost_after},
      {"--leader-elect-lease-duration", &f.lease_duration},
      {"--leader-elect-renew-deadline", &f.renew_deadline},
      {"--leader-elect-retry-period", &f.retry_period}};
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
    if (auto it = strings.find(name); it != strings.end()) {
      Result<std::string> v = take();
      if (!v.ok()) return v.status();
      *it->second = *v;
    } else if (auto d_it = durations.find(name); d_it != durations.end()) {
      Result<std::string> v = take();
      if (!v.ok()) return v.status();
      Result<Duration> d = ParseDuration(*v);
      if (!d.ok() || d->nanoseconds() <= 0) {
        return InvalidError(name + ": expected a positive duration such as 5s, got \"" + *v + "\"");
      }
      *d_it->second = *d;
    } else if (name == "--max-body-bytes" || name == "--history-limit" ||
               name == "--http-threads" || name == "--workers") {
      Result<std::string> v = take();
      if (!v.ok()) return v.status();
      Result<int64_t> n = ParsePositive(name, *v);
      if (!n.ok()) return n.status();
      if (name == "--max-body-bytes") f.max_body_bytes = *n;
      if (name == "--history-limit") f.history_limit = *n;
      if (name == "--http-threads") f.http_threads = std::min<int64_t>(*n, 256);
      if (name == "--workers") f.workers = std::min<int64_t>(*n, 64);
    } else {
      return InvalidError("unknown flag \"" + args[i] + "\"");
    }
  }
  if (f.log_format != "text" && f.log_format != "json") {
    return InvalidError("--log-format: expected text or json, got \"" + f.log_format + "\"");
  }
  return f;
}

std::chrono::milliseconds ToMillis(Duration d) {
  return std::chrono::milliseconds(std::max<int64_t>(1, d.nanoseconds() / 1'000'000));
}

void Log(const Flags& flags, std::ostream& err, const std::string& level,
         const std::string& message) {
  if (flags.log_format == "json") {
    err << DumpJson({{"time", RealClock().WallTime()}, {"level", level}, {"msg", message}}) << "\n";
  } else {
    err << RealClock().WallTime() << " " << level << " " << message << "\n";
  }
  err.flush();
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "drover-controller";
  return name;
}

// Where the other replicas reach this one: the --listen address, or the host name when it
// listens on every address.
std::string DefaultAdvertiseAddress(const std::string& host, int port, bool tls) {
  std::string reachable = host;
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") reachable = HostName();
  return std::string(tls ? "https://" : "http://") + reachable + ":" + std::to_string(port);
}

// The routes every replica answers itself: its own health, readiness, version and metrics.
bool ServedByEveryReplica(const std::string& path) {
  return path == "/healthz" || path == "/readyz" || path == "/version" || path == "/metrics" ||
         path == "/openapi.json";
}

// What the main thread waits for: a stop (signal), or the election's news.
class RunState {
 public:
  struct Event {
    std::string reason;  // "leading", "lost leadership: ...", "received SIGTERM"
    int64_t term = 0;
  };
  void Notify(std::string reason, int64_t term) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reason.rfind("received ", 0) == 0) by_signal_ = true;
      events_.push_back({std::move(reason), term});
    }
    cv_.notify_all();
  }
  // The next event, oldest first; a stop or a loss is returned again to every later call.
  Event Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return next_ < events_.size(); });
    Event event = events_[next_];
    if (event.reason == "leading") ++next_;
    return event;
  }
  bool StoppedBySignal() {
    std::lock_guard<std::mutex> lock(mu_);
    return by_signal_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  size_t next_ = 0;
  bool by_signal_ = false;
};

}  // namespace

int RunController(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const std::function<std::string()>& wait_for_stop) {
  bool help = false;
  Result<Flags> parsed = ParseFlags(args, &help);
  if (help) {
    out << kUsage;
    return 0;
  }
  if (!parsed.ok()) {
    err << "drover controller: " << parsed.status().message() << "\n\n" << kUsage;
    return 2;
  }
  const Flags& flags = *parsed;
  Result<std::pair<std::string, int>> address = ParseListenAddress(flags.listen);
  if (!address.ok()) {
    err << "drover controller: " << address.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<TokenTable> tokens;
  if (!flags.auth_token_file.empty()) {
    Result<TokenTable> loaded = TokenTable::LoadFile(flags.auth_token_file);
    if (!loaded.ok()) {
      err << "drover controller: " << loaded.status().message() << "\n";
      return 1;
    }
    tokens = std::make_unique<TokenTable>(std::move(loaded).value());
  } else if (!IsLoopbackHost(address->first)) {
    err << "drover controller: refusing to listen on " << flags.listen
        << " without --auth-token-file: anyone who can reach it could change every job. "
           "Give a token file, or listen on 127.0.0.1.\n";
    return 1;
  }

  // Two malloc arenas instead of one per thread: the loop's large, short-lived allocations
  // (a 100,000-execution placement) otherwise leave every worker's arena bloated.
  mallopt(M_ARENA_MAX, 2);

  // Signals are taken synchronously by this thread, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // On etcd, replicas elect a leader (controller/leader_election.h): the leases and the elector
  // come before the store, whose every write carries the elector's fence.
  const bool elected = flags.store.rfind("etcd://", 0) == 0;
  std::unique_ptr<store::Leases> leases;
  std::unique_ptr<LeaderElector> elector;
  RunState run;
  std::unique_ptr<store::Store> backend;
  if (flags.store == "memory") {
    backend = store::NewMemoryStore();
  } else if (flags.store == "sqlite") {
    std::error_code ec;
    std::filesystem::create_directories(flags.data_dir, ec);
    if (ec) {
      err << "drover controller: cannot create --data-dir " << flags.data_dir << ": "
          << ec.message() << "\n";
      return 1;
    }
    std::string path = (std::filesystem::path(flags.data_dir) / "drover.db").string();
    Result<std::unique_ptr<store::Store>> opened = store::OpenSqliteStore(path);
    if (!opened.ok()) {
      err << "drover controller: " << opened.status().message() << "\n";
      return 1;
    }
    backend = std::move(opened).value();
  } else if (elected) {
    Result<store::EtcdStoreOptions> options = store::ParseEtcdUrl(flags.store);
    if (!options.ok()) {
      err << "drover controller: --store: " << options.status().message() << "\n";
      return 2;
    }
    LeaderElectionOptions election;
    election.identity = flags.replica_id.empty() ? HostName() : flags.replica_id;
    election.address =
        flags.advertise_address.empty()
            ? DefaultAdvertiseAddress(address->first, address->second, !flags.tls_cert.empty())
            : flags.advertise_address;
    election.lease_duration = ToMillis(flags.lease_duration);
    election.renew_deadline = ToMillis(flags.renew_deadline);
    election.retry_period = ToMillis(flags.retry_period);
    if (Status valid = ValidateLeaderElectionOptions(election); !valid.ok()) {
      err << "drover controller: " << valid.message() << "\n";
      return 2;
    }
    Result<std::unique_ptr<store::Leases>> opened_leases = store::OpenEtcdLeases(*options);
    if (!opened_leases.ok()) {
      err << "drover controller: " << opened_leases.status().message() << "\n";
      return 1;
    }
    leases = std::move(opened_leases).value();
    elector = std::make_unique<LeaderElector>(
        *leases, RealClock(), election,
        LeaderElector::Callbacks{
            [&run](int64_t term) { run.Notify("leading", term); },
            [&run](const std::string& reason) { run.Notify("lost leadership: " + reason, 0); }});
    options->fence = [e = elector.get()] { return e->Fence(); };
    Result<std::unique_ptr<store::Store>> opened = store::OpenEtcdStore(std::move(*options));
    if (!opened.ok()) {
      err << "drover controller: " << opened.status().message() << "\n";
      return 1;
    }
    backend = std::move(opened).value();
  } else {
    err << "drover controller: --store: expected sqlite, memory or etcd://HOST:PORT,..., got \""
        << flags.store << "\"\n";
    return 2;
  }

  InitializeHttpThreads(static_cast<size_t>(flags.http_threads));
  ControllerMetrics metrics;
  InstrumentedStore store(*backend, metrics);
  NodeRegistry nodes(store, RealClock(),
                     {ToMillis(flags.heartbeat_interval), ToMillis(flags.node_lost_after)});
  JobService jobs(store, RealClock(), nodes,
                  {static_cast<int>(std::min<int64_t>(flags.history_limit, 100000)), 1000});
  LogStore logs(RealClock());  // in memory only: see docs/logs.md
  ApiServer api(jobs, nodes, logs, metrics, tokens.get(),
                {DROVER_VERSION, std::chrono::milliseconds(60'000)});
  JobControllerOptions loop;
  loop.workers = static_cast<int>(flags.workers);
  loop.resync = ToMillis(flags.resync);
  // as long as a node may be silent and still count as connected (reconcilers/node_state.h)
  loop.startup_grace = 3 * ToMillis(flags.heartbeat_interval);
  loop.log = [&flags](const std::string& level, const std::string& message) {
    Log(flags, std::cerr, level, message);
  };
  JobController controller(store, RealClock(), nodes, &metrics, loop);

  // The --manifests folder's sync (docs/gitops.md), on the leader only: stopped before what it
  // uses (the job service, the store) and destroyed after the HTTP server whose route reads it.
  std::unique_ptr<ManifestMetrics> manifest_metrics;
  std::unique_ptr<ManifestSync> manifest_sync;
  if (!flags.manifests.empty()) {
    manifest_metrics = std::make_unique<ManifestMetrics>(metrics);
    ManifestSyncOptions sync_options;
    sync_options.folder = flags.manifests;
    sync_options.interval = ToMillis(flags.manifests_interval);
    manifest_sync = std::make_unique<ManifestSync>(
        sync_options, jobs, store, RealClock(), *manifest_metrics,
        [&flags, &err](const std::string& level, const std::string& message) {
          Log(flags, err, level, message);
        });
    api.SetManifestSync(manifest_sync.get());
  }

  // A follower answers the operational routes itself and forwards the rest to the leader
  // (controller/forwarder.h); the leader, or a single controller, serves everything.
  // Nothing but the operational routes is served before the control loop runs: a heartbeat
  // answered without it would tell the agent to stop everything.
  std::atomic<bool> serving{false};
  const std::string replica_id = elector ? elector->options().identity : HostName();
  Forwarder forwarder(replica_id, std::chrono::milliseconds(120'000));
  if (elector) {
    api.SetRole([&elector, &serving, &replica_id] {
      std::optional<LeaderInfo> leader = elector->Leader();
      Json role = {{"replica_id", replica_id},
                   {"leader", serving.load()},
                   {"leader_id", leader ? leader->identity : ""},
                   {"term", leader ? leader->term : 0}};
      // A follower is ready when it knows a leader to forward to.
      role["ready"] = serving.load() || (leader.has_value() && !elector->Leading());
      return role;
    });
  }
  auto handle = [&](HttpRequest request, Responder respond) {
    if (serving.load() || ServedByEveryReplica(request.path)) {
      api.Handle(std::move(request), std::move(respond));
      return;
    }
    std::optional<LeaderInfo> leader = elector ? elector->Leader() : std::nullopt;
    if (!elector || !request.Header(kForwardedByHeader).empty() || !leader || elector->Leading()) {
      std::string why =
          !elector  ? "the controller is starting (loading the store); retry"
          : !leader ? "no controller replica leads yet (an election takes up to one lease, " +
                          std::to_string(flags.lease_duration.nanoseconds() / 1'000'000'000) +
                          " s); retry"
          : elector->Leading() ? "this replica has just become the leader and is loading; retry"
                               : "replica " + replica_id + " does not lead and the leader " +
                                     leader->identity + " forwarded this request here; retry";
      HttpResponse answer = ErrorResponse(503, "unavailable", why);
      answer.headers.emplace_back("Retry-After", "2");
      respond(std::move(answer));
      return;
    }
    forwarder.Forward(request, leader->identity, leader->address, std::move(respond));
  };

  std::unique_ptr<Compactor> compactor;
  auto lead = [&]() -> Status {
    if (Status loaded = nodes.Load(); !loaded.ok()) return loaded;
    if (Status started = controller.Start(); !started.ok()) return started;
    api.SetController(&controller);
    compactor = std::make_unique<Compactor>(*backend, CompactorOptions{}, [&](const Status& s) {
      Log(flags, err, "warn", "store compaction failed: " + s.message());
    });
    metrics.SetLeader(true);
    serving = true;
    api.SetReady(true);
    if (manifest_sync) manifest_sync->Start();
    return Status::Ok();
  };

  // A single controller starts its loop before it serves, as before there were replicas: once
  // /healthz answers, the API does.
  if (!elected) {
    if (Status s = lead(); !s.ok()) {
      err << "drover controller: starting the control loop: " << s.message() << "\n";
      if (manifest_sync) manifest_sync->Stop();
      nodes.Shutdown();
      controller.Stop();
      return 1;
    }
  }

  HttpServerOptions http;
  http.host = address->first;
  http.port = address->second;
  http.tls_cert = flags.tls_cert;
  http.tls_key = flags.tls_key;
  http.max_body_bytes = static_cast<size_t>(flags.max_body_bytes);
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(http, handle);
  if (!server.ok()) {
    err << "drover controller: " << server.status().message() << "\n";
    return 1;
  }
  const std::string where = std::string(flags.tls_cert.empty() ? "http://" : "https://") +
                            flags.listen + " (store " + flags.store +
                            (flags.store == "sqlite" ? " in " + flags.data_dir : "") + ", auth " +
                            (tokens ? "on" : "off") + ")";

  // What stops the controller: a signal (or `wait_for_stop`), taken on a thread of its own so that
  // an elected replica can also wake up when it wins or loses the election.
  std::thread stop_waiter([&] {
    std::string reason;
    if (wait_for_stop) {
      reason = wait_for_stop();
    } else {
      int received = 0;
      sigwait(&signals, &received);
      reason = received == SIGINT ? "SIGINT" : "SIGTERM";
    }
    run.Notify("received " + reason, 0);
  });

  int exit_code = 0;
  std::string reason;
  if (!elected) {
    Log(flags, err, "info",
        std::string("drover controller ") + DROVER_VERSION + " listening on " + where);
    reason = run.Wait().reason;
  } else {
    metrics.SetLeader(false);
    api.SetReady(true);
    Log(flags, err, "info",
        std::string("drover controller ") + DROVER_VERSION + " replica " + replica_id +
            " listening on " + where + ", advertising " + elector->options().address +
            "; campaigning for leadership");
    elector->Start();
    RunState::Event event = run.Wait();
    if (event.reason == "leading") {
      Log(flags, err, "info",
          "replica " + replica_id + " leads (term " + std::to_string(event.term) +
              "): starting the control loop");
      if (Status s = lead(); !s.ok()) {
        Log(flags, err, "error", "starting the control loop: " + s.message());
        exit_code = 1;
        reason = "a failed start";
      } else {
        event = run.Wait();
      }
    }
    if (reason.empty()) reason = event.reason;
    if (event.reason.rfind("lost leadership", 0) == 0) {
      Log(flags, err, "error",
          "replica " + replica_id + " " + event.reason +
              "; every write it still attempts is refused by the store's fence. Exiting so that "
              "its supervisor restarts it as a follower");
      metrics.SetLeader(false);
      exit_code = 1;
    }
  }
  Log(flags, err, "info", reason + ", shutting down");
  // In this order: no new requests; parked long polls answered while the API and their HTTP
  // sessions still exist; the control loop stopped; leadership handed over; then the server
  // (and every session) gone before the objects its handlers use.
  api.SetReady(false);
  (*server)->Stop();
  if (manifest_sync) manifest_sync->Stop();
  nodes.Shutdown();
  controller.Stop();
  compactor.reset();
  if (elector) elector->Stop();
  (*server).reset();
  if (!run.StoppedBySignal()) {
    if (wait_for_stop) {
      // A caller's own stop function cannot be woken: leave it to the process's exit.
      stop_waiter.detach();
      std::cerr.flush();
      std::_Exit(exit_code);
    }
    pthread_kill(stop_waiter.native_handle(), SIGTERM);
  }
  stop_waiter.join();
  return exit_code;
}

}  // namespace drover::controller
