#include "controller/job_controller.h"

#include <malloc.h>

#include <random>
#include <set>
#include <unordered_set>

#include "api/selector.h"
#include "controller/job_service.h"
#include "controller/keys.h"
#include "reconcilers/executions.h"

namespace drover::controller {
namespace {

constexpr size_t kStatusBatch = 256;

// A job with more executions than this is "large": its reconcile materialises tens of MB
// (observation, plan, transaction, the store's events), so only one runs at a time and malloc
// gives the memory back after it.
constexpr size_t kLargeJob = 20'000;

// Observed states waiting for the status writer beyond which a repeatable one is not queued
// (~300 B each: at most ~60 MB; see ObserveHeartbeat).
constexpr size_t kMaxPendingStatus = 200'000;

// The most a change of an execution or node waits to be reconciled (see EnqueueCoalesced).
constexpr std::chrono::milliseconds kMaxCoalesce{2000};

bool IsKnownState(const std::string& s) {
  return s == "pending" || s == "starting" || s == "running" || s == "completed" || s == "failed" ||
         s == "stopped";
}

bool IsKnownHealth(const std::string& s) {
  return s == "unknown" || s == "healthy" || s == "unhealthy";
}

Connection ConnectionOf(std::string_view state) {
  if (state == "connected") return Connection::kConnected;
  if (state == "lost") return Connection::kLost;
  return Connection::kDisconnected;
}

}  // namespace

ExecutionTiming* JobController::Timings::Find(std::string_view id) {
  if (std::optional<ExecutionUuid> uuid = ParseExecutionUuid(id)) {
    auto it = by_uuid_.find(*uuid);
    return it == by_uuid_.end() ? nullptr : &it->second;
  }
  auto it = by_text_.find(std::string(id));
  return it == by_text_.end() ? nullptr : &it->second;
}

std::pair<ExecutionTiming*, bool> JobController::Timings::Emplace(std::string_view id) {
  if (std::optional<ExecutionUuid> uuid = ParseExecutionUuid(id)) {
    auto [it, inserted] = by_uuid_.try_emplace(*uuid);
    return {&it->second, inserted};
  }
  auto [it, inserted] = by_text_.try_emplace(std::string(id));
  return {&it->second, inserted};
}

void JobController::Timings::Erase(std::string_view id) {
  if (std::optional<ExecutionUuid> uuid = ParseExecutionUuid(id)) {
    by_uuid_.erase(*uuid);
  } else {
    by_text_.erase(std::string(id));
  }
}

std::string NewExecutionId() {
  std::string job = NewJobId();  // "j-" + uuid v4
  return "e-" + job.substr(2);
}

JobController::JobController(store::Store& store, const Clock& clock, NodeRegistry& nodes,
                             ControllerMetrics* metrics, JobControllerOptions options)
    : store_(store),
      clock_(clock),
      nodes_(nodes),
      metrics_(metrics),
      options_(options),
      queue_(clock,
             [&] {
               WorkQueueOptions q;
               q.timer_thread = options.queue_timer_thread;
               // Reconciles are cheap and idempotent; the bucket only guards against hot loops.
               q.bucket_qps = 200;
               q.bucket_burst = 1000;
               return q;
             }()),
      cache_(store, CacheHandlers{[this](const std::string& id) { Enqueue(id); },
                                  [this](const ExecutionChange& c) { OnExecutionChanged(c); }}) {}

JobController::~JobController() { Stop(); }

Status JobController::Start() {
  started_at_ = clock_.Now();
  Status s = cache_.Start();
  if (!s.ok()) return s;
  nodes_.SetListener([this](const NodeChange& c) { OnNodeChanged(c); });
  std::lock_guard<std::mutex> lock(stop_mu_);
  started_ = true;
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  if (options_.workers > 0) {
    resync_ = std::thread([this] { ResyncLoop(); });
    status_writer_ = std::thread([this] { StatusLoop(); });
  }
  return Status::Ok();
}

void JobController::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  nodes_.SetListener(nullptr);
  stop_cv_.notify_all();
  status_cv_.notify_all();
  queue_.ShutDownWithDrain();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  if (resync_.joinable()) resync_.join();
  if (status_writer_.joinable()) status_writer_.join();
  FlushStatus();
  cache_.Stop();
}

void JobController::Enqueue(const std::string& job_id) {
  std::optional<int> priority = cache_.PriorityOf(job_id);
  queue_.Add(job_id, priority.value_or(0));
  if (metrics_) metrics_->SetWorkqueueDepth(static_cast<int64_t>(queue_.Len()));
}

void JobController::EnqueueCoalesced(const std::string& job_id) {
  std::chrono::nanoseconds delay{0};
  {
    std::lock_guard<std::mutex> lock(cost_mu_);
    auto it = reconcile_cost_.find(job_id);
    if (it != reconcile_cost_.end())
      delay = std::min<std::chrono::nanoseconds>(it->second, kMaxCoalesce);
  }
  if (delay < std::chrono::milliseconds(10)) return Enqueue(job_id);
  std::optional<int> priority = cache_.PriorityOf(job_id);
  queue_.AddAfter(job_id, delay, priority.value_or(0));
}

void JobController::OnExecutionChanged(const ExecutionChange& c) {
  {
    std::lock_guard<std::mutex> lock(timing_mu_);
    ExecutionTiming* known = timing_.Find(c.id);
    if (c.deleted || c.terminal) {
      timing_.Erase(c.id);  // a terminal execution has no deadline left
    } else if (known != nullptr) {
      // the heartbeat that reported it running may have come before its entry existed
      if (c.started && !known->started) {
        known->started = clock_.Now();
        known->restarts_at_start = c.restarts;
      }
    } else if (c.created) {
      ExecutionTiming& t = *timing_.Emplace(c.id).first;
      t.first_seen = clock_.Now();
      if (c.started) {
        t.started = t.first_seen;
        t.restarts_at_start = c.restarts;
      }
    }
  }
  // The node's assignment list changes when an execution appears, goes, is asked to stop, or
  // becomes terminal; pure status changes leave it alone.
  if (c.assignment_changed) nodes_.NotifyAssignmentsChanged(c.node_id);
  EnqueueCoalesced(c.job_id);
}

void JobController::OnNodeChanged(const NodeChange& change) {
  std::set<std::string> jobs;
  for (std::string& id : cache_.JobsSelecting(change.node_id, change.old_labels, change.labels)) {
    jobs.insert(std::move(id));
  }
  for (const std::string& id : cache_.JobsOnNode(change.node_id)) jobs.insert(id);
  for (const std::string& id : jobs) EnqueueCoalesced(id);
}

Observed JobController::Observe(JobSnapshot& snapshot, const JobSpec& spec) {
  Observed observed;
  observed.executions = std::move(snapshot.executions);
  snapshot.executions = {};
  // The nodes with an execution of the job, as views into observed.executions: needed only
  // for nodes the selector does not match, so made when the first one comes.
  std::optional<std::unordered_set<std::string_view>> with_executions;
  auto has_executions = [&](std::string_view node_id) {
    if (!with_executions) {
      with_executions.emplace();
      with_executions->reserve(observed.executions.size());
      for (const ExecutionRecord& e : observed.executions) with_executions->insert(e.node_id);
    }
    return with_executions->count(node_id) > 0;
  };
  Result<NodeSelector> selector = NodeSelector::Create(spec.selector);
  nodes_.ForEachNode([&](const NodeRecord& record, std::string_view state) {
    bool matches = selector.ok() && selector->Matches(record.id, record.labels);
    if (!matches && !has_executions(record.id)) return;
    NodeFacts f;
    f.id = record.id;
    f.matches = matches;
    f.connection = ConnectionOf(state);
    f.schedulable = record.schedulable && !record.draining;
    f.draining = record.draining;
    observed.nodes.push_back(std::move(f));
  });
  const MonoTime now = clock_.Now();
  // Timings matter while a rollout runs (deadlines, health intervals) and for jobs with
  // timeouts; a settled job without timeouts keeps none, which saves ~150 B per execution.
  const Timeouts& to = spec.timeouts;
  const bool timed = to.queue_timeout > 0 || to.execution_timeout > 0 || to.total_timeout > 0 ||
                     !snapshot.rollout || !IsTerminalPhase(snapshot.rollout->value.phase);
  std::lock_guard<std::mutex> lock(timing_mu_);
  observed.timing.reserve(observed.executions.size());
  if (!timed) {
    for (const ExecutionRecord& e : observed.executions) timing_.Erase(e.id);
    observed.timing.assign(observed.executions.size(), ExecutionTiming{});
  }
  for (const ExecutionRecord& e : observed.executions) {
    if (!timed) break;
    if (IsTerminalExecutionState(e.state)) {
      observed.timing.push_back({});
      continue;
    }
    auto [timing, inserted] = timing_.Emplace(e.id);
    if (inserted) {
      timing->first_seen = now;
      if (e.state == "starting" || e.state == "running") {
        timing->started = now;
        timing->restarts_at_start = e.restarts;
      }
    }
    observed.timing.push_back(*timing);
  }
  if (snapshot.rollout) {
    const RolloutRecord& r = snapshot.rollout->value;
    PhaseSeen& seen = phase_seen_[snapshot.job.value.id];
    if (seen.rollout_id != r.rollout_id || seen.phase != r.phase ||
        seen.to_version != r.to_version || seen.since == MonoTime{}) {
      seen = {r.rollout_id, r.phase, r.to_version, now};
    }
    observed.phase_since = seen.since;
  }
  return observed;
}

Result<ReconcileOutcome> JobController::Reconcile(const std::string& job_id) {
  return Reconcile(job_id, /*keep_plan=*/true);
}

Result<ReconcileOutcome> JobController::Reconcile(const std::string& job_id, bool keep_plan) {
  ReconcileOutcome outcome;
  if (!Deciding()) {
    // look again soon: the grace also ends when the last known node is heard from
    outcome.requeue_after = std::min<std::chrono::nanoseconds>(
        started_at_ + options_.startup_grace - clock_.Now(), std::chrono::milliseconds(200));
    return outcome;
  }
  // One large reconcile at a time, and only once the cache has applied what the store has (the
  // previous large transaction's events are released before this one's snapshot is made): what
  // is in flight stays bounded however many workers and large jobs there are.
  std::unique_lock<std::mutex> large_turn(large_mu_, std::defer_lock);
  struct TrimAfterLarge {
    bool large = false;
    ~TrimAfterLarge() {
      if (large) malloc_trim(0);
    }
  } trim;
  if (cache_.ExecutionCount(job_id) > kLargeJob) {
    large_turn.lock();
    cache_.WaitForRevision(store_.CurrentRevision(), std::chrono::milliseconds(5000));
  }
  std::optional<JobSnapshot> snapshot = cache_.Snapshot(job_id);
  if (!snapshot) {
    {
      std::lock_guard<std::mutex> lock(timing_mu_);
      phase_seen_.erase(job_id);
    }
    std::lock_guard<std::mutex> lock(cost_mu_);
    reconcile_cost_.erase(job_id);
    return outcome;  // deleted: nothing to do (a purge deleted its executions too)
  }
  if (!snapshot->rollout) return outcome;
  const JobRecord& job = snapshot->job.value;
  // A large job's observation, plan and transaction are each tens of MB: each is let go as soon
  // as the next step no longer needs it (the observation before the transaction is built, the
  // transaction before the cache applies it), and what malloc holds free is given back at the
  // end, after the snapshot too (this is destroyed last).
  trim.large = snapshot->executions.size() > kLargeJob;
  Observed observed = Observe(*snapshot, job.spec);
  const std::string wall = clock_.WallTime();
  outcome.plan = Decide(job, snapshot->rollout->value, observed, clock_.Now(), wall);
  Plan& plan = outcome.plan;
  outcome.requeue_after = plan.requeue_after;
  if (plan.empty()) return outcome;

  // The revisions the plan's updates and removals compare against, looked up in one pass
  // (observed.executions[i] was stored at execution_revisions[i]).
  std::unordered_map<std::string_view, int64_t> revisions;
  for (const ExecutionRecord& e : plan.update) revisions.emplace(e.id, 0);
  for (const std::string& id : plan.remove) revisions.emplace(id, 0);
  for (size_t i = 0; i < observed.executions.size() && !revisions.empty(); ++i) {
    auto it = revisions.find(observed.executions[i].id);
    if (it != revisions.end()) it->second = snapshot->execution_revisions[i];
  }
  observed = Observed();
  snapshot->execution_revisions = {};

  Result<store::TransactionResult> committed = [&]() -> Result<store::TransactionResult> {
    store::Transaction txn;
    const std::string job_key = keys::Job(job.spec.namespace_, job.spec.name);
    txn.compares.push_back(
        {job_key, store::Compare::Target::kModRevision, snapshot->job.mod_revision});
    txn.compares.push_back({keys::Rollout(job.id), store::Compare::Target::kModRevision,
                            snapshot->rollout->mod_revision});
    JobRecord next_job = plan.job ? *plan.job : job;
    next_job.event_sequence = job.event_sequence;
    for (EventRecord& e : plan.events) {
      e.sequence = ++next_job.event_sequence;
      txn.success.push_back(
          store::Operation::Put(keys::Event(job.id, e.sequence), EventToJson(e).dump()));
    }
    if (!plan.events.empty()) {
      int64_t expired = next_job.event_sequence - options_.events_per_job;
      for (int64_t s = std::max<int64_t>(1, expired - static_cast<int64_t>(plan.events.size()) + 1);
           s <= expired; ++s) {
        txn.success.push_back(store::Operation::Delete(keys::Event(job.id, s)));
      }
    }
    if (plan.job || !plan.events.empty()) {
      if (plan.job == std::nullopt) next_job.updated_at = clock_.WallTime();
      txn.success.push_back(store::Operation::Put(job_key, JobRecordToJson(next_job).dump()));
    }
    // The rollout record is written by every transaction, changed or not: its mod_revision is
    // the job's reconcile fence, so two reconciles of one job (or a stale cache) can never both
    // act.
    const RolloutRecord& rollout = plan.rollout ? *plan.rollout : snapshot->rollout->value;
    txn.success.push_back(
        store::Operation::Put(keys::Rollout(job.id), RolloutRecordToJson(rollout).dump()));
    txn.success.reserve(txn.success.size() + plan.create.size() + plan.update.size() +
                        plan.remove.size());
    txn.compares.reserve(txn.compares.size() + plan.update.size() + plan.remove.size());
    for (const NewExecution& c : plan.create) {
      ExecutionRecord e = NewExecutionRecord(job, c, wall);
      e.id = NewExecutionId();
      txn.success.push_back(
          store::Operation::Put(keys::Execution(job.id, e.id), ExecutionToJson(e).dump()));
    }
    for (const ExecutionRecord& e : plan.update) {
      txn.compares.push_back(
          {keys::Execution(job.id, e.id), store::Compare::Target::kModRevision, revisions[e.id]});
      txn.success.push_back(
          store::Operation::Put(keys::Execution(job.id, e.id), ExecutionToJson(e).dump()));
    }
    for (const std::string& id : plan.remove) {
      txn.compares.push_back(
          {keys::Execution(job.id, id), store::Compare::Target::kModRevision, revisions[id]});
      txn.success.push_back(store::Operation::Delete(keys::Execution(job.id, id)));
    }
    revisions = {};
    if (!keep_plan) {
      // the worker reads only these from the plan
      Plan kept;
      kept.requeue_after = plan.requeue_after;
      kept.waves_started = plan.waves_started;
      kept.rollbacks = std::move(plan.rollbacks);
      plan = std::move(kept);
    }
    return store_.Commit(txn);
  }();
  if (!committed.ok()) return committed.status();
  if (!committed->succeeded) {
    outcome.conflict = true;
    cache_.WaitForRevision(store_.CurrentRevision(), std::chrono::milliseconds(1000));
    return outcome;
  }
  outcome.wrote = true;
  if (metrics_) {
    for (int i = 0; i < plan.waves_started; ++i) metrics_->IncRolloutWaves();
    for (const std::string& reason : plan.rollbacks) metrics_->IncRollbacks(reason);
  }
  // Let the cache see our own write before the next reconcile of this job reads it.
  cache_.WaitForRevision(committed->revision, std::chrono::milliseconds(2000));
  return outcome;
}

bool JobController::Deciding() {
  if (grace_over_.load()) return true;
  if (clock_.Now() >= started_at_ + options_.startup_grace || nodes_.AllHeardSinceStart()) {
    grace_over_ = true;
  }
  return grace_over_.load();
}

void JobController::WorkerLoop() {
  while (true) {
    std::optional<WorkQueue::Item> item = queue_.Get();
    if (!item) return;
    {
      // shutting down: hand back what is still queued without working on it (the next
      // controller reconciles everything at start)
      std::lock_guard<std::mutex> lock(stop_mu_);
      if (stopping_) {
        queue_.Done(item->key);
        continue;
      }
    }
    if (metrics_) {
      metrics_->ObserveWorkqueueQueueDuration(item->queued_seconds);
      metrics_->SetWorkqueueDepth(static_cast<int64_t>(queue_.Len()));
    }
    const SteadyTime start = clock_.Now();
    Result<ReconcileOutcome> r = Reconcile(item->key, /*keep_plan=*/false);
    const std::chrono::nanoseconds took = clock_.Now() - start;
    const double seconds = std::chrono::duration<double>(took).count();
    {
      std::lock_guard<std::mutex> lock(cost_mu_);
      reconcile_cost_[item->key] = took;
    }
    std::string_view result = "success";
    if (!r.ok()) NoteReconcileFailure(item->key, r.status());
    if (!r.ok() || r->conflict) {
      result = r.ok() ? "requeue" : "error";
      queue_.AddRateLimited(item->key, item->priority);
      if (metrics_) metrics_->IncWorkqueueRetries();
    } else {
      NoteReconcileSuccess(item->key);
      queue_.Forget(item->key);
      if (r->requeue_after) {
        result = "requeue_after";
        queue_.AddAfter(item->key, *r->requeue_after + std::chrono::milliseconds(1),
                        item->priority);
      } else if (r->wrote) {
        // a write usually unlocks the next step (a wave, a verdict): look again soon
        queue_.AddAfter(item->key, std::chrono::milliseconds(50), item->priority);
      }
    }
    if (metrics_) metrics_->ObserveReconcile("job", result, seconds);
    queue_.Done(item->key);
  }
}

void JobController::NoteReconcileFailure(const std::string& job_id, const Status& status) {
  const std::string error = status.ToString();
  {
    std::lock_guard<std::mutex> lock(failure_mu_);
    auto [it, inserted] = failing_.try_emplace(job_id, error);
    if (!inserted && it->second == error) return;  // said already
    it->second = error;
  }
  std::optional<Versioned<JobRecord>> job = cache_.Job(job_id);
  const std::string name =
      job ? job->value.spec.namespace_ + "/" + job->value.spec.name + " (" + job_id + ")" : job_id;
  if (options_.log) {
    options_.log("warning",
                 "reconcile of job " + name + " failed, retrying with backoff: " + error);
  }
  if (!job) return;
  // The event, in a transaction of its own (the reconcile's did not commit), fenced on the job
  // record like every event write.
  JobRecord next = job->value;
  store::Transaction txn;
  const std::string job_key = keys::Job(next.spec.namespace_, next.spec.name);
  txn.compares.push_back({job_key, store::Compare::Target::kModRevision, job->mod_revision});
  txn.success.push_back(PutEvent(
      &next, clock_.WallTime(), "ReconcileFailed",
      "the controller could not apply its next step (retrying with backoff): " + error, "warning"));
  if (const int64_t expired = next.event_sequence - options_.events_per_job; expired >= 1) {
    txn.success.push_back(store::Operation::Delete(keys::Event(job_id, expired)));
  }
  txn.success.push_back(store::Operation::Put(job_key, JobRecordToJson(next).dump()));
  Result<store::TransactionResult> committed = store_.Commit(txn);
  if (!committed.ok() || !committed->succeeded) {
    // said in the log only: the event is tried again with the next failure
    std::lock_guard<std::mutex> lock(failure_mu_);
    failing_.erase(job_id);
  }
}

void JobController::NoteReconcileSuccess(const std::string& job_id) {
  {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (failing_.erase(job_id) == 0) return;
  }
  if (options_.log) options_.log("info", "reconcile of job " + job_id + " succeeds again");
}

void JobController::ResyncLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.resync);
    if (stopping_) return;
    lock.unlock();
    for (const std::string& id : cache_.JobIds()) Enqueue(id);
    lock.lock();
  }
}

void JobController::ObserveHeartbeat(const std::string& node_id,
                                     const std::vector<Json>& executions) {
  const MonoTime now = clock_.Now();
  // The node's executions, read once (a heartbeat comes every few seconds from every node).
  const std::vector<ExecutionRecord> on_node = cache_.ExecutionsOnNode(node_id);
  auto find_on_node = [&](const std::string& id) -> const ExecutionRecord* {
    for (const ExecutionRecord& e : on_node) {
      if (e.id == id) return &e;
    }
    return nullptr;
  };
  std::unordered_set<std::string> reported;
  std::vector<std::pair<std::string, ObservedState>> changes;
  for (const Json& item : executions) {
    if (!item.is_object()) continue;
    auto id_it = item.find("execution_id");
    if (id_it == item.end() || !id_it->is_string()) continue;
    const std::string& id = id_it->get_ref<const std::string&>();
    const ExecutionRecord* cached = find_on_node(id);
    if (cached == nullptr) continue;  // not ours: never assigned here
    reported.insert(id);
    ObservedState o;
    o.job_id = cached->job_id;
    o.state = item.value("state", std::string());
    if (!IsKnownState(o.state)) continue;
    o.health = item.contains("health") && item["health"].is_string()
                   ? item["health"].get<std::string>()
                   : "unknown";
    if (!IsKnownHealth(o.health)) o.health = "unknown";
    if (item.contains("exit_code") && item["exit_code"].is_number_integer()) {
      o.exit_code = item["exit_code"].get<int>();
    }
    if (item.contains("restarts") && item["restarts"].is_number_integer()) {
      o.restarts = std::max(0, item["restarts"].get<int>());
    }
    if (item.contains("message") && item["message"].is_string()) {
      o.message = item["message"].get<std::string>().substr(0, 1024);
    }
    if (item.contains("results") && item["results"].is_array()) o.results = item["results"];
    {
      // only executions whose job still needs their timings have an entry (see Observe)
      std::lock_guard<std::mutex> lock(timing_mu_);
      ExecutionTiming* t = timing_.Find(id);
      if (t != nullptr && (o.state == "starting" || o.state == "running") &&
          (!t->started || o.restarts != t->restarts_at_start)) {
        t->started = now;
        t->restarts_at_start = o.restarts;
      }
    }
    ExecutionRecord merged = *cached;
    if (Merge(o, &merged) || (o.results && o.state == "completed")) {
      changes.emplace_back(id, std::move(o));
    }
  }
  // Level-triggered: an execution the agent no longer reports is not running on the node.
  for (const ExecutionRecord& e : on_node) {
    if (reported.count(e.id) || IsTerminalExecutionState(e.state)) continue;
    ObservedState o;
    o.job_id = e.job_id;
    o.restarts = e.restarts;
    o.exit_code = e.exit_code;
    o.health = e.health;
    if (e.desired_state == "stopped") {
      o.state = "stopped";
      o.message = e.message.empty() ? "stopped" : e.message;
    } else if (e.state == "pending") {
      continue;  // not picked up yet
    } else {
      o.state = "failed";
      o.message = "the agent no longer reports this execution";
    }
    changes.emplace_back(e.id, std::move(o));
  }
  if (changes.empty()) return;
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    for (auto& [id, o] : changes) {
      // The writer is a fleet's worth behind (an overloaded controller): a state the agent
      // reports again with every heartbeat waits for the next one rather than growing the
      // queue. Terminal states and results are always queued (they may be reported only once).
      if (pending_status_.size() >= kMaxPendingStatus && !o.results &&
          !IsTerminalExecutionState(o.state) && !pending_status_.count(id)) {
        continue;
      }
      pending_status_[id] = std::move(o);
    }
  }
  status_cv_.notify_all();
}

bool JobController::Merge(const ObservedState& o, ExecutionRecord* r) const {
  return MergeReport({o.state, o.health, o.exit_code, o.restarts, o.message}, clock_.WallTime(), r);
}

void JobController::FlushStatus() {
  std::unordered_map<std::string, ObservedState> pending;
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    pending.swap(pending_status_);
  }
  if (pending.empty()) return;
  struct Write {
    std::string id;
    ObservedState observed;
    store::Compare compare;
    std::vector<store::Operation> ops;
  };
  auto build = [&](const std::string& id, const ObservedState& o) -> std::optional<Write> {
    std::optional<Versioned<ExecutionRecord>> cached = cache_.Execution(id, o.job_id);
    if (!cached) return std::nullopt;
    ExecutionRecord merged = cached->value;
    bool changed = Merge(o, &merged);
    Write w{id, o, {}, {}};
    const std::string key = keys::Execution(merged.job_id, id);
    w.compare = {key, store::Compare::Target::kModRevision, cached->mod_revision};
    if (changed) w.ops.push_back(store::Operation::Put(key, ExecutionToJson(merged).dump()));
    if (o.results && (o.state == "completed" || o.state == "failed")) {
      Json result = {{"execution_id", id},
                     {"node_id", merged.node_id},
                     {"version", merged.version},
                     {"state", o.state},
                     {"results", *o.results}};
      w.ops.push_back(store::Operation::Put(keys::Result(merged.job_id, id), result.dump()));
    }
    if (w.ops.empty()) return std::nullopt;
    return w;
  };
  // Built and committed a batch at a time: a flush after a whole fleet reported (100,000
  // executions) never holds all of their records as JSON at once.
  std::vector<Write> batch;
  batch.reserve(kStatusBatch);
  std::vector<std::pair<std::string, ObservedState>> retry;
  auto commit = [&](size_t begin, size_t end) -> bool {
    store::Transaction txn;
    for (size_t i = begin; i < end; ++i) {
      txn.compares.push_back(batch[i].compare);
      for (const store::Operation& op : batch[i].ops) txn.success.push_back(op);
    }
    Result<store::TransactionResult> r = store_.Commit(txn);
    if (r.ok() && r->succeeded) {
      cache_.WaitForRevision(r->revision, std::chrono::milliseconds(1000));
      return true;
    }
    return false;
  };
  auto commit_batch = [&] {
    if (!commit(0, batch.size())) {
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!commit(i, i + 1)) retry.emplace_back(batch[i].id, std::move(batch[i].observed));
      }
    }
    batch.clear();
  };
  for (auto it = pending.begin(); it != pending.end(); it = pending.erase(it)) {
    if (std::optional<Write> w = build(it->first, it->second)) batch.push_back(std::move(*w));
    if (batch.size() == kStatusBatch) commit_batch();
  }
  if (!batch.empty()) commit_batch();
  if (retry.empty()) return;
  // Conflicts with the reconciler: merge again onto the current record on the next flush,
  // unless a newer heartbeat already replaced the observation.
  std::lock_guard<std::mutex> lock(status_mu_);
  for (auto& [id, observed] : retry) pending_status_.try_emplace(id, std::move(observed));
}

void JobController::StatusLoop() {
  std::unique_lock<std::mutex> lock(status_mu_);
  while (true) {
    status_cv_.wait_for(lock, options_.status_flush);
    {
      std::lock_guard<std::mutex> stop(stop_mu_);
      if (stopping_) return;
    }
    if (pending_status_.empty()) continue;
    lock.unlock();
    FlushStatus();
    lock.lock();
  }
}

Json JobController::Assignments(const std::string& node_id) {
  std::vector<ExecutionRecord> executions = cache_.ExecutionsOnNode(node_id);
  std::vector<std::pair<int, Json>> items;
  for (const ExecutionRecord& e : executions) {
    if (IsTerminalExecutionState(e.state)) continue;
    Result<std::shared_ptr<const Json>> t = cache_.AssignmentTemplate(e.job_id, e.version);
    if (!t.ok()) continue;
    Json a = **t;
    int priority = a.value("priority", 0);
    a.erase("priority");
    a["execution_id"] = e.id;
    a["job_id"] = e.job_id;
    a["namespace"] = e.namespace_;
    a["name"] = e.name;
    a["version"] = e.version;
    a["desired_state"] = e.desired_state;
    if (e.rollback_of > 0) {
      // an update's rollback run: the rolled-back version's rollback_command, if it has one
      a["rollback_of"] = e.rollback_of;
      Result<std::shared_ptr<const JobSpec>> from = cache_.Spec(e.job_id, e.rollback_of);
      if (from.ok()) {
        auto command = (*from)->config.find("rollback_command");
        if (command != (*from)->config.end() && command->is_array()) {
          a["rollback_command"] = *command;
        }
      }
    }
    items.emplace_back(priority, std::move(a));
  }
  // Higher priority first (SPEC §7: placement order on a node with limited capacity).
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second["execution_id"].template get<std::string>() <
           b.second["execution_id"].template get<std::string>();
  });
  Json out = Json::array();
  for (auto& [p, a] : items) out.push_back(std::move(a));
  return out;
}

void JobController::UpdateGauges() {
  if (!metrics_) return;
  JobCache::Counts c = cache_.Count();
  std::vector<ControllerMetrics::JobCount> jobs;
  for (const auto& [k, n] : c.jobs) {
    jobs.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), n});
  }
  metrics_->SetJobs(jobs);
  metrics_->SetExecutions(c.executions);
  metrics_->SetRollouts(c.rollouts);
  std::vector<ControllerMetrics::RolloutProgress> progress;
  progress.reserve(c.rollouts_in_progress.size());
  for (const JobCache::RolloutInProgress& r : c.rollouts_in_progress) {
    progress.push_back({r.namespace_, r.name, r.current_wave, r.total_waves, r.updated_nodes,
                        r.target_nodes, r.failed_nodes});
  }
  metrics_->SetRolloutProgress(progress);
  metrics_->SetWorkqueueDepth(static_cast<int64_t>(queue_.Len()));
}

}  // namespace drover::controller
