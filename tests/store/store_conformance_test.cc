// The store contract of store/store.h (etcd v3 semantics), run against every backend. A backend
// joins by adding one BackendFactory to kBackends below; every test then runs on it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_store.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "tests/store/watch_recorder.h"
#include "tests/testing/etcd_process.h"
#include "tests/testing/run_process.h"

namespace drover::store {
namespace {

using ::drover::store::testing::CallbackGate;
using ::drover::store::testing::WatchRecorder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What a test may ask of a backend beyond the defaults.
struct StoreTestOptions {
  size_t watch_buffer_events = 100'000;
};

// Makes fresh, empty stores of one backend, and cleans up after them when destroyed.
class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  virtual std::unique_ptr<Store> Open(const StoreTestOptions& options) = 0;
};

class MemoryFactory : public BackendFactory {
 public:
  std::unique_ptr<Store> Open(const StoreTestOptions& options) override {
    return NewMemoryStore({.watch_buffer_events = options.watch_buffer_events});
  }
};

class SqliteFactory : public BackendFactory {
 public:
  SqliteFactory() : dir_(drover::testing::MakeTempDir("drover-store-test")) {}
  ~SqliteFactory() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open(const StoreTestOptions& options) override {
    SqliteOptions sqlite_options;
    sqlite_options.watch_buffer_events = options.watch_buffer_events;
    std::string path = (dir_ / ("store-" + std::to_string(opened_++) + ".db")).string();
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, sqlite_options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

 private:
  std::filesystem::path dir_;
  int opened_ = 0;
};

// Each store is a fresh etcd process: the suite pins absolute revisions (a new store is at 0),
// and etcd's revision never goes back, so keys cannot be wiped between tests. A fresh etcd on
// /dev/shm starts in a fraction of a second.
class EtcdFactory : public BackendFactory {
 public:
  std::unique_ptr<Store> Open(const StoreTestOptions& options) override {
    etcd_.reset();  // the previous store's etcd, if any
    etcd_ = std::make_unique<drover::testing::EtcdProcess>();
    std::string error = etcd_->Start();
    if (!error.empty()) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    EtcdStoreOptions etcd_options;
    etcd_options.endpoints = {etcd_->endpoint()};
    etcd_options.watch_buffer_events = options.watch_buffer_events;
    Result<std::unique_ptr<Store>> store = OpenEtcdStore(etcd_options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

 private:
  std::unique_ptr<drover::testing::EtcdProcess> etcd_;
};

struct Backend {
  std::string name;
  std::function<std::unique_ptr<BackendFactory>()> make;
};

const Backend kBackends[] = {
    {"memory", [] { return std::make_unique<MemoryFactory>(); }},
    {"sqlite", [] { return std::make_unique<SqliteFactory>(); }},
    {"etcd", [] { return std::make_unique<EtcdFactory>(); }},
};

void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.name; }

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    factory_ = GetParam().make();
    store_ = factory_->Open({});
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    factory_.reset();
  }

  Store& store() { return *store_; }

  // Puts one key in its own transaction and returns the new revision.
  int64_t Put(const std::string& key, const std::string& value) {
    Transaction transaction;
    transaction.success.push_back(Operation::Put(key, value));
    Result<TransactionResult> result = store_->Commit(transaction);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->revision : -1;
  }

  int64_t Delete(const std::string& key) {
    Transaction transaction;
    transaction.success.push_back(Operation::Delete(key));
    Result<TransactionResult> result = store_->Commit(transaction);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->revision : -1;
  }

  std::unique_ptr<WatchHandle> MustWatch(const std::string& prefix, int64_t after,
                                         WatchRecorder& recorder) {
    Result<std::unique_ptr<WatchHandle>> handle = store_->Watch(prefix, after, recorder.Callback());
    EXPECT_TRUE(handle.ok()) << handle.status().ToString();
    return handle.ok() ? std::move(*handle) : nullptr;
  }

  static std::vector<std::string> Keys(const RangeResult& range) {
    std::vector<std::string> keys;
    for (const KeyValue& kv : range.items) keys.push_back(kv.key);
    return keys;
  }

  std::unique_ptr<BackendFactory> factory_;
  std::unique_ptr<Store> store_;
};

// --- get, put, delete, revisions --------------------------------------------------------------

TEST_P(StoreConformanceTest, GetOfMissingKeyIsNotFound) {
  Result<KeyValue> kv = store().Get("/jobs/none");
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, NewStoreIsAtRevisionZero) {
  EXPECT_EQ(store().CurrentRevision(), 0);
  EXPECT_EQ(store().CompactedRevision(), 0);
}

TEST_P(StoreConformanceTest, PutCreatesKeyWithCreateAndModRevisionOfItsTransaction) {
  int64_t revision = Put("/jobs/a", "spec-1");
  EXPECT_EQ(revision, 1);
  Result<KeyValue> kv = store().Get("/jobs/a");
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  EXPECT_EQ(*kv, (KeyValue{"/jobs/a", "spec-1", 1, 1, 1}));
}

TEST_P(StoreConformanceTest, SecondPutKeepsCreateRevisionAndBumpsModRevisionAndVersion) {
  Put("/jobs/a", "spec-1");
  Put("/other", "x");
  int64_t revision = Put("/jobs/a", "spec-2");
  EXPECT_EQ(revision, 3);
  Result<KeyValue> kv = store().Get("/jobs/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(*kv, (KeyValue{"/jobs/a", "spec-2", 1, 3, 2}));
}

TEST_P(StoreConformanceTest, PutOfSameValueStillBumpsRevisionAndVersion) {
  Put("/jobs/a", "same");
  EXPECT_EQ(Put("/jobs/a", "same"), 2);
  EXPECT_EQ(store().Get("/jobs/a")->version, 2);
}

TEST_P(StoreConformanceTest, DeleteRemovesKeyAndBumpsRevision) {
  Put("/jobs/a", "spec");
  EXPECT_EQ(Delete("/jobs/a"), 2);
  EXPECT_EQ(store().Get("/jobs/a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().CurrentRevision(), 2);
}

TEST_P(StoreConformanceTest, RecreatedKeyStartsAgainAtVersionOne) {
  Put("/jobs/a", "one");
  Delete("/jobs/a");
  Put("/jobs/a", "two");
  EXPECT_EQ(*store().Get("/jobs/a"), (KeyValue{"/jobs/a", "two", 3, 3, 1}));
}

TEST_P(StoreConformanceTest, RevisionGrowsByExactlyOnePerWritingTransaction) {
  Transaction three_puts;
  three_puts.success = {Operation::Put("/a", "1"), Operation::Put("/b", "2"),
                        Operation::Put("/c", "3")};
  Result<TransactionResult> result = store().Commit(three_puts);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->succeeded);
  EXPECT_EQ(result->revision, 1);
  EXPECT_EQ(store().CurrentRevision(), 1);
  for (const char* key : {"/a", "/b", "/c"}) {
    EXPECT_EQ(store().Get(key)->mod_revision, 1) << key;
  }
  EXPECT_EQ(Put("/d", "4"), 2);
}

TEST_P(StoreConformanceTest, TransactionThatChangesNothingKeepsTheRevision) {
  Put("/a", "1");
  // Deleting a missing key, an empty transaction, and a failed compare without a failure branch.
  EXPECT_EQ(Delete("/missing"), 1);
  Result<TransactionResult> empty = store().Commit({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->revision, 1);
  Transaction failing;
  failing.compares.push_back({"/a", Compare::Target::kVersion, 7});
  failing.success.push_back(Operation::Put("/a", "2"));
  Result<TransactionResult> failed = store().Commit(failing);
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);
  EXPECT_EQ(failed->revision, 1);
  Transaction delete_empty_prefix;
  delete_empty_prefix.success.push_back(Operation::DeletePrefix("/nothing/"));
  EXPECT_EQ(store().Commit(delete_empty_prefix)->revision, 1);
  EXPECT_EQ(store().CurrentRevision(), 1);
}

TEST_P(StoreConformanceTest, KeysAndValuesAreBinarySafe) {
  const std::string key = std::string("/bin/\x00\x01\xff", 8);
  const std::string value = std::string("\x00\xfe\x00", 3);
  Put(key, value);
  Put("/bin/empty", "");
  Result<KeyValue> kv = store().Get(key);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, value);
  Result<KeyValue> empty = store().Get("/bin/empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->value, "");
  Result<RangeResult> range = store().List("/bin/");
  ASSERT_TRUE(range.ok());
  EXPECT_THAT(Keys(*range), ElementsAre(key, "/bin/empty"));
}

TEST_P(StoreConformanceTest, EmptyKeyIsRejectedAsInvalid) {
  Transaction transaction;
  transaction.success.push_back(Operation::Put("", "x"));
  EXPECT_EQ(store().Commit(transaction).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(store().CurrentRevision(), 0);
}

// --- list -------------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, ListReturnsOnlyThePrefixInKeyOrder) {
  for (const char* key : {"/jobs/c", "/jobs/a", "/jobsx", "/jobs/b", "/nodes/a", "/job"}) {
    Put(key, "v");
  }
  Result<RangeResult> range = store().List("/jobs/");
  ASSERT_TRUE(range.ok());
  EXPECT_THAT(Keys(*range), ElementsAre("/jobs/a", "/jobs/b", "/jobs/c"));
  EXPECT_FALSE(range->more);
  EXPECT_EQ(range->revision, 6);
  EXPECT_EQ(range->items[0], (KeyValue{"/jobs/a", "v", 2, 2, 1}));
}

TEST_P(StoreConformanceTest, ListOfEmptyPrefixReturnsEveryKey) {
  Put("/b", "1");
  Put("/a", "2");
  Result<RangeResult> range = store().List("");
  ASSERT_TRUE(range.ok());
  EXPECT_THAT(Keys(*range), ElementsAre("/a", "/b"));
}

TEST_P(StoreConformanceTest, ListPagesWithStartAfterAndLimitAndSaysWhenMoreRemain) {
  for (int i = 0; i < 5; ++i) Put("/k/" + std::to_string(i), "v");
  Result<RangeResult> first = store().List("/k/", "", 2);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Keys(*first), ElementsAre("/k/0", "/k/1"));
  EXPECT_TRUE(first->more);

  Result<RangeResult> second = store().List("/k/", "/k/1", 2);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Keys(*second), ElementsAre("/k/2", "/k/3"));
  EXPECT_TRUE(second->more);

  Result<RangeResult> last = store().List("/k/", "/k/3", 2);
  ASSERT_TRUE(last.ok());
  EXPECT_THAT(Keys(*last), ElementsAre("/k/4"));
  EXPECT_FALSE(last->more);

  Result<RangeResult> exact = store().List("/k/", "", 5);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->items.size(), 5u);
  EXPECT_FALSE(exact->more) << "a limit that the list exactly fills cuts nothing";
}

TEST_P(StoreConformanceTest, ListStartAfterOutsideThePrefixIsHandled) {
  Put("/k/a", "v");
  Put("/k/b", "v");
  EXPECT_THAT(Keys(*store().List("/k/", "/a")), ElementsAre("/k/a", "/k/b"));  // before it
  EXPECT_TRUE(store().List("/k/", "/z")->items.empty());                       // after it
  EXPECT_THAT(Keys(*store().List("/k/", "/k/")), ElementsAre("/k/a", "/k/b"));
}

TEST_P(StoreConformanceTest, ListOfPrefixEndingInByteFFHasNoUpperBoundProblem) {
  const std::string prefix = "/p\xff";
  Put(prefix + "a", "1");
  Put(prefix + "\xff", "2");
  Put("/q", "3");
  Result<RangeResult> range = store().List(prefix);
  ASSERT_TRUE(range.ok());
  EXPECT_THAT(Keys(*range), ElementsAre(prefix + "a", prefix + "\xff"));
}

// --- compare-and-swap ---------------------------------------------------------------------------

TEST_P(StoreConformanceTest, CreateOnlySucceedsOnceThenConflicts) {
  Result<TransactionResult> created = CreateOnly(store(), "/jobs/a", "first");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->succeeded);
  Result<TransactionResult> again = CreateOnly(store(), "/jobs/a", "second");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kConflict);
  EXPECT_THAT(again.status().message(), HasSubstr("/jobs/a"));
  EXPECT_EQ(store().Get("/jobs/a")->value, "first");
  EXPECT_EQ(store().CurrentRevision(), 1);
}

TEST_P(StoreConformanceTest, UpdateIfRevisionAppliesOnlyAtTheCurrentModRevision) {
  Put("/jobs/a", "v1");
  int64_t seen = store().Get("/jobs/a")->mod_revision;
  ASSERT_TRUE(UpdateIfRevision(store(), "/jobs/a", "v2", seen).ok());
  Result<TransactionResult> stale = UpdateIfRevision(store(), "/jobs/a", "v3", seen);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(store().Get("/jobs/a")->value, "v2");
}

TEST_P(StoreConformanceTest, FailedCompareAppliesTheFailureBranchInstead) {
  Put("/jobs/a", "v1");
  Put("/jobs/a", "v2");  // mod_revision is now 2
  Transaction transaction;
  transaction.compares.push_back({"/jobs/a", Compare::Target::kModRevision, 1});
  transaction.success.push_back(Operation::Put("/jobs/a", "won"));
  transaction.failure.push_back(Operation::Put("/conflicts/a", "lost"));
  Result<TransactionResult> result = store().Commit(transaction);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  EXPECT_EQ(result->revision, 3);
  EXPECT_EQ(store().Get("/jobs/a")->value, "v2");
  EXPECT_EQ(store().Get("/conflicts/a")->value, "lost");
}

TEST_P(StoreConformanceTest, DeleteIfRevisionDeletesOnlyAtTheCurrentModRevision) {
  Put("/jobs/a", "v1");
  Put("/jobs/a", "v2");
  Result<TransactionResult> stale = DeleteIfRevision(store(), "/jobs/a", 1);
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_TRUE(store().Get("/jobs/a").ok());
  Result<TransactionResult> current = DeleteIfRevision(store(), "/jobs/a", 2);
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(current->revision, 3);
  EXPECT_EQ(store().Get("/jobs/a").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ComparesOnVersionAndCreateRevisionAndMissingKeysAsZero) {
  Put("/a", "1");
  Put("/a", "2");  // version 2, create_revision 1
  auto holds = [&](Compare compare) {
    Transaction transaction;
    transaction.compares.push_back(compare);
    Result<TransactionResult> result = store().Commit(transaction);
    EXPECT_TRUE(result.ok());
    return result.ok() && result->succeeded;
  };
  EXPECT_TRUE(holds({"/a", Compare::Target::kVersion, 2}));
  EXPECT_FALSE(holds({"/a", Compare::Target::kVersion, 1}));
  EXPECT_TRUE(holds({"/a", Compare::Target::kCreateRevision, 1}));
  EXPECT_FALSE(holds({"/a", Compare::Target::kCreateRevision, 2}));
  EXPECT_TRUE(holds({"/missing", Compare::Target::kVersion, 0}));
  EXPECT_TRUE(holds({"/missing", Compare::Target::kModRevision, 0}));
  EXPECT_TRUE(holds({"/missing", Compare::Target::kCreateRevision, 0}));
}

TEST_P(StoreConformanceTest, EveryCompareMustHoldForTheSuccessBranch) {
  Put("/a", "1");
  Put("/b", "1");
  Transaction transaction;
  transaction.compares = {{"/a", Compare::Target::kModRevision, 1},
                          {"/b", Compare::Target::kModRevision, 1}};  // /b is at 2
  transaction.success.push_back(Operation::Put("/c", "x"));
  Result<TransactionResult> result = store().Commit(transaction);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  EXPECT_EQ(store().Get("/c").status().code(), StatusCode::kNotFound);
}

// --- transactions -----------------------------------------------------------------------------

TEST_P(StoreConformanceTest, MultiOperationTransactionAppliesAllAtOneRevision) {
  Put("/jobs/a", "old");
  Put("/jobs/gone", "x");
  Transaction transaction;
  transaction.compares.push_back({"/jobs/a", Compare::Target::kModRevision, 1});
  transaction.success = {Operation::Put("/jobs/a", "new"), Operation::Put("/versions/a/2", "v2"),
                         Operation::Delete("/jobs/gone"), Operation::Put("/events/a/1", "e")};
  WatchRecorder recorder;
  auto handle = MustWatch("", 2, recorder);
  Result<TransactionResult> result = store().Commit(transaction);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->succeeded);
  EXPECT_EQ(result->revision, 3);
  for (const char* key : {"/jobs/a", "/versions/a/2", "/events/a/1"}) {
    EXPECT_EQ(store().Get(key)->mod_revision, 3) << key;
  }
  EXPECT_EQ(store().Get("/jobs/gone").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(recorder.WaitForEvents(4));
  ASSERT_EQ(recorder.batches().size(), 1u) << "one transaction is one callback";
  EXPECT_EQ(recorder.batches()[0].size(), 4u);
}

TEST_P(StoreConformanceTest, RejectedTransactionAppliesNothing) {
  Put("/a", "1");
  Transaction transaction;
  transaction.success = {Operation::Put("/a", "2"), Operation::Put("/b", "2"),
                         Operation::Put("", "bad")};
  EXPECT_EQ(store().Commit(transaction).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(store().Get("/a")->value, "1");
  EXPECT_EQ(store().Get("/b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().CurrentRevision(), 1);
}

TEST_P(StoreConformanceTest, TransactionThatPutsOneKeyTwiceIsInvalid) {
  Transaction twice;
  twice.success = {Operation::Put("/a", "1"), Operation::Put("/a", "2")};
  EXPECT_EQ(store().Commit(twice).status().code(), StatusCode::kInvalid);
  Transaction put_and_delete;
  put_and_delete.success = {Operation::DeletePrefix("/jobs/"), Operation::Put("/jobs/a", "1")};
  EXPECT_EQ(store().Commit(put_and_delete).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(store().CurrentRevision(), 0);
}

TEST_P(StoreConformanceTest, DeletePrefixDeletesEveryKeyUnderItAtOneRevision) {
  Put("/jobs/a/spec", "1");
  Put("/jobs/a/versions/1", "1");
  Put("/jobs/ab", "keep");
  Put("/nodes/a", "keep");
  WatchRecorder recorder;
  auto handle = MustWatch("/", 4, recorder);
  Transaction transaction;
  transaction.success.push_back(Operation::DeletePrefix("/jobs/a/"));
  Result<TransactionResult> result = store().Commit(transaction);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->revision, 5);
  EXPECT_TRUE(store().List("/jobs/a/")->items.empty());
  EXPECT_TRUE(store().Get("/jobs/ab").ok());
  EXPECT_TRUE(store().Get("/nodes/a").ok());
  ASSERT_TRUE(recorder.WaitForEvents(2));
  std::vector<Event> events = recorder.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, Event::Type::kDelete);
  EXPECT_EQ(events[0].kv.key, "/jobs/a/spec");
  EXPECT_EQ(events[1].kv.key, "/jobs/a/versions/1");
  EXPECT_EQ(events[1].kv.mod_revision, 5);
}

TEST_P(StoreConformanceTest, DeletePrefixOfEmptyPrefixIsRefused) {
  Put("/a", "1");
  Transaction transaction;
  transaction.success.push_back(Operation::DeletePrefix(""));
  EXPECT_EQ(store().Commit(transaction).status().code(), StatusCode::kInvalid);
  EXPECT_TRUE(store().Get("/a").ok());
}

// --- watch --------------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, WatchFromZeroReplaysAllHistoryInOrder) {
  Put("/jobs/a", "1");
  Put("/jobs/b", "1");
  Put("/jobs/a", "2");
  Delete("/jobs/b");
  WatchRecorder recorder;
  auto handle = MustWatch("/jobs/", 0, recorder);
  ASSERT_TRUE(recorder.WaitForEvents(4));
  EXPECT_THAT(recorder.revisions(), ElementsAre(1, 2, 3, 4));
  std::vector<Event> events = recorder.events();
  EXPECT_EQ(events[2].kv, (KeyValue{"/jobs/a", "2", 1, 3, 2}));
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(*events[2].prev_kv, (KeyValue{"/jobs/a", "1", 1, 1, 1}));
  EXPECT_EQ(events[3].type, Event::Type::kDelete);
  EXPECT_EQ(events[3].kv.key, "/jobs/b");
  EXPECT_EQ(events[3].kv.mod_revision, 4);
}

TEST_P(StoreConformanceTest, WatchFromMiddleRevisionResumesRightAfterIt) {
  for (int i = 1; i <= 6; ++i) Put("/k/" + std::to_string(i), "v");
  WatchRecorder recorder;
  auto handle = MustWatch("/k/", 3, recorder);
  ASSERT_TRUE(recorder.WaitForEvents(3));
  Put("/k/7", "v");
  ASSERT_TRUE(recorder.WaitForEvents(4));
  EXPECT_THAT(recorder.revisions(), ElementsAre(4, 5, 6, 7));
  EXPECT_EQ(recorder.events()[0].kv.key, "/k/4");
}

TEST_P(StoreConformanceTest, WatchDeliversLiveEventsInOrderWithPrevKv) {
  WatchRecorder recorder;
  auto handle = MustWatch("/jobs/", store().CurrentRevision(), recorder);
  Put("/jobs/a", "1");
  Put("/jobs/a", "2");
  Delete("/jobs/a");
  ASSERT_TRUE(recorder.WaitForEvents(3));
  std::vector<Event> events = recorder.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, Event::Type::kPut);
  EXPECT_EQ(events[0].kv, (KeyValue{"/jobs/a", "1", 1, 1, 1}));
  EXPECT_FALSE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[1].kv, (KeyValue{"/jobs/a", "2", 1, 2, 2}));
  EXPECT_EQ(events[1].prev_kv, (KeyValue{"/jobs/a", "1", 1, 1, 1}));
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/jobs/a");
  EXPECT_EQ(events[2].kv.mod_revision, 3);
  EXPECT_EQ(events[2].prev_kv, (KeyValue{"/jobs/a", "2", 1, 2, 2}));
}

TEST_P(StoreConformanceTest, WatchOfPrefixIgnoresOtherPrefixes) {
  WatchRecorder recorder;
  auto handle = MustWatch("/jobs/", 0, recorder);
  Put("/nodes/a", "x");
  Put("/jobsx", "x");
  Put("/jobs/a", "x");
  Transaction mixed;
  mixed.success = {Operation::Put("/nodes/b", "x"), Operation::Put("/jobs/b", "x")};
  ASSERT_TRUE(store().Commit(mixed).ok());
  ASSERT_TRUE(recorder.WaitForRevision(4));
  std::vector<Event> events = recorder.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv.key, "/jobs/a");
  EXPECT_EQ(events[1].kv.key, "/jobs/b");
  EXPECT_THAT(recorder.revisions(), ElementsAre(3, 4));
}

TEST_P(StoreConformanceTest, WatchersOfDifferentPrefixesEachGetTheirPartOfOneRevision) {
  // In-process backends hand one revision's events to every watcher that takes all of them
  // without copying, and copy the part for the others: whatever order the watchers came in.
  WatchRecorder everything, jobs, everything_again, nodes;
  auto h1 = MustWatch("", 0, everything);
  auto h2 = MustWatch("/jobs/", 0, jobs);
  auto h3 = MustWatch("", 0, everything_again);
  auto h4 = MustWatch("/nodes/", 0, nodes);
  Transaction mixed;
  mixed.success = {Operation::Put("/jobs/a", "1"), Operation::Put("/nodes/a", "2"),
                   Operation::Put("/jobs/b", "3")};
  ASSERT_TRUE(store().Commit(mixed).ok());
  Transaction only_jobs;
  only_jobs.success = {Operation::Put("/jobs/c", "4"), Operation::Put("/jobs/d", "5")};
  ASSERT_TRUE(store().Commit(only_jobs).ok());
  ASSERT_TRUE(everything.WaitForRevision(2));
  ASSERT_TRUE(jobs.WaitForRevision(2));
  ASSERT_TRUE(everything_again.WaitForRevision(2));
  ASSERT_TRUE(nodes.WaitForRevision(1));
  auto keys = [](const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& e : events) out.push_back(e.kv.key + "=" + e.kv.value);
    return out;
  };
  EXPECT_THAT(keys(everything.events()),
              ElementsAre("/jobs/a=1", "/nodes/a=2", "/jobs/b=3", "/jobs/c=4", "/jobs/d=5"));
  EXPECT_THAT(keys(everything_again.events()),
              ElementsAre("/jobs/a=1", "/nodes/a=2", "/jobs/b=3", "/jobs/c=4", "/jobs/d=5"));
  EXPECT_THAT(keys(jobs.events()), ElementsAre("/jobs/a=1", "/jobs/b=3", "/jobs/c=4", "/jobs/d=5"));
  EXPECT_THAT(keys(nodes.events()), ElementsAre("/nodes/a=2"));
  EXPECT_THAT(jobs.revisions(), ElementsAre(1, 2));
  EXPECT_THAT(nodes.revisions(), ElementsAre(1));
}

TEST_P(StoreConformanceTest, WatchFromFutureRevisionDeliversOnlyLaterRevisions) {
  Put("/k/1", "v");
  WatchRecorder recorder;
  auto handle = MustWatch("/k/", 3, recorder);
  Put("/k/2", "v");  // 2
  Put("/k/3", "v");  // 3
  Put("/k/4", "v");  // 4
  ASSERT_TRUE(recorder.WaitForRevision(4));
  EXPECT_THAT(recorder.revisions(), ElementsAre(4));
}

TEST_P(StoreConformanceTest, WatchAfterCompactionIsOutOfRangeAndSaysToReList) {
  for (int i = 0; i < 5; ++i) Put("/k/" + std::to_string(i), "v");
  ASSERT_TRUE(store().Compact(3).ok());
  EXPECT_EQ(store().CompactedRevision(), 3);
  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store().Watch("/k/", 2, recorder.Callback());
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), StatusCode::kOutOfRange);
  EXPECT_THAT(handle.status().message(), HasSubstr("re-list"));
  EXPECT_THAT(handle.status().message(), HasSubstr("compacted"));
  EXPECT_THAT(handle.status().message(), HasSubstr("3"));
}

TEST_P(StoreConformanceTest, WatchFromTheCompactedRevisionStillReplaysWhatIsLeft) {
  for (int i = 1; i <= 5; ++i) Put("/k/" + std::to_string(i), "v");
  ASSERT_TRUE(store().Compact(3).ok());
  WatchRecorder recorder;
  auto handle = MustWatch("/k/", 3, recorder);
  ASSERT_TRUE(recorder.WaitForEvents(2));
  EXPECT_THAT(recorder.revisions(), ElementsAre(4, 5));
}

TEST_P(StoreConformanceTest, CompactKeepsCurrentValuesAndRefusesFutureRevisions) {
  Put("/a", "1");
  Put("/a", "2");
  Put("/b", "1");
  Status future = store().Compact(4);
  EXPECT_EQ(future.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(store().CompactedRevision(), 0);
  ASSERT_TRUE(store().Compact(3).ok());
  EXPECT_EQ(*store().Get("/a"), (KeyValue{"/a", "2", 1, 2, 2}));
  EXPECT_EQ(store().List("")->items.size(), 2u);
  EXPECT_TRUE(store().Compact(2).ok()) << "compacting an older revision again is a no-op";
  EXPECT_EQ(store().CompactedRevision(), 3);
}

TEST_P(StoreConformanceTest, DestroyedHandleGetsNoMoreCallbacks) {
  WatchRecorder cancelled;
  WatchRecorder witness;
  auto handle = MustWatch("/k/", 0, cancelled);
  auto witness_handle = MustWatch("/k/", 0, witness);
  Put("/k/1", "v");
  ASSERT_TRUE(cancelled.WaitForEvents(1));
  handle.reset();
  Put("/k/2", "v");
  Put("/k/3", "v");
  ASSERT_TRUE(witness.WaitForEvents(3));  // the dispatcher has delivered revision 3 to others
  EXPECT_EQ(cancelled.event_count(), 1u);
  EXPECT_FALSE(cancelled.final_status().has_value());
}

TEST_P(StoreConformanceTest, HandleDestructorWaitsForARunningCallbackToReturn) {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false;
  bool release = false;
  std::vector<std::string> order;
  WatchCallback callback = [&](const std::vector<Event>&, const Status&) {
    std::unique_lock<std::mutex> lock(mutex);
    entered = true;
    changed.notify_all();
    changed.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    order.push_back("callback returned");
  };
  Result<std::unique_ptr<WatchHandle>> handle = store().Watch("/k/", 0, callback);
  ASSERT_TRUE(handle.ok());
  Put("/k/1", "v");
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return entered; }));
  }
  std::thread destroyer([&] {
    handle->reset();
    std::lock_guard<std::mutex> lock(mutex);
    order.push_back("destructor returned");
    changed.notify_all();
  });
  {
    // A destructor that did not wait would return now; give it the chance to be wrong.
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, std::chrono::milliseconds(200), [&] { return !order.empty(); });
    release = true;
    changed.notify_all();
  }
  destroyer.join();
  EXPECT_THAT(order, ElementsAre("callback returned", "destructor returned"));
}

TEST_P(StoreConformanceTest, CallbackMayDestroyItsOwnHandle) {
  std::unique_ptr<WatchHandle> handle;
  std::mutex mutex;
  std::condition_variable changed;
  int calls = 0;
  WatchCallback callback = [&](const std::vector<Event>&, const Status&) {
    std::lock_guard<std::mutex> lock(mutex);
    ++calls;
    handle.reset();  // must neither deadlock nor crash
    changed.notify_all();
  };
  WatchRecorder witness;
  {
    std::lock_guard<std::mutex> lock(mutex);
    Result<std::unique_ptr<WatchHandle>> made = store().Watch("/k/", 0, callback);
    ASSERT_TRUE(made.ok());
    handle = std::move(*made);
  }
  auto witness_handle = MustWatch("/k/", 0, witness);
  Put("/k/1", "v");
  Put("/k/2", "v");
  ASSERT_TRUE(witness.WaitForEvents(2));
  std::unique_lock<std::mutex> lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return calls > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(handle, nullptr);
}

TEST_P(StoreConformanceTest, CallbackThatCallsGetListAndCommitDoesNotDeadlock) {
  std::atomic<bool> read_ok{false};
  WatchRecorder echoes;
  WatchRecorder recorder([&](const std::vector<Event>& events) {
    for (const Event& event : events) {
      Result<KeyValue> kv = store().Get(event.kv.key);
      Result<RangeResult> range = store().List("/in/");
      if (kv.ok() && range.ok()) read_ok = true;
      Transaction echo;
      echo.success.push_back(Operation::Put("/out/" + event.kv.key.substr(4), event.kv.value));
      EXPECT_TRUE(store().Commit(echo).ok());
    }
  });
  auto handle = MustWatch("/in/", 0, recorder);
  auto echo_handle = MustWatch("/out/", 0, echoes);
  Put("/in/a", "1");
  Put("/in/b", "2");
  ASSERT_TRUE(echoes.WaitForEvents(2));
  EXPECT_TRUE(read_ok);
  EXPECT_EQ(store().Get("/out/b")->value, "2");
  EXPECT_EQ(store().CurrentRevision(), 4);
}

TEST_P(StoreConformanceTest, OneRevisionLargerThanTheWatchBufferIsStillDelivered) {
  store_.reset();
  store_ = factory_->Open({.watch_buffer_events = 10});
  ASSERT_NE(store_, nullptr);
  WatchRecorder recorder;
  auto handle = MustWatch("/big/", 0, recorder);
  Transaction txn;
  for (int i = 0; i < 50; ++i) {
    txn.success.push_back(Operation::Put("/big/" + std::to_string(i), "v"));
  }
  Result<TransactionResult> r = store().Commit(txn);
  ASSERT_TRUE(r.ok() && r->succeeded);
  ASSERT_TRUE(recorder.WaitForEvents(50));
  EXPECT_FALSE(recorder.final_status().has_value()) << "one large transaction is no backlog";
}

TEST_P(StoreConformanceTest, SlowWatcherIsEndedWithUnavailableInsteadOfBlockingWriters) {
  store_.reset();
  store_ = factory_->Open({.watch_buffer_events = 10});
  ASSERT_NE(store_, nullptr);
  CallbackGate gate;
  WatchRecorder recorder(gate.OnBatch());
  auto handle = MustWatch("/k/", 0, recorder);
  Put("/k/first", "v");
  ASSERT_TRUE(gate.WaitUntilHeld());
  // The watcher is stuck in its callback; writers must still go through.
  for (int i = 0; i < 50; ++i) ASSERT_GT(Put("/k/" + std::to_string(i), "v"), 0);
  EXPECT_EQ(store().CurrentRevision(), 51);
  gate.Open();
  ASSERT_TRUE(recorder.WaitForFinalStatus());
  Status status = *recorder.final_status();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("fell behind"));
  EXPECT_THAT(status.message(), HasSubstr("re-list"));
  EXPECT_LT(recorder.event_count(), 51u);
  Put("/k/after", "v");
  auto witness = std::make_unique<WatchRecorder>();
  auto witness_handle = MustWatch("/k/", 51, *witness);
  ASSERT_TRUE(witness->WaitForEvents(1));
  EXPECT_EQ(recorder.calls_after_final(), 0) << "nothing is delivered after the final status";
  witness_handle.reset();
}

TEST_P(StoreConformanceTest, ConcurrentCasIncrementsLoseNoUpdateAndWatcherSeesEveryRevision) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 500;
  ASSERT_TRUE(CreateOnly(store(), "/counter", "0").ok());
  WatchRecorder recorder;
  auto handle = MustWatch("/counter", 0, recorder);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        while (true) {
          Result<KeyValue> kv = store().Get("/counter");
          if (!kv.ok()) {
            ++errors;
            return;
          }
          std::string next = std::to_string(std::stoi(kv->value) + 1);
          Result<TransactionResult> result =
              UpdateIfRevision(store(), "/counter", next, kv->mod_revision);
          if (result.ok()) break;
          if (result.status().code() != StatusCode::kConflict) {
            ++errors;
            return;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  constexpr int kTotal = kThreads * kIncrements;
  EXPECT_EQ(store().Get("/counter")->value, std::to_string(kTotal));
  EXPECT_EQ(store().Get("/counter")->version, kTotal + 1);
  EXPECT_EQ(store().CurrentRevision(), kTotal + 1);

  ASSERT_TRUE(recorder.WaitForEvents(kTotal + 1));
  std::vector<int64_t> revisions = recorder.revisions();
  ASSERT_EQ(revisions.size(), static_cast<size_t>(kTotal + 1));
  for (size_t i = 0; i < revisions.size(); ++i) {
    ASSERT_EQ(revisions[i], static_cast<int64_t>(i + 1)) << "gap or duplicate at " << i;
  }
  std::vector<Event> events = recorder.events();
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].kv.value, std::to_string(i)) << "increments seen out of order";
  }
}

TEST_P(StoreConformanceTest, WatchStartedDuringCommitsSeesEveryRevisionExactlyOnce) {
  // Watches from 0 start while a writer keeps committing (it stops 200 commits after the last
  // one started), so each has both history to replay and live revisions to follow: the handoff
  // between the two must neither drop nor double a revision.
  constexpr int kWatches = 4;
  std::atomic<int> started{0};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    int after_last_start = 0;
    while (after_last_start < 200) {
      int i = commits.load();
      Put("/w/" + std::to_string(i % 7), std::to_string(i));
      commits = i + 1;
      if (started.load() == kWatches) ++after_last_start;
    }
  });
  std::vector<std::unique_ptr<WatchRecorder>> recorders;
  std::vector<std::unique_ptr<WatchHandle>> handles;
  for (int i = 0; i < kWatches; ++i) {
    // Let some history build up first (bounded: the writer never stops before we are done).
    while (commits.load() < 20 * (i + 1)) std::this_thread::yield();
    recorders.push_back(std::make_unique<WatchRecorder>());
    handles.push_back(MustWatch("/w/", 0, *recorders.back()));
    ++started;
  }
  writer.join();
  const int total = commits.load();
  ASSERT_EQ(store().CurrentRevision(), total);
  for (auto& recorder : recorders) {
    ASSERT_TRUE(recorder->WaitForEvents(total));
    std::vector<int64_t> revisions = recorder->revisions();
    ASSERT_EQ(revisions.size(), static_cast<size_t>(total));
    for (int i = 0; i < total; ++i) ASSERT_EQ(revisions[i], i + 1);
  }
  handles.clear();
}

TEST_P(StoreConformanceTest, WatchReplaysAHistoryLargerThanOnePage) {
  // More events than one history read returns (1000), and one transaction larger than that.
  for (int i = 0; i < 1500; ++i) Put("/big/" + std::to_string(i), "v");
  Transaction wide;
  for (int i = 0; i < 1200; ++i)
    wide.success.push_back(Operation::Put("/wide/" + std::to_string(i), "v"));
  ASSERT_TRUE(store().Commit(wide).ok());
  WatchRecorder recorder;
  auto handle = MustWatch("", 0, recorder);
  ASSERT_TRUE(recorder.WaitForEvents(2700));
  std::vector<std::vector<Event>> batches = recorder.batches();
  ASSERT_EQ(batches.size(), 1501u);
  EXPECT_EQ(batches.back().size(), 1200u);
  EXPECT_EQ(WatchRecorder::Revision(batches.back()), 1501);
}

TEST_P(StoreConformanceTest, CompactionDuringReplayEndsTheWatchWithOutOfRange) {
  // The watcher is stuck in its first callback of a long replay while history is compacted
  // under it: it must not skip the compacted revisions silently.
  constexpr int kRevisions = 2500;
  for (int i = 0; i < kRevisions; ++i) Put("/k/" + std::to_string(i), "v");
  std::mutex mutex;
  std::condition_variable changed;
  bool blocked = false;
  bool release = false;
  WatchRecorder recorder([&](const std::vector<Event>&) {
    std::unique_lock<std::mutex> lock(mutex);
    if (blocked) return;
    blocked = true;
    changed.notify_all();
    changed.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
  });
  auto handle = MustWatch("/k/", 0, recorder);
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return blocked; }));
  }
  ASSERT_TRUE(store().Compact(kRevisions).ok());
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
    changed.notify_all();
  }
  ASSERT_TRUE(recorder.WaitForFinalStatus());
  EXPECT_EQ(recorder.final_status()->code(), StatusCode::kOutOfRange);
  EXPECT_THAT(recorder.final_status()->message(), HasSubstr("re-list"));
  std::vector<int64_t> revisions = recorder.revisions();
  EXPECT_LT(revisions.size(), static_cast<size_t>(kRevisions));
  for (size_t i = 0; i < revisions.size(); ++i) {
    ASSERT_EQ(revisions[i], static_cast<int64_t>(i + 1)) << "what was delivered has no gap";
  }
}

TEST_P(StoreConformanceTest, CallbacksRunOnABackendThreadNotTheCommitter) {
  std::mutex mutex;
  std::thread::id callback_thread;
  WatchRecorder recorder([&](const std::vector<Event>&) {
    std::lock_guard<std::mutex> lock(mutex);
    callback_thread = std::this_thread::get_id();
  });
  auto handle = MustWatch("/k/", 0, recorder);
  Put("/k/1", "v");
  ASSERT_TRUE(recorder.WaitForEvents(1));
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  EXPECT_NE(callback_thread, std::thread::id());
}

TEST_P(StoreConformanceTest, HandleThatOutlivesItsStoreIsSafeToDestroy) {
  WatchRecorder recorder;
  auto handle = MustWatch("/k/", 0, recorder);
  Put("/k/1", "v");
  ASSERT_TRUE(recorder.WaitForEvents(1));
  store_.reset();
  handle.reset();  // must not touch the destroyed store (the sanitizer build checks it)
  EXPECT_EQ(recorder.event_count(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest, ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

// --- helpers of store.h -----------------------------------------------------------------------

TEST(StorePrefixEndTest, IncrementsTheLastByteThatCanBe) {
  EXPECT_EQ(PrefixEnd("/jobs/"), "/jobs0");
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
}

TEST(StorePrefixEndTest, IsEmptyWhenThereIsNoUpperBound) {
  EXPECT_EQ(PrefixEnd(""), "");
  EXPECT_EQ(PrefixEnd("\xff\xff"), "");
}

}  // namespace
}  // namespace drover::store
