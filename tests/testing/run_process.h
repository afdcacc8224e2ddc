// Test helper: runs a command line through /bin/sh with stdout and stderr captured to files and
// optional standard input, and returns the exit code and both outputs. Only for tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace drover::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh empty folder under the system temp dir, removed by the caller (or left for debugging).
inline std::filesystem::path MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* made = mkdtemp(pattern.data());
  return made == nullptr ? std::filesystem::path() : std::filesystem::path(made);
}

// Starts `args` (args[0] a path) in the background with stdout and stderr appended to
// `log_path`; returns its pid (the caller waits for it).
inline pid_t SpawnLogged(std::vector<std::string> args, const std::string& log_path) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* log = std::fopen(log_path.c_str(), "a");
    if (log != nullptr) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

inline ProcessResult RunCommand(const std::string& command, const std::string& stdin_text = "") {
  std::filesystem::path dir = MakeTempDir("drover-run");
  std::ofstream(dir / "in", std::ios::binary) << stdin_text;
  std::string full = command + " <" + (dir / "in").string() + " >" + (dir / "out").string() +
                     " 2>" + (dir / "err").string();
  int status = std::system(full.c_str());
  ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(dir / "out");
  r.err = ReadAll(dir / "err");
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace drover::testing
