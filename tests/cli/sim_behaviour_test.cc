// The pure behaviour of `drover sim` (cli/sim_behaviour.h): rule and window grammar, node
// choice, rule matching, offline windows and each kind's timeline, as tables with explicit
// times. No clock, no sleeps.
#include "cli/sim_behaviour.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace drover::sim {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::vector<std::string> Fleet(int n) {
  std::vector<std::string> ids;
  for (int i = 1; i <= n; ++i) {
    std::string number = std::to_string(i);
    ids.push_back("sim-" + std::string(5 - number.size(), '0') + number);
  }
  return ids;
}

// ---- grammar ----

TEST(SimBehaviourGrammar, ParsesRulesWithMatchersKindsAndOptions) {
  struct Case {
    std::string text;
    BehaviourRule want;
  };
  NodeChoice twenty{NodeChoice::Mode::kPercent, {}, 20, 0};
  NodeChoice ids{NodeChoice::Mode::kIds, {"sim-00001", "sim-00002"}, 100, 0};
  NodeChoice three{NodeChoice::Mode::kCount, {}, 100, 3};
  std::vector<Case> cases = {
      {"unhealthy", {"", std::nullopt, {}, BehaviourKind::kUnhealthy, std::nullopt, std::nullopt}},
      {"job=web,version=2,nodes=20%:unhealthy",
       {"web", 2, twenty, BehaviourKind::kUnhealthy, std::nullopt, std::nullopt}},
      {"nodes=sim-00001|sim-00002:crash",
       {"", std::nullopt, ids, BehaviourKind::kCrash, std::nullopt, std::nullopt}},
      {"count=3:slow,delay=20s",
       {"", std::nullopt, three, BehaviourKind::kSlow, SimDuration(20s), std::nullopt}},
      {"job=prod/logs:complete,results=5",
       {"prod/logs", std::nullopt, {}, BehaviourKind::kComplete, std::nullopt, 5}},
      {"job=j-123,nodes=all:hang",
       {"j-123", std::nullopt, {}, BehaviourKind::kHang, std::nullopt, std::nullopt}},
      {"nodes=2.5%:fail",
       {"",
        std::nullopt,
        {NodeChoice::Mode::kPercent, {}, 2.5, 0},
        BehaviourKind::kFail,
        std::nullopt,
        std::nullopt}},
      {"healthy", {}},
  };
  for (const Case& c : cases) {
    Result<BehaviourRule> rule = ParseBehaviourRule(c.text);
    ASSERT_TRUE(rule.ok()) << c.text << ": " << rule.status().message();
    EXPECT_EQ(*rule, c.want) << c.text;
  }
}

TEST(SimBehaviourGrammar, RefusesBadRulesAndSaysWhichPart) {
  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> cases = {
      {"", "empty rule"},
      {"sideways", "unknown behaviour \"sideways\""},
      {"job=web:", "unknown behaviour \"\""},
      {":healthy", "nothing before"},
      {"team=web:healthy", "unknown matcher \"team\""},
      {"version=0:healthy", "version=0"},
      {"version=x:healthy", "version=x"},
      {"nodes=120%:fail", "nodes=120%"},
      {"nodes=abc%:fail", "nodes=abc%"},
      {"nodes=bad id:fail", "node id \"bad id\""},
      {"nodes=a||b:fail", "node id \"\""},
      {"count=-1:fail", "count=-1"},
      {"nodes=all,count=2:fail", "once"},
      {"slow,delay=soon", "delay=soon"},
      {"healthy,colour=red", "unknown option \"colour=red\""},
      {"job=:healthy", "job="},
  };
  for (const Case& c : cases) {
    Result<BehaviourRule> rule = ParseBehaviourRule(c.text);
    ASSERT_FALSE(rule.ok()) << c.text;
    EXPECT_THAT(rule.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(SimBehaviourGrammar, ParsesOfflineWindows) {
  Result<OfflineWindow> ids = ParseOfflineWindow("nodes=sim-00001|sim-00003,at=10s,for=30s");
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(ids->nodes.mode, NodeChoice::Mode::kIds);
  EXPECT_EQ(ids->nodes.ids, (std::set<std::string>{"sim-00001", "sim-00003"}));
  EXPECT_EQ(ids->at, SimDuration(10s));
  EXPECT_EQ(ids->length, SimDuration(30s));
  Result<OfflineWindow> count = ParseOfflineWindow("count=5,for=1m30s");
  ASSERT_TRUE(count.ok()) << count.status().message();
  EXPECT_EQ(count->nodes.mode, NodeChoice::Mode::kCount);
  EXPECT_EQ(count->nodes.count, 5);
  EXPECT_EQ(count->at, SimDuration(0));
  EXPECT_EQ(count->length, SimDuration(90s));

  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> bad = {
      {"", "empty window"},
      {"at=1s,for=2s", "give the nodes"},
      {"count=2,at=1s", "for=DURATION"},
      {"count=2,for=0s", "must be > 0"},
      {"count=2,for=-1s", "for=-1s"},
      {"count=2,for=3s,when=now", "unknown key \"when\""},
      {"count=2,for", "expected nodes="},
  };
  for (const Case& c : bad) {
    Result<OfflineWindow> w = ParseOfflineWindow(c.text);
    ASSERT_FALSE(w.ok()) << c.text;
    EXPECT_THAT(w.status().message(), HasSubstr(c.message)) << c.text;
  }
}

// ---- node choice and matching ----

TEST(SimBehaviourNodes, PercentAndCountChooseExactReproducibleNestedSets) {
  std::vector<std::string> fleet = Fleet(200);
  struct Case {
    NodeChoice choice;
    size_t size;
  };
  std::vector<Case> cases = {
      {{NodeChoice::Mode::kPercent, {}, 20, 0}, 40},
      {{NodeChoice::Mode::kPercent, {}, 10, 0}, 20},
      {{NodeChoice::Mode::kPercent, {}, 0.1, 0}, 1},  // rounds up: 0.2 nodes is 1 node
      {{NodeChoice::Mode::kPercent, {}, 0, 0}, 0},
      {{NodeChoice::Mode::kPercent, {}, 100, 0}, 200},
      {{NodeChoice::Mode::kCount, {}, 100, 7}, 7},
      {{NodeChoice::Mode::kCount, {}, 100, 500}, 200},
      {{NodeChoice::Mode::kAll, {}, 100, 0}, 200},
      {{NodeChoice::Mode::kIds, {"sim-00003", "elsewhere"}, 100, 0}, 1},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ChooseNodes(c.choice, fleet).size(), c.size)
        << static_cast<int>(c.choice.mode) << " " << c.choice.percent << " " << c.choice.count;
  }
  auto ten = ChooseNodes({NodeChoice::Mode::kPercent, {}, 10, 0}, fleet);
  auto twenty = ChooseNodes({NodeChoice::Mode::kPercent, {}, 20, 0}, fleet);
  for (const std::string& id : ten) EXPECT_TRUE(twenty.count(id)) << id << " is in 10% not 20%";
  EXPECT_EQ(twenty, ChooseNodes({NodeChoice::Mode::kPercent, {}, 20, 0}, fleet));
  // Spread over the id range, not the first 40 ids.
  int low = 0;
  for (const std::string& id : twenty) low += id <= "sim-00100" ? 1 : 0;
  EXPECT_GT(low, 5);
  EXPECT_LT(low, 35);
}

TEST(SimBehaviourNodes, RulesMatchByJobNameIdNamespaceVersionAndNode) {
  AssignmentFacts facts{"sim-00001", "j-abc", "prod", "web", 2, "pipeline", "on-failure", {}};
  std::unordered_set<std::string> chosen = {"sim-00001"};
  std::unordered_set<std::string> none;
  struct Case {
    std::string rule;
    bool matches;
  };
  std::vector<Case> cases = {
      {"healthy", true},
      {"job=web:fail", true},
      {"job=j-abc:fail", true},
      {"job=prod/web:fail", true},
      {"job=default/web:fail", false},
      {"job=api:fail", false},
      {"version=2:fail", true},
      {"version=1:fail", false},
      {"job=web,version=2,nodes=sim-00001:fail", true},
      {"job=web,nodes=sim-00002:fail", false},
  };
  for (const Case& c : cases) {
    Result<BehaviourRule> rule = ParseBehaviourRule(c.rule);
    ASSERT_TRUE(rule.ok()) << c.rule;
    EXPECT_EQ(RuleMatches(*rule, facts, chosen), c.matches) << c.rule;
  }
  Result<BehaviourRule> percent = ParseBehaviourRule("nodes=50%:fail");
  ASSERT_TRUE(percent.ok());
  EXPECT_TRUE(RuleMatches(*percent, facts, chosen));
  EXPECT_FALSE(RuleMatches(*percent, facts, none));
}

TEST(SimBehaviourNodes, FirstMatchingRuleWinsAndNoMatchIsTheHealthyDefault) {
  std::vector<std::string> fleet = Fleet(10);
  std::vector<BehaviourRule> rules;
  for (const char* text : {"job=web,version=2,nodes=sim-00001:crash", "job=web,version=2:unhealthy",
                           "count=10:hang"}) {
    rules.push_back(*ParseBehaviourRule(text));
  }
  RuleBook book(rules, fleet);
  auto kind_for = [&book](const std::string& node, const std::string& job, int version) {
    AssignmentFacts f{node, "j-1", "default", job, version, "pipeline", "on-failure", {}};
    const BehaviourRule* rule = book.Match(f);
    return rule == nullptr ? std::string("default") : std::string(BehaviourKindName(rule->kind));
  };
  EXPECT_EQ(kind_for("sim-00001", "web", 2), "crash");
  EXPECT_EQ(kind_for("sim-00002", "web", 2), "unhealthy");
  EXPECT_EQ(kind_for("sim-00002", "web", 1), "hang");
  EXPECT_EQ(kind_for("sim-99999", "web", 1), "default") << "not in the fleet the count chose from";
  EXPECT_EQ(RuleBook().Match({"sim-00001", "j-1", "default", "web", 1, "pipeline", "", {}}),
            nullptr);
}

TEST(SimBehaviourNodes, OfflineWindowsMergeAndSayWhenTheNodeReturns) {
  std::vector<OfflineWindow> windows = {
      *ParseOfflineWindow("nodes=sim-00001,at=10s,for=5s"),
      *ParseOfflineWindow("nodes=sim-00001,at=14s,for=4s"),  // overlaps: offline 10s..18s
      *ParseOfflineWindow("nodes=sim-00001|sim-00002,at=30s,for=1s"),
  };
  OfflinePlan plan(windows, Fleet(3));
  EXPECT_EQ(plan.nodes(), 2u);
  struct Case {
    std::string node;
    SimDuration at;
    std::optional<SimDuration> until;
    std::optional<SimDuration> next;
  };
  std::vector<Case> cases = {
      {"sim-00001", 0s, std::nullopt, SimDuration(10s)},
      {"sim-00001", 10s, SimDuration(18s), SimDuration(30s)},
      {"sim-00001", 17s, SimDuration(18s), SimDuration(30s)},
      {"sim-00001", 18s, std::nullopt, SimDuration(30s)},
      {"sim-00001", 30500ms, SimDuration(31s), std::nullopt},
      {"sim-00002", 12s, std::nullopt, SimDuration(30s)},
      {"sim-00002", 30s, SimDuration(31s), std::nullopt},
      {"sim-00003", 30s, std::nullopt, std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(plan.OfflineUntil(c.node, c.at), c.until) << c.node << " at " << c.at.count();
    EXPECT_EQ(plan.NextOffline(c.node, c.at), c.next) << c.node << " at " << c.at.count();
  }
}

// ---- timelines ----

AssignmentFacts Facts(const std::string& type, std::string restart_policy = "on-failure") {
  HealthSettings h{1s, 2, 3, 0.1};
  return {"sim-00001", "j-1", "default", "job", 1, type, std::move(restart_policy), h};
}

BehaviourSettings Settings() {
  BehaviourSettings s;
  s.pending_for = 100ms;
  s.starting_for = 200ms;
  s.one_shot_run_time = 500ms;
  s.messages_per_window = 10;
  return s;
}

struct Point {
  SimDuration at;
  std::string state;
  std::string health;
  std::optional<int> exit_code = std::nullopt;
  int restarts = 0;
};

void ExpectTimeline(const std::string& name, const ExecutionScript& script,
                    const std::vector<Point>& points) {
  for (const Point& p : points) {
    Observation o = Observe(script, p.at);
    std::string where = name + " at " + std::to_string(p.at.count() / 1'000'000) + "ms";
    EXPECT_EQ(o.state, p.state) << where;
    EXPECT_EQ(o.health, p.health) << where;
    EXPECT_EQ(o.exit_code, p.exit_code) << where;
    EXPECT_EQ(o.restarts, p.restarts) << where;
  }
}

BehaviourRule Kind(BehaviourKind kind) {
  BehaviourRule r;
  r.kind = kind;
  return r;
}

// Running from 300ms (100ms pending + 200ms starting); health windows of 1s, 2 to be healthy,
// 3 to be unhealthy.
TEST(SimBehaviourTimeline, LongRunningKinds) {
  BehaviourSettings settings = Settings();
  AssignmentFacts pipeline = Facts("pipeline");
  ExpectTimeline("healthy", MakeScript(pipeline, nullptr, settings),
                 {{0ms, "pending", "unknown"},
                  {99ms, "pending", "unknown"},
                  {100ms, "starting", "unknown"},
                  {300ms, "running", "unknown"},
                  {2299ms, "running", "unknown"},
                  {2300ms, "running", "healthy"},
                  {1h, "running", "healthy"}});
  BehaviourRule unhealthy = Kind(BehaviourKind::kUnhealthy);
  ExpectTimeline("unhealthy", MakeScript(pipeline, &unhealthy, settings),
                 {{300ms, "running", "unknown"},
                  {3299ms, "running", "unknown"},
                  {3300ms, "running", "unhealthy"}});
  BehaviourRule crash = Kind(BehaviourKind::kCrash);
  ExpectTimeline("crash", MakeScript(pipeline, &crash, settings),
                 {{300ms, "running", "unknown", std::nullopt, 0},
                  {1300ms, "running", "unknown", std::nullopt, 1},
                  {2300ms, "running", "unknown", std::nullopt, 2},
                  {3300ms, "running", "unhealthy", std::nullopt, 3},
                  {10300ms, "running", "unhealthy", std::nullopt, 10}});
  ExpectTimeline("crash, restart never", MakeScript(Facts("pipeline", "never"), &crash, settings),
                 {{1299ms, "running", "unknown"}, {1300ms, "failed", "unhealthy", 1}});
  BehaviourRule fail = Kind(BehaviourKind::kFail);
  ExpectTimeline("fail", MakeScript(pipeline, &fail, settings),
                 {{100ms, "starting", "unknown"},
                  {799ms, "running", "unknown"},
                  {800ms, "failed", "unhealthy", 1},
                  {1h, "failed", "unhealthy", 1}});
  BehaviourRule slow = Kind(BehaviourKind::kSlow);
  slow.delay = 5s;
  ExpectTimeline("slow", MakeScript(pipeline, &slow, settings),
                 {{100ms, "starting", "unknown"},
                  {5099ms, "starting", "unknown"},
                  {5100ms, "running", "unknown"},
                  {7100ms, "running", "healthy"}});
  BehaviourRule complete = Kind(BehaviourKind::kComplete);
  ExpectTimeline("complete", MakeScript(Facts("config"), &complete, settings),
                 {{799ms, "running", "unknown"}, {800ms, "completed", "healthy", 0}});
  BehaviourRule hang = Kind(BehaviourKind::kHang);
  ExpectTimeline("hang", MakeScript(pipeline, &hang, settings),
                 {{300ms, "running", "unknown"}, {24h, "running", "unknown"}});
}

TEST(SimBehaviourTimeline, OneShotKinds) {
  BehaviourSettings settings = Settings();
  for (const char* type : {"query", "update"}) {
    AssignmentFacts facts = Facts(type);
    ExpectTimeline(std::string(type) + " healthy", MakeScript(facts, nullptr, settings),
                   {{300ms, "running", "unknown"},
                    {799ms, "running", "unknown"},
                    {800ms, "completed", "healthy", 0}});
    BehaviourRule unhealthy = Kind(BehaviourKind::kUnhealthy);
    ExpectTimeline(std::string(type) + " unhealthy", MakeScript(facts, &unhealthy, settings),
                   {{799ms, "running", "unknown"}, {800ms, "failed", "unhealthy", 1}});
    BehaviourRule fail = Kind(BehaviourKind::kFail);
    ExpectTimeline(std::string(type) + " fail", MakeScript(facts, &fail, settings),
                   {{800ms, "failed", "unhealthy", 1}});
    BehaviourRule crash = Kind(BehaviourKind::kCrash);
    ExpectTimeline(std::string(type) + " crash", MakeScript(facts, &crash, settings),
                   {{1300ms, "running", "unknown", std::nullopt, 1},
                    {3300ms, "running", "unhealthy", std::nullopt, 3},
                    {4299ms, "running", "unhealthy", std::nullopt, 3},
                    {4300ms, "failed", "unhealthy", 1, 3}});
    BehaviourRule hang = Kind(BehaviourKind::kHang);
    ExpectTimeline(std::string(type) + " hang", MakeScript(facts, &hang, settings),
                   {{1h, "running", "unknown"}});
  }
}

TEST(SimBehaviourTimeline, NullHealthCheckUsesTheConfiguredDefault) {
  BehaviourSettings settings = Settings();
  settings.default_health.interval = 250ms;
  AssignmentFacts facts = Facts("pipeline");
  facts.health_check.reset();
  ExecutionScript script = MakeScript(facts, nullptr, settings);
  EXPECT_EQ(script.health.interval, SimDuration(250ms));
  EXPECT_EQ(script.health.success_threshold, 2);
  EXPECT_EQ(script.health.failure_threshold, 3);
  EXPECT_EQ(Observe(script, 799ms).health, "unknown");
  EXPECT_EQ(Observe(script, 800ms).health, "healthy");
  EXPECT_EQ(BehaviourSettings().default_health.interval, SimDuration(10s));
}

TEST(SimBehaviourTimeline, WindowsCountMessagesAndErrorsAboveTheMaxErrorRate) {
  BehaviourSettings settings = Settings();
  ExecutionScript healthy = MakeScript(Facts("pipeline"), nullptr, settings);
  EXPECT_EQ(Observe(healthy, 1299ms).processed, 0) << "no window completed yet";
  EXPECT_EQ(Observe(healthy, 1300ms).processed, 10);
  EXPECT_EQ(Observe(healthy, 1300ms).errors, 0);
  BehaviourRule unhealthy = Kind(BehaviourKind::kUnhealthy);
  for (double max_error_rate : {0.0, 0.1, 0.49, 0.5, 0.9}) {
    AssignmentFacts facts = Facts("pipeline");
    facts.health_check->max_error_rate = max_error_rate;
    Observation o = Observe(MakeScript(facts, &unhealthy, settings), 1300ms);
    double rate = static_cast<double>(o.errors) / static_cast<double>(o.processed + o.errors);
    EXPECT_GT(rate, max_error_rate);
  }
}

TEST(SimBehaviourTimeline, StopsAreReportedAsStoppedUnlessTheExecutionHadEnded) {
  BehaviourSettings settings = Settings();
  ExecutionScript pipeline = MakeScript(Facts("pipeline"), nullptr, settings);
  Observation before = Observe(pipeline, 2s, SimDuration(3s));
  EXPECT_EQ(before.state, "running");
  Observation after = Observe(pipeline, 4s, SimDuration(3s));
  EXPECT_EQ(after.state, "stopped");
  EXPECT_EQ(after.health, "healthy") << "the verdict at the stop is kept";
  EXPECT_FALSE(after.exit_code.has_value());
  EXPECT_EQ(Observe(pipeline, 50ms, SimDuration(50ms)).state, "stopped") << "stopped while pending";
  ExecutionScript query = MakeScript(Facts("query"), nullptr, settings);
  Observation completed = Observe(query, 10s, SimDuration(5s));
  EXPECT_EQ(completed.state, "completed") << "a stop does not undo an outcome";
  EXPECT_EQ(completed.exit_code, 0);
}

TEST(SimBehaviourTimeline, CompletedQueriesReportResultMessages) {
  BehaviourSettings settings = Settings();
  ExecutionScript one = MakeScript(Facts("query"), nullptr, settings);
  EXPECT_TRUE(Observe(one, 799ms).results.is_null());
  EXPECT_EQ(Observe(one, 800ms).results, Json::parse(R"([{"node_id":"sim-00001","job":"job"}])"));
  BehaviourRule three = *ParseBehaviourRule("complete,results=3");
  Json results = Observe(MakeScript(Facts("query"), &three, settings), 1s).results;
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[2], Json::parse(R"({"node_id":"sim-00001","job":"job","seq":3})"));
  EXPECT_TRUE(Observe(MakeScript(Facts("update"), nullptr, settings), 1s).results.is_null())
      << "only queries have results";
}

TEST(SimBehaviourTimeline, ReportJsonHasTheProtocolFields) {
  Observation o;
  o.state = "failed";
  o.exit_code = 1;
  o.restarts = 2;
  o.health = "unhealthy";
  o.processed = 5;
  o.errors = 6;
  o.message = "exited with code 1";
  Json report = ExecutionReportJson("e-1", "j-1", 3, o);
  EXPECT_EQ(report, Json::parse(R"({"execution_id":"e-1","job_id":"j-1","version":3,
      "state":"failed","exit_code":1,"restarts":2,"health":"unhealthy",
      "window":{"processed":5,"errors":6},"message":"exited with code 1"})"));
  o.exit_code.reset();
  EXPECT_TRUE(ExecutionReportJson("e-1", "j-1", 3, o)["exit_code"].is_null());
}

TEST(SimBehaviourTimeline, HealthChecksFromAssignments) {
  Result<std::optional<HealthSettings>> none = ParseHealthCheck(Json());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  Result<std::optional<HealthSettings>> given = ParseHealthCheck(Json::parse(
      R"({"deadline":60000000000,"interval":2000000000,"success_threshold":4,
          "failure_threshold":1,"max_error_rate":0})"));
  ASSERT_TRUE(given.ok()) << given.status().message();
  EXPECT_EQ(**given, (HealthSettings{2s, 4, 1, 0.0}));
  Result<std::optional<HealthSettings>> defaults = ParseHealthCheck(Json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(**defaults, HealthSettings());
  EXPECT_FALSE(ParseHealthCheck(Json::parse(R"({"interval":0})")).ok());
  EXPECT_FALSE(ParseHealthCheck(Json::parse(R"({"success_threshold":0})")).ok());
  EXPECT_FALSE(ParseHealthCheck(Json("10s")).ok());
}

}  // namespace
}  // namespace drover::sim
