#include "agent/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace drover::agent {
namespace {

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// /proc/PID/stat: "pid (comm) state ppid pgrp ... starttime(22)". comm may hold spaces and
// parentheses, so fields are counted after the last ')'.
struct ProcStat {
  pid_t pgrp = 0;
  uint64_t start_time = 0;
};

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  ProcStat stat;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 5) stat.pgrp = static_cast<pid_t>(std::strtol(field.c_str(), nullptr, 10));
    if (i == 22) {
      stat.start_time = std::strtoull(field.c_str(), nullptr, 10);
      return stat;
    }
  }
  return std::nullopt;
}

// The program's path: argv[0] itself when it holds a '/', else the first executable match in
// the child's PATH (searched here, before fork, where allocating is safe).
Result<std::string> FindProgram(const std::string& name,
                                const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) {
      return InvalidError("cannot run " + name + ": " + strerror(errno));
    }
    return name;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (auto it = env.find("PATH"); it != env.end()) path = it->second;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return InvalidError("cannot run " + name + ": not found in PATH (" + path + ")");
}

}  // namespace

Result<ChildProcess> ChildProcess::Spawn(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv[0].empty()) {
    return InvalidError("no command to run");
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (const std::string& a : request.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : request.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  Result<std::string> program = FindProgram(request.argv[0], request.env);
  if (!program.ok()) return program.status();

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return InternalError(std::string("pipe: ") + strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    return InternalError(std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the agent died before the line above
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    // A program that cannot be executed exits 127 with the reason on stderr, as a shell does.
    if (!request.working_dir.empty() && ::chdir(request.working_dir.c_str()) != 0) {
      const char msg[] = "drover-agent: cannot enter the working directory\n";
      [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
      ::_exit(127);
    }
    ::execve(program->c_str(), argv.data(), envp.data());
    const char msg[] = "drover-agent: exec failed\n";
    [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::setpgid(pid, pid);  // also from the parent, so that Signal() works at once
  SetNonBlocking(out[0]);
  SetNonBlocking(err[0]);
  ChildProcess child;
  child.pid_ = pid;
  child.out_fd_ = out[0];
  child.err_fd_ = err[0];
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    this->~ChildProcess();
    pid_ = std::exchange(other.pid_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    err_fd_ = std::exchange(other.err_fd_, -1);
    exit_code_ = std::exchange(other.exit_code_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    Signal(SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  CloseFds();
  pid_ = -1;
}

void ChildProcess::CloseFds() {
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  out_fd_ = err_fd_ = -1;
}

bool ChildProcess::Read(int fd, std::string* into) {
  if (fd < 0) return false;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      into->append(buffer, static_cast<size_t>(n));
      if (into->size() > (1u << 20)) return true;  // let the caller drain in pieces
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    // end of file or a hard error: the stream is over
    ::close(fd);
    if (fd == out_fd_) out_fd_ = -1;
    if (fd == err_fd_) err_fd_ = -1;
    return false;
  }
}

void ChildProcess::Signal(int signal) const {
  if (pid_ > 0) ::kill(-pid_, signal);
}

std::optional<int> ChildProcess::Poll() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    // whatever the workload left running in its group ends with it: no orphans
    ::kill(-pid_, SIGKILL);
  }
  return exit_code_;
}

std::optional<uint64_t> ChildProcess::StartTime(pid_t pid) {
  std::optional<ProcStat> stat = ReadProcStat(pid);
  if (!stat) return std::nullopt;
  return stat->start_time;
}

bool KillLeftoverGroup(pid_t pid, uint64_t start_time) {
  if (pid <= 1) return false;
  std::optional<ProcStat> leader = ReadProcStat(pid);
  if (leader) {
    if (leader->start_time != start_time) return false;  // the pid was reused
    return ::kill(-pid, SIGKILL) == 0;
  }
  // The leader is gone; a pid stays reserved while a group of that id exists, so any process
  // still in group `pid` belongs to the recorded workload.
  bool found = false;
  if (DIR* proc = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(proc)) {
      pid_t other = static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10));
      if (other <= 0) continue;
      std::optional<ProcStat> s = ReadProcStat(other);
      if (s && s->pgrp == pid && s->start_time >= start_time) found = true;
    }
    ::closedir(proc);
  }
  return found && ::kill(-pid, SIGKILL) == 0;
}

}  // namespace drover::agent
