// The agent's parts on their own: assignment parsing, log streams (offsets, acks, restarts,
// UTF-8), config files (root, mode, atomic writes, drift) and child processes (groups, exit
// codes, leftovers).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "agent/agent_metrics.h"
#include "agent/assignment.h"
#include "agent/config_files.h"
#include "agent/controller_client.h"
#include "agent/external_engine.h"
#include "agent/log_stream.h"
#include "agent/process.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/run_process.h"

namespace drover::agent {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(testing::MakeTempDir("drover-agent-parts")) {}
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ControllerClient, SeveralServersMoveOnFromOneThatDoesNotAnswer) {
  drover::testing::ControllerProcess controller;
  ASSERT_TRUE(controller.Start()) << controller.log();
  const std::string dead = "http://127.0.0.1:" + std::to_string(drover::testing::FreePort());
  Result<std::unique_ptr<ControllerClient>> client =
      ControllerClient::Create(dead + "," + controller.url(), "", std::chrono::seconds(5));
  ASSERT_TRUE(client.ok()) << client.status().message();
  HttpAnswer first = (*client)->Get("/healthz");
  EXPECT_EQ(first.status, 0);  // the dead one: no answer
  EXPECT_FALSE(first.error.empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*client)->Get("/healthz").status, 200) << "it went back to the dead server";
  }
  EXPECT_FALSE(
      ControllerClient::Create("http://a:1,,http://b:2", "", std::chrono::seconds(1)).ok());
}

TEST(Assignment, ParsesTheControllersShapeWithDefaults) {
  Json item = {{"execution_id", "e-1"},
               {"job_id", "j-1"},
               {"namespace", "prod"},
               {"name", "logs"},
               {"version", 3},
               {"type", "update"},
               {"config", {{"command", {"true"}}}},
               {"restart_policy", "always"},
               {"timeouts", {{"execution_timeout", 30}}},
               {"health_check", {{"deadline", 60'000'000'000LL}, {"interval", "2s"}}},
               {"desired_state", "stopped"},
               {"some_future_field", 1}};
  Result<Assignment> a = ParseAssignment(item);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->execution_id, "e-1");
  EXPECT_EQ(a->version, 3);
  EXPECT_EQ(a->type, JobType::kUpdate);
  EXPECT_EQ(a->restart_policy, RestartPolicy::kAlways);
  EXPECT_EQ(a->timeouts.execution_timeout, 30);
  EXPECT_TRUE(a->has_health_check);
  EXPECT_EQ(a->health.deadline, Duration::Seconds(60));
  EXPECT_EQ(a->health.interval, Duration::Seconds(2));
  EXPECT_EQ(a->health.success_threshold, JobDefaults::kSuccessThreshold);
  EXPECT_FALSE(a->running);

  Result<Assignment> bare = ParseAssignment({{"execution_id", "e-2"}, {"type", "pipeline"}});
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->has_health_check);
  EXPECT_EQ(bare->health.interval, JobDefaults::kHealthInterval);
  EXPECT_TRUE(bare->running);
}

TEST(Assignment, ErrorsNameTheField) {
  EXPECT_EQ(ParseAssignment(Json::array()).status().message(), "expected an object");
  EXPECT_EQ(ParseAssignment({{"type", "pipeline"}}).status().message(), "execution_id: required");
  EXPECT_EQ(ParseAssignment({{"execution_id", "e"}, {"type", "batch"}}).status().message(),
            "type: unknown job type \"batch\"");
  EXPECT_EQ(
      ParseAssignment(
          {{"execution_id", "e"}, {"type", "update"}, {"health_check", {{"interval", "soon"}}}})
          .status()
          .message(),
      "health_check.interval: expected a duration");
}

TEST(LogStream, ShipsUnackedBytesWithOffsetsAndDropsAckedOnes) {
  TempDir dir;
  LogStream s(dir.path() / "out.log", 0, 0);
  EXPECT_FALSE(s.Next(100).has_value());
  s.Append("hello\n");
  s.Append("world\n");
  std::optional<LogChunk> c = s.Next(100);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->offset, 0u);
  EXPECT_EQ(c->data, "hello\nworld\n");
  c = s.Next(4);
  EXPECT_EQ(c->data, "hell");
  s.Ack(6);
  c = s.Next(100);
  EXPECT_EQ(c->offset, 6u);
  EXPECT_EQ(c->data, "world\n");
  s.Ack(3);  // an old ack changes nothing
  EXPECT_EQ(s.acked(), 6u);
  s.Ack(12);
  EXPECT_FALSE(s.Next(100).has_value());
  EXPECT_EQ(testing::ReadAll(dir.path() / "out.log"), "hello\nworld\n");
}

TEST(LogStream, AfterARestartTheUnshippedTailIsReadBackFromTheFile) {
  TempDir dir;
  {
    LogStream s(dir.path() / "out.log", 0, 0);
    s.Append("line one\nline two\n");
    s.Ack(9);
  }
  LogStream again(dir.path() / "out.log", 18, 9);
  std::optional<LogChunk> c = again.Next(100);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->offset, 9u);
  EXPECT_EQ(c->data, "line two\n");
  again.Append("three\n");
  EXPECT_EQ(again.produced(), 24u);
  EXPECT_EQ(again.Next(100)->data, "line two\nthree\n");
}

TEST(LogStream, ChunksEndOnUtf8BoundariesAndInvalidBytesBecomeQuestionMarks) {
  TempDir dir;
  LogStream s(dir.path() / "out.log", 0, 0);
  s.Append("ab\xC3\xA9");  // "abé"
  EXPECT_EQ(s.Next(3)->data, "ab");
  EXPECT_EQ(s.Next(4)->data, "ab\xC3\xA9");
  s.Ack(4);
  s.Append("x\xFFy");
  std::optional<LogChunk> c = s.Next(100);
  EXPECT_EQ(c->data, "x?y");
  EXPECT_EQ(c->data.size(), 3u);  // same length: offsets stay true
}

TEST(LogStream, RotatesTheFileAtItsCap) {
  TempDir dir;
  LogStream s(dir.path() / "out.log", 0, 0);
  const std::string block(600 * 1024, 'x');
  s.Append(block);
  s.Append(block);
  EXPECT_TRUE(fs::exists(dir.path() / "out.log.1"));
  EXPECT_EQ(fs::file_size(dir.path() / "out.log"), block.size());
  EXPECT_EQ(s.produced(), 2 * block.size());
}

TEST(ConfigFiles, PathsLiveInsideTheRootAndClimbingOutFails) {
  Json config = {{"files",
                  {{{"path", "/etc/app.conf"}, {"content", "a=1\n"}, {"mode", "0600"}},
                   {{"path", "/srv/x"}, {"content", ""}}}}};
  Result<std::vector<ConfigFile>> files = ParseConfigFiles(config, "/tmp/root");
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ((*files)[0].path, "/tmp/root/etc/app.conf");
  EXPECT_EQ((*files)[0].mode, 0600u);
  EXPECT_EQ((*files)[1].mode, 0644u);
  EXPECT_EQ(ParseConfigFiles(config, "/")->at(0).path, "/etc/app.conf");

  // `..` above the root stays at the root, as in a chroot
  EXPECT_EQ(ParseConfigFiles({{"files", {{{"path", "/../etc/passwd"}}}}}, "/tmp/root")->at(0).path,
            "/tmp/root/etc/passwd");
  EXPECT_THAT(
      ParseConfigFiles({{"files", {{{"path", "x/../../y"}}}}}, "/tmp/root").status().message(),
      ::testing::HasSubstr("files[0].path"));
  EXPECT_THAT(ParseConfigFiles({{"files", {{{"path", "/"}}}}}, "/tmp/root").status().message(),
              ::testing::HasSubstr("files[0].path"));
  EXPECT_THAT(ParseConfigFiles({{"files", {{{"path", "/a"}, {"mode", "999"}}}}}, "/tmp/root")
                  .status()
                  .message(),
              ::testing::HasSubstr("files[0].mode: expected 3-4 octal digits"));
  EXPECT_THAT(ParseConfigFiles(config, "").status().message(),
              ::testing::HasSubstr("--config-root"));
}

TEST(ConfigFiles, WritesOnlyWhatDiffersAndRestoresDrift) {
  TempDir dir;
  Json config = {
      {"files", {{{"path", "/app/app.conf"}, {"content", "level=info\n"}, {"mode", "0640"}}}}};
  std::vector<ConfigFile> files = *ParseConfigFiles(config, dir.path().string());
  const fs::path file = dir.path() / "app" / "app.conf";
  Result<std::vector<std::string>> written = SyncConfigFiles(files);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, std::vector<std::string>{file.string()});
  EXPECT_EQ(testing::ReadAll(file), "level=info\n");
  struct stat st {};
  stat(file.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(SyncConfigFiles(files)->empty());  // nothing differs
  chmod(file.c_str(), 0644);                     // a mode change is drift too
  EXPECT_EQ(SyncConfigFiles(files)->size(), 1u);
  std::ofstream(file, std::ios::trunc) << "level=debug\n";
  EXPECT_EQ(SyncConfigFiles(files)->size(), 1u);
  EXPECT_EQ(testing::ReadAll(file), "level=info\n");
  EXPECT_FALSE(fs::exists(file.string() + ".drover-tmp"));
}

std::string ReadUntilClosed(ChildProcess& child, int fd) {
  std::string out;
  for (int i = 0; i < 500 && child.Read(fd, &out); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return out;
}

int WaitExit(ChildProcess& child) {
  for (int i = 0; i < 1000; ++i) {
    if (std::optional<int> code = child.Poll()) return *code;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

TEST(ChildProcess, CapturesOutputAndExitCodeWithTheGivenEnvironment) {
  TempDir dir;
  SpawnRequest r;
  r.argv = {"sh", "-c", "echo \"$GREETING\" from $(pwd); echo oops >&2; exit 7"};
  r.env = {{"GREETING", "hi"}, {"PATH", "/usr/bin:/bin"}};
  r.working_dir = dir.path().string();
  Result<ChildProcess> child = ChildProcess::Spawn(r);
  ASSERT_TRUE(child.ok()) << child.status().message();
  EXPECT_EQ(ReadUntilClosed(*child, child->stdout_fd()), "hi from " + dir.path().string() + "\n");
  EXPECT_EQ(ReadUntilClosed(*child, child->stderr_fd()), "oops\n");
  EXPECT_EQ(WaitExit(*child), 7);
}

TEST(ChildProcess, AMissingProgramIsAnErrorBeforeAnythingRuns) {
  SpawnRequest r;
  r.argv = {"no-such-program-drover"};
  r.env = {{"PATH", "/usr/bin:/bin"}};
  Result<ChildProcess> child = ChildProcess::Spawn(r);
  ASSERT_FALSE(child.ok());
  EXPECT_THAT(child.status().message(),
              ::testing::HasSubstr("cannot run no-such-program-drover: not found in PATH"));
  r.argv = {};
  EXPECT_FALSE(ChildProcess::Spawn(r).ok());
}

TEST(ChildProcess, SignalReachesTheWholeGroupAndNothingOutlivesTheLeader) {
  SpawnRequest r;
  r.argv = {"sh", "-c", "sleep 987611 & sleep 987612; wait"};
  r.env = {{"PATH", "/usr/bin:/bin"}};
  Result<ChildProcess> child = ChildProcess::Spawn(r);
  ASSERT_TRUE(child.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  child->Signal(SIGTERM);
  EXPECT_EQ(WaitExit(*child), 128 + SIGTERM);
  testing::ProcessResult left = testing::RunCommand("pgrep -f 'sleep 98761[12]' || true");
  EXPECT_EQ(left.out, "") << "left behind: " << left.out;
}

TEST(ChildProcess, LeftoverGroupIsKilledOnlyWhenItIsTheRecordedProcess) {
  SpawnRequest r;
  r.argv = {"sleep", "987613"};
  r.env = {{"PATH", "/usr/bin:/bin"}};
  Result<ChildProcess> child = ChildProcess::Spawn(r);
  ASSERT_TRUE(child.ok());
  std::optional<uint64_t> start = ChildProcess::StartTime(child->pid());
  ASSERT_TRUE(start.has_value());
  EXPECT_FALSE(KillLeftoverGroup(child->pid(), *start + 1));  // another process with that pid
  EXPECT_TRUE(KillLeftoverGroup(child->pid(), *start));
  EXPECT_EQ(WaitExit(*child), 128 + SIGKILL);
  EXPECT_FALSE(ChildProcess::StartTime(child->pid()).has_value());
}

TEST(AgentMetrics, CountsAreRenderedAndServedOnMetricsListen) {
  AgentMetrics metrics;
  metrics.SetExecutions({{"running", 2}, {"failed", 1}});
  metrics.SetExecutions({{"running", 3}});  // a state that disappears goes to 0
  metrics.CountHeartbeat(true);
  metrics.CountHeartbeat(false);
  metrics.CountRestart("prod/logs");
  metrics.CountWindow("prod/logs", 90, 10, true);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, ::testing::HasSubstr("drover_agent_executions{state=\"running\"} 3"));
  EXPECT_THAT(text, ::testing::HasSubstr("drover_agent_executions{state=\"failed\"} 0"));
  EXPECT_THAT(text, ::testing::HasSubstr("drover_agent_heartbeats_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, ::testing::HasSubstr("drover_agent_restarts_total{job=\"prod/logs\"} 1"));
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "drover_agent_messages_total{job=\"prod/logs\",result=\"error\"} 10"));

  const int port = FreeLoopbackPort();
  Result<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:" + std::to_string(port), metrics);
  ASSERT_TRUE(server.ok()) << server.status().message();
  std::optional<std::string> served = LoopbackGet(port, "/metrics", 2000);
  ASSERT_TRUE(served.has_value());
  EXPECT_THAT(*served, ::testing::HasSubstr("drover_agent_heartbeats_total"));
  EXPECT_FALSE(LoopbackGet(port, "/other", 2000).has_value());  // 404
  EXPECT_FALSE(MetricsServer::Start("not an address", metrics).ok());
}

}  // namespace
}  // namespace drover::agent
