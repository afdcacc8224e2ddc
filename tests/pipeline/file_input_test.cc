// The `file` input on real files in temporary folders: query mode reads to the end, stream mode
// follows appended lines, new files, truncation and rotation, and its offsets survive a restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/pipeline/engine_testing.h"

namespace drover::pipeline {
namespace {

using testing::AppendText;
using ::testing::ElementsAre;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::Lines;
using testing::MakeEngine;
using testing::ReadLines;
using testing::RunningEngine;
using testing::TempDir;
using testing::WriteText;
using Json = nlohmann::json;

Json FileToFile(const std::string& pattern, const std::string& output) {
  return {{"input", {{"file", {{"paths", {pattern}}}}}},
          {"output", {{"file", {{"path", output}}}}}};
}

Json FileToStdout(const std::vector<std::string>& patterns) {
  return {{"input", {{"file", {{"paths", patterns}}}}}, {"output", {{"stdout", Json::object()}}}};
}

// An engine in stream mode on a thread of its own, its stdout lines collected in `out`.
class Following {
 public:
  explicit Following(const Json& config, std::string state_dir = "") {
    EngineOptions options;
    options.state_dir = std::move(state_dir);
    options.stdout_sink = out.Sink();
    engine_ = MakeEngine(config, std::move(options));
    if (engine_ != nullptr) running_ = std::make_unique<RunningEngine>(*engine_);
  }
  bool started() const { return running_ != nullptr; }
  Status Stop() { return running_->Stop(); }
  Counts counts() const { return engine_->counts(); }

  Lines out;  // first in, last out: the engine writes to it until it stops

 private:
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<RunningEngine> running_;
};

TEST(FileInput, QueryModeReadsEveryMatchedFileToItsEndThenFinishes) {
  TempDir dir;
  WriteText(dir / "a.log", "a1\r\na2\n\na3-without-newline");
  WriteText(dir / "b.log", "b1\n");
  WriteText(dir / "c.txt", "not matched\n");
  Lines out;
  Lines results;
  EngineOptions options;
  options.query = true;
  options.stdout_sink = out.Sink();
  options.result_sink = results.ResultSink();
  auto engine = MakeEngine(FileToStdout({dir / "*.log"}), std::move(options));
  ASSERT_NE(engine, nullptr);

  ASSERT_TRUE(engine->Run().ok());
  // Path order; "\r\n" read as "\n"; the empty line makes no message; the last line needs no
  // newline.
  EXPECT_THAT(out.Get(), ElementsAre("a1", "a2", "a3-without-newline", "b1"));
  EXPECT_THAT(results.Get(), ElementsAre("a1", "a2", "a3-without-newline", "b1"));
  EXPECT_EQ(results.Metadata()[0].at("path"), dir / "a.log");
  EXPECT_EQ(results.Metadata()[3].at("path"), dir / "b.log");
  EXPECT_EQ(engine->counts().processed, 4u);
  EXPECT_EQ(engine->counts().errors, 0u);
}

TEST(FileInput, QueryModeWithNoMatchingFileFinishesWithNothing) {
  TempDir dir;
  Lines out;
  EngineOptions options;
  options.query = true;
  options.stdout_sink = out.Sink();
  auto engine = MakeEngine(FileToStdout({dir / "*.log"}), std::move(options));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Run().ok());
  EXPECT_EQ(out.size(), 0u);
}

TEST(FileInput, LongFilesArriveWholeAndInOrder) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 50'000; ++i) text += "{\"n\":" + std::to_string(i) + "}\n";
  WriteText(dir / "big.log", text);
  EngineOptions options;
  options.query = true;
  auto engine = MakeEngine(FileToFile(dir / "big.log", dir / "out.txt"), std::move(options));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Run().ok());
  std::vector<std::string> lines = ReadLines(dir / "out.txt");
  ASSERT_EQ(lines.size(), 50'000u);
  EXPECT_EQ(lines[0], "{\"n\":0}");
  EXPECT_EQ(lines[49'999], "{\"n\":49999}");
  EXPECT_EQ(engine->counts().processed, 50'000u);
}

TEST(FileInput, StreamModeReadsFromTheStartThenFollowsAppendedLinesAndNewFiles) {
  TempDir dir;
  WriteText(dir / "a.log", "a1\na2\n");
  Following running(FileToStdout({dir / "*.log"}));
  ASSERT_TRUE(running.started());
  Lines& out = running.out;

  ASSERT_TRUE(out.WaitForSize(2));
  AppendText(dir / "a.log", "a3\na4-part");
  ASSERT_TRUE(out.WaitForSize(3));
  AppendText(dir / "a.log", "-rest\n");  // an incomplete line waits for its newline
  ASSERT_TRUE(out.WaitForSize(4));
  WriteText(dir / "b.log", "b1\n");
  ASSERT_TRUE(out.WaitForSize(5));

  EXPECT_TRUE(running.Stop().ok());
  EXPECT_THAT(out.Get(), ElementsAre("a1", "a2", "a3", "a4-part-rest", "b1"));
  EXPECT_EQ(running.counts().processed, 5u);
}

TEST(FileInput, OffsetsSurviveARestartWithNeitherDuplicatesNorLoss) {
  TempDir dir;
  std::string state = dir / "state";
  WriteText(dir / "a.log", "1\n2\n3\n");
  WriteText(dir / "b.log", "b1\n");
  Json config = FileToFile(dir / "*.log", dir / "out.txt");
  {
    Following running(config, state);
    ASSERT_TRUE(running.started());
    ASSERT_TRUE(Eventually([&] { return ReadLines(dir / "out.txt").size() == 4; }));
    AppendText(dir / "a.log", "4\n5-partial");
    ASSERT_TRUE(Eventually([&] { return ReadLines(dir / "out.txt").size() == 5; }));
    ASSERT_TRUE(running.Stop().ok());
  }
  // While it is stopped, the partial line is completed and more is written.
  AppendText(dir / "a.log", "-done\n6\n");
  AppendText(dir / "b.log", "b2\n");
  {
    Following running(config, state);
    ASSERT_TRUE(running.started());
    ASSERT_TRUE(Eventually([&] { return ReadLines(dir / "out.txt").size() >= 8; }));
    ASSERT_TRUE(running.Stop().ok());
    EXPECT_EQ(running.counts().processed, 3u);  // only what was new
  }
  std::vector<std::string> lines = ReadLines(dir / "out.txt");
  std::sort(lines.begin(), lines.end());
  EXPECT_THAT(lines, ElementsAre("1", "2", "3", "4", "5-partial-done", "6", "b1", "b2"));
}

TEST(FileInput, ASavedOffsetIsIgnoredForAnotherFileAtTheSamePath) {
  TempDir dir;
  std::string state = dir / "state";
  WriteText(dir / "a.log", "old1\nold2\n");
  Json config = FileToFile(dir / "a.log", dir / "out.txt");
  {
    Following running(config, state);
    ASSERT_TRUE(running.started());
    ASSERT_TRUE(Eventually([&] { return ReadLines(dir / "out.txt").size() == 2; }));
    ASSERT_TRUE(running.Stop().ok());
  }
  // Replaced while stopped (the old file kept open so that its inode is not reused).
  std::filesystem::rename(dir / "a.log", dir / "a.log.1");
  WriteText(dir / "a.log", "new1\nnew2\nnew3\n");
  {
    Following running(config, state);
    ASSERT_TRUE(running.started());
    ASSERT_TRUE(Eventually([&] { return ReadLines(dir / "out.txt").size() == 5; }));
    ASSERT_TRUE(running.Stop().ok());
  }
  EXPECT_THAT(ReadLines(dir / "out.txt"), ElementsAre("old1", "old2", "new1", "new2", "new3"));
}

TEST(FileInput, ATruncatedFileIsReadAgainFromItsStart) {
  TempDir dir;
  WriteText(dir / "a.log", "first-1\nfirst-2\nfirst-3\n");
  Following running(FileToStdout({dir / "a.log"}));
  ASSERT_TRUE(running.started());
  Lines& out = running.out;
  ASSERT_TRUE(out.WaitForSize(3));

  // Shorter than what was read: whether or not a poll saw it empty, it starts over.
  ASSERT_EQ(truncate((dir / "a.log").c_str(), 0), 0);
  AppendText(dir / "a.log", "again\n");
  ASSERT_TRUE(out.WaitForSize(4));
  EXPECT_TRUE(running.Stop().ok());
  EXPECT_THAT(out.Get(), ElementsAre("first-1", "first-2", "first-3", "again"));
}

TEST(FileInput, ARotatedFileIsReadToItsEndAndItsSuccessorFromItsStart) {
  TempDir dir;
  WriteText(dir / "app.log", "1\n2\n");
  Following running(FileToStdout({dir / "*.log"}));
  ASSERT_TRUE(running.started());
  Lines& out = running.out;
  ASSERT_TRUE(out.WaitForSize(2));

  // logrotate's way: the last lines land just before the rename, the successor starts empty.
  AppendText(dir / "app.log", "3\n");
  std::filesystem::rename(dir / "app.log", dir / "app.log.1");
  WriteText(dir / "app.log", "4\n");
  ASSERT_TRUE(out.WaitForSize(4));
  AppendText(dir / "app.log", "5\n");
  ASSERT_TRUE(out.WaitForSize(5));
  EXPECT_TRUE(running.Stop().ok());
  EXPECT_THAT(out.Get(), ElementsAre("1", "2", "3", "4", "5"));
}

TEST(FileInput, PatternsOutsideTheReadRootAreRejectedNamingTheField) {
  TempDir dir;
  EngineOptions options;
  options.read_root = dir / "root";
  Result<std::unique_ptr<Engine>> engine = Engine::Create(
      FileToStdout({dir / "root/*.log", "/etc/shadow", dir / "root/../escape.log"}), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalid);
  EXPECT_THAT(
      engine.status().message(),
      HasSubstr("input.file.paths[1]: /etc/shadow is outside the read root " + (dir / "root")));

  engine = Engine::Create(FileToStdout({dir / "root/x/../../escape.log"}), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("input.file.paths[0]: "));

  engine = Engine::Create(FileToStdout({dir / "root/*.log", dir / "root/sub/../b.log"}), options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
}

TEST(FileInput, FilesThatResolveOutsideTheReadRootAreSkipped) {
  TempDir dir;
  std::filesystem::create_directories(dir / "root");
  WriteText(dir / "secret.log", "secret\n");
  WriteText(dir / "root/inside.log", "inside\n");
  std::filesystem::create_symlink(dir / "secret.log", dir / "root/link.log");
  Lines out;
  Lines log;
  EngineOptions options;
  options.query = true;
  options.read_root = dir / "root";
  options.stdout_sink = out.Sink();
  options.log_sink = log.Sink();
  auto engine = MakeEngine(FileToStdout({dir / "root/*.log"}), std::move(options));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Run().ok());
  EXPECT_THAT(out.Get(), ElementsAre("inside"));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(log.Get()[0], HasSubstr("link.log: skipped: it resolves outside the read root"));
}

}  // namespace
}  // namespace drover::pipeline
