// The transaction semantics shared by the in-process backends (memory, SQLite): checks a
// transaction's shape, evaluates its compares and turns the chosen branch into the events it
// produces. Pure logic over a KeyReader that the backend implements on its own storage; the caller
// holds its write lock for the whole evaluation and then applies the events. Not thread-safe on
// its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "store/store.h"

namespace drover::store {

// The backend's current values, as seen inside its write transaction.
class KeyReader {
 public:
  virtual ~KeyReader() = default;
  virtual Result<std::optional<KeyValue>> Read(std::string_view key) = 0;
  // Every key starting with `prefix` (non-empty), in key order.
  virtual Result<std::vector<KeyValue>> ReadPrefix(std::string_view prefix) = 0;
};

struct AppliedTransaction {
  bool succeeded = false;
  // What the chosen branch changes, in operation order (a DeletePrefix in key order). Empty when
  // nothing changes: then the revision must not move. A put's kv is the new state; a delete's kv
  // is {key, mod_revision = revision}. Both carry prev_kv when the key existed.
  std::vector<Event> events;
};

// Rejects what etcd rejects, before reading anything: an empty key, an empty DeletePrefix prefix,
// and a branch that touches one key twice when one of the touches is a put (two puts, a put and a
// delete, a put under a deleted prefix).
Status CheckTransactionShape(const Transaction& transaction);

// Evaluates `transaction` against `reader` as the transaction of `revision` (current + 1).
Result<AppliedTransaction> ApplyTransaction(const Transaction& transaction, int64_t revision,
                                            KeyReader& reader);

// True when `key` is under `prefix` ("" matches every key).
inline bool HasPrefix(std::string_view key, std::string_view prefix) {
  return key.substr(0, prefix.size()) == prefix;
}

}  // namespace drover::store
