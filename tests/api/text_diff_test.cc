// Tests of UnifiedDiff (api/text_diff.h). Expected outputs were produced once with GNU diffutils
// 3.8, `diff -U<context> --label a --label b`, and pasted here; the tests never run diff. Random
// cases check that every diff applies back to the new text and is a minimal edit script.
#include "api/text_diff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace drover {
namespace {

struct Line {
  std::string text;  // without its '\n'
  bool has_newline = true;

  bool operator==(const Line&) const = default;
};

std::vector<Line> ToLines(std::string_view text) {
  std::vector<Line> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t newline = text.find('\n', begin);
    if (newline == std::string_view::npos) {
      lines.push_back({std::string(text.substr(begin)), false});
      break;
    }
    lines.push_back({std::string(text.substr(begin, newline - begin)), true});
    begin = newline + 1;
  }
  return lines;
}

std::string FromLines(const std::vector<Line>& lines) {
  std::string text;
  for (const Line& line : lines) {
    text += line.text;
    if (line.has_newline) text += '\n';
  }
  return text;
}

// Parses "3,4" or "3" into a 1-based start and a count.
bool ParseRange(std::string_view text, int64_t* start, int64_t* count) {
  size_t comma = text.find(',');
  std::string first(text.substr(0, comma));
  if (first.empty() || first.find_first_not_of("0123456789") != std::string::npos) return false;
  *start = std::stoll(first);
  *count = 1;
  if (comma != std::string_view::npos) {
    std::string second(text.substr(comma + 1));
    if (second.empty() || second.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    *count = std::stoll(second);
  }
  return true;
}

// A small `patch`: applies a unified diff to `old_text`, checking every context and deleted line
// against it and every hunk's counts against its body. Returns "<malformed: ...>" on any mismatch,
// which no expected text in these tests equals.
std::string ApplyPatch(std::string_view old_text, std::string_view diff) {
  const std::vector<Line> old_lines = ToLines(old_text);
  std::vector<std::string> diff_lines;
  for (const Line& line : ToLines(diff)) {
    if (!line.has_newline) return "<malformed: diff does not end in a newline>";
    diff_lines.push_back(line.text);
  }
  if (diff_lines.size() < 2 || diff_lines[0].rfind("--- ", 0) != 0 ||
      diff_lines[1].rfind("+++ ", 0) != 0) {
    return "<malformed: header>";
  }
  std::vector<Line> result;
  size_t old_next = 0;  // next old line not yet copied or consumed
  size_t d = 2;
  while (d < diff_lines.size()) {
    const std::string& header = diff_lines[d++];
    if (header.rfind("@@ -", 0) != 0 || header.size() < 10 ||
        header.substr(header.size() - 3) != " @@") {
      return "<malformed: hunk header " + header + ">";
    }
    std::string_view ranges(header);
    ranges = ranges.substr(4, ranges.size() - 7);  // "a,b +c,d"
    size_t space = ranges.find(" +");
    if (space == std::string_view::npos) return "<malformed: hunk header " + header + ">";
    int64_t old_start = 0, old_count = 0, new_start = 0, new_count = 0;
    if (!ParseRange(ranges.substr(0, space), &old_start, &old_count) ||
        !ParseRange(ranges.substr(space + 2), &new_start, &new_count)) {
      return "<malformed: hunk header " + header + ">";
    }
    // An empty range names the line before it.
    const size_t hunk_begin = static_cast<size_t>(old_count == 0 ? old_start : old_start - 1);
    const size_t new_begin = static_cast<size_t>(new_count == 0 ? new_start : new_start - 1);
    if (hunk_begin < old_next || hunk_begin > old_lines.size()) return "<malformed: overlap>";
    result.insert(result.end(), old_lines.begin() + old_next, old_lines.begin() + hunk_begin);
    old_next = hunk_begin;
    if (result.size() != new_begin) return "<malformed: new start " + header + ">";
    int64_t old_seen = 0, new_seen = 0;
    while (d < diff_lines.size() && (old_seen < old_count || new_seen < new_count)) {
      const std::string& body = diff_lines[d++];
      if (body.empty()) return "<malformed: empty body line>";
      Line line{body.substr(1), true};
      if (d < diff_lines.size() && diff_lines[d] == "\\ No newline at end of file") {
        line.has_newline = false;
        ++d;
      }
      const char kind = body[0];
      if (kind == ' ' || kind == '-') {
        if (old_next >= old_lines.size() || !(old_lines[old_next] == line)) {
          return "<malformed: old line differs: " + body + ">";
        }
        ++old_next;
        ++old_seen;
      }
      if (kind == ' ' || kind == '+') {
        result.push_back(line);
        ++new_seen;
      }
      if (kind != ' ' && kind != '-' && kind != '+') return "<malformed: body " + body + ">";
    }
    if (old_seen != old_count || new_seen != new_count) return "<malformed: counts " + header + ">";
  }
  result.insert(result.end(), old_lines.begin() + old_next, old_lines.end());
  return FromLines(result);
}

// Lines deleted plus lines inserted in a diff's hunks.
int64_t CountEdits(std::string_view diff) {
  int64_t edits = 0;
  std::vector<Line> lines = ToLines(diff);
  for (size_t i = 2; i < lines.size(); ++i) {
    if (!lines[i].text.empty() && (lines[i].text[0] == '-' || lines[i].text[0] == '+')) ++edits;
  }
  return edits;
}

int64_t CountLinesStartingWith(std::string_view diff, char prefix) {
  int64_t count = 0;
  std::vector<Line> lines = ToLines(diff);
  for (size_t i = 2; i < lines.size(); ++i) {
    if (!lines[i].text.empty() && lines[i].text[0] == prefix) ++count;
  }
  return count;
}

// The shortest edit distance by dynamic programming over the longest common subsequence.
int64_t MinimalEdits(std::string_view old_text, std::string_view new_text) {
  const std::vector<Line> a = ToLines(old_text);
  const std::vector<Line> b = ToLines(new_text);
  std::vector<std::vector<int64_t>> lcs(a.size() + 1, std::vector<int64_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  return static_cast<int64_t>(a.size() + b.size()) - 2 * lcs[0][0];
}

// Small texts over a few distinct lines, so that equal lines and ambiguous alignments abound.
// Uses the raw engine output only, which the standard fixes for every platform.
std::string RandomText(std::mt19937& random, uint32_t max_lines, uint32_t alphabet) {
  const uint32_t count = random() % (max_lines + 1);
  std::string text;
  for (uint32_t i = 0; i < count; ++i) {
    text += static_cast<char>('a' + random() % alphabet);
    text += '\n';
  }
  if (!text.empty() && random() % 4 == 0) text.pop_back();
  return text;
}

std::string NumberedLines(std::string_view stem, int from, int to) {
  std::string text;
  for (int i = from; i < to; ++i) text += std::string(stem) + std::to_string(i) + "\n";
  return text;
}

TEST(UnifiedDiffTest, EqualTextsGiveEmptyDiff) {
  EXPECT_EQ(UnifiedDiff("", "", "a", "b"), "");
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "a", "b"), "");
  EXPECT_EQ(UnifiedDiff("a\nb", "a\nb", "a", "b", 0), "");
}

TEST(UnifiedDiffTest, LabelsArePrintedVerbatimWithoutTimestamps) {
  EXPECT_EQ(UnifiedDiff("x\n", "y\n", "default/web v3", "default/web v4"),
            "--- default/web v3\n"
            "+++ default/web v4\n"
            "@@ -1 +1 @@\n"
            "-x\n"
            "+y\n");
}

TEST(UnifiedDiffTest, NegativeContextCountsAsZero) {
  const std::string old_text = "a\nb\nc\nd\ne\n";
  const std::string new_text = "a\nb\nC\nd\ne\n";
  EXPECT_EQ(UnifiedDiff(old_text, new_text, "a", "b", -2),
            "--- a\n"
            "+++ b\n"
            "@@ -3 +3 @@\n"
            "-c\n"
            "+C\n");
}

TEST(UnifiedDiffTest, ContextLargerThanTextShowsWholeText) {
  EXPECT_EQ(UnifiedDiff("a\nb\nc\n", "a\nB\nc\n", "a", "b", 100),
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +1,3 @@\n"
            " a\n"
            "-b\n"
            "+B\n"
            " c\n");
}

TEST(UnifiedDiffTest, InsertionAtStartShowsFollowingContext) {
  const std::string old_text = "a\nb\nc\nd\ne\n";
  const std::string new_text = "new\na\nb\nc\nd\ne\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +1,4 @@\n"
            "+new\n"
            " a\n"
            " b\n"
            " c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, InsertionInMiddleShowsThreeLinesOfContextEachSide) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  const std::string new_text = "1\n2\n3\n4\n5\nnew\n6\n7\n8\n9\n10\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -3,6 +3,7 @@\n"
            " 3\n"
            " 4\n"
            " 5\n"
            "+new\n"
            " 6\n"
            " 7\n"
            " 8\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, InsertionAtEndShowsPrecedingContext) {
  const std::string old_text = "1\n2\n3\n4\n5\n";
  const std::string new_text = "1\n2\n3\n4\n5\nnew\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -3,3 +3,4 @@\n"
            " 3\n"
            " 4\n"
            " 5\n"
            "+new\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, DeletionAtStartShowsFollowingContext) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n";
  const std::string new_text = "2\n3\n4\n5\n6\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,4 +1,3 @@\n"
            "-1\n"
            " 2\n"
            " 3\n"
            " 4\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, DeletionInMiddleShowsThreeLinesOfContextEachSide) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  const std::string new_text = "1\n2\n3\n4\n7\n8\n9\n10\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2,8 +2,6 @@\n"
            " 2\n"
            " 3\n"
            " 4\n"
            "-5\n"
            "-6\n"
            " 7\n"
            " 8\n"
            " 9\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, DeletionAtEndShowsPrecedingContext) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n";
  const std::string new_text = "1\n2\n3\n4\n5\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -3,4 +3,3 @@\n"
            " 3\n"
            " 4\n"
            " 5\n"
            "-6\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangeAtStartPrintsDeletionsBeforeInsertions) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n";
  const std::string new_text = "one\n2\n3\n4\n5\n6\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,4 +1,4 @@\n"
            "-1\n"
            "+one\n"
            " 2\n"
            " 3\n"
            " 4\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangeInMiddlePrintsDeletionsBeforeInsertions) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  const std::string new_text = "1\n2\n3\n4\nfive\nsix\n7\n8\n9\n10\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2,8 +2,8 @@\n"
            " 2\n"
            " 3\n"
            " 4\n"
            "-5\n"
            "-6\n"
            "+five\n"
            "+six\n"
            " 7\n"
            " 8\n"
            " 9\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangeAtEndPrintsDeletionsBeforeInsertions) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n";
  const std::string new_text = "1\n2\n3\n4\n5\nsix\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -3,4 +3,4 @@\n"
            " 3\n"
            " 4\n"
            " 5\n"
            "-6\n"
            "+six\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangesSixUnchangedLinesApartShareOneHunk) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n";
  const std::string new_text = "1\n2\nX\n4\n5\n6\n7\n8\n9\nY\n11\n12\n13\n14\n15\n16\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,13 +1,13 @@\n"
            " 1\n"
            " 2\n"
            "-3\n"
            "+X\n"
            " 4\n"
            " 5\n"
            " 6\n"
            " 7\n"
            " 8\n"
            " 9\n"
            "-10\n"
            "+Y\n"
            " 11\n"
            " 12\n"
            " 13\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangesSevenUnchangedLinesApartGetSeparateHunks) {
  const std::string old_text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n";
  const std::string new_text = "1\n2\nX\n4\n5\n6\n7\n8\n9\n10\nY\n12\n13\n14\n15\n16\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,6 +1,6 @@\n"
            " 1\n"
            " 2\n"
            "-3\n"
            "+X\n"
            " 4\n"
            " 5\n"
            " 6\n"
            "@@ -8,7 +8,7 @@\n"
            " 8\n"
            " 9\n"
            " 10\n"
            "-11\n"
            "+Y\n"
            " 12\n"
            " 13\n"
            " 14\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ZeroContextInsertionNamesTheLineBeforeAsEmptyOldRange) {
  const std::string old_text = "a\nb\nc\n";
  const std::string new_text = "a\nb\nnew\nc\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 0);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2,0 +3 @@\n"
            "+new\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ZeroContextDeletionNamesTheLineBeforeAsEmptyNewRange) {
  const std::string old_text = "a\nb\nc\nd\n";
  const std::string new_text = "a\nc\nd\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 0);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2 +1,0 @@\n"
            "-b\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ZeroContextInsertionAtStartNamesLineZero) {
  const std::string old_text = "a\nb\n";
  const std::string new_text = "new\na\nb\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 0);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -0,0 +1 @@\n"
            "+new\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ContextOneSplitsHunksAndCountsEachSide) {
  const std::string old_text = "a\nb\nc\nd\ne\nf\ng\nh\n";
  const std::string new_text = "a\nB\nc\nd\ne\nf\nh\ni\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 1);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +1,3 @@\n"
            " a\n"
            "-b\n"
            "+B\n"
            " c\n"
            "@@ -6,3 +6,3 @@\n"
            " f\n"
            "-g\n"
            " h\n"
            "+i\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, AddedTrailingNewlineMarksTheOldLastLine) {
  const std::string old_text = "a\nb\nc";
  const std::string new_text = "a\nb\nc\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +1,3 @@\n"
            " a\n"
            " b\n"
            "-c\n"
            "\\ No newline at end of file\n"
            "+c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, RemovedTrailingNewlineMarksTheNewLastLine) {
  const std::string old_text = "a\nb\nc\n";
  const std::string new_text = "a\nb\nc";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +1,3 @@\n"
            " a\n"
            " b\n"
            "-c\n"
            "+c\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, MissingNewlineOnUnchangedLastLineMarksTheContextLine) {
  const std::string old_text = "a\nb\nc\nd";
  const std::string new_text = "a\nB\nc\nd";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,4 +1,4 @@\n"
            " a\n"
            "-b\n"
            "+B\n"
            " c\n"
            " d\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, MissingNewlineOnBothChangedLastLinesMarksBoth) {
  const std::string old_text = "a\nb";
  const std::string new_text = "a\nc";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,2 +1,2 @@\n"
            " a\n"
            "-b\n"
            "\\ No newline at end of file\n"
            "+c\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, EmptyOldTextIsAllInsertionsFromLineZero) {
  const std::string old_text = "";
  const std::string new_text = "a\nb\nc\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -0,0 +1,3 @@\n"
            "+a\n"
            "+b\n"
            "+c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, EmptyNewTextIsAllDeletionsToLineZero) {
  const std::string old_text = "a\nb\nc\n";
  const std::string new_text = "";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,3 +0,0 @@\n"
            "-a\n"
            "-b\n"
            "-c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, SingleLineWithoutNewlineFromEmptyTextUsesSingleLineRange) {
  const std::string old_text = "";
  const std::string new_text = "only";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -0,0 +1 @@\n"
            "+only\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, InsertedDuplicateLineSlidesBelowItsEquals) {
  const std::string old_text = "items:\n  - a\n  - a\n  - b\nend\n";
  const std::string new_text = "items:\n  - a\n  - a\n  - a\n  - b\nend\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,5 +1,6 @@\n"
            " items:\n"
            "   - a\n"
            "   - a\n"
            "+  - a\n"
            "   - b\n"
            " end\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, SpecEditMatchesGnuDiff) {
  const std::string old_text =
      "name: web\nrollout:\n  strategy: rolling\n  max_parallel: 10\nselector:\n  match_labels:\n  "
      "  env: prod\n    tier: edge\n";
  const std::string new_text =
      "name: web\nrollout:\n  strategy: canary\n  max_parallel: 10\n  canary_count: 2\nselector:\n "
      " match_labels:\n    env: prod\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,8 +1,8 @@\n"
            " name: web\n"
            " rollout:\n"
            "-  strategy: rolling\n"
            "+  strategy: canary\n"
            "   max_parallel: 10\n"
            "+  canary_count: 2\n"
            " selector:\n"
            "   match_labels:\n"
            "     env: prod\n"
            "-    tier: edge\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, InsertionBetweenBlankLinesSlidesDownLikeGnuDiff) {
  const std::string old_text = "a\n\nb\n\nc\n";
  const std::string new_text = "a\n\nb\n\nx\n\nc\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2,4 +2,6 @@\n"
            " \n"
            " b\n"
            " \n"
            "+x\n"
            "+\n"
            " c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, DeletedLineSlidesDownPastEqualLinesLikeGnuDiff) {
  const std::string old_text = "c\na\nc\nc\na\na\nc\nc\n";
  const std::string new_text = "c\na\nc\na\nb\na\nc\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,8 +1,7 @@\n"
            " c\n"
            " a\n"
            " c\n"
            "-c\n"
            " a\n"
            "+b\n"
            " a\n"
            " c\n"
            "-c\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangedRunSlidesBackUpToFaceAChangeInTheOtherText) {
  const std::string old_text = "c\nb\nb\nb\na\n";
  const std::string new_text = "c\nc\nb\nb\na\n";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,5 +1,5 @@\n"
            " c\n"
            "-b\n"
            "+c\n"
            " b\n"
            " b\n"
            " a\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, InsertedRunSlidesToFaceADeletionLikeGnuDiff) {
  const std::string old_text = "c\na\nc\nb\n";
  const std::string new_text = "a\nc\nc\na\nb";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -1,4 +1,5 @@\n"
            "-c\n"
            " a\n"
            " c\n"
            "-b\n"
            "+c\n"
            "+a\n"
            "+b\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, LinesWithNoEqualInTheOtherTextAreSetAsideBeforeAligningLikeGnuDiff) {
  const std::string old_text = "b\nb\na\na\na\nb\nc";
  const std::string new_text = "b\nc\na\na\na";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 0);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2 +2 @@\n"
            "-b\n"
            "+c\n"
            "@@ -5,3 +5 @@\n"
            "-a\n"
            "-b\n"
            "-c\n"
            "\\ No newline at end of file\n"
            "+a\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ChangesSlideIntoTheCommonPrefixAsFarAsTheContextLikeGnuDiff) {
  const std::string old_text = "b\nb\nb\nc\nc\nc\nb\na\n";
  const std::string new_text = "b\nb\nc\na";
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b", 1);
  EXPECT_EQ(diff,
            "--- a\n"
            "+++ b\n"
            "@@ -2,7 +2,3 @@\n"
            " b\n"
            "-b\n"
            "-c\n"
            " c\n"
            "-c\n"
            "-b\n"
            "-a\n"
            "+a\n"
            "\\ No newline at end of file\n");
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, DistanceOverLimitReplacesTheWholeDifferingMiddleInOneHunk) {
  // 8,400 lines differ, well over kUnifiedDiffMaxEdits; one line in the middle is common but is
  // not searched for. The common prefix and suffix still give context.
  const std::string common_prefix = NumberedLines("prefix ", 0, 5);
  const std::string common_suffix = NumberedLines("suffix ", 0, 5);
  const std::string old_text = common_prefix + NumberedLines("old ", 0, 2100) + "keep\n" +
                               NumberedLines("old ", 2100, 4200) + common_suffix;
  const std::string new_text = common_prefix + NumberedLines("new ", 0, 2100) + "keep\n" +
                               NumberedLines("new ", 2100, 4200) + common_suffix;
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff.substr(0, diff.find('\n', 12) + 1),
            "--- a\n"
            "+++ b\n"
            "@@ -3,4207 +3,4207 @@\n");
  EXPECT_EQ(CountLinesStartingWith(diff, '@'), 1);
  EXPECT_EQ(CountLinesStartingWith(diff, '-'), 4201);
  EXPECT_EQ(CountLinesStartingWith(diff, '+'), 4201);
  EXPECT_EQ(CountLinesStartingWith(diff, ' '), 6);
  EXPECT_NE(diff.find("\n-keep\n"), std::string::npos);
  EXPECT_NE(diff.find("\n+keep\n"), std::string::npos);
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ReorderingOverLimitFallsBackToOneReplacement) {
  // Every line occurs in both texts, so only the search can find the distance: 2 * 2100 - 2.
  std::string old_text;
  std::string new_text;
  for (int i = 0; i < 2100; ++i) {
    old_text += std::to_string(i) + "\n";
    new_text += std::to_string(2099 - i) + "\n";
  }
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(diff.substr(0, diff.find('\n', 12) + 1),
            "--- a\n"
            "+++ b\n"
            "@@ -1,2100 +1,2100 @@\n");
  EXPECT_EQ(CountLinesStartingWith(diff, ' '), 0);
  EXPECT_EQ(CountEdits(diff), 4200);
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ReorderingUnderLimitKeepsTheMinimalScript) {
  // Reversing 1,900 lines: distance 3,798, within the limit; exactly one line stays.
  std::string old_text;
  std::string new_text;
  for (int i = 0; i < 1900; ++i) {
    old_text += std::to_string(i) + "\n";
    new_text += std::to_string(1899 - i) + "\n";
  }
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(CountLinesStartingWith(diff, ' '), 1);
  EXPECT_EQ(CountEdits(diff), 3798);
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, ManyScatteredChangesUnderLimitKeepTheirContext) {
  // 1,900 replaced lines, each between two kept ones: distance 3,800.
  std::string old_text;
  std::string new_text;
  for (int i = 0; i < 1900; ++i) {
    old_text += "keep " + std::to_string(i) + "\nold " + std::to_string(i) + "\n";
    new_text += "keep " + std::to_string(i) + "\nnew " + std::to_string(i) + "\n";
  }
  const std::string diff = UnifiedDiff(old_text, new_text, "a", "b");
  EXPECT_EQ(CountEdits(diff), 3800);
  EXPECT_EQ(CountLinesStartingWith(diff, ' '), 1900);
  EXPECT_NE(diff.find("\n keep 1000\n-old 1000\n+new 1000\n keep 1001\n"), std::string::npos);
  EXPECT_EQ(ApplyPatch(old_text, diff), new_text);
}

TEST(UnifiedDiffTest, RandomDiffsApplyBackToTheNewText) {
  std::mt19937 random(20240607);
  for (int round = 0; round < 3000; ++round) {
    const std::string old_text = RandomText(random, 12, 3);
    const std::string new_text = RandomText(random, 12, 3);
    const int context = static_cast<int>(random() % 5);
    const std::string diff = UnifiedDiff(old_text, new_text, "old", "new", context);
    if (old_text == new_text) {
      EXPECT_EQ(diff, "");
      continue;
    }
    ASSERT_EQ(ApplyPatch(old_text, diff), new_text) << "old:\n"
                                                    << old_text << "\nnew:\n"
                                                    << new_text << "\ndiff:\n"
                                                    << diff;
  }
}

TEST(UnifiedDiffTest, RandomDiffsAreMinimalEditScripts) {
  std::mt19937 random(7);
  for (int round = 0; round < 3000; ++round) {
    const std::string old_text = RandomText(random, 16, 4);
    const std::string new_text = RandomText(random, 16, 4);
    const std::string diff = UnifiedDiff(old_text, new_text, "old", "new");
    ASSERT_EQ(CountEdits(diff), MinimalEdits(old_text, new_text)) << "old:\n"
                                                                  << old_text << "\nnew:\n"
                                                                  << new_text << "\ndiff:\n"
                                                                  << diff;
  }
}

}  // namespace
}  // namespace drover
