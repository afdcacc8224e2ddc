// The SQLite backend of the store, Drover's embedded default: one database file in WAL mode
// holding the current values, the event history since the last compaction, and the store's
// revision. Every Commit is one SQLite transaction, so a crash keeps all of it or none, and a
// returned commit survives the process being killed (with the default synchronous=FULL, also a
// power loss). The caller owns the store; it is thread-safe: commits are serialised on one writer
// connection, reads use a small pool of their own connections and do not wait for writes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "api/status.h"
#include "store/store.h"

namespace drover::store {

// Watches behave as in the memory backend (store/memory_store.h): one dispatcher thread, history
// replayed from the file in pages through a read connection, then live events; kOutOfRange for
// compacted history, kUnavailable for a watcher that fell behind. History grows until Compact():
// the owner compacts on a schedule. Compact() deletes in slices so that commits go on meanwhile.
struct SqliteOptions {
  enum class Synchronous {
    kFull,    // fsync every commit: durable across power loss (default)
    kNormal,  // durable across a process crash; a power loss may lose the last commits
  };
  Synchronous synchronous = Synchronous::kFull;
  // How long a statement waits for a lock held by another connection before failing with
  // kUnavailable.
  int busy_timeout_ms = 5'000;
  // Read connections (Get, List, watch history replay); at least 1.
  size_t read_connections = 2;
  // Undelivered events one watch may buffer before it ends with kUnavailable (re-list); a
  // revision arriving below the limit is taken whole (WatchHubOptions::max_buffered_events).
  size_t watch_buffer_events = 100'000;
};

// Opens, or creates, the store in the file `path` (its folder must exist). Takes an exclusive
// lock on `path + ".lock"` for the store's lifetime: a second store on the same file, in this
// process or another, fails with kUnavailable. A file that is not a Drover store, is corrupt or
// has an unknown schema version fails with a Status that says so; nothing throws.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, SqliteOptions options = {});

}  // namespace drover::store
