// Test helper: a WatchCallback that records every batch and the final status, with bounded waits
// (condition variables, a few seconds) for the dispatcher to deliver. Thread-safe; it must outlive
// the WatchHandle it feeds.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "store/store.h"

namespace drover::store::testing {

inline constexpr std::chrono::seconds kDeliveryTimeout{5};

class WatchRecorder {
 public:
  // `on_batch`, if set, runs inside the callback before the batch is recorded (without the
  // recorder's lock held), e.g. to call back into the store; waits see a batch once it is done.
  explicit WatchRecorder(std::function<void(const std::vector<Event>&)> on_batch = nullptr)
      : on_batch_(std::move(on_batch)) {}

  WatchCallback Callback() {
    return [this](const std::vector<Event>& events, const Status& status) {
      if (status.ok() && on_batch_) on_batch_(events);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (final_status_) ++calls_after_final_;
        if (!status.ok()) {
          final_status_ = status;
        } else {
          batches_.push_back(events);
          event_count_ += events.size();
        }
      }
      changed_.notify_all();
    };
  }

  // True once at least `count` events arrived (false after the timeout).
  bool WaitForEvents(size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeliveryTimeout, [&] {
      return event_count_ >= count || final_status_.has_value();
    }) && event_count_ >= count;
  }

  // True once the watch ended with a status.
  bool WaitForFinalStatus() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeliveryTimeout, [&] { return final_status_.has_value(); });
  }

  // True once a batch of `revision` (or a later one) arrived.
  bool WaitForRevision(int64_t revision) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeliveryTimeout,
                             [&] {
                               return final_status_.has_value() ||
                                      (!batches_.empty() && Revision(batches_.back()) >= revision);
                             }) &&
           !batches_.empty() && Revision(batches_.back()) >= revision;
  }

  std::vector<std::vector<Event>> batches() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches_;
  }
  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Event> all;
    for (const auto& batch : batches_) all.insert(all.end(), batch.begin(), batch.end());
    return all;
  }
  std::vector<int64_t> revisions() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int64_t> out;
    for (const auto& batch : batches_) out.push_back(Revision(batch));
    return out;
  }
  size_t event_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return event_count_;
  }
  std::optional<Status> final_status() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return final_status_;
  }
  int calls_after_final() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_after_final_;
  }

  // The revision of a batch: every event of it carries it as mod_revision.
  static int64_t Revision(const std::vector<Event>& batch) {
    return batch.empty() ? -1 : batch.front().kv.mod_revision;
  }

 private:
  std::function<void(const std::vector<Event>&)> on_batch_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::vector<Event>> batches_;
  size_t event_count_ = 0;
  std::optional<Status> final_status_;
  int calls_after_final_ = 0;
};

// A gate for WatchRecorder's `on_batch`: while closed, a callback waits in it (at most 10 s), so
// that a test can hold the dispatcher and make a watch fall behind. Thread-safe.
class CallbackGate {
 public:
  std::function<void(const std::vector<Event>&)> OnBatch() {
    return [this](const std::vector<Event>&) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (open_) return;
      held_ = true;
      changed_.notify_all();
      changed_.wait_for(lock, std::chrono::seconds(10), [&] { return open_; });
    };
  }
  // Closes the gate: the next callback waits in it.
  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
    held_ = false;
  }
  // True once a callback waits in the closed gate.
  bool WaitUntilHeld() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return held_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  bool held_ = false;
};

}  // namespace drover::store::testing
