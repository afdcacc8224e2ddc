// JobController: the level-triggered control loop of SPEC §9. It keeps an informer cache
// (JobCache) over the store, queues job ids in a WorkQueue on every relevant change (job,
// rollout, execution, node, timer, periodic resync), and runs workers that Reconcile(job id):
// observe a snapshot -> the pure Decide (reconcilers/rollout.h) -> apply the plan in one
// compare-and-swap transaction. It is also where agents' observed state enters the store
// (heartbeats are merged into execution records, written in batches and only on change) and
// where each node's assignments are read from. Thread-safe; Stop() (or the destructor) shuts it
// down cleanly: the queue drains, workers finish their key, the status writer flushes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/clock.h"
#include "controller/job_cache.h"
#include "controller/metrics.h"
#include "controller/node_registry.h"
#include "controller/workqueue.h"
#include "reconcilers/rollout.h"
#include "store/store.h"

namespace drover::controller {

struct JobControllerOptions {
  int workers = 2;                             // 0: tests call Reconcile themselves
  std::chrono::milliseconds resync{30'000};    // every job is reconciled this often
  int events_per_job = 1000;                   // older events are deleted
  std::chrono::milliseconds status_flush{20};  // batching of heartbeat state writes
  bool queue_timer_thread = true;              // false with a fake clock
  // After a start the controller knows no node's liveness until the nodes heartbeat again, so
  // decisions wait this long (the runtime passes two heartbeat intervals): a restarted
  // controller must not see a live fleet as offline and shrink a rollout's target set.
  std::chrono::milliseconds startup_grace{0};
};

// What one Reconcile did.
struct ReconcileOutcome {
  bool wrote = false;     // a transaction was committed
  bool conflict = false;  // the store changed under us: try again
  std::optional<std::chrono::nanoseconds> requeue_after;
  Plan plan;
};

class JobController {
 public:
  JobController(store::Store& store, const Clock& clock, NodeRegistry& nodes,
                ControllerMetrics* metrics, JobControllerOptions options = {});
  ~JobController();
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  // Loads the cache and starts the watch, the workers, the status writer and the resync.
  Status Start();
  void Stop();

  // One Reconcile(job id): observe -> Decide -> act. Safe to call from tests (workers = 0).
  Result<ReconcileOutcome> Reconcile(const std::string& job_id);

  // The agent protocol: the executions an agent reported, merged into the store on change.
  void ObserveHeartbeat(const std::string& node_id, const std::vector<Json>& executions);
  // Every execution this node should run or stop now, full spec included (SPEC §8).
  Json Assignments(const std::string& node_id);
  // Writes the pending heartbeat state now (tests; the writer thread does it every flush).
  void FlushStatus();

  // False during the start-up grace, when no decision is made yet: it ends after
  // `startup_grace`, or as soon as every known node has been heard from since the start.
  bool Deciding();

  // Sets the object gauges from the cache (called on every /metrics scrape).
  void UpdateGauges();

  JobCache& cache() { return cache_; }
  WorkQueue& queue() { return queue_; }

 private:
  struct ObservedState {
    std::string job_id;
    std::string state;
    std::string health;
    std::optional<int> exit_code;
    int restarts = 0;
    std::string message;
    std::optional<Json> results;
  };

  void Enqueue(const std::string& job_id);
  void OnExecutionChanged(const ExecutionChange& change);
  void OnNodeChanged(const NodeChange& change);
  void WorkerLoop();
  void ResyncLoop();
  void StatusLoop();
  // Merges `observed` into `record`; false when nothing would change.
  bool Merge(const ObservedState& observed, ExecutionRecord* record) const;
  // Moves the snapshot's execution records into the observation.
  Observed Observe(JobSnapshot& snapshot, const JobSpec& spec);

  store::Store& store_;
  const Clock& clock_;
  NodeRegistry& nodes_;
  ControllerMetrics* metrics_;
  JobControllerOptions options_;
  WorkQueue queue_;
  JobCache cache_;

  std::mutex timing_mu_;
  std::unordered_map<std::string, ExecutionTiming> timing_;  // by execution id
  struct PhaseSeen {
    int64_t rollout_id = 0;
    std::string phase;
    int to_version = 0;
    MonoTime since{};
  };
  std::unordered_map<std::string, PhaseSeen> phase_seen_;  // by job id
  SteadyTime started_at_{};
  std::atomic<bool> grace_over_{false};

  std::mutex status_mu_;
  std::condition_variable status_cv_;
  std::unordered_map<std::string, ObservedState> pending_status_;  // by execution id

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::vector<std::thread> workers_;
  std::thread resync_;
  std::thread status_writer_;
};

// A generated execution id, "e-" and a random UUID (version 4).
std::string NewExecutionId();

}  // namespace drover::controller
