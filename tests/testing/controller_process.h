// Test helper: the real `drover controller` binary started on a free loopback port with a
// temporary data dir, waited for until /healthz answers, and stopped with SIGTERM (or killed
// with SIGKILL) by the test. Only for tests and benchmarks.
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

class ControllerProcess {
 public:
  // `data_dir` empty: a fresh temporary one (removed by the destructor).
  explicit ControllerProcess(std::vector<std::string> extra_args = {}, std::string data_dir = {})
      : extra_args_(std::move(extra_args)) {
    if (data_dir.empty()) {
      data_dir_ = MakeTempDir("drover-controller");
      owns_dir_ = true;
    } else {
      data_dir_ = data_dir;
    }
  }
  ~ControllerProcess() {
    Kill();
    if (owns_dir_) std::filesystem::remove_all(data_dir_);
  }

  // Starts the process (on a new free port unless `keep_port`) and waits up to 15 s for
  // /healthz. False when it exited or never answered; `log()` then says why.
  bool Start(bool keep_port = false) {
    if (!keep_port || port_ == 0) port_ = FreePort();
    log_path_ = data_dir_.string() + ".log";
    std::vector<std::string> args = {DROVER_BINARY, "controller",
                                     "--listen",    "127.0.0.1:" + std::to_string(port_),
                                     "--data-dir",  data_dir_.string()};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    pid_ = SpawnLogged(args, log_path_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return false;
      }
      if (Http(port_, "GET", "/healthz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Waits up to `limit` for /readyz to answer 200 (on etcd: until this replica leads or knows
  // the leader). False when it did not.
  bool WaitReady(std::chrono::milliseconds limit = std::chrono::seconds(30)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Http(port_, "GET", "/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // SIGTERM and wait; returns the exit code.
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGSTOP / SIGCONT: a replica that hangs (or is partitioned) without closing anything.
  void Pause() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  // True once the process has exited by itself (reaped here; exit_code() then says how).
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return true;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  int exit_code() const { return exit_code_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::string log() const { return ReadAll(log_path_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  HttpReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::map<std::string, std::string>& headers = {}) const {
    return Http(port_, method, path, body, headers);
  }

 private:
  std::vector<std::string> extra_args_;
  std::filesystem::path data_dir_;
  bool owns_dir_ = false;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace drover::testing
