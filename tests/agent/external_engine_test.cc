// `drover agent --pipeline-engine PATH`: the agent writes the config with a metrics endpoint,
// supervises the external binary and judges health from its Prometheus counters. The binary
// here is a small stand-in (tests/agent/testdata/fake-bento.py): Bento itself is not packaged
// for Debian 12.
#include "agent/external_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "tests/testing/agent_process.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using testing::Eventually;

TEST(EngineMetrics, SumsBentosCountersOverLabelSets) {
  const char* text =
      "# HELP output_sent Messages sent\n"
      "# TYPE output_sent counter\n"
      "output_sent{label=\"\",path=\"root.output\"} 10\n"
      "output_sent{label=\"b\",path=\"root.output.b\"} 5\n"
      "processor_error{label=\"\",path=\"root.pipeline.processors.0\"} 2\n"
      "output_error_total 1\n"
      "input_received 99\n";
  std::optional<agent::EngineCounts> c = agent::ParseEngineMetrics(text);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->processed, 15u);
  EXPECT_EQ(c->errors, 3u);
  EXPECT_FALSE(agent::ParseEngineMetrics("input_received 3\n").has_value());
  EXPECT_FALSE(agent::ParseEngineMetrics("garbage{ \n output_sent\n").has_value());
}

TEST(EngineMetrics, ConfigGetsAMetricsEndpointOnLoopback) {
  Json c = agent::ExternalEngineConfig({{"input", {{"stdin", Json::object()}}}}, 4195);
  EXPECT_EQ(c["http"]["address"], "127.0.0.1:4195");
  EXPECT_EQ(c["http"]["enabled"], true);
  EXPECT_TRUE(c["metrics"].contains("prometheus"));
  EXPECT_TRUE(c["input"].contains("stdin"));
}

TEST(ExternalEngine, AgentRunsItAndJudgesHealthFromItsMetrics) {
  testing::ControllerProcess controller({"--heartbeat-interval", "500ms"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  const fs::path work = testing::MakeTempDir("drover-external-engine");
  std::ofstream(work / "in.log") << "{\"n\":1}\n{\"n\":2}\nnot json\n";
  testing::AgentProcess agent(
      controller.url(), "edge-1",
      {"--pipeline-engine", std::string(DROVER_SOURCE_DIR) + "/tests/agent/testdata/fake-bento.py",
       "--read-root", work.string(), "--label", "role=edge"});
  agent.Start();
  ASSERT_TRUE(Eventually([&] {
    Json nodes = controller.Call("GET", "/api/v1/nodes?state=connected").Json();
    return nodes.is_object() && nodes["items"].size() == 1;
  })) << agent.log();

  Json spec = {{"name", "external"},
               {"type", "pipeline"},
               {"selector", {{"match_labels", {{"role", "edge"}}}}},
               {"config",
                {{"input", {{"file", {{"paths", {(work / "*.log").string()}}}}}},
                 {"output", {{"stdout", Json::object()}}}}},
               {"rollout",
                {{"strategy", "rolling"},
                 {"max_parallel", 100},
                 {"no_auto_rollback", true},
                 {"health_check",
                  {{"deadline", "30s"},
                   {"interval", "300ms"},
                   // so many healthy windows that the error window comes first however slowly the
                   // engine starts on a loaded machine (an empty window is healthy)
                   {"success_threshold", 50},
                   {"failure_threshold", 1},
                   {"max_error_rate", 0.0}}}}}};
  testing::HttpReply put = controller.Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump());
  ASSERT_EQ(put.status, 201) << put.body;

  // its output is the execution's log; the bad line is an error in its metrics, which the
  // agent reads: with max_error_rate 0 the window is unhealthy, so the rollout halts
  EXPECT_TRUE(Eventually([&] {
    Json job = controller.Call("GET", "/api/v1/jobs/external").Json()["job"];
    return job["status"]["rollout"].value("phase", "") == "halted";
  })) << controller.Call("GET", "/api/v1/jobs/external").body
      << agent.log();
  // not a crash: the engine ran on, it was its error count that made the window unhealthy
  Json executions = controller.Call("GET", "/api/v1/jobs/external/executions").Json();
  ASSERT_EQ(executions["items"].size(), 1u) << executions;
  EXPECT_EQ(executions["items"][0].value("restarts", -1), 0) << executions;
  EXPECT_EQ(executions["items"][0].value("health", ""), "unhealthy") << executions;
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(agent.data_dir() / "executions", ec)) {
    out += testing::ReadAll(e.path() / "stdout.log");
  }
  EXPECT_THAT(out, ::testing::HasSubstr("{\"engine\": \"fake\", \"n\": 1}"));
  agent.Stop();
  fs::remove_all(work);
}

}  // namespace
}  // namespace drover
