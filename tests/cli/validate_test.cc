// `drover validate` as a user runs it: the real binary on files, folders and stdin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/run_process.h"

namespace drover {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;

std::string Drover(const std::string& args) { return std::string(DROVER_BINARY) + " " + args; }

class ValidateCommand : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("drover-validate"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ValidateCommand, ExampleManifestsAreAllValid) {
  auto r =
      RunCommand(Drover("validate -f " + std::string(DROVER_SOURCE_DIR) + "/manifests/examples/"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(" 0 invalid"));
  EXPECT_THAT(r.out, Not(HasSubstr("error")));
}

TEST_F(ValidateCommand, PrintsEveryProblemWithFileDocumentLineAndColumn) {
  std::string path = Write("jobs.yaml",
                           "name: ok\ntype: update\nconfig: {command: [\"true\"]}\n"
                           "---\n"
                           "name: Bad\n"
                           "type: batch\n"
                           "rollout:\n"
                           "  strategy: sideways\n");
  auto r = RunCommand(Drover("validate -f " + path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(path + "#2:5:1: spec.name: must consist of lowercase"));
  EXPECT_THAT(r.out, HasSubstr(path + "#2:6:1: spec.type: must be one of"));
  EXPECT_THAT(r.out, HasSubstr(path + "#2:8:3: spec.rollout.strategy: must be one of"));
  EXPECT_THAT(r.out, Not(HasSubstr("#1:")));
  EXPECT_THAT(r.err, HasSubstr("2 documents checked: 1 valid, 1 invalid"));
}

TEST_F(ValidateCommand, SingleDocumentFilesHaveNoDocumentNumber) {
  std::string path = Write(
      "one.yaml", "name: x\ntype: query\nconfig:\n  input: {stdin: {}}\n  output: {kafka: {}}\n");
  auto r = RunCommand(Drover("validate -f " + path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out,
              HasSubstr(path + ":5:12: spec.config.output.kafka: unsupported output \"kafka\""));
}

TEST_F(ValidateCommand, YamlSyntaxErrorsPointAtLineAndColumn) {
  std::string path = Write("broken.yaml", "name: x\nlabels: [a, b\ntype: query\n");
  auto r = RunCommand(Drover("validate -f " + path));
  EXPECT_EQ(r.exit_code, 1);
  // The flow sequence opened on line 2 is found unclosed at the ':' of "type:" (line 3, column
  // 5, both 1-based).
  EXPECT_THAT(r.out, HasSubstr(path + ":3:5: end of sequence flow not found\n")) << r.out;
}

TEST_F(ValidateCommand, WarningsArePrintedButValid) {
  std::string path = Write("warn.yaml",
                           "name: x\ntype: pipeline\nmeta: {expanso.io/owner: me}\n"
                           "config: {input: {stdin: {}}, output: {stdout: {}}}\n");
  auto r = RunCommand(Drover("validate -f " + path));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(path + ":3:8: spec.meta[\"expanso.io/owner\"]: warning: "));
}

TEST_F(ValidateCommand, ReadsStandardInputAsJsonOrYaml) {
  auto json = RunCommand(Drover("validate -f -"),
                         R"({"name": "x", "type": "update", "config": {"command": []}})");
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, HasSubstr("-:1:55: spec.config.command: must not be empty"));
  auto truncated = RunCommand(Drover("validate -f -"), R"({"name": "x", "type": )");
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_THAT(truncated.out, HasSubstr("-:1:23: unexpected end of input"));
  auto yaml =
      RunCommand(Drover("validate -f -"), "name: x\ntype: update\nconfig: {command: [\"true\"]}\n");
  EXPECT_EQ(yaml.exit_code, 0) << yaml.out << yaml.err;
}

TEST_F(ValidateCommand, ReadsFoldersRecursivelyInPathOrderAndSkipsOtherFiles) {
  Write("b/second.yml", "name: b\ntype: update\nconfig: {command: [x]}\npriority: z\n");
  Write("a/first.json",
        R"({"name": "a", "type": "update", "config": {"command": ["x"]}, "priority": "z"})");
  Write("a/notes.txt", "not a manifest");
  auto r = RunCommand(Drover("validate -f " + dir_.string()));
  EXPECT_EQ(r.exit_code, 1);
  size_t first = r.out.find("first.json");
  size_t second = r.out.find("second.yml");
  ASSERT_NE(first, std::string::npos) << r.out;
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_LT(first, second);
  EXPECT_THAT(r.out, Not(HasSubstr("notes.txt")));
}

TEST_F(ValidateCommand, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCommand(Drover("validate")).exit_code, 2);
  EXPECT_EQ(RunCommand(Drover("validate -f")).exit_code, 2);
  EXPECT_EQ(RunCommand(Drover("validate --bogus")).exit_code, 2);
  auto missing = RunCommand(Drover("validate -f " + (dir_ / "nope.yaml").string()));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no such file or directory"));
  EXPECT_EQ(RunCommand(Drover("frobnicate")).exit_code, 2);
  EXPECT_EQ(RunCommand(Drover("")).exit_code, 2);
}

TEST_F(ValidateCommand, HelpExitsZero) {
  auto r = RunCommand(Drover("validate --help"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Usage: drover validate"));
  EXPECT_EQ(RunCommand(Drover("--help")).exit_code, 0);
  EXPECT_THAT(RunCommand(Drover("version")).out, HasSubstr("drover "));
}

TEST_F(ValidateCommand, HostileFilesNeverCrashIt) {
  std::string deep = Write("deep.yaml", std::string(10000, '['));
  std::string binary = Write("binary.yaml", std::string("\xff\xfe\x00\x01name: x", 11));
  std::string big = Write("big.yaml", "name: " + std::string(10 << 20, 'a') + "\n");
  std::string bad_utf8 = Write("utf8.json", "{\"name\": \"\xc3\x28\"}");
  for (const std::string& p : {deep, binary, big, bad_utf8}) {
    auto r = RunCommand(Drover("validate -f " + p));
    EXPECT_EQ(r.exit_code, 1) << p << ": " << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(p + ":")) << p;
  }
}

}  // namespace
}  // namespace drover
