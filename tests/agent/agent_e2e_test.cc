// End to end (issue 5, acceptance 2 and 3): the real `drover controller` and three real
// `drover agent` processes on loopback, running real commands, files and pipelines. Short
// heartbeat and health intervals keep each scenario to seconds; every wait is a bounded poll.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "api/job.h"
#include "tests/testing/agent_process.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::AgentProcess;
using testing::ControllerProcess;

using testing::Eventually;

// Processes whose command line starts with `marker`.
int CountProcesses(const std::string& marker) {
  int count = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* entry = readdir(proc)) {
    if (std::atoi(entry->d_name) <= 0) continue;
    std::string cmdline = testing::ReadAll(std::string("/proc/") + entry->d_name + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.rfind(marker, 0) == 0) ++count;
  }
  closedir(proc);
  return count;
}

std::vector<std::string> Lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

class AgentEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(controller_.Start()) << controller_.log();
    work_ = testing::MakeTempDir("drover-agent-e2e");
    const std::vector<std::pair<std::string, Labels>> nodes = {
        {"node-1", {{"env", "production"}, {"role", "app-server"}, {"region", "eu"}}},
        {"node-2", {{"env", "production"}, {"role", "app-server"}, {"region", "us"}}},
        {"node-3", {{"env", "staging"}, {"role", "db"}, {"region", "us"}}}};
    for (const auto& [id, labels] : nodes) {
      fs::create_directories(work_ / id / "etc");
      std::vector<std::string> args = {"--allow-commands", "--read-root", work_.string(),
                                       "--config-root", (work_ / id / "etc").string()};
      for (const auto& [k, v] : labels) {
        args.push_back("--label");
        args.push_back(k + "=" + v);
      }
      agents_.push_back(std::make_unique<AgentProcess>(controller_.url(), id, args));
      agents_.back()->Start();
    }
    ASSERT_TRUE(Eventually([&] {
      return controller_.Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() == 3;
    })) << "the agents did not connect\n"
        << agents_[0]->log();
  }
  void TearDown() override {
    for (auto& a : agents_) a->Stop();
    if (HasFailure()) {
      std::cerr << "---- controller\n" << controller_.log().substr(0, 20000);
      for (auto& a : agents_) std::cerr << "---- " << a->node_id() << "\n" << a->log();
    }
    agents_.clear();
    fs::remove_all(work_);
  }

  Json Put(const Json& spec) {
    testing::HttpReply r = controller_.Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump());
    EXPECT_TRUE(r.status == 200 || r.status == 201) << r.status << " " << r.body;
    return r.Json();
  }
  Json Job(const std::string& name) {
    return controller_.Call("GET", "/api/v1/jobs/" + name).Json()["job"];
  }
  std::string JobState(const std::string& name) { return Job(name)["status"].value("state", ""); }
  std::string Phase(const std::string& name) {
    Json j = Job(name);
    return j["status"]["rollout"].is_object() ? j["status"]["rollout"].value("phase", "")
                                              : std::string();
  }
  Json Executions(const std::string& name) {
    return controller_.Call("GET", "/api/v1/jobs/" + name + "/executions").Json()["items"];
  }
  std::vector<std::string> Reasons(const std::string& name) {
    std::vector<std::string> out;
    const Json events = controller_.Call("GET", "/api/v1/jobs/" + name + "/events").Json();
    for (const Json& e : events["items"]) out.push_back(e["reason"]);
    return out;
  }
  // The one execution of `name` on `node` that is not stopped, or null.
  Json ExecutionOn(const std::string& name, const std::string& node) {
    const Json executions = Executions(name);
    for (const Json& e : executions) {
      if (e.value("node_id", "") == node && e.value("desired_state", "") != "stopped") return e;
    }
    return Json::object();
  }
  AgentProcess& Agent(const std::string& id) {
    for (auto& a : agents_) {
      if (a->node_id() == id) return *a;
    }
    throw std::runtime_error("no agent " + id);
  }

  static Json HealthCheck() {
    return {{"deadline", "30s"},
            {"interval", "300ms"},
            {"success_threshold", 1},
            {"failure_threshold", 2},
            {"max_error_rate", 0.10}};
  }

  Json Update(const std::string& name, const std::string& script, Json selector,
              const std::string& restart_policy = "never") {
    return {{"name", name},
            {"type", "update"},
            {"restart_policy", restart_policy},
            {"selector", std::move(selector)},
            {"config", {{"command", {"sh", "-c", script}}, {"env", {{"WORK", work_.string()}}}}}};
  }

  ControllerProcess controller_{{"--heartbeat-interval", "500ms"}};
  fs::path work_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

TEST_F(AgentEndToEnd, UpdateJobRunsItsCommandOncePerNodeInWaves) {
  Json spec = Update("upgrade", "echo \"$DROVER_VERSION\" >> \"$WORK/$DROVER_NODE_ID.ran\"",
                     {{"match_expressions", {"role in (app-server,db)"}}});
  spec["rollout"] = {
      {"strategy", "rolling"}, {"max_parallel", 30}, {"health_check", HealthCheck()}};
  Put(spec);
  ASSERT_TRUE(Eventually([&] { return Phase("upgrade") == "succeeded"; })) << Job("upgrade");
  EXPECT_EQ(JobState("upgrade"), "completed");
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(Lines(work_ / (std::string(node) + ".ran")), std::vector<std::string>{"1"}) << node;
  }
  std::vector<std::string> reasons = Reasons("upgrade");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "WaveStarted"), 3)
      << controller_.Call("GET", "/api/v1/jobs/upgrade/events").body;
  EXPECT_THAT(reasons, ::testing::Contains("RolloutSucceeded"));
}

TEST_F(AgentEndToEnd, AFailedUpdateIsRolledBackWithItsRollbackCommandWhereItRan) {
  Json spec = Update("pkg", "echo \"install v$DROVER_VERSION\" >> \"$WORK/$DROVER_NODE_ID.pkg\"",
                     {{"match_labels", {{"env", "production"}}}});
  spec["rollout"] = {{"strategy", "rolling"},
                     {"max_parallel", 50},
                     {"max_failed_nodes", 0},
                     {"max_failed_nodes_percent", 0},
                     {"health_check", HealthCheck()}};
  Put(spec);
  ASSERT_TRUE(Eventually([&] { return Phase("pkg") == "succeeded"; })) << Job("pkg");

  // v2's command fails; its rollback_command undoes it on the node that ran it
  spec["config"]["command"] = {
      "sh", "-c", "echo \"install v2 (broken)\" >> \"$WORK/$DROVER_NODE_ID.pkg\"; exit 1"};
  spec["config"]["rollback_command"] = {
      "sh", "-c", "echo \"undo v$DROVER_ROLLBACK_OF\" >> \"$WORK/$DROVER_NODE_ID.pkg\""};
  Put(spec);
  ASSERT_TRUE(Eventually([&] { return Phase("pkg") == "rolled_back"; })) << Job("pkg");
  int undone = 0, untouched = 0;
  for (const char* node : {"node-1", "node-2"}) {
    std::vector<std::string> lines = Lines(work_ / (std::string(node) + ".pkg"));
    if (lines == std::vector<std::string>{"install v1", "install v2 (broken)", "undo v2"}) {
      ++undone;
    } else if (lines == std::vector<std::string>{"install v1"}) {
      ++untouched;  // the second wave never came: nothing to undo, v1 is not run again
    } else {
      ADD_FAILURE() << node << ": " << ::testing::PrintToString(lines);
    }
  }
  EXPECT_EQ(undone, 1);
  EXPECT_EQ(untouched, 1);
}

TEST_F(AgentEndToEnd, ConfigFileIsWrittenWithItsModeAndRestoredAfterAnEdit) {
  Put({{"name", "app-config"},
       {"type", "config"},
       {"selector", {{"match_labels", {{"role", "app-server"}}}}},
       {"config",
        {{"files", {{{"path", "/app/app.conf"}, {"content", "level=info\n"}, {"mode", "0640"}}}},
         {"on_change", {"sh", "-c", "echo changed >> \"$DROVER_NODE_ID.hook\""}}}}});
  const fs::path file = work_ / "node-1" / "etc" / "app" / "app.conf";
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(file) == "level=info\n"; }));
  ASSERT_TRUE(Eventually(
      [&] { return testing::ReadAll(work_ / "node-2" / "etc" / "app" / "app.conf").size() > 0; }));
  EXPECT_FALSE(fs::exists(work_ / "node-3" / "etc" / "app" / "app.conf"));  // not selected
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  std::ofstream(file, std::ios::trunc) << "level=debug\n";  // someone edits it on the node
  chmod(file.c_str(), 0666);
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(file) == "level=info\n"; }))
      << testing::ReadAll(file);
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(Eventually([&] {
    return ExecutionOn("app-config", "node-1").value("message", "").find("restored") !=
           std::string::npos;
  })) << ExecutionOn("app-config", "node-1");
}

TEST_F(AgentEndToEnd, KilledAgentRestartsItsWorkWithNoDuplicateAndNoOrphan) {
  // a workload with a child of its own: the grandchild is what an agent crash would orphan
  const std::string marker = "987654";
  Put(Update("long-task", "sleep " + marker + " & wait", {{"match_ids", {"node-1"}}},
             "on-failure"));
  ASSERT_TRUE(Eventually([&] { return CountProcesses("sleep " + marker) == 1; }));
  ASSERT_TRUE(Eventually(
      [&] { return ExecutionOn("long-task", "node-1").value("state", "") == "running"; }));

  Agent("node-1").Kill();
  Agent("node-1").Start();
  ASSERT_TRUE(Eventually([&] { return CountProcesses("sleep " + marker) == 1; }));
  // stays one: the old one is gone and no second one appears
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(CountProcesses("sleep " + marker), 1);
  Json e = ExecutionOn("long-task", "node-1");
  EXPECT_EQ(e.value("state", ""), "running") << e;
  EXPECT_EQ(e.value("restarts", -1), 0) << "an agent restart is not the workload's failure";

  // and stopping the job ends the whole group
  ASSERT_EQ(controller_.Call("DELETE", "/api/v1/jobs/long-task").status, 200);
  EXPECT_TRUE(Eventually([&] { return CountProcesses("sleep " + marker) == 0; }));
}

TEST_F(AgentEndToEnd, OnFailureRestartsWithAGrowingBackoff) {
  Put(Update("flaky", "date +%s%N >> \"$WORK/flaky.times\"; exit 3", {{"match_ids", {"node-1"}}},
             "on-failure"));
  ASSERT_TRUE(Eventually([&] { return Lines(work_ / "flaky.times").size() >= 3; }, 60s));
  std::vector<std::string> times = Lines(work_ / "flaky.times");
  const double gap1 = (std::stod(times[1]) - std::stod(times[0])) / 1e9;
  const double gap2 = (std::stod(times[2]) - std::stod(times[1])) / 1e9;
  EXPECT_GE(gap1, 0.9);         // the first backoff is 1 s
  EXPECT_GT(gap2, gap1 * 1.5);  // then 2 s
  EXPECT_TRUE(Eventually([&] {
    Json e = ExecutionOn("flaky", "node-1");
    return e.value("restarts", 0) >= 2 && e.value("exit_code", Json()) == 3 &&
           e.value("message", "").find("restarting in") != std::string::npos;
  })) << ExecutionOn("flaky", "node-1");
}

TEST_F(AgentEndToEnd, AlwaysRestartsAfterACleanExitAndNeverDoesNot) {
  Put(Update("again", "echo run >> \"$WORK/again.runs\"", {{"match_ids", {"node-2"}}}, "always"));
  Put(Update("once", "echo run >> \"$WORK/once.runs\"; exit 4", {{"match_ids", {"node-2"}}},
             "never"));
  ASSERT_TRUE(Eventually([&] { return Lines(work_ / "again.runs").size() >= 2; }));
  ASSERT_TRUE(Eventually([&] {
    return ExecutionOn("once", "node-2").value("state", "") == "failed";
  })) << Job("once")
      << Executions("once");
  EXPECT_EQ(Lines(work_ / "once.runs").size(), 1u);
  bool found = false;
  for (const Json& e : Executions("once")) {
    found = true;
    EXPECT_EQ(e.value("state", ""), "failed");
    EXPECT_EQ(e.value("exit_code", Json()), 4);
    EXPECT_EQ(e.value("restarts", -1), 0);
  }
  EXPECT_TRUE(found);
}

TEST_F(AgentEndToEnd, ExecutionTimeoutStopsARunawayCommand) {
  const std::string marker = "987653";
  Json spec = Update("runaway", "sleep " + marker, {{"match_ids", {"node-3"}}});
  spec["timeouts"] = {{"execution_timeout", 1}};
  Put(spec);
  ASSERT_TRUE(Eventually([&] {
    return ExecutionOn("runaway", "node-3").value("state", "") == "failed";
  })) << Job("runaway")
      << Executions("runaway");
  Json e = Executions("runaway")[0];
  EXPECT_EQ(e.value("state", ""), "failed");
  EXPECT_THAT(e.value("message", ""), ::testing::HasSubstr("execution_timeout")) << e;
  EXPECT_TRUE(Eventually([&] { return CountProcesses("sleep " + marker) == 0; }));
}

TEST_F(AgentEndToEnd, NodeOfflineDuringARolloutCatchesUpWhenItReturns) {
  Json spec = {{"name", "motd"},
               {"type", "config"},
               {"selector", {{"match_expressions", {"region in (eu,us)"}}}},
               {"config", {{"files", {{{"path", "/etc/motd"}, {"content", "v1\n"}}}}}},
               {"rollout",
                {{"strategy", "rolling"}, {"max_parallel", 50}, {"health_check", HealthCheck()}}}};
  Put(spec);
  const fs::path node3 = work_ / "node-3" / "etc" / "etc" / "motd";
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(node3) == "v1\n"; }));
  ASSERT_TRUE(Eventually([&] { return Phase("motd") == "succeeded"; })) << Job("motd");

  Agent("node-3").Stop();
  ASSERT_TRUE(Eventually([&] {
    const Json nodes = controller_.Call("GET", "/api/v1/nodes").Json();
    for (const Json& n : nodes["items"]) {
      if (n.value("id", "") == "node-3") return n.value("state", "") != "connected";
    }
    return false;
  })) << controller_.Call("GET", "/api/v1/nodes").body;
  spec["config"]["files"][0]["content"] = "v2\n";
  Put(spec);
  ASSERT_TRUE(Eventually([&] { return Phase("motd") == "succeeded"; })) << Job("motd");
  EXPECT_EQ(testing::ReadAll(work_ / "node-1" / "etc" / "etc" / "motd"), "v2\n");
  EXPECT_EQ(testing::ReadAll(node3), "v1\n");  // still offline

  Agent("node-3").Start();
  EXPECT_TRUE(Eventually([&] { return testing::ReadAll(node3) == "v2\n"; }));
}

// ---- pipelines and queries: the built-in engine in `drover engine` child processes ----

// Every line the executions of an agent wrote on stdout, from its data dir.
std::string AgentStdout(const AgentProcess& agent) {
  std::string all;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(agent.data_dir() / "executions", ec)) {
    all += testing::ReadAll(e.path() / "stdout.log");
  }
  return all;
}

class PipelineEndToEnd : public AgentEndToEnd {
 protected:
  void SetUp() override {
    AgentEndToEnd::SetUp();
    logs_ = work_ / "var" / "log" / "app";
    fs::create_directories(logs_);
  }
  void TearDown() override {
    feeding_ = false;
    if (feeder_.joinable()) feeder_.join();
    AgentEndToEnd::TearDown();
  }
  // The seed's example (shared/seed), its paths pointed at the test folder.
  Json Seed(const std::string& mapping = "root = this\nroot.processed_at = now()\n") {
    return {{"name", "log-processor"},
            {"namespace", "production"},
            {"description", "Processes application logs from edge nodes"},
            {"labels", {{"env", "production"}, {"region", "us-west"}, {"version", "v1.2.0"}}},
            {"priority", 50},
            {"type", "pipeline"},
            {"selector", {{"match_labels", {{"env", "production"}, {"role", "app-server"}}}}},
            {"config",
             {{"input", {{"file", {{"paths", {(logs_ / "*.log").string()}}}}}},
              {"pipeline", {{"processors", {{{"mapping", mapping}}}}}},
              {"output", {{"stdout", Json::object()}}}}}};
  }
  void Append(const std::string& line) {
    std::ofstream(logs_ / "app.log", std::ios::app) << line << "\n";
  }
  // Appends a JSON line every 50 ms until the test ends, so that health windows see traffic.
  void Feed() {
    feeding_ = true;
    feeder_ = std::thread([this] {
      for (int i = 0; feeding_; ++i) {
        Append("{\"seq\":" + std::to_string(i) + ",\"msg\":\"tick\"}");
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  Json Job(const std::string& name) {
    return controller_.Call("GET", "/api/v1/jobs/" + name + "?namespace=production").Json()["job"];
  }
  std::string Phase(const std::string& name) {
    Json j = Job(name);
    return j["status"]["rollout"].is_object() ? j["status"]["rollout"].value("phase", "")
                                              : std::string();
  }
  // node -> version of the job's executions that run and are meant to
  std::map<std::string, int> Running(const std::string& name) {
    std::map<std::string, int> out;
    const Json items =
        controller_.Call("GET", "/api/v1/jobs/" + name + "/executions?namespace=production")
            .Json()["items"];
    for (const Json& e : items) {
      if (e.value("state", "") == "running" && e.value("desired_state", "") == "running") {
        out[e.value("node_id", "")] = e.value("version", 0);
      }
    }
    return out;
  }

  fs::path logs_;
  std::atomic<bool> feeding_{false};
  std::thread feeder_;
};

TEST_F(PipelineEndToEnd, SeedExampleRunsOnMatchingNodesAndFollowsAppendedLines) {
  Append(R"({"level":"info","msg":"before the job"})");
  Json put = Put(Seed());
  ASSERT_TRUE(Eventually([&] {
    return AgentStdout(Agent("node-1")).find("before the job") != std::string::npos &&
           AgentStdout(Agent("node-2")).find("before the job") != std::string::npos;
  })) << AgentStdout(Agent("node-1"));
  for (const char* node : {"node-1", "node-2"}) {
    std::string out = AgentStdout(Agent(node));
    Json line = Json::parse(out.substr(0, out.find('\n')), nullptr, false);
    EXPECT_EQ(line.value("msg", ""), "before the job") << out;
    EXPECT_TRUE(line.contains("processed_at")) << out;
  }
  EXPECT_EQ(AgentStdout(Agent("node-3")), "");  // role=db does not match

  Append(R"({"level":"warn","msg":"appended later"})");
  EXPECT_TRUE(Eventually([&] {
    return AgentStdout(Agent("node-1")).find("appended later") != std::string::npos &&
           AgentStdout(Agent("node-2")).find("appended later") != std::string::npos;
  }));
  // each line once
  std::string out = AgentStdout(Agent("node-1"));
  EXPECT_EQ(out.find("before the job"), out.rfind("before the job")) << out;
}

TEST_F(PipelineEndToEnd, HealthGatedRollingUpdateThenABadVersionRollsBack) {
  Feed();
  auto rolling = [&](const std::string& mapping) {
    Json spec = Seed(mapping);
    spec["rollout"] = {{"strategy", "rolling"},
                       {"max_parallel", 50},
                       {"max_failed_nodes", 0},
                       {"health_check", HealthCheck()}};
    // an empty window is healthy: ask for four healthy windows, so that a version's first
    // windows with traffic decide, however slowly its engine starts on a loaded machine
    spec["rollout"]["health_check"]["success_threshold"] = 4;
    return spec;
  };
  Put(rolling("root = this\nroot.processed_at = now()\n"));
  ASSERT_TRUE(Eventually([&] { return Phase("log-processor") == "succeeded"; }))
      << Job("log-processor");

  // (b) v2, gated by health checks, goes out wave by wave
  Put(rolling("root = this\nroot.processed_at = now()\nroot.v = 2\n"));
  ASSERT_TRUE(Eventually([&] {
    return Phase("log-processor") == "succeeded" &&
           Job("log-processor")["status"].value("version", 0) == 2;
  })) << Job("log-processor");
  EXPECT_EQ(Running("log-processor"), (std::map<std::string, int>{{"node-1", 2}, {"node-2", 2}}));
  EXPECT_TRUE(Eventually(
      [&] { return AgentStdout(Agent("node-1")).find("\"v\":2") != std::string::npos; }));

  // (c) v3's mapping fails on every message: the error rate breaches max_error_rate, the
  // rollout halts and rolls back, and the nodes run v2 again
  Put(rolling("root = this\nroot.n = this.missing.number()\n"));
  ASSERT_TRUE(Eventually([&] { return Phase("log-processor") == "rolled_back"; }, 60s))
      << Job("log-processor");
  const Json job = Job("log-processor");
  EXPECT_EQ(job["status"].value("failed_version", 0), 3) << job;
  EXPECT_EQ(job["status"].value("stable_version", 0), 2) << job;
  EXPECT_TRUE(Eventually([&] {
    return Running("log-processor") == std::map<std::string, int>{{"node-1", 2}, {"node-2", 2}};
  })) << Running("log-processor").size();
}

TEST_F(PipelineEndToEnd, QueryReturnsEachNodesResults) {
  fs::create_directories(work_ / "query");
  std::ofstream(work_ / "query" / "a.log") << "{\"n\":1}\n{\"n\":2}\nnot json\n";
  Json spec = {
      {"name", "count-lines"},
      {"type", "query"},
      {"selector", {{"match_labels", {{"region", "us"}}}}},
      {"config",
       {{"input", {{"file", {{"paths", {(work_ / "query" / "*.log").string()}}}}}},
        {"pipeline", {{"processors", {{{"mapping", "root.node = hostname()\nroot.n = this.n"}}}}}},
        {"output", {{"drop", Json::object()}}}}}};
  Put(spec);
  ASSERT_TRUE(Eventually([&] {
    return controller_.Call("GET", "/api/v1/jobs/count-lines")
               .Json()["job"]["status"]
               .value("state", "") == "completed";
  })) << controller_.Call("GET", "/api/v1/jobs/count-lines").body;
  const Json results = controller_.Call("GET", "/api/v1/jobs/count-lines/results").Json();
  ASSERT_EQ(results["items"].size(), 2u) << results;  // node-2 and node-3
  std::set<std::string> nodes;
  for (const Json& item : results["items"]) {
    nodes.insert(item.value("node_id", ""));
    EXPECT_EQ(item.value("state", ""), "completed");
    ASSERT_EQ(item["results"].size(), 3u) << item;
    EXPECT_EQ(item["results"][0]["n"], 1) << item;
    EXPECT_EQ(item["results"][1]["n"], 2) << item;
    EXPECT_EQ(item["results"][2], "not json") << item;  // a processor error passes it unchanged
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"node-2", "node-3"}));
}

}  // namespace
}  // namespace drover
