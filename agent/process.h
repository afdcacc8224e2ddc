// Child processes of the agent: every workload (a command, a `drover engine` pipeline, an
// on_change hook) runs as one, in a process group of its own, with stdout and stderr on pipes
// that the agent reads into the execution's logs. Children die with the agent: the group leader
// at once (SIGKILL through PR_SET_PDEATHSIG, which does not reach its own children), the rest of a
// group left over from a crashed agent when the agent starts again; so an agent restart never
// leaves an orphan or a duplicate behind.
//
// Not thread-safe: a ChildProcess belongs to the agent's supervision thread, which must also be
// the thread that spawned it (the death signal follows the spawning thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/status.h"

namespace drover::agent {

struct SpawnRequest {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH when it has no '/'
  std::map<std::string, std::string> env;  // the whole environment of the child
  std::string working_dir;                 // empty: the agent's
};

class ChildProcess {
 public:
  // Starts the process. Fails (kInvalid) when the program cannot be executed, with the reason.
  static Result<ChildProcess> Spawn(const SpawnRequest& request);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // kills the group and reaps if still running

  pid_t pid() const { return pid_; }
  // The pipes' read ends (non-blocking), -1 once closed. Read() drains one of them.
  int stdout_fd() const { return out_fd_; }
  int stderr_fd() const { return err_fd_; }
  // Appends what is available on `fd` to `into`; closes the fd at end of file. Returns false
  // when the fd is closed.
  bool Read(int fd, std::string* into);

  // Sends `signal` to the whole process group.
  void Signal(int signal) const;
  // Reaps without blocking: the exit code (or 128 + signal) once the process has exited.
  std::optional<int> Poll();
  bool exited() const { return exit_code_.has_value(); }

  // The kernel's start time of a process (clock ticks since boot, /proc/PID/stat field 22), to
  // recognise a recorded pid after an agent restart; nullopt when no such process.
  static std::optional<uint64_t> StartTime(pid_t pid);

 private:
  ChildProcess() = default;
  void CloseFds();

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> exit_code_;
};

// Kills a process group left behind by an earlier run of the agent, if its leader is still the
// process recorded (same pid and start time). Returns true when it sent the signal.
bool KillLeftoverGroup(pid_t pid, uint64_t start_time);

}  // namespace drover::agent
