#include "controller/workqueue.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace drover::controller {

WorkQueue::WorkQueue(const Clock& clock, WorkQueueOptions options)
    : clock_(clock),
      options_(options),
      bucket_tokens_(static_cast<double>(options.bucket_burst)),
      bucket_updated_(clock.Now()) {
  if (options_.timer_thread) timer_thread_ = std::thread([this] { TimerLoop(); });
}

WorkQueue::~WorkQueue() {
  ShutDown();
  if (timer_thread_.joinable()) timer_thread_.join();
}

void WorkQueue::Add(const std::string& key, int priority) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddLocked(key, priority);
}

void WorkQueue::AddLocked(const std::string& key, int priority) {
  if (shutting_down_) return;
  KeyState& state = keys_[key];
  if (state.dirty) {
    // Already pending: dedup, keeping the highest priority asked for.
    if (priority > state.priority) {
      if (state.processing) {
        state.priority = priority;
      } else {
        auto node = ready_.extract(ReadyPosition{state.priority, state.sequence});
        state.priority = priority;
        node.key() = ReadyPosition{state.priority, state.sequence};
        ready_.insert(std::move(node));
      }
    }
    return;
  }
  ++counters_.adds_total;
  ++counters_.depth;
  state.dirty = true;
  state.priority = priority;
  state.dirty_since = clock_.Now();
  if (state.processing) return;  // Done will queue it.
  PushLocked(key, state);
}

void WorkQueue::PushLocked(const std::string& key, KeyState& state) {
  state.sequence = next_sequence_++;
  ready_.emplace(ReadyPosition{state.priority, state.sequence}, key);
  key_waiting_.notify_one();
}

void WorkQueue::AddAfter(const std::string& key, Duration delay, int priority) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddAfterLocked(key, delay, priority);
}

void WorkQueue::AddAfterLocked(const std::string& key, Duration delay, int priority) {
  if (shutting_down_) return;
  ++counters_.retries_total;
  if (delay <= Duration::zero()) {
    AddLocked(key, priority);
    return;
  }
  SteadyTime ready_at = clock_.Now() + delay;
  auto [it, inserted] = delayed_by_key_.try_emplace(key);
  DelayedAdd& entry = it->second;
  if (inserted) {
    entry.position = DelayPosition{ready_at, next_sequence_++};
    entry.priority = priority;
    delayed_.emplace(entry.position, key);
  } else {
    entry.priority = std::max(entry.priority, priority);
    if (ready_at >= entry.position.ready_at) return;  // The earlier delay wins.
    auto node = delayed_.extract(entry.position);
    entry.position.ready_at = ready_at;
    node.key() = entry.position;
    delayed_.insert(std::move(node));
  }
  if (delayed_.begin()->second == key) delays_changed_.notify_one();  // A new earliest deadline.
}

WorkQueue::Duration WorkQueue::AddRateLimited(const std::string& key, int priority) {
  std::lock_guard<std::mutex> lock(mutex_);
  Duration delay = RateLimiterDelayLocked(key);
  AddAfterLocked(key, delay, priority);
  return delay;
}

WorkQueue::Duration WorkQueue::RateLimiterDelayLocked(const std::string& key) {
  // Per key: base * 2^n for the n-th failure since Forget, capped.
  int exponent = failures_[key]++;
  double backoff = static_cast<double>(options_.backoff_base.count()) * std::pow(2.0, exponent);
  Duration per_key = backoff >= static_cast<double>(options_.backoff_max.count())
                         ? options_.backoff_max
                         : Duration(static_cast<Duration::rep>(backoff));

  // Overall: reserve one token from the bucket; a negative balance is the wait for it.
  SteadyTime now = clock_.Now();
  if (now < bucket_updated_) bucket_updated_ = now;
  double elapsed = std::chrono::duration<double>(now - bucket_updated_).count();
  bucket_tokens_ = std::min(static_cast<double>(options_.bucket_burst),
                            bucket_tokens_ + elapsed * options_.bucket_qps);
  bucket_updated_ = now;
  bucket_tokens_ -= 1;
  Duration overall = Duration::zero();
  if (bucket_tokens_ < 0) {
    overall = std::chrono::round<Duration>(
        std::chrono::duration<double>(-bucket_tokens_ / options_.bucket_qps));
  }
  return std::max(per_key, overall);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.erase(key);
}

std::optional<WorkQueue::Item> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mutex_);
  key_waiting_.wait(lock, [this] { return !ready_.empty() || shutting_down_; });
  return PopLocked();
}

std::optional<WorkQueue::Item> WorkQueue::TryGet() {
  std::lock_guard<std::mutex> lock(mutex_);
  return PopLocked();
}

std::optional<WorkQueue::Item> WorkQueue::PopLocked() {
  if (ready_.empty()) return std::nullopt;
  auto node = ready_.extract(ready_.begin());
  KeyState& state = keys_.at(node.mapped());
  state.dirty = false;
  state.processing = true;
  ++processing_count_;
  --counters_.depth;
  Item item;
  item.priority = state.priority;
  item.queued_seconds = std::chrono::duration<double>(clock_.Now() - state.dirty_since).count();
  item.key = std::move(node.mapped());
  return item;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = keys_.find(key);
  if (it == keys_.end() || !it->second.processing) return;
  KeyState& state = it->second;
  state.processing = false;
  --processing_count_;
  if (state.dirty) {
    PushLocked(key, state);
  } else {
    keys_.erase(it);
  }
  if (processing_count_ == 0) processing_done_.notify_all();
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutting_down_ = true;
  draining_ = false;
  delayed_.clear();
  delayed_by_key_.clear();
  key_waiting_.notify_all();
  delays_changed_.notify_all();
  processing_done_.notify_all();
}

void WorkQueue::ShutDownWithDrain() {
  std::unique_lock<std::mutex> lock(mutex_);
  shutting_down_ = true;
  draining_ = true;
  delayed_.clear();
  delayed_by_key_.clear();
  key_waiting_.notify_all();
  delays_changed_.notify_all();
  processing_done_.wait(lock, [this] { return processing_count_ == 0 || !draining_; });
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_.size();
}

size_t WorkQueue::NumDelayed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return delayed_.size();
}

WorkQueue::Counters WorkQueue::GetCounters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

void WorkQueue::PollTimers() {
  std::lock_guard<std::mutex> lock(mutex_);
  PollTimersLocked();
}

void WorkQueue::PollTimersLocked() {
  SteadyTime now = clock_.Now();
  while (!delayed_.empty() && delayed_.begin()->first.ready_at <= now) {
    auto node = delayed_.extract(delayed_.begin());
    auto entry = delayed_by_key_.find(node.mapped());
    int priority = entry->second.priority;
    delayed_by_key_.erase(entry);
    AddLocked(node.mapped(), priority);
  }
}

void WorkQueue::TimerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!shutting_down_) {
    if (delayed_.empty()) {
      delays_changed_.wait(lock);
      continue;
    }
    Duration wait = delayed_.begin()->first.ready_at - clock_.Now();
    if (wait <= Duration::zero()) {
      PollTimersLocked();
    } else {
      delays_changed_.wait_for(lock, wait);
    }
  }
}

}  // namespace drover::controller
