// JobCache: the controller's informer — an in-memory copy of the jobs, rollouts and executions in
// the store, kept current by one store watch (re-listing when the watch ends, e.g. after a
// compaction), with the indexes the loop needs: executions by job and by node, job ids to keys.
// Executions are kept in a compact form (~200 B each with the map, against ~830 B as records: a
// fleet of 100,000 nodes and ten jobs keeps a million of them) and read back as ExecutionRecords.
// Job specs of every version are loaded on demand and kept (versions never change), with their
// assignment JSON pre-encoded for agents. Handlers registered before Start() run on the watch's
// thread after each change is applied. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/records.h"
#include "api/selector.h"
#include "controller/job_selector_index.h"
#include "store/store.h"

namespace drover::controller {

template <typename T>
struct Versioned {
  T value;
  int64_t mod_revision = 0;
};

// One job as the loop sees it. The executions and their revisions are two vectors so that the
// records can be moved into the reconciler's observation whole (a 100,000-execution job's
// records are ~60 MB: made once per reconcile, never copied).
struct JobSnapshot {
  Versioned<JobRecord> job;
  std::optional<Versioned<RolloutRecord>> rollout;
  std::vector<ExecutionRecord> executions;
  std::vector<int64_t> execution_revisions;  // the mod_revision of executions[i]
};

// An execution id of the form NewExecutionId gives ("e-" and a lowercase UUID) as its 128 bits:
// 16 bytes where the text takes 38 and an allocation, for maps with one entry per execution.
struct ExecutionUuid {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const ExecutionUuid&) const = default;
};
struct ExecutionUuidHash {
  size_t operator()(const ExecutionUuid& k) const;
};
// The bits of `id`, or nullopt when it has another form (ids are data: any string may come).
std::optional<ExecutionUuid> ParseExecutionUuid(std::string_view id);

// What changed about one execution (kept small: a 100,000-execution transaction makes as many).
struct ExecutionChange {
  std::string id;
  std::string job_id;
  std::string node_id;
  bool created = false;
  bool deleted = false;
  // The node's assignment list changes: created, deleted, desired_state changed, or it became
  // terminal.
  bool assignment_changed = false;
  bool started = false;   // its state is starting or running
  bool terminal = false;  // completed, failed or stopped (or deleted)
  int restarts = 0;
};

struct CacheHandlers {
  // A job or its rollout was created, changed or deleted (job id).
  std::function<void(const std::string& job_id)> job_changed;
  // An execution was created, changed or deleted.
  std::function<void(const ExecutionChange& change)> execution_changed;
};

class JobCache {
 public:
  JobCache(store::Store& store, CacheHandlers handlers);
  ~JobCache();
  JobCache(const JobCache&) = delete;
  JobCache& operator=(const JobCache&) = delete;

  // Lists everything and starts watching. Handlers are called for every listed object. A
  // re-list (the watch ended) reads the store in pages under the exclusive lock and calls them
  // for every job and for the executions that appeared, changed or went.
  Status Start();
  void Stop();

  // The revision the cache has caught up with.
  int64_t Revision() const;
  // Waits until the cache has seen `revision` (or `timeout` passed); true when it has.
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout) const;

  std::optional<JobSnapshot> Snapshot(const std::string& job_id) const;
  // The job record alone (no executions copied).
  std::optional<Versioned<JobRecord>> Job(const std::string& job_id) const;
  // How many executions the job has (0 for an unknown job), without copying them.
  size_t ExecutionCount(const std::string& job_id) const;
  std::vector<std::string> JobIds() const;
  // The jobs whose selector matches the node with `labels` or with `old_labels` (a relabel's
  // before and after), found through the selector index (never a scan of every job).
  std::vector<std::string> JobsSelecting(std::string_view node_id, const Labels& old_labels,
                                         const Labels& labels) const;
  std::optional<int> PriorityOf(const std::string& job_id) const;

  // One execution; give its job id when known (a heartbeat does), else every job is searched.
  std::optional<Versioned<ExecutionRecord>> Execution(const std::string& execution_id,
                                                      const std::string& job_id = "") const;
  // Every execution on a node (any job), current values.
  std::vector<ExecutionRecord> ExecutionsOnNode(const std::string& node_id) const;
  // Job ids with an execution on the node.
  std::vector<std::string> JobsOnNode(const std::string& node_id) const;

  // The spec of one version of a job (read from the store once, then kept).
  Result<std::shared_ptr<const JobSpec>> Spec(const std::string& job_id, int version);
  // The assignment fields of one version (type, config, restart_policy, timeouts,
  // health_check), encoded once.
  Result<std::shared_ptr<const Json>> AssignmentTemplate(const std::string& job_id, int version);

  // The counters of a job's latest rollout while it is in a non-terminal phase.
  struct RolloutInProgress {
    std::string namespace_;
    std::string name;
    int current_wave = 0;
    int total_waves = 0;
    int updated_nodes = 0;
    int target_nodes = 0;
    int failed_nodes = 0;
  };
  // Counts for the gauges: executions by state, rollouts by phase, jobs by (ns, type, state),
  // and the rollouts in progress (one per job at most, never per node).
  struct Counts {
    std::map<std::string, int64_t> executions;
    std::map<std::string, int64_t> rollouts;
    std::map<std::tuple<std::string, std::string, std::string>, int64_t> jobs;
    std::vector<RolloutInProgress> rollouts_in_progress;
  };
  Counts Count() const;

 private:
  // ---- executions in compact form ----
  // A string field of a cached execution: 0 is "", an odd value a timestamp as the controller
  // writes them (RFC 3339 in UTC with milliseconds, kept only when it formats back to the same
  // text) as milliseconds since the epoch << 1 | 1, any other value an Interned*.
  using Text = uint64_t;
  // A string kept once however many executions hold it (node ids, namespaces, names, states,
  // messages, odd ids), counted by its holders; changed only under the exclusive lock.
  struct Interned {
    std::string text;
    uint64_t holders = 0;
  };
  // An execution id: "e-" and a lowercase UUID as its 128 bits (hi != 0), or hi == 0 and the id
  // as a Text in lo.
  using ExecutionKey = ExecutionUuid;
  using ExecutionKeyHash = ExecutionUuidHash;
  struct CachedExecution {
    int64_t mod_revision = 0;
    Text job_id = 0, namespace_ = 0, name = 0, node_id = 0;
    Text desired_state = 0, state = 0, health = 0, message = 0;
    Text stable_at = 0, created_at = 0, updated_at = 0;
    int64_t rollout_id = 0;
    int64_t replaced_for_rollout = 0;
    int32_t version = 0, restarts = 0, attempt = 0, wave = 0;
    int32_t replaced_for_version = 0, replaced_for_wave = 0;
    int32_t rollback_of = 0;  // an update's rollback run (ExecutionRecord::rollback_of)
    int32_t exit_code = 0;
    bool has_exit_code = false;
  };
  using ExecutionMap = std::unordered_map<ExecutionKey, CachedExecution, ExecutionKeyHash>;

  struct JobEntry {
    Versioned<JobRecord> job;
    std::optional<Versioned<RolloutRecord>> rollout;
    ExecutionMap executions;
    std::shared_ptr<const NodeSelector> selector;
  };

  // Interning (exclusive lock): every Text a record holds counts as one holder.
  Text Intern(std::string_view s);
  void Release(Text t);
  // The Text `s` would have, without interning it: nullopt when no execution holds `s`.
  std::optional<Text> Find(std::string_view s) const;
  std::string Str(Text t) const;
  ExecutionKey InternKey(std::string_view id);
  std::optional<ExecutionKey> FindKey(std::string_view id) const;
  std::string IdOf(const ExecutionKey& key) const;
  CachedExecution Compact(const ExecutionRecord& e, int64_t mod_revision);
  void ReleaseAll(const CachedExecution& e);
  Versioned<ExecutionRecord> Expand(const ExecutionKey& key, const CachedExecution& e) const;
  // What changed from `prev` (null: created) to `next` (null: deleted).
  ExecutionChange ChangeOf(const ExecutionKey& key, const CachedExecution* prev,
                           const ExecutionRecord* next) const;
  // Erases every execution of `map` from the node index and the intern table.
  void ReleaseMap(const ExecutionMap& map);

  // What the handlers are told after a change is applied, in order: a job change (only
  // `change.job_id` set) or an execution change. Plain values, not closures: a
  // 100,000-execution revision makes as many.
  struct Notice {
    bool job = false;
    ExecutionChange change;
  };
  using Notices = std::vector<Notice>;
  void NoticeJob(const std::string& job_id, Notices* after) const;
  void NoticeExecution(ExecutionChange change, Notices* after) const;
  void Deliver(Notices& after);

  Status ListAndWatch();
  void Apply(const store::Event& event, Notices* after);
  void ApplyPut(const store::KeyValue& kv, Notices* after);
  void ApplyDelete(const std::string& key, int64_t revision, Notices* after);
  void OnWatch(const std::vector<store::Event>& events, const Status& status);
  void IndexNode(const ExecutionMap::value_type* e);
  void UnindexNode(const ExecutionMap::value_type* e);
  void RelistLoop();

  store::Store& store_;
  CacheHandlers handlers_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string_view, std::unique_ptr<Interned>> interned_;  // by text
  std::unordered_map<std::string, JobEntry> jobs_;                            // by job id
  std::unordered_map<std::string, std::string> job_key_to_id_;                // store key -> job id
  // node (its id's Text) -> its executions, pointing into the jobs' maps (an execution's node
  // never changes; map nodes do not move, so the pointers stay valid until the execution is
  // erased)
  std::unordered_map<Text, std::vector<const ExecutionMap::value_type*>> by_node_;
  JobSelectorIndex selector_index_;  // the jobs of jobs_ by what their selectors need
  // rollouts and executions may arrive before their job (watch order is by key within a
  // revision); they wait here until it does.
  std::unordered_map<std::string, Versioned<RolloutRecord>> orphan_rollouts_;
  std::unordered_map<std::string, ExecutionMap> orphan_executions_;

  std::mutex spec_mu_;
  std::map<std::pair<std::string, int>, std::shared_ptr<const JobSpec>> specs_;
  std::map<std::pair<std::string, int>, std::shared_ptr<const Json>> templates_;

  mutable std::mutex revision_mu_;
  mutable std::condition_variable revision_cv_;
  int64_t revision_ = 0;
  bool needs_relist_ = false;
  bool stopping_ = false;
  std::unique_ptr<store::WatchHandle> watch_;
  std::thread relister_;
};

}  // namespace drover::controller
