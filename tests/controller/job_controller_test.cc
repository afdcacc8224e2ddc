// JobController over a real in-memory store and a fake clock, with no worker threads: the test
// calls Reconcile(job id) itself and checks what was recorded in the store, what agents are told
// and what heartbeats write. No sleeps: the fake clock moves only when the test says so.
#include "controller/job_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "api/validation.h"
#include "controller/job_service.h"
#include "controller/keys.h"
#include "store/memory_store.h"
#include "tests/controller/fake_clock.h"
#include "tests/testing/eventually.h"

namespace drover::controller {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

class JobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartController(); }
  void TearDown() override { controller_.reset(); }

  void StartController() {
    JobControllerOptions options;
    options.workers = 0;
    options.queue_timer_thread = false;
    controller_ = std::make_unique<JobController>(*store_, clock_, nodes_, nullptr, options);
    ASSERT_TRUE(controller_->Start().ok());
  }

  void Register(const std::string& id, Labels labels) {
    NodeRecord n;
    n.id = id;
    n.labels = std::move(labels);
    ASSERT_TRUE(nodes_.Register(n, "").ok());
  }

  std::string Put(const Json& spec) {
    ApiAnswer a = jobs_.Put(CheckPutJobRequest({{"spec", spec}}));
    EXPECT_TRUE(a.status == 200 || a.status == 201) << a.body.dump();
    Sync();
    return a.body.value("job_id", "");
  }

  void Sync() { controller_->cache().WaitForRevision(store_->CurrentRevision(), 2000ms); }

  ReconcileOutcome Reconcile(const std::string& id) {
    Sync();
    Result<ReconcileOutcome> r = controller_->Reconcile(id);
    EXPECT_TRUE(r.ok()) << r.status().message();
    Sync();
    return r.ok() ? *r : ReconcileOutcome{};
  }

  std::vector<ExecutionRecord> Executions(const std::string& job_id) {
    std::vector<ExecutionRecord> out;
    Result<store::RangeResult> list = store_->List(keys::ExecutionsOf(job_id));
    EXPECT_TRUE(list.ok());
    for (const store::KeyValue& kv : list->items) {
      out.push_back(*ExecutionFromJson(Json::parse(kv.value)));
    }
    return out;
  }

  RolloutRecord Rollout(const std::string& job_id) {
    return *RolloutRecordFromJson(Json::parse(store_->Get(keys::Rollout(job_id))->value));
  }

  Json JobStatus(const std::string& job_id) { return jobs_.Get(job_id, "").body["job"]["status"]; }

  void Heartbeat(const std::string& node, const std::string& state,
                 const std::string& health = "unknown", std::optional<Json> results = {}) {
    std::vector<Json> reported;
    for (const Json& a : controller_->Assignments(node)) {
      if (a["desired_state"] != "running") continue;
      Json e = {{"execution_id", a["execution_id"]},
                {"job_id", a["job_id"]},
                {"version", a["version"]},
                {"state", state},
                {"exit_code", nullptr},
                {"restarts", 0},
                {"health", health},
                {"message", ""}};
      if (results) e["results"] = *results;
      reported.push_back(e);
    }
    ASSERT_TRUE(nodes_.Heartbeat(node, "", reported).ok());
    controller_->ObserveHeartbeat(node, reported);
    controller_->FlushStatus();
    Sync();
  }

  static Json Pipeline(const std::string& name, const std::string& strategy = "immediate") {
    Json spec = {
        {"name", name},
        {"type", "pipeline"},
        {"selector", {{"match_labels", {{"role", "edge"}}}}},
        {"config",
         {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
        {"rollout", {{"strategy", strategy}}}};
    if (strategy != "immediate") {
      spec["rollout"]["health_check"] = {
          {"deadline", "60s"}, {"interval", "1s"}, {"success_threshold", 1}};
      spec["rollout"]["max_parallel"] = 50;
    }
    return spec;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore();
  NodeRegistry nodes_{*store_, clock_, {1000ms, 600'000ms}};
  JobService jobs_{*store_, clock_, nodes_};
  std::unique_ptr<JobController> controller_;
};

TEST_F(JobControllerTest, PlacesAJobOnMatchingNodesThroughTheStore) {
  for (int i = 0; i < 3; ++i) Register("edge-" + std::to_string(i), {{"role", "edge"}});
  Register("core-0", {{"role", "core"}});
  const uint64_t index_before = nodes_.Get("edge-0")->assignments_index;
  std::string id = Put(Pipeline("logs"));
  ReconcileOutcome r = Reconcile(id);
  EXPECT_TRUE(r.wrote);
  std::vector<ExecutionRecord> executions = Executions(id);
  ASSERT_EQ(executions.size(), 3u);
  for (const ExecutionRecord& e : executions) {
    EXPECT_NE(e.node_id, "core-0");
    EXPECT_EQ(e.version, 1);
    EXPECT_EQ(e.desired_state, "running");
    EXPECT_EQ(e.id.rfind("e-", 0), 0u);
  }
  EXPECT_EQ(Rollout(id).current_wave, 1);
  EXPECT_EQ(JobStatus(id)["state"], "deploying");
  Json events = jobs_.Events(id, "").body["items"];
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back()["reason"], "WaveStarted");
  // the node was told: its long-poll index moved, and its assignment carries the spec
  EXPECT_GT(nodes_.Get("edge-0")->assignments_index, index_before);
  Json a = controller_->Assignments("edge-0");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["job_id"], id);
  EXPECT_EQ(a[0]["type"], "pipeline");
  EXPECT_EQ(a[0]["desired_state"], "running");
  EXPECT_TRUE(a[0]["config"].contains("input"));
  EXPECT_EQ(controller_->Assignments("core-0").size(), 0u);
}

TEST_F(JobControllerTest, ImmediateRolloutSucceedsOnTheFakeClock) {
  for (int i = 0; i < 2; ++i) Register("edge-" + std::to_string(i), {{"role", "edge"}});
  std::string id = Put(Pipeline("logs"));
  Reconcile(id);
  for (int i = 0; i < 2; ++i) Heartbeat("edge-" + std::to_string(i), "running");
  ReconcileOutcome r = Reconcile(id);
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(Rollout(id).phase, "progressing");
  clock_.Advance(10s);
  for (int i = 0; i < 2; ++i) Heartbeat("edge-" + std::to_string(i), "running");
  Reconcile(id);
  EXPECT_EQ(Rollout(id).phase, "succeeded");
  Json status = JobStatus(id);
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["stable_version"], 1);
  EXPECT_EQ(status["rollout"]["healthy_nodes"], 2);
}

TEST_F(JobControllerTest, HeartbeatsWriteOnlyWhatChanged) {
  Register("edge-0", {{"role", "edge"}});
  std::string id = Put(Pipeline("logs", "rolling"));
  Reconcile(id);
  Heartbeat("edge-0", "running", "healthy");
  ExecutionRecord e = Executions(id).at(0);
  EXPECT_EQ(e.state, "running");
  EXPECT_EQ(e.health, "healthy");
  EXPECT_FALSE(e.stable_at.empty());
  const int64_t revision = store_->CurrentRevision();
  Heartbeat("edge-0", "running", "healthy");
  EXPECT_EQ(store_->CurrentRevision(), revision) << "an unchanged heartbeat writes nothing";
}

TEST_F(JobControllerTest, ConcurrentReconcilesOfOneJobNeverDoubleCreate) {
  for (int i = 0; i < 20; ++i) Register("edge-" + std::to_string(i), {{"role", "edge"}});
  std::string id = Put(Pipeline("logs"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k) (void)controller_->Reconcile(id);
    });
  }
  for (std::thread& t : threads) t.join();
  Sync();
  std::map<std::string, int> per_node;
  for (const ExecutionRecord& e : Executions(id)) ++per_node[e.node_id];
  EXPECT_EQ(per_node.size(), 20u);
  for (const auto& [node, n] : per_node) EXPECT_EQ(n, 1) << node;
}

TEST_F(JobControllerTest, StoppedJobIsStoppedOnEveryNodeThenCollected) {
  Register("edge-0", {{"role", "edge"}});
  std::string id = Put(Pipeline("logs"));
  Reconcile(id);
  Heartbeat("edge-0", "running");
  ASSERT_EQ(jobs_.Stop(id, "", false).status, 200);
  Sync();
  Reconcile(id);
  Json a = controller_->Assignments("edge-0");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["desired_state"], "stopped") << "a stop is sent until the agent drops it";
  Heartbeat("edge-0", "running");  // reports nothing running any more
  EXPECT_EQ(Executions(id).at(0).state, "stopped");
  EXPECT_EQ(controller_->Assignments("edge-0").size(), 0u);
  Reconcile(id);
  EXPECT_TRUE(Executions(id).empty()) << "finished stops are garbage-collected";
  EXPECT_EQ(JobStatus(id)["state"], "stopped");
}

TEST_F(JobControllerTest, QueryResultsArriveOnePerNode) {
  for (int i = 0; i < 3; ++i) Register("edge-" + std::to_string(i), {{"role", "edge"}});
  Json spec = Pipeline("count");
  spec["type"] = "query";
  std::string id = Put(spec);
  Reconcile(id);
  for (int i = 0; i < 3; ++i) {
    Heartbeat("edge-" + std::to_string(i), "completed", "unknown",
              Json::array({{{"node", "edge-" + std::to_string(i)}}}));
  }
  Reconcile(id);
  EXPECT_EQ(JobStatus(id)["state"], "completed");
  StoredJob stored = *jobs_.Find(id, "");
  Json results = jobs_.Results(stored).body["items"];
  ASSERT_EQ(results.size(), 3u);
  std::set<std::string> nodes;
  for (const Json& r : results) {
    nodes.insert(r["node_id"].get<std::string>());
    EXPECT_EQ(r["results"][0]["node"], r["node_id"]);
  }
  EXPECT_EQ(nodes.size(), 3u);
}

TEST_F(JobControllerTest, ARestartedControllerContinuesWhereTheStoreStands) {
  for (int i = 0; i < 4; ++i) Register("edge-" + std::to_string(i), {{"role", "edge"}});
  std::string id = Put(Pipeline("logs", "rolling"));
  Reconcile(id);
  ASSERT_EQ(Executions(id).size(), 2u);  // first wave of 50%
  controller_.reset();
  StartController();
  ReconcileOutcome r = Reconcile(id);
  EXPECT_EQ(Executions(id).size(), 2u) << "the wave in progress is not started again";
  EXPECT_EQ(Rollout(id).current_wave, 1);
  for (int i = 0; i < 4; ++i) Heartbeat("edge-" + std::to_string(i), "running", "healthy");
  Reconcile(id);
  EXPECT_EQ(Executions(id).size(), 4u);
  EXPECT_EQ(Rollout(id).current_wave, 2);
}

TEST_F(JobControllerTest, RelabelledNodeLeavesAndJoins) {
  Register("edge-0", {{"role", "edge"}});
  Register("edge-1", {{"role", "core"}});
  std::string id = Put(Pipeline("logs"));
  Reconcile(id);
  ASSERT_EQ(Executions(id).size(), 1u);
  Heartbeat("edge-0", "running");
  clock_.Advance(10s);
  Heartbeat("edge-0", "running");
  Reconcile(id);
  ASSERT_EQ(Rollout(id).phase, "succeeded");
  Register("edge-1", {{"role", "edge"}});  // relabelled into the selector
  Reconcile(id);
  EXPECT_EQ(Executions(id).size(), 2u);
  EXPECT_EQ(controller_->Assignments("edge-1").size(), 1u);
  Register("edge-0", {{"role", "core"}});  // and out of it
  Reconcile(id);
  Json a = controller_->Assignments("edge-0");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["desired_state"], "stopped");
}

TEST_F(JobControllerTest, DrainStopsTheNodesExecutionsAndUncordonBringsThemBack) {
  Register("edge-0", {{"role", "edge"}});
  Register("edge-1", {{"role", "edge"}});
  std::string id = Put(Pipeline("logs"));
  Reconcile(id);
  Heartbeat("edge-0", "running");
  Heartbeat("edge-1", "running");
  clock_.Advance(10s);
  Heartbeat("edge-0", "running");
  Heartbeat("edge-1", "running");
  Reconcile(id);
  ASSERT_EQ(Rollout(id).phase, "succeeded");
  ASSERT_TRUE(nodes_.SetSchedulable("edge-1", false, true).ok());  // drain
  Reconcile(id);
  Json a = controller_->Assignments("edge-1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["desired_state"], "stopped");
  Heartbeat("edge-1", "running");  // the agent stopped it: reports nothing running
  Reconcile(id);
  EXPECT_EQ(controller_->Assignments("edge-1").size(), 0u);
  ASSERT_TRUE(nodes_.SetSchedulable("edge-1", true, false).ok());  // uncordon
  Reconcile(id);
  a = controller_->Assignments("edge-1");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["desired_state"], "running");
  EXPECT_EQ(a[0]["version"], 1);
}

TEST_F(JobControllerTest, HigherPriorityJobsAreReconciledFirst) {
  Json low = Pipeline("low");
  low["priority"] = 10;
  Json high = Pipeline("high");
  high["priority"] = 90;
  std::string low_id = Put(low);
  std::string high_id = Put(high);
  // both are waiting in the queue (added by the cache's watch): the higher priority comes first
  std::optional<WorkQueue::Item> first = controller_->queue().TryGet();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->key, high_id);
  EXPECT_EQ(first->priority, 90);
  controller_->queue().Done(first->key);
  std::optional<WorkQueue::Item> second = controller_->queue().TryGet();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->key, low_id);
  controller_->queue().Done(second->key);
}

TEST_F(JobControllerTest, ConnectionStateTransitionsOnTheMonotonicClockRequeueTheJob) {
  Register("edge-0", {{"role", "edge"}});
  std::string id = Put(Pipeline("logs"));
  Reconcile(id);
  while (auto item = controller_->queue().TryGet()) controller_->queue().Done(item->key);
  EXPECT_EQ(nodes_.StateOf("edge-0"), "connected");
  clock_.Advance(3s);  // three heartbeat intervals without one
  EXPECT_EQ(nodes_.StateOf("edge-0"), "disconnected");
  // the registry's scan notices the transition and queues the job
  nodes_.CheckConnectionStates();
  std::optional<WorkQueue::Item> item = controller_->queue().TryGet();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->key, id);
  controller_->queue().Done(item->key);
  clock_.Advance(600s);
  EXPECT_EQ(nodes_.StateOf("edge-0"), "lost");
  Heartbeat("edge-0", "running");
  EXPECT_EQ(nodes_.StateOf("edge-0"), "connected");
}

// The cache keeps executions in a compact form (UUID ids as 128 bits, the controller's timestamps
// as integers, other strings interned): whatever was stored comes back exactly, odd values too.
TEST_F(JobControllerTest, TheCacheGivesBackEveryExecutionExactlyAsStored) {
  std::string id = Put(Pipeline("logs"));
  ExecutionRecord usual;
  usual.id = NewExecutionId();
  usual.job_id = id;
  usual.namespace_ = "default";
  usual.name = "logs";
  usual.node_id = "edge-0";
  usual.state = "running";
  usual.health = "healthy";
  usual.stable_at = "2026-12-04T22:03:38.123Z";
  usual.created_at = "2026-12-04T22:03:30.004Z";
  usual.updated_at = "2026-12-04T22:03:38.123Z";
  usual.exit_code = 0;
  usual.rollout_id = 12;
  usual.attempt = 2;
  usual.wave = 3;
  ExecutionRecord odd = usual;
  odd.id = "e-3F2504E0-4F89-41D3-9A0C-0305E82C3301";  // upper case: kept as text
  odd.namespace_ = "";
  odd.node_id = "2026-12-04T22:03:38.123Z";  // looks like a timestamp
  odd.desired_state = "stopped";
  odd.state = "weird";
  odd.health = "";
  odd.exit_code.reset();
  odd.restarts = 7;
  odd.message = "boom";
  odd.stable_at = "2026-02-30T00:00:00.000Z";  // no such day
  odd.created_at = "1969-12-31T23:59:59.999Z";
  odd.updated_at = "t+5";
  odd.replaced_for_rollout = 13;
  odd.replaced_for_version = 4;
  odd.replaced_for_wave = 5;
  odd.rollback_of = 2;
  ExecutionRecord nil = usual;
  nil.id = "e-00000000-0000-0000-0000-000000000000";
  nil.node_id = "edge-1";
  ExecutionRecord short_id = usual;
  short_id.id = "e-1";
  short_id.stable_at = "2026-12-04T22:03:38.12Z";
  std::vector<ExecutionRecord> all = {usual, odd, nil, short_id};
  store::Transaction txn;
  for (const ExecutionRecord& e : all) {
    txn.success.push_back(
        store::Operation::Put(keys::Execution(id, e.id), ExecutionToJson(e).dump()));
  }
  ASSERT_TRUE(store_->Commit(txn).ok());
  Sync();
  JobCache& cache = controller_->cache();
  for (const ExecutionRecord& e : all) {
    std::optional<Versioned<ExecutionRecord>> got = cache.Execution(e.id, id);
    ASSERT_TRUE(got.has_value()) << e.id;
    EXPECT_EQ(got->value, e) << ExecutionToJson(got->value).dump();
    EXPECT_EQ(cache.Execution(e.id)->value, e) << "found without the job id too";
  }
  std::optional<JobSnapshot> snapshot = cache.Snapshot(id);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->executions.size(), all.size());
  std::vector<ExecutionRecord> on_edge0 = cache.ExecutionsOnNode("edge-0");
  ASSERT_EQ(on_edge0.size(), 2u);
  EXPECT_EQ(cache.ExecutionsOnNode(odd.node_id).at(0), odd);
  EXPECT_EQ(cache.JobsOnNode(odd.node_id), std::vector<std::string>{id});
  EXPECT_FALSE(cache.Execution("e-3f2504e0-4f89-41d3-9a0c-0305e82c3301"))
      << "ids differing only in case are different ids";

  // changed, then deleted: what the cache gives back follows, and nothing is left behind
  odd.state = "stopped";
  odd.message = "bye";
  auto commit = [&](store::Operation op) {
    store::Transaction t;
    t.success.push_back(std::move(op));
    ASSERT_TRUE(store_->Commit(t).ok());
  };
  commit(store::Operation::Put(keys::Execution(id, odd.id), ExecutionToJson(odd).dump()));
  Sync();
  EXPECT_EQ(cache.Execution(odd.id, id)->value, odd);
  commit(store::Operation::Delete(keys::Execution(id, odd.id)));
  commit(store::Operation::Delete(keys::Execution(id, short_id.id)));
  Sync();
  EXPECT_FALSE(cache.Execution(odd.id, id).has_value());
  EXPECT_FALSE(cache.Execution(short_id.id, id).has_value());
  EXPECT_TRUE(cache.ExecutionsOnNode(odd.node_id).empty());
  EXPECT_EQ(cache.ExecutionsOnNode("edge-0").size(), 1u);
  EXPECT_EQ(cache.Execution(usual.id, id)->value, usual);
}

// A store whose transactions fail (kTooLarge, as etcd's limits do) while they hold more than
// `max_ops` operations: a reconcile error that is not a conflict.
class LimitedStore final : public store::Store {
 public:
  explicit LimitedStore(store::Store& inner) : inner_(inner) {}
  std::atomic<size_t> max_ops{1'000'000};

  Result<store::KeyValue> Get(std::string_view key) override { return inner_.Get(key); }
  Result<store::RangeResult> List(std::string_view prefix, std::string_view start_after,
                                  size_t limit) override {
    return inner_.List(prefix, start_after, limit);
  }
  Result<store::TransactionResult> Commit(const store::Transaction& txn) override {
    if (txn.success.size() > max_ops) {
      return Status(StatusCode::kTooLarge,
                    "transaction of " + std::to_string(txn.success.size()) + " operations");
    }
    return inner_.Commit(txn);
  }
  Result<std::unique_ptr<store::WatchHandle>> Watch(std::string_view prefix, int64_t after_revision,
                                                    store::WatchCallback callback) override {
    return inner_.Watch(prefix, after_revision, std::move(callback));
  }
  Status Compact(int64_t revision) override { return inner_.Compact(revision); }
  int64_t CurrentRevision() override { return inner_.CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_.CompactedRevision(); }

 private:
  store::Store& inner_;
};

TEST(JobControllerFailureTest, AFailingReconcileIsLoggedAndRecordedOnceThenRetried) {
  FakeClock clock;  // node liveness stays put
  std::unique_ptr<store::Store> memory = store::NewMemoryStore();
  LimitedStore store(*memory);
  NodeRegistry nodes(store, clock, {1000ms, 600'000ms});
  JobService jobs(store, clock, nodes);
  for (int i = 0; i < 5; ++i) {
    NodeRecord n;
    n.id = "edge-" + std::to_string(i);
    n.labels = {{"role", "edge"}};
    ASSERT_TRUE(nodes.Register(n, "").ok());
  }
  std::mutex log_mu;
  std::vector<std::pair<std::string, std::string>> log;
  JobControllerOptions options;
  options.workers = 1;
  options.log = [&](const std::string& level, const std::string& message) {
    std::lock_guard<std::mutex> lock(log_mu);
    log.emplace_back(level, message);
  };
  auto said = [&] {
    std::lock_guard<std::mutex> lock(log_mu);
    return log;
  };
  // the placement (5 creates, the rollout, the job and its events) does not fit; the PUT (5
  // operations) does
  store.max_ops = 6;
  // the real clock for the queue's backoff (a few ms at first)
  JobController controller(store, RealClock(), nodes, nullptr, options);
  ASSERT_TRUE(controller.Start().ok());
  ApiAnswer put = jobs.Put(CheckPutJobRequest(
      {{"spec",
        {{"name", "logs"},
         {"namespace", "edge"},
         {"type", "pipeline"},
         {"selector", {{"match_labels", {{"role", "edge"}}}}},
         {"config",
          {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
         {"rollout", {{"strategy", "immediate"}}}}}}));
  ASSERT_EQ(put.status, 201) << put.body.dump();
  const std::string id = put.body["job_id"];
  auto failure_events = [&] {
    int n = 0;
    const ApiAnswer events = jobs.Events(id, "edge");
    for (const Json& e : events.body["items"]) {
      if (e["reason"] == "ReconcileFailed") {
        EXPECT_EQ(e["type"], "warning");
        EXPECT_NE(e["message"].get<std::string>().find("transaction of"), std::string::npos)
            << e.dump();
        ++n;
      }
    }
    return n;
  };
  ASSERT_TRUE(drover::testing::Eventually([&] { return failure_events() == 1; }, 10s))
      << jobs.Events(id, "edge").body.dump()
      << " executions in the cache: " << controller.cache().ExecutionCount(id)
      << ", said: " << said().size();
  std::vector<std::pair<std::string, std::string>> first = said();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].first, "warning");
  EXPECT_NE(first[0].second.find("edge/logs (" + id + ")"), std::string::npos) << first[0].second;
  EXPECT_NE(first[0].second.find("too_large"), std::string::npos) << first[0].second;
  EXPECT_TRUE(controller.cache().Snapshot(id)->executions.empty()) << "nothing half-written";

  // retried with backoff, the same error is not said again
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(failure_events(), 1);
  EXPECT_EQ(said().size(), 1u);

  // the store takes it again: the next retry places the job and says so
  store.max_ops = 1'000'000;
  ASSERT_TRUE(
      drover::testing::Eventually([&] { return controller.cache().ExecutionCount(id) == 5; }, 30s));
  ASSERT_TRUE(drover::testing::Eventually([&] { return said().size() == 2; }, 10s));
  EXPECT_EQ(said()[1].first, "info");
  EXPECT_NE(said()[1].second.find("succeeds again"), std::string::npos);
  controller.Stop();
}

}  // namespace
}  // namespace drover::controller
