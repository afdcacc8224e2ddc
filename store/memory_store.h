// The memory backend of the store: current values, the event history of every revision since
// the last compaction, and watches served by a WatchHub. For tests and for tools that need no
// persistence; everything is lost with the object. The caller owns it; all methods are
// thread-safe (reads share a lock, commits take it exclusively).
#pragma once

#include <cstddef>
#include <memory>

#include "store/store.h"

namespace drover::store {

// Watches (the same machinery as the SQLite backend, store/watch_hub.h): one dispatcher thread per
// store runs every callback, with no store lock held, so callbacks may read and commit. Watch()
// returns kOutOfRange at once for a compacted `after_revision`; a compaction that overtakes a
// replay in progress ends the watch with kOutOfRange through the callback; a watch with more than
// `watch_buffer_events` undelivered events ends with kUnavailable ("fell behind, re-list").
// Destroying the store ends its watches without a final callback; handles may outlive it.
struct MemoryStoreOptions {
  // Undelivered events one watch may buffer before it ends with kUnavailable (re-list).
  size_t watch_buffer_events = 100'000;
};

std::unique_ptr<Store> NewMemoryStore(MemoryStoreOptions options = {});

}  // namespace drover::store
