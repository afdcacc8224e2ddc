#include "cli/sim_behaviour.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "api/duration.h"
#include "api/labels.h"
#include "reconcilers/waves.h"

namespace drover::sim {
namespace {

constexpr std::string_view kKindList = "healthy, unhealthy, crash, fail, slow, complete or hang";

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

Result<int64_t> ParseCount(std::string_view key, std::string_view text) {
  int64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || value < 0) {
    return InvalidError(std::string(key) + "=" + std::string(text) +
                        ": expected a non-negative integer");
  }
  return value;
}

Result<SimDuration> ParseSimDuration(std::string_view key, std::string_view text) {
  Result<Duration> d = ParseDuration(text);
  if (!d.ok() || d->nanoseconds() < 0) {
    return InvalidError(std::string(key) + "=" + std::string(text) +
                        ": expected a duration such as 500ms, 10s or 1m30s");
  }
  return SimDuration(d->nanoseconds());
}

// "all", "P%" or "ID|ID|...".
Result<NodeChoice> ParseNodesValue(std::string_view text) {
  NodeChoice choice;
  if (text == "all") return choice;
  if (!text.empty() && text.back() == '%') {
    std::string_view number = text.substr(0, text.size() - 1);
    double percent = -1;
    auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), percent);
    if (number.empty() || ec != std::errc() || p != number.data() + number.size() ||
        !(percent >= 0 && percent <= 100)) {
      return InvalidError("nodes=" + std::string(text) + ": expected a percentage from 0% to 100%");
    }
    choice.mode = NodeChoice::Mode::kPercent;
    choice.percent = percent;
    return choice;
  }
  choice.mode = NodeChoice::Mode::kIds;
  for (std::string_view id : Split(text, '|')) {
    if (auto error = NodeIdError(id)) {
      return InvalidError("nodes=" + std::string(text) + ": node id " + Quote(id) + ": " + *error);
    }
    choice.ids.insert(std::string(id));
  }
  return choice;
}

// FNV-1a, then MurmurHash3's finalizer so that ids differing in their last characters spread
// over the whole range (plain FNV-1a keeps sim-00001..sim-00200 in a narrow band of high bits).
uint64_t NodeRank(std::string_view text) { return StableHash(text); }

int64_t Windows(SimDuration running_for, SimDuration interval) {
  return interval.count() > 0 ? running_for.count() / interval.count() : 0;
}

// A window whose error rate is above max_error_rate (SPEC §6: "greater than").
void UnhealthyWindow(const ExecutionScript& s, Observation& o) {
  int64_t messages = std::max<int64_t>(1, s.messages_per_window);
  if (s.health.max_error_rate < 0.5) {
    o.processed = messages;  // error rate 0.5
    o.errors = messages;
  } else {
    o.processed = 0;  // error rate 1
    o.errors = messages;
  }
}

Observation Succeed(const ExecutionScript& s, SimDuration running_for) {
  Observation o;
  if (running_for < s.run_time) {
    o.state = "running";
    o.message = "running";
    return o;
  }
  o.state = "completed";
  o.exit_code = 0;
  o.health = "healthy";
  o.message = "completed";
  if (s.results > 0) o.results = QueryResults(s.node_id, s.job_name, s.results);
  return o;
}

Observation Fail(const ExecutionScript& s, SimDuration running_for) {
  Observation o;
  if (running_for < s.run_time) {
    o.state = "running";
    o.message = "running";
    return o;
  }
  o.state = "failed";
  o.exit_code = 1;
  o.health = "unhealthy";
  o.message = "exited with code 1";
  return o;
}

// The state of an execution nobody asked to stop.
Observation ObserveUnstopped(const ExecutionScript& s, SimDuration t) {
  Observation o;
  if (t < s.pending_for) {
    o.message = "waiting to start";
    return o;
  }
  if (t < s.pending_for + s.starting_for) {
    o.state = "starting";
    o.message = "starting";
    return o;
  }
  SimDuration running_for = t - s.pending_for - s.starting_for;
  int64_t windows = Windows(running_for, s.health.interval);
  switch (s.kind) {
    case BehaviourKind::kComplete:
      return Succeed(s, running_for);
    case BehaviourKind::kFail:
      return Fail(s, running_for);
    case BehaviourKind::kHang:
      o.state = "running";
      o.message = "running";
      return o;
    case BehaviourKind::kHealthy:
    case BehaviourKind::kSlow:
      if (s.one_shot) return Succeed(s, running_for);
      o.state = "running";
      o.message = "running";
      if (windows >= 1) o.processed = s.messages_per_window;
      if (windows >= s.health.success_threshold) o.health = "healthy";
      return o;
    case BehaviourKind::kUnhealthy:
      if (s.one_shot) return Fail(s, running_for);
      o.state = "running";
      o.message = "running with errors";
      if (windows >= 1) UnhealthyWindow(s, o);
      if (windows >= s.health.failure_threshold) o.health = "unhealthy";
      return o;
    case BehaviourKind::kCrash:
      break;
  }
  // A crash loop: a crash at the end of every health window.
  o.state = "running";
  o.message = "running";
  if (windows == 0) return o;
  UnhealthyWindow(s, o);
  if (windows >= s.health.failure_threshold) o.health = "unhealthy";
  if (s.restart_never) {
    o.state = "failed";
    o.exit_code = 1;
    o.health = "unhealthy";
    o.message = "crashed with exit code 1 (restart_policy never)";
    return o;
  }
  if (s.one_shot && windows > s.health.failure_threshold) {
    o.state = "failed";
    o.exit_code = 1;
    o.restarts = s.health.failure_threshold;
    o.health = "unhealthy";
    o.message = "crashed with exit code 1 after " + std::to_string(o.restarts) + " restarts";
    return o;
  }
  o.restarts = static_cast<int>(std::min<int64_t>(windows, 1'000'000'000));
  o.message = "crashed with exit code 1, restarted " + std::to_string(o.restarts) +
              (o.restarts == 1 ? " time" : " times");
  return o;
}

}  // namespace

std::string_view BehaviourKindName(BehaviourKind kind) {
  switch (kind) {
    case BehaviourKind::kHealthy:
      return "healthy";
    case BehaviourKind::kUnhealthy:
      return "unhealthy";
    case BehaviourKind::kCrash:
      return "crash";
    case BehaviourKind::kFail:
      return "fail";
    case BehaviourKind::kSlow:
      return "slow";
    case BehaviourKind::kComplete:
      return "complete";
    case BehaviourKind::kHang:
      return "hang";
  }
  return "healthy";
}

std::optional<BehaviourKind> ParseBehaviourKind(std::string_view text) {
  for (BehaviourKind kind : {BehaviourKind::kHealthy, BehaviourKind::kUnhealthy,
                             BehaviourKind::kCrash, BehaviourKind::kFail, BehaviourKind::kSlow,
                             BehaviourKind::kComplete, BehaviourKind::kHang}) {
    if (BehaviourKindName(kind) == text) return kind;
  }
  return std::nullopt;
}

std::unordered_set<std::string> ChooseNodes(const NodeChoice& choice,
                                            const std::vector<std::string>& fleet) {
  std::unordered_set<std::string> chosen;
  switch (choice.mode) {
    case NodeChoice::Mode::kAll:
      chosen.insert(fleet.begin(), fleet.end());
      return chosen;
    case NodeChoice::Mode::kIds:
      for (const std::string& id : fleet) {
        if (choice.ids.count(id)) chosen.insert(id);
      }
      return chosen;
    case NodeChoice::Mode::kPercent:
    case NodeChoice::Mode::kCount:
      break;
  }
  std::vector<std::pair<uint64_t, const std::string*>> ranked;
  ranked.reserve(fleet.size());
  for (const std::string& id : fleet) ranked.emplace_back(NodeRank(id), &id);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  size_t take = 0;
  if (choice.mode == NodeChoice::Mode::kCount) {
    take = static_cast<size_t>(std::max<int64_t>(0, choice.count));
  } else {
    double exact = choice.percent * static_cast<double>(fleet.size()) / 100.0;
    take = static_cast<size_t>(std::max(0.0, std::ceil(exact - 1e-9)));
  }
  take = std::min(take, ranked.size());
  for (size_t i = 0; i < take; ++i) chosen.insert(*ranked[i].second);
  return chosen;
}

Result<BehaviourRule> ParseBehaviourRule(std::string_view text) {
  if (text.empty()) return InvalidError("empty rule (expected e.g. job=web,nodes=20%:unhealthy)");
  BehaviourRule rule;
  std::string_view matchers;
  std::string_view action = text;
  if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    matchers = text.substr(0, colon);
    action = text.substr(colon + 1);
    if (matchers.empty()) return InvalidError("nothing before \":\" in " + Quote(text));
  }
  bool have_nodes = false;
  if (!matchers.empty()) {
    for (std::string_view part : Split(matchers, ',')) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        return InvalidError(Quote(part) + ": expected job=, version=, nodes= or count=");
      }
      std::string_view key = part.substr(0, eq);
      std::string_view value = part.substr(eq + 1);
      if (key == "job") {
        if (value.empty()) return InvalidError("job=: expected a job name, namespace/name or id");
        rule.job = std::string(value);
      } else if (key == "version") {
        Result<int64_t> v = ParseCount(key, value);
        if (!v.ok() || *v < 1 || *v > 1'000'000'000) {
          return InvalidError("version=" + std::string(value) + ": expected a version >= 1");
        }
        rule.version = static_cast<int>(*v);
      } else if (key == "nodes" || key == "count") {
        if (have_nodes) return InvalidError("give nodes= or count= once");
        have_nodes = true;
        if (key == "count") {
          Result<int64_t> n = ParseCount(key, value);
          if (!n.ok()) return n.status();
          rule.nodes.mode = NodeChoice::Mode::kCount;
          rule.nodes.count = *n;
        } else {
          Result<NodeChoice> nodes = ParseNodesValue(value);
          if (!nodes.ok()) return nodes.status();
          rule.nodes = std::move(nodes).value();
        }
      } else {
        return InvalidError("unknown matcher " + Quote(key) +
                            " (expected job=, version=, nodes= or count=)");
      }
    }
  }
  std::vector<std::string_view> parts = Split(action, ',');
  std::optional<BehaviourKind> kind = ParseBehaviourKind(parts[0]);
  if (!kind) {
    return InvalidError("unknown behaviour " + Quote(parts[0]) + " (expected " +
                        std::string(kKindList) + ")");
  }
  rule.kind = *kind;
  for (size_t i = 1; i < parts.size(); ++i) {
    size_t eq = parts[i].find('=');
    std::string_view key = parts[i].substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : parts[i].substr(eq + 1);
    if (eq != std::string_view::npos && key == "delay") {
      Result<SimDuration> d = ParseSimDuration(key, value);
      if (!d.ok()) return d.status();
      rule.delay = *d;
    } else if (eq != std::string_view::npos && key == "results") {
      Result<int64_t> n = ParseCount(key, value);
      if (!n.ok()) return n.status();
      if (*n > 100'000) return InvalidError("results=" + std::string(value) + ": at most 100000");
      rule.results = static_cast<int>(*n);
    } else {
      return InvalidError("unknown option " + Quote(parts[i]) +
                          " after the behaviour (expected delay=DURATION or results=N)");
    }
  }
  return rule;
}

Result<OfflineWindow> ParseOfflineWindow(std::string_view text) {
  if (text.empty()) return InvalidError("empty window (expected e.g. count=5,at=10s,for=30s)");
  OfflineWindow window;
  bool have_nodes = false;
  bool have_for = false;
  for (std::string_view part : Split(text, ',')) {
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return InvalidError(Quote(part) + ": expected nodes=, count=, at= or for=");
    }
    std::string_view key = part.substr(0, eq);
    std::string_view value = part.substr(eq + 1);
    if (key == "nodes" || key == "count") {
      if (have_nodes) return InvalidError("give nodes= or count= once");
      have_nodes = true;
      if (key == "count") {
        Result<int64_t> n = ParseCount(key, value);
        if (!n.ok()) return n.status();
        window.nodes.mode = NodeChoice::Mode::kCount;
        window.nodes.count = *n;
      } else {
        Result<NodeChoice> nodes = ParseNodesValue(value);
        if (!nodes.ok()) return nodes.status();
        window.nodes = std::move(nodes).value();
      }
    } else if (key == "at" || key == "for") {
      Result<SimDuration> d = ParseSimDuration(key, value);
      if (!d.ok()) return d.status();
      if (key == "at") {
        window.at = *d;
      } else {
        if (d->count() <= 0) return InvalidError("for=" + std::string(value) + ": must be > 0");
        window.length = *d;
        have_for = true;
      }
    } else {
      return InvalidError("unknown key " + Quote(key) + " (expected nodes=, count=, at= or for=)");
    }
  }
  if (!have_nodes)
    return InvalidError("give the nodes: nodes=ID|ID, nodes=P%, nodes=all or count=N");
  if (!have_for) return InvalidError("give how long the nodes are offline: for=DURATION");
  return window;
}

Result<std::optional<HealthSettings>> ParseHealthCheck(const Json& health_check) {
  if (health_check.is_null()) return std::optional<HealthSettings>();
  if (!health_check.is_object()) return InvalidError("health_check: expected an object or null");
  HealthSettings h;
  auto duration = [&](const char* field, SimDuration* out) -> Status {
    auto it = health_check.find(field);
    if (it == health_check.end() || it->is_null()) return Status::Ok();
    if (it->is_number_integer()) {
      *out = SimDuration(it->get<int64_t>());
    } else if (it->is_string()) {
      Result<Duration> d = ParseDuration(it->get<std::string>());
      if (!d.ok())
        return InvalidError(std::string("health_check.") + field + ": " + d.status().message());
      *out = SimDuration(d->nanoseconds());
    } else {
      return InvalidError(std::string("health_check.") + field + ": expected nanoseconds");
    }
    return Status::Ok();
  };
  auto threshold = [&](const char* field, int* out) -> Status {
    auto it = health_check.find(field);
    if (it == health_check.end() || it->is_null()) return Status::Ok();
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1'000'000) {
      return InvalidError(std::string("health_check.") + field + ": expected an integer >= 1");
    }
    *out = static_cast<int>(it->get<int64_t>());
    return Status::Ok();
  };
  SimDuration deadline{0};
  for (Status s : {duration("interval", &h.interval), duration("deadline", &deadline),
                   threshold("success_threshold", &h.success_threshold),
                   threshold("failure_threshold", &h.failure_threshold)}) {
    if (!s.ok()) return s;
  }
  if (h.interval.count() <= 0) return InvalidError("health_check.interval: must be > 0");
  if (auto it = health_check.find("max_error_rate"); it != health_check.end() && !it->is_null()) {
    if (!it->is_number()) return InvalidError("health_check.max_error_rate: expected a number");
    h.max_error_rate = it->get<double>();
  }
  return std::optional<HealthSettings>(h);
}

bool RuleMatches(const BehaviourRule& rule, const AssignmentFacts& facts,
                 const std::unordered_set<std::string>& chosen) {
  if (!rule.job.empty() && rule.job != facts.job_id && rule.job != facts.name &&
      rule.job != facts.namespace_ + "/" + facts.name) {
    return false;
  }
  if (rule.version && *rule.version != facts.version) return false;
  switch (rule.nodes.mode) {
    case NodeChoice::Mode::kAll:
      return true;
    case NodeChoice::Mode::kIds:
      return rule.nodes.ids.count(facts.node_id) > 0;
    case NodeChoice::Mode::kPercent:
    case NodeChoice::Mode::kCount:
      return chosen.count(facts.node_id) > 0;
  }
  return false;
}

RuleBook::RuleBook(std::vector<BehaviourRule> rules, const std::vector<std::string>& fleet)
    : rules_(std::move(rules)) {
  chosen_.resize(rules_.size());
  for (size_t i = 0; i < rules_.size(); ++i) {
    NodeChoice::Mode mode = rules_[i].nodes.mode;
    if (mode == NodeChoice::Mode::kPercent || mode == NodeChoice::Mode::kCount) {
      chosen_[i] = ChooseNodes(rules_[i].nodes, fleet);
    }
  }
}

const BehaviourRule* RuleBook::Match(const AssignmentFacts& facts) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (RuleMatches(rules_[i], facts, chosen_[i])) return &rules_[i];
  }
  return nullptr;
}

OfflinePlan::OfflinePlan(const std::vector<OfflineWindow>& windows,
                         const std::vector<std::string>& fleet) {
  for (const OfflineWindow& w : windows) {
    for (const std::string& id : ChooseNodes(w.nodes, fleet)) {
      windows_[id].emplace_back(w.at, w.at + w.length);
    }
  }
  for (auto& [id, list] : windows_) {
    std::sort(list.begin(), list.end());
    std::vector<std::pair<SimDuration, SimDuration>> merged;
    for (const auto& w : list) {
      if (!merged.empty() && w.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, w.second);
      } else {
        merged.push_back(w);
      }
    }
    list = std::move(merged);
  }
}

std::optional<SimDuration> OfflinePlan::OfflineUntil(const std::string& node_id,
                                                     SimDuration since_start) const {
  auto it = windows_.find(node_id);
  if (it == windows_.end()) return std::nullopt;
  for (const auto& [start, end] : it->second) {
    if (start <= since_start && since_start < end) return end;
  }
  return std::nullopt;
}

std::optional<SimDuration> OfflinePlan::NextOffline(const std::string& node_id,
                                                    SimDuration since_start) const {
  auto it = windows_.find(node_id);
  if (it == windows_.end()) return std::nullopt;
  for (const auto& [start, end] : it->second) {
    if (start > since_start) return start;
  }
  return std::nullopt;
}

ExecutionScript MakeScript(const AssignmentFacts& facts, const BehaviourRule* rule,
                           const BehaviourSettings& settings) {
  ExecutionScript s;
  s.kind = rule != nullptr ? rule->kind : BehaviourKind::kHealthy;
  s.one_shot = facts.type == "query" || facts.type == "update";
  s.restart_never = facts.restart_policy == "never";
  s.health = facts.health_check.value_or(settings.default_health);
  if (s.health.interval.count() <= 0) s.health.interval = settings.default_health.interval;
  s.pending_for = settings.pending_for;
  s.starting_for = settings.starting_for;
  if (s.kind == BehaviourKind::kSlow) {
    s.starting_for = rule->delay.value_or(settings.slow_delay);
  }
  s.run_time = settings.one_shot_run_time;
  s.messages_per_window = settings.messages_per_window;
  if (facts.type == "query") {
    s.results = rule != nullptr && rule->results ? *rule->results : settings.query_results;
  }
  s.node_id = facts.node_id;
  s.job_name = facts.name;
  return s;
}

bool IsTerminalState(std::string_view state) {
  return state == "completed" || state == "failed" || state == "stopped";
}

Observation Observe(const ExecutionScript& script, SimDuration since_assigned,
                    std::optional<SimDuration> stop_requested_at) {
  if (stop_requested_at && since_assigned >= *stop_requested_at) {
    Observation at_stop = ObserveUnstopped(script, *stop_requested_at);
    if (!IsTerminalState(at_stop.state)) {
      at_stop.state = "stopped";
      at_stop.exit_code.reset();
      at_stop.message = "stopped";
    }
    return at_stop;
  }
  return ObserveUnstopped(script, since_assigned);
}

Json QueryResults(const std::string& node_id, const std::string& job_name, int count) {
  Json results = Json::array();
  for (int i = 0; i < count; ++i) {
    Json message = {{"node_id", node_id}, {"job", job_name}};
    if (count > 1) message["seq"] = i + 1;
    results.push_back(std::move(message));
  }
  return results;
}

Json ExecutionReportJson(const std::string& execution_id, const std::string& job_id, int version,
                         const Observation& o) {
  Json report = {{"execution_id", execution_id},
                 {"job_id", job_id},
                 {"version", version},
                 {"state", o.state},
                 {"exit_code", o.exit_code ? Json(*o.exit_code) : Json()},
                 {"restarts", o.restarts},
                 {"health", o.health},
                 {"window", {{"processed", o.processed}, {"errors", o.errors}}},
                 {"message", o.message}};
  if (!o.results.is_null()) report["results"] = o.results;
  return report;
}

}  // namespace drover::sim
