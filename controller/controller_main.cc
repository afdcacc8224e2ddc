#include "controller/controller_main.h"

#include <malloc.h>
#include <signal.h>

#include <charconv>
#include <filesystem>
#include <iostream>
#include <map>

#include "api/duration.h"
#include "controller/api_server.h"
#include "controller/compactor.h"
#include "controller/http_server.h"
#include "controller/instrumented_store.h"
#include "controller/job_controller.h"
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
  std::map<std::string, std::string*> strings = {
      {"--listen", &f.listen},         {"--data-dir", &f.data_dir},
      {"--store", &f.store},           {"--auth-token-file", &f.auth_token_file},
      {"--tls-cert", &f.tls_cert},     {"--tls-key", &f.tls_key},
      {"--log-format", &f.log_format}, {"--log-level", &f.log_level},
      {"--manifests", &f.manifests}};
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
    } else if (name == "--resync" || name == "--manifests-interval") {
      Result<std::string> v = take();
      if (!v.ok()) return v.status();
      Result<Duration> d = ParseDuration(*v);
      if (!d.ok() || d->nanoseconds() <= 0) {
        return InvalidError(name + ": expected a positive duration such as 30s, got \"" + *v +
                            "\"");
      }
      (name == "--resync" ? f.resync : f.manifests_interval) = *d;
    } else if (name == "--heartbeat-interval" || name == "--node-lost-after") {
      Result<std::string> v = take();
      if (!v.ok()) return v.status();
      Result<Duration> d = ParseDuration(*v);
      if (!d.ok() || d->nanoseconds() <= 0) {
        return InvalidError(name + ": expected a positive duration such as 5s, got \"" + *v + "\"");
      }
      (name == "--heartbeat-interval" ? f.heartbeat_interval : f.node_lost_after) = *d;
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
  } else if (flags.store.rfind("etcd://", 0) == 0) {
    Result<store::EtcdStoreOptions> options = store::ParseEtcdUrl(flags.store);
    if (!options.ok()) {
      err << "drover controller: --store: " << options.status().message() << "\n";
      return 2;
    }
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
  Status loaded = nodes.Load();
  if (!loaded.ok()) {
    err << "drover controller: loading nodes: " << loaded.message() << "\n";
    return 1;
  }
  JobService jobs(store, RealClock(), nodes,
                  {static_cast<int>(std::min<int64_t>(flags.history_limit, 100000)), 1000});
  LogStore logs(RealClock());  // in memory only: see docs/logs.md
  ApiServer api(jobs, nodes, logs, metrics, tokens.get(),
                {DROVER_VERSION, std::chrono::milliseconds(60'000)});
  JobControllerOptions loop;
  loop.workers = static_cast<int>(flags.workers);
  loop.resync = ToMillis(flags.resync);
  loop.startup_grace = 2 * ToMillis(flags.heartbeat_interval);
  JobController controller(store, RealClock(), nodes, &metrics, loop);
  Status started = controller.Start();
  if (!started.ok()) {
    err << "drover controller: starting the control loop: " << started.message() << "\n";
    return 1;
  }
  api.SetController(&controller);

  // The --manifests folder's sync (docs/gitops.md): stopped before what it uses (the job
  // service, the store) and destroyed after the HTTP server whose route reads it.
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

  HttpServerOptions http;
  http.host = address->first;
  http.port = address->second;
  http.tls_cert = flags.tls_cert;
  http.tls_key = flags.tls_key;
  http.max_body_bytes = static_cast<size_t>(flags.max_body_bytes);
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      http,
      [&api](HttpRequest r, Responder respond) { api.Handle(std::move(r), std::move(respond)); });
  if (!server.ok()) {
    err << "drover controller: " << server.status().message() << "\n";
    return 1;
  }
  Compactor compactor(*backend, {}, [&flags, &err](const Status& s) {
    Log(flags, err, "warn", "store compaction failed: " + s.message());
  });
  metrics.SetLeader(true);
  api.SetReady(true);
  Log(flags, err, "info",
      std::string("drover controller ") + DROVER_VERSION + " listening on " +
          (flags.tls_cert.empty() ? "http://" : "https://") + flags.listen + " (store " +
          flags.store + (flags.store == "sqlite" ? " in " + flags.data_dir : "") + ", auth " +
          (tokens ? "on" : "off") + ")");
  if (manifest_sync) manifest_sync->Start();

  std::string reason;
  if (wait_for_stop) {
    reason = wait_for_stop();
  } else {
    int received = 0;
    sigwait(&signals, &received);
    reason = received == SIGINT ? "SIGINT" : "SIGTERM";
  }
  Log(flags, err, "info", "received " + reason + ", shutting down");
  // In this order: no new requests; parked long polls answered while the API and their HTTP
  // sessions still exist; the control loop stopped; then the server (and every session) gone
  // before the objects its handlers use.
  api.SetReady(false);
  (*server)->Stop();
  if (manifest_sync) manifest_sync->Stop();
  nodes.Shutdown();
  controller.Stop();
  (*server).reset();
  return 0;
}

}  // namespace drover::controller
