// Test helper: a real etcd cluster of N members (Debian's etcd-server) on free loopback ports,
// each with a temporary data dir (on /dev/shm when there is one), for the tests of several
// controller replicas under failures. Members can be killed with SIGKILL and started again on
// their ports and data. Only for tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/etcd_process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover::testing {

class EtcdCluster {
 public:
  explicit EtcdCluster(int members) {
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                     ? "/dev/shm"
                                     : std::filesystem::temp_directory_path();
    dir_ = base / ("drover-etcd-cluster-" + std::to_string(getpid()) + "-" +
                   std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i);
      do {
        m.client_port = FreePort();
        m.peer_port = FreePort();
      } while (m.client_port == m.peer_port || Taken(m.client_port) || Taken(m.peer_port));
      members_.push_back(m);
    }
  }
  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) Kill(i);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts every member and waits up to 30 s until each answers /health with a leader. An error
  // message, or "" when the cluster is up.
  std::string Start() {
    if (!std::filesystem::exists(kEtcdBinary)) {
      return std::string(kEtcdBinary) + " is missing: run scripts/setup.sh (Debian's etcd-server)";
    }
    for (size_t i = 0; i < members_.size(); ++i) Spawn(i, /*existing=*/false);
    for (size_t i = 0; i < members_.size(); ++i) {
      if (std::string error = WaitHealthy(i); !error.empty()) return error;
    }
    return "";
  }

  // SIGKILL one member (its data stays, for StartMember).
  void Kill(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    kill(m.pid, SIGKILL);
    int status = 0;
    waitpid(m.pid, &status, 0);
    m.pid = -1;
  }

  std::string StartMember(size_t i) {
    Spawn(i, /*existing=*/true);
    return WaitHealthy(i);
  }

  size_t size() const { return members_.size(); }
  std::string endpoint(size_t i) const {
    return "127.0.0.1:" + std::to_string(members_[i].client_port);
  }
  int client_port(size_t i) const { return members_[i].client_port; }
  // "etcd://a,b,c", in member order.
  std::string url() const {
    std::string out = "etcd://";
    for (size_t i = 0; i < members_.size(); ++i) out += (i ? "," : "") + endpoint(i);
    return out;
  }
  std::string log(size_t i) const { return ReadAll(dir_ / (members_[i].name + ".log")); }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  bool Taken(int port) const {
    for (const Member& m : members_) {
      if (m.client_port == port || m.peer_port == port) return true;
    }
    return false;
  }

  void Spawn(size_t i, bool existing) {
    Member& m = members_[i];
    std::string cluster;
    for (const Member& other : members_) {
      if (!cluster.empty()) cluster += ",";
      cluster += other.name + "=http://127.0.0.1:" + std::to_string(other.peer_port);
    }
    std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
    std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> args = {
        kEtcdBinary, "--name=" + m.name, "--data-dir=" + (dir_ / (m.name + ".data")).string(),
        "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=" + cluster,
        "--initial-cluster-token=drover-test-" + std::to_string(getpid()),
        std::string("--initial-cluster-state=") + (existing ? "existing" : "new"),
        "--max-txn-ops=100000",
        // Short timeouts: a lost member is noticed and a new raft leader elected in about a
        // second, on a loaded 2-core machine too.
        "--heartbeat-interval=50", "--election-timeout=500", "--logger=zap", "--log-level=error"};
    m.pid = SpawnLogged(args, (dir_ / (m.name + ".log")).string());
  }

  std::string WaitHealthy(size_t i) {
    Member& m = members_[i];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(m.pid, &status, WNOHANG) == m.pid) {
        m.pid = -1;
        return "etcd member " + m.name + " exited at start: " + log(i);
      }
      HttpReply reply = Http(m.client_port, "GET", "/health");
      if (reply.status == 200 && reply.body.find("true") != std::string::npos) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "etcd member " + m.name + " did not become healthy in 30 s: " + log(i);
  }

  std::filesystem::path dir_;
  std::vector<Member> members_;
};

}  // namespace drover::testing
