#include "reconcilers/node_converge.h"

#include <unordered_map>
#include <unordered_set>

namespace drover {

NodeActions ConvergeNode(const std::vector<DesiredExecution>& desired,
                         const std::vector<LocalExecution>& local, std::optional<int> capacity) {
  NodeActions actions;
  std::unordered_map<std::string_view, const DesiredExecution*> wanted;
  wanted.reserve(desired.size());
  for (const DesiredExecution& d : desired) wanted.emplace(d.execution_id, &d);

  std::unordered_map<std::string_view, const LocalExecution*> known;
  std::unordered_set<std::string_view> busy_jobs;  // jobs with an execution active or stopping
  int used = 0;
  for (const LocalExecution& l : local) {
    known.emplace(l.execution_id, &l);
    if (l.phase == LocalPhase::kTerminal) {
      if (l.terminal_reported && !wanted.contains(l.execution_id)) {
        actions.forget.push_back(l.execution_id);
      }
      continue;
    }
    ++used;
    auto w = wanted.find(l.execution_id);
    const bool keep = w != wanted.end() && w->second->running;
    if (l.phase == LocalPhase::kActive && !keep) actions.stop.push_back(l.execution_id);
    // a job with an execution still running or stopping here starts nothing new until it exits
    busy_jobs.insert(l.job_id);
  }

  for (const DesiredExecution& d : desired) {
    if (!d.running || known.contains(d.execution_id)) continue;
    if (busy_jobs.contains(d.job_id) || (capacity && used >= *capacity)) {
      actions.waiting.push_back(d.execution_id);
      continue;
    }
    actions.start.push_back(d.execution_id);
    busy_jobs.insert(d.job_id);
    ++used;
  }
  return actions;
}

}  // namespace drover
