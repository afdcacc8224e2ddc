#include "store/watch_hub.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "store/apply_transaction.h"

namespace drover::store {

struct WatchHub::Watcher {
  Watcher(std::string prefix, WatchCallback callback)
      : prefix(std::move(prefix)), callback(std::move(callback)) {}

  // One revision's events for this watcher: the published vector itself, shared by every
  // watcher whose prefix takes all of it (a 100,000-event revision is not copied per watcher).
  struct Batch {
    int64_t revision = 0;
    std::shared_ptr<const std::vector<Event>> events;
  };

  const std::string prefix;
  const WatchCallback callback;
  // Guarded by Core::mutex from here on.
  int64_t replay_after = 0;  // history still to replay: (replay_after, replay_through]
  int64_t replay_through = 0;
  int64_t live_after = 0;  // Publish skips revisions at or before this one
  std::deque<Batch> live;  // published, not yet delivered
  size_t live_events = 0;
  std::optional<Status> final_status;                      // ends the watch once delivered
  bool cancelled = false;                                  // the handle was destroyed
  bool finished = false;                                   // the final status was delivered
  bool ready = false;                                      // in Core::ready
  std::list<std::shared_ptr<Watcher>>::iterator position;  // in Core::watchers

  bool Replaying() const { return replay_after < replay_through; }
  bool HasWork() const {
    return !cancelled && !finished && (Replaying() || !live.empty() || final_status.has_value());
  }
};

struct WatchHub::Core {
  HistoryReader reader;
  WatchHubOptions options;

  std::mutex mutex;
  std::condition_variable work_available;        // for the dispatcher
  std::condition_variable delivered;             // for handles waiting out a running callback
  std::list<std::shared_ptr<Watcher>> watchers;  // active (not cancelled, not finished)
  std::deque<std::shared_ptr<Watcher>> ready;    // have work, in turn order
  const Watcher* delivering = nullptr;           // whose callback runs now
  std::thread::id dispatcher_id;
  bool stopping = false;
  std::thread dispatcher;

  // With `mutex` held: puts `watcher` in line if it has work and is not already.
  void MakeReady(const std::shared_ptr<Watcher>& watcher) {
    if (watcher->ready || !watcher->HasWork()) return;
    watcher->ready = true;
    ready.push_back(watcher);
    work_available.notify_one();
  }

  // With `mutex` held: takes the watcher out of the publish list (idempotent).
  void Retire(Watcher& watcher) {
    if (watcher.position != watchers.end()) {
      watchers.erase(watcher.position);
      watcher.position = watchers.end();
    }
  }

  // With `lock` held on entry and exit: runs the callback unlocked unless the watch was
  // cancelled meanwhile. Returns false when it was cancelled.
  bool Deliver(std::unique_lock<std::mutex>& lock, Watcher& watcher,
               const std::vector<Event>& events, const Status& status) {
    if (watcher.cancelled) return false;
    delivering = &watcher;
    lock.unlock();
    watcher.callback(events, status);
    lock.lock();
    delivering = nullptr;
    delivered.notify_all();
    return !watcher.cancelled;
  }
};

class WatchHub::Handle : public WatchHandle {
 public:
  Handle(std::shared_ptr<Core> core, std::shared_ptr<Watcher> watcher)
      : core_(std::move(core)), watcher_(std::move(watcher)) {}

  ~Handle() override {
    std::unique_lock<std::mutex> lock(core_->mutex);
    watcher_->cancelled = true;
    watcher_->live.clear();
    core_->Retire(*watcher_);
    // On the dispatcher thread (a callback destroying a handle) no other callback can be running,
    // and waiting for our own would never end.
    if (std::this_thread::get_id() == core_->dispatcher_id) return;
    core_->delivered.wait(lock, [&] { return core_->delivering != watcher_.get(); });
  }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Watcher> watcher_;
};

WatchHub::WatchHub(HistoryReader reader, WatchHubOptions options)
    : core_(std::make_shared<Core>()) {
  core_->reader = std::move(reader);
  core_->options = options;
  core_->options.history_page_events = std::max<size_t>(1, options.history_page_events);
  std::lock_guard<std::mutex> lock(core_->mutex);
  core_->dispatcher = std::thread([this] { Run(); });
  core_->dispatcher_id = core_->dispatcher.get_id();
}

WatchHub::~WatchHub() {
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->stopping = true;
    core_->work_available.notify_all();
  }
  core_->dispatcher.join();
  std::lock_guard<std::mutex> lock(core_->mutex);
  core_->dispatcher_id = std::thread::id();
  for (const std::shared_ptr<Watcher>& watcher : core_->watchers) {
    watcher->position = core_->watchers.end();
  }
  core_->watchers.clear();
  core_->ready.clear();
}

std::unique_ptr<WatchHandle> WatchHub::Add(std::string prefix, int64_t after_revision,
                                           int64_t current_revision, WatchCallback callback) {
  auto watcher = std::make_shared<Watcher>(std::move(prefix), std::move(callback));
  watcher->replay_after = after_revision;
  watcher->replay_through = current_revision;
  watcher->live_after = std::max(after_revision, current_revision);
  std::lock_guard<std::mutex> lock(core_->mutex);
  watcher->position = core_->watchers.insert(core_->watchers.end(), watcher);
  core_->MakeReady(watcher);
  return std::make_unique<Handle>(core_, std::move(watcher));
}

void WatchHub::Publish(int64_t revision, std::vector<Event> events) {
  std::shared_ptr<const std::vector<Event>> all;  // made on first use
  std::lock_guard<std::mutex> lock(core_->mutex);
  for (const std::shared_ptr<Watcher>& watcher : core_->watchers) {
    if (revision <= watcher->live_after || watcher->final_status) continue;
    Watcher::Batch batch{revision, nullptr};
    const std::vector<Event>& source = all ? *all : events;
    const size_t matching =
        static_cast<size_t>(std::count_if(source.begin(), source.end(), [&](const Event& e) {
          return HasPrefix(e.kv.key, watcher->prefix);
        }));
    if (matching == 0) continue;
    if (matching == source.size()) {
      if (!all) all = std::make_shared<const std::vector<Event>>(std::move(events));
      batch.events = all;
    } else {
      auto some = std::make_shared<std::vector<Event>>();
      some->reserve(matching);
      for (const Event& event : source) {
        if (HasPrefix(event.kv.key, watcher->prefix)) some->push_back(event);
      }
      batch.events = std::move(some);
    }
    // A watcher is never dropped for one large revision (a transaction that places a job on
    // 100,000 nodes is one revision), nor for one arriving behind a backlog still under the
    // limit (a few small revisions committed with it): only when the backlog already holds the
    // limit. So a watch holds at most the limit plus one revision.
    if (!watcher->live.empty() && watcher->live_events >= core_->options.max_buffered_events) {
      watcher->live.clear();
      watcher->live_events = 0;
      watcher->replay_after = watcher->replay_through;
      watcher->final_status = UnavailableError(
          "watcher fell behind: more than " + std::to_string(core_->options.max_buffered_events) +
          " undelivered events at revision " + std::to_string(revision) +
          "; re-list, then watch again from the list's revision");
    } else {
      watcher->live_events += batch.events->size();
      watcher->live.push_back(std::move(batch));
    }
    core_->MakeReady(watcher);
  }
}

void WatchHub::Run() {
  Core& core = *core_;
  std::unique_lock<std::mutex> lock(core.mutex);
  while (true) {
    core.work_available.wait(lock, [&] { return core.stopping || !core.ready.empty(); });
    if (core.stopping) return;
    std::shared_ptr<Watcher> watcher = std::move(core.ready.front());
    core.ready.pop_front();
    watcher->ready = false;
    if (!watcher->HasWork()) continue;

    if (watcher->final_status && !watcher->Replaying() && watcher->live.empty()) {
      Status status = *watcher->final_status;
      watcher->finished = true;
      core.Retire(*watcher);
      core.Deliver(lock, *watcher, {}, status);
      continue;
    }

    if (watcher->Replaying()) {
      const int64_t after = watcher->replay_after;
      const int64_t through = watcher->replay_through;
      lock.unlock();
      Result<HistoryPage> page =
          core.reader(watcher->prefix, after, through, core.options.history_page_events);
      lock.lock();
      if (watcher->cancelled) continue;
      if (watcher->replay_after != after) {
        // Overflow ended the watch while the page was read; its final status comes next turn.
      } else if (!page.ok()) {
        watcher->replay_after = watcher->replay_through;
        watcher->live.clear();
        watcher->live_events = 0;
        watcher->final_status = page.status();
      } else {
        bool still_watching = true;
        for (const std::vector<Event>& events : page->revisions) {
          if (!core.Deliver(lock, *watcher, events, Status::Ok())) {
            still_watching = false;
            break;
          }
          if (watcher->replay_after != after) break;  // overflowed meanwhile
        }
        if (!still_watching) continue;
        if (watcher->replay_after == after) {
          // A reader that made no progress would loop forever: treat it as the end of history.
          watcher->replay_after =
              page->scanned_through > after ? std::min(page->scanned_through, through) : through;
        }
      }
      core.MakeReady(watcher);
      continue;
    }

    Watcher::Batch batch = std::move(watcher->live.front());
    watcher->live.pop_front();
    watcher->live_events -= batch.events->size();
    if (core.Deliver(lock, *watcher, *batch.events, Status::Ok())) core.MakeReady(watcher);
  }
}

}  // namespace drover::store
