// Observability (issue 7, acceptance 1-3), checked with the real tools on real processes:
// `promtool check metrics` on a running controller's and agent's /metrics, `promtool check rules`
// and `promtool test rules` on helm/drover/files/, every metric that the rules and the Grafana
// dashboard query is one Drover exports, and a real Prometheus on loopback scraping a controller
// and two agents during a rollout sees the rollout, job and pipeline metrics move; the rollout
// progress gauges follow a rolling update over a simulated fleet and go when it ends. promtool
// and prometheus come from Debian's `prometheus` package (scripts/setup.sh); without them these
// tests fail, they do not skip. Every wait is a bounded poll.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/sim_fleet.h"
#include "tests/testing/agent_process.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/http_client.h"
#include "tests/testing/rollout_fixtures.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::AgentProcess;
using testing::ControllerProcess;
using testing::Eventually;
using testing::RunCommand;

const fs::path kFiles = fs::path(DROVER_SOURCE_DIR) / "helm" / "drover" / "files";
const fs::path kRules = kFiles / "prometheus-rules.yaml";
const fs::path kRuleTests = kFiles / "prometheus-rules.test.yaml";
const fs::path kDashboard = kFiles / "grafana-dashboard.json";

// The path of `tool` on PATH, or "" (then the caller fails, naming scripts/setup.sh).
std::string FindTool(const std::string& tool) {
  testing::ProcessResult r = RunCommand("command -v " + tool);
  std::string path = r.out.substr(0, r.out.find('\n'));
  return r.exit_code == 0 ? path : std::string();
}

#define REQUIRE_TOOL(var, name)                               \
  const std::string var = FindTool(name);                     \
  ASSERT_FALSE(var.empty()) << name                           \
      " is not installed: run scripts/setup.sh (it installs " \
      "Debian's prometheus package, promtool included)"

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// --- Metric names in PromQL ------------------------------------------------------------------

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

// The metric names an expression selects: identifiers that are not functions (followed by '('),
// aggregation or binary keywords, label names (inside {} and the lists of by/without/on/
// ignoring/group_left/group_right), durations, numbers, strings or $variables.
std::set<std::string> MetricNamesIn(const std::string& expr) {
  static const std::set<std::string> kKeywords = {
      "and",          "or",          "unless", "by",     "without", "on",      "ignoring",
      "group_left",   "group_right", "offset", "bool",   "sum",     "min",     "max",
      "avg",          "count",       "stddev", "stdvar", "topk",    "bottomk", "quantile",
      "count_values", "group",       "inf",    "nan",    "atan2"};
  static const std::set<std::string> kLabelLists = {"by",       "without",    "on",
                                                    "ignoring", "group_left", "group_right"};
  std::set<std::string> names;
  size_t i = 0;
  const size_t n = expr.size();
  auto skip_until = [&](char close) {
    while (i < n && expr[i] != close) {
      if (expr[i] == '"' || expr[i] == '\'' || expr[i] == '`') {
        const char quote = expr[i++];
        while (i < n && expr[i] != quote) i += expr[i] == '\\' ? 2 : 1;
      }
      ++i;
    }
    ++i;
  };
  while (i < n) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      ++i;
      while (i < n && expr[i] != c) i += expr[i] == '\\' ? 2 : 1;
      ++i;
    } else if (c == '{') {
      skip_until('}');  // label matchers
    } else if (c == '[') {
      skip_until(']');      // ranges and subqueries
    } else if (c == '$') {  // a dashboard variable: $job, ${job}, $__rate_interval
      ++i;
      if (i < n && expr[i] == '{') {
        skip_until('}');
      } else {
        while (i < n && IsIdentChar(expr[i])) ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < n && (std::isalnum(static_cast<unsigned char>(expr[i])) || expr[i] == '.')) ++i;
    } else if (IsIdentStart(c)) {
      const size_t start = i;
      while (i < n && IsIdentChar(expr[i])) ++i;
      const std::string word = expr.substr(start, i - start);
      size_t next = i;
      while (next < n && std::isspace(static_cast<unsigned char>(expr[next]))) ++next;
      const bool call = next < n && expr[next] == '(';
      if (kLabelLists.contains(word) && call) {
        i = next + 1;
        skip_until(')');
      } else if (word == "offset") {
        i = next;
        while (i < n && IsIdentChar(expr[i])) ++i;  // the duration
      } else if (!call && !kKeywords.contains(word)) {
        names.insert(word);
      }
    } else {
      ++i;
    }
  }
  return names;
}

TEST(MetricNames, TheTokenizerFindsMetricsAndNothingElse) {
  EXPECT_THAT(MetricNamesIn("histogram_quantile(0.99, sum by (le, route) (rate("
                            "drover_api_request_duration_seconds_bucket{job=~\"$job\","
                            "code=~\"5..\"}[$__rate_interval])))"),
              ::testing::ElementsAre("drover_api_request_duration_seconds_bucket"));
  EXPECT_THAT(MetricNamesIn("sum without (instance, pod) (drover:nodes:count{state=\"lost\"}) / "
                            "clamp_min(sum(drover_nodes offset 5m), 1) > 0.10 and on (job) "
                            "absent(drover_leader == 1) or vector(1e3)"),
              ::testing::ElementsAre("drover:nodes:count", "drover_leader", "drover_nodes"));
  EXPECT_THAT(MetricNamesIn("topk(10, rate(drover_nope_total[5m] offset 1h))"),
              ::testing::ElementsAre("drover_nope_total"));
}

// Families of a text exposition ("# TYPE name type"), with the series names each one yields.
std::set<std::string> ExportedNames(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    std::string name, type;
    fields >> name >> type;
    names.insert(name);
    if (type == "histogram" || type == "summary") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(name + suffix);
    }
    if (type == "counter" && !name.ends_with("_total")) names.insert(name + "_total");
  }
  return names;
}

// Every PromQL expression of the rules file, by where it is ("record drover:x", "alert Y").
std::map<std::string, std::string> RuleExpressions(std::set<std::string>* recorded) {
  std::map<std::string, std::string> out;
  YAML::Node rules = YAML::LoadFile(kRules.string());
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      if (rule["record"]) {
        recorded->insert(rule["record"].as<std::string>());
        out["record " + rule["record"].as<std::string>()] = rule["expr"].as<std::string>();
      } else {
        out["alert " + rule["alert"].as<std::string>()] = rule["expr"].as<std::string>();
      }
    }
  }
  return out;
}

// Every query of the dashboard: the targets' `expr`, and the metric of each template variable's
// label_values(METRIC, label).
std::map<std::string, std::string> DashboardExpressions() {
  std::ifstream in(kDashboard);
  const Json dashboard = Json::parse(in);
  std::map<std::string, std::string> out;
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& node,
                                                                  const std::string& where) {
    if (node.is_object()) {
      if (node.contains("expr") && node["expr"].is_string()) {
        out[where + " " + node.value("refId", "")] = node["expr"];
      }
      for (const auto& [key, value] : node.items()) {
        // keyed by id too: two panels may share a title (the overview's count of rollouts in
        // progress and the Rollouts row's table of them)
        walk(value, node.contains("title") ? "panel " + std::to_string(node.value("id", 0)) +
                                                 " \"" + node.value("title", "") + "\""
                                           : where);
      }
    } else if (node.is_array()) {
      for (const Json& item : node) walk(item, where);
    }
  };
  walk(dashboard["panels"], "");
  for (const Json& variable : dashboard["templating"]["list"]) {
    if (variable.value("type", "") != "query") continue;
    std::string query = variable["definition"];
    const std::string prefix = "label_values(";
    if (query.rfind(prefix, 0) == 0) {
      query = query.substr(prefix.size(), query.find(',') - prefix.size());
    }
    out["variable $" + variable.value("name", "")] = query;
  }
  return out;
}

// --- Real processes ----------------------------------------------------------------------------

// A controller (short heartbeats and resync) and agents serving --metrics-listen.
class ObservedFleet {
 public:
  explicit ObservedFleet(int agents)
      : controller_({"--heartbeat-interval", "300ms", "--resync", "1s"}) {
    agent_count_ = agents;
  }

  bool Start() {
    if (!controller_.Start()) return false;
    for (int i = 0; i < agent_count_; ++i) {
      const int port = testing::FreePort();
      metrics_ports_.push_back(port);
      agents_.push_back(std::make_unique<AgentProcess>(
          controller_.url(), "node-" + std::to_string(i + 1),
          std::vector<std::string>{"--label", "role=edge", "--metrics-listen",
                                   "127.0.0.1:" + std::to_string(port)}));
      agents_.back()->Start();
    }
    return Eventually([&] {
      if (controller_.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() !=
          static_cast<size_t>(agent_count_)) {
        return false;
      }
      for (int port : metrics_ports_) {
        if (testing::Http(port, "GET", "/metrics").status != 200) return false;
      }
      return true;
    });
  }

  std::string Logs() const {
    std::string out = "controller:\n" + controller_.log().substr(0, 8000);
    for (const auto& agent : agents_) {
      out += "\n" + agent->node_id() + ":\n" + agent->log().substr(0, 4000);
    }
    return out;
  }

  ControllerProcess& controller() { return controller_; }
  const std::vector<int>& metrics_ports() const { return metrics_ports_; }

 private:
  ControllerProcess controller_;
  int agent_count_ = 0;
  std::vector<int> metrics_ports_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

// A pipeline that makes a message every 20 ms, rolled out in waves of one node with health
// windows of 300 ms.
Json GeneratingPipeline(const std::string& name) {
  return {{"name", name},
          {"type", "pipeline"},
          {"selector", {{"match_labels", {{"role", "edge"}}}}},
          {"config",
           {{"input", {{"generate", {{"mapping", "root = \"tick\""}, {"interval", "20ms"}}}}},
            {"output", {{"drop", Json::object()}}}}},
          {"rollout",
           {{"strategy", "rolling"},
            {"max_parallel", 50},
            {"health_check",
             {{"deadline", "20s"},
              {"interval", "300ms"},
              {"success_threshold", 1},
              {"failure_threshold", 2}}}}}};
}

// --- (a) promtool check metrics on the live endpoints -----------------------------------------

TEST(Observability, PromtoolCheckMetricsPassesOnTheControllerAndAnAgent) {
  REQUIRE_TOOL(promtool, "promtool");
  ObservedFleet fleet(1);
  ASSERT_TRUE(fleet.Start()) << fleet.Logs();
  // some traffic first, so that labelled families have series too
  testing::HttpReply put = fleet.controller().Call(
      "PUT", "/api/v1/jobs", Json{{"spec", GeneratingPipeline("ticks")}}.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  ASSERT_TRUE(Eventually([&] {
    return testing::Http(fleet.metrics_ports()[0], "GET", "/metrics")
               .body.find("drover_agent_pipeline_messages_total{") != std::string::npos;
  })) << fleet.Logs();

  const testing::HttpReply controller = fleet.controller().Call("GET", "/metrics");
  ASSERT_EQ(controller.status, 200);
  testing::ProcessResult checked = RunCommand(promtool + " check metrics", controller.body);
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err << controller.body;

  const testing::HttpReply agent = testing::Http(fleet.metrics_ports()[0], "GET", "/metrics");
  ASSERT_EQ(agent.status, 200);
  checked = RunCommand(promtool + " check metrics", agent.body);
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err << agent.body;
  for (const char* family : {"drover_agent_executions", "drover_agent_pipeline_messages_total",
                             "drover_agent_restarts_total"}) {
    EXPECT_THAT(agent.body, ::testing::HasSubstr(std::string("# TYPE ") + family)) << family;
  }
}

// --- (b) the rules: syntax and unit tests -----------------------------------------------------

TEST(Observability, PromtoolCheckRulesAndTestRulesPass) {
  REQUIRE_TOOL(promtool, "promtool");
  testing::ProcessResult checked = RunCommand(promtool + " check rules " + Quote(kRules.string()));
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  testing::ProcessResult tested = RunCommand("cd " + Quote(kFiles.string()) + " && " + promtool +
                                             " test rules prometheus-rules.test.yaml");
  EXPECT_EQ(tested.exit_code, 0) << tested.out << tested.err;
  EXPECT_THAT(tested.out + tested.err, ::testing::HasSubstr("SUCCESS"));
}

TEST(Observability, EveryAlertHasSeverityAnnotationsARunbookAndAUnitTest) {
  YAML::Node tests = YAML::LoadFile(kRuleTests.string());
  std::set<std::string> tested;
  for (const YAML::Node& test : tests["tests"]) {
    if (!test["alert_rule_test"]) continue;
    for (const YAML::Node& t : test["alert_rule_test"]) {
      if (t["exp_alerts"].size() > 0) tested.insert(t["alertname"].as<std::string>() + " fires");
      if (t["exp_alerts"].size() == 0) tested.insert(t["alertname"].as<std::string>() + " quiet");
    }
  }
  std::ifstream docs(fs::path(DROVER_SOURCE_DIR) / "docs" / "observability.md");
  std::stringstream docs_text;
  docs_text << docs.rdbuf();
  int alerts = 0;
  for (const YAML::Node& group : YAML::LoadFile(kRules.string())["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      if (!rule["alert"]) continue;
      ++alerts;
      const std::string name = rule["alert"].as<std::string>();
      EXPECT_TRUE(rule["labels"]["severity"]) << name;
      for (const char* annotation : {"summary", "description", "runbook"}) {
        EXPECT_TRUE(rule["annotations"][annotation]) << name << " has no " << annotation;
      }
      EXPECT_TRUE(tested.contains(name + " fires")) << name << ": no test where it fires";
      EXPECT_TRUE(tested.contains(name + " quiet")) << name << ": no test where it is quiet";
      // the runbook points at a section of docs/observability.md that exists
      const std::string runbook = rule["annotations"]["runbook"].as<std::string>("");
      const size_t hash = runbook.find("docs/observability.md#");
      ASSERT_NE(hash, std::string::npos) << name;
      std::string anchor;
      for (size_t i = hash + 22; i < runbook.size() && IsIdentChar(runbook[i]); ++i) {
        anchor += runbook[i];
      }
      EXPECT_THAT(docs_text.str(), ::testing::HasSubstr("<a id=\"" + anchor + "\"></a>"))
          << name << ": no anchor " << anchor << " in docs/observability.md";
    }
  }
  EXPECT_GE(alerts, 8);
}

// --- (c) and (d): a real Prometheus scraping a controller and two agents during a rollout -----

class PrometheusProcess {
 public:
  PrometheusProcess(std::string binary, int controller_port, const std::vector<int>& agent_ports)
      : binary_(std::move(binary)), dir_(testing::MakeTempDir("drover-prometheus")) {
    std::string agents;
    for (int port : agent_ports) {
      agents += (agents.empty() ? "'127.0.0.1:" : ", '127.0.0.1:") + std::to_string(port) + "'";
    }
    std::ofstream(dir_ / "prom.yml")
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        << "rule_files: ['" << kRules.string() << "']\n"
        << "scrape_configs:\n"
        << "  - job_name: drover\n"
        << "    static_configs: [{targets: ['127.0.0.1:" << controller_port << "']}]\n"
        << "  - job_name: drover-agents\n"
        << "    static_configs: [{targets: [" << agents << "]}]\n";
  }
  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    fs::remove_all(dir_);
  }

  bool Start() {
    port_ = testing::FreePort();
    pid_ = testing::SpawnLogged({binary_, "--config.file=" + (dir_ / "prom.yml").string(),
                                 "--storage.tsdb.path=" + (dir_ / "data").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                                (dir_ / "log").string());
    return Eventually([&] { return testing::Http(port_, "GET", "/-/ready").status == 200; },
                      std::chrono::seconds(20));
  }

  Json Get(const std::string& path) const { return testing::Http(port_, "GET", path).Json(); }
  // GET /api/v1/query: the whole answer.
  Json Query(const std::string& promql) const {
    return testing::Http(port_, "GET", "/api/v1/query?query=" + UrlEncode(promql)).Json();
  }
  // The value of a query that yields one sample, or -1 when it yields none.
  double Scalar(const std::string& promql) const {
    const Json answer = Query(promql);
    if (answer.value("status", "") != "success") return -1;
    const Json& result = answer["data"]["result"];
    if (!result.is_array() || result.size() != 1) return -1;
    return std::stod(result[0]["value"][1].get<std::string>());
  }
  std::string log() const { return testing::ReadAll(dir_ / "log").substr(0, 6000); }

 private:
  static std::string UrlEncode(const std::string& s) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out;
  }

  std::string binary_;
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(Observability, EveryMetricTheRulesAndTheDashboardQueryIsExported) {
  ObservedFleet fleet(1);
  ASSERT_TRUE(fleet.Start()) << fleet.Logs();
  std::set<std::string> known = ExportedNames(fleet.controller().Call("GET", "/metrics").body);
  const std::set<std::string> agent =
      ExportedNames(testing::Http(fleet.metrics_ports()[0], "GET", "/metrics").body);
  ASSERT_TRUE(known.contains("drover_leader")) << "the controller's /metrics did not parse";
  ASSERT_TRUE(agent.contains("drover_agent_executions")) << "the agent's /metrics did not parse";
  known.insert(agent.begin(), agent.end());

  std::set<std::string> recorded;
  std::map<std::string, std::string> expressions = RuleExpressions(&recorded);
  known.insert(recorded.begin(), recorded.end());
  const std::map<std::string, std::string> dashboard = DashboardExpressions();
  EXPECT_GE(dashboard.size(), 20u);
  expressions.insert(dashboard.begin(), dashboard.end());

  std::set<std::string> queried;
  for (const auto& [where, expr] : expressions) {
    const std::set<std::string> names = MetricNamesIn(expr);
    EXPECT_FALSE(names.empty()) << where << " queries no metric: " << expr;
    for (const std::string& name : names) {
      queried.insert(name);
      EXPECT_TRUE(known.contains(name))
          << where << " queries " << name << ", which Drover does not export: " << expr;
    }
  }
  // the dashboard shows the fleet, the rollouts, the pipelines, the loop and the API
  for (const char* name :
       {"drover_nodes", "drover_jobs", "drover_rollouts", "drover_rollout_waves_total",
        "drover_rollout_current_wave", "drover_rollout_total_waves", "drover_rollout_updated_nodes",
        "drover_rollout_target_nodes", "drover_rollout_failed_nodes", "drover_rollbacks_total",
        "drover_agent_pipeline_messages_total", "drover_reconcile_duration_seconds_bucket",
        "drover_workqueue_depth", "drover_api_request_duration_seconds_bucket",
        "drover_api_requests_total"}) {
    EXPECT_TRUE(queried.contains(name)) << name << " is queried nowhere";
  }
}

// --- (e) the rollout progress gauges during a real rolling update ------------------------------

const char* const kRolloutProgressFamilies[] = {
    "drover_rollout_current_wave", "drover_rollout_total_waves", "drover_rollout_updated_nodes",
    "drover_rollout_target_nodes", "drover_rollout_failed_nodes"};

// The series of the rollout progress families in a text exposition: family -> the series' labels
// as written ("name=\"x\",namespace=\"y\"") -> value.
std::map<std::string, std::map<std::string, double>> RolloutProgressSeries(
    const std::string& exposition) {
  std::map<std::string, std::map<std::string, double>> out;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    for (const char* family : kRolloutProgressFamilies) {
      const std::string prefix = std::string(family) + "{";
      if (line.rfind(prefix, 0) != 0) continue;
      const size_t close = line.find("} ", prefix.size());
      if (close == std::string::npos) continue;
      out[family][line.substr(prefix.size(), close - prefix.size())] =
          std::stod(line.substr(close + 2));
    }
  }
  return out;
}

// A rolling update of six simulated nodes in three waves, held mid-way by a pause: each progress
// gauge has one series, labelled by the job's namespace and name only, with the values of the
// rollout's status; once it succeeds, or once a job in the middle of its rollout is purged, the
// series are gone (the families stay, without series).
TEST(Observability, RolloutProgressGaugesFollowARollingUpdateAndGoWhenItEnds) {
  ControllerProcess controller({"--heartbeat-interval", "250ms", "--resync", "2s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  sim::FleetOptions options = testing::EdgeFleet(controller.url(), 6);
  options.behaviour.default_health.interval = std::chrono::milliseconds(250);
  for (const char* text :
       {"job=waves,version=2:slow,delay=2s", "job=waves,version=3:slow,delay=2s"}) {
    Result<sim::BehaviourRule> rule = sim::ParseBehaviourRule(text);
    ASSERT_TRUE(rule.ok()) << rule.status().message();
    options.rules.push_back(*rule);
  }
  Result<std::unique_ptr<sim::Fleet>> started = sim::Fleet::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().message();
  std::unique_ptr<sim::Fleet> fleet = std::move(started).value();
  ASSERT_TRUE(Eventually([&] {
    return controller.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() == 6;
  })) << controller.log();

  auto put = [&](const std::string& description) {
    return controller
        .Call("PUT", "/api/v1/jobs",
              Json{{"spec", testing::RollingPipeline("waves", 17, description, "20s", 1)}}.dump())
        .status;
  };
  auto rollout = [&] {
    return controller.Call("GET", "/api/v1/jobs/waves").Json()["job"]["status"]["rollout"];
  };
  auto series = [&] { return RolloutProgressSeries(controller.Call("GET", "/metrics").body); };
  const std::string waves = "name=\"waves\",namespace=\"default\"";

  // version 1: created and rolled out; a finished rollout has no series
  ASSERT_EQ(put(""), 201);
  ASSERT_TRUE(Eventually([&] { return rollout().value("phase", "") == "succeeded"; }))
      << rollout() << controller.log();
  EXPECT_TRUE(Eventually([&] { return series().empty(); }))
      << controller.Call("GET", "/metrics").body;

  // version 2 (slow to start): caught after its first wave and paused there
  ASSERT_EQ(put("v2: slow to start"), 200);
  ASSERT_TRUE(Eventually([&] {
    const Json r = rollout();
    return r["to_version"] == 2 && r["phase"] == "progressing" &&
           r["updated_nodes"].get<int>() >= 1;
  })) << rollout();
  ASSERT_EQ(controller.Call("POST", "/api/v1/jobs/waves/rollout/pause").status, 200);
  const Json held = rollout();
  ASSERT_EQ(held["phase"], "paused") << held;
  ASSERT_LT(held["updated_nodes"].get<int>(), 6) << held;
  ASSERT_EQ(held["total_waves"], 3) << held;
  const std::map<std::string, double> expected = {
      {"drover_rollout_current_wave", held["current_wave"].get<int>()},
      {"drover_rollout_total_waves", 3},
      {"drover_rollout_updated_nodes", held["updated_nodes"].get<int>()},
      {"drover_rollout_target_nodes", 6},
      {"drover_rollout_failed_nodes", 0}};
  std::map<std::string, std::map<std::string, double>> seen;
  EXPECT_TRUE(Eventually([&] {
    seen = series();
    for (const auto& [family, value] : expected) {
      if (seen[family] != std::map<std::string, double>{{waves, value}}) return false;
    }
    return true;
  })) << "held at "
      << held << "; /metrics:\n"
      << controller.Call("GET", "/metrics").body;
  EXPECT_GE(held["current_wave"].get<int>(), 1) << held;
  EXPECT_EQ(seen.size(), 5u) << "the five families, one series each, labelled namespace and name";

  // resumed to the end: the series go, the families stay
  ASSERT_EQ(controller.Call("POST", "/api/v1/jobs/waves/rollout/resume").status, 200);
  ASSERT_TRUE(Eventually([&] { return rollout().value("phase", "") == "succeeded"; }))
      << rollout() << controller.log();
  EXPECT_TRUE(Eventually([&] { return series().empty(); }))
      << controller.Call("GET", "/metrics").body;
  const std::string text = controller.Call("GET", "/metrics").body;
  for (const char* family : kRolloutProgressFamilies) {
    EXPECT_THAT(text, ::testing::HasSubstr(std::string("# TYPE ") + family + " gauge\n"));
  }

  // version 3 (slow too), purged in the middle of its rollout: its series go with the job
  ASSERT_EQ(put("v3: slow to start"), 200);
  ASSERT_TRUE(Eventually([&] {
    return series()["drover_rollout_target_nodes"] == std::map<std::string, double>{{waves, 6}};
  })) << rollout()
      << controller.Call("GET", "/metrics").body;
  ASSERT_EQ(rollout().value("phase", ""), "progressing") << rollout();
  ASSERT_EQ(controller.Call("DELETE", "/api/v1/jobs/waves?purge=true").status, 200);
  EXPECT_TRUE(Eventually([&] { return series().empty(); }))
      << controller.Call("GET", "/metrics").body;

  EXPECT_THAT(fleet->Violations(), ::testing::IsEmpty());
  fleet->Stop();
}

TEST(Observability, ARealPrometheusSeesARolloutMoveTheMetrics) {
  REQUIRE_TOOL(prometheus_binary, "prometheus");
  ObservedFleet fleet(2);
  ASSERT_TRUE(fleet.Start()) << fleet.Logs();
  PrometheusProcess prometheus(prometheus_binary, fleet.controller().port(), fleet.metrics_ports());
  ASSERT_TRUE(prometheus.Start()) << prometheus.log();
  ASSERT_TRUE(Eventually([&] { return prometheus.Scalar("sum(up)") == 3; }))
      << "not every target is up: " << prometheus.Query("up").dump() << prometheus.log();
  // the rules file loads in the real server too
  const Json rules = prometheus.Get("/api/v1/rules");
  EXPECT_EQ(rules["data"]["groups"].size(), 2u) << rules.dump().substr(0, 2000);
  EXPECT_EQ(prometheus.Scalar("drover_leader"), 1);
  EXPECT_EQ(prometheus.Scalar("drover_nodes{state=\"connected\"}"), 2);
  const double waves_before = prometheus.Scalar("drover_rollout_waves_total");
  EXPECT_EQ(waves_before, 0);

  testing::HttpReply put = fleet.controller().Call(
      "PUT", "/api/v1/jobs", Json{{"spec", GeneratingPipeline("ticks")}}.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  ASSERT_TRUE(Eventually([&] {
    return fleet.controller()
               .Call("GET", "/api/v1/jobs/ticks")
               .Json()["job"]["status"]["rollout"]
               .value("phase", "") == "succeeded";
  })) << fleet.controller().Call("GET", "/api/v1/jobs/ticks").body
      << fleet.Logs();

  // what Prometheus scraped: the rollout ran in waves and succeeded, the job runs on both nodes,
  // and the agents' pipelines process messages
  EXPECT_TRUE(Eventually([&] {
    return prometheus.Scalar("drover_rollouts{phase=\"succeeded\"}") == 1 &&
           prometheus.Scalar("drover_rollouts{phase=\"progressing\"}") == 0;
  })) << prometheus.Query("drover_rollouts").dump();
  EXPECT_TRUE(Eventually([&] { return prometheus.Scalar("drover_rollout_waves_total") >= 2; }))
      << prometheus.Query("drover_rollout_waves_total").dump();
  EXPECT_TRUE(Eventually([&] {
    return prometheus.Scalar(
               "drover_jobs{namespace=\"default\",type=\"pipeline\",state=\"running\"}") == 1;
  })) << prometheus.Query("drover_jobs").dump();
  EXPECT_TRUE(Eventually([&] {
    return prometheus.Scalar("sum(drover_agent_executions{state=\"running\"})") == 2;
  })) << prometheus.Query("drover_agent_executions").dump();
  EXPECT_TRUE(Eventually([&] {
    return prometheus.Scalar("sum(drover_agent_pipeline_messages_total{result=\"processed\"})") >
               0 &&
           prometheus.Scalar(
               "count(drover_agent_pipeline_messages_total{result=\"processed\","
               "exported_job=~\".*ticks\"} > 0)") == 2;
  })) << prometheus.Query("drover_agent_pipeline_messages_total").dump();
  EXPECT_TRUE(Eventually([&] {
    return prometheus.Scalar("sum(increase(drover_reconcile_total{result=\"success\"}[1m]))") > 0;
  })) << prometheus.Query("drover_reconcile_total").dump();
  EXPECT_EQ(prometheus.Scalar("sum(drover_rollbacks_total)"), -1) << "no rollback happened";

  // every dashboard query is valid PromQL for this Prometheus (variables filled in)
  for (const auto& [where, expr] : DashboardExpressions()) {
    std::string query = expr;
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"$__rate_interval", "1m"},
                                                          {"$__range", "5m"},
                                                          {"$job", ".*"},
                                                          {"$agent_job", ".*"},
                                                          {"$namespace", ".*"}}) {
      for (size_t at = query.find(from); at != std::string::npos; at = query.find(from, at)) {
        query.replace(at, from.size(), to);
      }
    }
    const Json answer = prometheus.Query(query);
    EXPECT_EQ(answer.value("status", ""), "success") << where << ": " << query << "\n" << answer;
  }
}

}  // namespace
}  // namespace drover
