// Benchmark helper: the store a benchmark runs Drover against, named as on the command line
// ("sqlite", "memory", "etcd" for a fresh etcd started here, "etcd://host:port,..." for an
// existing cluster), and the etcd server the benchmark may start for it: one member of a real
// etcd (Debian's /usr/bin/etcd) on free loopback ports, with a fresh data dir (on /dev/shm by
// default) and exactly the flags the benchmark passes, killed with SIGKILL and its data dir
// removed when the object is destroyed. Only for benchmarks; not thread-safe.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover::bench {

struct EtcdServerOptions {
  std::string binary = "/usr/bin/etcd";
  // Where the temporary data dir is made. tmpfs by default: etcd's fsync then costs nothing,
  // so use a disk folder (e.g. /var/tmp) to compare with SQLite on disk.
  std::filesystem::path data_parent = "/dev/shm";
  // Flags added after the ones that put the member on loopback, passed as they are (e.g.
  // "--max-txn-ops=100000"); none by default, so every limit is etcd's own default.
  std::vector<std::string> flags;
};

// "a,b,,c" -> {"a", "b", "c"}.
inline std::vector<std::string> SplitList(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, separator);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The etcd options a benchmark takes on its command line. True when `flag` is one of them (its
// value then read with `value`).
inline constexpr const char* kEtcdUsage =
    "[--etcd PATH] [--etcd-flags \"--max-txn-ops=N ...\"] [--etcd-data-parent DIR]";
inline bool ParseEtcdOption(const std::string& flag, const std::function<std::string()>& value,
                            EtcdServerOptions* options) {
  if (flag == "--etcd") {
    options->binary = value();
  } else if (flag == "--etcd-flags") {
    options->flags = SplitList(value(), ' ');
  } else if (flag == "--etcd-data-parent") {
    options->data_parent = value();
  } else {
    return false;
  }
  return true;
}

class EtcdServer {
 public:
  // Starts the member and waits up to 15 s for /health. A start that exits at once (another
  // process took a free port first, say) is retried on new ports, twice.
  static Result<std::unique_ptr<EtcdServer>> Start(const EtcdServerOptions& options) {
    if (access(options.binary.c_str(), X_OK) != 0) {
      return Status(StatusCode::kInvalid,
                    options.binary + " is not an executable etcd (scripts/setup.sh installs it)");
    }
    std::string pattern = (options.data_parent / "drover-bench-etcd-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status(StatusCode::kInternal, "cannot make a data dir under " +
                                               options.data_parent.string() + ": " +
                                               std::strerror(errno));
    }
    std::unique_ptr<EtcdServer> server(new EtcdServer(pattern));
    std::string error;
    for (int attempt = 0; attempt < 3; ++attempt) {
      error = server->StartOnce(options);
      if (error.empty()) return server;
      if (server->pid_ > 0) break;  // running but never healthy: no point in new ports
    }
    return Status(StatusCode::kUnavailable, error);
  }

  ~EtcdServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  pid_t pid() const { return pid_; }
  // The controller's --store value.
  std::string url() const { return "etcd://127.0.0.1:" + std::to_string(client_port_); }
  // The command line it runs, for reports.
  const std::vector<std::string>& command() const { return command_; }
  std::string log() const { return testing::ReadAll(dir_ / "etcd.log"); }
  // Bytes in the data dir (the bbolt file and the WAL), e.g. to show what a run stored.
  uintmax_t DataBytes() const {
    uintmax_t total = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "data", ec)) {
      if (entry.is_regular_file(ec)) total += entry.file_size(ec);
    }
    return total;
  }

 private:
  explicit EtcdServer(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // "" when the member answers /health; otherwise why not.
  std::string StartOnce(const EtcdServerOptions& options) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_ / "data", ignored);  // what a failed start left
    client_port_ = testing::FreePort();
    int peer_port = client_port_;
    while (peer_port == client_port_) peer_port = testing::FreePort();
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port);
    command_ = {options.binary,
                "--name=bench",
                "--data-dir=" + (dir_ / "data").string(),
                "--listen-client-urls=" + client,
                "--advertise-client-urls=" + client,
                "--listen-peer-urls=" + peer,
                "--initial-advertise-peer-urls=" + peer,
                "--initial-cluster=bench=" + peer,
                "--logger=zap",
                "--log-level=warn"};
    command_.insert(command_.end(), options.flags.begin(), options.flags.end());
    pid_ = testing::SpawnLogged(command_, (dir_ / "etcd.log").string());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "etcd exited at start: " + log();
      }
      testing::HttpReply health = testing::Http(client_port_, "GET", "/health");
      if (health.status == 200 && health.body.find("true") != std::string::npos) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "etcd did not become healthy in 15 s: " + log();
  }

  std::filesystem::path dir_;
  std::vector<std::string> command_;
  int client_port_ = 0;
  pid_t pid_ = -1;
};

// The store one run of a benchmark uses, by name: "sqlite" and "memory" are the controller's
// own; "etcd" starts a fresh EtcdServer for this run (so every run starts from an empty store
// at revision 0); "etcd://..." is an existing cluster, used as it is.
class BenchStore {
 public:
  static Result<BenchStore> Open(const std::string& name, const EtcdServerOptions& etcd) {
    BenchStore store;
    store.name_ = name;
    store.flag_ = name;
    if (name == "etcd") {
      Result<std::unique_ptr<EtcdServer>> started = EtcdServer::Start(etcd);
      if (!started.ok()) return started.status();
      store.etcd_ = std::move(started).value();
      store.flag_ = store.etcd_->url();
    } else if (name != "sqlite" && name != "memory" && name.rfind("etcd://", 0) != 0) {
      return Status(StatusCode::kInvalid,
                    "unknown store " + name + " (sqlite, memory, etcd or etcd://host:port,...)");
    }
    return store;
  }

  // As given on the command line, to label results.
  const std::string& name() const { return name_; }
  // The controller's --store value.
  const std::string& flag() const { return flag_; }
  // The etcd this run started, or null.
  const EtcdServer* etcd() const { return etcd_.get(); }
  pid_t etcd_pid() const { return etcd_ ? etcd_->pid() : -1; }
  // One line for the report: the --store value and, for a started etcd, its command line.
  std::string Describe() const {
    if (!etcd_) return "--store " + flag_;
    std::string line = "--store " + flag_ + " (etcd pid " + std::to_string(etcd_->pid()) + ":";
    for (const std::string& word : etcd_->command()) {
      if (word.rfind("--listen", 0) != 0 && word.rfind("--advertise", 0) != 0 &&
          word.rfind("--initial", 0) != 0) {
        line += " " + word;
      }
    }
    return line + ")";
  }

 private:
  BenchStore() = default;
  std::string name_;
  std::string flag_;
  std::unique_ptr<EtcdServer> etcd_;
};

}  // namespace drover::bench
