// The real `drover controller` over HTTP on loopback: the SPEC §3 table, restart persistence,
// crash safety under SIGKILL, nodes and the agent endpoints, OpenAPI coverage, and the shared
// conformance checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "tests/testing/api_checks.h"
#include "tests/testing/controller_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::HasSubstr;
using testing::HttpReply;
using Json = nlohmann::json;

Json Spec(const std::string& name, const std::string& ns = "default") {
  return {{"name", name},
          {"namespace", ns},
          {"type", "pipeline"},
          {"labels", {{"team", "logs"}}},
          {"selector", {{"match_labels", {{"role", "web"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

Json Put(const ControllerProcess& c, const Json& spec, bool dry_run = false, bool force = false,
         int* status = nullptr) {
  HttpReply r = c.Call("PUT", "/api/v1/jobs",
                       Json{{"dry_run", dry_run}, {"force", force}, {"spec", spec}}.dump());
  if (status != nullptr) *status = r.status;
  return r.Json();
}

int64_t Revision(const ControllerProcess& c) {
  return c.Call("GET", "/readyz").Json().value("store_revision", int64_t{-1});
}

// The revision once the control loop has settled (it writes status after every PUT).
int64_t QuietRevision(const ControllerProcess& c) { return testing::WaitForQuietStore(c.port()); }

// The reasons of a job's events, oldest first.
std::vector<std::string> EventReasons(const ControllerProcess& c, const std::string& job) {
  std::vector<std::string> out;
  const Json events = c.Call("GET", "/api/v1/jobs/" + job + "/events").Json();
  for (const Json& e : events["items"]) out.push_back(e["reason"]);
  return out;
}

class ControllerApi : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start()) << controller_.log(); }
  ControllerProcess controller_{{"--heartbeat-interval", "1s"}};
};

TEST_F(ControllerApi, NewJobIs201WithIdVersionWarningsAndJob) {
  int status = 0;
  Json spec = Spec("web-logs");
  spec["meta"] = {{"expanso.io/owner", "me"}};
  Json body = Put(controller_, spec, false, false, &status);
  EXPECT_EQ(status, 201) << body;
  EXPECT_THAT(body["job_id"].get<std::string>(), ::testing::StartsWith("j-"));
  EXPECT_EQ(body["version"], 1);
  ASSERT_EQ(body["warnings"].size(), 1u) << body;
  EXPECT_THAT(body["warnings"][0].get<std::string>(), HasSubstr("expanso.io/owner"));
  EXPECT_EQ(body["job"]["status"]["state"], "pending");
  EXPECT_EQ(body["job"]["status"]["rollout"]["phase"], "progressing");
  EXPECT_EQ(body["job"]["spec"]["meta"], Json::object()) << "reserved meta is dropped";
  // The job, its first version and its first event are there at once (the control loop adds
  // its own events after the response).
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/web-logs/versions").Json()["items"].size(), 1u);
  std::vector<std::string> reasons = EventReasons(controller_, "web-logs");
  ASSERT_GE(reasons.size(), 1u);
  EXPECT_EQ(reasons[0], "JobCreated");
}

TEST_F(ControllerApi, SameSpecIs422AndWritesNothing) {
  Put(controller_, Spec("a"));
  int64_t before = QuietRevision(controller_);
  int status = 0;
  Json body = Put(controller_, Spec("a"), false, false, &status);
  EXPECT_EQ(status, 422);
  EXPECT_EQ(body["error"]["code"], "unchanged");
  EXPECT_EQ(Revision(controller_), before);
}

TEST_F(ControllerApi, AppliedSetIsRecordedInReservedMetaAndNeverMakesAVersion) {
  auto put = [&](const Json& spec, const Json& set, int* status) {
    Json body = {{"spec", spec}};
    if (!set.is_null()) body["applied_set"] = set;
    HttpReply r = controller_.Call("PUT", "/api/v1/jobs", body.dump());
    *status = r.status;
    return r.Json();
  };
  auto applied_set = [&] {
    Json job = controller_.Call("GET", "/api/v1/jobs/a").Json()["job"];
    return job["spec"]["meta"].value("expanso.io/applied-set", std::string("(none)"));
  };
  int status = 0;
  put(Spec("a"), "folder-one", &status);
  EXPECT_EQ(status, 201);
  EXPECT_EQ(applied_set(), "folder-one");
  // the same spec from the same set, and from no set at all: unchanged, the set kept
  put(Spec("a"), "folder-one", &status);
  EXPECT_EQ(status, 422);
  put(Spec("a"), nullptr, &status);
  EXPECT_EQ(status, 422);
  EXPECT_EQ(applied_set(), "folder-one");
  // moved to another folder: still unchanged (no version), but the set is recorded
  Json moved = put(Spec("a"), "folder-two", &status);
  EXPECT_EQ(status, 422) << moved;
  EXPECT_EQ(applied_set(), "folder-two");
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a/versions").Json()["items"].size(), 1u);
  // a real change carries it into the new version; the diff never shows it
  Json spec = Spec("a");
  spec["priority"] = 70;
  put(Spec("a"), "folder-three", &status);  // moved again
  EXPECT_EQ(status, 422);
  Json changed = Put(controller_, spec, true, false, &status);
  EXPECT_EQ(changed["diff"].get<std::string>().find("applied-set"), std::string::npos) << changed;
  put(spec, nullptr, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(applied_set(), "folder-three");
  // a user cannot set it through meta, and a bad set name is a 400 naming the field
  Json forged = Spec("b");
  forged["meta"] = {{"expanso.io/applied-set", "forged"}};
  put(forged, nullptr, &status);
  EXPECT_EQ(status, 201);
  Json b = controller_.Call("GET", "/api/v1/jobs/b").Json()["job"];
  EXPECT_FALSE(b["spec"]["meta"].contains("expanso.io/applied-set")) << b;
  Json bad = put(Spec("c"), "not a label value!", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad["error"]["details"][0]["field"], "applied_set") << bad;
}

TEST_F(ControllerApi, ChangedSpecBumpsTheVersionAndKeepsTheId) {
  Json first = Put(controller_, Spec("a"));
  Json spec = Spec("a");
  spec["priority"] = 90;
  int status = 0;
  Json second = Put(controller_, spec, false, false, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(second["version"], 2);
  EXPECT_EQ(second["job_id"], first["job_id"]);
  Json job = controller_.Call("GET", "/api/v1/jobs/a").Json()["job"];
  EXPECT_EQ(job["status"]["version"], 2);
  EXPECT_EQ(job["spec"]["priority"], 90);
}

TEST_F(ControllerApi, ForceBumpsTheVersionWithTheSameSpec) {
  Put(controller_, Spec("a"));
  int status = 0;
  Json body = Put(controller_, Spec("a"), false, true, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["version"], 2);
  Json versions = controller_.Call("GET", "/api/v1/jobs/a/versions").Json()["items"];
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0]["spec"], versions[1]["spec"]);
  EXPECT_EQ(versions[1]["forced"], true);
}

TEST_F(ControllerApi, DryRunWritesNothingAndShowsDiffAndPlan) {
  testing::Http(controller_.port(), "POST", "/api/v1/agent/register",
                Json{{"node_id", "n1"}, {"labels", {{"role", "web"}}}}.dump());
  testing::Http(controller_.port(), "POST", "/api/v1/agent/register",
                Json{{"node_id", "n2"}, {"labels", {{"role", "db"}}}}.dump());
  int64_t before = QuietRevision(controller_);
  int status = 0;
  Json created = Put(controller_, Spec("a"), true, false, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(created["dry_run"], true);
  EXPECT_EQ(created["changed"], true);
  EXPECT_EQ(created["version"], 1);
  EXPECT_THAT(created["diff"].get<std::string>(), HasSubstr("+name: a"));
  EXPECT_EQ(created["plan"]["target_nodes"], Json::array({"n1"}));
  EXPECT_EQ(created["plan"]["waves"], Json::array({Json::array({"n1"})}));
  EXPECT_EQ(created["job"]["rollout"]["max_parallel"], 10) << "defaults filled";
  EXPECT_EQ(Revision(controller_), before) << "dry run wrote something";
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a").status, 404);

  Put(controller_, Spec("a"));
  before = QuietRevision(controller_);
  Json unchanged = Put(controller_, Spec("a"), true, false, &status);
  EXPECT_EQ(status, 200) << "dry run answers 200 even when unchanged";
  EXPECT_EQ(unchanged["changed"], false);
  EXPECT_EQ(unchanged["diff"], "");
  Json spec = Spec("a");
  spec["description"] = "new";
  Json changed = Put(controller_, spec, true, false, &status);
  EXPECT_EQ(changed["version"], 2);
  EXPECT_THAT(changed["diff"].get<std::string>(), HasSubstr("+description: new"));
  EXPECT_EQ(Revision(controller_), before);
}

TEST_F(ControllerApi, InvalidSpecIs400WithEveryFieldAndWritesNothing) {
  int64_t before = QuietRevision(controller_);
  Json spec = Spec("a");
  spec["type"] = "batch";
  spec["rollout"] = {{"strategy", "sideways"}, {"max_parallel", 150}};
  int status = 0;
  Json body = Put(controller_, spec, false, false, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["error"]["code"], "invalid");
  std::vector<std::string> fields;
  for (const Json& d : body["error"]["details"]) fields.push_back(d["field"]);
  EXPECT_THAT(fields, ::testing::IsSupersetOf(
                          {"spec.type", "spec.rollout.strategy", "spec.rollout.max_parallel"}));
  EXPECT_EQ(Revision(controller_), before);
}

TEST_F(ControllerApi, PipelineOutsideTheEngineSubsetIs400NamingFieldAndWritesNothing) {
  // SPEC §10: anything outside the engine's subset is refused when the job is validated, with
  // the unsupported Bloblang function, method or component named, at its field path
  struct Case {
    std::string what;
    Json config;
    std::string field;
    std::string named;
  };
  const Json stdin_input = {{"stdin", Json::object()}};
  const Json stdout_output = {{"stdout", Json::object()}};
  const std::vector<Case> cases = {
      {"a Bloblang function",
       {{"input", stdin_input},
        {"pipeline", {{"processors", {{{"mapping", "root = this\nroot.h = sha256(this.msg)"}}}}}},
        {"output", stdout_output}},
       "spec.config.pipeline.processors[0].mapping",
       "sha256"},
      {"a Bloblang method",
       {{"input", stdin_input},
        {"pipeline", {{"processors", {{{"mapping", "root = this.msg.hash(\"sha256\")"}}}}}},
        {"output", stdout_output}},
       "spec.config.pipeline.processors[0].mapping",
       "hash"},
      {"an input",
       {{"input", {{"kafka", {{"addresses", {"localhost:9092"}}}}}}, {"output", stdout_output}},
       "spec.config.input.kafka",
       "kafka"},
      {"a processor",
       {{"input", stdin_input},
        {"pipeline",
         {{"processors", {{{"mapping", "root = this"}}, {{"branch", Json::object()}}}}}},
        {"output", stdout_output}},
       "spec.config.pipeline.processors[1].branch",
       "branch"},
      {"an output",
       {{"input", stdin_input}, {"output", {{"aws_s3", {{"bucket", "logs"}}}}}},
       "spec.config.output.aws_s3",
       "aws_s3"},
  };
  const int64_t before = QuietRevision(controller_);
  for (const Case& c : cases) {
    Json spec = Spec("outside-the-subset");
    spec["config"] = c.config;
    int status = 0;
    const Json body = Put(controller_, spec, false, false, &status);
    EXPECT_EQ(status, 400) << c.what << ": " << body;
    EXPECT_EQ(body["error"]["code"], "invalid") << c.what << ": " << body;
    bool named = false;
    for (const Json& d : body["error"]["details"]) {
      named = named || (d.value("field", "") == c.field &&
                        d.value("message", "").find(c.named) != std::string::npos);
    }
    EXPECT_TRUE(named) << c.what << ": expected " << c.field << " naming " << c.named << " in "
                       << body;
    // a dry run refuses it the same way
    Put(controller_, spec, /*dry_run=*/true, false, &status);
    EXPECT_EQ(status, 400) << c.what;
  }
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/outside-the-subset").status, 404);
  EXPECT_EQ(Revision(controller_), before);
}

TEST_F(ControllerApi, BareSpecIsAcceptedAsTheQuickStartForm) {
  HttpReply r = controller_.Call("PUT", "/api/v1/jobs", Spec("bare").dump());
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(ControllerApi, StoppedJobStartsAgainWithTheSameSpecAtTheSameVersion) {
  Put(controller_, Spec("a"));
  HttpReply stop = controller_.Call("DELETE", "/api/v1/jobs/a");
  EXPECT_EQ(stop.status, 200);
  Json stopped = controller_.Call("GET", "/api/v1/jobs/a").Json()["job"]["status"];
  EXPECT_EQ(stopped["state"], "stopped");
  EXPECT_EQ(stopped["rollout"]["phase"], "cancelled");
  int status = 0;
  Json again = Put(controller_, Spec("a"), false, false, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(again["version"], 1);
  EXPECT_EQ(again["job"]["status"]["state"], "pending");
}

TEST_F(ControllerApi, PurgeDeletesTheRecordAndRecreateGetsANewId) {
  std::string first = Put(controller_, Spec("a"))["job_id"];
  EXPECT_EQ(controller_.Call("DELETE", "/api/v1/jobs/a?purge=true").status, 200);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a").status, 404);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/" + first).status, 404);
  int status = 0;
  Json again = Put(controller_, Spec("a"), false, false, &status);
  EXPECT_EQ(status, 201);
  EXPECT_NE(again["job_id"], first);
  EXPECT_EQ(again["version"], 1);
}

TEST_F(ControllerApi, JobsAreFoundByIdOrByNameInTheirNamespace) {
  std::string id = Put(controller_, Spec("a", "prod"))["job_id"];
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/" + id).Json()["job"]["spec"]["namespace"],
            "prod");
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a?namespace=prod").status, 200);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a").status, 404) << "default namespace";
  Json missing = controller_.Call("GET", "/api/v1/jobs/nope?namespace=prod").Json();
  EXPECT_EQ(missing["error"]["code"], "not_found");
}

TEST_F(ControllerApi, EveryVersionIsKeptAndDiffable) {
  for (int p = 1; p <= 3; ++p) {
    Json spec = Spec("a");
    spec["priority"] = p;
    Put(controller_, spec);
  }
  Json items = controller_.Call("GET", "/api/v1/jobs/a/versions").Json()["items"];
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[2]["version"], 3);
  EXPECT_EQ(
      controller_.Call("GET", "/api/v1/jobs/a/versions/2").Json()["version"]["spec"]["priority"],
      2);
  Json diff = controller_.Call("GET", "/api/v1/jobs/a/versions/diff?from=1&to=3").Json();
  EXPECT_THAT(diff["diff"].get<std::string>(), HasSubstr("-priority: 1\n+priority: 3\n"));
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a/versions/9").status, 404);
}

TEST_F(ControllerApi, DiffRouteReturnsOnlyTheDiff) {
  Put(controller_, Spec("a"));
  Json spec = Spec("a");
  spec["priority"] = 7;
  HttpReply r = controller_.Call("PUT", "/api/v1/jobs/diff", Json{{"spec", spec}}.dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.Json()["diff"].get<std::string>(), HasSubstr("+priority: 7"));
  HttpReply same = controller_.Call("PUT", "/api/v1/jobs/diff", Json{{"spec", Spec("a")}}.dump());
  EXPECT_EQ(same.Json()["diff"], "");
}

TEST_F(ControllerApi, ListFiltersByNamespaceLabelsAndStateAndPages) {
  for (int i = 0; i < 5; ++i) {
    Json spec = Spec("job-" + std::to_string(i), i < 3 ? "prod" : "dev");
    spec["labels"] = {{"tier", i % 2 == 0 ? "gold" : "silver"}};
    Put(controller_, spec);
  }
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs?namespace=prod").Json()["items"].size(), 3u);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs?namespace=*").Json()["items"].size(), 5u);
  EXPECT_EQ(
      controller_.Call("GET", "/api/v1/jobs?namespace=*&labels=tier%3Dgold").Json()["items"].size(),
      3u);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs?namespace=*&labels=tier%20in%20(gold,silver)")
                .Json()["items"]
                .size(),
            5u);
  // With no node, the control loop marks each job queued (SPEC §5).
  QuietRevision(controller_);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs?namespace=*&state=queued").Json()["items"].size(),
            5u);
  EXPECT_EQ(
      controller_.Call("GET", "/api/v1/jobs?namespace=*&state=running").Json()["items"].size(), 0u);
  std::vector<std::string> seen;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    std::string path =
        "/api/v1/jobs?namespace=*&limit=2" + (token.empty() ? "" : "&next_token=" + token);
    Json body = controller_.Call("GET", path).Json();
    ASSERT_LE(body["items"].size(), 2u);
    for (const Json& j : body["items"]) seen.push_back(j["spec"]["name"]);
    if (body["next_token"].is_null()) break;
    token = body["next_token"];
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u);
}

TEST_F(ControllerApi, RolloutControlsFollowThePhaseTable) {
  Put(controller_, Spec("a"));
  EXPECT_EQ(controller_.Call("POST", "/api/v1/jobs/a/rollout/promote").status, 409);
  HttpReply pause = controller_.Call("POST", "/api/v1/jobs/a/rollout/pause");
  EXPECT_EQ(pause.status, 200) << pause.body;
  EXPECT_EQ(pause.Json()["rollout"]["phase"], "paused");
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/a").Json()["job"]["status"]["state"],
            "rollout_paused");
  HttpReply twice = controller_.Call("POST", "/api/v1/jobs/a/rollout/pause");
  EXPECT_EQ(twice.status, 409);
  EXPECT_EQ(twice.Json()["error"]["details"][0]["field"], "rollout.phase");
  EXPECT_EQ(twice.Json()["error"]["details"][0]["message"], "paused");
  EXPECT_EQ(controller_.Call("POST", "/api/v1/jobs/a/rollout/resume").Json()["rollout"]["phase"],
            "progressing");
}

TEST_F(ControllerApi, AgentRegistrationAndRelabelAreVisibleAtOnce) {
  HttpReply reg = controller_.Call("POST", "/api/v1/agent/register",
                                   Json{{"node_id", "edge-1"},
                                        {"name", "Edge 1"},
                                        {"labels", {{"region", "eu"}}},
                                        {"agent_version", "0.1"},
                                        {"os", "linux"},
                                        {"arch", "amd64"}}
                                       .dump());
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(reg.Json()["heartbeat_interval_ms"], 1000);
  Json node = controller_.Call("GET", "/api/v1/nodes/edge-1").Json()["node"];
  EXPECT_EQ(node["state"], "connected");
  EXPECT_EQ(node["labels"], Json({{"region", "eu"}}));
  controller_.Call("POST", "/api/v1/agent/register",
                   Json{{"node_id", "edge-1"}, {"labels", {{"region", "us"}}}}.dump());
  Json items = controller_.Call("GET", "/api/v1/nodes?labels=region%3Dus").Json()["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["labels"]["region"], "us");
  HttpReply beat = controller_.Call(
      "POST", "/api/v1/agent/heartbeat",
      Json{{"node_id", "edge-1"},
           {"executions", {{{"execution_id", "e-1"}, {"job_id", "j-x"}, {"state", "running"}}}}}
          .dump());
  EXPECT_EQ(beat.status, 200);
  EXPECT_TRUE(beat.Json()["assignments"].is_array());
  EXPECT_EQ(controller_.Call("GET", "/api/v1/nodes/edge-1").Json()["node"]["executions"],
            Json::array({"e-1"}));
  EXPECT_EQ(
      controller_.Call("POST", "/api/v1/agent/heartbeat", Json{{"node_id", "ghost"}}.dump()).status,
      404);
}

TEST_F(ControllerApi, MetricsCountNodesByStateAndRequestsByRouteTemplate) {
  controller_.Call("POST", "/api/v1/agent/register", Json{{"node_id", "m1"}}.dump());
  controller_.Call("POST", "/api/v1/agent/register", Json{{"node_id", "m2"}}.dump());
  controller_.Call("GET", "/api/v1/jobs/some-job");
  std::string text = controller_.Call("GET", "/metrics").body;
  EXPECT_THAT(text, HasSubstr("drover_nodes{state=\"connected\"} 2"));
  EXPECT_THAT(text, HasSubstr("route=\"/api/v1/jobs/{job}\""));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("some-job"))) << "raw paths never become labels";
  EXPECT_THAT(text, HasSubstr("drover_store_operation_duration_seconds_bucket{op=\"get\""));
}

TEST_F(ControllerApi, NodesBecomeDisconnectedAfterThreeMissedHeartbeats) {
  controller_.Call("POST", "/api/v1/agent/register", Json{{"node_id", "quiet"}}.dump());
  EXPECT_EQ(controller_.Call("GET", "/api/v1/nodes/quiet").Json()["node"]["state"], "connected");
  std::string state;
  for (int i = 0; i < 100 && state != "disconnected"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    state = controller_.Call("GET", "/api/v1/nodes/quiet").Json()["node"]["state"];
  }
  EXPECT_EQ(state, "disconnected");
}

TEST_F(ControllerApi, AssignmentsLongPollReturnsWhenTheWaitRunsOut) {
  controller_.Call("POST", "/api/v1/agent/register", Json{{"node_id", "poller"}}.dump());
  HttpReply now =
      controller_.Call("GET", "/api/v1/agent/assignments?node_id=poller&index=0&wait=0s");
  EXPECT_EQ(now.status, 200);
  uint64_t index = now.Json()["index"];
  auto start = std::chrono::steady_clock::now();
  HttpReply later = controller_.Call("GET", "/api/v1/agent/assignments?node_id=poller&index=" +
                                                std::to_string(index) + "&wait=300ms");
  EXPECT_EQ(later.status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250))
      << "the poll waited for a change";
  // A relabel changes the node's assignments: a waiting poll answers at once.
  std::thread relabel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    controller_.Call("POST", "/api/v1/agent/register",
                     Json{{"node_id", "poller"}, {"labels", {{"x", "y"}}}}.dump());
  });
  HttpReply woken = controller_.Call("GET", "/api/v1/agent/assignments?node_id=poller&index=" +
                                                std::to_string(index) + "&wait=20s");
  relabel.join();
  EXPECT_EQ(woken.status, 200);
  EXPECT_GT(woken.Json()["index"].get<uint64_t>(), index);
}

TEST_F(ControllerApi, EverythingSurvivesARestartOnTheSameDataDir) {
  std::string id = Put(controller_, Spec("keep"))["job_id"];
  Json spec = Spec("keep");
  spec["priority"] = 3;
  Put(controller_, spec);
  controller_.Call("POST", "/api/v1/agent/register",
                   Json{{"node_id", "n1"}, {"labels", {{"a", "b"}}}}.dump());
  controller_.Call("POST", "/api/v1/nodes/n1/cordon");
  ASSERT_EQ(controller_.Stop(), 0) << controller_.log();
  ASSERT_TRUE(controller_.Start()) << controller_.log();
  Json job = controller_.Call("GET", "/api/v1/jobs/keep").Json()["job"];
  EXPECT_EQ(job["id"], id);
  EXPECT_EQ(job["status"]["version"], 2);
  EXPECT_EQ(controller_.Call("GET", "/api/v1/jobs/keep/versions").Json()["items"].size(), 2u);
  std::vector<std::string> reasons = EventReasons(controller_, "keep");
  std::vector<std::string> puts;
  for (const std::string& r : reasons) {
    if (r == "JobCreated" || r == "RolloutSuperseded" || r == "JobUpdated") puts.push_back(r);
  }
  EXPECT_EQ(puts, (std::vector<std::string>{"JobCreated", "RolloutSuperseded", "JobUpdated"}));
  Json node = controller_.Call("GET", "/api/v1/nodes/n1").Json()["node"];
  EXPECT_EQ(node["labels"], Json({{"a", "b"}}));
  EXPECT_EQ(node["schedulable"], false);
  EXPECT_EQ(node["state"], "disconnected") << "no heartbeat since the restart";
  int status = 0;
  Put(controller_, spec, false, false, &status);
  EXPECT_EQ(status, 422) << "the stored spec is the same after a restart";
}

TEST(ControllerCrash, EveryAcknowledgedPutSurvivesSigkill) {
  ControllerProcess controller;
  ASSERT_TRUE(controller.Start()) << controller.log();
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      testing::Connection connection(controller.port(), std::chrono::seconds(5));
      for (int i = 0; !stop; ++i) {
        std::string name = "crash-" + std::to_string(w) + "-" + std::to_string(i);
        HttpReply r = connection.Request("PUT", "/api/v1/jobs", Json{{"spec", Spec(name)}}.dump());
        if (r.status == 0) return;  // the server is gone
        if (r.status == 201) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.push_back(name);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  controller.Kill();
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GT(acknowledged.size(), 20u) << "the client barely wrote anything";
  ASSERT_TRUE(controller.Start()) << controller.log();
  Json listed = controller.Call("GET", "/api/v1/jobs").Json();
  std::set<std::string> present;
  for (const Json& j : listed["items"]) present.insert(j["spec"]["name"]);
  for (const std::string& name : acknowledged) {
    EXPECT_TRUE(present.count(name)) << name << " was acknowledged and is gone";
  }
  // Consistency: every listed job resolves by id and has its version and event.
  for (const Json& j : listed["items"]) {
    std::string id = j["id"];
    EXPECT_EQ(controller.Call("GET", "/api/v1/jobs/" + id).status, 200) << id;
    EXPECT_EQ(controller.Call("GET", "/api/v1/jobs/" + id + "/versions").Json()["items"].size(),
              1u);
    std::vector<std::string> reasons = EventReasons(controller, id);
    ASSERT_GE(reasons.size(), 1u) << id;
    EXPECT_EQ(reasons[0], "JobCreated") << id;
  }
}

TEST(ControllerOpenApi, DocumentsEverySpecRouteAndEveryDocumentedRouteAnswers) {
  ControllerProcess controller;
  ASSERT_TRUE(controller.Start()) << controller.log();
  Json doc = controller.Call("GET", "/openapi.json").Json();
  ASSERT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  // The routes of SPEC §3's table.
  const std::vector<std::pair<std::string, std::string>> spec_routes = {
      {"put", "/api/v1/jobs"},
      {"put", "/api/v1/jobs/diff"},
      {"get", "/api/v1/jobs"},
      {"get", "/api/v1/jobs/{job}"},
      {"delete", "/api/v1/jobs/{job}"},
      {"get", "/api/v1/jobs/{job}/versions"},
      {"get", "/api/v1/jobs/{job}/versions/{n}"},
      {"get", "/api/v1/jobs/{job}/versions/diff"},
      {"get", "/api/v1/jobs/{job}/executions"},
      {"get", "/api/v1/jobs/{job}/results"},
      {"get", "/api/v1/jobs/{job}/events"},
      {"get", "/api/v1/jobs/{job}/logs"},
      {"get", "/api/v1/executions/{id}"},
      {"get", "/api/v1/executions/{id}/logs"},
      {"post", "/api/v1/jobs/{job}/rollout/pause"},
      {"post", "/api/v1/jobs/{job}/rollout/resume"},
      {"post", "/api/v1/jobs/{job}/rollout/promote"},
      {"post", "/api/v1/jobs/{job}/rollout/rollback"},
      {"get", "/api/v1/nodes"},
      {"get", "/api/v1/nodes/{id}"},
      {"post", "/api/v1/nodes/{id}/cordon"},
      {"post", "/api/v1/nodes/{id}/uncordon"},
      {"post", "/api/v1/nodes/{id}/drain"},
      {"delete", "/api/v1/nodes/{id}"},
      {"post", "/api/v1/agent/register"},
      {"post", "/api/v1/agent/heartbeat"},
      {"get", "/api/v1/agent/assignments"},
      {"get", "/healthz"},
      {"get", "/readyz"},
      {"get", "/metrics"},
      {"get", "/version"},
      {"get", "/openapi.json"}};
  for (const auto& [method, path] : spec_routes) {
    EXPECT_TRUE(doc["paths"].contains(path) && doc["paths"][path].contains(method))
        << method << " " << path << " missing from /openapi.json";
  }
  // Every documented route is one the server answers (not its 404 "no such route").
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p) {
    for (auto m = p.value().begin(); m != p.value().end(); ++m) {
      std::string path = p.key();
      for (const char* param : {"{job}", "{id}", "{n}"}) {
        size_t at = path.find(param);
        if (at != std::string::npos) path.replace(at, std::string(param).size(), "x");
      }
      std::string method = m.key();
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (path == "/api/v1/agent/assignments") path += "?node_id=x&wait=0s";
      HttpReply r =
          controller.Call(method, path, method == "GET" || method == "DELETE" ? "" : "{}");
      bool unrouted = r.status == 404 && r.body.find("no such route") != std::string::npos;
      EXPECT_FALSE(unrouted || r.status == 405) << method << " " << p.key() << ": " << r.status;
    }
  }
}

TEST(ControllerConformance, SharedApiAndProtocolChecksPass) {
  std::string script = std::string(DROVER_SHARED_DIR) + "/conformance/check.py";
  if (!std::filesystem::exists(script)) GTEST_SKIP() << "no ../shared/conformance here";
  ControllerProcess controller({"--heartbeat-interval", "1s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  testing::ProcessResult r =
      testing::RunCommand("python3 " + script + " " + controller.url() + " api protocol");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok: conformance api protocol, 0 failures"));
}

TEST(ControllerFlags, UsageErrorsExitTwoAndBadStoresExitOne) {
  using testing::RunCommand;
  std::string drover = DROVER_BINARY;
  EXPECT_EQ(RunCommand(drover + " controller --bogus").exit_code, 2);
  EXPECT_EQ(RunCommand(drover + " controller --listen nope").exit_code, 2);
  EXPECT_EQ(RunCommand(drover + " controller --heartbeat-interval 0s").exit_code, 2);
  EXPECT_EQ(RunCommand(drover + " controller --store redis").exit_code, 2);
  auto help = RunCommand(drover + " controller --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--auth-token-file"));
  auto bad_dir = RunCommand(drover + " controller --data-dir /proc/nope/x --listen 127.0.0.1:1");
  EXPECT_EQ(bad_dir.exit_code, 1);
  EXPECT_THAT(bad_dir.err, HasSubstr("--data-dir"));
}

}  // namespace
}  // namespace drover
