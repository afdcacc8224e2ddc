#include "controller/job_selector_index.h"

#include "api/selector.h"

namespace drover::controller {

std::string JobSelectorIndex::IdKey(std::string_view node_id) {
  std::string key("i");
  key.push_back('\0');
  key.append(node_id);
  return key;
}

std::string JobSelectorIndex::LabelKey(std::string_view key, std::string_view value) {
  std::string k("l");
  k.push_back('\0');
  k.append(key);
  k.push_back('\0');
  k.append(value);
  return k;
}

std::vector<std::string> JobSelectorIndex::KeysOf(const Selector& selector) {
  std::vector<std::string> keys;
  if (!selector.match_ids.empty()) {
    // the node must be one of these, whatever its labels
    for (const std::string& id : selector.match_ids) keys.push_back(IdKey(id));
    return keys;
  }
  if (!selector.match_labels.empty()) {
    const auto& [key, value] = *selector.match_labels.begin();
    keys.push_back(LabelKey(key, value));
    return keys;
  }
  for (const std::string& text : selector.match_expressions) {
    Result<Requirement> r = ParseRequirement(text);
    if (!r.ok()) continue;
    if (r->op != SelectorOperator::kEquals && r->op != SelectorOperator::kIn) continue;
    for (const std::string& value : r->values) keys.push_back(LabelKey(r->key, value));
    if (!keys.empty()) return keys;
  }
  return keys;
}

void JobSelectorIndex::Set(const std::string& job_id, const Selector& selector) {
  Erase(job_id);
  std::vector<std::string> keys = KeysOf(selector);
  if (keys.empty()) {
    unindexed_.insert(job_id);
    return;
  }
  for (const std::string& key : keys) jobs_by_key_[key].insert(job_id);
  keys_of_[job_id] = std::move(keys);
}

void JobSelectorIndex::Erase(const std::string& job_id) {
  unindexed_.erase(job_id);
  auto it = keys_of_.find(job_id);
  if (it == keys_of_.end()) return;
  for (const std::string& key : it->second) {
    auto jobs = jobs_by_key_.find(key);
    if (jobs == jobs_by_key_.end()) continue;
    jobs->second.erase(job_id);
    if (jobs->second.empty()) jobs_by_key_.erase(jobs);
  }
  keys_of_.erase(it);
}

void JobSelectorIndex::Clear() {
  keys_of_.clear();
  jobs_by_key_.clear();
  unindexed_.clear();
}

void JobSelectorIndex::AddCandidates(std::string_view node_id, const Labels& labels,
                                     std::unordered_set<std::string>* out) const {
  out->insert(unindexed_.begin(), unindexed_.end());
  auto add = [&](const std::string& key) {
    auto it = jobs_by_key_.find(key);
    if (it != jobs_by_key_.end()) out->insert(it->second.begin(), it->second.end());
  };
  add(IdKey(node_id));
  for (const auto& [key, value] : labels) add(LabelKey(key, value));
}

}  // namespace drover::controller
