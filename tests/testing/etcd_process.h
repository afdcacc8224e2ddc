// Test helper: a real single-member etcd (Debian's etcd-server, /usr/bin/etcd) on free loopback
// ports with a temporary data dir (on /dev/shm when there is one, so fsync is cheap), waited for
// until /health answers, and killed with SIGKILL by the destructor. Start() fails with a message
// saying to run scripts/setup.sh when the binary is missing: tests must not skip silently.
// Only for tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover::testing {

inline constexpr const char* kEtcdBinary = "/usr/bin/etcd";

class EtcdProcess {
 public:
  EtcdProcess() {
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                     ? "/dev/shm"
                                     : std::filesystem::temp_directory_path();
    dir_ = base / ("drover-etcd-" + std::to_string(getpid()) + "-" + std::to_string(Sequence()++));
    std::filesystem::create_directories(dir_);
  }
  ~EtcdProcess() {
    Kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd (on the ports of the last start, if any, so a restart keeps its endpoint and its
  // data) and waits up to 15 s for /health. An error message, or "" when it is up.
  std::string Start() {
    if (!std::filesystem::exists(kEtcdBinary)) {
      return std::string(kEtcdBinary) +
             " is missing: the etcd store tests need a real etcd; run scripts/setup.sh (it "
             "installs Debian's etcd-server, as CI does)";
    }
    // A first start picks free ports; another process may take one before etcd binds it, so
    // a first start that exits at once tries new ports (a restart keeps its own).
    bool first = client_port_ == 0;
    std::string error;
    for (int attempt = 0; attempt < (first ? 3 : 1); ++attempt) {
      if (first) {
        client_port_ = 0;
        std::error_code ec;
        std::filesystem::remove_all(dir_ / "data", ec);  // what a failed start left
      }
      error = StartOnce();
      if (error.empty() || error.rfind("etcd exited", 0) != 0) return error;
    }
    return error;
  }

  // SIGKILL and wait (the data dir stays, for a restart).
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGSTOP / SIGCONT: an etcd that hangs without closing its connections.
  void Pause() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  int client_port() const { return client_port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  std::string url() const { return "etcd://" + endpoint(); }

 private:
  std::string StartOnce() {
    if (client_port_ == 0) {
      client_port_ = FreePort();
      do {
        peer_port_ = FreePort();
      } while (peer_port_ == client_port_);
    }
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {
        kEtcdBinary, "--name=default", "--data-dir=" + (dir_ / "data").string(),
        "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=default=" + peer, "--max-txn-ops=100000",
        // A lone member elects itself after one election timeout:
        // short ones make it ready in tens of milliseconds.
        "--heartbeat-interval=10", "--election-timeout=100", "--logger=zap", "--log-level=error"};
    pid_ = SpawnLogged(args, (dir_ / "etcd.log").string());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "etcd exited at start: " + ReadAll(dir_ / "etcd.log");
      }
      HttpReply reply = Http(client_port_, "GET", "/health");
      if (reply.status == 200 && reply.body.find("true") != std::string::npos) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "etcd did not become healthy in 15 s: " + ReadAll(dir_ / "etcd.log");
  }

  static int& Sequence() {
    static int sequence = 0;
    return sequence;
  }

  std::filesystem::path dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace drover::testing
