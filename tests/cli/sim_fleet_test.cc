// The simulated fleet (cli/sim_fleet.h) and `drover sim` against a real `drover controller`
// process on loopback (registration, labels, heartbeats, offline windows, restarts, a job run
// end to end), and against an in-process fake controller that scripts exact assignments
// (lifecycles, stops, long polls, protocol violations).
#include "cli/sim_fleet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "controller/http_server.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/run_process.h"

namespace drover::sim {
namespace {

using namespace std::chrono_literals;
using testing::ControllerProcess;
using ::testing::HasSubstr;
using testing::RunCommand;

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

std::vector<SimNode> Nodes(int n, const std::string& prefix = "sim-") {
  static const char* kRegions[] = {"eu", "us", "ap"};
  std::vector<SimNode> nodes;
  for (int i = 1; i <= n; ++i) {
    std::string number = std::to_string(i);
    nodes.push_back({prefix + std::string(5 - number.size(), '0') + number,
                     {{"region", kRegions[(i - 1) % 3]}, {"fleet", "sim"}}});
  }
  return nodes;
}

std::string NodeState(const ControllerProcess& c, const std::string& id) {
  Json node = c.Call("GET", "/api/v1/nodes/" + id).Json();
  return node.is_object() && node.contains("node") ? node["node"].value("state", "") : "";
}

std::string Drover(const std::string& args) { return std::string(DROVER_BINARY) + " " + args; }

// ---- against the real controller ----

class SimAgainstController : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start()) << controller_.log(); }
  FleetOptions Options(int nodes) {
    FleetOptions o;
    o.server = controller_.url();
    o.nodes = Nodes(nodes);
    o.connections = 4;
    return o;
  }
  ControllerProcess controller_{{"--store", "memory", "--heartbeat-interval", "1s"}};
};

TEST_F(SimAgainstController, TwoHundredNodesRegisterWithTheirLabelsAndHeartbeat) {
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(Options(200));
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().registered == 200; }, 5s))
      << (*fleet)->Counters().registered << " registered";
  Json nodes = controller_.Call("GET", "/api/v1/nodes").Json()["items"];
  ASSERT_EQ(nodes.size(), 200u);
  for (const Json& n : nodes) EXPECT_EQ(n["state"], "connected") << n;
  Json first = controller_.Call("GET", "/api/v1/nodes/sim-00001").Json()["node"];
  EXPECT_EQ(first["labels"], Json({{"region", "eu"}, {"fleet", "sim"}}));
  EXPECT_EQ(first["agent_version"], "drover-sim");
  EXPECT_EQ(controller_.Call("GET", "/api/v1/nodes?labels=region%3Dap").Json()["items"].size(),
            66u);
  // Registration spreads over one interval, then every node beats once per interval.
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().heartbeats_ok >= 400; }, 5s))
      << (*fleet)->Counters().heartbeats_ok;
  FleetCounters c = (*fleet)->Counters();
  EXPECT_EQ(c.registrations, 200);
  EXPECT_EQ(c.heartbeats_failed, 0);
  EXPECT_EQ(c.connection_errors, 0);
  EXPECT_EQ(c.malformed_answers, 0);
  EXPECT_NE(controller_.Call("GET", "/api/v1/nodes/sim-00200").Json()["node"]["last_heartbeat"],
            "");
  EXPECT_TRUE((*fleet)->Violations().empty());
}

TEST_F(SimAgainstController, RelabelReregistersAndAddedNodesJoin) {
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(Options(3));
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().registered == 3; }, 3s));
  (*fleet)->Relabel("sim-00002", {{"region", "mars"}});
  EXPECT_TRUE(WaitFor(
      [&] {
        return controller_.Call("GET", "/api/v1/nodes/sim-00002").Json()["node"]["labels"] ==
               Json({{"region", "mars"}});
      },
      3s));
  EXPECT_FALSE((*fleet)->AddNodes({{"sim-00001", {}}}).ok()) << "ids already simulated";
  ASSERT_TRUE((*fleet)->AddNodes(Nodes(2, "late-")).ok());
  EXPECT_TRUE(WaitFor([&] { return NodeState(controller_, "late-00002") == "connected"; }, 3s));
  EXPECT_EQ((*fleet)->Counters().nodes, 5);
}

TEST(SimOffline, WindowsAndSetOfflineDisconnectNodesThatReconnectAfter) {
  ControllerProcess controller({"--store", "memory", "--heartbeat-interval", "500ms"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  FleetOptions o;
  o.server = controller.url();
  o.nodes = Nodes(3);
  o.offline = {*ParseOfflineWindow("nodes=sim-00002,at=1s,for=4s")};
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(o);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().registered == 3; }, 3s));
  std::this_thread::sleep_for(900ms);
  (*fleet)->SetOffline("sim-00003", true);
  // Three missed intervals (1.5 s) make both disconnected; sim-00001 stays connected.
  EXPECT_TRUE(WaitFor([&] { return NodeState(controller, "sim-00002") == "disconnected"; }, 3s));
  EXPECT_TRUE(WaitFor([&] { return NodeState(controller, "sim-00003") == "disconnected"; }, 3s));
  EXPECT_EQ(NodeState(controller, "sim-00001"), "connected");
  EXPECT_EQ((*fleet)->Counters().offline, 2);
  (*fleet)->SetOffline("sim-00003", false);
  EXPECT_TRUE(WaitFor([&] { return NodeState(controller, "sim-00003") == "connected"; }, 1s))
      << "a node back online heartbeats at once";
  EXPECT_TRUE(WaitFor([&] { return NodeState(controller, "sim-00002") == "connected"; }, 5s))
      << "the window ends 5 s after the start";
  EXPECT_EQ((*fleet)->Counters().offline, 0);
}

TEST(SimRecovery, NodesReregisterAfterTheControllerRestartsWithAnEmptyStore) {
  ControllerProcess controller({"--store", "memory", "--heartbeat-interval", "500ms"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  FleetOptions o;
  o.server = controller.url();
  o.nodes = Nodes(20);
  o.connections = 2;
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(o);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().registered == 20; }, 3s));
  controller.Kill();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().heartbeats_failed > 0; }, 3s));
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(controller.Start(/*keep_port=*/true)) << controller.log();
  // The restarted controller knows no node: heartbeats get 404 and the nodes register again.
  EXPECT_TRUE(WaitFor(
      [&] { return controller.Call("GET", "/api/v1/nodes").Json()["items"].size() == 20; }, 8s))
      << controller.Call("GET", "/api/v1/nodes").body;
  FleetCounters c = (*fleet)->Counters();
  EXPECT_GT(c.connection_errors, 0);
  EXPECT_GE(c.registrations, 40);
}

TEST(SimStart, AnUnreachableServerIsUnavailable) {
  FleetOptions o;
  o.server = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  o.nodes = Nodes(1);
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(o);
  ASSERT_FALSE(fleet.ok());
  EXPECT_EQ(fleet.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(fleet.status().message(), HasSubstr("cannot reach the controller"));
  o.server = "https://127.0.0.1:1";
  EXPECT_EQ(Fleet::Start(o).status().code(), StatusCode::kInvalid);
  o.server = "http://127.0.0.1:1";
  o.nodes = {{"bad id", {}}};
  EXPECT_EQ(Fleet::Start(o).status().code(), StatusCode::kInvalid);
}

TEST(SimStart, ParsesServerUrls) {
  EXPECT_EQ(*ParseServerUrl("http://127.0.0.1:9010"),
            std::make_pair(std::string("127.0.0.1"), 9010));
  EXPECT_EQ(*ParseServerUrl("http://localhost:80/"), std::make_pair(std::string("localhost"), 80));
  EXPECT_EQ(*ParseServerUrl("http://[::1]:7"), std::make_pair(std::string("::1"), 7));
  EXPECT_EQ(ParseServerUrl("http://example.com")->second, 80);
  for (const char* bad : {"127.0.0.1:9010", "https://a:1", "http://:9", "http://a:0",
                          "http://a:99999", "http://a:1/api"}) {
    EXPECT_FALSE(ParseServerUrl(bad).ok()) << bad;
  }
}

// A pipeline on every node through the real control loop: a rolling rollout gated by health
// checks succeeds on what the fleet reports, and an update moves every node to v2.
TEST_F(SimAgainstController, ARollingRolloutSucceedsOnTheSimulatedFleet) {
  FleetOptions o = Options(12);
  o.long_poll = true;
  o.behaviour.pending_for = 50ms;
  o.behaviour.starting_for = 50ms;
  Result<std::unique_ptr<Fleet>> fleet = Fleet::Start(o);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->Counters().registered == 12; }, 3s));
  auto put = [&](const std::string& description) {
    Json spec = {
        {"name", "web"},
        {"type", "pipeline"},
        {"description", description},
        {"selector", {{"match_labels", {{"fleet", "sim"}}}}},
        {"config",
         {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
        {"rollout",
         {{"strategy", "rolling"},
          {"max_parallel", 50},
          {"health_check",
           {{"deadline", "10s"}, {"interval", "200ms"}, {"success_threshold", 1}}}}}};
    return controller_.Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump()).Json();
  };
  Json created = put("v1");
  std::string job_id = created.value("job_id", "");
  ASSERT_FALSE(job_id.empty()) << created;
  auto phase = [&] {
    return controller_.Call("GET", "/api/v1/jobs/web")
        .Json()["job"]["status"]["rollout"]
        .value("phase", "");
  };
  EXPECT_TRUE(WaitFor([&] { return phase() == "succeeded"; }, 12s))
      << controller_.Call("GET", "/api/v1/jobs/web").body;
  EXPECT_EQ((*fleet)->RunningVersions(job_id).size(), 12u);
  EXPECT_EQ((*fleet)->FirstReceived(job_id, 1).size(), 12u);
  put("v2");
  EXPECT_TRUE(WaitFor(
      [&] {
        std::map<std::string, int> versions = (*fleet)->RunningVersions(job_id);
        return phase() == "succeeded" && versions.size() == 12 &&
               std::all_of(versions.begin(), versions.end(),
                           [](const auto& v) { return v.second == 2; });
      },
      15s))
      << controller_.Call("GET", "/api/v1/jobs/web").body;
  EXPECT_EQ((*fleet)->Violations(), std::vector<std::string>());
}

// ---- against a fake controller that scripts the assignments ----

class FakeController {
 public:
  FakeController() {
    port_ = testing::FreePort();
    controller::HttpServerOptions options;
    options.port = port_;
    auto started = controller::HttpServer::Start(
        options, [this](controller::HttpRequest r, controller::Responder respond) {
          Handle(std::move(r), std::move(respond));
        });
    if (started.ok()) server_ = std::move(started).value();
  }
  ~FakeController() {
    std::vector<controller::Responder> parked;
    {
      std::lock_guard lock(mu_);
      for (auto& [node, responder] : polls_) parked.push_back(std::move(responder));
      polls_.clear();
    }
    for (auto& r : parked) r(controller::HttpResponse::FromJson(200, Answer("")));
    if (server_) server_->Stop();
  }

  bool ok() const { return server_ != nullptr; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Every node's assignments from now on (`assign(node_id)`); wakes long polls.
  void Assign(std::function<Json(const std::string&)> assign) {
    std::vector<std::pair<std::string, controller::Responder>> woken;
    {
      std::lock_guard lock(mu_);
      assign_ = std::move(assign);
      ++index_;
      changed_at_ = std::chrono::steady_clock::now();
      woken.assign(polls_.begin(), polls_.end());
      polls_.clear();
    }
    for (auto& [node, respond] : woken)
      respond(controller::HttpResponse::FromJson(200, Answer(node)));
  }

  // Every execution report a node sent, oldest first.
  std::vector<Json> Reports(const std::string& node) const {
    std::lock_guard lock(mu_);
    auto it = reports_.find(node);
    return it == reports_.end() ? std::vector<Json>() : it->second;
  }
  // The last heartbeat's executions of a node.
  Json LastExecutions(const std::string& node) const {
    std::lock_guard lock(mu_);
    auto it = last_.find(node);
    return it == last_.end() ? Json() : it->second;
  }
  int64_t heartbeats() const {
    std::lock_guard lock(mu_);
    return heartbeats_;
  }
  size_t parked_polls() const {
    std::lock_guard lock(mu_);
    return polls_.size();
  }
  std::chrono::steady_clock::time_point changed_at() const {
    std::lock_guard lock(mu_);
    return changed_at_;
  }

 private:
  Json Answer(const std::string& node) {
    Json list = assign_ && !node.empty() ? assign_(node) : Json::array();
    return {{"assignments", list}, {"index", index_}};
  }

  void Handle(controller::HttpRequest r, controller::Responder respond) {
    Json body = Json::parse(r.body, nullptr, false);
    std::unique_lock lock(mu_);
    if (r.path == "/healthz") {
      lock.unlock();
      return respond(controller::HttpResponse::FromJson(200, {{"status", "ok"}}));
    }
    if (r.path == "/api/v1/agent/register") {
      std::string node = body.value("node_id", "");
      lock.unlock();
      return respond(controller::HttpResponse::FromJson(
          200, {{"node_id", node}, {"heartbeat_interval_ms", 10'000}}));
    }
    if (r.path == "/api/v1/agent/heartbeat") {
      std::string node = body.value("node_id", "");
      ++heartbeats_;
      last_[node] = body["executions"];
      for (const Json& e : body["executions"]) reports_[node].push_back(e);
      Json answer = Answer(node);
      lock.unlock();
      return respond(controller::HttpResponse::FromJson(200, answer));
    }
    if (r.path == "/api/v1/agent/assignments") {
      std::string node = r.Query("node_id");
      if (r.Query("index") != std::to_string(index_)) {
        Json answer = Answer(node);
        lock.unlock();
        return respond(controller::HttpResponse::FromJson(200, answer));
      }
      polls_.emplace_back(node, std::move(respond));
      return;
    }
    lock.unlock();
    respond(controller::ErrorResponse(404, "not_found", "no route"));
  }

  int port_ = 0;
  std::unique_ptr<controller::HttpServer> server_;
  mutable std::mutex mu_;
  std::function<Json(const std::string&)> assign_;
  uint64_t index_ = 1;
  std::chrono::steady_clock::time_point changed_at_{};
  std::vector<std::pair<std::string, controller::Responder>> polls_;
  std::map<std::string, std::vector<Json>> reports_;
  std::map<std::string, Json> last_;
  int64_t heartbeats_ = 0;
};

Json Assignment(const std::string& node, const std::string& job_id, int version,
                const std::string& desired = "running", const std::string& type = "pipeline",
                const std::string& name = "web") {
  return {{"execution_id", "e-" + node + "-" + job_id + "-v" + std::to_string(version)},
          {"job_id", job_id},
          {"namespace", "default"},
          {"name", name},
          {"version", version},
          {"type", type},
          {"config", {{"input", {{"stdin", Json::object()}}}}},
          {"restart_policy", "on-failure"},
          {"timeouts", {{"execution_timeout", 0}}},
          {"health_check",
           {{"deadline", 10'000'000'000},
            {"interval", 200'000'000},
            {"success_threshold", 1},
            {"failure_threshold", 1},
            {"max_error_rate", 0.1}}},
          {"desired_state", desired}};
}

class SimAgainstFake : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fake_.ok()); }
  Result<std::unique_ptr<Fleet>> Start(int nodes, std::vector<std::string> rules = {},
                                       bool long_poll = false,
                                       std::chrono::milliseconds interval = 100ms) {
    FleetOptions o;
    o.server = fake_.url();
    o.nodes = Nodes(nodes);
    o.heartbeat_interval = interval;
    o.registration_spread = 100ms;
    o.long_poll = long_poll;
    o.connections = 2;
    for (const std::string& r : rules) o.rules.push_back(*ParseBehaviourRule(r));
    return Fleet::Start(o);
  }
  // The last state `node` reported for `execution`, "" if none.
  std::string LastState(const std::string& node, const std::string& execution,
                        const char* field = "state") {
    std::string state;
    for (const Json& e : fake_.Reports(node)) {
      if (e["execution_id"] == execution) state = e[field];
    }
    return state;
  }
  FakeController fake_;
};

TEST_F(SimAgainstFake, AssignedExecutionsGoThroughTheirLifecycleAndAreObservable) {
  Result<std::unique_ptr<Fleet>> fleet = Start(4);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 1)}); });
  std::string e = "e-sim-00003-j-1-v1";
  EXPECT_TRUE(WaitFor([&] { return LastState("sim-00003", e, "health") == "healthy"; }, 3s));
  std::set<std::string> states;
  for (const Json& r : fake_.Reports("sim-00003")) {
    states.insert(r["state"].get<std::string>());
    EXPECT_EQ(r["job_id"], "j-1");
    EXPECT_EQ(r["version"], 1);
  }
  EXPECT_TRUE(states.count("running"));
  EXPECT_EQ((*fleet)->RunningVersions("j-1"),
            (std::map<std::string, int>{
                {"sim-00001", 1}, {"sim-00002", 1}, {"sim-00003", 1}, {"sim-00004", 1}}));
  EXPECT_EQ((*fleet)->FirstReceived("j-1").size(), 4u);
  EXPECT_EQ((*fleet)->FirstReceived("j-1", 2).size(), 0u);
  std::vector<sim::Assignment> assignments = (*fleet)->Assignments("sim-00003");
  ASSERT_EQ(assignments.size(), 1u);
  EXPECT_EQ(assignments[0].execution_id, e);
  EXPECT_EQ(assignments[0].type, "pipeline");
  EXPECT_EQ((*assignments[0].spec)["restart_policy"], "on-failure");
  EXPECT_EQ(assignments[0].spec, (*fleet)->Assignments("sim-00001")[0].spec)
      << "one spec shared by every node of the version";
  Json now = (*fleet)->Executions("sim-00003");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0]["health"], "healthy");
  EXPECT_GE((*fleet)->ExecutionStates()["default/web v1 running"], 1);
  EXPECT_TRUE((*fleet)->Violations().empty());
}

TEST_F(SimAgainstFake, AStopIsReportedOnceAndTheExecutionIsThenDropped) {
  Result<std::unique_ptr<Fleet>> fleet = Start(1);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  std::string e = "e-sim-00001-j-1-v1";
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 1)}); });
  ASSERT_TRUE(WaitFor([&] { return LastState("sim-00001", e) == "running"; }, 3s));
  // The controller keeps listing the execution as stopped: reported stopped once, then absent,
  // and never started again.
  fake_.Assign(
      [](const std::string& node) { return Json::array({Assignment(node, "j-1", 1, "stopped")}); });
  ASSERT_TRUE(WaitFor([&] { return LastState("sim-00001", e) == "stopped"; }, 3s));
  int64_t beats = fake_.heartbeats();
  ASSERT_TRUE(WaitFor([&] { return fake_.heartbeats() >= beats + 5; }, 3s));
  EXPECT_EQ(fake_.LastExecutions("sim-00001"), Json::array());
  int stopped_reports = 0;
  for (const Json& r : fake_.Reports("sim-00001")) stopped_reports += r["state"] == "stopped";
  EXPECT_EQ(stopped_reports, 1);
  EXPECT_EQ(LastState("sim-00001", e), "stopped");
  EXPECT_TRUE((*fleet)->RunningVersions("j-1").empty());
  // An execution the controller stops listing is stopped too.
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-2", 1)}); });
  ASSERT_TRUE(
      WaitFor([&] { return LastState("sim-00001", "e-sim-00001-j-2-v1") == "running"; }, 3s));
  fake_.Assign([](const std::string&) { return Json::array(); });
  EXPECT_TRUE(
      WaitFor([&] { return LastState("sim-00001", "e-sim-00001-j-2-v1") == "stopped"; }, 3s));
}

TEST_F(SimAgainstFake, BehaviourRulesPickExactlyTheirShareOfNodes) {
  Result<std::unique_ptr<Fleet>> fleet =
      Start(10, {"job=web,version=2,nodes=50%:unhealthy", "job=web,version=2,count=10:crash"});
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 2)}); });
  auto count = [&](const std::string& field, const std::string& value) {
    int n = 0;
    for (const std::string& node : (*fleet)->NodeIds()) {
      n += LastState(node, "e-" + node + "-j-1-v2", field.c_str()) == value;
    }
    return n;
  };
  // failure_threshold 1 and windows of 200 ms: verdicts within about half a second.
  EXPECT_TRUE(WaitFor([&] { return count("health", "unhealthy") == 10; }, 3s));
  int crashed = 0;
  for (const std::string& node : (*fleet)->NodeIds()) {
    for (const Json& r : fake_.Reports(node)) crashed += r["restarts"].get<int>() > 0 ? 1 : 0;
  }
  EXPECT_GT(crashed, 0) << "the other half crash-loops";
  int unhealthy_without_restarts = 0;
  for (const std::string& node : (*fleet)->NodeIds()) {
    bool restarted = false;
    for (const Json& r : fake_.Reports(node)) restarted |= r["restarts"].get<int>() > 0;
    unhealthy_without_restarts += restarted ? 0 : 1;
  }
  EXPECT_EQ(unhealthy_without_restarts, 5);
}

TEST_F(SimAgainstFake, CompletedQueriesReportTheirResults) {
  Result<std::unique_ptr<Fleet>> fleet = Start(2);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  fake_.Assign([](const std::string& node) {
    return Json::array({Assignment(node, "j-q", 1, "running", "query", "count-lines")});
  });
  std::string e = "e-sim-00002-j-q-v1";
  ASSERT_TRUE(WaitFor([&] { return LastState("sim-00002", e) == "completed"; }, 3s));
  Json last = fake_.LastExecutions("sim-00002");
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0]["exit_code"], 0);
  EXPECT_EQ(last[0]["results"], Json::parse(R"([{"node_id":"sim-00002","job":"count-lines"}])"));
}

TEST_F(SimAgainstFake, LongPollsDeliverChangesWithoutWaitingForAHeartbeat) {
  // Heartbeats every 10 s: only the poll can bring the change in time.
  Result<std::unique_ptr<Fleet>> fleet = Start(5, {}, /*long_poll=*/true, 10s);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return fake_.parked_polls() == 5; }, 5s)) << fake_.parked_polls();
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 1)}); });
  ASSERT_TRUE(WaitFor([&] { return (*fleet)->FirstReceived("j-1").size() == 5; }, 2s));
  for (const auto& [node, at] : (*fleet)->FirstReceived("j-1")) {
    EXPECT_LT(at - fake_.changed_at(), 500ms) << node;
  }
  // The node reports the new execution at once instead of at its next heartbeat.
  EXPECT_TRUE(WaitFor([&] { return !LastState("sim-00004", "e-sim-00004-j-1-v1").empty(); }, 2s));
  EXPECT_TRUE(WaitFor([&] { return fake_.parked_polls() == 5; }, 2s)) << "polling again";
}

TEST_F(SimAgainstFake, TwoRunningExecutionsOfOneJobAreAViolation) {
  Result<std::unique_ptr<Fleet>> fleet = Start(2);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  fake_.Assign([](const std::string& node) {
    Json list = Json::array({Assignment(node, "j-1", 1)});
    if (node == "sim-00002") list.push_back(Assignment(node, "j-1", 2));
    return list;
  });
  ASSERT_TRUE(WaitFor([&] { return !(*fleet)->Violations().empty(); }, 3s));
  std::vector<std::string> violations = (*fleet)->Violations();
  ASSERT_EQ(violations.size(), 1u) << "recorded once, not once per heartbeat";
  EXPECT_THAT(violations[0], HasSubstr("node sim-00002: told to run 2 executions of job j-1"));
  EXPECT_THAT(violations[0], HasSubstr("e-sim-00002-j-1-v2 (v2)"));
}

TEST_F(SimAgainstFake, AVersionGoingBackMustStopTheNewerExecutionFirst) {
  Result<std::unique_ptr<Fleet>> fleet = Start(2);
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 2)}); });
  ASSERT_TRUE(WaitFor(
      [&] {
        return LastState("sim-00001", "e-sim-00001-j-1-v2") == "running" &&
               LastState("sim-00002", "e-sim-00002-j-1-v2") == "running";
      },
      3s));
  // sim-00001 is rolled back properly (v2 stopped, reported, then v1); sim-00002 is not.
  fake_.Assign([](const std::string& node) {
    return Json::array(
        {node == "sim-00001" ? Assignment(node, "j-1", 2, "stopped") : Assignment(node, "j-1", 1)});
  });
  ASSERT_TRUE(
      WaitFor([&] { return LastState("sim-00001", "e-sim-00001-j-1-v2") == "stopped"; }, 3s));
  fake_.Assign([](const std::string& node) { return Json::array({Assignment(node, "j-1", 1)}); });
  ASSERT_TRUE(
      WaitFor([&] { return LastState("sim-00001", "e-sim-00001-j-1-v1") == "running"; }, 3s));
  std::vector<std::string> violations = (*fleet)->Violations();
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(violations);
  EXPECT_THAT(violations[0], HasSubstr("node sim-00002: job j-1 went back from v2"));
  EXPECT_EQ((*fleet)->RunningVersions("j-1"),
            (std::map<std::string, int>{{"sim-00001", 1}, {"sim-00002", 1}}));
}

// ---- the command ----

TEST(SimCommand, HelpDocumentsTheGrammarAndBadFlagsAreUsageErrors) {
  auto help = RunCommand(Drover("sim --help"));
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, HasSubstr("--behaviour RULE"));
  EXPECT_THAT(help.out, HasSubstr("MATCHER := job=NAME"));
  EXPECT_THAT(help.out, HasSubstr("--offline"));
  struct Case {
    std::string args;
    std::string message;
  };
  std::vector<Case> cases = {
      {"sim --nodes lots", "--nodes"},
      {"sim --nodes 0", "--nodes"},
      {"sim --behaviour 'job=web:sideways'", "--behaviour"},
      {"sim --offline 'count=2'", "--offline"},
      {"sim --heartbeat-interval soon", "--heartbeat-interval"},
      {"sim --label 'bad key=x'", "--label"},
      {"sim --label-values role", "--label-values"},
      {"sim --server ftp://x", "--server"},
      {"sim --connections 0", "--connections"},
      {"sim --duration", "--duration needs a value"},
      {"sim --frobnicate", "unknown flag \"--frobnicate\""},
  };
  for (const Case& c : cases) {
    auto r = RunCommand(Drover(c.args));
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args;
  }
  EXPECT_THAT(RunCommand(Drover("--help")).out, HasSubstr("sim "));
}

TEST(SimCommand, ExitsOneWhenTheServerCannotBeReached) {
  auto r = RunCommand(Drover("sim --nodes 2 --duration 1s --server http://127.0.0.1:" +
                             std::to_string(testing::FreePort())));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot reach the controller"));
}

TEST(SimCommand, StopsCleanlyOnSigterm) {
  ControllerProcess controller({"--store", "memory", "--heartbeat-interval", "1s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  auto r = RunCommand("timeout --preserve-status -s TERM 1.5 " +
                      Drover("sim --nodes 3 --server " + controller.url()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stopped (SIGTERM)"));
  EXPECT_THAT(r.out, HasSubstr("drover sim: 3 nodes (3 registered, 0 offline)"));
}

TEST(SimCommand, RunsAFleetForItsDurationAndReports) {
  ControllerProcess controller({"--store", "memory", "--heartbeat-interval", "1s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  auto r = RunCommand("DROVER_ADDR=" + controller.url() + " " +
                      Drover("sim --nodes 6 --id-prefix edge- --label team=ops "
                             "--label-values zone=a,b,c --duration 2500ms --report-every 1s "
                             "--heartbeat-interval 500ms"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("drover sim: 6 nodes (6 registered, 0 offline)"));
  EXPECT_THAT(r.out, HasSubstr("heartbeats/s"));
  EXPECT_THAT(r.err, HasSubstr("stopped (the --duration passed)"));
  Json node = controller.Call("GET", "/api/v1/nodes/edge-00005").Json()["node"];
  EXPECT_EQ(node["labels"], Json({{"team", "ops"}, {"zone", "b"}}));
  EXPECT_EQ(controller.Call("GET", "/api/v1/nodes?labels=zone%3Dc").Json()["items"].size(), 2u);
}

}  // namespace
}  // namespace drover::sim
