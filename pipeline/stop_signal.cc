#include "pipeline/stop_signal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace drover::pipeline {

StopSignal::StopSignal() : event_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

StopSignal::~StopSignal() {
  if (event_fd_ >= 0) close(event_fd_);
}

void StopSignal::Request() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (requested_.exchange(true, std::memory_order_acq_rel)) return;
    callbacks.swap(callbacks_);
  }
  changed_.notify_all();
  for (const std::function<void()>& callback : callbacks) callback();
  if (event_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
  }
}

void StopSignal::OnRequest(std::function<void()> callback) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!requested()) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

bool StopSignal::WaitFor(std::chrono::nanoseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return requested(); });
}

}  // namespace drover::pipeline
