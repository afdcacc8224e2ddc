// What the etcd backend adds to the store contract (the contract itself is
// store_conformance_test.cc, which runs on etcd too): URL parsing, the revision mapping, endpoint
// failover, an etcd that dies or restarts under a store and its watches, and fencing. Every test
// runs against a real etcd (tests/testing/etcd_process.h), never a mock.
#include "store/etcd_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/store/watch_recorder.h"
#include "tests/testing/etcd_process.h"
#include "tests/testing/http_client.h"

namespace drover::store {
namespace {

using ::drover::store::testing::WatchRecorder;
using ::drover::testing::EtcdProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

int64_t Put(Store& store, const std::string& key, const std::string& value) {
  Transaction transaction;
  transaction.success.push_back(Operation::Put(key, value));
  Result<TransactionResult> result = store.Commit(transaction);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? result->revision : -1;
}

std::string DeadEndpoint() { return "127.0.0.1:" + std::to_string(drover::testing::FreePort()); }

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error = etcd_.Start();
    ASSERT_EQ(error, "");
  }

  std::unique_ptr<Store> Open(EtcdStoreOptions options) {
    Result<std::unique_ptr<Store>> store = OpenEtcdStore(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<Store> Open() { return Open({.endpoints = {etcd_.endpoint()}}); }

  EtcdProcess etcd_;
};

TEST(EtcdUrlTest, ParsesOneOrMoreEndpoints) {
  Result<EtcdStoreOptions> one = ParseEtcdUrl("etcd://127.0.0.1:2379");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_THAT(one->endpoints, ElementsAre("127.0.0.1:2379"));
  Result<EtcdStoreOptions> three = ParseEtcdUrl("etcd://a:1,b.example:2,10.0.0.3:2379");
  ASSERT_TRUE(three.ok());
  EXPECT_THAT(three->endpoints, ElementsAre("a:1", "b.example:2", "10.0.0.3:2379"));
}

TEST(EtcdUrlTest, RejectsWhatIsNotHostPortList) {
  for (const char* url : {"http://a:1", "etcd://", "etcd://a", "etcd://a:1,", "etcd://a:x",
                          "etcd://a:1/path", "etcd://:1"}) {
    Result<EtcdStoreOptions> parsed = ParseEtcdUrl(url);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalid) << url;
  }
}

TEST(EtcdOpenTest, NoEndpointAnsweringIsUnavailableAndNamesEveryEndpoint) {
  std::string first = DeadEndpoint();
  std::string second = DeadEndpoint();
  auto started = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Store>> store = OpenEtcdStore({.endpoints = {first, second}});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr(first));
  EXPECT_THAT(store.status().message(), HasSubstr(second));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(EtcdStoreTest, DroverRevisionIsEtcdRevisionMinusOne) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), 0);  // a fresh etcd is at its revision 1
  EXPECT_EQ(Put(*store, "/a", "v"), 1);
  // etcd itself, through its gateway ("L2E=" is "/a"), says 2.
  drover::testing::HttpReply reply =
      drover::testing::Http(etcd_.client_port(), "POST", "/v3/kv/range", R"({"key":"L2E="})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Json()["kvs"][0]["mod_revision"], "2");
  EXPECT_EQ(reply.Json()["header"]["revision"], "2");
}

TEST_F(EtcdStoreTest, DownEndpointFailsOverToTheNext) {
  std::string dead = DeadEndpoint();
  auto store = Open({.endpoints = {dead, etcd_.endpoint()}});
  ASSERT_NE(store, nullptr);
  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/k/", 0, recorder.Callback());
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  EXPECT_EQ(Put(*store, "/k/a", "1"), 1);
  EXPECT_EQ(store->Get("/k/a")->value, "1");
  EXPECT_EQ(store->List("/k/")->items.size(), 1u);
  ASSERT_TRUE(recorder.WaitForEvents(1));
  EXPECT_FALSE(recorder.final_status().has_value());
}

TEST_F(EtcdStoreTest, KilledEtcdGivesUnavailableForCallsAndEndsWatches) {
  auto store = Open({.endpoints = {etcd_.endpoint()},
                     .request_timeout = std::chrono::milliseconds(2'000),
                     .watch_reconnect_window = std::chrono::milliseconds(1'000)});
  ASSERT_NE(store, nullptr);
  Put(*store, "/k/a", "1");
  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/k/", 0, recorder.Callback());
  ASSERT_TRUE(handle.ok());
  ASSERT_TRUE(recorder.WaitForEvents(1));

  etcd_.Kill();
  auto started = std::chrono::steady_clock::now();
  Result<KeyValue> get = store->Get("/k/a");
  EXPECT_EQ(get.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(get.status().message(), HasSubstr(etcd_.endpoint()));
  Result<TransactionResult> commit = CreateOnly(*store, "/k/b", "2");
  EXPECT_EQ(commit.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->CurrentRevision(), 1) << "the last revision seen, without hanging";
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));

  ASSERT_TRUE(recorder.WaitForFinalStatus());
  EXPECT_EQ(recorder.final_status()->code(), StatusCode::kUnavailable);
  EXPECT_THAT(recorder.final_status()->message(), HasSubstr("re-list"));
  EXPECT_THAT(recorder.final_status()->message(), HasSubstr(etcd_.endpoint()));
  EXPECT_EQ(recorder.event_count(), 1u);
}

TEST_F(EtcdStoreTest, HungEtcdGivesUnavailableAfterTheRequestTimeout) {
  auto store =
      Open({.endpoints = {etcd_.endpoint()}, .request_timeout = std::chrono::milliseconds(500)});
  ASSERT_NE(store, nullptr);
  Put(*store, "/a", "1");
  etcd_.Pause();
  auto started = std::chrono::steady_clock::now();
  Result<KeyValue> get = store->Get("/a");
  EXPECT_EQ(get.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(get.status().message(), HasSubstr(etcd_.endpoint()));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  etcd_.Resume();
}

TEST_F(EtcdStoreTest, WatchResumesAfterAnEtcdRestartWithoutGapOrDuplicate) {
  // The second endpoint is dead: the reconnecting watch goes round both.
  auto store = Open({.endpoints = {etcd_.endpoint(), DeadEndpoint()}});
  ASSERT_NE(store, nullptr);
  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/k/", 0, recorder.Callback());
  ASSERT_TRUE(handle.ok());
  Put(*store, "/k/1", "v");
  Put(*store, "/k/2", "v");
  ASSERT_TRUE(recorder.WaitForEvents(2));

  etcd_.Kill();
  ASSERT_EQ(etcd_.Start(), "");  // same endpoint, same data
  // The first calls may meet connections the restart broke; reads retry on their own.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!store->Get("/k/1").ok() && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(Put(*store, "/k/3", "v"), 3);
  ASSERT_TRUE(recorder.WaitForEvents(3));
  EXPECT_THAT(recorder.revisions(), ElementsAre(1, 2, 3));
  EXPECT_FALSE(recorder.final_status().has_value());
}

TEST_F(EtcdStoreTest, ATransactionOverEtcdsLimitsIsTooLargeAndNamesTheFlag) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  int64_t before = store->CurrentRevision();
  Transaction huge;  // over the test etcd's --max-txn-ops and its 1.5 MiB request limit
  for (int i = 0; i < 100'001; ++i) {
    huge.success.push_back(Operation::Put("/k/" + std::to_string(i), "v"));
  }
  Result<TransactionResult> result = store->Commit(huge);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kTooLarge) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("100001 operations"));
  EXPECT_THAT(result.status().message(), HasSubstr("--max-"));
  EXPECT_EQ(store->CurrentRevision(), before);
}

TEST_F(EtcdStoreTest, FenceThatNoLongerHoldsFailsTheCommitAndAppliesNeitherBranch) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  Put(*writer, "/leader", "me");  // revision 1
  auto fenced =
      Open({.endpoints = {etcd_.endpoint()}, .fence = []() -> Result<std::vector<Compare>> {
              return std::vector<Compare>{{"/leader", Compare::Target::kModRevision, 1}};
            }});
  ASSERT_NE(fenced, nullptr);

  // While the fence holds, the caller's own compare picks the branch as usual.
  Transaction transaction;
  transaction.compares.push_back({"/jobs/a", Compare::Target::kCreateRevision, 0});
  transaction.success.push_back(Operation::Put("/jobs/a", "1"));
  transaction.failure.push_back(Operation::Put("/conflicts/a", "x"));
  Result<TransactionResult> first = fenced->Commit(transaction);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->succeeded);
  EXPECT_EQ(first->revision, 2);
  Result<TransactionResult> second = fenced->Commit(transaction);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);
  EXPECT_EQ(fenced->Get("/conflicts/a")->value, "x");

  // Someone else takes over: the fenced store can no longer write at all.
  Put(*writer, "/leader", "other");
  int64_t before = writer->CurrentRevision();
  Transaction blind;
  blind.success.push_back(Operation::Put("/jobs/b", "1"));
  Result<TransactionResult> lost = fenced->Commit(blind);
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(lost.status().message(), HasSubstr("fence"));
  EXPECT_EQ(writer->CurrentRevision(), before);
  EXPECT_EQ(writer->Get("/jobs/b").status().code(), StatusCode::kNotFound);
}

TEST_F(EtcdStoreTest, FenceErrorFailsTheCommitWithoutContactingEtcd) {
  auto fenced =
      Open({.endpoints = {etcd_.endpoint()}, .fence = []() -> Result<std::vector<Compare>> {
              return UnavailableError("not the leader");
            }});
  ASSERT_NE(fenced, nullptr);
  Transaction transaction;
  transaction.success.push_back(Operation::Put("/a", "1"));
  Result<TransactionResult> result = fenced->Commit(transaction);
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(result.status().message(), "not the leader");
  EXPECT_EQ(fenced->CurrentRevision(), 0);
}

}  // namespace
}  // namespace drover::store
