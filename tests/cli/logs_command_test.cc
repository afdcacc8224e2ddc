// `drover logs` as a user runs it: the real binary against a real controller whose executions
// got their output from heartbeats: node prefixes, --node, --tail, -n, DROVER_ADDR and
// DROVER_TOKEN, -f following new lines, and the exit codes (1 request failed or no such job,
// 2 usage).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/controller_process.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using Json = nlohmann::json;

constexpr char kAdminToken[] = "admin-logs-0a1b2c3d4e5f6a7b";

// The headers of every request: a bearer token when the controller has auth on.
std::map<std::string, std::string> Auth(const std::string& token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

// A heartbeat of `node` reporting `execution_id` (when not empty) running and healthy, with
// `logs` when not null.
Json Beat(const std::string& node, const std::string& execution_id, const std::string& job_id,
          const Json& logs = Json()) {
  Json executions = Json::array();
  if (!execution_id.empty()) {
    executions.push_back({{"execution_id", execution_id},
                          {"job_id", job_id},
                          {"version", 1},
                          {"state", "running"},
                          {"health", "healthy"}});
  }
  Json body = {{"node_id", node}, {"executions", executions}};
  if (!logs.is_null()) body["logs"] = logs;
  return body;
}

// Registers `nodes` (role=web) and heartbeats as all of them, as their agents would (reporting
// what they were given as running and healthy, so that the rollout completes), until each runs
// `job_id`. Node id -> execution id; a node is missing after a generous wait.
std::map<std::string, std::string> PlaceOn(const ControllerProcess& c, const std::string& job_id,
                                           const std::vector<std::string>& nodes,
                                           const std::string& token = "") {
  for (const std::string& node : nodes) {
    c.Call("POST", "/api/v1/agent/register",
           Json{{"node_id", node}, {"labels", {{"role", "web"}}}}.dump(), Auth(token));
  }
  std::map<std::string, std::string> placed;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (placed.size() < nodes.size() && std::chrono::steady_clock::now() < deadline) {
    for (const std::string& node : nodes) {
      std::string body = Beat(node, placed[node], job_id).dump();
      Json reply = c.Call("POST", "/api/v1/agent/heartbeat", body, Auth(token)).Json();
      for (const Json& a : reply.value("assignments", Json::array())) {
        if (a["job_id"] == job_id) placed[node] = a["execution_id"].get<std::string>();
      }
      if (placed[node].empty()) placed.erase(node);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return placed;
}

// One heartbeat from `node` reporting `execution_id` running and shipping `data` as its stdout
// from `offset`.
void Ship(const ControllerProcess& c, const std::string& node, const std::string& execution_id,
          const std::string& job_id, uint64_t offset, const std::string& data,
          const std::string& token = "") {
  Json chunk = {
      {"execution_id", execution_id}, {"stream", "stdout"}, {"offset", offset}, {"data", data}};
  std::string body = Beat(node, execution_id, job_id, Json::array({chunk})).dump();
  ASSERT_EQ(c.Call("POST", "/api/v1/agent/heartbeat", body, Auth(token)).status, 200);
}

Json Spec(const std::string& name, const std::string& ns = "default") {
  return {{"name", name},
          {"namespace", ns},
          {"type", "pipeline"},
          {"selector", {{"match_labels", {{"role", "web"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

std::string Drover(const std::string& args) { return std::string(DROVER_BINARY) + " " + args; }

class LogsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(controller_.Start()) << controller_.log();
    job_id_ = controller_.Call("PUT", "/api/v1/jobs", Spec("web").dump())
                  .Json()["job_id"]
                  .get<std::string>();
    std::map<std::string, std::string> placed = PlaceOn(controller_, job_id_, {"node-1", "node-2"});
    ASSERT_EQ(placed.size(), 2u) << controller_.log();
    e1_ = placed["node-1"];
    e2_ = placed["node-2"];
    Ship(controller_, "node-1", e1_, job_id_, 0, "one\ntwo\n");
    Ship(controller_, "node-2", e2_, job_id_, 0, "alpha\n");
  }

  std::string Server() const { return "--server " + controller_.url(); }

  ControllerProcess controller_{{"--heartbeat-interval", "1s"}};
  std::string job_id_, e1_, e2_;
};

TEST_F(LogsCommand, PrintsEveryExecutionsLinesPrefixedWithTheirNode) {
  testing::ProcessResult r = RunCommand(Drover("logs web " + Server()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "node-1 | one\nnode-1 | two\nnode-2 | alpha\n");
}

TEST_F(LogsCommand, OneExecutionPrintsBareLinesAndTailKeepsTheNewest) {
  testing::ProcessResult r = RunCommand(Drover("logs web --node node-1 " + Server()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\n");
  r = RunCommand(Drover("logs web --node=node-1 --tail 1 " + Server()));
  EXPECT_EQ(r.out, "two\n");
  r = RunCommand(Drover("logs web --tail=0 " + Server()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
}

TEST_F(LogsCommand, TheServerComesFromDroverAddrAndTheNamespaceFromDashN) {
  ASSERT_EQ(controller_.Call("PUT", "/api/v1/jobs", Spec("web", "prod").dump()).status, 201);
  testing::ProcessResult r =
      RunCommand("DROVER_ADDR=" + controller_.url() + " " + Drover("logs web -n prod"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "") << "prod/web has no output yet";
  r = RunCommand("DROVER_ADDR=" + controller_.url() + " " + Drover("logs web"));
  EXPECT_THAT(r.out, HasSubstr("node-1 | one"));
}

TEST_F(LogsCommand, AnUnknownJobExitsOneNamingIt) {
  testing::ProcessResult r = RunCommand(Drover("logs nope -n staging " + Server()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("staging/nope"));
  EXPECT_THAT(r.err, HasSubstr("not found"));
  EXPECT_EQ(r.out, "");
}

TEST_F(LogsCommand, UsageErrorsExitTwo) {
  for (const char* args :
       {"logs", "logs web --tail -1", "logs web --tail 10001", "logs web --tail x",
        "logs web --bogus", "logs web other", "logs web --server not-a-url",
        "logs web --server ftp://host:1", "logs web --node", "logs web -n ''"}) {
    testing::ProcessResult r = RunCommand(Drover(args));
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("Usage: drover logs")) << args;
  }
  testing::ProcessResult help = RunCommand(Drover("logs --help"));
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--follow"));
  EXPECT_THAT(RunCommand(Drover("--help")).out, HasSubstr("logs"));
}

TEST(LogsCommandServer, AnUnreachableServerExitsOne) {
  int port = testing::FreePort();
  testing::ProcessResult r =
      RunCommand(Drover("logs web --server http://127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("default/web"));
}

TEST(LogsCommandAuth, TheTokenComesFromDroverTokenOrDashDashToken) {
  std::filesystem::path dir = testing::MakeTempDir("drover-logs-auth");
  std::ofstream(dir / "tokens") << kAdminToken << " admin\n";
  ControllerProcess controller(
      {"--auth-token-file", (dir / "tokens").string(), "--heartbeat-interval", "1s"});
  ASSERT_TRUE(controller.Start()) << controller.log();
  std::string job_id = controller.Call("PUT", "/api/v1/jobs", Spec("web").dump(), Auth(kAdminToken))
                           .Json()["job_id"]
                           .get<std::string>();
  std::string e1 = PlaceOn(controller, job_id, {"node-1"}, kAdminToken)["node-1"];
  ASSERT_FALSE(e1.empty()) << controller.log();
  Ship(controller, "node-1", e1, job_id, 0, "secret\n", kAdminToken);

  std::string server = " --server " + controller.url();
  testing::ProcessResult r = RunCommand(Drover("logs web" + server));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("401"));
  r = RunCommand("DROVER_TOKEN=" + std::string(kAdminToken) + " " + Drover("logs web" + server));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "secret\n");
  r = RunCommand(Drover("logs web --token " + std::string(kAdminToken) + server));
  EXPECT_EQ(r.out, "secret\n");
  std::filesystem::remove_all(dir);
}

// True once the controller has answered a GET of a job's logs (its request counter says so).
bool WaitForFirstPoll(const ControllerProcess& c) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::istringstream metrics(c.Call("GET", "/metrics").body);
    for (std::string line; std::getline(metrics, line);) {
      if (line.rfind("drover_api_requests_total", 0) == 0 &&
          line.find("route=\"/api/v1/jobs/{job}/logs\"") != std::string::npos) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// `drover logs ... -f` in the background, its standard output in a file.
class FollowProcess {
 public:
  explicit FollowProcess(std::vector<std::string> args)
      : out_(testing::MakeTempDir("drover-logs-follow") / "out") {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~FollowProcess() {
    if (pid_ > 0) {
      // SIGTERM rather than SIGINT: a test run from a non-interactive shell may inherit an
      // ignored SIGINT.
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(out_.parent_path());
  }

  // Waits (generously) until the output holds `text`; the output so far either way.
  std::string WaitFor(const std::string& text) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string out;
    while (std::chrono::steady_clock::now() < deadline) {
      out = testing::ReadAll(out_);
      if (out.find(text) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  bool running() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  std::filesystem::path out_;
  pid_t pid_ = -1;
};

TEST_F(LogsCommand, FollowPrintsOnlyNewLinesAndTheRestOfAGrowingLine) {
  FollowProcess follow({DROVER_BINARY, "logs", "web", "--node", "node-1", "--tail", "1", "-f",
                        "--server", controller_.url()});
  EXPECT_EQ(follow.WaitFor("two\n"), "two\n");
  Ship(controller_, "node-1", e1_, job_id_, 8, "three\nfo");
  EXPECT_EQ(follow.WaitFor("fo\n"), "two\nthree\nfo\n");
  Ship(controller_, "node-1", e1_, job_id_, 8, "three\nfo");  // a resend changes nothing
  Ship(controller_, "node-1", e1_, job_id_, 16, "ur\nfive\n");
  EXPECT_EQ(follow.WaitFor("five\n"), "two\nthree\nfo\nur\nfive\n");
  EXPECT_TRUE(follow.running()) << "-f runs until interrupted";
}

TEST_F(LogsCommand, FollowWithTailZeroStartsFromNowAndPrefixesWhenSeveralExecutionsPrint) {
  FollowProcess follow(
      {DROVER_BINARY, "logs", "web", "--tail", "0", "--follow", "--server", controller_.url()});
  ASSERT_TRUE(WaitForFirstPoll(controller_)) << "drover logs -f never asked";
  Ship(controller_, "node-2", e2_, job_id_, 6, "beta\n");
  std::string out = follow.WaitFor("beta");
  EXPECT_THAT(out, HasSubstr("beta"));
  EXPECT_THAT(out, Not(HasSubstr("alpha"))) << "only lines that arrived after the start";
  EXPECT_THAT(out, Not(HasSubstr("one")));
  Ship(controller_, "node-1", e1_, job_id_, 8, "three\n");
  out = follow.WaitFor("three");
  EXPECT_THAT(out, HasSubstr("node-1 | three"));
}

}  // namespace
}  // namespace drover
