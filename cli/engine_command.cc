// `drover engine`: one pipeline or query config run in this process by pipeline::Engine — what
// the agent starts as a child process for each pipeline or query execution. Flags in; the
// `stdout` output's lines on stdout; `log` lines and errors on stderr; the counts in a stats file
// every 200 ms; a query's results in a results file at the end. SIGINT and SIGTERM stop it
// cleanly (exit 0).
#include <signal.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "api/document.h"
#include "cli/commands.h"
#include "pipeline/engine.h"
#include "pipeline/files.h"

namespace drover::cli {
namespace {

constexpr const char* kEngineUsage =
    "Usage: drover engine --config FILE [flags]\n"
    "\n"
    "Runs one pipeline or query config (the job's `config` object, as JSON) in this process:\n"
    "the `stdout` output on stdout, `log` processor lines and errors on stderr.\n"
    "\n"
    "Flags:\n"
    "  --config FILE              the config to run (required)\n"
    "  --query                    query mode: read every input to its end, then finish\n"
    "  --state-dir DIR            where the file input keeps its offsets across restarts\n"
    "  --stats FILE               write {\"processed\":N,\"errors\":M} every 200 ms and at exit\n"
    "  --results FILE             query results at exit: {\"results\":[...],\"truncated\":bool}\n"
    "  --results-limit BYTES      stop adding results beyond this many bytes (default 1048576)\n"
    "  --read-root DIR            file paths must lie under DIR\n"
    "  --allow-listen             let the http_server input listen\n"
    "\n"
    "Exit: 0 when the inputs ended or on SIGINT/SIGTERM, 1 when the run failed, 2 on a usage\n"
    "error or an invalid config.\n";

constexpr auto kStatsInterval = std::chrono::milliseconds(200);

struct EngineFlags {
  std::string config;
  bool query = false;
  std::string state_dir;
  std::string stats;
  std::string results;
  size_t results_limit = 1 << 20;
  std::string read_root;
  bool allow_listen = false;
};

Result<EngineFlags> ParseEngineFlags(const std::vector<std::string>& args, bool* help) {
  EngineFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "-h" || name == "--help") {
      *help = true;
      return flags;
    }
    if (name == "--query" || name == "--allow-listen") {
      if (inline_value) return InvalidError(name + " takes no value");
      (name == "--query" ? flags.query : flags.allow_listen) = true;
      continue;
    }
    std::string* target = nullptr;
    if (name == "--config") target = &flags.config;
    if (name == "--state-dir") target = &flags.state_dir;
    if (name == "--stats") target = &flags.stats;
    if (name == "--results") target = &flags.results;
    if (name == "--read-root") target = &flags.read_root;
    std::string limit;
    if (name == "--results-limit") target = &limit;
    if (target == nullptr) return InvalidError("unknown flag " + name);
    if (!inline_value && i + 1 >= args.size()) return InvalidError(name + " needs a value");
    *target = inline_value ? *inline_value : args[++i];
    if (target->empty()) return InvalidError(name + " must not be empty");
    if (target == &limit) {
      auto [end, error] =
          std::from_chars(limit.data(), limit.data() + limit.size(), flags.results_limit);
      if (error != std::errc() || end != limit.data() + limit.size()) {
        return InvalidError("--results-limit: expected a number of bytes, got \"" + limit + "\"");
      }
    }
  }
  if (flags.config.empty()) return InvalidError("--config FILE is required");
  return flags;
}

// A query's results: each output message, as JSON when it parses, else as a string, until
// their bytes exceed the limit.
class ResultCollector {
 public:
  explicit ResultCollector(size_t limit) : limit_(limit) {}

  void Add(const bloblang::Message& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (truncated_) return;
    if (bytes_ + message.content.size() > limit_) {
      truncated_ = true;
      return;
    }
    bytes_ += message.content.size();
    nlohmann::json parsed =
        nlohmann::json::parse(message.content, nullptr, /*allow_exceptions=*/false);
    results_.push_back(parsed.is_discarded() ? nlohmann::json(message.content) : parsed);
  }

  std::string Render() const {
    std::lock_guard<std::mutex> lock(mutex_);
    nlohmann::json document = {{"results", results_}, {"truncated", truncated_}};
    return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

 private:
  mutable std::mutex mutex_;
  size_t limit_;
  size_t bytes_ = 0;
  bool truncated_ = false;
  nlohmann::json results_ = nlohmann::json::array();
};

Result<nlohmann::json> ReadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidError("--config " + path + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  Result<Document> parsed = ParseJson(text.str());
  if (!parsed.ok()) return InvalidError(path + ": " + parsed.status().message());
  return std::move(parsed->value);
}

}  // namespace

int RunEngine(const std::vector<std::string>& args, Streams s) {
  bool help = false;
  Result<EngineFlags> parsed = ParseEngineFlags(args, &help);
  if (help) {
    s.out << kEngineUsage;
    return kExitOk;
  }
  if (!parsed.ok()) {
    s.err << "drover engine: " << parsed.status().message()
          << "\n(run 'drover engine --help' for the flags)\n";
    return kExitUsage;
  }
  const EngineFlags& flags = *parsed;
  Result<nlohmann::json> config = ReadConfig(flags.config);
  if (!config.ok()) {
    s.err << "drover engine: " << config.status().message() << "\n";
    return kExitUsage;
  }

  // Signals are taken synchronously by this thread; block them before any engine thread starts
  // (threads inherit the mask). They stay blocked after the stop, so that a second SIGTERM
  // cannot turn a clean stop into a kill.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::mutex err_mutex;
  ResultCollector results(flags.results_limit);
  pipeline::EngineOptions options;
  options.query = flags.query;
  options.state_dir = flags.state_dir;
  options.read_root = flags.read_root;
  options.allow_listen = flags.allow_listen;
  options.log_sink = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(err_mutex);
    s.err << line << '\n';
    s.err.flush();
  };
  // The process stdout is written directly, a batch at a time; another stream line by line.
  if (&s.out != &std::cout)
    options.stdout_sink = [&](std::string_view line) { s.out << line << '\n'; };
  if (!flags.results.empty()) {
    options.result_sink = [&](const bloblang::Message& m) { results.Add(m); };
  }
  Result<std::unique_ptr<pipeline::Engine>> created =
      pipeline::Engine::Create(*config, std::move(options));
  if (!created.ok()) {
    s.err << "drover engine: " << created.status().message() << "\n";
    return kExitUsage;
  }
  pipeline::Engine& engine = **created;

  bool stats_failed = false;
  auto write_stats = [&] {
    if (flags.stats.empty()) return;
    pipeline::Counts counts = engine.counts();
    nlohmann::ordered_json stats = {{"processed", counts.processed}, {"errors", counts.errors}};
    Status written = pipeline::WriteFileAtomically(flags.stats, stats.dump());
    if (!written.ok() && !stats_failed) {
      stats_failed = true;  // said once, not five times a second
      std::lock_guard<std::mutex> lock(err_mutex);
      s.err << "drover engine: --stats: " << written.message() << "\n";
    }
  };

  Status status;
  std::atomic<bool> finished{false};
  std::thread runner([&] {
    status = engine.Run();
    finished.store(true);
  });
  auto next_stats = std::chrono::steady_clock::now();
  while (!finished.load()) {
    if (std::chrono::steady_clock::now() >= next_stats) {
      write_stats();
      next_stats += kStatsInterval;
    }
    timespec tick{0, 20'000'000};  // 20 ms: how soon the end of the run is noticed
    int received = sigtimedwait(&signals, nullptr, &tick);
    if (received == SIGINT || received == SIGTERM) engine.RequestStop();
  }
  runner.join();
  write_stats();
  if (!flags.results.empty()) {
    Status written = pipeline::WriteFileAtomically(flags.results, results.Render());
    if (!written.ok()) {
      s.err << "drover engine: --results: " << written.message() << "\n";
      return kExitFailure;
    }
  }
  if (!status.ok()) {
    s.err << "drover engine: " << status.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace drover::cli
