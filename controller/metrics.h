// The Prometheus metrics of the controller and the agent (SPEC §11), on prometheus-cpp: every
// family is registered at construction and appears (HELP and TYPE) in Render() from the start.
// The process's wiring owns one ControllerMetrics (or AgentMetrics) and lends it by reference;
// every method is thread-safe. Reconcilers never see this: only the runtime records metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace drover::controller {

// The Content-Type of Render()'s output (text exposition format 0.0.4).
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Bucket upper bounds, in seconds, for request, reconcile and store latencies (0.5 ms .. 10 s).
const std::vector<double>& LatencyBuckets();
// Bucket upper bounds for time spent waiting in the work queue (1 ms .. 5 min).
const std::vector<double>& QueueWaitBuckets();

namespace metrics_internal {

// Name, help and type of one registered family, so that Render() can show families that have
// no series yet.
struct FamilyInfo {
  std::string name;
  std::string help;
  enum class Type { kCounter, kGauge, kHistogram } type;
};

// Serializes `registry` in `families` order, adding HELP/TYPE for families without series.
std::string Render(const prometheus::Registry& registry, const std::vector<FamilyInfo>& families);

// A gauge family over one bounded label (`state`, `phase`): Set() gives every known value a
// number, zeroing the ones not mentioned. Thread-safe.
class StateGauge {
 public:
  StateGauge(prometheus::Family<prometheus::Gauge>& family, std::string label,
             const std::vector<std::string>& initial_values);
  void Set(const std::map<std::string, int64_t>& counts);

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  std::string label_;
  std::mutex mutex_;
  std::map<std::string, prometheus::Gauge*> children_;
};

// Caches the children of one family by a joined key so that hot paths skip building Labels.
template <typename Metric>
class ChildCache {
 public:
  template <typename MakeLabels, typename... Args>
  Metric& Get(prometheus::Family<Metric>& family, const std::string& key, MakeLabels make_labels,
              const Args&... args) {
    {
      std::shared_lock lock(mutex_);
      auto it = children_.find(key);
      if (it != children_.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    auto [it, inserted] = children_.try_emplace(key, nullptr);
    if (inserted) it->second = &family.Add(make_labels(), args...);
    return *it->second;
  }

 private:
  std::shared_mutex mutex_;
  std::unordered_map<std::string, Metric*> children_;
};

}  // namespace metrics_internal

class ControllerMetrics {
 public:
  // One job-count series of drover_jobs.
  struct JobCount {
    std::string namespace_;
    std::string type;   // pipeline | query | update | config
    std::string state;  // job state, SPEC §5
    int64_t count = 0;
  };

  // The wave progress of one rollout in progress (a job's latest rollout in a non-terminal phase,
  // SPEC §5): its status.rollout counters.
  struct RolloutProgress {
    std::string namespace_;
    std::string name;
    int64_t current_wave = 0;  // 1-based; 0 before the first wave
    int64_t total_waves = 0;
    int64_t updated_nodes = 0;
    int64_t target_nodes = 0;
    int64_t failed_nodes = 0;
  };

  ControllerMetrics();
  ControllerMetrics(const ControllerMetrics&) = delete;
  ControllerMetrics& operator=(const ControllerMetrics&) = delete;

  // --- HTTP API and store -----------------------------------------------------------------------
  // `route_template` is the matched route's template ("/api/v1/jobs/{job}"), never a raw path;
  // pass "" when no route matched (recorded as "unmatched"), so that label values stay bounded.
  void ObserveApiRequest(std::string_view method, std::string_view route_template, int code,
                         double seconds);
  // `op` is the store operation: get, list, commit, watch, compact.
  void ObserveStoreOperation(std::string_view op, double seconds);

  // --- Controller loop --------------------------------------------------------------------------
  // One Reconcile(key) of `controller` ("job", "node", ...) that ended with `result`: success,
  // error or requeue.
  void ObserveReconcile(std::string_view controller, std::string_view result, double seconds);
  void SetWorkqueueDepth(int64_t depth);
  void IncWorkqueueAdds();
  void IncWorkqueueRetries();
  // Time one key waited in the queue between being added and handed to a worker.
  void ObserveWorkqueueQueueDuration(double seconds);
  void SetLeader(bool leader);

  // --- Object counts (set from the informer cache on every resync) ------------------------------
  // Sets drover_nodes{state} for the given states; connected, disconnected and lost (and any
  // state set before) not in `counts` become 0.
  void SetNodes(const std::map<std::string, int64_t>& counts);
  // Replaces drover_jobs: the given series are set, series set before and not given are removed.
  void SetJobs(const std::vector<JobCount>& counts);
  // Like SetNodes, over execution states (pending, starting, running, completed, failed,
  // stopped, lost).
  void SetExecutions(const std::map<std::string, int64_t>& counts);
  // Like SetNodes, over rollout phases (SPEC §5), counting each job's latest rollout.
  void SetRollouts(const std::map<std::string, int64_t>& counts);
  // Replaces drover_rollout_{current_wave,total_waves,updated_nodes,target_nodes,failed_nodes}:
  // the given rollouts' series (labels namespace, name; a repeated rollout: the last one wins)
  // are set, and those of rollouts set before and not given (ended, or their job deleted) are
  // removed, so that the series are as many as the rollouts in progress.
  void SetRolloutProgress(const std::vector<RolloutProgress>& rollouts);

  // --- Rollouts ---------------------------------------------------------------------------------
  void IncRolloutWaves();
  // `reason`: a short snake_case word, e.g. "failed_nodes", "failed_canary", "manual".
  void IncRollbacks(std::string_view reason);

  // The text exposition format (version 0.0.4) of every family; serve with kMetricsContentType.
  std::string Render() const;
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<metrics_internal::FamilyInfo> families_;

  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Family<prometheus::Histogram>& reconcile_duration_;
  prometheus::Gauge& workqueue_depth_;
  prometheus::Counter& workqueue_adds_;
  prometheus::Counter& workqueue_retries_;
  prometheus::Histogram& workqueue_queue_duration_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Gauge>& executions_family_;
  prometheus::Family<prometheus::Gauge>& nodes_family_;
  prometheus::Family<prometheus::Gauge>& rollouts_family_;
  // drover_rollout_current_wave, _total_waves, _updated_nodes, _target_nodes, _failed_nodes
  static constexpr size_t kRolloutProgressFamilies = 5;
  using RolloutProgressGauges = std::array<prometheus::Gauge*, kRolloutProgressFamilies>;
  std::array<prometheus::Family<prometheus::Gauge>*, kRolloutProgressFamilies>
      rollout_progress_families_;
  prometheus::Counter& rollout_waves_;
  prometheus::Family<prometheus::Counter>& rollbacks_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Histogram>& api_request_duration_;
  prometheus::Family<prometheus::Histogram>& store_operation_duration_;
  prometheus::Gauge& leader_;

  metrics_internal::StateGauge executions_;
  metrics_internal::StateGauge nodes_;
  metrics_internal::StateGauge rollouts_;

  metrics_internal::ChildCache<prometheus::Counter> reconcile_total_children_;
  metrics_internal::ChildCache<prometheus::Histogram> reconcile_duration_children_;
  metrics_internal::ChildCache<prometheus::Counter> rollbacks_children_;
  metrics_internal::ChildCache<prometheus::Counter> api_requests_children_;
  metrics_internal::ChildCache<prometheus::Histogram> api_request_duration_children_;
  metrics_internal::ChildCache<prometheus::Histogram> store_operation_children_;

  std::mutex jobs_mutex_;
  std::map<std::string, prometheus::Gauge*> jobs_children_;  // key: ns \0 type \0 state

  std::mutex rollout_progress_mutex_;
  std::map<std::string, RolloutProgressGauges>
      rollout_progress_children_;  // key: JoinKey(ns, name)
};

// The metrics of the controller's `--manifests` mode (docs/gitops.md), registered on the
// controller's registry when the mode is on (so that a controller without it shows none). Every
// series exists from construction; labels are bounded (file states, sync results). Thread-safe.
class ManifestMetrics {
 public:
  explicit ManifestMetrics(ControllerMetrics& metrics);
  ManifestMetrics(const ManifestMetrics&) = delete;
  ManifestMetrics& operator=(const ManifestMetrics&) = delete;

  // drover_manifest_files{state}: files by state (applied, unchanged, invalid, failed); states
  // not given become 0.
  void SetFiles(const std::map<std::string, int64_t>& counts);
  // One sync of the folder ended with `result` (success, invalid, failed, unreadable) at
  // `unix_seconds`; a success also sets the last-success timestamp.
  void ObserveSync(std::string_view result, double unix_seconds);
  // Jobs the sync stopped because their manifests were removed.
  void AddPruned(int64_t count);

 private:
  prometheus::Family<prometheus::Gauge>& files_family_;
  prometheus::Family<prometheus::Counter>& syncs_;
  prometheus::Gauge& last_sync_;
  prometheus::Gauge& last_success_;
  prometheus::Counter& pruned_;
  metrics_internal::StateGauge files_;
  std::map<std::string, prometheus::Counter*, std::less<>> sync_children_;
  std::mutex mutex_;
};

// The agent's metrics, served on `--metrics-listen` when enabled.
class AgentMetrics {
 public:
  AgentMetrics();
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  // Executions on this node by state; the execution states not given become 0.
  void SetExecutions(const std::map<std::string, int64_t>& counts);
  // `result`: "processed" (handled by the output) or "error" (failed a processor or output).
  void AddPipelineMessages(std::string_view job, std::string_view result, uint64_t count);
  void IncRestarts();

  std::string Render() const;
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<metrics_internal::FamilyInfo> families_;
  prometheus::Family<prometheus::Gauge>& executions_family_;
  prometheus::Family<prometheus::Counter>& pipeline_messages_;
  prometheus::Counter& restarts_;
  metrics_internal::StateGauge executions_;
  metrics_internal::ChildCache<prometheus::Counter> pipeline_messages_children_;
};

}  // namespace drover::controller
