// End to end (issue 5, acceptance 2 and 3): the real `drover controller` and three real
// `drover agent` processes on loopback, running real commands, files and pipelines. Short
// heartbeat and health intervals keep each scenario to seconds; every wait is a bounded poll.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
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

// The pids of the processes whose command line starts with `marker`, in increasing order
// (a zombie has no command line: it does not count).
std::vector<pid_t> Pids(const std::string& marker) {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::string cmdline = testing::ReadAll(std::string("/proc/") + entry->d_name + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.rfind(marker, 0) == 0) pids.push_back(pid);
  }
  closedir(proc);
  std::sort(pids.begin(), pids.end());
  return pids;
}

int CountProcesses(const std::string& marker) { return static_cast<int>(Pids(marker).size()); }

// Waits until exactly one process starts with `marker` and it is not the one of `before`;
// returns the pids then (the test fails when that does not happen).
std::vector<pid_t> WaitForOneNewProcess(const std::string& marker,
                                        const std::vector<pid_t>& before) {
  EXPECT_TRUE(Eventually([&] {
    const std::vector<pid_t> now = Pids(marker);
    return now.size() == 1 && now != before;
  })) << "before "
      << ::testing::PrintToString(before) << ", now " << ::testing::PrintToString(Pids(marker));
  return Pids(marker);
}

// The value of the series `name` whose labels include every one of `labels` (`k="v"` each) in
// a Prometheus text exposition, or 0 when there is none.
double MetricValue(const std::string& text, const std::string& name,
                   const std::vector<std::string>& labels) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && line.find(label) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return 0;
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
      metrics_ports_[id] = testing::FreePort();
      std::vector<std::string> args = {"--allow-commands",
                                       "--read-root",
                                       work_.string(),
                                       "--config-root",
                                       (work_ / id / "etc").string(),
                                       "--metrics-listen",
                                       "127.0.0.1:" + std::to_string(metrics_ports_[id])};
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
  // The agent's own metrics (--metrics-listen), as text; empty when it does not answer.
  std::string AgentMetrics(const std::string& id) {
    return testing::Http(metrics_ports_.at(id), "GET", "/metrics").body;
  }
  // Heartbeats of the agent's current process that the controller answered.
  double HeartbeatsAnswered(const std::string& id) {
    return MetricValue(AgentMetrics(id), "drover_agent_heartbeats_total", {"result=\"ok\""});
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
  std::map<std::string, int> metrics_ports_;  // node id -> the agent's --metrics-listen port
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
  // the hook appends one line per run to a file of the test's, one file per node
  const fs::path hooks = work_ / "hooks";
  fs::create_directories(hooks);
  const fs::path hook1 = hooks / "node-1.hook", hook2 = hooks / "node-2.hook";
  Put({{"name", "app-config"},
       {"type", "config"},
       {"selector", {{"match_labels", {{"role", "app-server"}}}}},
       {"config",
        {{"files", {{{"path", "/app/app.conf"}, {"content", "level=info\n"}, {"mode", "0640"}}}},
         {"on_change",
          {"sh", "-c", "echo changed >> \"" + hooks.string() + "/$DROVER_NODE_ID.hook\""}}}}});
  const fs::path file = work_ / "node-1" / "etc" / "app" / "app.conf";
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(file) == "level=info\n"; }));
  ASSERT_TRUE(Eventually(
      [&] { return testing::ReadAll(work_ / "node-2" / "etc" / "app" / "app.conf").size() > 0; }));
  EXPECT_FALSE(fs::exists(work_ / "node-3" / "etc" / "app" / "app.conf"));  // not selected
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // on_change ran once on each node after the first write, and never on node-3
  ASSERT_TRUE(Eventually([&] { return Lines(hook1).size() == 1 && Lines(hook2).size() == 1; }))
      << Lines(hook1).size() << " " << Lines(hook2).size();
  EXPECT_FALSE(fs::exists(hooks / "node-3.hook"));

  // someone edits it on the node: content and mode at once (a rename, as an editor does), so
  // that the agent sees one change, not a truncated file and then the new text
  const fs::path edited = file.string() + ".edit";
  std::ofstream(edited, std::ios::trunc) << "level=debug\n";
  chmod(edited.c_str(), 0666);
  fs::rename(edited, file);
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(file) == "level=info\n"; }))
      << testing::ReadAll(file);
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(Eventually([&] {
    return ExecutionOn("app-config", "node-1").value("message", "").find("restored") !=
           std::string::npos;
  })) << ExecutionOn("app-config", "node-1");
  // the restore ran the hook again on node-1 only
  ASSERT_TRUE(Eventually([&] { return Lines(hook1).size() == 2; })) << Lines(hook1).size();

  // and nothing changed since: heartbeats (the same assignment each time) and drift checks
  // (every 2 s) run no hook. Six answered heartbeats of 500 ms span a drift check.
  const double beats1 = HeartbeatsAnswered("node-1"), beats2 = HeartbeatsAnswered("node-2");
  ASSERT_TRUE(Eventually([&] {
    return HeartbeatsAnswered("node-1") >= beats1 + 6 && HeartbeatsAnswered("node-2") >= beats2 + 6;
  })) << AgentMetrics("node-1");
  EXPECT_EQ(Lines(hook1).size(), 2u);
  EXPECT_EQ(Lines(hook2).size(), 1u);
}

// A file changed on the node while on_change runs: the hook may have read the old file, so it
// runs again once it is done (not twice at once, and not never).
TEST_F(AgentEndToEnd, AChangeWhileTheHookRunsRunsTheHookAgainAfterIt) {
  const fs::path log = work_ / "slow-hook.log";
  Put({{"name", "slow-hook"},
       {"type", "config"},
       {"selector", {{"match_ids", {"node-1"}}}},
       {"config",
        {{"files", {{{"path", "/app/slow.conf"}, {"content", "a=1\n"}}}},
         {"on_change", {"sh", "-c", "echo run >> \"" + log.string() + "\"; sleep 6"}}}}});
  const fs::path file = work_ / "node-1" / "etc" / "app" / "slow.conf";
  ASSERT_TRUE(Eventually([&] { return Lines(log).size() == 1; }));  // the first write's run
  // edited while that run sleeps; the next drift check (every 2 s) restores it during the run
  const fs::path edited = file.string() + ".edit";
  std::ofstream(edited, std::ios::trunc) << "a=2\n";
  fs::rename(edited, file);
  ASSERT_TRUE(Eventually([&] { return testing::ReadAll(file) == "a=1\n"; }));
  EXPECT_EQ(Lines(log).size(), 1u) << "one hook at a time";
  // the restore's run comes after the first one ends
  ASSERT_TRUE(Eventually([&] { return Lines(log).size() == 2; })) << Lines(log).size();
}

// An agent given its token through $DROVER_TOKEN does not hand it to its workloads.
TEST_F(AgentEndToEnd, WorkloadsDoNotInheritTheAgentsToken) {
  Agent("node-1").Stop();
  setenv("DROVER_TOKEN", "agent-secret-0123456789abcdef", 1);
  Agent("node-1").Start();
  unsetenv("DROVER_TOKEN");
  Put(Update("env-check",
             "echo \"token=[$DROVER_TOKEN] node=[$DROVER_NODE_ID]\" > \"$WORK/env.seen\"",
             {{"match_ids", {"node-1"}}}));
  ASSERT_TRUE(Eventually([&] { return fs::exists(work_ / "env.seen"); })) << Agent("node-1").log();
  ASSERT_TRUE(Eventually(
      [&] { return testing::ReadAll(work_ / "env.seen").find('\n') != std::string::npos; }));
  EXPECT_EQ(testing::ReadAll(work_ / "env.seen"), "token=[] node=[node-1]\n");
}

TEST_F(AgentEndToEnd, KilledAgentRestartsItsWorkWithNoDuplicateAndNoOrphan) {
  // a workload with a child of its own: the grandchild is what an agent crash would orphan
  const std::string marker = "987654";
  const std::string leader = "sh -c sleep " + marker, grandchild = "sleep " + marker;
  Put(Update("long-task", "sleep " + marker + " & wait", {{"match_ids", {"node-1"}}},
             "on-failure"));
  ASSERT_TRUE(Eventually([&] { return CountProcesses(grandchild) == 1; }));
  ASSERT_TRUE(Eventually(
      [&] { return ExecutionOn("long-task", "node-1").value("state", "") == "running"; }));
  const std::vector<pid_t> before = Pids(grandchild);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(Pids(leader).size(), 1u);

  Agent("node-1").Kill();
  // PR_SET_PDEATHSIG reaches the group leader only: the shell dies with the agent, its child
  // lives on until an agent starts again on this data dir (docs/agent.md)
  ASSERT_TRUE(Eventually([&] { return Pids(leader).empty(); }));
  EXPECT_EQ(Pids(grandchild), before);

  Agent("node-1").Start();
  // the new agent killed the leftover group and started the work again: one grandchild, new
  const std::vector<pid_t> after = WaitForOneNewProcess(grandchild, before);
  ASSERT_EQ(after.size(), 1u);
  // stays one: the old one is gone and no second one appears
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Pids(grandchild), after);
  EXPECT_EQ(Pids(leader).size(), 1u);
  Json e = ExecutionOn("long-task", "node-1");
  EXPECT_EQ(e.value("state", ""), "running") << e;
  EXPECT_EQ(e.value("restarts", -1), 0) << "an agent restart is not the workload's failure";

  // and stopping the job ends the whole group
  ASSERT_EQ(controller_.Call("DELETE", "/api/v1/jobs/long-task").status, 200);
  EXPECT_TRUE(Eventually([&] { return CountProcesses(grandchild) == 0; }));
}

TEST_F(AgentEndToEnd, AgentRestartedWhileTheControllerIsDownResumesItsWorkAndReconcilesLater) {
  const std::string marker = "987652";
  const std::string grandchild = "sleep " + marker;
  Put(Update("offline-task", "sleep " + marker + " & wait", {{"match_ids", {"node-1"}}},
             "on-failure"));
  ASSERT_TRUE(Eventually([&] {
    return CountProcesses(grandchild) == 1 &&
           ExecutionOn("offline-task", "node-1").value("state", "") == "running";
  })) << Executions("offline-task");
  const std::string id = ExecutionOn("offline-task", "node-1").value("id", "");
  const std::vector<pid_t> first = Pids(grandchild);

  // the controller goes away: the agent notices and keeps running its last assignments
  controller_.Kill();
  ASSERT_TRUE(Eventually([&] {
    return Agent("node-1").log().find("heartbeat failed") != std::string::npos;
  })) << Agent("node-1").log();
  EXPECT_EQ(Pids(grandchild), first);

  // the agent crashes and starts again while the controller is still down: it resumes the
  // execution from --data-dir alone (the old group killed, the work started again)
  Agent("node-1").Kill();
  Agent("node-1").Start();
  const std::vector<pid_t> resumed = WaitForOneNewProcess(grandchild, first);
  ASSERT_EQ(resumed.size(), 1u);
  const Json saved =
      Json::parse(testing::ReadAll(Agent("node-1").data_dir() / "executions" / id / "state.json"),
                  nullptr, false);
  EXPECT_EQ(saved.value("state", ""), "running") << saved;
  EXPECT_FALSE(controller_.running());
  EXPECT_TRUE(Eventually([&] {
    return Agent("node-1").log().find("cannot register") != std::string::npos;
  })) << Agent("node-1").log();

  // the controller comes back on its store: the agent registers, reports the execution it
  // runs, and keeps it — same execution, same process, no second one
  ASSERT_TRUE(controller_.Start(/*keep_port=*/true)) << controller_.log();
  ASSERT_TRUE(Eventually([&] {
    Json e = ExecutionOn("offline-task", "node-1");
    return e.value("id", "") == id && e.value("state", "") == "running" &&
           HeartbeatsAnswered("node-1") >= 4;
  })) << Executions("offline-task")
      << AgentMetrics("node-1");
  EXPECT_EQ(Pids(grandchild), resumed);
  int active = 0;
  for (const Json& e : Executions("offline-task")) {
    if (e.value("node_id", "") == "node-1" && e.value("desired_state", "") != "stopped") ++active;
  }
  EXPECT_EQ(active, 1) << Executions("offline-task");
  EXPECT_EQ(ExecutionOn("offline-task", "node-1").value("restarts", -1), 0);
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

TEST_F(AgentEndToEnd, AlwaysRestartsAfterACleanExitWithAGrowingBackoffAndNeverDoesNot) {
  Put(Update("again", "date +%s%N >> \"$WORK/again.times\"", {{"match_ids", {"node-2"}}},
             "always"));
  Put(Update("once", "echo run >> \"$WORK/once.runs\"; exit 4", {{"match_ids", {"node-2"}}},
             "never"));
  // a clean exit restarts too, with the same backoff as a failure: 1 s, then 2 s
  ASSERT_TRUE(Eventually([&] { return Lines(work_ / "again.times").size() >= 3; }, 60s));
  std::vector<std::string> times = Lines(work_ / "again.times");
  const double gap1 = (std::stod(times[1]) - std::stod(times[0])) / 1e9;
  const double gap2 = (std::stod(times[2]) - std::stod(times[1])) / 1e9;
  EXPECT_GE(gap1, 0.9);
  EXPECT_GE(gap2, 1.9);
  EXPECT_GT(gap2, gap1 * 1.5);
  EXPECT_TRUE(Eventually([&] {
    Json e = ExecutionOn("again", "node-2");
    return e.value("restarts", 0) >= 2 && e.value("exit_code", Json()) == 0;
  })) << ExecutionOn("again", "node-2");
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
  Json Events(const std::string& name) {
    return controller_.Call("GET", "/api/v1/jobs/" + name + "/events?namespace=production")
        .Json()["items"];
  }
  // The events with `reason` written while `version` was the job's latest: after the
  // JobUpdated (or JobCreated) event of that version and before the next version's.
  Json EventsOfVersion(const std::string& name, int version, const std::string& reason) {
    Json out = Json::array();
    int current = 0;
    for (const Json& e : Events(name)) {
      const std::string r = e.value("reason", "");
      if (r == "JobCreated") current = 1;
      if (r == "JobUpdated") {
        const std::string m = e.value("message", "");
        current = std::atoi(m.substr(m.rfind(' ') + 1).c_str());  // "updated to version N"
      }
      if (current == version && r == reason) out.push_back(e);
    }
    return out;
  }
  Json ExecutionsOfVersion(const std::string& name, int version) {
    return controller_
        .Call("GET", "/api/v1/jobs/" + name +
                         "/executions?namespace=production&version=" + std::to_string(version))
        .Json()["items"];
  }
  // Messages of the log-processor pipeline that failed, as the node's health windows counted.
  double PipelineErrors(const std::string& node) {
    return MetricValue(AgentMetrics(node), "drover_agent_messages_total",
                       {"job=\"production/log-processor\"", "result=\"error\""});
  }
  double UnhealthyWindows(const std::string& node) {
    return MetricValue(AgentMetrics(node), "drover_agent_health_windows_total",
                       {"job=\"production/log-processor\"", "verdict=\"unhealthy\""});
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

TEST_F(PipelineEndToEnd, OutputOfRealAgentsIsReadBackThroughTheLogsRoutesAndDroverLogs) {
  // a pipeline's stdout output, and an update command's stdout and stderr, shipped by the
  // agents with their heartbeats (SPEC §8) and read back from the controller
  Append(R"({"msg":"shipped before the job"})");
  Put(Seed());
  Put(Update("say", "echo \"out from $DROVER_NODE_ID\"; echo \"err from $DROVER_NODE_ID\" >&2",
             {{"match_ids", {"node-3"}}}));
  const auto lines = [&](const std::string& path) {
    std::vector<std::string> out;
    const Json answer = controller_.Call("GET", path).Json();
    for (const Json& item : answer["items"]) {
      out.push_back(item.value("node_id", "") + " " + item.value("stream", "") + " " +
                    item.value("line", ""));
    }
    return out;
  };
  const std::string pipeline = "/api/v1/jobs/log-processor/logs?namespace=production&tail=100";
  const auto has = [&](const std::vector<std::string>& all, const std::string& prefix,
                       const std::string& text) {
    return std::any_of(all.begin(), all.end(), [&](const std::string& l) {
      return l.rfind(prefix, 0) == 0 && l.find(text) != std::string::npos;
    });
  };
  ASSERT_TRUE(Eventually([&] {
    const std::vector<std::string> all = lines(pipeline);
    return has(all, "node-1 stdout ", "shipped before the job") &&
           has(all, "node-2 stdout ", "shipped before the job");
  })) << controller_.Call("GET", pipeline).body;
  // what the pipeline prints later follows in a later heartbeat
  Append(R"({"msg":"shipped after the job started"})");
  ASSERT_TRUE(Eventually([&] {
    return has(lines(pipeline + "&node=node-2"), "node-2 stdout ", "shipped after the job started");
  })) << ::testing::PrintToString(lines(pipeline + "&node=node-2"));
  // ?node= keeps one node's lines, and each line names its execution
  for (const std::string& l : lines(pipeline + "&node=node-2")) {
    EXPECT_EQ(l.rfind("node-2 ", 0), 0u) << l;
  }
  std::string node1_execution;
  for (const Json& e : ExecutionsOfVersion("log-processor", 1)) {
    if (e.value("node_id", "") == "node-1") node1_execution = e.value("id", "");
  }
  ASSERT_FALSE(node1_execution.empty()) << ExecutionsOfVersion("log-processor", 1);
  const Json by_execution =
      controller_.Call("GET", "/api/v1/executions/" + node1_execution + "/logs?tail=10").Json();
  ASSERT_FALSE(by_execution["items"].empty()) << by_execution;
  EXPECT_EQ(by_execution["items"][0].value("execution_id", ""), node1_execution);
  EXPECT_THAT(by_execution.dump(), ::testing::HasSubstr("processed_at"));

  // an update command's two streams, kept apart
  EXPECT_TRUE(Eventually([&] {
    const std::vector<std::string> all = lines("/api/v1/jobs/say/logs");
    return has(all, "node-3 stdout ", "out from node-3") &&
           has(all, "node-3 stderr ", "err from node-3");
  })) << ::testing::PrintToString(lines("/api/v1/jobs/say/logs"));

  // and the same through the command line
  const testing::ProcessResult logs = testing::RunCommand(
      "env DROVER_CONFIG=/nonexistent/drover.yaml DROVER_PROFILE= DROVER_TOKEN= DROVER_ADDR=" +
      controller_.url() + " " + DROVER_BINARY + " logs log-processor -n production --node node-1");
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, ::testing::HasSubstr("shipped before the job"));
  EXPECT_THAT(logs.out, ::testing::HasSubstr("shipped after the job started"));
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
  // two nodes, 50% per wave: two waves, each started once
  EXPECT_EQ(Job("log-processor")["status"]["rollout"].value("total_waves", 0), 2)
      << Job("log-processor");
  const Json v2_waves = EventsOfVersion("log-processor", 2, "WaveStarted");
  ASSERT_EQ(v2_waves.size(), 2u) << Events("log-processor");
  // the second wave started only once the first wave's node was healthy (stable_at is set the
  // first time the controller sees it healthy; times are RFC 3339 in milliseconds, UTC)
  std::map<int, Json> by_wave;
  for (const Json& e : ExecutionsOfVersion("log-processor", 2)) by_wave[e.value("wave", 0)] = e;
  ASSERT_TRUE(by_wave.count(1) && by_wave.count(2)) << ExecutionsOfVersion("log-processor", 2);
  const Json& first = by_wave[1];
  ASSERT_TRUE(first["stable_at"].is_string()) << first;
  const std::string wave2_started = v2_waves[1].value("time", "");
  ASSERT_EQ(first["stable_at"].get<std::string>().size(), wave2_started.size());  // comparable
  EXPECT_THAT(v2_waves[1].value("message", ""), ::testing::HasSubstr("wave 2/2"));
  EXPECT_LE(first["stable_at"].get<std::string>(), wave2_started) << first << v2_waves;
  EXPECT_LE(first["stable_at"].get<std::string>(), by_wave[2].value("created_at", ""))
      << first << by_wave[2];
  EXPECT_NE(first.value("node_id", ""), by_wave[2].value("node_id", ""));
  // the pipeline's errors so far, as the agents counted them in their health windows
  double errors_before = 0, unhealthy_before = 0;
  for (const char* node : {"node-1", "node-2"}) {
    errors_before += PipelineErrors(node);
    unhealthy_before += UnhealthyWindows(node);
  }

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
  // why: the v3 node judged its windows unhealthy (errors counted in them) and said so; the
  // controller halted at the failure budget on that verdict, not at the health deadline. (The
  // v3 execution itself is gone from the API once stopped: a rolled-back version's executions
  // are collected when terminal; the node's own counters and the events remain.)
  EXPECT_EQ(EventsOfVersion("log-processor", 3, "WaveStarted").size(), 1u)
      << Events("log-processor");
  double errors_after = 0, unhealthy_after = 0;
  for (const char* node : {"node-1", "node-2"}) {
    errors_after += PipelineErrors(node);
    unhealthy_after += UnhealthyWindows(node);
  }
  EXPECT_GT(errors_after, errors_before);
  EXPECT_GE(unhealthy_after, unhealthy_before + 2);  // failure_threshold windows in a row
  const Json halted = EventsOfVersion("log-processor", 3, "Halted");
  ASSERT_EQ(halted.size(), 1u) << Events("log-processor");
  const std::string why = halted[0].value("message", "");
  EXPECT_THAT(why, ::testing::ContainsRegex("first: node-[12]: reported unhealthy"));
  EXPECT_THAT(why, ::testing::Not(::testing::HasSubstr("deadline")));
  const Json rolled_back = EventsOfVersion("log-processor", 3, "RolledBack");
  ASSERT_EQ(rolled_back.size(), 1u) << Events("log-processor");
  EXPECT_THAT(rolled_back[0].value("message", ""), ::testing::HasSubstr("(failure_budget)"));
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
