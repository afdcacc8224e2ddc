// Tables for api/selector.h: parsing one requirement as Kubernetes' labels.Parse does (canonical
// forms, exact error positions), matching, NodeSelector's combination of labels, expressions
// and ids, and CompiledSelector agreeing with NodeSelector on random fleets.
#include "api/selector.h"

#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace drover {
namespace {

using Op = SelectorOperator;

const std::string kNameRule =
    "consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit";
const std::string kOneRequirement =
    "an expression holds one requirement; put each requirement in its own match_expressions "
    "element";
const std::string kExpectOperator = "expected an operator: =, ==, !=, in, notin, > or <";

// ---- Parsing: valid expressions

struct ParseCase {
  std::string name;  // the behaviour, as the test name
  std::string text;
  Requirement want;
  std::string canonical;
};

std::vector<ParseCase> ParseCases() {
  const std::string name63(63, 'k');
  const std::string value63(63, 'v');
  const std::string prefix253(253, 'p');
  return {
      {"EqualsParses", "env=prod", {"env", Op::kEquals, {"prod"}}, "env=prod"},
      {"DoubleEqualsCanonicalisesToEquals",
       "env==prod",
       {"env", Op::kEquals, {"prod"}},
       "env=prod"},
      {"NotEqualsParses", "env!=prod", {"env", Op::kNotEquals, {"prod"}}, "env!=prod"},
      {"InSortsAndDeduplicatesValues",
       "tier in (web,api,web)",
       {"tier", Op::kIn, {"api", "web"}},
       "tier in (api,web)"},
      {"NotInParses",
       "tier notin (cache,batch)",
       {"tier", Op::kNotIn, {"batch", "cache"}},
       "tier notin (batch,cache)"},
      {"BareKeyMeansExists", "gpu", {"gpu", Op::kExists, {}}, "gpu"},
      {"BangKeyMeansDoesNotExist", "!debug", {"debug", Op::kDoesNotExist, {}}, "!debug"},
      {"GreaterThanParses", "n>3", {"n", Op::kGreaterThan, {"3"}}, "n>3"},
      {"LessThanParses", "n<10", {"n", Op::kLessThan, {"10"}}, "n<10"},
      {"GreaterThanKeepsZeroPaddedText", "n>007", {"n", Op::kGreaterThan, {"007"}}, "n>007"},
      {"EqualsWithNothingAfterMeansEmptyValue", "env=", {"env", Op::kEquals, {""}}, "env="},
      {"DoubleEqualsThenSpaceMeansEmptyValue", "env == ", {"env", Op::kEquals, {""}}, "env="},
      {"NotEqualsWithNothingAfterMeansEmptyValue", "env!=", {"env", Op::kNotEquals, {""}}, "env!="},
      {"SpacesAroundEqualsAreIgnored", "env = prod", {"env", Op::kEquals, {"prod"}}, "env=prod"},
      {"TabsAndNewlinesAreWhitespace",
       "\tenv\r\n!=\nprod ",
       {"env", Op::kNotEquals, {"prod"}},
       "env!=prod"},
      {"SpacesInsideParensAreIgnored",
       " env in ( a , b ) ",
       {"env", Op::kIn, {"a", "b"}},
       "env in (a,b)"},
      {"ParenNeedsNoSpaceAfterIn", "env in(a,b)", {"env", Op::kIn, {"a", "b"}}, "env in (a,b)"},
      {"SpaceBetweenBangAndKeyIsAllowed", "! debug", {"debug", Op::kDoesNotExist, {}}, "!debug"},
      {"SpacesAroundGreaterThanAreIgnored", "n > 3", {"n", Op::kGreaterThan, {"3"}}, "n>3"},
      {"DnsPrefixedKeyParses",
       "example.com/zone=eu-1",
       {"example.com/zone", Op::kEquals, {"eu-1"}},
       "example.com/zone=eu-1"},
      {"DnsPrefixedKeyWithBangParses",
       "!example.com/zone",
       {"example.com/zone", Op::kDoesNotExist, {}},
       "!example.com/zone"},
      {"EmptyParensMeanTheEmptyValueAsInKubernetes",
       "env in ()",
       {"env", Op::kIn, {""}},
       "env in ()"},
      {"LeadingCommaInSetAddsEmptyValue",
       "env in (,a)",
       {"env", Op::kIn, {"", "a"}},
       "env in (,a)"},
      {"TrailingCommaInSetAddsEmptyValue",
       "env notin (a,)",
       {"env", Op::kNotIn, {"", "a"}},
       "env notin (,a)"},
      {"DoubleCommaInSetAddsEmptyValue",
       "env in (a,,b)",
       {"env", Op::kIn, {"", "a", "b"}},
       "env in (,a,b)"},
      {"LoneCommaInSetIsTheEmptyValue", "env in (,)", {"env", Op::kIn, {""}}, "env in ()"},
      {"KeywordInAloneIsAKeyThatMustExist", "in", {"in", Op::kExists, {}}, "in"},
      {"KeywordNotInAloneIsAKeyThatMustExist", "notin", {"notin", Op::kExists, {}}, "notin"},
      {"KeywordsAreValuesInsideSets",
       "k in (in,notin)",
       {"k", Op::kIn, {"in", "notin"}},
       "k in (in,notin)"},
      {"KeywordsAreKeysAndExactValues", "notin=in", {"notin", Op::kEquals, {"in"}}, "notin=in"},
      {"KeyNamedInTakesTheInOperator", "in in (a)", {"in", Op::kIn, {"a"}}, "in in (a)"},
      {"ValueMayHoldDotsDashesUnderscores",
       "version=v1.2_3-rc",
       {"version", Op::kEquals, {"v1.2_3-rc"}},
       "version=v1.2_3-rc"},
      {"UppercaseKeyAndValueAreValid", "Env=Prod", {"Env", Op::kEquals, {"Prod"}}, "Env=Prod"},
      {"NameAndValueOf63CharactersAreValid",
       name63 + "=" + value63,
       {name63, Op::kEquals, {value63}},
       name63 + "=" + value63},
      {"PrefixOf253CharactersIsValid",
       prefix253 + "/k",
       {prefix253 + "/k", Op::kExists, {}},
       prefix253 + "/k"},
  };
}

// Failures show the expression rather than the bytes of the case.
void PrintTo(const ParseCase& c, std::ostream* out) { *out << '"' << c.text << '"'; }

class ParseRequirementTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseRequirementTest, ParsesToTheRequirementAndItsCanonicalForm) {
  const ParseCase& c = GetParam();
  Result<Requirement> got = ParseRequirement(c.text);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->key, c.want.key);
  EXPECT_EQ(got->op, c.want.op);
  EXPECT_EQ(got->values, c.want.values);
  EXPECT_EQ(got->ToString(), c.canonical);
  // The canonical form parses back to the same requirement.
  Result<Requirement> again = ParseRequirement(got->ToString());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *got);
}

INSTANTIATE_TEST_SUITE_P(Valid, ParseRequirementTest, testing::ValuesIn(ParseCases()),
                         [](const testing::TestParamInfo<ParseCase>& info) {
                           return info.param.name;
                         });

// ---- Parsing: errors, with their exact positions

struct ErrorCase {
  std::string name;
  std::string text;
  std::string want_message;
};

std::vector<ErrorCase> ErrorCases() {
  const std::string empty = "empty expression, expected a requirement such as 'env=prod'";
  return {
      {"EmptyStringIsAnError", "", "char 1: " + empty},
      {"WhitespaceOnlyIsAnErrorAtItsEnd", "   ", "char 4: " + empty},
      {"UnclosedSetIsAnErrorAtTheEnd", "env in (a",
       "char 10: found end of expression, expected ',' or ')'"},
      {"OperatorWithoutKeyIsAnError", "=v", "char 1: found '=', expected a key or '!'"},
      {"CloseParenFirstIsAnError", ")", "char 1: found ')', expected a key or '!'"},
      {"BangAloneNeedsAKey", "!", "char 2: found end of expression, expected a key"},
      {"DoubleBangIsAnError", "!!x", "char 2: found '!', expected a key"},
      {"BangKeyTakesNoOperator", "!x=a",
       "char 3: found '=', expected end of expression ('!key' takes no operator or value)"},
      {"NotInWithoutParensIsAnError", "env notin a",
       "char 11: found 'a', expected '(' after 'in' or 'notin'"},
      {"InAtTheEndNeedsASet", "env in",
       "char 7: found end of expression, expected '(' after 'in' or 'notin'"},
      {"KeywordKeyWithoutOperatorIsAnError", "in (a)", "char 4: found '(', " + kExpectOperator},
      {"SecondRequirementAfterCommaIsAnError", "a=b,c=d", "char 4: found ',': " + kOneRequirement},
      {"TrailingCommaAfterExistsIsAnError", "gpu,", "char 4: found ',': " + kOneRequirement},
      {"CommaAfterEmptyValueIsAnError", "x= ,z=", "char 4: found ',': " + kOneRequirement},
      {"CommaAfterSetIsAnError", "x in (a), y", "char 9: found ',': " + kOneRequirement},
      {"CloseParenWhereAValueIsExpected", "env !=)", "char 7: found ')', expected a value"},
      {"TripleEqualsLeavesAStrayEquals", "x===a", "char 4: found '=', expected a value"},
      {"SecondOperatorAfterValueIsAnError", "x==a==b",
       "char 5: found '==', expected end of expression"},
      {"MissingOperatorIsAnError", "env prod", "char 5: found 'prod', " + kExpectOperator},
      {"OpenParenAfterKeyIsAnError", "env(a)", "char 4: found '(', " + kExpectOperator},
      {"OperatorInsideSetIsAnError", "env in (=)",
       "char 9: found '=', expected a value, ',' or ')'"},
      {"OperatorAfterCommaInSetIsAnError", "env in (a,<)",
       "char 11: found '<', expected a value, ',' or ')'"},
      {"SpaceSeparatedValuesInSetAreAnError", "env in (a b)",
       "char 11: found 'b', expected ',' or ')'"},
      {"TokenAfterSetIsAnError", "env in (a) b", "char 12: found 'b', expected end of expression"},
      {"LongUnexpectedTokenIsShortened", "env " + std::string(50, 'x'),
       "char 5: found '" + std::string(40, 'x') + "...', " + kExpectOperator},
      {"InvalidCharacterInKeyIsAnError", "en$v=prod",
       "char 1: key: name part must " + kNameRule + " (found '$')"},
      {"KeyErrorIsReportedAtTheKeyAfterBang", "! -x",
       "char 3: key: name part must " + kNameRule + " (starts with '-')"},
      {"NameOf64CharactersIsAnError", std::string(64, 'k') + "=v",
       "char 1: key: name part must be at most 63 characters (got 64)"},
      {"PrefixOf254CharactersIsAnError", std::string(254, 'p') + "/k",
       "char 1: key: prefix part must be at most 253 characters (got 254)"},
      {"UppercasePrefixIsAnError", "Example.com/zone",
       "char 1: key: prefix part must be a lowercase DNS subdomain such as 'example.com': "
       "lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with "
       "a letter or digit (found 'E')"},
      {"EmptyPrefixIsAnError", "/zone=a",
       "char 1: key: prefix part must not be empty (nothing before the '/')"},
      {"TwoSlashesInKeyAreAnError", " a/b/c",
       "char 2: key: must be a name with an optional DNS subdomain prefix and a single '/', such "
       "as 'example.com/zone' (found more than one '/')"},
      {"ValueOf64CharactersIsAnError", "env=" + std::string(64, 'v'),
       "char 5: value: must be at most 63 characters (got 64)"},
      {"ValueStartingWithDashIsAnError", "env = -x",
       "char 7: value: must be empty or " + kNameRule + " (starts with '-')"},
      {"PipesAreValueCharactersAndInvalid", "x=a||y=b",
       "char 3: value: must be empty or " + kNameRule + " (found '|')"},
      {"InvalidValueInSetIsReportedAtThatValue", "env in (a, b$)",
       "char 12: value: must be empty or " + kNameRule + " (found '$')"},
      {"GreaterThanNeedsAnInteger", "n>abc", "char 3: value: '>' needs an integer (got 'abc')"},
      {"LessThanWithNothingAfterIsAnError", "n <", "char 4: value: '<' needs an integer (got '')"},
      {"GreaterThanOverflowIsNotAnInteger", "n>9223372036854775808",
       "char 3: value: '>' needs an integer (got '9223372036854775808')"},
      {"NegativeBoundIsNotAValidLabelValue", "n>-1",
       "char 3: value: must be empty or " + kNameRule + " (starts with '-')"},
  };
}

void PrintTo(const ErrorCase& c, std::ostream* out) { *out << '"' << c.text << '"'; }

class ParseRequirementErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ParseRequirementErrorTest, FailsWithThePositionedMessage) {
  Result<Requirement> got = ParseRequirement(GetParam().text);
  ASSERT_FALSE(got.ok()) << "parsed as " << got->ToString();
  EXPECT_EQ(got.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(got.status().message(), GetParam().want_message);
}

INSTANTIATE_TEST_SUITE_P(Invalid, ParseRequirementErrorTest, testing::ValuesIn(ErrorCases()),
                         [](const testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

// ---- Matching one requirement

struct MatchCase {
  std::string name;
  std::string expression;
  Labels labels;
  bool want;
};

std::vector<MatchCase> MatchCases() {
  return {
      {"EqualsMatchesTheSameValue", "env=prod", {{"env", "prod"}}, true},
      {"EqualsRejectsAnotherValue", "env=prod", {{"env", "dev"}}, false},
      {"EqualsRejectsAnAbsentKey", "env=prod", {{"tier", "prod"}}, false},
      {"EqualsEmptyMatchesAnEmptyValue", "env=", {{"env", ""}}, true},
      {"EqualsEmptyRejectsAnAbsentKey", "env=", {}, false},
      {"DoubleEqualsMatchesLikeEquals", "env==prod", {{"env", "prod"}}, true},
      {"NotEqualsMatchesAnAbsentKey", "env!=prod", {{"tier", "web"}}, true},
      {"NotEqualsMatchesAnotherValue", "env!=prod", {{"env", "dev"}}, true},
      {"NotEqualsRejectsTheSameValue", "env!=prod", {{"env", "prod"}}, false},
      {"NotEqualsEmptyRejectsAnEmptyValue", "env!=", {{"env", ""}}, false},
      {"InMatchesAListedValue", "tier in (web,api)", {{"tier", "api"}}, true},
      {"InRejectsAnUnlistedValue", "tier in (web,api)", {{"tier", "db"}}, false},
      {"InRejectsAnAbsentKey", "tier in (web,api)", {}, false},
      {"InWithEmptyElementMatchesAnEmptyValue", "tier in (,web)", {{"tier", ""}}, true},
      {"NotInMatchesAnAbsentKey", "tier notin (web,api)", {{"env", "prod"}}, true},
      {"NotInMatchesAnUnlistedValue", "tier notin (web,api)", {{"tier", "db"}}, true},
      {"NotInRejectsAListedValue", "tier notin (web,api)", {{"tier", "web"}}, false},
      {"NotInEmptyParensRejectsAnEmptyValue", "tier notin ()", {{"tier", ""}}, false},
      {"NotInEmptyParensMatchesANonEmptyValue", "tier notin ()", {{"tier", "web"}}, true},
      {"ExistsMatchesAnEmptyValue", "gpu", {{"gpu", ""}}, true},
      {"ExistsRejectsAnAbsentKey", "gpu", {{"cpu", "x"}}, false},
      {"DoesNotExistMatchesAnAbsentKey", "!debug", {{"env", "prod"}}, true},
      {"DoesNotExistRejectsAPresentEmptyValue", "!debug", {{"debug", ""}}, false},
      {"GreaterThanMatchesALargerInteger", "n>3", {{"n", "4"}}, true},
      {"GreaterThanRejectsAnEqualInteger", "n>3", {{"n", "3"}}, false},
      {"GreaterThanRejectsAnAbsentKey", "n>3", {}, false},
      {"GreaterThanRejectsANonIntegerValue", "n>3", {{"n", "v4"}}, false},
      {"GreaterThanRejectsADecimalValue", "n>3", {{"n", "4.5"}}, false},
      {"GreaterThanRejectsAnEmptyValue", "n>3", {{"n", ""}}, false},
      {"GreaterThanRejectsAnOverflowingValue", "n>3", {{"n", "99999999999999999999"}}, false},
      {"GreaterThanComparesNumbersNotText", "n>9", {{"n", "10"}}, true},
      {"GreaterThanReadsZeroPaddedValues", "n>3", {{"n", "010"}}, true},
      {"LessThanMatchesASmallerInteger", "n<10", {{"n", "9"}}, true},
      {"LessThanRejectsALargerInteger", "n<10", {{"n", "11"}}, false},
      {"LessThanReadsASignedNodeValue", "n<0", {{"n", "-5"}}, true},
      {"LessThanRejectsANonIntegerValue", "n<10", {{"n", "abc"}}, false},
      {"PrefixedKeyMatches", "example.com/zone in (eu-1)", {{"example.com/zone", "eu-1"}}, true},
      {"PrefixedKeyIsNotTheBareName", "zone=eu-1", {{"example.com/zone", "eu-1"}}, false},
      {"KeysAreCaseSensitive", "Env=prod", {{"env", "prod"}}, false},
      {"ValuesAreCaseSensitive", "env=prod", {{"env", "Prod"}}, false},
  };
}

void PrintTo(const MatchCase& c, std::ostream* out) { *out << '"' << c.expression << '"'; }

class RequirementMatchTest : public testing::TestWithParam<MatchCase> {};

TEST_P(RequirementMatchTest, MatchesAsKubernetesDoes) {
  const MatchCase& c = GetParam();
  Result<NodeSelector> selector = NodeSelector::Create({}, {c.expression}, {});
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  ASSERT_EQ(selector->requirements().size(), 1u);
  EXPECT_EQ(selector->requirements().front().Matches(c.labels), c.want);
  EXPECT_EQ(selector->Matches("node-1", c.labels), c.want);

  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  EXPECT_EQ(compiled.Matches(dictionary.Intern(c.labels)), c.want);
}

INSTANTIATE_TEST_SUITE_P(Match, RequirementMatchTest, testing::ValuesIn(MatchCases()),
                         [](const testing::TestParamInfo<MatchCase>& info) {
                           return info.param.name;
                         });

TEST(RequirementTest, HandBuiltBoundThatIsNotAnIntegerMatchesNothing) {
  const Requirement requirement{"n", Op::kGreaterThan, {"abc"}};
  EXPECT_FALSE(requirement.Matches({{"n", "5"}}));
}

TEST(RequirementTest, ToStringSortsHandBuiltValues) {
  const Requirement requirement{"tier", Op::kNotIn, {"web", "api", "web"}};
  EXPECT_EQ(requirement.ToString(), "tier notin (api,web)");
}

// ---- NodeSelector

TEST(NodeSelectorTest, EmptySelectorMatchesEveryNode) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {}, {});
  ASSERT_TRUE(selector.ok());
  EXPECT_TRUE(selector->empty());
  EXPECT_TRUE(selector->Matches("any-node", {}));
  EXPECT_TRUE(selector->Matches("other", {{"env", "prod"}}));
}

TEST(NodeSelectorTest, MatchLabelsAndExpressionsMustAllHold) {
  Result<NodeSelector> selector =
      NodeSelector::Create({{"env", "prod"}}, {"tier in (web,api)", "!debug"}, {});
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  EXPECT_TRUE(selector->Matches("n1", {{"env", "prod"}, {"tier", "web"}}));
  EXPECT_FALSE(selector->Matches("n1", {{"env", "dev"}, {"tier", "web"}}));  // label fails
  EXPECT_FALSE(selector->Matches("n1", {{"env", "prod"}, {"tier", "db"}}));  // expression fails
  EXPECT_FALSE(selector->Matches("n1", {{"env", "prod"}, {"tier", "web"}, {"debug", "1"}}));
}

TEST(NodeSelectorTest, MatchIdsRestrictToListedNodesOnTopOfLabels) {
  Result<NodeSelector> selector = NodeSelector::Create({{"env", "prod"}}, {}, {"n2", "n1", "n2"});
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  EXPECT_EQ(selector->match_ids(), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_TRUE(selector->Matches("n1", {{"env", "prod"}}));
  EXPECT_FALSE(selector->Matches("n3", {{"env", "prod"}}));  // id not listed
  EXPECT_FALSE(selector->Matches("n2", {{"env", "dev"}}));   // listed, labels fail
}

TEST(NodeSelectorTest, IdsAloneSelectListedNodesWhateverTheirLabels) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {}, {"edge-7"});
  ASSERT_TRUE(selector.ok());
  EXPECT_FALSE(selector->empty());
  EXPECT_TRUE(selector->Matches("edge-7", {}));
  EXPECT_FALSE(selector->Matches("edge-8", {}));
}

TEST(NodeSelectorTest, MatchLabelsBecomeEqualityRequirementsBeforeExpressions) {
  Result<NodeSelector> selector =
      NodeSelector::Create({{"zone", "a"}, {"env", "prod"}}, {"gpu", "n>3"}, {});
  ASSERT_TRUE(selector.ok());
  std::vector<std::string> canonical;
  for (const Requirement& r : selector->requirements()) canonical.push_back(r.ToString());
  EXPECT_EQ(canonical, (std::vector<std::string>{"env=prod", "zone=a", "gpu", "n>3"}));
}

TEST(NodeSelectorTest, CreateFromSelectorUsesAllThreeParts) {
  Selector spec;
  spec.match_labels = {{"env", "prod"}};
  spec.match_expressions = {"gpu"};
  spec.match_ids = {"n1"};
  Result<NodeSelector> selector = NodeSelector::Create(spec);
  ASSERT_TRUE(selector.ok());
  EXPECT_TRUE(selector->Matches("n1", {{"env", "prod"}, {"gpu", ""}}));
  EXPECT_FALSE(selector->Matches("n1", {{"env", "prod"}}));
  EXPECT_FALSE(selector->Matches("n2", {{"env", "prod"}, {"gpu", ""}}));
}

TEST(NodeSelectorTest, ExpressionErrorNamesItsIndexAndPosition) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {"env=prod", "gpu", "tier in (a"}, {});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(selector.status().message(),
            "match_expressions[2]: char 11: found end of expression, expected ',' or ')'");
}

TEST(NodeSelectorTest, EmptyExpressionElementIsAnError) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {""}, {});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(),
            "match_expressions[0]: char 1: empty expression, expected a requirement such as "
            "'env=prod'");
}

TEST(NodeSelectorTest, MatchLabelsKeyErrorNamesTheKey) {
  Result<NodeSelector> selector = NodeSelector::Create({{"-env", "prod"}}, {}, {});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(),
            "match_labels.-env: key: name part must " + kNameRule + " (starts with '-')");
}

TEST(NodeSelectorTest, MatchLabelsValueErrorNamesTheKey) {
  Result<NodeSelector> selector = NodeSelector::Create({{"env", std::string(64, 'v')}}, {}, {});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(),
            "match_labels.env: value: must be at most 63 characters (got 64)");
}

TEST(NodeSelectorTest, MatchIdsErrorNamesTheIndex) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {}, {"ok-node", "bad node"});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(),
            "match_ids[1]: must consist only of letters, digits, '.', '_' or '-' (found ' ')");
}

TEST(NodeSelectorTest, EveryFailingElementIsReportedInOrder) {
  Result<NodeSelector> selector = NodeSelector::Create({{"env", "a b"}}, {"=x", "ok"}, {""});
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().message(),
            "match_labels.env: value: must be empty or " + kNameRule +
                " (found ' '); match_expressions[0]: char 1: found '=', expected a key or '!'; "
                "match_ids[0]: must not be empty");
}

// ---- LabelDictionary and CompiledSelector

TEST(LabelDictionaryTest, InterningTheSameStringReturnsTheSameId) {
  LabelDictionary dictionary;
  const uint32_t env = dictionary.InternKey("env");
  EXPECT_EQ(dictionary.InternKey("tier"), env + 1);
  EXPECT_EQ(dictionary.InternKey("env"), env);
  EXPECT_EQ(dictionary.Key(env), "env");
  EXPECT_EQ(dictionary.FindKey("tier"), env + 1);
  EXPECT_EQ(dictionary.FindKey("zone"), std::nullopt);
  EXPECT_EQ(dictionary.key_count(), 2u);
}

TEST(LabelDictionaryTest, KeysAndValuesHaveSeparateIdSpaces) {
  LabelDictionary dictionary;
  dictionary.InternKey("env");
  EXPECT_EQ(dictionary.FindValue("env"), std::nullopt);
  EXPECT_EQ(dictionary.InternValue("env"), 0u);
  EXPECT_EQ(dictionary.value_count(), 1u);
}

TEST(LabelDictionaryTest, CachesWhetherEachValueIsAnInteger) {
  LabelDictionary dictionary;
  EXPECT_EQ(dictionary.ValueInteger(dictionary.InternValue("42")), 42);
  EXPECT_EQ(dictionary.ValueInteger(dictionary.InternValue("-7")), -7);
  EXPECT_EQ(dictionary.ValueInteger(dictionary.InternValue("v42")), std::nullopt);
  EXPECT_EQ(dictionary.ValueInteger(dictionary.InternValue("")), std::nullopt);
}

TEST(LabelDictionaryTest, StringsStayFindableAfterManyInterns) {
  LabelDictionary dictionary;
  for (int i = 0; i < 20000; ++i) dictionary.InternValue("v" + std::to_string(i));
  EXPECT_EQ(dictionary.FindValue("v0"), 0u);
  EXPECT_EQ(dictionary.FindValue("v19999"), 19999u);
  EXPECT_EQ(dictionary.Value(12345), "v12345");
}

TEST(LabelDictionaryTest, InternedLabelsAreSortedByKeyId) {
  LabelDictionary dictionary;
  dictionary.InternKey("zone");  // id 0, although it sorts last as text
  const InternedLabels labels = dictionary.Intern({{"env", "prod"}, {"zone", "a"}});
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels.entries()[0].key, 0u);
  EXPECT_EQ(dictionary.Key(labels.entries()[1].key), "env");
}

TEST(CompiledSelectorTest, StringsInternedAfterCompileNeverMatchSelectorValues) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {"env notin (prod)", "tier=web"}, {});
  ASSERT_TRUE(selector.ok());
  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  // Both nodes bring strings the dictionary has never seen.
  EXPECT_TRUE(compiled.Matches(dictionary.Intern({{"env", "staging"}, {"tier", "web"}})));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern({{"env", "staging"}, {"tier", "worker"}})));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern({{"env", "prod"}, {"tier", "web"}})));
}

TEST(CompiledSelectorTest, SeveralRequirementsOnOneKeyAllApply) {
  Result<NodeSelector> selector = NodeSelector::Create({}, {"n>1", "n<5", "n!=3", "n"}, {});
  ASSERT_TRUE(selector.ok());
  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  EXPECT_TRUE(compiled.Matches(dictionary.Intern({{"n", "2"}})));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern({{"n", "3"}})));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern({{"n", "5"}})));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern({{"m", "2"}})));
}

TEST(CompiledSelectorTest, LargeValueSetsMatchLikeSmallOnes) {
  std::string expression = "v in (";
  for (int i = 0; i < 40; ++i) expression += (i ? "," : "") + std::to_string(i * 3);
  expression += ")";
  Result<NodeSelector> selector = NodeSelector::Create({}, {expression}, {});
  ASSERT_TRUE(selector.ok()) << selector.status().ToString();
  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  for (int i = 0; i < 130; ++i) {
    const Labels labels{{"v", std::to_string(i)}};
    EXPECT_EQ(compiled.Matches(dictionary.Intern(labels)), selector->MatchesLabels(labels)) << i;
  }
}

TEST(CompiledSelectorTest, LabelSetsLargerThanEightMatchLikeSmallOnes) {
  Result<NodeSelector> selector =
      NodeSelector::Create({}, {"k03=v3", "k07 notin (x)", "!k20", "k11", "k00 in (v0,v9)"}, {});
  ASSERT_TRUE(selector.ok());
  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  Labels labels;
  for (int i = 0; i < 12; ++i)
    labels["k" + std::string(i < 10 ? "0" : "") + std::to_string(i)] = "v" + std::to_string(i);
  EXPECT_TRUE(selector->MatchesLabels(labels));
  EXPECT_TRUE(compiled.Matches(dictionary.Intern(labels)));
  labels["k20"] = "";
  EXPECT_FALSE(selector->MatchesLabels(labels));
  EXPECT_FALSE(compiled.Matches(dictionary.Intern(labels)));
}

TEST(CompiledSelectorTest, EmptyLabelSetLacksEveryKey) {
  Result<NodeSelector> absent = NodeSelector::Create({}, {"!debug", "env!=prod"}, {});
  Result<NodeSelector> present = NodeSelector::Create({}, {"gpu"}, {});
  ASSERT_TRUE(absent.ok() && present.ok());
  LabelDictionary dictionary;
  const InternedLabels empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(CompiledSelector::Compile(*absent, dictionary).Matches(empty));
  EXPECT_FALSE(CompiledSelector::Compile(*present, dictionary).Matches(empty));
}

TEST(CompiledSelectorTest, ChecksIdsSeparatelyFromLabels) {
  Result<NodeSelector> selector = NodeSelector::Create({{"env", "prod"}}, {}, {"n1", "n3"});
  ASSERT_TRUE(selector.ok());
  LabelDictionary dictionary;
  const CompiledSelector compiled = CompiledSelector::Compile(*selector, dictionary);
  const InternedLabels prod = dictionary.Intern({{"env", "prod"}});
  EXPECT_TRUE(compiled.Matches(prod));  // ids ignored
  EXPECT_TRUE(compiled.MatchesId("n3"));
  EXPECT_FALSE(compiled.MatchesId("n2"));
  EXPECT_TRUE(compiled.Matches("n1", prod));
  EXPECT_FALSE(compiled.Matches("n2", prod));
}

// Random selectors over a small vocabulary, so that keys collide and values repeat, against
// random nodes, half of them interned before the selectors are compiled and half after.
TEST(CompiledSelectorTest, AgreesWithNodeSelectorOnRandomFleets) {
  std::mt19937 random(20240611);
  auto pick = [&random](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(random)];
  };
  auto chance = [&random](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(random) < percent;
  };
  const std::vector<std::string> keys = {"env", "tier", "n", "gpu", "example.com/zone", "arch"};
  const std::vector<std::string> values = {"prod", "dev", "", "a", "b", "1", "3", "10", "007"};
  const std::vector<std::string> ids = {"n0", "n1", "n2", "n3", "n4", "n5"};

  auto random_labels = [&](int fresh) {
    Labels labels;
    const int count = std::uniform_int_distribution<int>(0, 6)(random);
    for (int i = 0; i < count; ++i) labels[pick(keys)] = pick(values);
    if (fresh > 0 && chance(30)) labels["fresh-" + std::to_string(fresh)] = "x";
    if (fresh > 0 && chance(30)) labels[pick(keys)] = "new-" + std::to_string(fresh);
    if (chance(15)) labels["n"] = std::to_string(fresh % 13 - 2);  // "-2" .. "10"
    if (chance(15)) {                                              // more than eight labels
      for (int i = 0; i < 6; ++i) labels["extra-" + std::to_string(i)] = pick(values);
    }
    return labels;
  };
  auto random_expression = [&]() {
    const std::string key = pick(keys);
    switch (std::uniform_int_distribution<int>(0, 8)(random)) {
      case 0:
        return key + "=" + pick(values);
      case 1:
        return key + "==" + pick(values);
      case 2:
        return key + "!=" + pick(values);
      case 3:
        return key + " in (" + pick(values) + "," + pick(values) + ")";
      case 4:
        return key + " notin (" + pick(values) + "," + pick(values) + ")";
      case 5:
        return key;
      case 6:
        return "!" + key;
      case 7:
        return key + ">" + std::to_string(std::uniform_int_distribution<int>(0, 9)(random));
      default:
        return key + "<" + std::to_string(std::uniform_int_distribution<int>(0, 9)(random));
    }
  };

  struct Node {
    std::string id;
    Labels labels;
  };
  std::vector<Node> early;
  std::vector<Node> late;
  for (int i = 0; i < 300; ++i) early.push_back({pick(ids), random_labels(0)});
  for (int i = 0; i < 300; ++i) late.push_back({pick(ids), random_labels(i + 1)});

  LabelDictionary dictionary;
  std::vector<InternedLabels> early_interned;
  for (const Node& node : early) early_interned.push_back(dictionary.Intern(node.labels));

  std::vector<NodeSelector> selectors;
  for (int s = 0; s < 200; ++s) {
    Labels match_labels;
    std::vector<std::string> expressions;
    std::vector<std::string> match_ids;
    const int label_count = std::uniform_int_distribution<int>(0, 1)(random);
    for (int i = 0; i < label_count; ++i) match_labels[pick(keys)] = pick(values);
    const int expression_count = std::uniform_int_distribution<int>(0, 5)(random);
    for (int i = 0; i < expression_count; ++i) expressions.push_back(random_expression());
    if (chance(20)) match_ids = {pick(ids), pick(ids)};
    Result<NodeSelector> selector = NodeSelector::Create(match_labels, expressions, match_ids);
    ASSERT_TRUE(selector.ok()) << selector.status().ToString();
    selectors.push_back(std::move(selector).value());
  }
  std::vector<CompiledSelector> compiled;
  for (const NodeSelector& selector : selectors) {
    compiled.push_back(CompiledSelector::Compile(selector, dictionary));
  }
  std::vector<InternedLabels> late_interned;
  for (const Node& node : late) late_interned.push_back(dictionary.Intern(node.labels));

  int matched = 0;
  int rejected = 0;
  for (size_t s = 0; s < selectors.size(); ++s) {
    for (int phase = 0; phase < 2; ++phase) {
      const std::vector<Node>& nodes = phase == 0 ? early : late;
      const std::vector<InternedLabels>& interned = phase == 0 ? early_interned : late_interned;
      for (size_t n = 0; n < nodes.size(); ++n) {
        const bool want = selectors[s].Matches(nodes[n].id, nodes[n].labels);
        ASSERT_EQ(compiled[s].Matches(nodes[n].id, interned[n]), want)
            << "selector " << s << ", " << (phase == 0 ? "early" : "late") << " node " << n;
        (want ? matched : rejected)++;
      }
    }
  }
  // The fleet exercises both outcomes and both label-set layouts, so agreement means something.
  int large = 0;
  for (const Node& node : late) large += node.labels.size() > InternedLabels::kPaddedSize;
  EXPECT_GT(large, 10);
  EXPECT_GT(matched, 1000);
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace drover
