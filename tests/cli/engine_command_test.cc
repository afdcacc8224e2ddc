// `drover engine` as the agent runs it: the real binary as a child process on temporary files,
// with its stdout, stderr, stats and results files and its exit codes.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/testing/run_process.h"

namespace drover {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ReadAll;
using testing::RunCommand;
using Json = nlohmann::json;

bool Eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

Json ReadJson(const std::filesystem::path& path) {
  return Json::parse(ReadAll(path), nullptr, /*allow_exceptions=*/false);
}

// `drover engine ARGS` started in the background, stdout and stderr to files in `dir`.
class EngineProcess {
 public:
  EngineProcess(const std::vector<std::string>& args, const std::filesystem::path& dir)
      : out_(dir / "engine.out"), err_(dir / "engine.err") {
    std::vector<std::string> argv = {DROVER_BINARY, "engine"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int in = open("/dev/null", O_RDONLY);
      int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> raw;
      for (std::string& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
  }
  ~EngineProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits (patiently) for the exit; its code, or -1 when it did not exit.
  int Wait() {
    int code = -1;
    Eventually([&] {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return true;
    });
    return code;
  }
  int Terminate() {
    kill(pid_, SIGTERM);
    return Wait();
  }
  std::string out() const { return ReadAll(out_); }
  std::string err() const { return ReadAll(err_); }

 private:
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
};

class EngineCommand : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("drover-engine"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary | std::ios::app) << text;
    return Path(name);
  }
  std::string Config(const Json& config) {
    std::filesystem::remove(dir_ / "config.json");
    return Write("config.json", config.dump());
  }
  // The seed example (shared/seed), its paths pointed at this test's folder.
  Json Seed() const {
    return {{"input", {{"file", {{"paths", {Path("logs/*.log")}}}}}},
            {"output", {{"stdout", Json::object()}}},
            {"pipeline",
             {{"processors", {{{"mapping", "root = this\nroot.processed_at = now()\n"}}}}}}};
  }
  std::string Drover(const std::string& args) const {
    return std::string(DROVER_BINARY) + " engine " + args;
  }
  std::filesystem::path dir_;
};

TEST_F(EngineCommand, SeedPipelineStampsLinesFollowsTheFileCountsAndStopsCleanlyOnSigterm) {
  Write("logs/app.log", "{\"msg\":\"a\"}\n{\"msg\":\"b\"}\nnot json\n");
  std::string config = Config(Seed());
  EngineProcess engine(
      {"--config", config, "--state-dir", Path("state"), "--stats", Path("stats.json")}, dir_);
  ASSERT_TRUE(Eventually([&] { return Lines(engine.out()).size() == 3; })) << engine.err();
  Write("logs/app.log", "{\"msg\":\"c\"}\n");
  ASSERT_TRUE(Eventually([&] { return Lines(engine.out()).size() == 4; })) << engine.err();
  ASSERT_TRUE(Eventually([&] {
    return ReadJson(Path("stats.json")) == Json{{"processed", 3}, {"errors", 1}};
  })) << ReadAll(Path("stats.json"));

  EXPECT_EQ(engine.Terminate(), 0) << engine.err();
  std::vector<std::string> lines = Lines(engine.out());
  EXPECT_EQ(lines[2], "not json");  // failed the mapping: passed on unchanged, counted
  for (int i : {0, 1, 3}) {
    Json line = Json::parse(lines[i], nullptr, false);
    ASSERT_TRUE(line.is_object()) << lines[i];
    EXPECT_TRUE(line.contains("processed_at")) << lines[i];
  }
  EXPECT_EQ(Json::parse(lines[3])["msg"], "c");
  EXPECT_EQ(ReadJson(Path("stats.json")), (Json{{"processed", 3}, {"errors", 1}}));
  EXPECT_TRUE(std::filesystem::exists(Path("state/file_input_offsets.json")));

  // Restarted on the same state, it goes on where it stopped.
  Write("logs/app.log", "{\"msg\":\"d\"}\n");
  EngineProcess again({"--config", config, "--state-dir", Path("state")}, dir_);
  ASSERT_TRUE(Eventually([&] { return Lines(again.out()).size() == 1; })) << again.err();
  EXPECT_EQ(again.Terminate(), 0);
  EXPECT_EQ(Json::parse(Lines(again.out())[0])["msg"], "d");
}

TEST_F(EngineCommand, QueryWritesItsResultsAndExitsByItself) {
  Write("logs/a.log", "{\"n\":1}\nplain text\n{\"n\":2}\n");
  Json query = {{"input", {{"file", {{"paths", {Path("logs/*.log")}}}}}}};
  auto r = RunCommand(Drover("--query --config " + Config(query) + " --results " +
                             Path("results.json") + " --stats " + Path("stats.json")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadJson(Path("results.json")),
            Json::parse(R"({"results":[{"n":1},"plain text",{"n":2}],"truncated":false})"));
  EXPECT_EQ(ReadJson(Path("stats.json")), (Json{{"processed", 3}, {"errors", 0}}));

  // 7 + 10 bytes fit in 20, the third message does not.
  r = RunCommand(Drover("--query --config " + Config(query) + " --results " + Path("results.json") +
                        " --results-limit 20"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadJson(Path("results.json")),
            Json::parse(R"({"results":[{"n":1},"plain text"],"truncated":true})"));
}

TEST_F(EngineCommand, StdinLinesGoToStdoutAndLogLinesToStderr) {
  Json config = {{"input", {{"stdin", Json::object()}}},
                 {"pipeline",
                  {{"processors",
                    {{{"mapping", "root = this.n * 2"}},
                     {{"log", {{"message", "doubled to ${! content() }"}}}}}}}},
                 {"output", {{"stdout", Json::object()}}}};
  auto r = RunCommand(Drover("--config " + Config(config)), "{\"n\":1}\n{\"n\":21}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(Lines(r.out), ElementsAre("2", "42"));
  EXPECT_THAT(Lines(r.err),
              ElementsAre(HasSubstr("msg=\"doubled to 2\""), HasSubstr("msg=\"doubled to 42\"")));
}

TEST_F(EngineCommand, UsageErrorsAndInvalidConfigsExitTwoNamingTheProblem) {
  auto r = RunCommand(Drover(""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--config FILE is required"));

  r = RunCommand(Drover("--config " + Path("missing.json")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read"));

  r = RunCommand(Drover("--config " + Config(Seed()) + " --bogus"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag --bogus"));

  r = RunCommand(Drover("--config " + Write("broken.json", "{\"input\": ")));
  EXPECT_EQ(r.exit_code, 2);

  r = RunCommand(Drover("--config " + Config({{"input", {{"file", {{"paths", Json::array()}}}}},
                                              {"output", {{"stdout", Json::object()}}}})));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("input.file.paths: must list at least one path"));

  r = RunCommand(Drover("--config " + Config(Seed()) + " --read-root " + Path("elsewhere")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("input.file.paths[0]: "));
  EXPECT_THAT(r.err, HasSubstr("outside the read root"));

  Json listen = {{"input", {{"http_server", {{"address", "127.0.0.1:1"}}}}},
                 {"output", {{"drop", Json::object()}}}};
  r = RunCommand(Drover("--config " + Config(listen)));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("input.http_server: "));
}

TEST_F(EngineCommand, AFailedRunExitsOne) {
  Json config = {{"input", {{"stdin", Json::object()}}},
                 {"output", {{"file", {{"path", Path("no/such/folder/out.txt")}}}}}};
  auto r = RunCommand(Drover("--config " + Config(config)), "x\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("output.file.path: cannot open"));
}

}  // namespace
}  // namespace drover
