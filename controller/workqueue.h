// WorkQueue: the controller's queue of job keys, with client-go's workqueue semantics (dedup, at
// most one worker per key, re-queue of a key re-added while it is processed, delayed adds,
// per-key exponential backoff max-combined with an overall token bucket) and SPEC §7's priority
// order. The controller owns one; informer handlers and workers share it by reference.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "controller/clock.h"

namespace drover::controller {

struct WorkQueueOptions {
  // Per-key exponential backoff of AddRateLimited: backoff_base * 2^failures, capped at
  // backoff_max (client-go's ItemExponentialFailureRateLimiter defaults).
  std::chrono::nanoseconds backoff_base = std::chrono::milliseconds(5);
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(1000);
  // Overall token bucket shared by all keys (client-go's DefaultControllerRateLimiter).
  double bucket_qps = 10;
  int bucket_burst = 100;
  // When true, one thread moves delayed keys into the queue when they fall due; it waits in real
  // steady time, so it only suits the real clock. Tests with a fake clock set it to false and
  // call PollTimers() after advancing the clock.
  bool timer_thread = true;
};

// How a key flows (as in client-go): Add makes it "dirty". A dirty key that is not being
// processed waits in the queue, once, however often it was added. Get hands the most urgent
// waiting key to one worker and marks it processing; an Add while it is processing only marks it
// dirty again, and Done puts it back in the queue. So a key is never processed by two workers at
// once, and a change that arrives during processing is never lost.
//
// Order: among waiting keys, higher priority first; within a priority, the order in which keys
// entered the queue. Adding a waiting key again with a higher priority raises its priority (it
// keeps its place among keys of that priority); a lower one changes nothing.
class WorkQueue {
 public:
  using Duration = std::chrono::nanoseconds;

  // A key handed to a worker by Get.
  struct Item {
    std::string key;
    int priority = 0;
    // Time from when the key became dirty (its first Add since it was last handed out) to Get:
    // drover_workqueue_queue_duration_seconds.
    double queued_seconds = 0;
  };

  // Totals for the controller's metrics, with client-go's meanings.
  struct Counters {
    // drover_workqueue_adds_total: Adds that made a key dirty (deduplicated Adds do not count).
    uint64_t adds_total = 0;
    // drover_workqueue_retries_total: AddAfter and AddRateLimited calls.
    uint64_t retries_total = 0;
    // drover_workqueue_depth: dirty keys, i.e. waiting ones plus those re-added while processing.
    int64_t depth = 0;
  };

  // `clock` must outlive the queue.
  explicit WorkQueue(const Clock& clock, WorkQueueOptions options = {});
  // Shuts down and joins the timer thread. Workers must have stopped calling the queue.
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Marks `key` dirty with `priority`; see the class comment. Ignored after ShutDown.
  void Add(const std::string& key, int priority = 0);

  // Adds `key` once `delay` has passed on the clock (at once if delay <= 0). A key waiting for
  // several delays fires once, at the earliest, with the highest priority given. A delayed add is
  // independent of the key's dirty/processing state: when it fires it is an ordinary Add.
  // Ignored after ShutDown; delays still pending at ShutDown never fire.
  void AddAfter(const std::string& key, Duration delay, int priority = 0);

  // AddAfter with the rate limiter's delay: max(per-key backoff, token-bucket wait). Counts a
  // failure for `key` and takes a token even when it is ignored after ShutDown, as client-go
  // does. Returns the delay it chose.
  Duration AddRateLimited(const std::string& key, int priority = 0);

  // Failures counted for `key` by AddRateLimited since the last Forget.
  int NumRequeues(const std::string& key) const;

  // Resets `key`'s backoff (on success, and before a requeue_after). Does not touch the queue.
  void Forget(const std::string& key);

  // Blocks until a key is waiting, hands it out and marks it processing; the caller must call
  // Done(key) when finished. After ShutDown it still hands out the keys that were already waiting
  // (as client-go does) and returns nullopt once none is left.
  std::optional<Item> Get();

  // Get without blocking: nullopt when no key is waiting (or after ShutDown with none waiting).
  std::optional<Item> TryGet();

  // Ends processing of `key`: it is queued again if it was added meanwhile. A key that is not
  // being processed is ignored.
  void Done(const std::string& key);

  // Stops accepting adds, drops pending delays and wakes blocked Get callers.
  void ShutDown();

  // ShutDown, then blocks until no key is being processed (each processed key's Done was called)
  // or ShutDown() is called, as client-go's ShutDownWithDrain. Keys already waiting are not waited
  // for: workers still receive them from Get.
  void ShutDownWithDrain();

  bool ShuttingDown() const;

  // Keys waiting in the queue (not those being processed, nor those still delayed).
  size_t Len() const;

  // Keys whose AddAfter or AddRateLimited has not fired yet.
  size_t NumDelayed() const;

  Counters GetCounters() const;

  // Moves every delayed key that is due on the clock into the queue. The timer thread calls it;
  // tests with a fake clock call it after advancing the clock.
  void PollTimers();

 private:
  // Queue order: higher priority first, then lower sequence number (earlier entry) first.
  struct ReadyPosition {
    int priority;
    uint64_t sequence;
    bool operator<(const ReadyPosition& other) const {
      if (priority != other.priority) return priority > other.priority;
      return sequence < other.sequence;
    }
  };

  // What the queue knows about a key that is dirty or processing (others have no entry).
  // A key waits in ready_ exactly when dirty && !processing.
  struct KeyState {
    bool dirty = false;
    bool processing = false;
    int priority = 0;          // while dirty
    uint64_t sequence = 0;     // while waiting in ready_
    SteadyTime dirty_since{};  // while dirty
  };

  struct DelayPosition {
    SteadyTime ready_at;
    uint64_t sequence;
    bool operator<(const DelayPosition& other) const {
      if (ready_at != other.ready_at) return ready_at < other.ready_at;
      return sequence < other.sequence;
    }
  };

  struct DelayedAdd {
    DelayPosition position;
    int priority;
  };

  void AddLocked(const std::string& key, int priority);
  void AddAfterLocked(const std::string& key, Duration delay, int priority);
  void PushLocked(const std::string& key, KeyState& state);
  std::optional<Item> PopLocked();
  void PollTimersLocked();
  Duration RateLimiterDelayLocked(const std::string& key);
  void TimerLoop();

  const Clock& clock_;
  const WorkQueueOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable key_waiting_;      // Get callers
  std::condition_variable delays_changed_;   // the timer thread
  std::condition_variable processing_done_;  // ShutDownWithDrain

  bool shutting_down_ = false;
  bool draining_ = false;
  uint64_t next_sequence_ = 0;

  std::unordered_map<std::string, KeyState> keys_;
  std::map<ReadyPosition, std::string> ready_;
  size_t processing_count_ = 0;

  std::unordered_map<std::string, DelayedAdd> delayed_by_key_;
  std::map<DelayPosition, std::string> delayed_;

  // Rate limiter state.
  std::unordered_map<std::string, int> failures_;
  double bucket_tokens_;
  SteadyTime bucket_updated_;

  Counters counters_;

  std::thread timer_thread_;
};

}  // namespace drover::controller
