// Tables for api/labels.h: label keys, label values and node ids under Kubernetes' rules, and
// integer parsing with Go's strconv.ParseInt rules.
#include "api/labels.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace drover {
namespace {

const std::string kNameRule =
    "consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit";
const std::string kPrefixRule =
    "prefix part must be a lowercase DNS subdomain such as 'example.com': lowercase letters, "
    "digits, '-' and '.', each dot-separated part starting and ending with a letter or digit";

struct CheckCase {
  std::string name;  // the behaviour, as the test name
  std::string input;
  std::optional<std::string> want_error;  // nullopt: valid
};

std::string PrintName(const testing::TestParamInfo<CheckCase>& info) { return info.param.name; }

// Failures show the input rather than the bytes of the case.
void PrintTo(const CheckCase& c, std::ostream* out) { *out << '"' << c.input << '"'; }

// ---- Label keys

std::vector<CheckCase> LabelKeyCases() {
  return {
      {"SingleLetterIsValid", "a", std::nullopt},
      {"SingleDigitIsValid", "7", std::nullopt},
      {"UppercaseNameIsValid", "Env", std::nullopt},
      {"DashesDotsUnderscoresInsideNameAreValid", "a.b_c-d", std::nullopt},
      {"DnsPrefixedKeyIsValid", "example.com/zone", std::nullopt},
      {"NumericDnsPrefixIsValid", "0.1.2.domain/99", std::nullopt},
      {"NameOf63CharactersIsValid", std::string(63, 'n'), std::nullopt},
      {"PrefixOf253CharactersIsValid", std::string(253, 'p') + "/name", std::nullopt},
      {"EmptyKeyIsAnError", "", "must not be empty"},
      {"NameOf64CharactersIsAnError", std::string(64, 'n'),
       "name part must be at most 63 characters (got 64)"},
      {"PrefixedNameOf70CharactersIsAnError", "example.com/" + std::string(70, 'n'),
       "name part must be at most 63 characters (got 70)"},
      {"PrefixOf254CharactersIsAnError", std::string(254, 'p') + "/name",
       "prefix part must be at most 253 characters (got 254)"},
      {"NameStartingWithDashIsAnError", "-env",
       "name part must " + kNameRule + " (starts with '-')"},
      {"NameEndingWithDotIsAnError", "env.", "name part must " + kNameRule + " (ends with '.')"},
      {"SpaceInNameIsAnError", "en v", "name part must " + kNameRule + " (found ' ')"},
      {"NonAsciiInNameIsShownAsHex", "caf\xc3\xa9",
       "name part must " + kNameRule + " (found '\\xc3')"},
      {"TooLongAndBadCharacterAreBothReported", "$" + std::string(63, 'n'),
       "name part must be at most 63 characters (got 64); name part must " + kNameRule +
           " (found '$')"},
      {"MoreThanOneSlashIsAnError", "a/b/c",
       "must be a name with an optional DNS subdomain prefix and a single '/', such as "
       "'example.com/zone' (found more than one '/')"},
      {"EmptyPrefixIsAnError", "/zone", "prefix part must not be empty (nothing before the '/')"},
      {"EmptyNameAfterPrefixIsAnError", "example.com/",
       "name part must not be empty (nothing after the '/')"},
      {"UppercasePrefixIsAnError", "Example.com/zone", kPrefixRule + " (found 'E')"},
      {"UnderscoreInPrefixIsAnError", "my_corp.com/zone", kPrefixRule + " (found '_')"},
      {"EmptyPrefixPartBetweenDotsIsAnError", "a..com/zone",
       kPrefixRule + " (has an empty part between dots)"},
      {"PrefixPartEndingWithDashIsAnError", "a-.com/zone",
       kPrefixRule + " (part 'a-' starts or ends with '-')"},
      {"PrefixAndNameErrorsAreBothReported", "A/-",
       kPrefixRule + " (found 'A'); name part must " + kNameRule + " (starts with '-')"},
  };
}

class LabelKeyErrorTest : public testing::TestWithParam<CheckCase> {};

TEST_P(LabelKeyErrorTest, ReturnsTheExpectedVerdict) {
  EXPECT_EQ(LabelKeyError(GetParam().input), GetParam().want_error);
}

INSTANTIATE_TEST_SUITE_P(Keys, LabelKeyErrorTest, testing::ValuesIn(LabelKeyCases()), PrintName);

// ---- Label values

std::vector<CheckCase> LabelValueCases() {
  return {
      {"EmptyValueIsValid", "", std::nullopt},
      {"WordIsValid", "prod", std::nullopt},
      {"MixedCaseWithDotsDashesUnderscoresIsValid", "V1.2_rc-3", std::nullopt},
      {"ValueOf63CharactersIsValid", std::string(63, 'v'), std::nullopt},
      {"ValueOf64CharactersIsAnError", std::string(64, 'v'),
       "must be at most 63 characters (got 64)"},
      {"ValueStartingWithDashIsAnError", "-x",
       "must be empty or " + kNameRule + " (starts with '-')"},
      {"ValueEndingWithUnderscoreIsAnError", "x_",
       "must be empty or " + kNameRule + " (ends with '_')"},
      {"SlashInValueIsAnError", "a/b", "must be empty or " + kNameRule + " (found '/')"},
      {"SpaceInValueIsAnError", "a b", "must be empty or " + kNameRule + " (found ' ')"},
      {"ControlCharacterIsShownAsHex", "a\tb",
       "must be empty or " + kNameRule + " (found '\\x09')"},
  };
}

class LabelValueErrorTest : public testing::TestWithParam<CheckCase> {};

TEST_P(LabelValueErrorTest, ReturnsTheExpectedVerdict) {
  EXPECT_EQ(LabelValueError(GetParam().input), GetParam().want_error);
}

INSTANTIATE_TEST_SUITE_P(Values, LabelValueErrorTest, testing::ValuesIn(LabelValueCases()),
                         PrintName);

// ---- Node ids

std::vector<CheckCase> NodeIdCases() {
  const std::string charset = "must consist only of letters, digits, '.', '_' or '-'";
  return {
      {"DashedIdIsValid", "edge-node-01", std::nullopt},
      {"DotsUnderscoresAndUppercaseAreValid", "Rack_3.node-A", std::nullopt},
      {"LeadingDashIsValid", "-node", std::nullopt},
      {"IdOf253CharactersIsValid", std::string(253, 'i'), std::nullopt},
      {"EmptyIdIsAnError", "", "must not be empty"},
      {"IdOf254CharactersIsAnError", std::string(254, 'i'),
       "must be at most 253 characters (got 254)"},
      {"SpaceInIdIsAnError", "node 1", charset + " (found ' ')"},
      {"SlashInIdIsAnError", "rack/1", charset + " (found '/')"},
  };
}

class NodeIdErrorTest : public testing::TestWithParam<CheckCase> {};

TEST_P(NodeIdErrorTest, ReturnsTheExpectedVerdict) {
  EXPECT_EQ(NodeIdError(GetParam().input), GetParam().want_error);
}

INSTANTIATE_TEST_SUITE_P(Ids, NodeIdErrorTest, testing::ValuesIn(NodeIdCases()), PrintName);

// ---- Integers

struct IntegerCase {
  std::string name;
  std::string input;
  std::optional<int64_t> want;
};

void PrintTo(const IntegerCase& c, std::ostream* out) { *out << '"' << c.input << '"'; }

class ParseLabelIntegerTest : public testing::TestWithParam<IntegerCase> {};

TEST_P(ParseLabelIntegerTest, FollowsGoParseIntBase10) {
  EXPECT_EQ(ParseLabelInteger(GetParam().input), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Integers, ParseLabelIntegerTest,
    testing::ValuesIn(std::vector<IntegerCase>{
        {"ZeroParses", "0", 0},
        {"PositiveParses", "42", 42},
        {"LeadingPlusParses", "+5", 5},
        {"LeadingMinusParses", "-5", -5},
        {"LeadingZerosParseAsDecimal", "007", 7},
        {"MaximumParses", "9223372036854775807", INT64_MAX},
        {"MinimumParses", "-9223372036854775808", INT64_MIN},
        {"OneAboveMaximumIsNotAnInteger", "9223372036854775808", std::nullopt},
        {"OneBelowMinimumIsNotAnInteger", "-9223372036854775809", std::nullopt},
        {"TwentyDigitsAreNotAnInteger", "99999999999999999999", std::nullopt},
        {"EmptyIsNotAnInteger", "", std::nullopt},
        {"SignAloneIsNotAnInteger", "-", std::nullopt},
        {"DecimalFractionIsNotAnInteger", "1.5", std::nullopt},
        {"LeadingSpaceIsNotAnInteger", " 1", std::nullopt},
        {"HexPrefixIsNotAnInteger", "0x10", std::nullopt},
        {"UnderscoreSeparatorIsNotAnInteger", "1_000", std::nullopt},
        {"WordIsNotAnInteger", "v2", std::nullopt},
    }),
    [](const testing::TestParamInfo<IntegerCase>& info) { return info.param.name; });

}  // namespace
}  // namespace drover
