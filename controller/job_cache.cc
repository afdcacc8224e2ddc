#include "controller/job_cache.h"

#include <algorithm>

#include "api/job_codec.h"
#include "controller/keys.h"

namespace drover::controller {
namespace {

bool Terminal(const std::string& state) {
  return state == "completed" || state == "failed" || state == "stopped";
}

ExecutionChange ChangeOf(const ExecutionRecord* prev, const ExecutionRecord* next) {
  const ExecutionRecord& any = next ? *next : *prev;
  ExecutionChange c;
  c.id = any.id;
  c.job_id = any.job_id;
  c.node_id = any.node_id;
  c.created = prev == nullptr;
  c.deleted = next == nullptr;
  c.assignment_changed = prev == nullptr || next == nullptr ||
                         prev->desired_state != next->desired_state ||
                         Terminal(prev->state) != Terminal(next->state);
  c.started = next && (next->state == "starting" || next->state == "running");
  c.terminal = next == nullptr || Terminal(next->state);
  c.restarts = next ? next->restarts : 0;
  return c;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::optional<Json> ParseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

JobCache::JobCache(store::Store& store, CacheHandlers handlers)
    : store_(store), handlers_(std::move(handlers)) {}

JobCache::~JobCache() { Stop(); }

Status JobCache::Start() {
  Status s = ListAndWatch();
  if (!s.ok()) return s;
  relister_ = std::thread([this] { RelistLoop(); });
  return Status::Ok();
}

void JobCache::Stop() {
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  revision_cv_.notify_all();
  if (relister_.joinable()) relister_.join();
  watch_.reset();
}

Status JobCache::ListAndWatch() {
  // One consistent read per prefix; the watch starts after the lowest of their revisions, and
  // re-applying an event the list already showed is harmless (puts are idempotent by revision).
  std::vector<std::function<void()>> after;
  int64_t from = 0;
  std::vector<store::KeyValue> all;
  for (const std::string& prefix : {keys::kJobs, keys::kRollouts, keys::kExecutions}) {
    Result<store::RangeResult> list = store_.List(prefix);
    if (!list.ok()) return list.status();
    if (from == 0 || list->revision < from) from = list->revision;
    for (store::KeyValue& kv : list->items) all.push_back(std::move(kv));
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    // what was there before a re-list and is gone now
    std::unordered_map<std::string, JobEntry> old;
    old.swap(jobs_);
    job_key_to_id_.clear();
    by_node_.clear();
    orphan_rollouts_.clear();
    orphan_executions_.clear();
    for (const store::KeyValue& kv : all) ApplyPut(kv, nullptr);
    for (auto& [id, entry] : old) {
      auto now = jobs_.find(id);
      for (auto& [eid, e] : entry.executions) {
        const bool still = now != jobs_.end() && now->second.executions.count(eid);
        if (!still && handlers_.execution_changed) {
          ExecutionChange c = ChangeOf(&e.value, nullptr);
          after.push_back([this, c] { handlers_.execution_changed(c); });
        }
      }
      if (!jobs_.count(id) && handlers_.job_changed) {
        after.push_back([this, id = id] { handlers_.job_changed(id); });
      }
    }
    for (auto& [id, entry] : jobs_) {
      if (handlers_.job_changed) after.push_back([this, id = id] { handlers_.job_changed(id); });
      if (handlers_.execution_changed) {
        for (auto& [eid, e] : entry.executions) {
          ExecutionChange c = ChangeOf(nullptr, &e.value);
          after.push_back([this, c] { handlers_.execution_changed(c); });
        }
      }
    }
  }
  for (auto& f : after) f();
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    revision_ = std::max(revision_, from);
    needs_relist_ = false;
  }
  revision_cv_.notify_all();
  watch_.reset();
  Result<std::unique_ptr<store::WatchHandle>> watch = store_.Watch(
      keys::kRoot, from, [this](const std::vector<store::Event>& events, const Status& status) {
        OnWatch(events, status);
      });
  if (!watch.ok()) return watch.status();
  watch_ = std::move(watch).value();
  return Status::Ok();
}

void JobCache::OnWatch(const std::vector<store::Event>& events, const Status& status) {
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(revision_mu_);
    needs_relist_ = true;
    revision_cv_.notify_all();
    return;
  }
  std::vector<std::function<void()>> after;
  int64_t revision = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (const store::Event& e : events) {
      Apply(e, &after);
      revision = std::max(revision, e.kv.mod_revision);
    }
  }
  // Handlers first, then the revision: whoever waits for a revision (WaitForRevision) also sees
  // what the handlers did for it (queued jobs, woken long polls, timings).
  for (auto& f : after) f();
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    revision_ = std::max(revision_, revision);
  }
  revision_cv_.notify_all();
}

void JobCache::RelistLoop() {
  std::unique_lock<std::mutex> lock(revision_mu_);
  while (!stopping_) {
    revision_cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping_ || !needs_relist_) continue;
    lock.unlock();
    Status s = ListAndWatch();
    lock.lock();
    if (!s.ok()) needs_relist_ = true;  // try again on the next turn
  }
}

void JobCache::Apply(const store::Event& event, std::vector<std::function<void()>>* after) {
  if (event.type == store::Event::Type::kPut) {
    ApplyPut(event.kv, after);
  } else {
    ApplyDelete(event.kv.key, event.kv.mod_revision, after);
  }
}

void JobCache::ApplyPut(const store::KeyValue& kv, std::vector<std::function<void()>>* after) {
  const std::string& key = kv.key;
  if (StartsWith(key, keys::kJobs)) {
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<JobRecord> job = JobRecordFromJson(*json);
    if (!job.ok()) return;
    const std::string id = job->id;
    JobEntry& entry = jobs_[id];
    if (entry.job.mod_revision > kv.mod_revision) return;
    if (!entry.selector || !(entry.job.value.spec.selector == job->spec.selector)) {
      Result<NodeSelector> selector = NodeSelector::Create(job->spec.selector);
      entry.selector = selector.ok()
                           ? std::make_shared<const NodeSelector>(std::move(selector).value())
                           : nullptr;
    }
    entry.job = {std::move(job).value(), kv.mod_revision};
    job_key_to_id_[key] = id;
    if (auto o = orphan_rollouts_.find(id); o != orphan_rollouts_.end()) {
      entry.rollout = std::move(o->second);
      orphan_rollouts_.erase(o);
    }
    if (auto o = orphan_executions_.find(id); o != orphan_executions_.end()) {
      for (auto& [eid, e] : o->second) {
        UnindexNode(&e);
        auto [it, inserted] = entry.executions.insert_or_assign(eid, std::move(e));
        IndexNode(&it->second);
      }
      orphan_executions_.erase(o);
    }
    if (after && handlers_.job_changed) after->push_back([this, id] { handlers_.job_changed(id); });
    return;
  }
  if (StartsWith(key, keys::kRollouts)) {
    std::string id = key.substr(keys::kRollouts.size());
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<RolloutRecord> rollout = RolloutRecordFromJson(*json);
    if (!rollout.ok()) return;
    Versioned<RolloutRecord> v{std::move(rollout).value(), kv.mod_revision};
    auto it = jobs_.find(id);
    if (it == jobs_.end()) {
      orphan_rollouts_[id] = std::move(v);
      return;
    }
    if (it->second.rollout && it->second.rollout->mod_revision > kv.mod_revision) return;
    it->second.rollout = std::move(v);
    if (after && handlers_.job_changed) after->push_back([this, id] { handlers_.job_changed(id); });
    return;
  }
  if (StartsWith(key, keys::kExecutions)) {
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<ExecutionRecord> record = ExecutionFromJson(*json);
    if (!record.ok()) return;
    const std::string job_id = record->job_id;
    const std::string eid = record->id;
    Versioned<ExecutionRecord> v{std::move(record).value(), kv.mod_revision};
    std::optional<ExecutionRecord> prev;
    auto it = jobs_.find(job_id);
    std::unordered_map<std::string, Versioned<ExecutionRecord>>& bucket =
        it == jobs_.end() ? orphan_executions_[job_id] : it->second.executions;
    if (auto e = bucket.find(eid); e != bucket.end()) {
      if (e->second.mod_revision > kv.mod_revision) return;
      prev = e->second.value;
      e->second = v;  // in place: the node index keeps pointing at it
    } else {
      auto [it, inserted] = bucket.emplace(eid, v);
      IndexNode(&it->second);
    }
    if (after && handlers_.execution_changed) {
      ExecutionChange c = ChangeOf(prev ? &*prev : nullptr, &v.value);
      after->push_back([this, c] { handlers_.execution_changed(c); });
    }
  }
}

void JobCache::ApplyDelete(const std::string& key, int64_t revision,
                           std::vector<std::function<void()>>* after) {
  if (StartsWith(key, keys::kJobs)) {
    auto k = job_key_to_id_.find(key);
    if (k == job_key_to_id_.end()) return;
    std::string id = k->second;
    if (auto j = jobs_.find(id); j != jobs_.end() && j->second.job.mod_revision > revision) return;
    job_key_to_id_.erase(k);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) {
      for (auto& [eid, e] : it->second.executions) {
        UnindexNode(&e);
        if (after && handlers_.execution_changed) {
          ExecutionChange c = ChangeOf(&e.value, nullptr);
          after->push_back([this, c] { handlers_.execution_changed(c); });
        }
      }
      jobs_.erase(it);
    }
    if (after && handlers_.job_changed) after->push_back([this, id] { handlers_.job_changed(id); });
    return;
  }
  if (StartsWith(key, keys::kRollouts)) {
    std::string id = key.substr(keys::kRollouts.size());
    orphan_rollouts_.erase(id);
    auto it = jobs_.find(id);
    if (it != jobs_.end() && it->second.rollout && it->second.rollout->mod_revision < revision)
      it->second.rollout.reset();
    return;
  }
  if (StartsWith(key, keys::kExecutions)) {
    // /drover/executions/{job id}/{execution id}
    const std::string rest = key.substr(keys::kExecutions.size());
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) return;
    const std::string job_id = rest.substr(0, slash);
    const std::string eid = rest.substr(slash + 1);
    auto it = jobs_.find(job_id);
    std::unordered_map<std::string, Versioned<ExecutionRecord>>* bucket = nullptr;
    if (it != jobs_.end()) {
      bucket = &it->second.executions;
    } else if (auto o = orphan_executions_.find(job_id); o != orphan_executions_.end()) {
      bucket = &o->second;
    }
    if (bucket == nullptr) return;
    auto e = bucket->find(eid);
    if (e == bucket->end() || e->second.mod_revision > revision) return;
    ExecutionChange c = ChangeOf(&e->second.value, nullptr);
    UnindexNode(&e->second);
    bucket->erase(e);
    if (after && handlers_.execution_changed) {
      after->push_back([this, c] { handlers_.execution_changed(c); });
    }
  }
}

void JobCache::IndexNode(const Versioned<ExecutionRecord>* e) {
  by_node_[e->value.node_id].push_back(e);
}

void JobCache::UnindexNode(const Versioned<ExecutionRecord>* e) {
  auto n = by_node_.find(e->value.node_id);
  if (n == by_node_.end()) return;
  auto& list = n->second;
  list.erase(std::remove(list.begin(), list.end(), e), list.end());
  if (list.empty()) by_node_.erase(n);
}

int64_t JobCache::Revision() const {
  std::lock_guard<std::mutex> lock(revision_mu_);
  return revision_;
}

bool JobCache::WaitForRevision(int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(revision_mu_);
  return revision_cv_.wait_for(lock, timeout, [&] { return revision_ >= revision || stopping_; }) &&
         revision_ >= revision;
}

std::optional<JobSnapshot> JobCache::Snapshot(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  JobSnapshot s;
  s.job = it->second.job;
  s.rollout = it->second.rollout;
  s.executions.reserve(it->second.executions.size());
  for (const auto& [id, e] : it->second.executions) s.executions.push_back(e);
  return s;
}

std::vector<std::string> JobCache::JobIds() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> ids;
  ids.reserve(jobs_.size());
  for (const auto& [id, entry] : jobs_) ids.push_back(id);
  return ids;
}

std::vector<JobCache::JobIndexEntry> JobCache::JobIndex() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<JobIndexEntry> out;
  out.reserve(jobs_.size());
  for (const auto& [id, entry] : jobs_) {
    out.push_back({id, entry.job.value.spec.priority, entry.selector});
  }
  return out;
}

std::optional<int> JobCache::PriorityOf(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.job.value.spec.priority;
}

std::optional<Versioned<ExecutionRecord>> JobCache::Execution(const std::string& execution_id,
                                                              const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto find_in = [&](const JobEntry& entry) -> std::optional<Versioned<ExecutionRecord>> {
    auto e = entry.executions.find(execution_id);
    if (e == entry.executions.end()) return std::nullopt;
    return e->second;
  };
  if (!job_id.empty()) {
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) {
      if (auto e = find_in(it->second)) return e;
    }
  }
  for (const auto& [id, entry] : jobs_) {
    if (auto e = find_in(entry)) return e;
  }
  return std::nullopt;
}

std::vector<ExecutionRecord> JobCache::ExecutionsOnNode(const std::string& node_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ExecutionRecord> out;
  auto n = by_node_.find(node_id);
  if (n == by_node_.end()) return out;
  out.reserve(n->second.size());
  for (const Versioned<ExecutionRecord>* e : n->second) out.push_back(e->value);
  return out;
}

std::vector<std::string> JobCache::JobsOnNode(const std::string& node_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> out;
  auto n = by_node_.find(node_id);
  if (n == by_node_.end()) return out;
  for (const Versioned<ExecutionRecord>* e : n->second) out.push_back(e->value.job_id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::shared_ptr<const JobSpec>> JobCache::Spec(const std::string& job_id, int version) {
  {
    std::lock_guard<std::mutex> lock(spec_mu_);
    auto it = specs_.find({job_id, version});
    if (it != specs_.end()) return it->second;
  }
  Result<store::KeyValue> kv = store_.Get(keys::Version(job_id, version));
  if (!kv.ok()) return kv.status();
  std::optional<Json> json = ParseJson(kv->value);
  if (!json) return InternalError("version record " + kv->key + " is not JSON");
  Result<JobVersionRecord> record = JobVersionFromJson(*json);
  if (!record.ok()) return record.status();
  auto spec = std::make_shared<const JobSpec>(std::move(record->spec));
  std::lock_guard<std::mutex> lock(spec_mu_);
  specs_[{job_id, version}] = spec;
  return std::shared_ptr<const JobSpec>(spec);
}

Result<std::shared_ptr<const Json>> JobCache::AssignmentTemplate(const std::string& job_id,
                                                                 int version) {
  {
    std::lock_guard<std::mutex> lock(spec_mu_);
    auto it = templates_.find({job_id, version});
    if (it != templates_.end()) return it->second;
  }
  Result<std::shared_ptr<const JobSpec>> spec = Spec(job_id, version);
  if (!spec.ok()) return spec.status();
  Json encoded = EncodeJobSpec(**spec);
  Json t = {{"type", encoded.value("type", Json())},
            {"config", encoded.value("config", Json::object())},
            {"restart_policy", encoded.value("restart_policy", Json())},
            {"timeouts", encoded.value("timeouts", Json::object())},
            {"health_check", encoded.contains("rollout") && encoded["rollout"].is_object()
                                 ? encoded["rollout"].value("health_check", Json())
                                 : Json()},
            {"priority", (*spec)->priority}};
  auto shared = std::make_shared<const Json>(std::move(t));
  std::lock_guard<std::mutex> lock(spec_mu_);
  templates_[{job_id, version}] = shared;
  return std::shared_ptr<const Json>(shared);
}

JobCache::Counts JobCache::Count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  Counts c;
  for (const auto& [id, entry] : jobs_) {
    const JobRecord& j = entry.job.value;
    ++c.jobs[{j.spec.namespace_, std::string(JobTypeName(j.spec.type)), j.state}];
    if (entry.rollout) ++c.rollouts[entry.rollout->value.phase];
    for (const auto& [eid, e] : entry.executions) ++c.executions[e.value.state];
  }
  return c;
}

}  // namespace drover::controller
