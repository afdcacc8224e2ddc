// The fast path of `root = this` mappings (FastPlan in bloblang/ast.h, bloblang/json_rewrite.h)
// against the general path: for every mapping the fast path accepts and for many thousands of
// inputs, hand-picked and random (canonical and not, nested, unicode, escapes, numbers of every
// kind, repeated keys, invalid JSON, empty), Apply and ApplyInPlace must give exactly what the
// general path gives: the same outcome, bytes, metadata and error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bloblang/bloblang.h"
#include "bloblang/builtins.h"
#include "bloblang/internals.h"
#include "tests/bloblang/fake_environment.h"

namespace drover::bloblang {
namespace {

using fakes::FakeEnvironment;

// Mappings with a fast path.
const char* const kFastMappings[] = {
    "root = this\nroot.processed_at = now()",
    "root = this",
    "root = this\nroot.a = 1\nroot.zz = \"x\"\nroot.m = null\nroot.t = true",
    "root = this\nroot.host = hostname()\nroot.region = env(\"REGION\")\nroot.none = env(\"NOPE\")",
    "root = this\nroot.path = meta(\"path\")\nroot.missing = meta(\"nope\")\nroot.all = meta()",
    "root = this\nroot.id = uuid_v4()\nroot.ts = timestamp_unix()",
    "root = this\nroot.a = deleted()\nroot.b = deleted()",
    "root = this\nroot.a = 1\nroot.a = deleted()\nroot.b = 2\nroot.b = 3",
    "root = this\nroot.a = deleted()\nroot.a = now()",
    "root = this\nroot.region = env(\"NOPE\") | \"unknown\"\nroot.h = hostname().uppercase()",
    "root = this\nroot.obj = {\"z\": 1, \"a\": [1.5, \"<&>\"]}\nroot.f = 2.50\nroot.e = 1000000.5",
    "root = this\nroot.\"a\\\"b\" = 1\nroot.\"é\" = 2\nroot.\"<&>\" = 3\nroot.\"\" = 4",
    "root = this\nroot.x = if false { 1 }\nroot.y = if true { 2 }",
    "root = this\nroot.nan = \"nan\".number()",
    "root = this\nroot.bad = \"nope\".number()",
    "root = this\nroot.c = content()",
    "root = this\nroot.msg = \"a\\u2028b\\n\"",
    "root = this\nroot.ts = now()\nroot.level = \"info\"\nroot.id = 7",
};

// Mappings without one.
const char* const kGeneralMappings[] = {
    "root = this\nroot.a = this.b",
    "root = this\nroot.a = root.b",
    "root = this\nlet x = 1\nroot.a = $x",
    "root = this\nmeta foo = \"x\"",
    "root = this.a\nroot.b = 1",
    "root = this\nroot.a.b = 1",
    "root.a = 1\nroot = this",
    "root.processed_at = now()",
    "root = this\nroot = this",
    "root = this\nroot.a = this",
    "root = this\nroot.a = 1\nroot.b = this.a",
};

MappingResult ApplyGeneral(const Mapping& m, const Message& in, const Environment& env) {
  return MappingInternals::ApplyGeneral(m, in, env);
}

// Applies `mapping` to `content` through every entry point and checks them against the general
// path. Returns whether Apply took the fast path.
bool ExpectSameAsGeneral(const Mapping& mapping, const std::string& mapping_text,
                         const std::string& content) {
  static const FakeEnvironment kEnvironment;
  Message input{content, {{"path", "/var/log/app.log"}, {"empty", ""}}};
  MappingResult want = ApplyGeneral(mapping, input, kEnvironment);
  MappingResult got = mapping.Apply(input, kEnvironment);
  bool fast = MappingInternals::TakesFastPath(mapping, input, kEnvironment);
  std::string where = "mapping " + testing::PrintToString(mapping_text) + "\ninput " +
                      testing::PrintToString(content) + (fast ? " (fast path)" : "");
  EXPECT_EQ(got.outcome, want.outcome) << where;
  EXPECT_EQ(got.message.content, want.message.content) << where;
  EXPECT_EQ(got.message.metadata, want.message.metadata) << where;
  EXPECT_EQ(got.error, want.error) << where;

  Message in_place = input;
  in_place.content.reserve(3);  // whatever capacity it has
  std::string error = "untouched";
  Outcome outcome = mapping.ApplyInPlace(in_place, kEnvironment, &error);
  EXPECT_EQ(outcome, want.outcome) << where;
  if (want.outcome == Outcome::kMessage) {
    EXPECT_EQ(in_place.content, want.message.content) << where;
    EXPECT_EQ(in_place.metadata, want.message.metadata) << where;
    EXPECT_EQ(error, "untouched") << where;
  } else {
    EXPECT_EQ(in_place.content, input.content) << where;  // left as it was
    EXPECT_EQ(in_place.metadata, input.metadata) << where;
    EXPECT_EQ(error, want.outcome == Outcome::kError ? want.error : "untouched") << where;
  }
  return fast;
}

// ---- hand-picked inputs ---------------------------------------------------------------------

std::string Nested(int levels, const std::string& open, const std::string& close,
                   const std::string& inner) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += open;
  s += inner;
  for (int i = 0; i < levels; ++i) s += close;
  return s;
}

std::vector<std::string> HandPickedInputs() {
  std::vector<std::string> inputs = {
      // canonical
      R"({})",
      R"({"a":1})",
      R"({"a":1,"b":"x","c":[1,2,{"d":null}],"e":{"f":true,"g":false}})",
      R"({"host":"edge-1","id":7,"latency_ms":12,"level":"info","msg":"served","ts":"2024-05-01T12:00:10.123Z"})",
      // unsorted, repeated keys, whitespace
      R"({"ts":"2024","level":"info","host":"edge-1","msg":"served","latency_ms":12,"id":7})",
      R"({"b":1,"a":2})",
      R"({"a":1,"a":2})",
      R"({"a":{"x":1},"a":3})",
      R"({"a":3,"a":{"y":[1,{"b":1,"a":2}]}})",
      R"({"b":1,"a":2,"b":3,"a":4,"c":5})",
      R"({"a":{"b":1,"a":2},"c":[{"z":1,"y":2}]})",
      R"( { "a" : 1 , "b" : [ 1 , 2 ] , "c" : { } , "d" : [ ] } )",
      "{\"a\":1}\n",
      "\t\r\n{\"a\":1}\t\r\n ",
      R"({"a":[ ],"b":{ },"c":[1 ,2]})",
      R"({"c":1,"b":{"y":1,"x":2},"a":[3]})",
      // the keys the mappings assign, already there
      R"({"processed_at":"old","a":{"nested":1},"z":1})",
      R"({"a":"x","b":"y","zz":[1],"m":5,"t":false,"host":"h","region":"r","none":1})",
      R"({"path":1,"missing":2,"all":3,"id":4,"ts":5,"obj":6,"f":7,"e":8,"":9,"é":10})",
      R"({"a\"b":0,"<&>":1,"x":2,"y":3,"c":4,"msg":5,"level":6,"nan":7,"bad":8})",
      // strings
      R"({"s":"plain ascii with spaces ~!@#$%^&*()_+{}|:<>?"})",
      R"({"s":"quote \" backslash \\ newline \n tab \t cr \r bs \b ff \f"})",
      R"({"s":"slash \/ escaped"})",
      R"({"s":"\u0041\u00e9\u00E9\u4e2d"})",
      R"({"s":"\u0000\u0001\u001f\u001F\u0008\u0009\u000a\u000c\u000d\u007f"})",
      R"({"s":"\u2028\u2029\u2027"})",
      "{\"s\":\"raw \xE2\x80\xA8 and \xE2\x80\xA9\"}",
      "{\"s\":\"caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80\"}",
      "{\"s\":\"del \x7F\"}",
      R"({"s":"\ud83d\ude00 pair, \ud83d lone high, \ude00 lone low, \ud83d\u0041"})",
      R"({"s":"\uD83D\uDE00"})",
      "{\"s\":\"invalid \xFF \xC3 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 bytes\"}",
      "{\"s\":\"truncated \xE4\xB8\"}",
      R"({"s":"<html> & </html>"})",
      R"({"s":""})",
      // keys
      R"({"\u0041":1,"B":2,"a":3})",
      R"({"B":2,"\u0041":1})",
      R"({"a\nb":1,"a":2,"a\u000ab":3})",
      R"({"\/":1,"/":2})",
      "{\"\xC3\xA9\":1,\"e\":2,\"\xFF\":3,\"z\":4}",
      "{\"\xE2\x80\xA8\":1,\"a\":2}",
      R"({"":1,"a":2,"":3})",
      R"({"abcdefgh1":1,"abcdefgh":2,"abcdefgh0":3,"abcdefg":4})",
      R"({"abcdefghij":1,"abcdefghi":2,"abcdefghik":3})",
      // numbers
      R"({"n":0,"m":-1,"p":123456789012345678,"q":-123456789012345678})",
      R"({"n":-0})",
      R"({"n":-0.0,"m":0.0,"p":0e0,"q":-0e5})",
      R"({"n":1.0,"m":1.50,"p":1e2,"q":1E+2,"r":1e-2,"s":2.5e-3})",
      R"({"n":0.000001,"m":0.0000001,"p":1e-7,"q":123456789e-15})",
      R"({"n":1e20,"m":1e21,"p":1.5e21,"q":123456789012345678901})",
      R"({"n":1234567890123456789,"m":-1234567890123456789})",
      R"({"n":9223372036854775807,"m":-9223372036854775808})",
      R"({"n":9223372036854775808,"m":-9223372036854775809})",
      R"({"n":18446744073709551615,"m":18446744073709551616})",
      R"({"n":100000000000000000000000000000})",
      R"({"n":5e-324,"m":2.2250738585072014e-308,"p":1.7976931348623157e308})",
      R"({"n":1e400})",
      R"({"n":-1e400})",
      R"({"n":1e-400})",
      R"({"n":0.1,"m":0.2,"p":0.30000000000000004,"q":3.14159265358979323846})",
      R"({"n":[1,-2,3.5,4e1,-5E-1,0,-0]})",
      // literals
      R"({"t":true,"f":false,"n":null})",
      // top level not an object
      R"([1,2,3])",
      R"("a string")",
      R"(42)",
      R"(null)",
      R"(true)",
      // invalid
      "",
      " ",
      "not json",
      "{",
      "}",
      R"({"a")",
      R"({"a":)",
      R"({"a":1)",
      R"({"a":1,})",
      R"({"a":1,,"b":2})",
      R"({"a" 1})",
      R"({a:1})",
      R"({'a':1})",
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":.5})",
      R"({"a":1e})",
      R"({"a":1e+})",
      R"({"a":-})",
      R"({"a":+1})",
      R"({"a":tru})",
      R"({"a":truex})",
      R"({"a":nul})",
      R"({"a":"\x"})",
      R"({"a":"\u12"})",
      R"({"a":"\u12G4"})",
      "{\"a\":\"raw\ttab\"}",
      "{\"a\":\"raw\nnewline\"}",
      R"({"a":"unterminated)",
      R"({"a":[1,2})",
      R"({"a":[1,2,]})",
      R"({"a":1}{"b":2})",
      R"({"a":1} x)",
      R"({"a":1} {)",
      R"({"a":1}])",
      "\xEF\xBB\xBF{\"a\":1}",
      std::string("{\"a\":1}\0", 8),
      std::string("{\"a\":\"nul\0byte\"}", 16),
  };
  // Nesting around the fast path's own limit (64) and the decoder's (1000).
  for (int levels : {1, 2, 62, 63, 64, 65, 200, 999, 1000, 1001}) {
    inputs.push_back("{\"a\":" + Nested(levels - 1, "[", "]", "1") + "}");
    inputs.push_back(Nested(levels, "{\"k\":", "}", "{}").substr(5));  // starts with {
    inputs.push_back("{\"b\":1,\"a\":" + Nested(levels - 1, "{\"y\":2,\"x\":", "}", "3") + "}");
  }
  return inputs;
}

TEST(FastPath, PlannedOnlyForRootThisFollowedByFieldsThatReadOnlyTheWorld) {
  for (const char* text : kFastMappings) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok()) << text << ": " << m.status().ToString();
    EXPECT_TRUE(MappingInternals::HasFastPath(*m)) << text;
  }
  for (const char* text : kGeneralMappings) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok()) << text << ": " << m.status().ToString();
    EXPECT_FALSE(MappingInternals::HasFastPath(*m)) << text;
  }
}

TEST(FastPath, HandPickedInputsGiveTheGeneralPathsBytes) {
  std::vector<std::string> inputs = HandPickedInputs();
  for (const char* text : kFastMappings) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok());
    int fast = 0;
    for (const std::string& input : inputs) fast += ExpectSameAsGeneral(*m, text, input) ? 1 : 0;
    // Mappings whose fields fail or write a NaN never take it; all others take it often.
    std::string t = text;
    if (t.find(".number()") == std::string::npos) {
      EXPECT_GT(fast, 60) << text;
    }
  }
}

TEST(FastPath, MappingsWithoutOneStillWork) {
  for (const char* text : kGeneralMappings) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok());
    for (const std::string& input : HandPickedInputs()) {
      EXPECT_FALSE(ExpectSameAsGeneral(*m, text, input));
    }
  }
}

TEST(FastPath, TakenForCommonLogLines) {
  Result<Mapping> m = Mapping::Parse(kFastMappings[0]);
  ASSERT_TRUE(m.ok());
  FakeEnvironment env;
  for (const char* line : {
           R"({"host":"edge-1","id":7,"level":"info","msg":"served"})",
           R"({"msg":"served","level":"info","id":7,"host":"edge-1"})",
           R"({ "msg": "caf\u00e9", "n": 1.5, "tags": ["a", "b"] })",
           R"({"a":1,"a":2})",
       }) {
    EXPECT_TRUE(MappingInternals::TakesFastPath(*m, Message{line, {}}, env)) << line;
  }
  // A number beyond a double is refused when written: the general path then fails it.
  EXPECT_FALSE(MappingInternals::TakesFastPath(*m, Message{R"({"n":1e400})", {}}, env));
  MappingResult r = m->Apply(Message{R"({"msg":"served","level":"info","id":7})", {}}, env);
  EXPECT_EQ(
      r.message.content,
      R"({"id":7,"level":"info","msg":"served","processed_at":"2026-12-04T21:52:48.123456789Z"})");
}

// Strings of every length up to 40 with one byte that needs a closer look (or none) at every
// position, as keys and values, last in the text or not: the scanner reads 16 bytes at a time
// and the text's last 16 bytes specially.
TEST(FastPath, EveryStringLengthAndPositionGivesTheGeneralPathsBytes) {
  Result<Mapping> m = Mapping::Parse(kFastMappings[0]);
  ASSERT_TRUE(m.ok());
  const char* const kSpecials[] = {"",     "\\\"", "\\n", "\\u00e9", "\xC3\xA9",
                                   "\xFF", "\t",   "\"",  "\\",      "\xE2\x80\xA8"};
  for (size_t length = 0; length <= 40; ++length) {
    for (size_t at = 0; at <= length; ++at) {
      for (const char* special : kSpecials) {
        std::string text(length, 'x');
        text.insert(at, special);
        for (const std::string& input : {"{\"k\":\"" + text + "\"}", "{\"" + text + "\":1}",
                                         "{\"a\":\"" + text + "\",\"b\":2}",
                                         "{\"z\":[\"" + text + "\"],\"" + text + "\":0} "}) {
          ExpectSameAsGeneral(*m, kFastMappings[0], input);
        }
        if (testing::Test::HasFailure()) return;
      }
    }
  }
}

// Lines of one shape one after the other, as a log source writes them: the rewriter reuses the
// output layout of the previous line when the keys come in the same order. Values, spacing and
// the mapping (its edits) vary from line to line, so that the reuse is both right and refused.
TEST(FastPath, LinesOfOneShapeGiveTheGeneralPathsBytes) {
  const char* const kMappings[] = {
      kFastMappings[0],
      "root = this\nroot.processed_at = now()\nroot.host = hostname()",
      "root = this\nroot.level = deleted()\nroot.zz = 1",
      "root = this\nroot.x = if false { 1 }",
      // removed on some lines and set on others
      "root = this\nroot.e = if content().length() % 2 == 0 { deleted() } else { \"odd\" }",
  };
  std::vector<Mapping> mappings;
  for (const char* text : kMappings) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok());
    mappings.push_back(*m);
  }
  const std::vector<std::vector<std::string>> kShapes = {
      {"ts", "level", "host", "msg", "latency_ms", "id"},
      {"host", "id", "latency_ms", "level", "msg", "ts"},
      {"request_method", "request_path", "a", "request_id"},  // prefixes shared past 8 bytes
      {"b", "a", "b"},                                        // a repeated key
      {"zz", "processed_at", "a"},                            // keys the mappings set
      {"processed_a", "id"},  // the prefix of processed_at, and below or above it, by turns
  };
  const char* const kValues[] = {"1",    "\"x\"",       "\"edge-7\"",        "1.5",
                                 "-0",   "\"\\u00e9\"", "{\"b\":1,\"a\":2}", "[1, 2]",
                                 "null", "true"};
  std::mt19937 random(11);
  for (int i = 0; i < 4000; ++i) {
    std::vector<std::string> shape = kShapes[(i / 50) % kShapes.size()];
    if (shape[0] == "processed_a" && i % 2 == 1) shape[0] = "processed_z";
    std::string line = "{";
    for (size_t k = 0; k < shape.size(); ++k) {
      if (k > 0) line += random() % 10 == 0 ? ", " : ",";
      line += "\"" + shape[k] + "\"" + (random() % 20 == 0 ? " : " : ":");
      line += random() % 4 == 0 ? kValues[random() % 10] : std::to_string(random() % 100000);
    }
    line += "}";
    size_t which = random() % 8 == 0 ? random() % mappings.size() : (i / 200) % mappings.size();
    ExpectSameAsGeneral(mappings[which], kMappings[which], line);
    if (testing::Test::HasFailure()) return;
  }
}

// Each line's keys are first compared with the previous line's (by words of 8 bytes): keys of
// every length up to 34 bytes, then the same key with one byte changed at every place (or a
// space, a colon, a quote or a backslash put there), or longer or shorter by one, or followed by
// a space; each line after the one it is compared with.
TEST(FastPath, KeysComparedWithThePreviousLinesGiveTheGeneralPathsBytes) {
  Result<Mapping> m = Mapping::Parse(kFastMappings[0]);
  ASSERT_TRUE(m.ok());
  auto line = [](const std::string& first, const std::string& second) {
    return "{\"" + first + "\":1,\"" + second + "\":\"v\",\"zz\":[1]}";
  };
  for (size_t length = 0; length <= 34; ++length) {
    std::string key;
    for (size_t k = 0; k < length; ++k) key.push_back(static_cast<char>('a' + k % 26));
    std::vector<std::string> variants = {key + "x", key + " ",
                                         key.substr(0, length ? length - 1 : 0)};
    for (size_t at = 0; at < length; ++at) {
      for (char c : {'A', ' ', ':', '"', '\\'}) {
        std::string changed = key;
        changed[at] = c;
        variants.push_back(changed);
      }
    }
    for (const std::string& variant : variants) {
      ExpectSameAsGeneral(*m, kFastMappings[0], line(key, "k" + key));
      ExpectSameAsGeneral(*m, kFastMappings[0], line(variant, "k" + key));
      ExpectSameAsGeneral(*m, kFastMappings[0], line(key, "k" + variant));
      ExpectSameAsGeneral(*m, kFastMappings[0], line(key, "k" + key) + " ");
      // the key last, close to the end of the text
      ExpectSameAsGeneral(*m, kFastMappings[0], "{\"" + key + "\":1}");
      ExpectSameAsGeneral(*m, kFastMappings[0], "{\"" + variant + "\":1}");
      ExpectSameAsGeneral(*m, kFastMappings[0], "{\"" + key + "\" : 1}");
      if (testing::Test::HasFailure()) return;
    }
  }
}

// Numbers of every length from 1 to 24 digits (integers, negative, with a fraction or an
// exponent, broken), at every distance from the end of the text: digits are read 8 at a time,
// the text's last 8 bytes specially.
TEST(FastPath, NumbersOfEveryLengthNearTheEndGiveTheGeneralPathsBytes) {
  Result<Mapping> m = Mapping::Parse(kFastMappings[0]);
  ASSERT_TRUE(m.ok());
  for (size_t digits = 1; digits <= 24; ++digits) {
    std::string n;
    for (size_t k = 0; k < digits; ++k) n.push_back(static_cast<char>('1' + k % 9));
    for (const std::string& number :
         {n, "-" + n, "0" + n, n + ".5", n + "e2", "-" + n + "E-1", n + ".", n + "x", n + "-"}) {
      for (const char* tail : {"}", "} ", "}  \n", ",\"b\":2}", "]}", "}\t\t\t\t\t\t\t"}) {
        ExpectSameAsGeneral(*m, kFastMappings[0], "{\"a\":" + number + tail);
        ExpectSameAsGeneral(*m, kFastMappings[0], "{\"a\":[" + number + tail);
        ExpectSameAsGeneral(*m, kFastMappings[0], "{\"a\":" + number + " " + tail);
        if (testing::Test::HasFailure()) return;
      }
    }
  }
}

// A large object (its buffers grow past what the rewriter keeps between messages), then small
// ones.
TEST(FastPath, ALargeObjectThenSmallOnesGiveTheGeneralPathsBytes) {
  Result<Mapping> m = Mapping::Parse(kFastMappings[0]);
  ASSERT_TRUE(m.ok());
  std::string large = "{";
  for (int i = 80000; i > 0; --i) {
    large += "\"k" + std::to_string(i) + "\":[" + std::to_string(i) + "],";
  }
  large += "\"\\u00e9\":1}";
  EXPECT_TRUE(ExpectSameAsGeneral(*m, kFastMappings[0], large));
  EXPECT_TRUE(ExpectSameAsGeneral(*m, kFastMappings[0], R"({"b":1,"a":2})"));
  EXPECT_TRUE(ExpectSameAsGeneral(*m, kFastMappings[0], R"({"b":1,"a":2})"));
}

// ---- random inputs ---------------------------------------------------------------------------

// Random JSON text: values of every kind, written canonically or not (unsorted and repeated keys,
// whitespace, escapes where none is needed, non-shortest numbers), then sometimes broken.
class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : random_(seed) {}

  std::string Document() {
    std::string out;
    Space(&out);
    if (Chance(95)) {
      Object(0, &out);
    } else {
      Value(0, &out);
    }
    Space(&out);
    if (Chance(10)) Break(&out);
    return out;
  }

 private:
  bool Chance(int percent) { return static_cast<int>(random_() % 100) < percent; }
  size_t Pick(size_t n) { return random_() % n; }

  void Space(std::string* out) {
    if (!Chance(15)) return;
    static const char* kSpaces[] = {" ", "\n", "\t", "\r\n", "  "};
    out->append(kSpaces[Pick(5)]);
  }

  void Value(int depth, std::string* out) {
    int kind = static_cast<int>(Pick(depth > 4 ? 4 : 6));
    switch (kind) {
      case 0:
        String(false, out);
        break;
      case 1:
        Number(out);
        break;
      case 2: {
        static const char* kLiterals[] = {"true", "false", "null"};
        out->append(kLiterals[Pick(3)]);
        break;
      }
      case 3:
        String(false, out);
        break;
      case 4:
        Object(depth + 1, out);
        break;
      default:
        Array(depth + 1, out);
        break;
    }
  }

  void Object(int depth, std::string* out) { Container(depth, true, out); }
  void Array(int depth, std::string* out) { Container(depth, false, out); }

  void Container(int depth, bool object, std::string* out) {
    out->push_back(object ? '{' : '[');
    Space(out);
    size_t n = Pick(depth == 0 && object ? 9 : 5);
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) {
        out->push_back(',');
        Space(out);
      }
      if (object) {
        String(true, out);
        Space(out);
        out->push_back(':');
        Space(out);
      }
      Value(depth, out);
      Space(out);
    }
    out->push_back(object ? '}' : ']');
  }

  void String(bool key, std::string* out) {
    // Keys come from a small set (so that they repeat and collide with the mappings' keys) and
    // are usually plain; values are anything.
    static const char* kKeys[] = {"a",    "b", "c",        "processed_at", "ts",        "id", "zz",
                                  "host", "é", "abcdefgh", "abc",          "abcdefghi", "",   "<&>",
                                  "A",    "m", "t",        "path"};
    out->push_back('"');
    if (key && Chance(80)) {
      out->append(kKeys[Pick(sizeof(kKeys) / sizeof(kKeys[0]))]);
      if (Chance(10)) Piece(out);
    } else {
      size_t n = Pick(key ? 3 : 8);
      for (size_t i = 0; i < n; ++i) Piece(out);
    }
    out->push_back('"');
  }

  // One piece of a string's text.
  void Piece(std::string* out) {
    static const char* kPieces[] = {
        "a",
        "Z",
        " ",
        "~",
        "\x7f",
        "<",
        ">",
        "&",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b",
        "\\f",
        "\\n",
        "\\r",
        "\\t",
        "\\u0000",
        "\\u001f",
        "\\u001F",
        "\\u0008",
        "\\u000a",
        "\\u0041",
        "\\u00e9",
        "\\u00E9",
        "\\u2028",
        "\\u2029",
        "\\ud83d\\ude00",
        "\\ud83d",
        "\\ude00",
        "\\uffff",
        "\xC3\xA9",
        "\xE4\xB8\xAD",
        "\xF0\x9F\x98\x80",
        "\xE2\x80\xA8",
        "\xE2\x80\xA9",
        "\xFF",
        "\xC3",
        "\xC0\xAF",
        "\xED\xA0\x80",
        "\xEF\xBF\xBD",
        "\xF4\x8F\xBF\xBF",
        "hello",
        "edge-42",
        "2024-05-01T12:00:10.123Z",
    };
    out->append(kPieces[Pick(sizeof(kPieces) / sizeof(kPieces[0]))]);
  }

  void Number(std::string* out) {
    static const char* kNumbers[] = {
        "0",
        "-0",
        "1",
        "-1",
        "42",
        "123456789012345678",
        "-123456789012345678",
        "1234567890123456789",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1.5",
        "1.50",
        "-0.0",
        "0.1",
        "1e2",
        "1E+2",
        "1e-7",
        "1e21",
        "1e20",
        "0.000001",
        "5e-324",
        "1.7976931348623157e308",
        "1e400",
        "2.5E-3",
        "100.0",
    };
    if (Chance(50)) {
      out->append(std::to_string(static_cast<int64_t>(random_()) - (1LL << 31)));
    } else {
      out->append(kNumbers[Pick(sizeof(kNumbers) / sizeof(kNumbers[0]))]);
    }
  }

  // Breaks the text somewhere: a byte changed, removed, inserted, or the text cut.
  void Break(std::string* out) {
    if (out->empty()) return;
    size_t at = Pick(out->size());
    static const char kBytes[] = "{}[]:,\"\\ x0-.e\n\x01\xFF";
    switch (Pick(4)) {
      case 0:
        (*out)[at] = kBytes[Pick(sizeof(kBytes) - 1)];
        break;
      case 1:
        out->erase(at, 1);
        break;
      case 2:
        out->insert(at, 1, kBytes[Pick(sizeof(kBytes) - 1)]);
        break;
      default:
        out->resize(at);
        break;
    }
  }

  std::mt19937 random_;
};

TEST(FastPath, RandomInputsGiveTheGeneralPathsBytes) {
  // Fewer inputs for the slower mappings; the seed mapping and plain `root = this` get most.
  const std::pair<const char*, int> kRuns[] = {
      {kFastMappings[0], 6000},  {kFastMappings[1], 6000},  {kFastMappings[2], 1500},
      {kFastMappings[3], 1000},  {kFastMappings[4], 1000},  {kFastMappings[5], 1000},
      {kFastMappings[6], 1000},  {kFastMappings[7], 1000},  {kFastMappings[8], 1000},
      {kFastMappings[9], 1000},  {kFastMappings[10], 1000}, {kFastMappings[11], 1500},
      {kFastMappings[12], 1000}, {kFastMappings[13], 300},  {kFastMappings[14], 300},
      {kFastMappings[15], 300},  {kFastMappings[16], 1000}, {kFastMappings[17], 1000},
  };
  uint32_t seed = 1;
  for (const auto& [text, count] : kRuns) {
    Result<Mapping> m = Mapping::Parse(text);
    ASSERT_TRUE(m.ok());
    RandomJson random(seed++);
    int fast = 0;
    for (int i = 0; i < count; ++i) {
      fast += ExpectSameAsGeneral(*m, text, random.Document()) ? 1 : 0;
      if (testing::Test::HasFailure()) return;  // one failure tells enough
    }
    std::string t = text;
    if (t.find(".number()") == std::string::npos) {
      EXPECT_GT(fast, count / 3) << text << ": the random inputs should exercise the fast path";
    }
  }
}

// ---- now() ----------------------------------------------------------------------------------

// RFC 3339 with trimmed nanoseconds through the C library, as an independent reference.
std::string ReferenceRfc3339Nano(int64_t nanos) {
  int64_t seconds = nanos / 1000000000;
  int64_t fraction = nanos % 1000000000;
  if (fraction < 0) {
    fraction += 1000000000;
    --seconds;
  }
  time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (fraction != 0) {
    char digits[16];
    snprintf(digits, sizeof(digits), ".%09lld", static_cast<long long>(fraction));
    std::string f = digits;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

TEST(FastPath, NowFormattingWithTheCachedSecondMatchesTheCalendar) {
  std::mt19937_64 random(3);
  // Within one second, across neighbouring ones, and far apart, so that the per-second cache is
  // both hit and replaced.
  std::vector<int64_t> times = {0,
                                1,
                                999999999,
                                1000000000,
                                1796421168123456789,
                                1796421168000000000,
                                1796421168100000000,
                                1796421169000000001,
                                1796421168999999999,
                                951782400000000000,  // 2000-02-29
                                4102444799999999999,
                                -1,
                                -1000000000,
                                -999999999};
  for (int i = 0; i < 2000; ++i) {
    int64_t base = static_cast<int64_t>(random() % 4102444800ULL) * 1000000000;
    times.push_back(base + static_cast<int64_t>(random() % 1000000000));
    times.push_back(base + static_cast<int64_t>(random() % 1000000000));
  }
  for (int64_t t : times) EXPECT_EQ(FormatRfc3339Nano(t), ReferenceRfc3339Nano(t)) << t;
}

}  // namespace
}  // namespace drover::bloblang
