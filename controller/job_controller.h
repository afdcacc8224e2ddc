// JobController: the level-triggered control loop of SPEC §9. It keeps an informer cache
// (JobCache) over the store, queues job ids in a WorkQueue on every relevant change (job,
// rollout, execution, node, timer, periodic resync), and runs workers that Reconcile(job id):
// observe a snapshot -> the pure Decide (reconcilers/rollout.h) -> apply the plan in one
// compare-and-swap transaction. It is also where agents' observed state enters the store
// (heartbeats are merged into execution records, written in batches and only on change) and
// where each node's assignments are read from. Memory stays bounded with 100,000-execution jobs:
// one large reconcile runs at a time, each step's copies are released before the next, and
// floods of execution or node changes are coalesced per job. Thread-safe; Stop() (or the
// destructor) shuts it down cleanly: the queue drains, workers finish their key, the status
// writer flushes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
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
  // decisions wait this long (the runtime passes three heartbeat intervals, the silence after which
  // a node counts as disconnected): a restarted controller must not see a live fleet as offline and
  // shrink a rollout's target set.
  std::chrono::milliseconds startup_grace{0};
  // Where the loop says what an operator must know (a reconcile that fails, and when it
  // succeeds again): level ("info", "warning") and message. Unset: not said.
  std::function<void(const std::string& level, const std::string& message)> log;
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

  // Reconcile for the workers: `keep_plan` false drops the plan's records (a large job's are
  // tens of MB) once they are in the transaction.
  Result<ReconcileOutcome> Reconcile(const std::string& job_id, bool keep_plan);
  void Enqueue(const std::string& job_id);
  // Enqueue for changes that come in floods (execution status, node connection flaps): a job is
  // queued again no sooner than its last reconcile took (capped at 2 s), so that a fleet
  // flapping or reporting in keeps a 100,000-execution job from being re-planned back to back
  // (each plan ~1 s of CPU and tens of MB) while heartbeats wait. A job that reconciles in
  // under 10 ms is queued at once.
  void EnqueueCoalesced(const std::string& job_id);
  void OnExecutionChanged(const ExecutionChange& change);
  void OnNodeChanged(const NodeChange& change);
  void WorkerLoop();
  // A reconcile failed (not a conflict): said once per distinct error of a job, in the log and
  // as a warning event of the job (`GET .../events`, `drover describe`), so that an operator
  // sees why a rollout does not move; retries go on with the queue's backoff.
  void NoteReconcileFailure(const std::string& job_id, const Status& status);
  void NoteReconcileSuccess(const std::string& job_id);
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

  // The controller's timings by execution id, kept only while a job may need them (see
  // Observe): ids of NewExecutionId's form by their 128 bits (~70 B an entry, against ~150 with
  // the text as key: a rollout over 100,000 nodes keeps as many), any other id by its text.
  class Timings {
   public:
    ExecutionTiming* Find(std::string_view id);
    // The entry, and whether it was just made (value-initialised).
    std::pair<ExecutionTiming*, bool> Emplace(std::string_view id);
    void Erase(std::string_view id);

   private:
    std::unordered_map<ExecutionUuid, ExecutionTiming, ExecutionUuidHash> by_uuid_;
    std::unordered_map<std::string, ExecutionTiming> by_text_;
  };
  std::mutex timing_mu_;
  Timings timing_;
  struct PhaseSeen {
    int64_t rollout_id = 0;
    std::string phase;
    int to_version = 0;
    MonoTime since{};
  };
  std::unordered_map<std::string, PhaseSeen> phase_seen_;  // by job id
  SteadyTime started_at_{};
  std::atomic<bool> grace_over_{false};

  std::mutex large_mu_;  // held through the reconcile of a large job (see Reconcile)

  std::mutex failure_mu_;
  std::unordered_map<std::string, std::string> failing_;  // job id -> the error last said

  std::mutex cost_mu_;
  std::unordered_map<std::string, std::chrono::nanoseconds> reconcile_cost_;  // by job id

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
