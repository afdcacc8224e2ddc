// Bloblang mappings applied to messages: each case is a mapping, an input and the exact output
// Bento would produce (SPEC §10, prior-art/bloblang-semantics.md). Expected values were worked
// out from Bento's semantics, not copied from this implementation's output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "bloblang/bloblang.h"
#include "bloblang/value.h"
#include "tests/bloblang/fake_environment.h"

namespace drover::bloblang {
namespace {

using fakes::ApplyMapping;

struct OutputCase {
  const char* name;
  const char* mapping;
  const char* input;
  const char* want;
};

void PrintTo(const OutputCase& c, std::ostream* os) { *os << c.mapping; }

class MappingOutput : public ::testing::TestWithParam<OutputCase> {};

TEST_P(MappingOutput, ProducesBentosBytes) {
  const OutputCase& c = GetParam();
  MappingResult r = ApplyMapping(c.mapping, c.input);
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, c.want);
}

std::string CaseName(const ::testing::TestParamInfo<OutputCase>& info) { return info.param.name; }

// ---- statements and paths -------------------------------------------------------------------
const OutputCase kStatements[] = {
    {"RootThisSortsKeys", "root = this", R"({"b":1,"a":2})", R"({"a":2,"b":1})"},
    {"NestedAssignmentCreatesObjects", "root.a.b = 5", "{}", R"({"a":{"b":5}})"},
    {"UnassignedRootPassesInputThrough", "let x = 1", "not json at all", "not json at all"},
    {"MetaOnlyMappingKeepsContentBytes", "meta foo = \"bar\"", R"({ "a" : 1 })", R"({ "a" : 1 })"},
    {"DeletingAFieldOfNothingGivesEmptyObject", "root.zed = deleted()", R"({"a":1})", "{}"},
    {"StringRootIsRaw", "root = \"hello\"", "{}", "hello"},
    {"StringFieldRootIsRaw", "root = this.name", R"({"name":"bob"})", "bob"},
    {"NumberRoot", "root = 5", "{}", "5"},
    {"NullRoot", "root = null", "{}", "null"},
    {"BoolRoot", "root = true", "{}", "true"},
    {"ArrayLiteral", "root = [1, \"two\", 3.5]", "{}", R"([1,"two",3.5])"},
    {"ObjectLiteralSorted", R"(root = {"b": 1, "a": [true, null]})", "{}",
     R"({"a":[true,null],"b":1})"},
    {"ThisThenNow", "root = this\nroot.processed_at = now()", R"({"msg":"hi"})",
     R"({"msg":"hi","processed_at":"2026-12-04T21:52:48.123456789Z"})"},
    {"BarePathStatementIsBelowRoot", "foo.bar = \"x\"", "{}", R"({"foo":{"bar":"x"}})"},
    {"AssignIntoCopiedSubtree", "root = this.a\nroot.b = 1", R"({"a":{"c":2}})",
     R"({"b":1,"c":2})"},
    {"LaterAssignmentWins", "root.a = 1\nroot.a = 2", "{}", R"({"a":2})"},
    {"QuotedTargetSegment", "root = {}\nroot.\"a.b\" = 1", "{}", R"({"a.b":1})"},
    {"QuotedQuerySegment", "root.a = this.\"b.c\"", R"({"b.c":7})", R"({"a":7})"},
    {"ArrayIndexSegment", "root = this.items.1", R"({"items":["x","y"]})", "y"},
    {"ArrayIndexOutOfRangeIsNull", "root.v = this.items.5", R"({"items":["x"]})", R"({"v":null})"},
    {"PathThroughScalarIsNull", "root.v = this.a.b", R"({"a":"str"})", R"({"v":null})"},
    {"MissingPathIsNull", "root.v = this.missing.deep", "{}", R"({"v":null})"},
    {"CommentsAndBlankLines", "# leading\nroot.a = 1 # trailing\n\n\n# end\n", "{}", R"({"a":1})"},
    {"CarriageReturnNewlines", "root.a = 1\r\nroot.b = 2\r\n", "{}", R"({"a":1,"b":2})"},
    {"BareIdentifierIsAFieldOfThis", "root.v = name", R"({"name":"n"})", R"({"v":"n"})"},
    {"RootReadsTheOutputSoFar", "root.a = 1\nroot.b = root.a + 1", "{}", R"({"a":1,"b":2})"},
    {"RootOfNothingReadsNull", "root.b = root.a", "{}", R"({"b":null})"},
    {"AssignRootIntoItselfCopiesFirst", "root.a = 1\nroot.b = root", "{}",
     R"({"a":1,"b":{"a":1}})"},
    {"AssignNullRootIntoItself", "root = null\nroot.a = root", "{}", R"({"a":null})"},
    {"AssignWholeRootAfterFields", "root.a = 1\nroot = {\"x\": 2}", "{}", R"({"x":2})"},
    {"DeleteNestedFieldKeepsSiblings", "root = this\nroot.a.b = deleted()",
     R"({"a":{"b":1,"c":2}})", R"({"a":{"c":2}})"},
    {"DeleteAbsentFieldIsNoop", "root = this\nroot.a.zzz = deleted()", R"({"a":{"c":2}})",
     R"({"a":{"c":2}})"},
    {"AssignIntoArrayElement", "root = this\nroot.items.0.name = \"z\"",
     R"({"items":[{"name":"a"}]})", R"({"items":[{"name":"z"}]})"},
    {"NullIntermediateBecomesObject", "root = this\nroot.a.b = 1", R"({"a":null})",
     R"({"a":{"b":1}})"},
    {"RootThisKeepsUnicode", "root = this", R"({"s":"héllo ☃"})", R"({"s":"héllo ☃"})"},
    {"SameThisTwiceIsCopiedNotMoved", "root.a = this\nroot.b = this", R"({"x":1})",
     R"({"a":{"x":1},"b":{"x":1}})"},
    {"MovedSubtreeThenOtherField", "root.a = this.x\nroot.b = 2", R"({"x":[1,2]})",
     R"({"a":[1,2],"b":2})"},
};
INSTANTIATE_TEST_SUITE_P(Statements, MappingOutput, ::testing::ValuesIn(kStatements), CaseName);

// ---- literals and JSON output ---------------------------------------------------------------
const OutputCase kLiterals[] = {
    {"StringEscapes", R"(root = "tab\there \"q\" \u00e9 \x41")", "{}", "tab\there \"q\" é A"},
    {"TripleQuotedIsRaw", "root = \"\"\"raw \\n \"text\" \"\"\"", "{}", "raw \\n \"text\" "},
    {"TripleQuotedSpansLines", "root = \"\"\"a\nb\"\"\"", "{}", "a\nb"},
    {"NegativeInteger", "root = -5", "{}", "-5"},
    {"NegativeFloat", "root = -2.5", "{}", "-2.5"},
    {"WholeFloatPrintsLikeGo", "root = 3.0", "{}", "3"},
    {"ObjectLiteralDropsDeletedValue", R"(root = {"a": deleted(), "b": 1})", "{}", R"({"b":1})"},
    {"ArrayLiteralDropsDeletedItem", "root = [1, deleted(), 3]", "{}", "[1,3]"},
    {"ArrayLiteralDropsNothingItem", "root = [1, if false { 2 }, 3]", "{}", "[1,3]"},
    {"DynamicArray", "root = [this.a, this.b]", R"({"a":1})", "[1,null]"},
    {"DynamicObjectKey", R"(root = {this.k: "v"})", R"({"k":"key"})", R"({"key":"v"})"},
    {"NestedDynamicLiteral", R"(root.list = [{"x": this.a}])", R"({"a":1})",
     R"({"list":[{"x":1}]})"},
    {"MultiLineLiterals", "root = {\n  \"a\": [\n    1,\n    2,\n  ],\n  \"b\": this.b,\n}",
     R"({"b":"x"})", R"({"a":[1,2],"b":"x"})"},
    {"HtmlIsNotEscapedInOutput", R"(root.h = "<b>&</b>")", "{}", R"({"h":"<b>&</b>"})"},
    {"LineSeparatorIsEscaped", "root.s = this.s", "{\"s\":\"a\\u2028b\"}", R"({"s":"a\u2028b"})"},
    {"ControlCharactersAreEscaped", R"(root.s = "a\nb\u0001")", "{}", R"({"s":"a\nb\u0001"})"},
    {"EmptyContainers", R"(root = {"a": [], "b": {}})", "{}", R"({"a":[],"b":{}})"},
    {"TrailingCommaInArray", "root = [1, 2,]", "{}", "[1,2]"},
};
INSTANTIATE_TEST_SUITE_P(Literals, MappingOutput, ::testing::ValuesIn(kLiterals), CaseName);

// ---- numbers: int stays int through + - *, / is always a float ------------------------------
const OutputCase kNumbers[] = {
    {"IntPlusInt", "root = 1 + 2", "{}", "3"},
    {"IntPlusFloat", "root = 1 + 2.5", "{}", "3.5"},
    {"DivisionIsFloatPrintedWhole", "root = 6 / 2", "{}", "3"},
    {"DivisionFraction", "root = 5 / 2", "{}", "2.5"},
    {"Modulo", "root = 7 % 4", "{}", "3"},
    {"ModuloTruncatesFloats", "root = 7.9 % 4", "{}", "3"},
    {"IntTimesInt", "root = 2 * 3", "{}", "6"},
    {"IntTimesFloatWhole", "root = 2 * 1.5", "{}", "3"},
    {"BigInputIntegerStaysExact", "root.id = this.id", R"({"id":228930314431312345})",
     R"({"id":228930314431312345})"},
    {"BigIntegerToString", "root = this.id.string()", R"({"id":228930314431312345})",
     "228930314431312345"},
    {"IntegerArithmeticIsExact", "root = this.n + 1", R"({"n":9007199254740993})",
     "9007199254740994"},
    {"NumberMethodsModulo", R"(root = "7".number() % "4".number())", "{}", "3"},
    {"MultiplicationAfterDivisionLeftToRight", "root = 10 / 4 * 2", "{}", "5"},
    {"SubtractionLeftToRight", "root = 1 - 2 - 3", "{}", "-4"},
    {"MultiplicationBeforeAddition", "root = 2 + 3 * 4", "{}", "14"},
    {"Parentheses", "root = (2 + 3) * 4", "{}", "20"},
    {"HugeFloatUsesExponent", "root = 1000000.0 * 1000000.0 * 1000000.0 * 1000000.0", "{}",
     "1e+24"},
    {"TinyFloatUsesShortExponent", "root = 1 / 10000000", "{}", "1e-7"},
    {"FloatRoundTrip", "root = 0.1 + 0.2", "{}", "0.30000000000000004"},
    {"MillionFloatInJsonIsPlain", "root.x = 1000000.0 * 1.0", "{}", R"({"x":1000000})"},
    {"MillionFloatStringUsesExponent", "root = (1000000.0 * 1.0).string()", "{}", "1e+06"},
    {"DivisionString", "root = (6 / 2).string()", "{}", "3"},
    {"FloatLiteralMethod", "root = 2.5.string()", "{}", "2.5"},
    {"MaxUnsignedStaysExact", "root = this", R"({"n":18446744073709551615})",
     R"({"n":18446744073709551615})"},
    {"Int64OverflowWrapsLikeGo", "root = this.n + 1", R"({"n":9223372036854775807})",
     "-9223372036854775808"},
    {"HugeUnsignedArithmeticIsFloat", "root = this.n + 1", R"({"n":18446744073709551615})",
     "18446744073709552000"},
    {"UnaryMinusOfField", "root = -this.n", R"({"n":5})", "-5"},
    {"SubtractNegativeLiteral", "root = 5 - -3", "{}", "8"},
    {"InputFloatKeepsFraction", "root = this.f * 2", R"({"f":1.25})", "2.5"},
    {"NegativeModulo", "root = -7 % 3", "{}", "-1"},
};
INSTANTIATE_TEST_SUITE_P(Numbers, MappingOutput, ::testing::ValuesIn(kNumbers), CaseName);

// ---- comparison, boolean logic, coalesce ----------------------------------------------------
const OutputCase kOperators[] = {
    {"NotEqualAcrossTypes", "root = \"foo\" != 5", "{}", "true"},
    {"NullEqualsNull", "root = null == null", "{}", "true"},
    {"FloatEqualsInt", "root = 2.0 == 2", "{}", "true"},
    {"DeepEqualityIgnoresIntFloat", R"(root = [1, {"a": 2}] == [1.0, {"a": 2.0}])", "{}", "true"},
    {"BoolEqualsNumberReadAsBool", "root = true == 1", "{}", "true"},
    {"NumberDoesNotEqualBool", "root = 1 == true", "{}", "false"},
    {"StringOrderingIsLexicographic", R"(root = "abc" < "abd")", "{}", "true"},
    {"IntFloatOrdering", "root = 3 >= 3.0", "{}", "true"},
    {"FieldOrdering", "root = this.a > this.b", R"({"a":5,"b":3})", "true"},
    {"ComparisonsLeftToRight", "root = 1 < 2 == true", "{}", "true"},
    {"MissingEqualsNull", "root = this.missing == null", "{}", "true"},
    {"ComparisonBeforeAnd", R"(root = "a" == "a" && 1 < 2)", "{}", "true"},
    {"AndOrEqualPrecedence", "root = true || false && false", "{}", "false"},
    {"AndShortCircuits", "root = false && this.missing", "{}", "false"},
    {"OrShortCircuits", "root = true || this.missing", "{}", "true"},
    {"NotBindsToNextTerm", "root = !true || false", "{}", "false"},
    {"NotFalse", "root = !false", "{}", "true"},
    {"AndAcceptsNumbers", "root = 1 && true", "{}", "true"},
    {"OrOfZeroIsFalse", "root = 0 || false", "{}", "false"},
    {"NotField", "root = !this.flag", R"({"flag":false})", "true"},
    {"NotOfMethodChain", R"(root = !this.s.contains("x"))", R"({"s":"abc"})", "true"},
    {"ObjectsEqualDeeply", "root = this.a == this.b", R"({"a":{"x":[1]},"b":{"x":[1.0]}})", "true"},
    {"ArraysOfDifferentLengthDiffer", "root = [1] == [1, 1]", "{}", "false"},
    {"StringEqualsContentBytes", R"(root = content() == "abc")", "abc", "true"},
    {"CoalesceMissing", R"(root = this.missing | "x")", "{}", "x"},
    {"CoalesceUndefinedVariable", R"(root = $undefined | "x")", "{}", "x"},
    {"CoalesceDeleted", R"(root = deleted() | "this")", "{}", "this"},
    {"CoalesceChain", R"(root = this.a | this.b | "c")", R"({"b":2})", "2"},
    {"CoalesceCatchesErrors", R"(root = this.a.uppercase() | "fallback")", R"({"a":5})",
     "fallback"},
    {"CoalesceBindsLikeMultiplication", "root = this.a | 1 + 2", "{}", "3"},
    {"CoalesceKeepsFalse", R"(root = this.a | "x")", R"({"a":false})", "false"},
    {"CoalesceCatchesNonJsonThis", R"(root = this | "not json")", "nope", "not json"},
    {"StringConcatenation", R"(root = this.a + " " + this.b)", R"({"a":"x","b":"y"})", "x y"},
};
INSTANTIATE_TEST_SUITE_P(Operators, MappingOutput, ::testing::ValuesIn(kOperators), CaseName);

// ---- if expressions and variables -----------------------------------------------------------
const OutputCase kControl[] = {
    {"IfTrue", R"(root = if this.a > 1 { "big" } else { "small" })", R"({"a":5})", "big"},
    {"IfFalse", R"(root = if this.a > 1 { "big" } else { "small" })", R"({"a":0})", "small"},
    {"ElseIf", R"(root = if this.a == 1 { "one" } else if this.a == 2 { "two" } else { "many" })",
     R"({"a":2})", "two"},
    {"ElseIfFallsToElse",
     R"(root = if this.a == 1 { "one" } else if this.a == 2 { "two" } else { "many" })",
     R"({"a":9})", "many"},
    {"IfWithoutElseAssignsNothing", "root.x = if false { 1 }", R"({"keep":true})",
     R"({"keep":true})"},
    {"IfElseDeletedRemovesField",
     "root = this\nroot.pet = if this.pet == \"cat\" { this.pet } else { deleted() }",
     R"({"pet":"dog","n":1})", R"({"n":1})"},
    {"NullConditionIsFalse", R"(root = if this.missing { "yes" } else { "no" })", "{}", "no"},
    {"MultiLineIf", "root = if this.a {\n  \"yes\"\n} else {\n  \"no\"\n}", R"({"a":true})", "yes"},
    {"IfResultInArithmetic", "root = 1 + if this.a { 1 } else { 2 }", R"({"a":true})", "2"},
    {"Variable", "let x = this.a + 1\nroot.b = $x", R"({"a":1})", R"({"b":2})"},
    {"VariablePath", "let x = {\"k\": \"v\"}\nroot = $x.k", "{}", "v"},
    {"DeletedUnsetsVariable", "let x = 5\nlet x = deleted()\nroot = $x | \"gone\"", "{}", "gone"},
    {"VariableReassigned", "let x = 1\nlet x = $x + 1\nroot = $x", "{}", "2"},
    {"VariableKeepsItsOwnCopy", "let x = this\nroot = this\nroot.a = 2\nroot.b = $x.a",
     R"({"a":1})", R"({"a":2,"b":1})"},
};
INSTANTIATE_TEST_SUITE_P(Control, MappingOutput, ::testing::ValuesIn(kControl), CaseName);

// ---- functions ------------------------------------------------------------------------------
const OutputCase kFunctions[] = {
    {"Now", "root = now()", "{}", "2026-12-04T21:52:48.123456789Z"},
    {"TimestampUnix", "root = timestamp_unix()", "{}", "1796421168"},
    {"UuidV4", "root = uuid_v4()", "{}", "6ba7b810-9dad-41d1-80b4-00c04fd430c8"},
    {"Hostname", "root = hostname()", "{}", "edge-7"},
    {"Env", R"(root = env("REGION"))", "{}", "eu-west"},
    {"EnvUnsetIsNull", R"(root.r = env("MISSING"))", "{}", R"({"r":null})"},
    {"EnvDynamicName", "root = env(this.name)", R"({"name":"REGION"})", "eu-west"},
    {"ContentRaw", "root = content()", "raw text", "raw text"},
    {"ContentInsideJsonIsBase64", "root.doc = content()", R"({"a":1})",
     R"({"doc":"eyJhIjoxfQ=="})"},
    {"ContentString", "root.doc = content().string()", R"({"a":1})", R"({"doc":"{\"a\":1}"})"},
    {"ContentOfNonJson", "root.len = content().length()", "hello", R"({"len":5})"},
    {"ContentWithoutThisWorksOnAnyInput", R"(root = content() + "!")", "<not json>", "<not json>!"},
};
INSTANTIATE_TEST_SUITE_P(Functions, MappingOutput, ::testing::ValuesIn(kFunctions), CaseName);

// ---- methods --------------------------------------------------------------------------------
const OutputCase kMethods[] = {
    {"UppercaseUnicode", "root = this.s.uppercase()", R"({"s":"héllo"})", "HÉLLO"},
    {"LowercaseUnicode", "root = this.s.lowercase()", R"({"s":"ÀB"})", "àb"},
    {"LengthCountsBytes", "root = this.s.length()", R"({"s":"héllo"})", "6"},
    {"LengthOfArray", "root = [1, 2, 3].length()", "{}", "3"},
    {"LengthOfObject", R"(root = {"a": 1}.length())", "{}", "1"},
    {"ContainsSubstring", R"(root = "foobar".contains("oba"))", "{}", "true"},
    {"ContainsIgnoresIntFloat", "root = [10.0].contains(10)", "{}", "true"},
    {"ContainsObjectValue", R"(root = {"a": "x"}.contains("x"))", "{}", "true"},
    {"ContainsMissingElement", R"(root = ["a"].contains("b"))", "{}", "false"},
    {"ContainsNumberInString", R"(root = "a5".contains(5))", "{}", "true"},
    {"TrimSpace", "root = this.s.trim()", R"({"s":"  hi \n"})", "hi"},
    {"TrimCutset", R"(root = "!!hi?".trim("!?"))", "{}", "hi"},
    {"ReplaceAll", R"(root = "a-b-c".replace_all("-", "+"))", "{}", "a+b+c"},
    {"ReplaceAllEmptyOld", R"(root = "ab".replace_all("", "."))", "{}", ".a.b."},
    {"Split", R"(root = "a,b,c".split(","))", "{}", R"(["a","b","c"])"},
    {"SplitEmptyString", R"(root = "".split(","))", "{}", R"([""])"},
    {"SplitArray", "root = [1, 0, 2, 0, 3].split(0)", "{}", "[[1],[2],[3]]"},
    {"StringOfObjectEscapesHtml", R"(root = {"a": "<b>"}.string())", "{}",
     R"({"a":"\u003cb\u003e"})"},
    {"StringOfNumber", "root = 5.string()", "{}", "5"},
    {"StringOfBool", "root = true.string()", "{}", "true"},
    {"StringOfNull", "root = null.string()", "{}", "null"},
    {"NumberParsesFloat", R"(root = "3.5".number())", "{}", "3.5"},
    {"NumberIsAlwaysFloat", R"(root = "7".number() / 2)", "{}", "3.5"},
    {"NumberDefault", R"(root = "nope".number(0))", "{}", "0"},
    {"NumberOfNumber", "root = this.n.number()", R"({"n":4})", "4"},
    {"ParseJson", "root = this.doc.parse_json()", R"({"doc":"{\"n\":1}"})", R"({"n":1})"},
    {"ParseJsonNumbersAreFloats",
     R"(root = "11380878173205700000000000000000000000000000000".parse_json())", "{}",
     "1.13808781732057e+46"},
    {"ParseJsonReadsFirstDocument", R"(root = "[1] trailing".parse_json())", "{}", "[1]"},
    {"FormatJsonIndentsFourSpaces", R"(root = {"a": [1, 2], "b": {}}.format_json())", "{}",
     "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": {}\n}"},
    {"FormatJsonCustomIndent", R"(root = this.format_json("  "))", R"({"doc":{"foo":"bar"}})",
     "{\n  \"doc\": {\n    \"foo\": \"bar\"\n  }\n}"},
    {"FormatJsonNoIndentEscapesHtml", R"(root = {"h": "<&>"}.format_json("", true))", "{}",
     R"({"h":"\u003c\u0026\u003e"})"},
    {"FormatJsonString", "root.doc = this.doc.format_json().string()", R"({"doc":{"foo":"bar"}})",
     R"({"doc":"{\n    \"foo\": \"bar\"\n}"})"},
    {"FormatJsonBytesInsideJsonAreBase64", "root.doc = [1].format_json(\"\", true)", "{}",
     R"({"doc":"WzFd"})"},
    {"NotNullPasses", "root.a = this.a.not_null()", R"({"a":"x"})", R"({"a":"x"})"},
    {"MethodChain", "root = this.s.trim().uppercase().length()", R"({"s":" ab "})", "2"},
    {"MethodOnParentheses", R"(root = (this.a + "x").uppercase())", R"({"a":"y"})", "YX"},
    {"PathAfterMethod", "root = this.doc.parse_json().foo", R"({"doc":"{\"foo\":\"bar\"}"})",
     "bar"},
    {"MethodOnVariable", "let s = \"abc\"\nroot = $s.uppercase()", "{}", "ABC"},
    {"MethodOnFunction", "root = hostname().uppercase()", "{}", "EDGE-7"},
};
INSTANTIATE_TEST_SUITE_P(Methods, MappingOutput, ::testing::ValuesIn(kMethods), CaseName);

// ---- runtime errors -------------------------------------------------------------------------
struct ErrorCase {
  const char* name;
  const char* mapping;
  const char* input;
  const char* want;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.mapping; }

class MappingError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(MappingError, FailsWithBentosMessageAndPassesInputOn) {
  const ErrorCase& c = GetParam();
  std::map<std::string, std::string> meta = {{"topic", "t1"}};
  MappingResult r = ApplyMapping(c.mapping, c.input, meta);
  ASSERT_EQ(r.outcome, Outcome::kError);
  EXPECT_EQ(r.error, c.want);
  EXPECT_EQ(r.message.content, c.input);
  EXPECT_EQ(r.message.metadata, meta);
}

std::string ErrorName(const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; }

const ErrorCase kErrors[] = {
    {"NonJsonField", "root.x = this.a", "nope",
     "failed assignment (line 1): unable to reference message as structured (with 'this.a'): "
     "parse as json: invalid character 'o' in literal null (expecting 'u')"},
    {"NonJsonThis", "root = this", "hello",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "parse as json: invalid character 'h' looking for beginning of value"},
    {"EmptyMessage", "root = this", "",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "message is empty"},
    {"ErrorOnSecondLine", "root.a = 1\nroot.b = this.x", "{bad",
     "failed assignment (line 2): unable to reference message as structured (with 'this.x'): "
     "parse as json: invalid character 'b' looking for beginning of object key string"},
    {"TruncatedJson", "root = this", R"({"a":)",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "parse as json: unexpected EOF"},
    {"TwoDocuments", "root = this", R"({"a":1} {"b":2})",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "parse as json: message contains multiple valid documents"},
    {"TrailingGarbage", "root = this", R"({"a":1} x)",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "parse as json: invalid character 'x' looking for beginning of value"},
    {"WhitespaceOnly", "root = this", "  ",
     "failed assignment (line 1): unable to reference message as structured (with 'this'): "
     "parse as json: EOF"},
    {"NonJsonInsideMethodChain", "root = this.a.uppercase()", "x",
     "failed assignment (line 1): unable to reference message as structured (with 'this.a'): "
     "parse as json: invalid character 'x' looking for beginning of value"},
    {"NonJsonInsideIfCondition", "root = if this.a { 1 }", "x",
     "failed assignment (line 1): unable to reference message as structured (with 'this.a'): "
     "parse as json: invalid character 'x' looking for beginning of value"},
    {"UndefinedVariable", "root = $nope", "{}",
     "failed assignment (line 1): variable 'nope' undefined"},
    {"NotNull", "root.a = this.a.not_null()", "{}",
     "failed assignment (line 1): field `this.a`: value is null"},
    {"NumberOfText", "root = this.s.number()", R"({"s":"nope"})",
     "failed assignment (line 1): field `this.s`: strconv.ParseFloat: parsing \"nope\": "
     "invalid syntax"},
    {"NumberOfTextLiteral", R"(root = "nope".number())", "{}",
     "failed assignment (line 1): string literal: strconv.ParseFloat: parsing \"nope\": "
     "invalid syntax"},
    {"NumberOfBool", "root = this.b.number()", R"({"b":true})",
     "failed assignment (line 1): expected number value, got bool from field `this.b` (true)"},
    {"UppercaseOfNumber", "root = this.n.uppercase()", R"({"n":5})",
     "failed assignment (line 1): expected string value, got number from field `this.n` (5)"},
    {"LengthOfBool", "root = this.b.length()", R"({"b":true})",
     "failed assignment (line 1): expected string, array or object value, got bool from field "
     "`this.b` (true)"},
    {"ContainsOnNumber", "root = this.n.contains(1)", R"({"n":1})",
     "failed assignment (line 1): expected string, array or object value, got number from "
     "field `this.n` (1)"},
    {"TrimOfNull", "root = this.missing.trim()", "{}",
     "failed assignment (line 1): expected string value, got null from field `this.missing`"},
    {"AddNumberAndString", "root = this.a + this.b", R"({"a":1,"b":"x"})",
     "failed assignment (line 1): cannot add types number (from field `this.a`) and string "
     "(from field `this.b`)"},
    {"OrderStringAgainstNumber", "root = this.angry_peasants > this.palace_guards",
     R"({"angry_peasants":"many","palace_guards":5})",
     "failed assignment (line 1): cannot compare types string (from field "
     "`this.angry_peasants`) and number (from field `this.palace_guards`)"},
    {"OrderNulls", "root = this.a < this.b", "{}",
     "failed assignment (line 1): cannot compare types null (from field `this.a`) and null "
     "(from field `this.b`)"},
    {"SubtractStrings", R"(root = this.a - "x")", R"({"a":"y"})",
     "failed assignment (line 1): cannot subtract types string (from field `this.a`) and "
     "string (from string literal)"},
    {"DivideByZeroField", "root = this.a / this.b", R"({"a":1,"b":0})",
     "failed assignment (line 1): field `this.b`: attempted to divide by zero"},
    {"ModuloByZero", "root = this.a % 0", R"({"a":1})",
     "failed assignment (line 1): number literal: attempted to divide by zero"},
    {"NonBoolIfCondition", "root = if this.s { 1 } else { 2 }", R"({"s":"hello world"})",
     "failed assignment (line 1): field `this.s` resolved to a non-boolean value hello world "
     "(string)"},
    {"NonBoolIfLiteral", R"(root = if "hello world" { 1 })", "{}",
     "failed assignment (line 1): string literal resolved to a non-boolean value hello world "
     "(string)"},
    {"NonBoolElseIfCondition", "root = if false { 1 } else if this.n { 2 }", R"({"n":5})",
     "failed assignment (line 1): field `this.n` resolved to a non-boolean value 5 "
     "(json.Number)"},
    {"IfConditionError", R"(root = if this.a > "x" { 1 })", R"({"a":1})",
     "failed assignment (line 1): failed to check if condition: cannot compare types number "
     "(from field `this.a`) and string (from string literal)"},
    {"ElseIfConditionError", R"(root = if false { 1 } else if $nope { 2 })", "{}",
     "failed assignment (line 1): failed to check if condition 1: variable 'nope' undefined"},
    {"AndWithMissingSecond", "root = this.first && this.second", R"({"first":true})",
     "failed assignment (line 1): expected bool value, got null"},
    {"OrWithStringFirst", "root = this.s || true", R"({"s":"x"})",
     "failed assignment (line 1): expected bool value, got string (\"x\")"},
    {"NotOfString", "root = !this.s", R"({"s":"x"})",
     "failed assignment (line 1): expected bool value, got string from field `this.s` (\"x\")"},
    {"AssignBelowString", "root.foo = \"s\"\nroot.foo.bar = 1", "{}",
     "failed assignment (line 2): unable to set target path foo.bar as the value of foo was a "
     "non-object type (string)"},
    {"AssignBelowStringRoot", "root = \"s\"\nroot.a = 1", "{}",
     "failed assignment (line 2): unable to set target path a as the value of the root was a "
     "non-object type (string)"},
    {"AssignBelowDeletedRoot", "root = deleted()\nroot.a = 1", "{}",
     "failed assignment (line 2): unable to set target path a as the value of the root was a "
     "non-object type (delete)"},
    {"AssignArrayIndexOutOfRange", "root = this\nroot.items.3 = 1", R"({"items":[1]})",
     "failed assignment (line 2): unable to set target path items.3: failed to resolve path "
     "segment '1': found array but index '3' exceeded target array size of '1'"},
    {"MetaObjectRequiresObject", "meta = \"x\"", "{}",
     "failed assignment (line 1): setting root meta object requires object value, received: "
     "string"},
    {"EnvDynamicNameMustBeString", "root = env(this.n)", R"({"n":5})",
     "failed assignment (line 1): failed to extract input arg 'name': wrong argument type, "
     "expected string, got number"},
    {"ParseJsonSyntax", "root = this.s.parse_json()", R"({"s":"{nope"})",
     "failed assignment (line 1): field `this.s`: failed to parse value as JSON: invalid "
     "character 'n' looking for beginning of object key string"},
    {"ParseJsonEmpty", "root = this.s.parse_json()", R"({"s":""})",
     "failed assignment (line 1): field `this.s`: failed to parse value as JSON: EOF"},
    {"ErrorStopsLaterStatements", "root.a = 1\nroot.b = $nope\nroot.c = 3", "{}",
     "failed assignment (line 2): variable 'nope' undefined"},
    {"CoalesceRightSideErrorsPropagate", "root = this.a | $nope", "{}",
     "failed assignment (line 1): variable 'nope' undefined"},
    {"LetErrorsAreAssignmentErrors", "let x = this.a.uppercase()", R"({"a":1})",
     "failed assignment (line 1): expected string value, got number from field `this.a` (1)"},
    {"MethodOnDeleted", "root = deleted().uppercase()", "{}",
     "failed assignment (line 1): expected string value, got delete from delete"},
    {"ErrorOfChainedMethodNamesPreviousMethod", "root = this.s.parse_json().not_null()",
     R"({"s":"null"})", "failed assignment (line 1): method parse_json: value is null"},
};
INSTANTIATE_TEST_SUITE_P(Runtime, MappingError, ::testing::ValuesIn(kErrors), ErrorName);

// ---- parse errors ---------------------------------------------------------------------------
struct ParseCase {
  const char* name;
  const char* mapping;
  const char* want;
};

void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.mapping; }

class MappingParseError : public ::testing::TestWithParam<ParseCase> {};

TEST_P(MappingParseError, IsInvalidWithLineAndChar) {
  const ParseCase& c = GetParam();
  Result<Mapping> m = Mapping::Parse(c.mapping);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(m.status().message(), c.want);
}

std::string ParseName(const ::testing::TestParamInfo<ParseCase>& info) { return info.param.name; }

const ParseCase kParseErrors[] = {
    {"UnknownFunction", "root = foo()", "line 1 char 8: unrecognised function 'foo'"},
    {"UnknownFunctionOutsideSubset", "root = random_int()",
     "line 1 char 8: unrecognised function 'random_int'"},
    {"UnknownMethod", "root = this.bar()", "line 1 char 13: unrecognised method 'bar'"},
    {"UnknownMethodAfterMethod", "root = this.a.trim().bar()",
     "line 1 char 22: unrecognised method 'bar'"},
    {"MissingQueryBeforeNewline", "\nroot = \n# comment", "line 2 char 8: expected query"},
    {"Empty", "", "line 1 char 1: expected import, map, or assignment"},
    {"OnlyComments", "# nothing\n\n", "line 3 char 1: expected import, map, or assignment"},
    {"TooManyArguments", "root.a = 1\nroot.b = now(1)",
     "line 2 char 10: wrong number of arguments, expected 0, got 1"},
    {"MissingArgument", "root = env()", "line 1 char 8: missing parameter: name"},
    {"WrongLiteralArgumentType", "root = env(5)",
     "line 1 char 8: field name: wrong argument type, expected string, got number"},
    {"MethodTooManyArguments", "root = this.a.uppercase(1)",
     "line 1 char 15: wrong number of arguments, expected 0, got 1"},
    {"MethodMissingArguments", "root = this.a.replace_all()",
     "line 1 char 15: missing parameters: old, new"},
    {"LiteralAddFolded", "root = 5 + \"x\"",
     "line 1 char 8: cannot add types number (from number literal) and string (from string "
     "literal)"},
    {"LiteralDivideByZeroFolded", "root = 5 / 0",
     "line 1 char 8: number literal: attempted to divide by zero"},
    {"LiteralCompareFolded", "root = \"a\" > 1",
     "line 1 char 8: cannot compare types string (from string literal) and number (from number "
     "literal)"},
    {"DeletedArithmeticFolded", "root = deleted() + 1",
     "line 1 char 8: cannot add types delete (from delete) and number (from number literal)"},
    {"UnterminatedString", "root = \"abc", "line 1 char 8: required: expected end quote"},
    {"DanglingOperator", "root = this.a +", "line 1 char 16: expected query"},
    {"UnclosedParenthesis", "root = (1 + 2", "line 1 char 14: expected )"},
    {"MatchIsOutsideTheSubset", "root = match this { }",
     "line 1 char 8: match expressions are not supported by Drover's Bloblang subset"},
    {"ImportIsOutsideTheSubset", "import \"foo.blobl\"",
     "line 1 char 1: 'import' is not supported by Drover's Bloblang subset"},
    {"MetadataReference", "root = @foo",
     "line 1 char 8: metadata references with @ are not supported by Drover, use meta(\"foo\")"},
    {"ColumnsCountCharacters", "root = \"é\" + foo()",
     "line 1 char 14: unrecognised function 'foo'"},
    {"JunkAfterStatement", "root = this this",
     "line 1 char 13: expected end of statement (a newline)"},
    {"LetWithoutName", "let = 5", "line 1 char 5: expected variable name"},
    {"ElseWithoutBlock", "root.a = if this.x { 1 } else 2", "line 1 char 31: expected {"},
    {"UnexpectedCharacter", "root = 5 ^ 2", "line 1 char 10: unexpected character '^'"},
    {"NamedArguments", "root = env(name: \"X\")",
     "line 1 char 12: named arguments are not supported by Drover's Bloblang subset"},
    {"ErrorOnLaterIndentedLine", "root.a = 1\n\n  root.b = nope()",
     "line 3 char 12: unrecognised function 'nope'"},
    {"MissingEquals", "root.a 5", "line 1 char 8: expected ="},
    {"IfStatementOutsideSubset", "if this.a { root = 1 }",
     "line 1 char 1: if statements are not supported by Drover's Bloblang subset, use an if "
     "expression: root.x = if c { a } else { b }"},
    {"EmptyIfBody", "root = if true { }", "line 1 char 18: expected query"},
    {"InvalidEscape", R"(root = "a\qb")",
     "line 1 char 8: invalid escape sequence in string literal"},
};
INSTANTIATE_TEST_SUITE_P(Parse, MappingParseError, ::testing::ValuesIn(kParseErrors), ParseName);

// ---- outcomes, metadata and the input contract ----------------------------------------------
TEST(Mapping, RootDeletedDropsTheMessage) {
  MappingResult r = ApplyMapping("root = deleted()", R"({"a":1})");
  EXPECT_EQ(r.outcome, Outcome::kDeleted);
  EXPECT_TRUE(r.error.empty());
}

TEST(Mapping, ConditionalDeleteOnlyDropsMatchingMessages) {
  const char* mapping = "root = if this.level == \"debug\" { deleted() } else { this }";
  EXPECT_EQ(ApplyMapping(mapping, R"({"level":"debug"})").outcome, Outcome::kDeleted);
  MappingResult kept = ApplyMapping(mapping, R"({"level":"info"})");
  EXPECT_EQ(kept.outcome, Outcome::kMessage);
  EXPECT_EQ(kept.message.content, R"({"level":"info"})");
}

TEST(Mapping, DeletedThenReassignedRootIsKept) {
  MappingResult r = ApplyMapping("root = deleted()\nroot = 1", "{}");
  EXPECT_EQ(r.outcome, Outcome::kMessage);
  EXPECT_EQ(r.message.content, "1");
}

TEST(Mapping, MetaAssignmentSetsOutputMetadataOnly) {
  MappingResult r = ApplyMapping("meta k = \"v\"\nmeta n = 7\nmeta f = 2.5", "{}", {{"old", "x"}});
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, "{}");
  std::map<std::string, std::string> want = {{"f", "2.5"}, {"k", "v"}, {"n", "7"}, {"old", "x"}};
  EXPECT_EQ(r.message.metadata, want);
}

TEST(Mapping, MetaAssignmentOfStructuredValuesIsJson) {
  MappingResult r = ApplyMapping("meta obj = {\"a\": [1, \"<\"]}\nmeta nil = null", "{}");
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.metadata["obj"], R"({"a":[1,"\u003c"]})");
  EXPECT_EQ(r.message.metadata["nil"], "null");
}

TEST(Mapping, MetaDeletedRemovesOneKey) {
  MappingResult r = ApplyMapping("meta k = deleted()", "{}", {{"k", "x"}, {"j", "y"}});
  std::map<std::string, std::string> want = {{"j", "y"}};
  EXPECT_EQ(r.message.metadata, want);
}

TEST(Mapping, MetaWholeDeletedClearsAll) {
  MappingResult r = ApplyMapping("meta = deleted()", "{}", {{"k", "x"}, {"j", "y"}});
  EXPECT_TRUE(r.message.metadata.empty());
}

TEST(Mapping, MetaWholeObjectReplacesAll) {
  MappingResult r = ApplyMapping(R"(meta = {"a": 1, "b": "x"})", "{}", {{"k", "x"}});
  std::map<std::string, std::string> want = {{"a", "1"}, {"b", "x"}};
  EXPECT_EQ(r.message.metadata, want);
}

TEST(Mapping, MetaFunctionReadsTheInputNotEarlierAssignments) {
  MappingResult r = ApplyMapping("meta k = \"new\"\nroot.v = meta(\"k\")", "{}", {{"k", "old"}});
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, R"({"v":"old"})");
  EXPECT_EQ(r.message.metadata["k"], "new");
}

TEST(Mapping, MetaFunctionMissingOrEmptyIsNull) {
  MappingResult r =
      ApplyMapping("root.a = meta(\"missing\")\nroot.b = meta(\"empty\")", "{}", {{"empty", ""}});
  EXPECT_EQ(r.message.content, R"({"a":null,"b":null})");
}

TEST(Mapping, MetaFunctionWithoutKeyIsAnObject) {
  MappingResult r = ApplyMapping("root = meta()", "{}", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(r.message.content, R"({"a":"1","b":"2"})");
}

TEST(Mapping, MetaKeyMayBeQuoted) {
  MappingResult r = ApplyMapping("meta \"kafka key\" = \"v\"", "{}");
  EXPECT_EQ(r.message.metadata["kafka key"], "v");
}

TEST(Mapping, PassThroughKeepsMetadata) {
  MappingResult r = ApplyMapping("root.a = 1", "{}", {{"topic", "t"}});
  EXPECT_EQ(r.message.metadata.at("topic"), "t");
}

TEST(Mapping, VariablesResetForEveryMessage) {
  Result<Mapping> m = Mapping::Parse("let x = $x | 0\nlet x = $x + 1\nroot = $x");
  ASSERT_TRUE(m.ok()) << m.status().message();
  fakes::FakeEnvironment env;
  for (int i = 0; i < 3; ++i) {
    MappingResult r = m->Apply(Message{"{}", {}}, env);
    EXPECT_EQ(r.message.content, "1");
  }
}

TEST(Mapping, NowTrimsTrailingZerosLikeGo) {
  fakes::FakeEnvironment env;
  env.now_nanos = 1796421168100000000;
  EXPECT_EQ(ApplyMapping("root = now()", "{}", {}, &env).message.content, "2026-12-04T21:52:48.1Z");
  env.now_nanos = 1796421168000000000;
  EXPECT_EQ(ApplyMapping("root = now()", "{}", {}, &env).message.content, "2026-12-04T21:52:48Z");
  env.now_nanos = -1500000000;  // before the epoch: the second rounds down
  EXPECT_EQ(ApplyMapping("root = now()", "{}", {}, &env).message.content, "1969-12-31T23:59:58.5Z");
  EXPECT_EQ(ApplyMapping("root = timestamp_unix()", "{}", {}, &env).message.content, "-2");
}

TEST(Mapping, NonJsonInputIsFineWhenThisIsNotUsed) {
  MappingResult r = ApplyMapping("root = content().uppercase()", "plain text");
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, "PLAIN TEXT");
}

TEST(Mapping, AMappingAppliesConcurrently) {
  Result<Mapping> m = Mapping::Parse("root = this\nroot.n = this.n * 2\nroot.id = uuid_v4()");
  ASSERT_TRUE(m.ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        int n = t * 1000 + i;
        MappingResult r =
            m->Apply(Message{R"({"n":)" + std::to_string(n) + "}", {}}, SystemEnvironment());
        auto doc = Json::parse(r.message.content);
        if (doc["n"] != 2 * n || doc["id"].get<std::string>().size() != 36) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Mapping, SystemEnvironmentUuidsAreVersion4AndDistinct) {
  std::string a = SystemEnvironment().UuidV4();
  std::string b = SystemEnvironment().UuidV4();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_THAT(std::string("89ab"), ::testing::HasSubstr(std::string(1, a[19])));
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[23], '-');
}

TEST(Mapping, SystemEnvironmentReadsTheWorld) {
  const Environment& env = SystemEnvironment();
  EXPECT_GT(env.NowUnixNanos(), int64_t{1700000000} * 1000000000);
  EXPECT_FALSE(env.Hostname().empty());
  setenv("DROVER_BLOBLANG_TEST_VAR", "yes", 1);
  EXPECT_EQ(env.Env("DROVER_BLOBLANG_TEST_VAR"), std::optional<std::string>("yes"));
  EXPECT_EQ(env.Env("DROVER_BLOBLANG_TEST_UNSET_VAR"), std::nullopt);
}

// ---- robustness: no input crashes -----------------------------------------------------------
TEST(MappingRobustness, DeeplyNestedInputIsAnErrorNotACrash) {
  std::string deep(20000, '[');
  MappingResult r = ApplyMapping("root = this", deep);
  ASSERT_EQ(r.outcome, Outcome::kError);
  EXPECT_THAT(r.error, ::testing::HasSubstr("exceeded max depth"));
}

TEST(MappingRobustness, NestingUpToTheLimitWorks) {
  std::string doc = std::string(1000, '[') + std::string(1000, ']');
  MappingResult r = ApplyMapping("root = this", doc);
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, doc);
  // Copies, comparisons and strings of the deepest document work too.
  r = ApplyMapping("let x = this\nroot.same = $x == this\nroot.text = $x.string().length()", doc);
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content, R"({"same":true,"text":2000})");
}

TEST(MappingRobustness, DeeplyNestedMappingIsAParseError) {
  for (std::string open : {"(", "[", "!", "-", "{\"a\": "}) {
    std::string text = "root = ";
    for (int i = 0; i < 1000; ++i) text += open;
    text += "1";
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_FALSE(m.ok()) << open;
    EXPECT_THAT(m.status().message(), ::testing::HasSubstr("nested too deeply")) << open;
  }
}

TEST(MappingRobustness, FiftyLevelsOfNestingParse) {
  std::string text = "root = " + std::string(50, '(') + "1" + std::string(50, ')');
  Result<Mapping> m = Mapping::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->Apply(Message{"{}", {}}, SystemEnvironment()).message.content, "1");
}

TEST(MappingRobustness, ArbitraryBytesNeverCrashTheParser) {
  const std::string alphabet = "root=this.a$x\"#()[]{}+-*/%!|&<>,:\n 0123456789if else let meta\\é";
  uint64_t state = 42;
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    size_t length = (state >> 33) % 40;
    for (size_t k = 0; k < length; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += alphabet[(state >> 33) % alphabet.size()];
    }
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    Result<Mapping> m = Mapping::Parse(text);
    if (m.ok()) {
      ++parsed;
      MappingResult r = m->Apply(Message{R"({"a":1})", {}}, SystemEnvironment());
      (void)r;
    } else {
      EXPECT_THAT(m.status().message(), ::testing::StartsWith("line ")) << text;
    }
  }
  EXPECT_GT(parsed, 0);
}

TEST(MappingRobustness, ArbitraryInputsNeverCrashApply) {
  Result<Mapping> m = Mapping::Parse(
      "root = this\nroot.x = this.a.b | content().length()\nroot.y = this.s.parse_json() | 0");
  ASSERT_TRUE(m.ok());
  const std::string alphabet = "{}[]\":,0123456789.eE-+truefalsnl \\u\xff\xc3\xa9";
  uint64_t state = 7;
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    size_t length = (state >> 33) % 30;
    for (size_t k = 0; k < length; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += alphabet[(state >> 33) % alphabet.size()];
    }
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    MappingResult r = m->Apply(Message{text, {}}, SystemEnvironment());
    if (r.outcome == Outcome::kError) {
      EXPECT_EQ(r.message.content, text);
      EXPECT_THAT(r.error, ::testing::StartsWith("failed assignment (line "));
    }
  }
}

TEST(MappingRobustness, InvalidUtf8InsideJsonStringsIsReplacedLikeGo) {
  MappingResult r = ApplyMapping("root = this",
                                 "{\"s\":\"a\xff"
                                 "b\"}");
  ASSERT_EQ(r.outcome, Outcome::kMessage) << r.error;
  EXPECT_EQ(r.message.content,
            "{\"s\":\"a\xEF\xBF\xBD"
            "b\"}");
}

}  // namespace
}  // namespace drover::bloblang
