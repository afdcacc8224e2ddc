// Compactor: forgets store history on a schedule (SPEC §9), keeping the last `keep_revisions`
// revisions so that watchers that fell briefly behind can still resume. One thread; stops when
// destroyed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace drover::controller {

struct CompactorOptions {
  std::chrono::milliseconds interval{5 * 60 * 1000};
  int64_t keep_revisions = 10'000;
};

class Compactor {
 public:
  // `on_error` receives a failed compaction's status (e.g. for logging); may be empty.
  Compactor(store::Store& store, CompactorOptions options,
            std::function<void(const Status&)> on_error = {});
  ~Compactor();
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // One compaction now (what the thread does every interval); returns the revision compacted
  // to, or 0 when there was nothing to compact.
  Result<int64_t> CompactOnce();

 private:
  void Loop();

  store::Store& store_;
  CompactorOptions options_;
  std::function<void(const Status&)> on_error_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drover::controller
