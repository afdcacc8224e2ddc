#include "reconcilers/executions.h"

namespace drover {

bool IsTerminalExecutionState(std::string_view state) {
  return state == "completed" || state == "failed" || state == "stopped";
}

ExecutionChanges ConvergeExecutions(const JobRecord& job, const std::map<std::string, int>& want,
                                    const std::vector<ExecutionRecord>& existing, bool one_shot,
                                    const std::string& now) {
  ExecutionChanges changes;
  std::map<std::string, std::vector<const ExecutionRecord*>> by_node;
  for (const ExecutionRecord& e : existing) by_node[e.node_id].push_back(&e);

  // Stop what no longer belongs: active executions of a node that should run nothing, or
  // another version.
  for (const auto& [node, executions] : by_node) {
    auto wanted = want.find(node);
    for (const ExecutionRecord* e : executions) {
      if (!IsActive(*e) || e->desired_state == "stopped") continue;
      bool keep = wanted != want.end() && wanted->second == e->version;
      if (!keep) {
        ExecutionRecord stopped = *e;
        stopped.desired_state = "stopped";
        stopped.updated_at = now;
        changes.stop.push_back(std::move(stopped));
      }
    }
  }

  // Create what is missing, only where nothing is active any more.
  for (const auto& [node, version] : want) {
    bool has_wanted_active = false;
    bool has_other_active = false;
    bool done_once = false;
    auto it = by_node.find(node);
    if (it != by_node.end()) {
      for (const ExecutionRecord* e : it->second) {
        if (IsActive(*e)) {
          if (e->version == version && e->desired_state != "stopped") {
            has_wanted_active = true;
          } else {
            has_other_active = true;
          }
        } else if (one_shot && e->version == version && e->state != "stopped") {
          done_once = true;
        }
      }
    }
    if (has_wanted_active || done_once) continue;
    if (has_other_active) {
      changes.waiting.push_back(node);
      continue;
    }
    ExecutionRecord e;
    e.job_id = job.id;
    e.namespace_ = job.spec.namespace_;
    e.name = job.spec.name;
    e.node_id = node;
    e.version = version;
    e.desired_state = "running";
    e.state = "pending";
    e.created_at = now;
    e.updated_at = now;
    changes.create.push_back(std::move(e));
  }
  return changes;
}

bool MergeReport(const ReportedState& report, const std::string& now, ExecutionRecord* r) {
  if (IsTerminalExecutionState(r->state)) return false;
  ExecutionRecord before = *r;
  r->state = report.state;
  r->health = report.health;
  r->exit_code = report.exit_code;
  r->restarts = report.restarts;
  if (!report.message.empty() || report.state != before.state) r->message = report.message;
  if (r->health == "healthy" && r->stable_at.empty()) r->stable_at = now;
  if (*r == before) return false;
  r->updated_at = now;
  return true;
}

}  // namespace drover
