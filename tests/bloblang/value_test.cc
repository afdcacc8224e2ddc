// The Go-compatible printing and comparison of Bloblang values (bloblang/value.h) and the lexer's
// positions. Expected strings are what Go's strconv, fmt and encoding/json print.
#include "bloblang/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "bloblang/lexer.h"

namespace drover::bloblang {
namespace {

struct FloatCase {
  double value;
  const char* json;      // encoding/json
  const char* shortest;  // strconv.FormatFloat(f, 'g', -1, 64)
};

class FloatFormatting : public ::testing::TestWithParam<FloatCase> {};

TEST_P(FloatFormatting, MatchesGo) {
  const FloatCase& c = GetParam();
  std::string json, bad;
  ASSERT_TRUE(AppendJson(Json(c.value), JsonStyle{}, &json, &bad));
  EXPECT_EQ(json, c.json);
  EXPECT_EQ(FormatFloatShortest(c.value), c.shortest);
}

INSTANTIATE_TEST_SUITE_P(
    Go, FloatFormatting,
    ::testing::Values(
        FloatCase{3.0, "3", "3"}, FloatCase{2.5, "2.5", "2.5"}, FloatCase{-0.5, "-0.5", "-0.5"},
        FloatCase{0.0, "0", "0"}, FloatCase{100000.0, "100000", "100000"},
        FloatCase{1e6, "1000000", "1e+06"}, FloatCase{1234567.0, "1234567", "1.234567e+06"},
        FloatCase{1e20, "100000000000000000000", "1e+20"}, FloatCase{1e21, "1e+21", "1e+21"},
        FloatCase{1.5e300, "1.5e+300", "1.5e+300"}, FloatCase{0.0001, "0.0001", "0.0001"},
        FloatCase{0.00001, "0.00001", "1e-05"}, FloatCase{0.000001, "0.000001", "1e-06"},
        FloatCase{1e-7, "1e-7", "1e-07"}, FloatCase{1.25e-10, "1.25e-10", "1.25e-10"},
        FloatCase{0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
        FloatCase{123456.789, "123456.789", "123456.789"}, FloatCase{5e-324, "5e-324", "5e-324"}));

TEST(JsonOutput, NonFiniteNumbersCannotBeEncoded) {
  std::string out, bad;
  EXPECT_FALSE(AppendJson(Json(std::nan("")), JsonStyle{}, &out, &bad));
  EXPECT_EQ(bad, "NaN");
  EXPECT_FALSE(AppendJson(Json::array({-HUGE_VAL}), JsonStyle{}, &out, &bad));
  EXPECT_EQ(bad, "-Inf");
}

TEST(JsonOutput, StringEscapingFollowsGo) {
  std::string out, bad;
  Json v = std::string("q\" b\\ \b\f\n\r\t \x01 <&> \xe2\x80\xa8 \x7f \xff");
  ASSERT_TRUE(AppendJson(v, JsonStyle{}, &out, &bad));
  EXPECT_EQ(out, R"("q\" b\\ \b\f\n\r\t \u0001 <&> \u2028 )"
                 "\x7f"
                 R"( \ufffd")");
  out.clear();
  ASSERT_TRUE(
      AppendJson(v, JsonStyle{.escape_html = true, .pretty = false, .indent = {}}, &out, &bad));
  EXPECT_THAT(out, ::testing::HasSubstr(R"(\u003c\u0026\u003e)"));
}

TEST(JsonOutput, BytesAreBase64) {
  std::string out, bad;
  for (auto [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"", R"("")"}, {"f", R"("Zg==")"}, {"fo", R"("Zm8=")"}, {"foo", R"("Zm9v")"}}) {
    out.clear();
    ASSERT_TRUE(AppendJson(Json::binary(std::vector<uint8_t>(text.begin(), text.end())),
                           JsonStyle{}, &out, &bad));
    EXPECT_EQ(out, want);
  }
}

TEST(JsonOutput, PrettyPrintingWithAnEmptyIndentStillBreaksLines) {
  std::string out, bad;
  Json v = Json::parse(R"({"a":[1],"b":{}})");
  ASSERT_TRUE(
      AppendJson(v, JsonStyle{.escape_html = false, .pretty = true, .indent = ""}, &out, &bad));
  EXPECT_EQ(out, "{\n\"a\": [\n1\n],\n\"b\": {}\n}");
}

TEST(Values, TypeNamesAreBentos) {
  EXPECT_EQ(TypeName(Json("x")), "string");
  EXPECT_EQ(TypeName(Json::binary({1})), "bytes");
  EXPECT_EQ(TypeName(Json(1)), "number");
  EXPECT_EQ(TypeName(Json(1u)), "number");
  EXPECT_EQ(TypeName(Json(1.5)), "number");
  EXPECT_EQ(TypeName(Json(true)), "bool");
  EXPECT_EQ(TypeName(Json::array()), "array");
  EXPECT_EQ(TypeName(Json::object()), "object");
  EXPECT_EQ(TypeName(Json()), "null");
  EXPECT_EQ(TypeName(Value::Deleted()), "delete");
  EXPECT_EQ(TypeName(Value::Nothing()), "nothing");
}

TEST(Values, TypeErrorText) {
  EXPECT_EQ(TypeErrorText("string", Json(5)), "expected string value, got number (5)");
  EXPECT_EQ(TypeErrorText("bool", Json("x")), "expected bool value, got string (\"x\")");
  EXPECT_EQ(TypeErrorText("string", Json::array()), "expected string value, got array");
}

TEST(Values, ToBentoString) {
  EXPECT_EQ(ToBentoString(Json(5)), "5");
  EXPECT_EQ(ToBentoString(Json(2.0)), "2");
  EXPECT_EQ(ToBentoString(Json(1e21)), "1e+21");
  EXPECT_EQ(ToBentoString(Json(false)), "false");
  EXPECT_EQ(ToBentoString(Json()), "null");
  EXPECT_EQ(ToBentoString(Json::parse(R"({"b":"<",  "a":1})")), R"({"a":1,"b":"\u003c"})");
}

TEST(Values, EqualityIsBentos) {
  EXPECT_TRUE(ValuesEqual(Json(2), Json(2.0)));
  EXPECT_TRUE(ValuesEqual(Json("a"), Json::binary({'a'})));
  EXPECT_TRUE(ValuesEqual(Json(true), Json(3)));
  EXPECT_FALSE(ValuesEqual(Json(1), Json(true)));
  EXPECT_FALSE(ValuesEqual(Json("1"), Json(1)));
  EXPECT_TRUE(ValuesEqual(Json(), Json()));
  EXPECT_FALSE(ValuesEqual(Json(), Json(0)));
  EXPECT_TRUE(
      ValuesEqual(Json::parse(R"({"a":[1,{"b":2}]})"), Json::parse(R"({"a":[1.0,{"b":2.0}]})")));
  EXPECT_FALSE(ValuesEqual(Json::parse(R"({"a":1})"), Json::parse(R"({"a":1,"b":2})")));
}

TEST(Values, GoQuote) {
  EXPECT_EQ(GoQuote("nope"), "\"nope\"");
  EXPECT_EQ(GoQuote("a\"b\\c\n\t"), R"("a\"b\\c\n\t")");
  EXPECT_EQ(GoQuote(std::string("\x01\x7f", 2)), R"("\x01\x7f")");
  EXPECT_EQ(GoQuote("\xff"), R"("\xff")");
  EXPECT_EQ(GoQuote("é☃"), "\"é☃\"");
}

struct GoDecodeCase {
  const char* input;
  const char* error;  // "" when the text is one JSON document
};

class MessageJson : public ::testing::TestWithParam<GoDecodeCase> {};

TEST_P(MessageJson, ErrorsReadLikeGosDecoder) {
  Json out;
  std::string error;
  bool ok = ParseMessageJson(GetParam().input, &out, &error);
  EXPECT_EQ(ok, std::string(GetParam().error).empty()) << error;
  EXPECT_EQ(error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Go, MessageJson,
    ::testing::Values(
        GoDecodeCase{R"({"a":[1,2.5,"x",true,null]})", ""}, GoDecodeCase{" 5 \n", ""},
        GoDecodeCase{"nope", "invalid character 'o' in literal null (expecting 'u')"},
        GoDecodeCase{"hello", "invalid character 'h' looking for beginning of value"},
        GoDecodeCase{"{bad", "invalid character 'b' looking for beginning of object key string"},
        GoDecodeCase{R"({"a" 1})", "invalid character '1' after object key"},
        GoDecodeCase{R"({"a":1 "b":2})", "invalid character '\"' after object key:value pair"},
        GoDecodeCase{"[1 2]", "invalid character '2' after array element"},
        GoDecodeCase{"[1,]", "invalid character ']' looking for beginning of value"},
        GoDecodeCase{"-x", "invalid character 'x' in numeric literal"},
        GoDecodeCase{"1.x", "invalid character 'x' after decimal point in numeric literal"},
        GoDecodeCase{"1ex", "invalid character 'x' in exponent of numeric literal"},
        GoDecodeCase{"\"a\nb\"", "invalid character '\\n' in string literal"},
        GoDecodeCase{R"("\q")", "invalid character 'q' in string escape code"},
        GoDecodeCase{R"("\u12x4")", "invalid character 'x' in \\u hexadecimal character escape"},
        GoDecodeCase{"'a'", "invalid character '\\'' looking for beginning of value"},
        GoDecodeCase{"\x01", "invalid character '\\x01' looking for beginning of value"},
        GoDecodeCase{"\xc3\xa9", "invalid character 'Ã' looking for beginning of value"},
        GoDecodeCase{"[", "unexpected EOF"}, GoDecodeCase{"tru", "unexpected EOF"},
        GoDecodeCase{" ", "EOF"}, GoDecodeCase{"1 2", "message contains multiple valid documents"},
        GoDecodeCase{"truex", "invalid character 'x' looking for beginning of value"},
        GoDecodeCase{"{} }", "invalid character '}' looking for beginning of value"}));

TEST(MessageJson, NumbersKeepTheirKind) {
  Json out;
  std::string error;
  ASSERT_TRUE(ParseMessageJson(R"([1,-1,1.0,18446744073709551615])", &out, &error)) << error;
  EXPECT_TRUE(out[0].is_number_integer());
  EXPECT_TRUE(out[1].is_number_integer());
  EXPECT_TRUE(out[2].is_number_float());
  EXPECT_EQ(out[3].get<uint64_t>(), 18446744073709551615ULL);
}

TEST(MessageJson, StringsDecodeLikeGo) {
  Json out;
  std::string error;
  ASSERT_TRUE(ParseMessageJson(
      R"(["a\/b\"\\\b\f\n\r\t", "\u00e9\ud83d\ude00", "\ud800x", "\udc00", "\ud800\u0041"])", &out,
      &error))
      << error;
  EXPECT_EQ(out[0], "a/b\"\\\b\f\n\r\t");
  EXPECT_EQ(out[1], "\u00e9\U0001F600");
  EXPECT_EQ(out[2], "\uFFFDx");  // a lone high surrogate
  EXPECT_EQ(out[3], "\uFFFD");   // a lone low surrogate
  EXPECT_EQ(out[4], "\uFFFDA");  // a high surrogate not followed by a low one
}

TEST(MessageJson, RepeatedKeysKeepTheLastValue) {
  Json out;
  std::string error;
  ASSERT_TRUE(ParseMessageJson(R"({"a":1,"b":2,"a":[3]})", &out, &error));
  EXPECT_EQ(out, Json::parse(R"({"a":[3],"b":2})"));
}

TEST(MessageJson, NestingIsLimitedToAThousandLevels) {
  Json out;
  std::string error;
  std::string ok = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_TRUE(ParseMessageJson(ok, &out, &error)) << error;
  std::string deep = std::string(1001, '[') + std::string(1001, ']');
  EXPECT_FALSE(ParseMessageJson(deep, &out, &error));
  EXPECT_EQ(error, "exceeded max depth");
}

TEST(MessageJson, ParseJsonDocumentReadsTheFirstDocument) {
  Json out;
  std::string error;
  EXPECT_TRUE(ParseJsonDocument(R"({"a":1} {"b":2})", &out, &error));
  EXPECT_EQ(out, Json::parse(R"({"a":1})"));
  EXPECT_FALSE(ParseJsonDocument("", &out, &error));
  EXPECT_EQ(error, "EOF");
  EXPECT_FALSE(ParseJsonDocument("[1,", &out, &error));
  EXPECT_EQ(error, "unexpected EOF");
}

TEST(Lexer, PositionsCountCharactersAndLines) {
  std::vector<Token> tokens = Tokenize("root = \"é\" # x\n  $v.a");
  ASSERT_GE(tokens.size(), 8u);
  EXPECT_EQ(tokens[0].text, "root");
  EXPECT_EQ(tokens[2].kind, Token::Kind::kString);
  EXPECT_EQ(tokens[2].column, 8);
  EXPECT_EQ(tokens[3].kind, Token::Kind::kNewline);
  EXPECT_EQ(tokens[3].column, 15);
  EXPECT_EQ(tokens[4].kind, Token::Kind::kVariable);
  EXPECT_EQ(tokens[4].line, 2);
  EXPECT_EQ(tokens[4].column, 3);
  EXPECT_EQ(tokens.back().kind, Token::Kind::kEnd);
}

TEST(Lexer, NumbersAndOperators) {
  std::vector<Token> tokens = Tokenize("1.5 >= 2 && !x");
  ASSERT_EQ(tokens.size(), 7u);
  EXPECT_EQ(tokens[0].kind, Token::Kind::kFloat);
  EXPECT_TRUE(tokens[1].Is(">="));
  EXPECT_EQ(tokens[2].kind, Token::Kind::kInteger);
  EXPECT_TRUE(tokens[3].Is("&&"));
  EXPECT_TRUE(tokens[4].Is("!"));
  EXPECT_TRUE(tokens[5].IsWord("x"));
}

}  // namespace
}  // namespace drover::bloblang
