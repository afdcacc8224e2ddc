#include "reconcilers/manifest_plan.h"

#include <algorithm>
#include <map>
#include <set>

namespace drover {

ManifestPlan PlanManifestSync(const ManifestPlanInput& input) {
  ManifestPlan plan;
  if (!input.folder_read) {
    plan.prune_skipped = "the folder could not be read: nothing was applied or stopped";
    return plan;
  }

  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < input.declared.size(); ++i) {
    by_key[input.declared[i].key].push_back(i);
  }
  for (size_t i = 0; i < input.declared.size(); ++i) {
    const std::vector<size_t>& same = by_key[input.declared[i].key];
    if (same.size() == 1) {
      plan.put.push_back(i);
    } else if (same.front() == i) {
      plan.duplicates.push_back({input.declared[i].key, same});
    }
  }

  if (input.invalid_files > 0 || !plan.duplicates.empty()) {
    int broken = input.invalid_files;
    std::set<std::string> duplicate_files;
    for (const DuplicateJob& d : plan.duplicates) {
      for (size_t i : d.declared) duplicate_files.insert(input.declared[i].file);
    }
    std::string what = broken > 0 ? std::to_string(broken) +
                                        (broken == 1 ? " file is invalid" : " files are invalid")
                                  : std::string();
    if (!plan.duplicates.empty()) {
      if (!what.empty()) what += " and ";
      what += std::to_string(plan.duplicates.size()) +
              (plan.duplicates.size() == 1 ? " job is" : " jobs are") + " declared more than once";
    }
    plan.prune_skipped =
        "pruning is skipped while " + what + ": no job of the set is stopped until they are fixed";
    return plan;
  }
  if (!input.members_known) {
    plan.prune_skipped = "the jobs of the set could not be listed: nothing was stopped";
    return plan;
  }

  std::vector<std::string> running;
  for (const AppliedSetMember& m : input.members) {
    if (!m.stopped && !by_key.contains(m.key)) running.push_back(m.key);
  }
  if (input.declared.empty() && !running.empty()) {
    plan.prune_skipped =
        "the folder declares no job: refusing to stop every job of the set (" +
        std::to_string(running.size()) +
        " running); add a manifest back, or stop them with DELETE /api/v1/jobs/{job}";
    return plan;
  }
  std::sort(running.begin(), running.end());
  running.erase(std::unique(running.begin(), running.end()), running.end());
  plan.stop = std::move(running);
  return plan;
}

}  // namespace drover
