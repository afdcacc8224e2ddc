// LogStore: lines out of offset-addressed chunks (resends dropped, gaps noted, partial lines
// extended), the per-execution and total caps with least-recently-written eviction, tails of an
// execution and of a job, and the decoding of a heartbeat's `logs` field.
#include "controller/log_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "controller/http.h"
#include "tests/controller/fake_clock.h"

namespace drover::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const LogOwner kOwner{"node-1", "j-1", "default", 1};

LogChunk Out(const std::string& id, uint64_t offset, const std::string& data) {
  return {id, LogStream::kStdout, offset, data};
}
LogChunk Err(const std::string& id, uint64_t offset, const std::string& data) {
  return {id, LogStream::kStderr, offset, data};
}

// "text" for complete lines, "text…" for a partial one.
std::vector<std::string> Texts(const LogPage& page) {
  std::vector<std::string> out;
  for (const LogEntry& e : page.entries) out.push_back(e.text + (e.partial ? "…" : ""));
  return out;
}

std::vector<std::string> Tail(const LogStore& store, const std::string& id, size_t lines = 100) {
  std::optional<LogPage> page = store.ExecutionTail(id, lines);
  return page ? Texts(*page) : std::vector<std::string>{"<none>"};
}

class LogStoreTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
};

TEST_F(LogStoreTest, SplitsLinesAndKeepsTheUnfinishedLastLineUntilItsNewlineComes) {
  LogStore store(clock_);
  LogAppendResult r = store.Append(kOwner, Out("e-1", 0, "one\ntwo\nthr"));
  EXPECT_EQ(r.stored, 11u);
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("one", "two", "thr…"));
  uint64_t seq = store.ExecutionTail("e-1", 100)->entries[2].seq;
  store.Append(kOwner, Out("e-1", 11, "ee\nfour\n"));
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("one", "two", "three", "four"));
  EXPECT_EQ(store.ExecutionTail("e-1", 100)->entries[2].seq, seq) << "a growing line keeps its seq";
}

TEST_F(LogStoreTest, EmptyLinesAndCarriageReturnsBeforeTheNewline) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "a\r\n\n\nb\r"));
  store.Append(kOwner, Out("e-1", 7, "\nc"));
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("a", "", "", "b", "c…"));
}

TEST_F(LogStoreTest, AResentChunkAddsNothing) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "hello\n"));
  LogAppendResult again = store.Append(kOwner, Out("e-1", 0, "hello\n"));
  EXPECT_EQ(again.duplicate, 6u);
  EXPECT_EQ(again.stored, 0u);
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("hello"));
}

TEST_F(LogStoreTest, AChunkOverlappingWhatIsHeldAddsOnlyItsNewBytes) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "hello\nwor"));
  LogAppendResult r = store.Append(kOwner, Out("e-1", 6, "world\nnext\n"));
  EXPECT_EQ(r.duplicate, 3u);
  EXPECT_EQ(r.stored, 8u);
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("hello", "world", "next"));
}

TEST_F(LogStoreTest, AnOverlapEndingInsideACharacterResumesAtTheNextCharacter) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "caf"));
  store.Append(kOwner, Out("e-1", 3, "x"));
  // The store holds 4 bytes; this resend overlaps them up to the middle of "é": the rest of that
  // character is dropped rather than shown as a broken byte.
  LogAppendResult r = store.Append(kOwner, Out("e-1", 2, "f\xC3\xA9!\n"));
  EXPECT_EQ(r.duplicate, 3u);
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("cafx!"));
}

TEST_F(LogStoreTest, AGapIsNotedAsSkippedBytesAndEndsTheUnfinishedLine) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "a\npart"));
  LogAppendResult r = store.Append(kOwner, Out("e-1", 100, "b\n"));
  EXPECT_EQ(r.skipped, 94u);
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("a", "part", "[... 94 bytes skipped ...]", "b"));
  // What follows the gap is held from the chunk's end on.
  EXPECT_EQ(store.Append(kOwner, Out("e-1", 101, "\n")).duplicate, 1u);
}

TEST_F(LogStoreTest, TheFirstChunkAfterARestartOrAnEvictionShowsTheBytesItMissed) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 5000, "later\n"));
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("[... 5000 bytes skipped ...]", "later"));
}

TEST_F(LogStoreTest, StdoutAndStderrAreSeparateStreamsInterleavedByArrival) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "out-1\nout-"));
  store.Append(kOwner, Err("e-1", 0, "err-1\n"));
  store.Append(kOwner, Out("e-1", 10, "2\n"));
  std::optional<LogPage> page = store.ExecutionTail("e-1", 100);
  ASSERT_TRUE(page);
  EXPECT_THAT(Texts(*page), ElementsAre("out-1", "out-2", "err-1"))
      << "the stdout line began before the stderr one";
  EXPECT_EQ(page->entries[2].stream, LogStream::kStderr);
  // Offsets are per stream: stderr at 6 is new, stdout at 6 is held.
  EXPECT_EQ(store.Append(kOwner, Err("e-1", 6, "err-2\n")).stored, 6u);
  EXPECT_EQ(store.Append(kOwner, Out("e-1", 6, "2\n")).duplicate, 2u);
}

TEST_F(LogStoreTest, ALineLongerThanTheLimitIsBrokenOnACharacterBoundary) {
  LogStore store(clock_, {.line_bytes = 8});
  store.Append(kOwner, Out("e-1", 0, "abcdefg\xC3\xA9xyz\n"));  // é at bytes 7-8
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("abcdefg", "\xC3\xA9xyz"));
  store.Append(kOwner, Out("e-1", 13, "12345678901234567890"));
  EXPECT_THAT(Tail(store, "e-1"),
              ElementsAre("abcdefg", "\xC3\xA9xyz", "12345678", "90123456", "7890…"));
}

TEST_F(LogStoreTest, ThePerExecutionCapDropsTheOldestLines) {
  LogStoreLimits limits;
  limits.execution_bytes = LogStore::kExecutionOverhead + 3 + 3 * (LogStore::kLineOverhead + 2);
  LogStore store(clock_, limits);
  store.Append(kOwner, Out("e-1", 0, "l1\nl2\nl3\n"));
  EXPECT_FALSE(store.ExecutionTail("e-1", 100)->truncated);
  store.Append(kOwner, Out("e-1", 9, "l4\nl5\n"));
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("l3", "l4", "l5"));
  EXPECT_TRUE(store.ExecutionTail("e-1", 100)->truncated);
}

TEST_F(LogStoreTest, TheTotalCapEvictsTheLeastRecentlyWrittenExecutionFirst) {
  const size_t one = LogStore::kExecutionOverhead + 3 + LogStore::kLineOverhead + 4;
  LogStoreLimits limits;
  limits.total_bytes = 3 * one;
  LogStore store(clock_, limits);
  store.Append(kOwner, Out("e-a", 0, "aaaa"));
  store.Append(kOwner, Out("e-b", 0, "bbbb"));
  store.Append(kOwner, Out("e-c", 0, "cccc"));
  EXPECT_EQ(store.usage().bytes, 3 * one);
  // e-a is written again (its newline: no new bytes), so e-b is now the least recently written.
  store.Append(kOwner, Out("e-a", 4, "\n"));
  store.Append(kOwner, Out("e-d", 0, "dddd"));
  EXPECT_FALSE(store.ExecutionTail("e-b", 100)) << "evicted";
  EXPECT_TRUE(store.ExecutionTail("e-a", 100));
  EXPECT_TRUE(store.ExecutionTail("e-c", 100));
  EXPECT_TRUE(store.ExecutionTail("e-d", 100));
  EXPECT_EQ(store.usage().evicted, 1u);
  EXPECT_EQ(store.usage().executions, 3u);
  EXPECT_LE(store.usage().bytes, limits.total_bytes);
  // An evicted execution that writes again starts over, noting what it lost.
  store.Append(kOwner, Out("e-b", 4, "more\n"));
  EXPECT_THAT(Tail(store, "e-b"), ElementsAre("[... 4 bytes skipped ...]", "more"));
}

TEST_F(LogStoreTest, OneExecutionLargerThanTheTotalCapKeepsItsNewestLines) {
  LogStoreLimits limits;
  limits.total_bytes = LogStore::kExecutionOverhead + 3 + 2 * (LogStore::kLineOverhead + 1);
  LogStore store(clock_, limits);
  store.Append(kOwner, Out("e-1", 0, "1\n2\n3\n4\n"));
  EXPECT_THAT(Tail(store, "e-1"), ElementsAre("3", "4"));
  EXPECT_LE(store.usage().bytes, limits.total_bytes);
}

TEST_F(LogStoreTest, TailGivesTheNewestLinesOldestFirstAndSaysWhenItCut) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "1\n2\n3\n4\n5\n"));
  EXPECT_THAT(Tail(store, "e-1", 2), ElementsAre("4", "5"));
  EXPECT_TRUE(store.ExecutionTail("e-1", 2)->truncated);
  EXPECT_FALSE(store.ExecutionTail("e-1", 5)->truncated);
  EXPECT_THAT(Tail(store, "e-1", 0), ElementsAre());
  EXPECT_FALSE(store.ExecutionTail("e-unknown", 10));
}

TEST_F(LogStoreTest, AJobTailMergesItsExecutionsInArrivalOrderAndFiltersByNode) {
  LogStore store(clock_);
  const LogOwner on_1{"node-1", "j-1", "default", 1};
  const LogOwner on_2{"node-2", "j-1", "default", 1};
  const LogOwner other_job{"node-1", "j-2", "default", 1};
  store.Append(on_1, Out("e-1", 0, "a1\n"));
  store.Append(on_2, Out("e-2", 0, "b1\n"));
  store.Append(other_job, Out("e-3", 0, "x\n"));
  store.Append(on_1, Out("e-1", 3, "a2\n"));
  LogPage all = store.JobTail("j-1", "", 100);
  EXPECT_THAT(Texts(all), ElementsAre("a1", "b1", "a2"));
  EXPECT_EQ(all.entries[1].owner.node_id, "node-2");
  EXPECT_EQ(all.entries[1].execution_id, "e-2");
  EXPECT_THAT(Texts(store.JobTail("j-1", "node-1", 100)), ElementsAre("a1", "a2"));
  LogPage newest = store.JobTail("j-1", "", 2);
  EXPECT_THAT(Texts(newest), ElementsAre("b1", "a2")) << "tail counts lines over all executions";
  EXPECT_TRUE(newest.truncated);
  EXPECT_TRUE(store.JobTail("j-none", "", 100).entries.empty());
}

TEST_F(LogStoreTest, LinesCarryTheTimeTheirFirstByteArrived) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "start"));
  clock_.Advance(std::chrono::seconds(90));
  store.Append(kOwner, Out("e-1", 5, " end\nnext\n"));
  std::optional<LogPage> page = store.ExecutionTail("e-1", 100);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].time, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(page->entries[1].time, "2026-01-01T00:01:30.000Z");
}

TEST_F(LogStoreTest, ALaterStoreNumbersItsLinesAfterAnEarlierOne) {
  LogStore before(clock_);
  before.Append(kOwner, Out("e-1", 0, "1\n2\n3\n"));
  clock_.Advance(std::chrono::seconds(1));
  LogStore after(clock_);  // a controller restart
  after.Append(kOwner, Out("e-1", 6, "4\n"));
  EXPECT_GT(after.ExecutionTail("e-1", 1)->entries[0].seq,
            before.ExecutionTail("e-1", 1)->entries[0].seq);
}

TEST_F(LogStoreTest, ForgetDropsAnExecutionsTail) {
  LogStore store(clock_);
  store.Append(kOwner, Out("e-1", 0, "x\n"));
  store.Forget("e-1");
  store.Forget("e-unknown");
  EXPECT_FALSE(store.ExecutionTail("e-1", 10));
  EXPECT_FALSE(store.OwnerOf("e-1"));
  EXPECT_TRUE(store.JobTail("j-1", "", 10).entries.empty());
  EXPECT_EQ(store.usage().bytes, 0u);
}

TEST_F(LogStoreTest, InvalidUtf8AndHugeOffsetsNeitherCrashNorBreakTheJsonAnswer) {
  LogStore store(clock_, {.line_bytes = 4});
  store.Append(kOwner, Out("e-1", 0, "\xFF\xFE\x80\x80\x80\x80\x80\n\xC3"));
  store.Append(kOwner, Out("e-1", ~uint64_t{0}, "late\n"));
  store.Append(kOwner, Out("", 0, "no id\n"));
  std::optional<LogPage> page = store.ExecutionTail("e-1", 100);
  ASSERT_TRUE(page);
  std::string json = DumpJson(LogPageToJson(*page));
  EXPECT_THAT(json, HasSubstr("bytes skipped"));
  EXPECT_THAT(json, HasSubstr("late"));
  EXPECT_EQ(store.usage().executions, 1u);
}

TEST_F(LogStoreTest, TheJsonShapeOfAPage) {
  LogStore store(clock_);
  store.Append({"node-1", "j-1", "prod", 3}, Err("e-1", 0, "boom\nhalf"));
  Json body = LogPageToJson(*store.ExecutionTail("e-1", 100));
  ASSERT_EQ(body["items"].size(), 2u);
  const Json& first = body["items"][0];
  EXPECT_EQ(first["execution_id"], "e-1");
  EXPECT_EQ(first["node_id"], "node-1");
  EXPECT_EQ(first["job_id"], "j-1");
  EXPECT_EQ(first["version"], 3);
  EXPECT_EQ(first["stream"], "stderr");
  EXPECT_EQ(first["line"], "boom");
  EXPECT_EQ(first["partial"], false);
  EXPECT_EQ(first["time"], "2026-01-01T00:00:00.000Z");
  EXPECT_TRUE(first["seq"].is_number_unsigned());
  EXPECT_EQ(body["items"][1]["partial"], true);
  EXPECT_EQ(body["truncated"], false);
  EXPECT_TRUE(body["next_token"].is_null());
}

TEST_F(LogStoreTest, ConcurrentWritersAndReadersSeeWholeLines) {
  LogStore store(clock_, {.execution_bytes = 8 * 1024, .total_bytes = 64 * 1024});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      std::string id = "e-" + std::to_string(t);
      LogOwner owner{"node-" + std::to_string(t), "j-1", "default", 1};
      uint64_t offset = 0;
      for (int i = 0; i < 500; ++i) {
        std::string line = "line " + std::to_string(i) + "\n";
        store.Append(owner, Out(id, offset, line));
        offset += line.size();
        store.JobTail("j-1", "", 50);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_THAT(Tail(store, "e-" + std::to_string(t), 1), ElementsAre("line 499"));
  }
  EXPECT_LE(store.usage().bytes, 64u * 1024);
}

// ---- the heartbeat's `logs` field ----

std::vector<std::string> Fields(const Json& logs) {
  Diagnostics d;
  ParseLogChunks(logs, &d);
  std::vector<std::string> out;
  for (const FieldIssue& issue : d.errors()) out.push_back(issue.field);
  return out;
}

TEST(ParseLogChunks, DecodesEveryChunk) {
  Diagnostics d;
  std::vector<LogChunk> chunks = ParseLogChunks(
      Json::parse(R"([{"execution_id": "e-1", "stream": "stdout", "offset": 0, "data": "a\n"},
                      {"execution_id": "e-1", "stream": "stderr", "offset": 12, "data": ""}])"),
      &d);
  EXPECT_TRUE(d.ok());
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].data, "a\n");
  EXPECT_EQ(chunks[1].stream, LogStream::kStderr);
  EXPECT_EQ(chunks[1].offset, 12u);
  EXPECT_TRUE(ParseLogChunks(Json(), &d).empty());
  EXPECT_TRUE(d.ok()) << "null: no logs";
}

TEST(ParseLogChunks, EveryWrongTypeIsAnErrorWithItsFieldPath) {
  EXPECT_THAT(Fields(Json::object()), ElementsAre("logs"));
  EXPECT_THAT(Fields("text"), ElementsAre("logs"));
  EXPECT_THAT(Fields(Json::array({1, nullptr, Json::array()})),
              ElementsAre("logs[0]", "logs[1]", "logs[2]"));
  EXPECT_THAT(
      Fields(Json::array({Json::object()})),
      ElementsAre("logs[0].execution_id", "logs[0].stream", "logs[0].offset", "logs[0].data"));
  Json bad = Json::parse(R"([{"execution_id": 7, "stream": "stdin", "offset": -1, "data": 5},
                             {"execution_id": "", "stream": 1, "offset": 1.5, "data": null},
                             {"execution_id": "e", "stream": "stdout", "offset": "0", "data": "",
                              "extra": true},
                             {"execution_id": "e", "stream": "stdout",
                              "offset": 18446744073709551615, "data": ""}])");
  EXPECT_THAT(Fields(bad), ElementsAre("logs[0].execution_id", "logs[0].stream", "logs[0].offset",
                                       "logs[0].data", "logs[1].execution_id", "logs[1].stream",
                                       "logs[1].offset", "logs[1].data", "logs[2].extra",
                                       "logs[2].offset", "logs[3].offset"));
  Json long_id = Json::array({{{"execution_id", std::string(300, 'e')},
                               {"stream", "stdout"},
                               {"offset", 0},
                               {"data", ""}}});
  EXPECT_THAT(Fields(long_id), ElementsAre("logs[0].execution_id"));
}

}  // namespace
}  // namespace drover::controller
