// Which jobs may select a node, without trying every job's selector: when a node registers,
// relabels or changes connection state, the jobs that may now match it are re-queued, and with
// thousands of jobs a scan of all of them per node change made registrations ~25x slower.
//
// Each job is filed under what every node it selects must have: one of its match_ids, else one
// match_labels pair, else the values of one `k=v` or `k in (...)` expression. A job whose
// selector has none of these (only !=, notin, exists, !k, > or <, or the empty selector) is
// filed as "unindexed" and is a candidate for every node. Candidates are a superset of the jobs
// that match: callers still run the selector. Not thread-safe (JobCache holds it under its lock).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/job.h"

namespace drover::controller {

class JobSelectorIndex {
 public:
  // Files (or re-files) a job under its selector.
  void Set(const std::string& job_id, const Selector& selector);
  void Erase(const std::string& job_id);
  void Clear();

  // Adds to `out` the jobs that may select a node with this id and these labels.
  void AddCandidates(std::string_view node_id, const Labels& labels,
                     std::unordered_set<std::string>* out) const;

  size_t unindexed_size() const { return unindexed_.size(); }

 private:
  // "i" + '\0' + node id, or "l" + '\0' + key + '\0' + value.
  static std::string IdKey(std::string_view node_id);
  static std::string LabelKey(std::string_view key, std::string_view value);
  // The keys a selector is filed under; empty when it can only be unindexed.
  static std::vector<std::string> KeysOf(const Selector& selector);

  std::unordered_map<std::string, std::vector<std::string>> keys_of_;  // by job id
  std::unordered_map<std::string, std::unordered_set<std::string>> jobs_by_key_;
  std::unordered_set<std::string> unindexed_;
};

}  // namespace drover::controller
