// Execution logs over HTTP against the real `drover controller`: chunks shipped with heartbeats
// (resends dropped, gaps noted, only a node's own executions), both /logs routes with their tail,
// node and namespace parameters, 400 on bad input, 404 on unknown jobs and executions, and the
// tails' loss on a restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tests/testing/api_checks.h"
#include "tests/testing/controller_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::ElementsAre;
using testing::HttpReply;
using Json = nlohmann::json;

Json Spec(const std::string& name, const std::string& ns = "default") {
  return {{"name", name},
          {"namespace", ns},
          {"type", "pipeline"},
          {"selector", {{"match_labels", {{"role", "web"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

Json Chunk(const std::string& execution_id, const std::string& stream, uint64_t offset,
           const std::string& data) {
  return {{"execution_id", execution_id}, {"stream", stream}, {"offset", offset}, {"data", data}};
}

// A node that speaks just enough of the agent protocol: it reports its executions running and
// ships the log chunks it is given.
class FakeNode {
 public:
  // `token`: the agent token to send when the controller has auth on.
  FakeNode(const ControllerProcess& controller, std::string id, std::string token = "")
      : controller_(controller), id_(std::move(id)) {
    if (!token.empty()) headers_["Authorization"] = "Bearer " + token;
    controller_.Call("POST", "/api/v1/agent/register",
                     Json{{"node_id", id_}, {"labels", {{"role", "web"}}}}.dump(), headers_);
  }

  // A heartbeat shipping `chunks`.
  HttpReply Heartbeat(const std::vector<Json>& chunks = {}) {
    return HeartbeatWithLogs(chunks.empty() ? Json() : Json(chunks));
  }

  // A heartbeat whose `logs` field is `logs` (left out when null).
  HttpReply HeartbeatWithLogs(const Json& logs) {
    Json executions = Json::array();
    for (const auto& [execution_id, job_id] : running_) {
      executions.push_back({{"execution_id", execution_id},
                            {"job_id", job_id},
                            {"version", 1},
                            {"state", "running"},
                            {"exit_code", nullptr},
                            {"restarts", 0},
                            {"health", "healthy"}});
    }
    Json body = {{"node_id", id_}, {"executions", executions}};
    if (!logs.is_null()) body["logs"] = logs;
    HttpReply reply = controller_.Call("POST", "/api/v1/agent/heartbeat", body.dump(), headers_);
    const Json answer = reply.Json();
    if (reply.status == 200 && answer["assignments"].is_array()) {
      for (const Json& a : answer["assignments"]) {
        if (a["desired_state"] == "running") {
          running_[a["execution_id"].get<std::string>()] = a["job_id"].get<std::string>();
        }
      }
    }
    return reply;
  }

  // The execution of `job_id` the controller assigned here, or "".
  std::string ExecutionOf(const std::string& job_id) const {
    for (const auto& [execution_id, job] : running_) {
      if (job == job_id) return execution_id;
    }
    return "";
  }

 private:
  const ControllerProcess& controller_;
  std::string id_;
  std::map<std::string, std::string> headers_;
  std::map<std::string, std::string> running_;  // execution id -> job id
};

// Heartbeats as every node, as their agents would, until each has an execution of `job_id` (the
// control loop waits out its start-up grace first); false after a generous wait.
bool WaitForPlacement(const std::string& job_id, std::vector<FakeNode*> nodes) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    bool placed = true;
    for (FakeNode* node : nodes) {
      node->Heartbeat();
      placed = placed && !node->ExecutionOf(job_id).empty();
    }
    if (placed) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<std::string> Lines(const Json& body) {
  std::vector<std::string> out;
  for (const Json& item : body["items"]) out.push_back(item["line"]);
  return out;
}

class ControllerLogs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(controller_.Start()) << controller_.log();
    HttpReply put = controller_.Call("PUT", "/api/v1/jobs", Spec("web").dump());
    ASSERT_EQ(put.status, 201) << put.body;
    job_id_ = put.Json()["job_id"].get<std::string>();
  }

  Json Get(const std::string& path, int want_status = 200) {
    HttpReply r = controller_.Call("GET", path);
    EXPECT_EQ(r.status, want_status) << path << ": " << r.body;
    return r.Json();
  }

  ControllerProcess controller_{{"--heartbeat-interval", "1s"}};
  std::string job_id_;
};

TEST_F(ControllerLogs, HeartbeatChunksAreServedPerExecutionAndPerJob) {
  FakeNode n1(controller_, "n1");
  FakeNode n2(controller_, "n2");
  ASSERT_TRUE(WaitForPlacement(job_id_, {&n1, &n2})) << controller_.log();
  std::string e1 = n1.ExecutionOf(job_id_);
  std::string e2 = n2.ExecutionOf(job_id_);
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 0, "starting\nready\n")}).status, 200);
  ASSERT_EQ(n2.Heartbeat({Chunk(e2, "stderr", 0, "warning: low disk\n")}).status, 200);
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 15, "serving\npart")}).status, 200);

  Json one = Get("/api/v1/executions/" + e1 + "/logs");
  EXPECT_THAT(Lines(one), ElementsAre("starting", "ready", "serving", "part"));
  EXPECT_EQ(one["truncated"], false);
  EXPECT_TRUE(one["next_token"].is_null());
  const Json& first = one["items"][0];
  EXPECT_EQ(first["execution_id"], e1);
  EXPECT_EQ(first["node_id"], "n1");
  EXPECT_EQ(first["job_id"], job_id_);
  EXPECT_EQ(first["version"], 1);
  EXPECT_EQ(first["stream"], "stdout");
  EXPECT_TRUE(first["time"].is_string());
  EXPECT_EQ(one["items"][3]["partial"], true);

  Json job = Get("/api/v1/jobs/web/logs");
  EXPECT_THAT(Lines(job), ElementsAre("starting", "ready", "warning: low disk", "serving", "part"))
      << "oldest first, in order of arrival";
  EXPECT_EQ(job["items"][2]["node_id"], "n2");
  EXPECT_EQ(job["items"][2]["stream"], "stderr");
  EXPECT_THAT(Lines(Get("/api/v1/jobs/web/logs?node=n2")), ElementsAre("warning: low disk"));
  EXPECT_THAT(Lines(Get("/api/v1/jobs/" + job_id_ + "/logs?node=n1&tail=2")),
              ElementsAre("serving", "part"));
  EXPECT_EQ(Get("/api/v1/jobs/web/logs?tail=2")["truncated"], true);
  EXPECT_THAT(Lines(Get("/api/v1/jobs/web/logs?node=nobody")), ElementsAre());
  EXPECT_THAT(Lines(Get("/api/v1/executions/" + e1 + "/logs?tail=0")), ElementsAre());
}

TEST_F(ControllerLogs, ResentChunksAreIgnoredAndGapsAreNoted) {
  FakeNode n1(controller_, "n1");
  ASSERT_TRUE(WaitForPlacement(job_id_, {&n1})) << controller_.log();
  std::string e1 = n1.ExecutionOf(job_id_);
  std::vector<Json> chunk = {Chunk(e1, "stdout", 0, "once\n")};
  ASSERT_EQ(n1.Heartbeat(chunk).status, 200);
  ASSERT_EQ(n1.Heartbeat(chunk).status, 200) << "a resend after a lost answer";
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 2, "ce\nmore\n")}).status, 200);
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 1000, "after the gap\n")}).status, 200);
  EXPECT_THAT(Lines(Get("/api/v1/executions/" + e1 + "/logs")),
              ElementsAre("once", "more", "[... 990 bytes skipped ...]", "after the gap"));
}

TEST_F(ControllerLogs, ANodeCannotWriteAnotherNodesExecutionOrAnUnknownOne) {
  FakeNode n1(controller_, "n1");
  FakeNode n2(controller_, "n2");
  ASSERT_TRUE(WaitForPlacement(job_id_, {&n1})) << controller_.log();
  std::string e1 = n1.ExecutionOf(job_id_);
  EXPECT_EQ(n2.Heartbeat({Chunk(e1, "stdout", 0, "forged\n"), Chunk("e-nope", "stdout", 0, "x\n")})
                .status,
            200);
  Json body = Get("/api/v1/executions/" + e1 + "/logs");
  EXPECT_THAT(Lines(body), ElementsAre()) << "known execution, nothing of its own shipped";
  Get("/api/v1/executions/e-nope/logs", 404);
}

TEST_F(ControllerLogs, UnknownJobsAndExecutionsAre404AndTheJobRouteTakesANamespace) {
  EXPECT_TRUE(testing::IsErrorBody(controller_.Call("GET", "/api/v1/jobs/nope/logs"), "not_found"));
  EXPECT_TRUE(
      testing::IsErrorBody(controller_.Call("GET", "/api/v1/executions/e-nope/logs"), "not_found"));
  ASSERT_EQ(controller_.Call("PUT", "/api/v1/jobs", Spec("api", "prod").dump()).status, 201);
  Get("/api/v1/jobs/api/logs", 404);
  EXPECT_THAT(Lines(Get("/api/v1/jobs/api/logs?namespace=prod")), ElementsAre());
}

TEST_F(ControllerLogs, ABadTailIs400NamingTheParameter) {
  for (const char* bad : {"-1", "abc", "10001", "1.5", "", "99999999999999999999"}) {
    for (const std::string& route :
         {std::string("/api/v1/jobs/web/logs"), std::string("/api/v1/executions/e-nope/logs")}) {
      std::string path = route + "?tail=" + bad;
      if (std::string(bad).empty()) continue;  // empty means the default
      HttpReply r = controller_.Call("GET", path);
      EXPECT_EQ(r.status, 400) << path;
      EXPECT_TRUE(testing::IsErrorBody(r, "invalid")) << path;
      EXPECT_EQ(r.Json()["error"]["details"][0]["field"], "tail") << path;
    }
  }
  Get("/api/v1/jobs/web/logs?tail=10000");
  Get("/api/v1/jobs/web/logs?tail=");
}

TEST_F(ControllerLogs, TheOpenApiDocumentNamesTheLogRoutesQueryParameters) {
  Json doc = Get("/openapi.json");
  auto query_params = [&](const std::string& path) {
    std::set<std::string> names;
    for (const Json& p : doc["paths"][path]["get"]["parameters"]) {
      if (p["in"] == "query") names.insert(p["name"].get<std::string>());
    }
    return names;
  };
  EXPECT_EQ(query_params("/api/v1/jobs/{job}/logs"),
            (std::set<std::string>{"namespace", "node", "tail"}));
  EXPECT_EQ(query_params("/api/v1/executions/{id}/logs"), (std::set<std::string>{"tail"}));
  EXPECT_EQ(query_params("/api/v1/jobs/{job}/executions"),
            (std::set<std::string>{"namespace", "state", "version"}));
}

TEST_F(ControllerLogs, MalformedLogsMakeTheWholeHeartbeat400) {
  FakeNode n1(controller_, "n1");
  ASSERT_TRUE(WaitForPlacement(job_id_, {&n1})) << controller_.log();
  std::string e1 = n1.ExecutionOf(job_id_);
  struct Case {
    Json logs;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {"text", "logs"},
           {{42}, "logs[0]"},
           {{Chunk(e1, "stdin", 0, "x\n")}, "logs[0].stream"},
           {{{{"execution_id", e1}, {"stream", "stdout"}, {"offset", -4}, {"data", "x"}}},
            "logs[0].offset"},
           {{{{"execution_id", e1}, {"stream", "stdout"}, {"offset", 0}, {"data", 12}}},
            "logs[0].data"},
           {{Chunk(e1, "stdout", 0, "fine\n"), {{"execution_id", e1}}}, "logs[1].stream"}}) {
    HttpReply r = n1.HeartbeatWithLogs(c.logs);
    EXPECT_EQ(r.status, 400) << c.logs;
    EXPECT_TRUE(testing::IsErrorBody(r, "invalid")) << r.body;
    EXPECT_EQ(r.Json()["error"]["details"][0]["field"], c.field) << r.body;
  }
  EXPECT_THAT(Lines(Get("/api/v1/executions/" + e1 + "/logs")), ElementsAre())
      << "nothing of a rejected heartbeat is kept";
}

TEST_F(ControllerLogs, ARestartLosesTheTailsAndTheNextChunkShowsTheGap) {
  FakeNode n1(controller_, "n1");
  ASSERT_TRUE(WaitForPlacement(job_id_, {&n1})) << controller_.log();
  std::string e1 = n1.ExecutionOf(job_id_);
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 0, "before\n")}).status, 200);
  ASSERT_EQ(controller_.Stop(), 0);
  ASSERT_TRUE(controller_.Start(/*keep_port=*/true)) << controller_.log();
  EXPECT_THAT(Lines(Get("/api/v1/executions/" + e1 + "/logs")), ElementsAre())
      << "the execution is known, its tail is gone";
  controller_.Call("POST", "/api/v1/agent/register",
                   Json{{"node_id", "n1"}, {"labels", {{"role", "web"}}}}.dump());
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 7, "after\n")}).status, 200);
  EXPECT_THAT(Lines(Get("/api/v1/jobs/web/logs")),
              ElementsAre("[... 7 bytes skipped ...]", "after"));
}

TEST(ControllerLogsAuth, AnExecutionAndItsLogsAreReadableOnlyInItsNamespace) {
  const std::string admin = "admin-logs-5f4e3d2c1b0a9988";
  const std::string reader_prod = "reader-prod-logs-77665544";
  const std::string reader_default = "reader-default-logs-3322";
  const std::string agent = "agent-logs-aabbccddeeff0011";
  std::filesystem::path dir = testing::MakeTempDir("drover-logs-auth");
  std::ofstream(dir / "tokens") << admin << " admin\n"
                                << reader_prod << " reader:prod\n"
                                << reader_default << " reader:default\n"
                                << agent << " agent\n";
  ControllerProcess controller(
      {"--auth-token-file", (dir / "tokens").string(), "--heartbeat-interval", "1s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  auto as = [](const std::string& token) {
    return std::map<std::string, std::string>{{"Authorization", "Bearer " + token}};
  };
  HttpReply put = controller.Call("PUT", "/api/v1/jobs", Spec("web").dump(), as(admin));
  ASSERT_EQ(put.status, 201) << put.body;
  std::string job_id = put.Json()["job_id"].get<std::string>();
  FakeNode n1(controller, "n1", agent);
  ASSERT_TRUE(WaitForPlacement(job_id, {&n1})) << controller.log();
  std::string e1 = n1.ExecutionOf(job_id);
  ASSERT_EQ(n1.Heartbeat({Chunk(e1, "stdout", 0, "private\n")}).status, 200);

  const std::string route = "/api/v1/executions/" + e1 + "/logs";
  EXPECT_EQ(controller.Call("GET", route).status, 401);
  EXPECT_EQ(controller.Call("GET", route, "", as(reader_prod)).status, 403);
  EXPECT_EQ(controller.Call("GET", "/api/v1/jobs/web/logs", "", as(reader_prod)).status, 403);
  EXPECT_THAT(Lines(controller.Call("GET", route, "", as(reader_default)).Json()),
              ElementsAre("private"));
  EXPECT_EQ(controller.Call("GET", "/api/v1/jobs/web/logs", "", as(admin)).status, 200);
  // the execution itself is scoped the same way
  const std::string execution = "/api/v1/executions/" + e1;
  EXPECT_EQ(controller.Call("GET", execution, "", as(reader_prod)).status, 403);
  HttpReply own = controller.Call("GET", execution, "", as(reader_default));
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(own.Json()["execution"]["id"], e1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace drover
