// The controller and agent metrics of SPEC §11: every family is visible from start-up with the
// right type, series land on the right labels (route templates, never raw paths), observations
// from several threads add up, and every line of the output is valid text exposition.
#include "controller/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace drover::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// --- A tiny text-exposition (0.0.4) checker
// --------------------------------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family name -> counter|gauge|histogram|...
  std::map<std::string, std::string> helps;
  std::vector<Sample> samples;
  std::vector<std::string> errors;  // "line N: why"

  // The value of the series with exactly these labels; nullopt when absent.
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  int SeriesCount(const std::string& name) const {
    int n = 0;
    for (const Sample& s : samples) n += s.name == name;
    return n;
  }
};

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  return IsMetricName(name) && name.find(':') == std::string_view::npos;
}

std::optional<double> ParseValue(const std::string& text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

// Parses one sample line `name{label="value",...} value`; returns the error, or "" when valid.
std::string ParseSample(const std::string& line, Sample* sample) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  sample->name = line.substr(0, i);
  if (!IsMetricName(sample->name)) return "bad metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t eq = line.find('=', i);
      if (eq == std::string::npos) return "label without '='";
      std::string label = line.substr(i, eq - i);
      if (!IsLabelName(label)) return "bad label name '" + label + "'";
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      ++i;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size()) return "dangling escape";
          char e = line[i++];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return "bad escape";
          }
        } else if (c == '\n') {
          return "raw newline in label value";
        } else {
          value += c;
        }
      }
      if (!closed) return "unterminated label value";
      if (!sample->labels.emplace(label, value).second) return "repeated label " + label;
      if (i < line.size() && line[i] == ',') ++i;
    }
  }
  if (i >= line.size() || line[i] != ' ') return "no space before the value";
  std::istringstream rest(line.substr(i + 1));
  std::string value_text, timestamp, extra;
  rest >> value_text >> timestamp >> extra;
  if (!extra.empty()) return "trailing text";
  std::optional<double> value = ParseValue(value_text);
  if (!value) return "bad value '" + value_text + "'";
  sample->value = *value;
  return "";
}

std::string FamilyOf(const std::string& sample_name,
                     const std::map<std::string, std::string>& types) {
  if (types.contains(sample_name)) return sample_name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s = suffix;
    if (sample_name.size() > s.size() && sample_name.ends_with(s)) {
      std::string base = sample_name.substr(0, sample_name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return "";
}

Exposition Parse(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') out.errors.push_back("no final newline");
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto error = [&](const std::string& why) {
      out.errors.push_back("line " + std::to_string(number) + ": " + why + ": " + line);
    };
    if (line.empty()) {
      error("empty line");
      continue;
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string rest = line.substr(7);
      size_t space = rest.find(' ');
      std::string name = rest.substr(0, space);
      std::string arg = space == std::string::npos ? "" : rest.substr(space + 1);
      if (!IsMetricName(name)) error("bad family name");
      if (line[2] == 'H') {
        if (out.helps.contains(name)) error("second HELP");
        out.helps[name] = arg;
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.contains(arg)) error("bad type");
        if (out.types.contains(name)) error("second TYPE");
        out.types[name] = arg;
      }
      continue;
    }
    if (line[0] == '#') continue;  // other comments are allowed
    Sample sample;
    std::string why = ParseSample(line, &sample);
    if (!why.empty()) {
      error(why);
      continue;
    }
    if (FamilyOf(sample.name, out.types).empty()) error("sample before its # TYPE");
    out.samples.push_back(std::move(sample));
  }
  return out;
}

// --- ControllerMetrics
// ----------------------------------------------------------------------------

struct FamilyCase {
  const char* name;
  const char* type;
};

const std::vector<FamilyCase>& ControllerFamilies() {
  static const std::vector<FamilyCase> kFamilies = {
      {"drover_reconcile_total", "counter"},
      {"drover_reconcile_duration_seconds", "histogram"},
      {"drover_workqueue_depth", "gauge"},
      {"drover_workqueue_adds_total", "counter"},
      {"drover_workqueue_retries_total", "counter"},
      {"drover_workqueue_queue_duration_seconds", "histogram"},
      {"drover_jobs", "gauge"},
      {"drover_executions", "gauge"},
      {"drover_nodes", "gauge"},
      {"drover_rollouts", "gauge"},
      {"drover_rollout_current_wave", "gauge"},
      {"drover_rollout_total_waves", "gauge"},
      {"drover_rollout_updated_nodes", "gauge"},
      {"drover_rollout_target_nodes", "gauge"},
      {"drover_rollout_failed_nodes", "gauge"},
      {"drover_rollout_waves_total", "counter"},
      {"drover_rollbacks_total", "counter"},
      {"drover_api_requests_total", "counter"},
      {"drover_api_request_duration_seconds", "histogram"},
      {"drover_store_operation_duration_seconds", "histogram"},
      {"drover_leader", "gauge"},
  };
  return kFamilies;
}

TEST(ControllerMetrics, EveryFamilyOfSpecAppearsAtStartWithHelpAndType) {
  ControllerMetrics metrics;
  std::string text = metrics.Render();
  Exposition e = Parse(text);
  EXPECT_THAT(e.errors, ::testing::IsEmpty()) << text;
  for (const FamilyCase& f : ControllerFamilies()) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + f.name + " " + f.type + "\n")) << f.name;
    ASSERT_TRUE(e.helps.contains(f.name)) << f.name;
    EXPECT_FALSE(e.helps.at(f.name).empty()) << f.name;
  }
  EXPECT_EQ(e.types.size(), ControllerFamilies().size())
      << "no families beyond SPEC §11 and the rollout progress gauges";
}

TEST(ControllerMetrics, StartsWithZeroSeriesForTheKnownStates) {
  ControllerMetrics metrics;
  Exposition e = Parse(metrics.Render());
  for (const char* state : {"connected", "disconnected", "lost"}) {
    EXPECT_EQ(e.Value("drover_nodes", {{"state", state}}), 0.0) << state;
  }
  for (const char* state :
       {"pending", "starting", "running", "completed", "failed", "stopped", "lost"}) {
    EXPECT_EQ(e.Value("drover_executions", {{"state", state}}), 0.0) << state;
  }
  for (const char* phase : {"progressing", "awaiting_promotion", "paused", "halted", "rolling_back",
                            "succeeded", "rolled_back", "failed", "superseded", "cancelled"}) {
    EXPECT_EQ(e.Value("drover_rollouts", {{"phase", phase}}), 0.0) << phase;
  }
  EXPECT_EQ(e.Value("drover_leader"), 0.0);
  EXPECT_EQ(e.Value("drover_workqueue_depth"), 0.0);
  EXPECT_EQ(e.Value("drover_workqueue_adds_total"), 0.0);
  EXPECT_EQ(e.Value("drover_workqueue_retries_total"), 0.0);
  EXPECT_EQ(e.Value("drover_rollout_waves_total"), 0.0);
  EXPECT_EQ(e.Value("drover_workqueue_queue_duration_seconds_count"), 0.0);
}

TEST(ControllerMetrics, ObserveApiRequestCountsByTemplateMethodAndCode) {
  ControllerMetrics metrics;
  metrics.ObserveApiRequest("GET", "/api/v1/jobs/{job}", 200, 0.002);
  metrics.ObserveApiRequest("GET", "/api/v1/jobs/{job}", 200, 0.004);
  metrics.ObserveApiRequest("GET", "/api/v1/jobs/{job}", 404, 0.001);
  metrics.ObserveApiRequest("PUT", "/api/v1/jobs", 201, 0.5);
  metrics.ObserveApiRequest("GET", "", 404, 0.0001);
  std::string text = metrics.Render();
  Exposition e = Parse(text);
  ASSERT_THAT(e.errors, ::testing::IsEmpty()) << text;

  using Labels = std::map<std::string, std::string>;
  const std::string job_route = "/api/v1/jobs/{job}";
  EXPECT_EQ(e.Value("drover_api_requests_total",
                    Labels{{"method", "GET"}, {"route", job_route}, {"code", "200"}}),
            2.0);
  EXPECT_EQ(e.Value("drover_api_requests_total",
                    Labels{{"method", "GET"}, {"route", job_route}, {"code", "404"}}),
            1.0);
  EXPECT_EQ(e.Value("drover_api_requests_total",
                    Labels{{"method", "PUT"}, {"route", "/api/v1/jobs"}, {"code", "201"}}),
            1.0);
  EXPECT_EQ(e.Value("drover_api_requests_total",
                    Labels{{"method", "GET"}, {"route", "unmatched"}, {"code", "404"}}),
            1.0);
  EXPECT_EQ(e.SeriesCount("drover_api_requests_total"), 4);

  Labels get_job = {{"method", "GET"}, {"route", job_route}};
  EXPECT_EQ(e.Value("drover_api_request_duration_seconds_count", get_job), 3.0);
  EXPECT_NEAR(*e.Value("drover_api_request_duration_seconds_sum", get_job), 0.007, 1e-9);
  Labels bucket = get_job;
  bucket["le"] = "0.001";
  EXPECT_EQ(e.Value("drover_api_request_duration_seconds_bucket", bucket), 1.0);
  bucket["le"] = "0.005";
  EXPECT_EQ(e.Value("drover_api_request_duration_seconds_bucket", bucket), 3.0);
  bucket["le"] = "+Inf";
  EXPECT_EQ(e.Value("drover_api_request_duration_seconds_bucket", bucket), 3.0);
  for (const Sample& s : e.samples) {
    if (s.labels.contains("route")) {
      EXPECT_THAT(s.labels.at("route"), Not(HasSubstr("j-"))) << "route is a template";
    }
  }
}

TEST(ControllerMetrics, ConcurrentObservationsFromFourThreadsAddUp) {
  ControllerMetrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  const char* routes[] = {"/api/v1/jobs", "/api/v1/jobs/{job}", "/api/v1/nodes/{id}"};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, &routes, t] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.ObserveApiRequest("GET", routes[(i + t) % 3], i % 2 == 0 ? 200 : 404, 0.001);
        metrics.ObserveStoreOperation(i % 2 == 0 ? "get" : "commit", 0.0001);
        metrics.ObserveReconcile("job", "success", 0.01);
        metrics.IncWorkqueueAdds();
        if (i % 100 == 0) metrics.SetNodes({{"connected", i}});
        if (i % 100 == 0) (void)metrics.Render();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  Exposition e = Parse(metrics.Render());
  ASSERT_THAT(e.errors, ::testing::IsEmpty());
  double requests = 0;
  double durations = 0;
  for (const Sample& s : e.samples) {
    if (s.name == "drover_api_requests_total") requests += s.value;
    if (s.name == "drover_api_request_duration_seconds_count") durations += s.value;
  }
  EXPECT_EQ(requests, kThreads * kPerThread);
  EXPECT_EQ(durations, kThreads * kPerThread);
  EXPECT_EQ(e.SeriesCount("drover_api_requests_total"), 6);
  EXPECT_EQ(e.Value("drover_store_operation_duration_seconds_count", {{"op", "get"}}),
            kThreads * kPerThread / 2);
  EXPECT_EQ(e.Value("drover_store_operation_duration_seconds_count", {{"op", "commit"}}),
            kThreads * kPerThread / 2);
  EXPECT_EQ(e.Value("drover_reconcile_total", {{"controller", "job"}, {"result", "success"}}),
            kThreads * kPerThread);
  EXPECT_EQ(e.Value("drover_workqueue_adds_total"), kThreads * kPerThread);
}

TEST(ControllerMetrics, SetNodesZeroesStatesNotGiven) {
  ControllerMetrics metrics;
  metrics.SetNodes({{"connected", 7}, {"lost", 2}});
  Exposition e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "connected"}}), 7.0);
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "disconnected"}}), 0.0);
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "lost"}}), 2.0);

  metrics.SetNodes({{"disconnected", 3}});
  e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "connected"}}), 0.0);
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "disconnected"}}), 3.0);
  EXPECT_EQ(e.Value("drover_nodes", {{"state", "lost"}}), 0.0);
}

TEST(ControllerMetrics, SetExecutionsAndRolloutsZeroWhatIsNotGiven) {
  ControllerMetrics metrics;
  metrics.SetExecutions({{"running", 10}, {"failed", 1}});
  metrics.SetRollouts({{"progressing", 2}});
  metrics.SetExecutions({{"running", 9}});
  metrics.SetRollouts({{"succeeded", 3}});
  Exposition e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_executions", {{"state", "running"}}), 9.0);
  EXPECT_EQ(e.Value("drover_executions", {{"state", "failed"}}), 0.0);
  EXPECT_EQ(e.Value("drover_rollouts", {{"phase", "progressing"}}), 0.0);
  EXPECT_EQ(e.Value("drover_rollouts", {{"phase", "succeeded"}}), 3.0);
}

TEST(ControllerMetrics, SetJobsReplacesTheSeries) {
  ControllerMetrics metrics;
  using Labels = std::map<std::string, std::string>;
  metrics.SetJobs({{"prod", "pipeline", "running", 4}, {"dev", "query", "completed", 2}});
  Exposition e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_jobs",
                    Labels{{"namespace", "prod"}, {"type", "pipeline"}, {"state", "running"}}),
            4.0);
  EXPECT_EQ(e.SeriesCount("drover_jobs"), 2);

  metrics.SetJobs({{"prod", "pipeline", "running", 5}, {"prod", "pipeline", "running", 1}});
  e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_jobs",
                    Labels{{"namespace", "prod"}, {"type", "pipeline"}, {"state", "running"}}),
            6.0)
      << "repeated series add up";
  EXPECT_EQ(e.SeriesCount("drover_jobs"), 1) << "the dev series is gone";

  metrics.SetJobs({});
  std::string text = metrics.Render();
  EXPECT_EQ(Parse(text).SeriesCount("drover_jobs"), 0);
  EXPECT_THAT(text, HasSubstr("# TYPE drover_jobs gauge\n")) << "the family stays visible";
}

TEST(ControllerMetrics, SetRolloutProgressKeepsOneSeriesPerRolloutInProgress) {
  ControllerMetrics metrics;
  using Labels = std::map<std::string, std::string>;
  const Labels web = {{"namespace", "prod"}, {"name", "web"}};
  const Labels db = {{"namespace", "dev"}, {"name", "db"}};
  const char* kFamilies[] = {"drover_rollout_current_wave", "drover_rollout_total_waves",
                             "drover_rollout_updated_nodes", "drover_rollout_target_nodes",
                             "drover_rollout_failed_nodes"};
  Exposition e = Parse(metrics.Render());
  for (const char* family : kFamilies) EXPECT_EQ(e.SeriesCount(family), 0) << family;

  metrics.SetRolloutProgress({{"prod", "web", 2, 5, 40, 100, 1}, {"dev", "db", 0, 0, 0, 0, 0}});
  e = Parse(metrics.Render());
  ASSERT_THAT(e.errors, ::testing::IsEmpty());
  EXPECT_EQ(e.Value("drover_rollout_current_wave", web), 2.0);
  EXPECT_EQ(e.Value("drover_rollout_total_waves", web), 5.0);
  EXPECT_EQ(e.Value("drover_rollout_updated_nodes", web), 40.0);
  EXPECT_EQ(e.Value("drover_rollout_target_nodes", web), 100.0);
  EXPECT_EQ(e.Value("drover_rollout_failed_nodes", web), 1.0);
  EXPECT_EQ(e.Value("drover_rollout_total_waves", db), 0.0) << "before its first wave";
  for (const char* family : kFamilies) EXPECT_EQ(e.SeriesCount(family), 2) << family;

  // web moves on, db ends (not given): its series go, web's keep their labels
  metrics.SetRolloutProgress({{"prod", "web", 3, 5, 60, 100, 0}});
  e = Parse(metrics.Render());
  EXPECT_EQ(e.Value("drover_rollout_current_wave", web), 3.0);
  EXPECT_EQ(e.Value("drover_rollout_updated_nodes", web), 60.0);
  EXPECT_EQ(e.Value("drover_rollout_failed_nodes", web), 0.0);
  for (const char* family : kFamilies) {
    EXPECT_EQ(e.SeriesCount(family), 1) << family;
    EXPECT_EQ(e.Value(family, db), std::nullopt) << family;
  }

  // a rollout given twice is one series (the last one wins); none left: no series, families stay
  metrics.SetRolloutProgress(
      {{"prod", "web", 4, 5, 80, 100, 0}, {"prod", "web", 5, 5, 100, 100, 0}});
  e = Parse(metrics.Render());
  EXPECT_EQ(e.SeriesCount("drover_rollout_current_wave"), 1);
  EXPECT_EQ(e.Value("drover_rollout_current_wave", web), 5.0);
  metrics.SetRolloutProgress({});
  const std::string text = metrics.Render();
  e = Parse(text);
  for (const char* family : kFamilies) {
    EXPECT_EQ(e.SeriesCount(family), 0) << family;
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " gauge\n"));
  }
  // and a rollout that starts again gets its series back
  metrics.SetRolloutProgress({{"prod", "web", 1, 2, 1, 2, 0}});
  EXPECT_EQ(Parse(metrics.Render()).Value("drover_rollout_target_nodes", web), 2.0);
}

TEST(ControllerMetrics, LoopAndRolloutCountersAndGauges) {
  ControllerMetrics metrics;
  metrics.ObserveReconcile("job", "success", 0.02);
  metrics.ObserveReconcile("job", "error", 0.03);
  metrics.ObserveReconcile("node", "success", 0.001);
  metrics.SetWorkqueueDepth(12);
  metrics.IncWorkqueueAdds();
  metrics.IncWorkqueueRetries();
  metrics.IncWorkqueueRetries();
  metrics.ObserveWorkqueueQueueDuration(0.2);
  metrics.IncRolloutWaves();
  metrics.IncRollbacks("failed_nodes");
  metrics.IncRollbacks("manual");
  metrics.IncRollbacks("manual");
  metrics.SetLeader(true);
  Exposition e = Parse(metrics.Render());
  ASSERT_THAT(e.errors, ::testing::IsEmpty());
  EXPECT_EQ(e.Value("drover_reconcile_total", {{"controller", "job"}, {"result", "error"}}), 1.0);
  EXPECT_EQ(e.Value("drover_reconcile_duration_seconds_count", {{"controller", "job"}}), 2.0);
  EXPECT_EQ(e.Value("drover_reconcile_duration_seconds_count", {{"controller", "node"}}), 1.0);
  EXPECT_EQ(e.Value("drover_workqueue_depth"), 12.0);
  EXPECT_EQ(e.Value("drover_workqueue_adds_total"), 1.0);
  EXPECT_EQ(e.Value("drover_workqueue_retries_total"), 2.0);
  EXPECT_EQ(e.Value("drover_workqueue_queue_duration_seconds_count"), 1.0);
  EXPECT_EQ(e.Value("drover_rollout_waves_total"), 1.0);
  EXPECT_EQ(e.Value("drover_rollbacks_total", {{"reason", "manual"}}), 2.0);
  EXPECT_EQ(e.Value("drover_rollbacks_total", {{"reason", "failed_nodes"}}), 1.0);
  EXPECT_EQ(e.Value("drover_leader"), 1.0);
  metrics.SetLeader(false);
  EXPECT_EQ(Parse(metrics.Render()).Value("drover_leader"), 0.0);
}

TEST(ControllerMetrics, EveryRenderedLineIsValidExpositionEvenWithAwkwardLabelValues) {
  ControllerMetrics metrics;
  metrics.ObserveApiRequest("GET", "/api/v1/jobs/{job}/versions/{n}", 200, 0.01);
  metrics.ObserveStoreOperation("list", 3.5);
  metrics.ObserveStoreOperation("commit", 100);  // beyond the last bucket
  metrics.SetJobs({{"we\"ird\\ns", "pipeline", "line\nbreak", 1}});
  metrics.IncRollbacks("manual");
  std::string text = metrics.Render();
  Exposition e = Parse(text);
  EXPECT_THAT(e.errors, ::testing::IsEmpty()) << text;
  EXPECT_EQ(e.Value("drover_jobs",
                    {{"namespace", "we\"ird\\ns"}, {"type", "pipeline"}, {"state", "line\nbreak"}}),
            1.0);
  EXPECT_EQ(
      e.Value("drover_store_operation_duration_seconds_bucket", {{"op", "commit"}, {"le", "10"}}),
      0.0);
  EXPECT_EQ(
      e.Value("drover_store_operation_duration_seconds_bucket", {{"op", "commit"}, {"le", "+Inf"}}),
      1.0);
  // The checker itself rejects broken lines.
  EXPECT_THAT(Parse("# TYPE x gauge\nx{a=\"1\" 2\n").errors, Not(::testing::IsEmpty()));
  EXPECT_THAT(Parse("# TYPE x gauge\nx 1 2 3\n").errors, Not(::testing::IsEmpty()));
  EXPECT_THAT(Parse("y 1\n").errors, Not(::testing::IsEmpty()));
  EXPECT_THAT(Parse("# TYPE x gauge\nx{a=\"1\"} 2\n").errors, ::testing::IsEmpty());
}

TEST(ControllerMetrics, HistogramBucketsAreSensible) {
  const std::vector<double>& latency = LatencyBuckets();
  ASSERT_FALSE(latency.empty());
  EXPECT_DOUBLE_EQ(latency.front(), 0.0005);
  EXPECT_DOUBLE_EQ(latency.back(), 10);
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_TRUE(std::is_sorted(QueueWaitBuckets().begin(), QueueWaitBuckets().end()));
}

TEST(ControllerMetrics, ContentTypeIsTextFormat004) {
  EXPECT_EQ(kMetricsContentType, "text/plain; version=0.0.4; charset=utf-8");
}

// --- AgentMetrics
// ---------------------------------------------------------------------------------

TEST(AgentMetrics, FamiliesAppearAtStartAndCount) {
  AgentMetrics metrics;
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE drover_agent_executions gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE drover_agent_pipeline_messages_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE drover_agent_restarts_total counter\n"));
  Exposition e = Parse(text);
  EXPECT_THAT(e.errors, ::testing::IsEmpty()) << text;
  EXPECT_EQ(e.types.size(), 3u);
  EXPECT_EQ(e.Value("drover_agent_restarts_total"), 0.0);
  EXPECT_EQ(e.Value("drover_agent_executions", {{"state", "running"}}), 0.0);

  metrics.SetExecutions({{"running", 2}, {"failed", 1}});
  metrics.SetExecutions({{"running", 3}});
  metrics.AddPipelineMessages("j-1", "processed", 40);
  metrics.AddPipelineMessages("j-1", "processed", 2);
  metrics.AddPipelineMessages("j-1", "error", 1);
  metrics.IncRestarts();
  e = Parse(metrics.Render());
  ASSERT_THAT(e.errors, ::testing::IsEmpty());
  EXPECT_EQ(e.Value("drover_agent_executions", {{"state", "running"}}), 3.0);
  EXPECT_EQ(e.Value("drover_agent_executions", {{"state", "failed"}}), 0.0);
  EXPECT_EQ(
      e.Value("drover_agent_pipeline_messages_total", {{"job", "j-1"}, {"result", "processed"}}),
      42.0);
  EXPECT_EQ(e.Value("drover_agent_pipeline_messages_total", {{"job", "j-1"}, {"result", "error"}}),
            1.0);
  EXPECT_EQ(e.Value("drover_agent_restarts_total"), 1.0);
}

}  // namespace
}  // namespace drover::controller
