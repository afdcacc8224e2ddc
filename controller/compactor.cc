#include "controller/compactor.h"

namespace drover::controller {

Compactor::Compactor(store::Store& store, CompactorOptions options,
                     std::function<void(const Status&)> on_error)
    : store_(store),
      options_(options),
      on_error_(std::move(on_error)),
      thread_([this] { Loop(); }) {}

Compactor::~Compactor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<int64_t> Compactor::CompactOnce() {
  int64_t target = store_.CurrentRevision() - options_.keep_revisions;
  if (target <= store_.CompactedRevision()) return int64_t{0};
  Status s = store_.Compact(target);
  if (!s.ok()) return s;
  return target;
}

void Compactor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) break;
    lock.unlock();
    Result<int64_t> r = CompactOnce();
    if (!r.ok() && on_error_) on_error_(r.status());
    lock.lock();
  }
}

}  // namespace drover::controller
