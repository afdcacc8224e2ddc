// The JSON and YAML parsers under normal and hostile input: every bad document is a clear error
// with a position, never a crash.
#include "api/document.h"

#include <gtest/gtest.h>

#include <string>

namespace drover {
namespace {

std::string ErrorOf(std::string_view json) {
  Result<Document> d = ParseJson(json);
  return d.ok() ? std::string("OK") : d.status().message();
}

std::string YamlErrorOf(std::string_view yaml) {
  Result<std::vector<Document>> d = ParseYaml(yaml);
  return d.ok() ? std::string("OK") : d.status().message();
}

TEST(ParseJson, KeepsIntegersAndSortsKeys) {
  Result<Document> d = ParseJson(
      R"({"b": 1, "a": [1.5, -9223372036854775808, 18446744073709551615, "\u00e9\ud83d\ude00", true, null]})");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->value.dump(),
            R"({"a":[1.5,-9223372036854775808,18446744073709551615,"é😀",true,null],"b":1})");
  EXPECT_TRUE(d->value["b"].is_number_integer());
}

TEST(ParseJson, RecordsPositionsOfFieldsWhenAsked) {
  Result<Document> d =
      ParseJson("{\n  \"spec\": {\n    \"name\": \"x\",\n    \"l\": [1, 2]\n  }\n}", true);
  ASSERT_TRUE(d.ok());
  SourcePosition name = d->positions.Find("spec.name");
  EXPECT_EQ(name.line, 3);
  EXPECT_EQ(name.column, 13);
  EXPECT_EQ(d->positions.Find("spec.l[1]").column, 14);
  // A missing field points at its nearest ancestor.
  EXPECT_EQ(d->positions.Find("spec.rollout.strategy").line, 2);
}

struct BadJson {
  const char* text;
  const char* error;
  friend void PrintTo(const BadJson& c, std::ostream* os) { *os << c.error; }
};

class ParseJsonRejects : public ::testing::TestWithParam<BadJson> {};

TEST_P(ParseJsonRejects, WithPositionAndReason) {
  EXPECT_EQ(ErrorOf(GetParam().text), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseJsonRejects,
    ::testing::Values(
        BadJson{"", "1:1: empty document: expected a JSON value"},
        BadJson{"{\"spec\": {\"name\": \"x\"",
                "1:22: unexpected end of input: expected ',' or '}'"},
        BadJson{"{\"a\":", "1:6: unexpected end of input: expected a value"},
        BadJson{"{\"a\":1,}", "1:8: unexpected '}': expected a field name in double quotes"},
        BadJson{"[1 2]", "1:4: unexpected '2': expected ',' or ']'"},
        BadJson{"{\"a\":1,\"a\":2}", "1:8: duplicate field \"a\""},
        BadJson{"\"\xff\"", "1:2: invalid UTF-8 (byte 0xff) inside a string"},
        BadJson{"\"\xc0\xaf\"", "1:2: invalid UTF-8 (byte 0xc0) inside a string"},
        BadJson{"\"\xed\xa0\x80\"", "1:2: invalid UTF-8 (byte 0xed) inside a string"},
        BadJson{"1e400", "1:1: number 1e400 is out of range"},
        BadJson{"-1e999", "1:1: number -1e999 is out of range"},
        BadJson{"01", "1:1: invalid number: leading zeros are not allowed"},
        BadJson{"1.", "1:1: invalid number: expected a digit after '.'"},
        BadJson{"{\n  \"x\": tru}", "2:8: unexpected 't': expected a value"},
        BadJson{"[\"\\ud800\"]", "1:3: invalid \\u escape: high surrogate without its low half"},
        BadJson{"[\"\\udc00\"]", "1:3: invalid \\u escape: lone low surrogate"},
        BadJson{"\"a\\qb\"", "1:3: invalid escape '\\q' in a string"},
        BadJson{"\"tab\there\"", "1:5: control character byte 0x09 inside a string (escape it)"},
        BadJson{"{} {}", "1:4: unexpected '{' after the end of the document"},
        BadJson{"{'a': 1}", "1:2: unexpected ''': expected a field name in double quotes"},
        BadJson{"// comment\n{}", "1:1: unexpected '/': expected a value"},
        BadJson{"NaN", "1:1: unexpected 'N': expected a value"},
        BadJson{"\"unterminated", "1:14: unexpected end of input inside a string"}));

TEST(ParseJsonHostile, TenThousandLevelsOfNestingIsAnError) {
  std::string deep(10000, '[');
  EXPECT_EQ(ErrorOf(deep), "1:101: nesting deeper than 100 levels");
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  EXPECT_NE(ErrorOf(objects).find("nesting deeper than 100 levels"), std::string::npos);
}

TEST(ParseJsonHostile, TenMegabyteStringIsAnError) {
  std::string big = "{\"description\": \"" + std::string(10 << 20, 'x') + "\"}";
  ParseLimits limits;
  limits.max_document_bytes = 64 << 20;
  Result<Document> d = ParseJson(big, false, limits);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("string longer than 1048576 bytes"), std::string::npos);
}

TEST(ParseJsonHostile, OversizedDocumentIsRefusedUpFront) {
  ParseLimits limits;
  limits.max_document_bytes = 100;
  Result<Document> d = ParseJson(std::string(200, ' '), false, limits);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "1:1: document is 200 bytes, more than the limit of 100");
}

TEST(ParseJsonHostile, EveryTruncationOfAValidDocumentFailsCleanly) {
  const std::string doc =
      R"({"spec": {"name": "log-processor", "rollout": {"max_parallel": 10, "health_check": {"deadline": "1m"}}, "l": [1, 2.5e3, true, null, "\u00e9"]}})";
  ASSERT_TRUE(ParseJson(doc).ok());
  for (size_t n = 0; n < doc.size(); ++n) {
    Result<Document> d = ParseJson(doc.substr(0, n));
    EXPECT_FALSE(d.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(d.status().message().rfind("1:", 0), 0u) << d.status().message();
  }
}

TEST(ParseJsonHostile, TooManyValuesIsAnError) {
  ParseLimits limits;
  limits.max_nodes = 1000;
  std::string many = "[";
  for (int i = 0; i < 2000; ++i) many += "1,";
  many += "1]";
  Result<Document> d = ParseJson(many, false, limits);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("more than 1000 values"), std::string::npos);
}

TEST(ParseYaml, ResolvesPlainScalarsAsYaml12CoreSchema) {
  Result<std::vector<Document>> d = ParseYaml(
      "a: 1\nb: '1'\nc: 1.5\nd: yes\ne: 0x1F\nf: ~\ng: true\nh: \"true\"\ni: 1e3\n"
      "j: v1.2.0\nk: !!str 5\nl:\nm: -7\n");
  ASSERT_TRUE(d.ok()) << d.status().message();
  const Json& v = (*d)[0].value;
  EXPECT_EQ(v["a"], 1);
  EXPECT_EQ(v["b"], "1");
  EXPECT_EQ(v["c"], 1.5);
  EXPECT_EQ(v["d"], "yes");  // YAML 1.2: not a boolean
  EXPECT_EQ(v["e"], 31);
  EXPECT_TRUE(v["f"].is_null());
  EXPECT_EQ(v["g"], true);
  EXPECT_EQ(v["h"], "true");
  EXPECT_EQ(v["i"], 1000.0);
  EXPECT_EQ(v["j"], "v1.2.0");
  EXPECT_EQ(v["k"], "5");
  EXPECT_TRUE(v["l"].is_null());
  EXPECT_EQ(v["m"], -7);
}

TEST(ParseYaml, NumbersSeveralDocumentsCountingEmptyOnes) {
  Result<std::vector<Document>> d = ParseYaml("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].index, 1);
  EXPECT_EQ((*d)[1].index, 3);
  EXPECT_EQ((*d)[1].positions.Find("b").line, 4);
}

TEST(ParseYaml, PositionsPointAtTheField) {
  Result<std::vector<Document>> d = ParseYaml("spec:\n  rollout:\n    strategy: sideways\n");
  ASSERT_TRUE(d.ok());
  SourcePosition p = (*d)[0].positions.Find("spec.rollout.strategy");
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.column, 5);
}

struct BadYaml {
  const char* text;
  const char* error;
  friend void PrintTo(const BadYaml& c, std::ostream* os) { *os << c.error; }
};

class ParseYamlRejects : public ::testing::TestWithParam<BadYaml> {};

TEST_P(ParseYamlRejects, WithPositionAndReason) {
  EXPECT_EQ(YamlErrorOf(GetParam().text), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseYamlRejects,
    ::testing::Values(
        BadYaml{"a: [1, 2\nb: 3\n", "2:2: end of sequence flow not found"},
        BadYaml{"a: 1\na: 2\n", "2:1: duplicate field \"a\""},
        BadYaml{"a: .inf\n", "1:1: \".inf\" is not a finite number (quote it to make it a string)"},
        BadYaml{"a: !!int abc\n",
                "1:1: \"abc\" is not a valid integer for tag tag:yaml.org,2002:int"},
        BadYaml{"a: !custom x\n", "1:1: unsupported tag !custom"},
        BadYaml{"? [a, b]\n: c\n", "1:3: a mapping key must be a plain string"},
        BadYaml{"a: \"\xff\xfe\"\n", "1:1: invalid UTF-8 in a string"},
        BadYaml{"a: b: c\n", "1:5: illegal map value"},
        BadYaml{"a: [1]]\n", "1:7: illegal flow end"},
        BadYaml{"a: *nope\n", "1:4: the referenced anchor is not defined"}));

TEST(ParseYaml, NulByteIsAnErrorWithItsPosition) {
  EXPECT_EQ(YamlErrorOf(std::string("a: 1\nb: x\0y\n", 12)), "2:5: NUL byte in a YAML document");
}

TEST(ParseYamlHostile, DeepFlowNestingIsAnError) {
  EXPECT_NE(YamlErrorOf(std::string(10000, '[')), "OK");
  EXPECT_NE(YamlErrorOf(std::string(100000, '{')), "OK");
  std::string block;
  for (int i = 0; i < 10000; ++i) block += std::string(i, ' ') + "a:\n";
  EXPECT_NE(YamlErrorOf(block), "OK");
}

TEST(ParseYamlHostile, AliasBombIsBoundedByNodeCount) {
  std::string bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'h'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  std::string error = YamlErrorOf(bomb);
  EXPECT_NE(error.find("aliases expanding too far"), std::string::npos) << error;
}

TEST(ParseYamlHostile, TenMegabyteStringIsAnError) {
  std::string big = "description: " + std::string(10 << 20, 'x') + "\n";
  std::string error = YamlErrorOf(big);
  EXPECT_NE(error.find("string longer than 1048576 bytes"), std::string::npos)
      << error.substr(0, 200);
}

TEST(ParseYamlHostile, EveryTruncationFailsCleanlyOrParses) {
  const std::string doc =
      "spec:\n  name: x\n  selector:\n    match_labels: {a: b, \"c\": 'd'}\n  list: [1, 2, 3]\n";
  for (size_t n = 0; n < doc.size(); ++n) {
    Result<std::vector<Document>> d = ParseYaml(doc.substr(0, n));
    if (!d.ok()) {
      EXPECT_NE(d.status().message().find(':'), std::string::npos);
    }
  }
}

TEST(RenderYaml, RoundTripsStringsThatLookLikeOtherTypes) {
  Json tricky = {{"s1", "true"},
                 {"s2", "123"},
                 {"s3", ""},
                 {"s4", " lead"},
                 {"s5", "a\nb"},
                 {"s6", "a\tb"},
                 {"s7", "x: y"},
                 {"s8", "- a"},
                 {"s9", "#c"},
                 {"f", 10.0},
                 {"g", 0.1},
                 {"n", nullptr},
                 {"arr", Json::array()},
                 {"obj", Json::object()},
                 {"u", "é"},
                 {"k", "1.5"},
                 {"l", "~"},
                 {"m", "root = this\nroot.x = 1\n"},
                 {"two", "a\n\n"},
                 {"nested", {{"list", {1, "2", {{"x", nullptr}}}}}}};
  std::string yaml = RenderYaml(tricky);
  Result<std::vector<Document>> back = ParseYaml(yaml);
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << yaml;
  EXPECT_EQ((*back)[0].value, tricky) << yaml;
  EXPECT_EQ((*back)[0].value.dump(), tricky.dump());
  EXPECT_NE(yaml.find("m: |\n  root = this\n"), std::string::npos) << "multi-line as a block\n"
                                                                   << yaml;
}

TEST(FieldPath, QuotesKeysThatAreNotIdentifiers) {
  EXPECT_EQ(FieldPathAppendKey("spec", "labels"), "spec.labels");
  EXPECT_EQ(FieldPathAppendKey("", "spec"), "spec");
  EXPECT_EQ(FieldPathAppendKey("spec.labels", "example.com/zone"),
            "spec.labels[\"example.com/zone\"]");
  EXPECT_EQ(FieldPathAppendIndex("spec.selector.match_ids", 2), "spec.selector.match_ids[2]");
  SourceMap map;
  map.Record("spec.labels[\"example.com/zone\"]", {4, 3});
  EXPECT_EQ(map.Find("spec.labels[\"example.com/zone\"]").line, 4);
}

TEST(IsValidUtf8, AcceptsWellFormedAndRejectsTheRest) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

}  // namespace
}  // namespace drover
