#include "store/store.h"

#include <utility>

namespace drover::store {

Result<TransactionResult> CreateOnly(Store& store, std::string key, std::string value) {
  Transaction transaction;
  transaction.compares.push_back({key, Compare::Target::kCreateRevision, 0});
  transaction.success.push_back(Operation::Put(key, std::move(value)));
  Result<TransactionResult> result = store.Commit(transaction);
  if (result.ok() && !result->succeeded) {
    return ConflictError("key \"" + key + "\" already exists");
  }
  return result;
}

Result<TransactionResult> UpdateIfRevision(Store& store, std::string key, std::string value,
                                           int64_t mod_revision) {
  Transaction transaction;
  transaction.compares.push_back({key, Compare::Target::kModRevision, mod_revision});
  transaction.success.push_back(Operation::Put(key, std::move(value)));
  Result<TransactionResult> result = store.Commit(transaction);
  if (result.ok() && !result->succeeded) {
    return ConflictError("key \"" + key + "\" changed since mod_revision " +
                         std::to_string(mod_revision) + ": re-read it and retry");
  }
  return result;
}

Result<TransactionResult> DeleteIfRevision(Store& store, std::string key, int64_t mod_revision) {
  Transaction transaction;
  transaction.compares.push_back({key, Compare::Target::kModRevision, mod_revision});
  transaction.success.push_back(Operation::Delete(key));
  Result<TransactionResult> result = store.Commit(transaction);
  if (result.ok() && !result->succeeded) {
    return ConflictError("key \"" + key + "\" changed since mod_revision " +
                         std::to_string(mod_revision) + ": re-read it and retry");
  }
  return result;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();  // 0xff cannot be incremented: carry into the byte before it
  }
  return end;  // empty prefix or all 0xff: no upper bound
}

}  // namespace drover::store
