#include "controller/compactor.h"

#include <gtest/gtest.h>

#include "store/memory_store.h"

namespace drover::controller {
namespace {

TEST(Compactor, KeepsTheLastRevisionsAndForgetsOlderHistory) {
  std::unique_ptr<store::Store> store = store::NewMemoryStore();
  for (int i = 0; i < 50; ++i) {
    store::Transaction txn;
    txn.success.push_back(store::Operation::Put("/k", std::to_string(i)));
    ASSERT_TRUE(store->Commit(txn).ok());
  }
  Compactor compactor(*store, {std::chrono::hours(1), 10});
  Result<int64_t> compacted = compactor.CompactOnce();
  ASSERT_TRUE(compacted.ok()) << compacted.status().message();
  EXPECT_EQ(*compacted, store->CurrentRevision() - 10);
  EXPECT_EQ(store->CompactedRevision(), *compacted);
  // Values are kept; only history is gone.
  EXPECT_EQ(store->Get("/k")->value, "49");
  Result<std::unique_ptr<store::WatchHandle>> old =
      store->Watch("/", 1, [](const std::vector<store::Event>&, const Status&) {});
  EXPECT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange);
  // Nothing new: nothing to do.
  Result<int64_t> again = compactor.CompactOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

}  // namespace
}  // namespace drover::controller
