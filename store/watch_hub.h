// WatchHub: the watch machinery of the in-process backends (memory, SQLite). It owns one
// dispatcher thread that delivers every watch's events, first replaying history through the
// backend's HistoryReader, then the live revisions the backend publishes after each commit.
// Owned by one store; thread-safe. Callbacks run on the dispatcher thread with no lock held, so
// they may call back into the store (but must not destroy it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "store/store.h"

namespace drover::store {

// Events of history, whole revisions only, oldest first.
struct HistoryPage {
  std::vector<std::vector<Event>> revisions;  // each non-empty, all of one revision
  int64_t scanned_through = 0;                // every revision <= this one has been read
};

// Reads the events under `prefix` with after < revision <= through, stopping after about
// `max_events` (but never inside a revision). kOutOfRange when history after `after` was
// compacted. Called on the dispatcher thread with no hub lock held.
using HistoryReader = std::function<Result<HistoryPage>(std::string_view prefix, int64_t after,
                                                        int64_t through, size_t max_events)>;

struct WatchHubOptions {
  // Undelivered live events one watch may hold. A revision published when the watch already
  // holds this many ends it with kUnavailable ("fell behind, re-list") instead of slowing
  // writers down or growing without bound. A revision is taken whole, however large, when the
  // backlog is under the limit: a watch holds at most the limit plus one revision.
  size_t max_buffered_events = 100'000;
  // Events read from history per HistoryReader call.
  size_t history_page_events = 1'000;
};

class WatchHub {
 public:
  WatchHub(HistoryReader reader, WatchHubOptions options);
  // Stops the dispatcher (no callback runs after this returns). Handles that outlive the hub stay
  // safe to destroy. Must not run on the dispatcher thread (a callback must not destroy its store).
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Registers a watch of `prefix` after `after_revision`; `current_revision` is the store's
  // revision now: (after_revision, current_revision] comes from history, later revisions from
  // Publish. The caller holds the lock its commits publish under, so none is missed or doubled,
  // and has already checked after_revision against the compacted revision.
  std::unique_ptr<WatchHandle> Add(std::string prefix, int64_t after_revision,
                                   int64_t current_revision, WatchCallback callback);

  // Hands the events of one committed revision to the watches, in revision order (the caller
  // publishes under its commit lock). Never blocks on a watcher. Watchers whose prefix takes
  // every event share `events` (move it in: nothing is copied); others get their part copied.
  void Publish(int64_t revision, std::vector<Event> events);

 private:
  struct Core;
  struct Watcher;
  class Handle;

  void Run();

  std::shared_ptr<Core> core_;
};

}  // namespace drover::store
