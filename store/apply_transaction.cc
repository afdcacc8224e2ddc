#include "store/apply_transaction.h"

#include <set>
#include <utility>

namespace drover::store {
namespace {

Status CheckBranch(const std::vector<Operation>& operations, std::string_view branch) {
  std::set<std::string_view> put_keys;
  std::set<std::string_view> deleted_keys;
  std::vector<std::string_view> deleted_prefixes;
  auto twice = [&](std::string_view key) {
    return InvalidError(std::string("transaction ") + std::string(branch) + " touches key \"" +
                        std::string(key) + "\" twice, and one of them is a put");
  };
  for (const Operation& operation : operations) {
    switch (operation.type) {
      case Operation::Type::kPut:
        if (operation.key.empty()) return InvalidError("put with an empty key");
        if (!put_keys.insert(operation.key).second) return twice(operation.key);
        if (deleted_keys.contains(operation.key)) return twice(operation.key);
        for (std::string_view prefix : deleted_prefixes) {
          if (HasPrefix(operation.key, prefix)) return twice(operation.key);
        }
        break;
      case Operation::Type::kDelete:
        if (operation.key.empty()) return InvalidError("delete with an empty key");
        if (put_keys.contains(operation.key)) return twice(operation.key);
        deleted_keys.insert(operation.key);
        break;
      case Operation::Type::kDeletePrefix:
        if (operation.key.empty()) {
          return InvalidError(
              "DeletePrefix needs a non-empty prefix (refusing to delete every key)");
        }
        for (std::string_view key : put_keys) {
          if (HasPrefix(key, operation.key)) return twice(key);
        }
        deleted_prefixes.push_back(operation.key);
        break;
    }
  }
  return Status::Ok();
}

int64_t TargetOf(const std::optional<KeyValue>& kv, Compare::Target target) {
  if (!kv) return 0;  // as in etcd, a missing key has every revision and its version at 0
  switch (target) {
    case Compare::Target::kCreateRevision:
      return kv->create_revision;
    case Compare::Target::kModRevision:
      return kv->mod_revision;
    case Compare::Target::kVersion:
      return kv->version;
  }
  return 0;
}

Event DeleteEvent(KeyValue previous, int64_t revision) {
  Event event;
  event.type = Event::Type::kDelete;
  event.kv.key = previous.key;
  event.kv.mod_revision = revision;
  event.prev_kv = std::move(previous);
  return event;
}

}  // namespace

Status CheckTransactionShape(const Transaction& transaction) {
  for (const Compare& compare : transaction.compares) {
    if (compare.key.empty()) return InvalidError("compare with an empty key");
  }
  if (Status s = CheckBranch(transaction.success, "success branch"); !s.ok()) return s;
  return CheckBranch(transaction.failure, "failure branch");
}

Result<AppliedTransaction> ApplyTransaction(const Transaction& transaction, int64_t revision,
                                            KeyReader& reader) {
  if (Status s = CheckTransactionShape(transaction); !s.ok()) return s;

  AppliedTransaction applied;
  applied.succeeded = true;
  for (const Compare& compare : transaction.compares) {
    Result<std::optional<KeyValue>> current = reader.Read(compare.key);
    if (!current.ok()) return current.status();
    if (TargetOf(*current, compare.target) != compare.value) {
      applied.succeeded = false;
      break;
    }
  }

  // Keys deleted earlier in this branch, so that a second delete of the same key (allowed) emits
  // no second event. Puts never overlap anything else (CheckTransactionShape).
  std::set<std::string> deleted;
  for (const Operation& operation : applied.succeeded ? transaction.success : transaction.failure) {
    switch (operation.type) {
      case Operation::Type::kPut: {
        Result<std::optional<KeyValue>> current = reader.Read(operation.key);
        if (!current.ok()) return current.status();
        Event event;
        event.type = Event::Type::kPut;
        event.kv.key = operation.key;
        event.kv.value = operation.value;
        event.kv.mod_revision = revision;
        if (current->has_value()) {
          event.kv.create_revision = (*current)->create_revision;
          event.kv.version = (*current)->version + 1;
          event.prev_kv = std::move(**current);
        } else {
          event.kv.create_revision = revision;
          event.kv.version = 1;
        }
        applied.events.push_back(std::move(event));
        break;
      }
      case Operation::Type::kDelete: {
        if (deleted.contains(operation.key)) break;
        Result<std::optional<KeyValue>> current = reader.Read(operation.key);
        if (!current.ok()) return current.status();
        if (!current->has_value()) break;
        deleted.insert(operation.key);
        applied.events.push_back(DeleteEvent(std::move(**current), revision));
        break;
      }
      case Operation::Type::kDeletePrefix: {
        Result<std::vector<KeyValue>> current = reader.ReadPrefix(operation.key);
        if (!current.ok()) return current.status();
        for (KeyValue& kv : *current) {
          if (!deleted.insert(kv.key).second) continue;
          applied.events.push_back(DeleteEvent(std::move(kv), revision));
        }
        break;
      }
    }
  }
  return applied;
}

}  // namespace drover::store
