// JobCache over a real in-memory store: what a re-list (after the watch fell behind) leaves in
// the cache and what it tells the handlers.
#include "controller/job_cache.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "api/validation.h"
#include "controller/job_controller.h"
#include "controller/job_service.h"
#include "controller/keys.h"
#include "store/memory_store.h"
#include "tests/controller/fake_clock.h"

namespace drover::controller {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

// Records the handlers' notices; execution notices wait while the gate is closed.
class Handlers {
 public:
  CacheHandlers Make() {
    return {[this](const std::string&) {
              std::lock_guard<std::mutex> lock(mu_);
              ++jobs_;
            },
            [this](const ExecutionChange& c) {
              std::unique_lock<std::mutex> lock(mu_);
              executions_.push_back(c);
              waiting_ = !open_;
              cv_.notify_all();
              cv_.wait(lock, [&] { return open_; });
              waiting_ = false;
            }};
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool WaitUntilHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return waiting_; });
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_ = 0;
    executions_.clear();
  }
  int jobs() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_;
  }
  std::vector<ExecutionChange> executions() {
    std::lock_guard<std::mutex> lock(mu_);
    return executions_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool waiting_ = false;
  int jobs_ = 0;
  std::vector<ExecutionChange> executions_;
};

TEST(JobCacheTest, ARelistAfterTheWatchFellBehindReadsInPagesAndNoticesOnlyWhatChanged) {
  FakeClock clock;
  // a watch may hold 8 undelivered events: a blocked handler makes it fall behind
  std::unique_ptr<store::Store> store = store::NewMemoryStore({.watch_buffer_events = 8});
  NodeRegistry nodes(*store, clock, {1000ms, 600'000ms});
  JobService jobs(*store, clock, nodes);
  ApiAnswer put = jobs.Put(CheckPutJobRequest(
      {{"spec",
        {{"name", "logs"},
         {"type", "pipeline"},
         {"selector", {{"match_labels", {{"role", "edge"}}}}},
         {"config",
          {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
         {"rollout", {{"strategy", "immediate"}}}}}}));
  ASSERT_EQ(put.status, 201) << put.body.dump();
  const std::string job_id = put.body["job_id"];

  // more executions than one page of the list
  std::vector<ExecutionRecord> all;
  store::Transaction txn;
  for (int i = 0; i < 12'001; ++i) {
    ExecutionRecord e;
    e.id = NewExecutionId();
    e.job_id = job_id;
    e.namespace_ = "default";
    e.name = "logs";
    e.node_id = "edge-" + std::to_string(i);
    e.created_at = e.updated_at = "2026-12-04T22:03:30.004Z";
    txn.success.push_back(
        store::Operation::Put(keys::Execution(job_id, e.id), ExecutionToJson(e).dump()));
    all.push_back(e);
  }
  ASSERT_TRUE(store->Commit(txn).ok());

  Handlers handlers;
  JobCache cache(*store, handlers.Make());
  ASSERT_TRUE(cache.Start().ok());
  ASSERT_TRUE(cache.WaitForRevision(store->CurrentRevision(), 5s));
  EXPECT_EQ(cache.ExecutionCount(job_id), all.size());
  EXPECT_EQ(handlers.executions().size(), all.size()) << "at the start every execution is new";
  EXPECT_EQ(handlers.jobs(), 1);

  auto commit = [&](store::Operation op) {
    store::Transaction t;
    t.success.push_back(std::move(op));
    ASSERT_TRUE(store->Commit(t).ok());
  };
  auto running = [&](size_t i) {
    ExecutionRecord e = all[i];
    e.state = "running";
    commit(store::Operation::Put(keys::Execution(job_id, e.id), ExecutionToJson(e).dump()));
    all[i] = e;
  };
  handlers.Close();
  handlers.Clear();
  running(0);
  ASSERT_TRUE(handlers.WaitUntilHeld());  // the watch's thread waits in the handler
  for (size_t i = 1; i <= 10; ++i) running(i);
  commit(store::Operation::Delete(keys::Execution(job_id, all[11].id)));
  ExecutionRecord added = all[12];
  added.id = NewExecutionId();
  added.node_id = "edge-new";
  commit(store::Operation::Put(keys::Execution(job_id, added.id), ExecutionToJson(added).dump()));
  handlers.Open();

  // the watch ended (more than 8 events waited): the cache re-lists and catches up
  ASSERT_TRUE(cache.WaitForRevision(store->CurrentRevision(), 10s));
  EXPECT_EQ(handlers.jobs(), 1) << "the re-list notices every job (only executions changed)";
  EXPECT_EQ(cache.ExecutionCount(job_id), all.size());
  for (size_t i = 0; i <= 10; ++i) {
    std::optional<Versioned<ExecutionRecord>> got = cache.Execution(all[i].id, job_id);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->value, all[i]) << i;
  }
  EXPECT_FALSE(cache.Execution(all[11].id, job_id).has_value());
  ASSERT_TRUE(cache.Execution(added.id, job_id).has_value());
  EXPECT_EQ(cache.Execution(added.id, job_id)->value, added);
  EXPECT_EQ(cache.ExecutionsOnNode("edge-new").size(), 1u);
  EXPECT_TRUE(cache.ExecutionsOnNode("edge-11").empty());
  EXPECT_EQ(cache.ExecutionsOnNode("edge-5").size(), 1u);

  // Told about the changed, deleted and added executions, not about the 11,989 unchanged ones.
  std::set<std::string> noticed;
  for (const ExecutionChange& c : handlers.executions()) noticed.insert(c.id);
  for (size_t i = 0; i <= 10; ++i) EXPECT_TRUE(noticed.count(all[i].id)) << i;
  EXPECT_TRUE(noticed.count(all[11].id));
  EXPECT_TRUE(noticed.count(added.id));
  EXPECT_LE(handlers.executions().size(), 20u);
  for (const ExecutionChange& c : handlers.executions()) {
    if (c.id == all[11].id) {
      EXPECT_TRUE(c.deleted);
    }
    if (c.id == added.id) {
      EXPECT_TRUE(c.created);
    }
  }
  cache.Stop();
}

}  // namespace
}  // namespace drover::controller
