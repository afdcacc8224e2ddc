#include "store/memory_store.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "store/apply_transaction.h"
#include "store/watch_hub.h"

namespace drover::store {
namespace {

struct Revision {
  int64_t revision = 0;
  std::vector<Event> events;
};

class MemoryStore : public Store {
 public:
  explicit MemoryStore(MemoryStoreOptions options)
      : hub_(std::make_unique<WatchHub>(
            [this](std::string_view prefix, int64_t after, int64_t through, size_t max_events) {
              return ReadHistory(prefix, after, through, max_events);
            },
            WatchHubOptions{.max_buffered_events = options.watch_buffer_events})) {}

  ~MemoryStore() override { hub_.reset(); }  // stop callbacks before the data goes

  Result<KeyValue> Get(std::string_view key) override {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    auto it = data_.find(key);
    if (it == data_.end()) return NotFoundError("key \"" + std::string(key) + "\" not found");
    return it->second;
  }

  Result<RangeResult> List(std::string_view prefix, std::string_view start_after,
                           size_t limit) override {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    RangeResult result;
    result.revision = revision_;
    auto it = start_after.empty() || start_after < prefix ? data_.lower_bound(prefix)
                                                          : data_.upper_bound(start_after);
    for (; it != data_.end() && HasPrefix(it->first, prefix); ++it) {
      if (limit != 0 && result.items.size() == limit) {
        result.more = true;
        break;
      }
      result.items.push_back(it->second);
    }
    return result;
  }

  Result<TransactionResult> Commit(const Transaction& transaction) override {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    Reader reader(data_);
    Result<AppliedTransaction> applied = ApplyTransaction(transaction, revision_ + 1, reader);
    if (!applied.ok()) return applied.status();
    if (!applied->events.empty()) {
      ++revision_;
      for (const Event& event : applied->events) {
        if (event.type == Event::Type::kPut) {
          data_.insert_or_assign(event.kv.key, event.kv);
        } else {
          data_.erase(event.kv.key);
        }
      }
      hub_->Publish(revision_, applied->events);
      history_.push_back({revision_, std::move(applied->events)});
    }
    return TransactionResult{applied->succeeded, revision_};
  }

  Result<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t after_revision,
                                             WatchCallback callback) override {
    if (after_revision < 0) return InvalidError("watch from a negative revision");
    std::unique_lock<std::shared_mutex> lock(mutex_);  // no commit may slip in
    if (after_revision < compacted_) return CompactedError(after_revision);
    return hub_->Add(std::string(prefix), after_revision, revision_, std::move(callback));
  }

  Status Compact(int64_t revision) override {
    if (revision < 0) return InvalidError("cannot compact at a negative revision");
    std::unique_lock<std::shared_mutex> lock(mutex_);
    if (revision > revision_) {
      return OutOfRangeError("cannot compact at revision " + std::to_string(revision) +
                             ": the current revision is " + std::to_string(revision_));
    }
    if (revision <= compacted_) return Status::Ok();  // already done
    while (!history_.empty() && history_.front().revision <= revision) history_.pop_front();
    compacted_ = revision;
    return Status::Ok();
  }

  int64_t CurrentRevision() override {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return revision_;
  }

  int64_t CompactedRevision() override {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return compacted_;
  }

 private:
  class Reader : public KeyReader {
   public:
    explicit Reader(const std::map<std::string, KeyValue, std::less<>>& data) : data_(data) {}
    Result<std::optional<KeyValue>> Read(std::string_view key) override {
      auto it = data_.find(key);
      if (it == data_.end()) return std::optional<KeyValue>();
      return std::optional<KeyValue>(it->second);
    }
    Result<std::vector<KeyValue>> ReadPrefix(std::string_view prefix) override {
      std::vector<KeyValue> out;
      for (auto it = data_.lower_bound(prefix); it != data_.end() && HasPrefix(it->first, prefix);
           ++it) {
        out.push_back(it->second);
      }
      return out;
    }

   private:
    const std::map<std::string, KeyValue, std::less<>>& data_;
  };

  Status CompactedError(int64_t after_revision) const {
    return OutOfRangeError("watch from revision " + std::to_string(after_revision) +
                           ": history up to revision " + std::to_string(compacted_) +
                           " was compacted; re-list, then watch from the list's revision");
  }

  Result<HistoryPage> ReadHistory(std::string_view prefix, int64_t after, int64_t through,
                                  size_t max_events) {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (after < compacted_) return CompactedError(after);
    HistoryPage page;
    page.scanned_through = after;
    size_t events = 0;
    auto it = std::upper_bound(history_.begin(), history_.end(), after,
                               [](int64_t r, const Revision& entry) { return r < entry.revision; });
    for (; it != history_.end() && it->revision <= through; ++it) {
      std::vector<Event> matching;
      for (const Event& event : it->events) {
        if (HasPrefix(event.kv.key, prefix)) matching.push_back(event);
      }
      events += matching.size();
      if (!matching.empty()) page.revisions.push_back(std::move(matching));
      page.scanned_through = it->revision;
      if (events >= max_events) return page;
    }
    page.scanned_through = through;
    return page;
  }

  std::shared_mutex mutex_;
  std::map<std::string, KeyValue, std::less<>> data_;
  std::deque<Revision> history_;  // oldest first, every revision after compacted_
  int64_t revision_ = 0;
  int64_t compacted_ = 0;
  std::unique_ptr<WatchHub> hub_;  // last: its dispatcher reads the members above
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore(MemoryStoreOptions options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace drover::store
