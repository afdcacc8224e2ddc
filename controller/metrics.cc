#include "controller/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

namespace drover::controller {

using metrics_internal::FamilyInfo;

namespace {

const std::vector<std::string>& NodeStates() {
  static const std::vector<std::string> kStates = {"connected", "disconnected", "lost"};
  return kStates;
}

const std::vector<std::string>& ExecutionStates() {
  static const std::vector<std::string> kStates = {"pending", "starting", "running", "completed",
                                                   "failed",  "stopped",  "lost"};
  return kStates;
}

const std::vector<std::string>& RolloutPhases() {
  static const std::vector<std::string> kPhases = {
      "progressing", "awaiting_promotion", "paused", "halted",     "rolling_back",
      "succeeded",   "rolled_back",        "failed", "superseded", "cancelled"};
  return kPhases;
}

prometheus::Family<prometheus::Counter>& AddCounter(prometheus::Registry& registry,
                                                    std::vector<FamilyInfo>& families,
                                                    const std::string& name,
                                                    const std::string& help) {
  families.push_back({name, help, FamilyInfo::Type::kCounter});
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& AddGauge(prometheus::Registry& registry,
                                                std::vector<FamilyInfo>& families,
                                                const std::string& name, const std::string& help) {
  families.push_back({name, help, FamilyInfo::Type::kGauge});
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& AddHistogram(prometheus::Registry& registry,
                                                        std::vector<FamilyInfo>& families,
                                                        const std::string& name,
                                                        const std::string& help) {
  families.push_back({name, help, FamilyInfo::Type::kHistogram});
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

std::string JoinKey(std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(a.size() + b.size() + 1);
  key.append(a);
  key.push_back('\x1f');
  key.append(b);
  return key;
}

// The families of ControllerMetrics::SetRolloutProgress, in RolloutProgressGauges order.
std::array<prometheus::Family<prometheus::Gauge>*, 5> AddRolloutProgressGauges(
    prometheus::Registry& registry, std::vector<FamilyInfo>& families) {
  static constexpr const char* kFamilies[][2] = {
      {"drover_rollout_current_wave",
       "The wave a rollout in progress is at (1-based; 0 before its first wave), by job."},
      {"drover_rollout_total_waves", "The waves of a rollout in progress, by job."},
      {"drover_rollout_updated_nodes",
       "Target nodes given the new version by a rollout in progress, by job."},
      {"drover_rollout_target_nodes", "Target nodes of a rollout in progress, by job."},
      {"drover_rollout_failed_nodes",
       "Target nodes that failed the new version in a rollout in progress, by job."}};
  std::array<prometheus::Family<prometheus::Gauge>*, 5> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = &AddGauge(registry, families, kFamilies[i][0], kFamilies[i][1]);
  }
  return out;
}

prometheus::MetricType TypeOf(FamilyInfo::Type type) {
  switch (type) {
    case FamilyInfo::Type::kCounter:
      return prometheus::MetricType::Counter;
    case FamilyInfo::Type::kGauge:
      return prometheus::MetricType::Gauge;
    case FamilyInfo::Type::kHistogram:
      return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

}  // namespace

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

const std::vector<double>& QueueWaitBuckets() {
  static const std::vector<double> kBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                               5,     10,    30,   60,   120, 300};
  return kBuckets;
}

namespace metrics_internal {

std::string Render(const prometheus::Registry& registry, const std::vector<FamilyInfo>& families) {
  std::vector<prometheus::MetricFamily> collected = registry.Collect();
  std::vector<prometheus::MetricFamily> ordered;
  ordered.reserve(families.size());
  std::set<std::string> placed;
  for (const FamilyInfo& info : families) {
    bool found = false;
    for (prometheus::MetricFamily& family : collected) {
      if (family.name == info.name) {
        ordered.push_back(std::move(family));
        found = true;
        break;
      }
    }
    // prometheus-cpp leaves out families without series; show their HELP and TYPE anyway.
    if (!found) ordered.push_back({info.name, info.help, TypeOf(info.type), {}});
    placed.insert(info.name);
  }
  for (prometheus::MetricFamily& family : collected) {  // registered by someone else
    if (!family.name.empty() && !placed.contains(family.name)) ordered.push_back(std::move(family));
  }
  for (prometheus::MetricFamily& family : ordered) {  // stable output: series sorted by labels
    std::sort(family.metric.begin(), family.metric.end(),
              [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                return a.label < b.label;
              });
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, ordered);
  return out.str();
}

StateGauge::StateGauge(prometheus::Family<prometheus::Gauge>& family, std::string label,
                       const std::vector<std::string>& initial_values)
    : family_(family), label_(std::move(label)) {
  for (const std::string& value : initial_values) {
    children_[value] = &family_.Add({{label_, value}});
  }
}

void StateGauge::Set(const std::map<std::string, int64_t>& counts) {
  std::lock_guard lock(mutex_);
  for (const auto& [value, count] : counts) {
    auto [it, inserted] = children_.try_emplace(value, nullptr);
    if (inserted) it->second = &family_.Add({{label_, value}});
    it->second->Set(static_cast<double>(count));
  }
  for (const auto& [value, gauge] : children_) {
    if (!counts.contains(value)) gauge->Set(0);
  }
}

}  // namespace metrics_internal

ControllerMetrics::ControllerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      reconcile_total_(AddCounter(*registry_, families_, "drover_reconcile_total",
                                  "Reconcile calls by controller and result (success, error, "
                                  "requeue).")),
      reconcile_duration_(AddHistogram(*registry_, families_, "drover_reconcile_duration_seconds",
                                       "Time one Reconcile(key) took, by controller.")),
      workqueue_depth_(AddGauge(*registry_, families_, "drover_workqueue_depth",
                                "Keys waiting in the controller work queue.")
                           .Add({})),
      workqueue_adds_(AddCounter(*registry_, families_, "drover_workqueue_adds_total",
                                 "Keys added to the controller work queue.")
                          .Add({})),
      workqueue_retries_(AddCounter(*registry_, families_, "drover_workqueue_retries_total",
                                    "Keys re-queued with backoff after a failed reconcile.")
                             .Add({})),
      workqueue_queue_duration_(AddHistogram(*registry_, families_,
                                             "drover_workqueue_queue_duration_seconds",
                                             "Time a key waited in the work queue before a "
                                             "worker took it.")
                                    .Add({}, QueueWaitBuckets())),
      jobs_(AddGauge(*registry_, families_, "drover_jobs", "Jobs by namespace, type and state.")),
      executions_family_(
          AddGauge(*registry_, families_, "drover_executions", "Executions by observed state.")),
      nodes_family_(AddGauge(*registry_, families_, "drover_nodes", "Nodes by connection state.")),
      rollouts_family_(AddGauge(*registry_, families_, "drover_rollouts",
                                "Jobs by the phase of their latest rollout.")),
      rollout_progress_families_(AddRolloutProgressGauges(*registry_, families_)),
      rollout_waves_(
          AddCounter(*registry_, families_, "drover_rollout_waves_total", "Rollout waves started.")
              .Add({})),
      rollbacks_(AddCounter(*registry_, families_, "drover_rollbacks_total",
                            "Rollbacks started, by reason.")),
      api_requests_(AddCounter(*registry_, families_, "drover_api_requests_total",
                               "HTTP API requests by method, route template and status code.")),
      api_request_duration_(AddHistogram(*registry_, families_,
                                         "drover_api_request_duration_seconds",
                                         "HTTP API request latency by method and route "
                                         "template.")),
      store_operation_duration_(AddHistogram(*registry_, families_,
                                             "drover_store_operation_duration_seconds",
                                             "Store operation latency by operation.")),
      leader_(AddGauge(*registry_, families_, "drover_leader",
                       "1 when this replica is the leader and reconciles, else 0.")
                  .Add({})),
      executions_(executions_family_, "state", ExecutionStates()),
      nodes_(nodes_family_, "state", NodeStates()),
      rollouts_(rollouts_family_, "phase", RolloutPhases()) {}

void ControllerMetrics::ObserveApiRequest(std::string_view method, std::string_view route_template,
                                          int code, double seconds) {
  std::string_view route = route_template.empty() ? "unmatched" : route_template;
  std::string method_route = JoinKey(method, route);
  std::string code_text = std::to_string(code);
  api_requests_children_
      .Get(api_requests_, JoinKey(method_route, code_text),
           [&] {
             return prometheus::Labels{{"method", std::string(method)},
                                       {"route", std::string(route)},
                                       {"code", code_text}};
           })
      .Increment();
  api_request_duration_children_
      .Get(
          api_request_duration_, method_route,
          [&] {
            return prometheus::Labels{{"method", std::string(method)},
                                      {"route", std::string(route)}};
          },
          LatencyBuckets())
      .Observe(seconds);
}

void ControllerMetrics::ObserveStoreOperation(std::string_view op, double seconds) {
  store_operation_children_
      .Get(
          store_operation_duration_, std::string(op),
          [&] {
            return prometheus::Labels{{"op", std::string(op)}};
          },
          LatencyBuckets())
      .Observe(seconds);
}

void ControllerMetrics::ObserveReconcile(std::string_view controller, std::string_view result,
                                         double seconds) {
  reconcile_total_children_
      .Get(reconcile_total_, JoinKey(controller, result),
           [&] {
             return prometheus::Labels{{"controller", std::string(controller)},
                                       {"result", std::string(result)}};
           })
      .Increment();
  reconcile_duration_children_
      .Get(
          reconcile_duration_, std::string(controller),
          [&] {
            return prometheus::Labels{{"controller", std::string(controller)}};
          },
          LatencyBuckets())
      .Observe(seconds);
}

void ControllerMetrics::SetWorkqueueDepth(int64_t depth) {
  workqueue_depth_.Set(static_cast<double>(depth));
}
void ControllerMetrics::IncWorkqueueAdds() { workqueue_adds_.Increment(); }
void ControllerMetrics::IncWorkqueueRetries() { workqueue_retries_.Increment(); }
void ControllerMetrics::ObserveWorkqueueQueueDuration(double seconds) {
  workqueue_queue_duration_.Observe(seconds);
}
void ControllerMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

void ControllerMetrics::SetNodes(const std::map<std::string, int64_t>& counts) {
  nodes_.Set(counts);
}
void ControllerMetrics::SetExecutions(const std::map<std::string, int64_t>& counts) {
  executions_.Set(counts);
}
void ControllerMetrics::SetRollouts(const std::map<std::string, int64_t>& counts) {
  rollouts_.Set(counts);
}

void ControllerMetrics::SetJobs(const std::vector<JobCount>& counts) {
  std::lock_guard lock(jobs_mutex_);
  std::map<std::string, prometheus::Gauge*> next;
  for (const JobCount& job : counts) {
    std::string key = JoinKey(JoinKey(job.namespace_, job.type), job.state);
    prometheus::Gauge*& gauge = next[key];
    if (gauge == nullptr) {
      auto previous = jobs_children_.find(key);
      if (previous != jobs_children_.end()) {
        gauge = previous->second;
        jobs_children_.erase(previous);
      } else {
        gauge =
            &jobs_.Add({{"namespace", job.namespace_}, {"type", job.type}, {"state", job.state}});
      }
      gauge->Set(0);
    }
    gauge->Increment(static_cast<double>(job.count));  // repeated series add up
  }
  for (const auto& [key, gauge] : jobs_children_) jobs_.Remove(gauge);
  jobs_children_ = std::move(next);
}

void ControllerMetrics::SetRolloutProgress(const std::vector<RolloutProgress>& rollouts) {
  std::lock_guard lock(rollout_progress_mutex_);
  std::map<std::string, RolloutProgressGauges> next;
  for (const RolloutProgress& rollout : rollouts) {
    std::string key = JoinKey(rollout.namespace_, rollout.name);
    auto [it, inserted] = next.try_emplace(key);
    RolloutProgressGauges& gauges = it->second;
    if (inserted) {
      auto previous = rollout_progress_children_.find(key);
      if (previous != rollout_progress_children_.end()) {
        gauges = previous->second;
        rollout_progress_children_.erase(previous);
      } else {
        const prometheus::Labels labels = {{"namespace", rollout.namespace_},
                                           {"name", rollout.name}};
        for (size_t i = 0; i < gauges.size(); ++i) {
          gauges[i] = &rollout_progress_families_[i]->Add(labels);
        }
      }
    }
    const int64_t values[kRolloutProgressFamilies] = {rollout.current_wave, rollout.total_waves,
                                                      rollout.updated_nodes, rollout.target_nodes,
                                                      rollout.failed_nodes};
    for (size_t i = 0; i < gauges.size(); ++i) gauges[i]->Set(static_cast<double>(values[i]));
  }
  for (const auto& [key, gauges] : rollout_progress_children_) {
    for (size_t i = 0; i < gauges.size(); ++i) rollout_progress_families_[i]->Remove(gauges[i]);
  }
  rollout_progress_children_ = std::move(next);
}

void ControllerMetrics::IncRolloutWaves() { rollout_waves_.Increment(); }

void ControllerMetrics::IncRollbacks(std::string_view reason) {
  rollbacks_children_
      .Get(rollbacks_, std::string(reason),
           [&] {
             return prometheus::Labels{{"reason", std::string(reason)}};
           })
      .Increment();
}

std::string ControllerMetrics::Render() const {
  return metrics_internal::Render(*registry_, families_);
}

namespace {

const std::vector<std::string>& ManifestFileStates() {
  static const std::vector<std::string> kStates = {"applied", "unchanged", "invalid", "failed"};
  return kStates;
}

const std::vector<std::string>& ManifestSyncResults() {
  static const std::vector<std::string> kResults = {"success", "invalid", "failed", "unreadable"};
  return kResults;
}

// The manifest families are registered after ControllerMetrics' own, on its registry; Render()
// shows them after the SPEC §11 families (every one has series, so none is left out).
template <typename Builder>
auto& RegisterOn(ControllerMetrics& metrics, Builder builder, const std::string& name,
                 const std::string& help) {
  return builder.Name(name).Help(help).Register(*metrics.registry());
}

}  // namespace

ManifestMetrics::ManifestMetrics(ControllerMetrics& metrics)
    : files_family_(RegisterOn(metrics, prometheus::BuildGauge(), "drover_manifest_files",
                               "Files of the --manifests folder by state at the last sync "
                               "(applied, unchanged, invalid, failed).")),
      syncs_(RegisterOn(metrics, prometheus::BuildCounter(), "drover_manifest_syncs_total",
                        "Syncs of the --manifests folder by result (success, invalid, failed, "
                        "unreadable).")),
      last_sync_(RegisterOn(metrics, prometheus::BuildGauge(),
                            "drover_manifest_last_sync_timestamp_seconds",
                            "Unix time of the last sync of the --manifests folder, whatever its "
                            "result.")
                     .Add({})),
      last_success_(RegisterOn(metrics, prometheus::BuildGauge(),
                               "drover_manifest_last_success_timestamp_seconds",
                               "Unix time of the last sync of the --manifests folder that read "
                               "every file and applied every document.")
                        .Add({})),
      pruned_(RegisterOn(metrics, prometheus::BuildCounter(), "drover_manifest_pruned_total",
                         "Jobs stopped because their manifests were removed from the folder.")
                  .Add({})),
      files_(files_family_, "state", ManifestFileStates()) {
  for (const std::string& result : ManifestSyncResults()) {
    sync_children_[result] = &syncs_.Add({{"result", result}});
  }
}

void ManifestMetrics::SetFiles(const std::map<std::string, int64_t>& counts) { files_.Set(counts); }

void ManifestMetrics::ObserveSync(std::string_view result, double unix_seconds) {
  {
    std::lock_guard lock(mutex_);
    auto it = sync_children_.find(result);
    if (it == sync_children_.end()) {
      it = sync_children_
               .emplace(std::string(result), &syncs_.Add({{"result", std::string(result)}}))
               .first;
    }
    it->second->Increment();
  }
  last_sync_.Set(unix_seconds);
  if (result == "success") last_success_.Set(unix_seconds);
}

void ManifestMetrics::AddPruned(int64_t count) { pruned_.Increment(static_cast<double>(count)); }

AgentMetrics::AgentMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      executions_family_(AddGauge(*registry_, families_, "drover_agent_executions",
                                  "Executions on this node by state.")),
      pipeline_messages_(AddCounter(*registry_, families_, "drover_agent_pipeline_messages_total",
                                    "Pipeline messages by job and result (processed, error).")),
      restarts_(AddCounter(*registry_, families_, "drover_agent_restarts_total",
                           "Executions restarted by the agent's restart policy.")
                    .Add({})),
      executions_(executions_family_, "state", ExecutionStates()) {}

void AgentMetrics::SetExecutions(const std::map<std::string, int64_t>& counts) {
  executions_.Set(counts);
}

void AgentMetrics::AddPipelineMessages(std::string_view job, std::string_view result,
                                       uint64_t count) {
  pipeline_messages_children_
      .Get(pipeline_messages_, JoinKey(job, result),
           [&] {
             return prometheus::Labels{{"job", std::string(job)}, {"result", std::string(result)}};
           })
      .Increment(static_cast<double>(count));
}

void AgentMetrics::IncRestarts() { restarts_.Increment(); }

std::string AgentMetrics::Render() const { return metrics_internal::Render(*registry_, families_); }

}  // namespace drover::controller
