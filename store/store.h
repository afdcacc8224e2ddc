// The declarative store (SPEC §9): a revisioned key-value store with etcd v3's semantics, behind
// one narrow interface so that callers never know which backend they talk to. Every write
// happens in a transaction that bumps the store-wide revision by one; every key remembers the
// revision that created it and the one that last changed it; watches deliver ordered events from
// any revision still in history, and report compaction so the watcher re-lists.
//
// Backends: memory (tests), SQLite (the embedded default), etcd (scale-out). All are safe to call
// from many threads at once; watch callbacks run on a thread of the backend, one event batch at a
// time per watch, in revision order, and must not block for long.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"

namespace drover::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // revision of the transaction that created the key
  int64_t mod_revision = 0;     // revision of its last change
  int64_t version = 0;          // number of changes since creation (1 after create)
  bool operator==(const KeyValue&) const = default;
};

// A condition of a transaction. As in etcd, a missing key has create_revision == mod_revision
// == version == 0, so "create only" is {key, kCreateRevision, 0} and "update if unchanged" is
// {key, kModRevision, kv.mod_revision}.
struct Compare {
  enum class Target { kCreateRevision, kModRevision, kVersion };
  std::string key;
  Target target = Target::kModRevision;
  int64_t value = 0;  // the condition holds when the key's target equals this
};

struct Operation {
  enum class Type { kPut, kDelete, kDeletePrefix };
  Type type = Type::kPut;
  std::string key;  // for kDeletePrefix: the prefix
  std::string value;

  static Operation Put(std::string key, std::string value) {
    return {Type::kPut, std::move(key), std::move(value)};
  }
  static Operation Delete(std::string key) { return {Type::kDelete, std::move(key), {}}; }
  static Operation DeletePrefix(std::string prefix) {
    return {Type::kDeletePrefix, std::move(prefix), {}};
  }
};

// If every compare holds, the success operations are applied, else the failure ones; either way
// atomically. A transaction that changes nothing does not bump the revision.
struct Transaction {
  std::vector<Compare> compares;
  std::vector<Operation> success;
  std::vector<Operation> failure;
};

struct TransactionResult {
  bool succeeded = false;
  int64_t revision = 0;  // the store revision after the transaction
};

struct RangeResult {
  std::vector<KeyValue> items;  // in key order
  int64_t revision = 0;         // the store revision the read saw
  bool more = false;            // `limit` cut the list
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for a delete: the key and the deletion's revision as mod_revision
  std::optional<KeyValue> prev_kv;
};

// Called with the events of one revision (one transaction), in revision order. A non-OK status
// ends the watch: kOutOfRange when `after_revision` is older than the history kept (the message
// says so and names the compacted revision: re-list, then watch from the list's revision), or
// kUnavailable when the backend went away or the watcher fell too far behind (re-list too).
// Watch() itself may also return kOutOfRange.
using WatchCallback = std::function<void(const std::vector<Event>& events, const Status& status)>;

// Cancels its watch when destroyed; after the destructor returns no callback runs.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

class Store {
 public:
  virtual ~Store() = default;

  // The key, or NotFound.
  virtual Result<KeyValue> Get(std::string_view key) = 0;

  // Keys starting with `prefix`, in key order, from `start_after` (exclusive, "" for the
  // beginning), at most `limit` of them (0 = no limit).
  virtual Result<RangeResult> List(std::string_view prefix, std::string_view start_after = {},
                                   size_t limit = 0) = 0;

  virtual Result<TransactionResult> Commit(const Transaction& transaction) = 0;

  // Events for keys under `prefix` with revision > `after_revision`, first the ones in history,
  // then live ones.
  virtual Result<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix,
                                                     int64_t after_revision,
                                                     WatchCallback callback) = 0;

  // Forgets history at and before `revision` (current values are kept). Watches from an older
  // revision fail with "compacted". A revision after the current one is kOutOfRange; one at or
  // before the compacted revision is a no-op.
  virtual Status Compact(int64_t revision) = 0;

  virtual int64_t CurrentRevision() = 0;
  virtual int64_t CompactedRevision() = 0;
};

// Shorthands for the common single-key transactions. When the compare fails (the key exists, or
// changed since `mod_revision`) they return kConflict and change nothing.
Result<TransactionResult> CreateOnly(Store& store, std::string key, std::string value);
Result<TransactionResult> UpdateIfRevision(Store& store, std::string key, std::string value,
                                           int64_t mod_revision);
Result<TransactionResult> DeleteIfRevision(Store& store, std::string key, int64_t mod_revision);

// The smallest key greater than every key with this prefix ("" when none), as etcd's range_end.
std::string PrefixEnd(std::string_view prefix);

}  // namespace drover::store
