// Test helper: a pure, in-memory "world" around Decide — a job, its rollout record, nodes,
// executions and the controller's timings — with Apply(plan) doing what the runtime's
// transaction does (ids handed out in order, events numbered) and helpers that play the agents'
// part (report states and health) on an explicit clock. No threads, no sleeps.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "reconcilers/job_put.h"
#include "reconcilers/rollout.h"

namespace drover::testing {

using namespace std::chrono_literals;

inline JobSpec PipelineSpec(RolloutStrategy strategy = RolloutStrategy::kImmediate) {
  JobSpec s;
  s.name = "logs";
  s.namespace_ = "default";
  s.type = JobType::kPipeline;
  s.selector.match_labels = {{"role", "edge"}};
  s.rollout.strategy = strategy;
  if (strategy != RolloutStrategy::kImmediate) {
    HealthCheck hc;
    hc.deadline = Duration::Seconds(60);
    hc.interval = Duration::Seconds(5);
    hc.success_threshold = 2;
    hc.failure_threshold = 3;
    s.rollout.health_check = hc;
  }
  return s;
}

struct World {
  JobRecord job;
  RolloutRecord rollout;
  std::map<std::string, NodeFacts> nodes;
  std::map<std::string, ExecutionRecord> executions;  // by id
  std::map<std::string, ExecutionTiming> timing;
  MonoTime now{std::chrono::hours(1000)};
  MonoTime phase_since{std::chrono::hours(1000)};
  std::string phase_key;
  std::vector<EventRecord> events;
  int next_id = 1;
  Plan last;

  explicit World(JobSpec spec, int nodes_count = 0) {
    job.id = "j-test";
    job.spec = std::move(spec);
    job.version = 1;
    job.state = "pending";
    rollout = NewRollout(job.spec, std::nullopt, 1, "t0");
    rollout.rollout_id = 1;
    job.event_sequence = 1;
    for (int i = 0; i < nodes_count; ++i) AddNode(NodeName(i));
  }

  static std::string NodeName(int i) {
    char b[16];
    std::snprintf(b, sizeof(b), "n%03d", i);
    return b;
  }

  void AddNode(const std::string& id, bool matches = true) {
    NodeFacts f;
    f.id = id;
    f.matches = matches;
    nodes[id] = f;
  }

  Observed MakeObserved() {
    Observed o;
    for (auto& [id, n] : nodes) o.nodes.push_back(n);
    for (auto& [id, e] : executions) {
      o.executions.push_back(e);
      auto [it, inserted] = timing.try_emplace(id);
      if (inserted) it->second.first_seen = now;
      o.timing.push_back(it->second);
    }
    std::string key = std::to_string(rollout.rollout_id) + "/" + rollout.phase + "/" +
                      std::to_string(rollout.to_version);
    if (key != phase_key) {
      phase_key = key;
      phase_since = now;
    }
    o.phase_since = phase_since;
    return o;
  }

  // One reconcile: Decide, then apply the plan as the runtime would.
  Plan Step() {
    Observed o = MakeObserved();
    Plan p = Decide(job, rollout, o, now, Wall());
    Apply(p);
    last = p;
    return p;
  }

  // Reconciles until nothing changes (at most `limit` rounds), without moving the clock.
  void Settle(int limit = 20) {
    for (int i = 0; i < limit; ++i) {
      Plan p = Step();
      if (p.empty()) return;
    }
  }

  std::string Wall() const {
    return "t+" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     now - MonoTime{std::chrono::hours(1000)})
                                     .count());
  }

  void Apply(Plan& p) {
    for (const NewExecution& c : p.create) {
      ExecutionRecord e = NewExecutionRecord(job, c, Wall());
      char b[16];
      std::snprintf(b, sizeof(b), "e-%05d", next_id++);
      e.id = b;
      executions[e.id] = e;
      timing[e.id].first_seen = now;  // the runtime sees its own creates at once
    }
    for (const ExecutionRecord& e : p.update) executions[e.id] = e;
    for (const std::string& id : p.remove) {
      executions.erase(id);
      timing.erase(id);
    }
    if (p.rollout) rollout = *p.rollout;
    if (p.job) {
      int64_t seq = job.event_sequence;
      job = *p.job;
      job.event_sequence = seq;
    }
    for (EventRecord& e : p.events) {
      e.sequence = ++job.event_sequence;
      events.push_back(e);
    }
  }

  void Advance(std::chrono::nanoseconds d) { now += d; }

  // The agent's part: every active execution with desired running reports `state`/`health`;
  // those asked to stop are stopped.
  void Report(const std::string& node, std::string state, std::string health = "unknown",
              int restarts = 0) {
    for (auto& [id, e] : executions) {
      if (e.node_id != node ||
          (e.state != "pending" && e.state != "starting" && e.state != "running"))
        continue;
      if (e.desired_state == "stopped") {
        e.state = "stopped";
        continue;
      }
      e.state = state;
      e.health = health;
      e.restarts = restarts;
      if (health == "healthy" && e.stable_at.empty()) e.stable_at = Wall();
      ExecutionTiming& t = timing[id];
      if ((state == "running" || state == "starting") && !t.started) {
        t.started = now;
        t.restarts_at_start = restarts;
      }
    }
  }
  void ReportAll(std::string state, std::string health = "unknown") {
    for (auto& [id, n] : nodes) {
      if (n.connection == Connection::kConnected) Report(id, state, health);
    }
  }
  // Stops answered by every connected agent.
  void AckStops() {
    for (auto& [id, e] : executions) {
      if (e.desired_state == "stopped" &&
          (e.state == "pending" || e.state == "starting" || e.state == "running") &&
          nodes.count(e.node_id) && nodes[e.node_id].connection == Connection::kConnected) {
        e.state = "stopped";
      }
    }
  }

  // Active executions of the job per node (desired running, not terminal).
  std::map<std::string, int> Running() const {
    std::map<std::string, int> out;
    for (const auto& [id, e] : executions) {
      if (e.desired_state == "running" &&
          (e.state == "pending" || e.state == "starting" || e.state == "running")) {
        out[e.node_id] = e.version;
      }
    }
    return out;
  }

  // Non-terminal executions per node (any desired state).
  std::map<std::string, int> ActiveCount() const {
    std::map<std::string, int> out;
    for (const auto& [id, e] : executions) {
      if (e.state == "pending" || e.state == "starting" || e.state == "running") ++out[e.node_id];
    }
    return out;
  }

  bool HasEvent(const std::string& reason) const {
    for (const EventRecord& e : events) {
      if (e.reason == reason) return true;
    }
    return false;
  }

  // A new version of the spec, as the PUT writes it.
  void Update(JobSpec spec) {
    job.spec = std::move(spec);
    job.version += 1;
    job.failed_version.reset();
    rollout = NewRollout(job.spec, job.stable_version, job.version, Wall());
    rollout.rollout_id = ++job.event_sequence;
  }
};

}  // namespace drover::testing
