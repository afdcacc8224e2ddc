// Leases: time-limited sessions held in the store, and keys bound to them that the store deletes
// when the lease runs out (etcd's lease API). The controller's leader election
// (controller/leader_election.h) is built on them; only the etcd backend has them, since one
// SQLite file has one controller. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "api/status.h"

namespace drover::store {

// A key bound to a lease, as read back from the store.
struct LeasedKey {
  std::string value;
  int64_t create_revision = 0;  // Drover numbering, as KeyValue's
  int64_t lease = 0;            // the lease it is bound to (0: none)
};

class Leases {
 public:
  virtual ~Leases() = default;

  // A new lease that lives `ttl` (whole seconds, rounded up; the store may raise it to its
  // minimum) unless kept alive. Its id.
  virtual Result<int64_t> Grant(std::chrono::milliseconds ttl) = 0;

  // Renews the lease for another full ttl: true, or false when it has already expired (its keys
  // are gone).
  virtual Result<bool> KeepAlive(int64_t lease) = 0;

  // Ends the lease now and deletes its keys. Revoking an expired lease is not an error.
  virtual Status Revoke(int64_t lease) = 0;

  // Creates `key` = `value` bound to `lease` unless the key exists, in one transaction, and
  // returns whoever holds the key afterwards (this lease when the creation won).
  virtual Result<LeasedKey> CreateIfAbsent(const std::string& key, const std::string& value,
                                           int64_t lease) = 0;

  // The key's holder now, or nullopt when the key does not exist.
  virtual Result<std::optional<LeasedKey>> Read(const std::string& key) = 0;
};

}  // namespace drover::store
