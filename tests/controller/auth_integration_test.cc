// Bearer tokens and roles end to end (SPEC §8, §12): the real `drover controller` started with
// --auth-token-file answers 401 without a valid token, 403 outside the caller's role and
// namespace, binds node ids to the agent token that registered them, leaves /healthz, /readyz
// and /version open, and refuses to listen beyond loopback without a token file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/testing/api_checks.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/http_client.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::HasSubstr;
using testing::HttpReply;
using testing::IsErrorBody;
using testing::StoreRevision;
using Json = nlohmann::json;

constexpr char kAdmin[] = "admin-0f9e8d7c6b5a4938";
constexpr char kWriterProd[] = "writer-prod-1a2b3c4d5e6f";
constexpr char kReaderProd[] = "reader-prod-9z8y7x6w5v4u";
constexpr char kReaderAll[] = "reader-all-q1w2e3r4t5y6u7";
constexpr char kAgentA[] = "agent-a-m1n2b3v4c5x6z7l8";
constexpr char kAgentB[] = "agent-b-p0o9i8u7y6t5r4e3";

Json Spec(const std::string& name, const std::string& ns) {
  return {{"name", name},
          {"namespace", ns},
          {"type", "pipeline"},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

Json Registration(const std::string& node_id) {
  return {{"node_id", node_id}, {"labels", {{"role", "web"}}}, {"agent_version", "test"}};
}

class AuthIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    token_dir_ = testing::MakeTempDir("drover-auth");
    const std::string path = (token_dir_ / "tokens").string();
    std::ofstream(path) << "# roles for the auth integration test\n"
                        << kAdmin << " admin\n"
                        << kWriterProd << " writer:prod\n"
                        << kReaderProd << " reader:prod\n"
                        << kReaderAll << " reader:*\n"
                        << kAgentA << " agent\n"
                        << kAgentB << " agent\n";
    controller_ = std::make_unique<ControllerProcess>(
        std::vector<std::string>{"--auth-token-file", path, "--heartbeat-interval", "60s"});
    if (!controller_->Start()) {
      setup_error_ = "controller did not start: " + controller_->log();
      return;
    }
    HttpReply prod = As(kAdmin, "PUT", "/api/v1/jobs", Spec("prod-job", "prod").dump());
    HttpReply staging = As(kAdmin, "PUT", "/api/v1/jobs", Spec("staging-job", "staging").dump());
    if (prod.status != 201 || staging.status != 201) {
      setup_error_ = "seeding jobs failed: " + prod.body + " / " + staging.body;
      return;
    }
    staging_job_id_ = staging.Json().value("job_id", "");
  }
  static void TearDownTestSuite() {
    controller_.reset();
    std::filesystem::remove_all(token_dir_);
    setup_error_.clear();
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  // One request with `Authorization: Bearer <token>` (no header when `token` is empty).
  static HttpReply As(const std::string& token, const std::string& method, const std::string& path,
                      const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return controller_->Call(method, path, body, headers);
  }

  static std::unique_ptr<ControllerProcess> controller_;
  static std::filesystem::path token_dir_;
  static std::string setup_error_;
  static std::string staging_job_id_;
};

std::unique_ptr<ControllerProcess> AuthIntegration::controller_;
std::filesystem::path AuthIntegration::token_dir_;
std::string AuthIntegration::setup_error_;
std::string AuthIntegration::staging_job_id_;

TEST_F(AuthIntegration, RequestWithoutTokenIs401WithWwwAuthenticate) {
  const int64_t before = testing::WaitForQuietStore(controller_->port());
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/api/v1/jobs", ""},
           {"GET", "/api/v1/nodes", ""},
           {"GET", "/metrics", ""},
           {"PUT", "/api/v1/jobs", Spec("anonymous", "prod").dump()},
           {"POST", "/api/v1/agent/register", Registration("anonymous-node").dump()}}) {
    SCOPED_TRACE(method + " " + path);
    HttpReply reply = As("", method, path, body);
    EXPECT_EQ(reply.status, 401);
    EXPECT_TRUE(IsErrorBody(reply, "unauthorized"));
    ASSERT_TRUE(reply.headers.count("www-authenticate"));
    EXPECT_THAT(reply.headers["www-authenticate"], HasSubstr("Bearer"));
  }
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(AuthIntegration, WrongTokenIs401AndIsNotEchoed) {
  const std::string wrong = "not-a-token-anyone-was-given";
  for (const std::string& header : {"Bearer " + wrong, "Basic " + wrong, wrong,
                                    std::string("Bearer ") + kAdmin + "x", std::string("Bearer")}) {
    SCOPED_TRACE(header);
    HttpReply reply =
        controller_->Call("GET", "/api/v1/jobs?namespace=prod", "", {{"Authorization", header}});
    EXPECT_EQ(reply.status, 401);
    EXPECT_TRUE(IsErrorBody(reply, "unauthorized"));
    EXPECT_TRUE(reply.headers.count("www-authenticate"));
    EXPECT_THAT(reply.body, ::testing::Not(HasSubstr(wrong)));
  }
}

TEST_F(AuthIntegration, HealthzReadyzAndVersionNeedNoToken) {
  for (const char* path : {"/healthz", "/readyz", "/version"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(As("", "GET", path).status, 200);
  }
}

TEST_F(AuthIntegration, ReaderCannotPut) {
  const int64_t before = testing::WaitForQuietStore(controller_->port());
  HttpReply reply = As(kReaderProd, "PUT", "/api/v1/jobs", Spec("read-only", "prod").dump());
  EXPECT_EQ(reply.status, 403);
  EXPECT_TRUE(IsErrorBody(reply, "forbidden"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  EXPECT_EQ(As(kAdmin, "GET", "/api/v1/jobs/read-only?namespace=prod").status, 404);
}

TEST_F(AuthIntegration, ReaderReadsJobsInItsNamespaceOnly) {
  EXPECT_EQ(As(kReaderProd, "GET", "/api/v1/jobs?namespace=prod").status, 200);
  EXPECT_EQ(As(kReaderProd, "GET", "/api/v1/jobs/prod-job?namespace=prod").status, 200);

  for (const std::string& path :
       {std::string("/api/v1/jobs?namespace=staging"), std::string("/api/v1/jobs"),
        std::string("/api/v1/jobs?namespace=*"),
        std::string("/api/v1/jobs/staging-job?namespace=staging"),
        // An id reaches the job wherever it lives: the job's own namespace decides.
        "/api/v1/jobs/" + staging_job_id_, "/api/v1/jobs/" + staging_job_id_ + "?namespace=prod",
        "/api/v1/jobs/" + staging_job_id_ + "/versions"}) {
    SCOPED_TRACE(path);
    HttpReply reply = As(kReaderProd, "GET", path);
    EXPECT_EQ(reply.status, 403);
    EXPECT_TRUE(IsErrorBody(reply, "forbidden"));
  }
}

TEST_F(AuthIntegration, ReaderOfEveryNamespaceReadsAllButWritesNothing) {
  EXPECT_EQ(As(kReaderAll, "GET", "/api/v1/jobs?namespace=staging").status, 200);
  EXPECT_EQ(As(kReaderAll, "GET", "/api/v1/jobs/" + staging_job_id_).status, 200);
  HttpReply all = As(kReaderAll, "GET", "/api/v1/jobs?namespace=*");
  ASSERT_EQ(all.status, 200);
  EXPECT_GE(all.Json()["items"].size(), 2u);
  HttpReply put = As(kReaderAll, "PUT", "/api/v1/jobs", Spec("nope", "staging").dump());
  EXPECT_EQ(put.status, 403);
  EXPECT_TRUE(IsErrorBody(put, "forbidden"));
}

TEST_F(AuthIntegration, WriterPutsInItsNamespaceOnly) {
  HttpReply created = As(kWriterProd, "PUT", "/api/v1/jobs", Spec("writer-made", "prod").dump());
  EXPECT_EQ(created.status, 201) << created.body;

  const int64_t before = testing::WaitForQuietStore(controller_->port());
  for (const Json& spec : {Spec("writer-made", "staging"), [] {
                             Json bare = Spec("writer-made", "default");
                             bare.erase("namespace");  // the default namespace
                             return bare;
                           }()}) {
    SCOPED_TRACE(spec.dump());
    HttpReply refused = As(kWriterProd, "PUT", "/api/v1/jobs", spec.dump());
    EXPECT_EQ(refused.status, 403);
    EXPECT_TRUE(IsErrorBody(refused, "forbidden"));
  }
  // The envelope form is scoped by its spec too.
  HttpReply envelope =
      As(kWriterProd, "PUT", "/api/v1/jobs", Json{{"spec", Spec("writer-made", "staging")}}.dump());
  EXPECT_EQ(envelope.status, 403);
  // Controls and stops on another namespace's job, by id.
  EXPECT_EQ(As(kWriterProd, "POST", "/api/v1/jobs/" + staging_job_id_ + "/rollout/pause").status,
            403);
  EXPECT_EQ(As(kWriterProd, "DELETE", "/api/v1/jobs/" + staging_job_id_ + "?namespace=prod").status,
            403);
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(AuthIntegration, AgentTokenMayUseOnlyTheAgentProtocol) {
  HttpReply jobs = As(kAgentA, "GET", "/api/v1/jobs");
  EXPECT_EQ(jobs.status, 403);
  EXPECT_TRUE(IsErrorBody(jobs, "forbidden"));
  EXPECT_EQ(As(kAgentA, "PUT", "/api/v1/jobs", Spec("by-agent", "prod").dump()).status, 403);
  EXPECT_EQ(As(kAgentA, "GET", "/api/v1/nodes").status, 403);

  HttpReply registered =
      As(kAgentA, "POST", "/api/v1/agent/register", Registration("agent-only-node").dump());
  EXPECT_EQ(registered.status, 200) << registered.body;
  EXPECT_EQ(registered.Json().value("node_id", ""), "agent-only-node");
  EXPECT_EQ(As(kAgentA, "POST", "/api/v1/agent/heartbeat",
               Json{{"node_id", "agent-only-node"}, {"executions", Json::array()}}.dump())
                .status,
            200);
}

TEST_F(AuthIntegration, NonAgentRolesCannotRegisterNodes) {
  for (const char* token : {kWriterProd, kReaderAll}) {
    HttpReply reply =
        As(token, "POST", "/api/v1/agent/register", Registration("impostor-node").dump());
    EXPECT_EQ(reply.status, 403);
    EXPECT_TRUE(IsErrorBody(reply, "forbidden"));
  }
  EXPECT_EQ(As(kAdmin, "GET", "/api/v1/nodes/impostor-node").status, 404);
}

TEST_F(AuthIntegration, AdminCanCordonANodeAndAWriterCannot) {
  ASSERT_EQ(As(kAgentA, "POST", "/api/v1/agent/register", Registration("cordon-me").dump()).status,
            200);
  const int64_t before = testing::WaitForQuietStore(controller_->port());
  for (const char* token : {kWriterProd, kReaderAll, kAgentA}) {
    HttpReply refused = As(token, "POST", "/api/v1/nodes/cordon-me/cordon");
    EXPECT_EQ(refused.status, 403);
    EXPECT_TRUE(IsErrorBody(refused, "forbidden"));
  }
  EXPECT_EQ(As(kWriterProd, "DELETE", "/api/v1/nodes/cordon-me").status, 403);
  EXPECT_EQ(StoreRevision(*controller_), before);
  EXPECT_EQ(As(kAdmin, "GET", "/api/v1/nodes/cordon-me").Json()["node"].value("schedulable", false),
            true);

  HttpReply cordoned = As(kAdmin, "POST", "/api/v1/nodes/cordon-me/cordon");
  ASSERT_EQ(cordoned.status, 200) << cordoned.body;
  EXPECT_EQ(cordoned.Json()["node"].value("schedulable", true), false);
  EXPECT_EQ(
      As(kReaderProd, "GET", "/api/v1/nodes/cordon-me").Json()["node"].value("schedulable", true),
      false);
}

TEST_F(AuthIntegration, NodeIdIsBoundToTheAgentTokenThatRegisteredIt) {
  ASSERT_EQ(As(kAgentA, "POST", "/api/v1/agent/register", Registration("bound-node").dump()).status,
            200);
  const int64_t before = testing::WaitForQuietStore(controller_->port());

  HttpReply heartbeat = As(kAgentB, "POST", "/api/v1/agent/heartbeat",
                           Json{{"node_id", "bound-node"}, {"executions", Json::array()}}.dump());
  EXPECT_EQ(heartbeat.status, 403);
  EXPECT_TRUE(IsErrorBody(heartbeat, "forbidden"));

  Json relabel = Registration("bound-node");
  relabel["labels"] = {{"role", "hijacked"}};
  HttpReply reregister = As(kAgentB, "POST", "/api/v1/agent/register", relabel.dump());
  EXPECT_EQ(reregister.status, 403);
  EXPECT_TRUE(IsErrorBody(reregister, "forbidden"));

  HttpReply poll =
      As(kAgentB, "GET", "/api/v1/agent/assignments?node_id=bound-node&index=0&wait=0s");
  EXPECT_EQ(poll.status, 403);
  EXPECT_TRUE(IsErrorBody(poll, "forbidden"));

  EXPECT_EQ(StoreRevision(*controller_), before) << "a refused registration wrote";
  Json node = As(kAdmin, "GET", "/api/v1/nodes/bound-node").Json()["node"];
  EXPECT_EQ(node["labels"], Json({{"role", "web"}}));
  // The owner still heartbeats.
  EXPECT_EQ(As(kAgentA, "POST", "/api/v1/agent/heartbeat",
               Json{{"node_id", "bound-node"}, {"executions", Json::array()}}.dump())
                .status,
            200);
}

// ---- Start-up refusals ---------------------------------------------------------------------

TEST(AuthIntegrationStartup, NonLoopbackListenWithoutTokenFileRefusesToStart) {
  ControllerProcess controller(
      {"--listen", "0.0.0.0:" + std::to_string(testing::FreePort()), "--store", "memory"});
  EXPECT_FALSE(controller.Start());
  EXPECT_FALSE(controller.running());
  EXPECT_NE(controller.exit_code(), 0);
  EXPECT_NE(controller.exit_code(), -1) << "it did not exit";
  std::string log = controller.log();
  EXPECT_THAT(log, HasSubstr("0.0.0.0"));
  EXPECT_THAT(log, HasSubstr("--auth-token-file"));
}

TEST(AuthIntegrationStartup, MalformedTokenFileRefusesToStartWithoutEchoingTokens) {
  std::filesystem::path dir = testing::MakeTempDir("drover-auth-bad");
  const std::string secret = "a-perfectly-good-secret-token";
  std::ofstream((dir / "tokens").string()) << secret << " admin\n" << secret << "2 superuser\n";
  ControllerProcess controller({"--auth-token-file", (dir / "tokens").string()});
  EXPECT_FALSE(controller.Start());
  EXPECT_FALSE(controller.running());
  EXPECT_NE(controller.exit_code(), 0);
  EXPECT_THAT(controller.log(), HasSubstr("line 2"));
  EXPECT_THAT(controller.log(), ::testing::Not(HasSubstr(secret)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace drover
