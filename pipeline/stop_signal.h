// StopSignal: the engine's "stop now" flag, shared by its inputs, processors and outputs. Once
// requested it stays requested. Waits on it are cut short by the request, and fd() becomes
// readable, so that a poll(2) on an input descriptor also wakes up. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

namespace drover::pipeline {

class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void Request();
  bool requested() const { return requested_.load(std::memory_order_acquire); }

  // Waits up to `timeout`; true when the stop was requested (before or during the wait).
  bool WaitFor(std::chrono::nanoseconds timeout) const;

  // An eventfd that becomes readable once the stop is requested (for poll).
  int fd() const { return event_fd_; }

  // Runs `callback` on the thread that requests the stop (at once if it was already requested),
  // e.g. to cancel a request in flight. Register before the engine runs.
  void OnRequest(std::function<void()> callback);

 private:
  std::atomic<bool> requested_{false};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int event_fd_ = -1;
  std::vector<std::function<void()>> callbacks_;  // guarded by mutex_
};

}  // namespace drover::pipeline
