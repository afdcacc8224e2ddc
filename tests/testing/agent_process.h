// Test helper: the real `drover agent` binary started against a controller with a data dir of
// its own, stopped with SIGTERM or killed with SIGKILL by the test, and started again on the
// same data dir. Only for tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/testing/run_process.h"

namespace drover::testing {

class AgentProcess {
 public:
  AgentProcess(std::string server, std::string node_id, std::vector<std::string> extra_args)
      : server_(std::move(server)),
        node_id_(std::move(node_id)),
        extra_args_(std::move(extra_args)) {
    data_dir_ = MakeTempDir("drover-agent-" + node_id_);
  }
  ~AgentProcess() {
    Kill();
    std::filesystem::remove_all(data_dir_);
  }

  void Start() {
    log_path_ = data_dir_.string() + ".log";
    std::vector<std::string> args = {DROVER_BINARY,  "agent",  "--server",   server_,
                                     "--node-id",    node_id_, "--data-dir", data_dir_.string(),
                                     "--stop-grace", "2s"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    pid_ = SpawnLogged(args, log_path_);
  }
  int Stop() { return End(SIGTERM); }
  int Kill() { return End(SIGKILL); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& node_id() const { return node_id_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::string log() const { return ReadAll(log_path_); }

 private:
  int End(int signal) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string server_;
  std::string node_id_;
  std::vector<std::string> extra_args_;
  std::filesystem::path data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace drover::testing
