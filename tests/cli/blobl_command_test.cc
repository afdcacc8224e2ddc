// `drover blobl`: the exit codes, exact output bytes and messages of SPEC §10, called in process
// with string streams, and once through the real binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct BloblRun {
  int code = -1;
  std::string out;
  std::string err;
};

BloblRun Blobl(const std::vector<std::string>& args, const std::string& stdin_text) {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  BloblRun r;
  r.code = cli::RunBlobl(args, {in, out, err});
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(BloblCommand, WritesTheResultBytesWithoutANewline) {
  BloblRun r = Blobl({"root = this\nroot.n = this.n + 1"}, R"({"n":1,"a":"x"})");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, R"({"a":"x","n":2})");
  EXPECT_EQ(r.err, "");
}

TEST(BloblCommand, StringRootIsWrittenRaw) {
  BloblRun r = Blobl({"root = this.msg.uppercase()"}, R"({"msg":"hi there"})");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "HI THERE");
}

TEST(BloblCommand, ReadsStdinWholeAsOneMessage) {
  BloblRun r = Blobl({"root = content().length()"}, "line one\nline two\n");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "18");
}

TEST(BloblCommand, UnassignedRootPassesInputThrough) {
  BloblRun r = Blobl({"meta x = 1"}, "anything\n");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "anything\n");
}

TEST(BloblCommand, DeletedExitsThreeWithNoOutput) {
  BloblRun r = Blobl({"root = deleted()"}, "{}");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST(BloblCommand, RuntimeErrorExitsOneWithTheErrorOnStderr) {
  BloblRun r = Blobl({"root.a = this.a"}, "not json");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "drover blobl: failed assignment (line 1): unable to reference message as structured "
            "(with 'this.a'): parse as json: invalid character 'o' in literal null (expecting "
            "'u')\n");
}

TEST(BloblCommand, ParseErrorExitsTwo) {
  BloblRun r = Blobl({"root.a = 1\nroot.b = foo()"}, "{}");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "drover blobl: mapping: line 2 char 10: unrecognised function 'foo'\n");
}

TEST(BloblCommand, MappingFromAFile) {
  std::filesystem::path dir = testing::MakeTempDir("drover-blobl");
  std::ofstream(dir / "m.blobl") << "# from a file\nroot.v = hostname() != \"\"\n";
  BloblRun r = Blobl({"-f", (dir / "m.blobl").string()}, "{}");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, R"({"v":true})");

  std::ofstream(dir / "bad.blobl") << "root = nope()\n";
  r = Blobl({"--file=" + (dir / "bad.blobl").string()}, "{}");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "drover blobl: " + (dir / "bad.blobl").string() +
                       ": line 1 char 8: unrecognised function 'nope'\n");
  std::filesystem::remove_all(dir);
}

TEST(BloblCommand, UnreadableFileIsAUsageError) {
  BloblRun r = Blobl({"-f", "/nonexistent/drover/mapping.blobl"}, "{}");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read /nonexistent/drover/mapping.blobl"));
}

TEST(BloblCommand, UsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"root = 1", "root = 2"},
                                             {"-f"},
                                             {"--bogus", "root = 1"},
                                             {"root = 1", "-f", "x"}}) {
    BloblRun r = Blobl(args, "{}");
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args);
    EXPECT_THAT(r.err, StartsWith("drover blobl: ")) << ::testing::PrintToString(args);
    EXPECT_THAT(r.err, HasSubstr("Usage: drover blobl"));
    EXPECT_EQ(r.out, "");
  }
}

TEST(BloblCommand, Help) {
  BloblRun r = Blobl({"--help"}, "");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Usage: drover blobl MAPPING | -f FILE [--lines]"));
  EXPECT_THAT(r.out, HasSubstr("--lines"));
}

TEST(BloblCommand, DoubleDashAllowsAMappingStartingWithADash) {
  BloblRun r = Blobl({"--", "-5 + 1"}, "");
  EXPECT_EQ(r.code, 2);  // "-5 + 1" is not a statement
  EXPECT_THAT(r.err, HasSubstr("expected import, map, or assignment"));
}

TEST(BloblCommand, LinesMapsEachLine) {
  BloblRun r = Blobl({"--lines", "root = this.n * 2"}, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2\n4\n6\n");
}

TEST(BloblCommand, LinesKeepsGoingAfterErrorsAndExitsOne) {
  BloblRun r = Blobl({"root = this.n * 2", "--lines"}, "{\"n\":1}\nbad\n{\"n\":3}\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "2\n6\n");
  EXPECT_THAT(r.err, StartsWith("drover blobl: line 2: failed assignment (line 1): "));
}

TEST(BloblCommand, LinesSkipsDeletedMessages) {
  BloblRun r = Blobl({"--lines", "root = if this.n == 2 { deleted() } else { this.n }"},
                     "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "1\n3\n");
}

std::string Drover(const std::string& args) { return std::string(DROVER_BINARY) + " " + args; }

TEST(BloblBinary, RunsAMappingEndToEnd) {
  testing::ProcessResult r =
      testing::RunCommand(Drover("blobl 'root = this\nroot.seen = true'"), R"({"id":7})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, R"({"id":7,"seen":true})");

  r = testing::RunCommand(Drover("blobl 'root = deleted()'"), "{}");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");

  r = testing::RunCommand(Drover("blobl 'root = this.a'"), "{oops");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("failed assignment (line 1)"));

  r = testing::RunCommand(Drover("blobl 'root = nope()'"), "{}");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("line 1 char 8: unrecognised function 'nope'"));
}

TEST(BloblBinary, LinesEndToEnd) {
  testing::ProcessResult r =
      testing::RunCommand(Drover("blobl --lines 'root = content().uppercase()'"), "a\nbc\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "A\nBC\n");
}

}  // namespace
}  // namespace drover
