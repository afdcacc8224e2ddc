#include "api/duration.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

struct DurationCase {
  const char* text;
  int64_t nanoseconds;
  const char* canonical;
  friend void PrintTo(const DurationCase& c, std::ostream* os) { *os << c.text; }
};

class ParseDurationAccepts : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationAccepts, GoSyntaxAndFormatsLikeGo) {
  const DurationCase& c = GetParam();
  Result<Duration> d = ParseDuration(c.text);
  ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().message();
  EXPECT_EQ(d->nanoseconds(), c.nanoseconds) << c.text;
  EXPECT_EQ(d->ToString(), c.canonical) << c.text;
  Result<Duration> again = ParseDuration(d->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->nanoseconds(), c.nanoseconds) << "canonical form re-parses";
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseDurationAccepts,
    ::testing::Values(
        DurationCase{"10s", 10'000'000'000, "10s"}, DurationCase{"500ms", 500'000'000, "500ms"},
        DurationCase{"5m", 300'000'000'000, "5m0s"},
        DurationCase{"1h30m", 5'400'000'000'000, "1h30m0s"},
        DurationCase{"1.5s", 1'500'000'000, "1.5s"}, DurationCase{".5s", 500'000'000, "500ms"},
        DurationCase{"300us", 300'000, "300\xC2\xB5s"},
        DurationCase{"300\xC2\xB5s", 300'000, "300\xC2\xB5s"}, DurationCase{"42ns", 42, "42ns"},
        DurationCase{"0", 0, "0s"}, DurationCase{"-2s", -2'000'000'000, "-2s"},
        DurationCase{"+3s", 3'000'000'000, "3s"},
        DurationCase{"1h1m1.001s", 3'661'001'000'000, "1h1m1.001s"},
        DurationCase{"2562047h47m16.854775807s", INT64_MAX, "2562047h47m16.854775807s"}));

TEST(ParseDurationRejects, UnitsNumbersAndRange) {
  for (const char* text : {"", "10", "s", "10x", "3d", "1e3s", "1..5s", "--1s", "10 s",
                           "2562047h47m16.854775808s", "9999999999999999999999h"}) {
    Result<Duration> d = ParseDuration(text);
    EXPECT_FALSE(d.ok()) << "accepted \"" << text << "\"";
  }
  EXPECT_EQ(ParseDuration("3d").status().message(), "unknown unit \"d\" in duration \"3d\"");
  EXPECT_EQ(ParseDuration("10").status().message(),
            "missing unit (use ns, us, ms, s, m or h) in duration \"10\"");
}

TEST(DurationOrdering, ComparesByNanoseconds) {
  EXPECT_LT(Duration::Seconds(1), Duration::Milliseconds(1001));
  EXPECT_EQ(Duration::Minutes(2), Duration::Seconds(120));
}

}  // namespace
}  // namespace drover
