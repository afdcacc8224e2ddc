// InstrumentedStore: a Store decorator that times every operation into
// drover_store_operation_duration_seconds{op}. Owns nothing but the pointer it wraps (which must
// outlive it); as thread-safe as the wrapped store.
#pragma once

#include <chrono>

#include "controller/metrics.h"
#include "store/store.h"

namespace drover::controller {

class InstrumentedStore final : public store::Store {
 public:
  InstrumentedStore(store::Store& inner, ControllerMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}

  Result<store::KeyValue> Get(std::string_view key) override {
    Timer t(metrics_, "get");
    return inner_.Get(key);
  }
  Result<store::RangeResult> List(std::string_view prefix, std::string_view start_after,
                                  size_t limit) override {
    Timer t(metrics_, "list");
    return inner_.List(prefix, start_after, limit);
  }
  Result<store::TransactionResult> Commit(const store::Transaction& txn) override {
    Timer t(metrics_, "commit");
    return inner_.Commit(txn);
  }
  Result<std::unique_ptr<store::WatchHandle>> Watch(std::string_view prefix, int64_t after_revision,
                                                    store::WatchCallback callback) override {
    Timer t(metrics_, "watch");
    return inner_.Watch(prefix, after_revision, std::move(callback));
  }
  Status Compact(int64_t revision) override {
    Timer t(metrics_, "compact");
    return inner_.Compact(revision);
  }
  int64_t CurrentRevision() override { return inner_.CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_.CompactedRevision(); }

 private:
  class Timer {
   public:
    Timer(ControllerMetrics& m, const char* op)
        : metrics_(m), op_(op), start_(std::chrono::steady_clock::now()) {}
    ~Timer() {
      metrics_.ObserveStoreOperation(
          op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }

   private:
    ControllerMetrics& metrics_;
    const char* op_;
    std::chrono::steady_clock::time_point start_;
  };

  store::Store& inner_;
  ControllerMetrics& metrics_;
};

}  // namespace drover::controller
