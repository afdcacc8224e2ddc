// LineSplitter: how bytes become line messages, and the offsets the file input commits.
#include "pipeline/line_splitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace drover::pipeline {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Contents(const Batch& batch) {
  std::vector<std::string> out;
  for (size_t i = 0; i < batch.size(); ++i) out.push_back(batch.message(i).content);
  return out;
}

TEST(LineSplitter, CutsLinesDropsCarriageReturnsAndSkipsEmptyLines) {
  LineSplitter lines;
  Batch batch;
  std::vector<uint64_t> ends;
  lines.Feed("a\r\n\nbc\n", {{"path", "/p"}}, &batch, &ends);
  EXPECT_THAT(Contents(batch), ElementsAre("a", "bc"));
  EXPECT_THAT(ends, ElementsAre(3u, 7u));
  EXPECT_EQ(batch.message(1).metadata.at("path"), "/p");
  EXPECT_EQ(lines.consumed(), 7u);
}

TEST(LineSplitter, AnIncompleteLineWaitsForItsNewlineAcrossFeeds) {
  LineSplitter lines;
  Batch batch;
  std::vector<uint64_t> ends;
  lines.Feed("one\ntw", {}, &batch, &ends);
  EXPECT_THAT(Contents(batch), ElementsAre("one"));
  EXPECT_EQ(lines.position(), 6u);
  EXPECT_EQ(lines.consumed(), 4u);
  batch.Clear();
  ends.clear();
  lines.Feed("o\nthr", {}, &batch, &ends);
  EXPECT_THAT(Contents(batch), ElementsAre("two"));
  EXPECT_THAT(ends, ElementsAre(8u));
  batch.Clear();
  ends.clear();
  lines.Flush({}, &batch, &ends);  // at the end of the stream the last line needs no newline
  EXPECT_THAT(Contents(batch), ElementsAre("thr"));
  EXPECT_EQ(lines.consumed(), 11u);
}

TEST(LineSplitter, ResetStartsOverAtAnOffsetDroppingTheIncompleteLine) {
  LineSplitter lines;
  Batch batch;
  std::vector<uint64_t> ends;
  lines.Feed("abc", {}, &batch, &ends);
  lines.Reset(100);
  lines.Feed("\nx\n", {}, &batch, &ends);
  EXPECT_THAT(Contents(batch), ElementsAre("x"));
  EXPECT_THAT(ends, ElementsAre(103u));
}

TEST(LineSplitter, AnOverlongLineIsCutIntoAMessageOfItsOwn) {
  LineSplitter lines;
  Batch batch;
  std::vector<uint64_t> ends;
  std::string huge(LineSplitter::kMaxLineBytes + 1, 'x');
  lines.Feed(huge, {}, &batch, &ends);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.message(0).content.size(), huge.size());
  EXPECT_EQ(lines.consumed(), huge.size());
}

TEST(Batch, ReusesItsMessagesAfterClear) {
  Batch batch;
  batch.Add("first", {{"k", "v"}});
  batch.flags(0) = kFailed;
  batch.Clear();
  bloblang::Message& m = batch.Add("second", {});
  EXPECT_EQ(batch.size(), 1u);
  EXPECT_EQ(m.content, "second");
  EXPECT_TRUE(m.metadata.empty());
  EXPECT_EQ(batch.flags(0), 0);
}

}  // namespace
}  // namespace drover::pipeline
