// Hostile and malformed input against the real `drover controller` over loopback (SPEC §12):
// every bad request gets its specific 4xx with a SPEC §12 error body, nothing is written to the
// store (the /readyz revision does not move), and the server keeps serving. Also bodies around
// --max-body-bytes, 10 MB bodies with and without Content-Length, and bytes that are not HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/api_checks.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/http_client.h"

namespace drover {
namespace {

using testing::Connection;
using testing::ControllerProcess;
using ::testing::HasSubstr;
using testing::HttpReply;
using testing::IsErrorBody;
using testing::NamesField;
using testing::StoreRevision;
using Json = nlohmann::json;

constexpr char kExistingJob[] = "existing";
constexpr char kKnownNode[] = "known-node";

// A valid bare spec: a pipeline from stdin to stdout, on every node.
Json ValidSpec(const std::string& name) {
  return {{"name", name},
          {"type", "pipeline"},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

std::string Repeat(const std::string& text, size_t times) {
  std::string out;
  out.reserve(text.size() * times);
  for (size_t i = 0; i < times; ++i) out += text;
  return out;
}

std::set<std::string> SplitAllow(const std::string& header) {
  std::set<std::string> out;
  std::stringstream in(header);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t begin = item.find_first_not_of(' ');
    size_t end = item.find_last_not_of(' ');
    if (begin != std::string::npos) out.insert(item.substr(begin, end - begin + 1));
  }
  return out;
}

// Sends `body` with `Transfer-Encoding: chunked` in chunks of `chunk_size`, then reads the
// answer. Sending stops early if the server closes the connection.
HttpReply PutChunked(int port, const std::string& path, const std::string& body,
                     size_t chunk_size) {
  Connection c(port);
  if (!c.ok()) return {};
  std::string head = "PUT " + path +
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
  if (!c.SendRaw(head)) return {};
  for (size_t at = 0; at < body.size(); at += chunk_size) {
    std::string piece = body.substr(at, chunk_size);
    std::stringstream size;
    size << std::hex << piece.size();
    if (!c.SendRaw(size.str() + "\r\n" + piece + "\r\n")) return c.ReadReply();
  }
  c.SendRaw("0\r\n\r\n");
  return c.ReadReply();
}

// One controller for a whole suite, with a job and a node to aim at.
class HostileInputBase : public ::testing::Test {
 protected:
  static void StartController(std::vector<std::string> args) {
    controller_ = std::make_unique<ControllerProcess>(std::move(args));
    if (!controller_->Start()) {
      setup_error_ = "controller did not start: " + controller_->log();
      return;
    }
    HttpReply job = controller_->Call("PUT", "/api/v1/jobs", ValidSpec(kExistingJob).dump());
    HttpReply node =
        controller_->Call("POST", "/api/v1/agent/register",
                          Json{{"node_id", kKnownNode}, {"labels", {{"role", "web"}}}}.dump());
    if (job.status != 201 || node.status != 200) {
      setup_error_ = "seeding failed: PUT " + std::to_string(job.status) + " " + job.body +
                     "; register " + std::to_string(node.status) + " " + node.body;
      return;
    }
    // The seeded job is placed on the seeded node: wait until that write is done (a second of
    // quiet, for a loaded machine) so that each case's "nothing written" is its own.
    if (testing::WaitForQuietStore(controller_->port(), std::chrono::milliseconds(1000)) < 0) {
      setup_error_ = "the store revision never settled";
    }
  }
  static void TearDownTestSuite() {
    controller_.reset();
    setup_error_.clear();
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  // Healthz answers 200 on a fresh connection.
  static void ExpectStillServing() {
    HttpReply health = controller_->Call("GET", "/healthz");
    EXPECT_EQ(health.status, 200) << "the server stopped serving; log:\n" << controller_->log();
  }

  static std::unique_ptr<ControllerProcess> controller_;
  static std::string setup_error_;
};

std::unique_ptr<ControllerProcess> HostileInputBase::controller_;
std::string HostileInputBase::setup_error_;

// ---- The table: one bad request each ------------------------------------------------------

struct HostileCase {
  std::string name;  // the test's name
  std::string method;
  std::string target;  // path and query, sent as is
  std::string body;
  int status;
  std::string code;
  std::string field = {};  // when set, an error detail must name this field path
  std::string content_type = "application/json";
  std::string allow = {};  // 405: the methods the Allow header must list, comma-separated
};

// Printed in test names (ctest lists them): ASCII only, no bodies.
std::ostream& operator<<(std::ostream& out, const HostileCase& c) {
  return out << c.method << " " << c.target.substr(0, 60) << (c.target.size() > 60 ? "..." : "");
}

HostileCase Put(std::string name, std::string body, std::string field = {}) {
  return {std::move(name), "PUT",           "/api/v1/jobs", std::move(body), 400,
          "invalid",       std::move(field)};
}

HostileCase Get(std::string name, std::string target, int status, std::string code,
                std::string field = {}) {
  return {std::move(name), "GET", std::move(target), "", status, std::move(code), std::move(field)};
}

HostileCase Post(std::string name, std::string target, std::string body, int status,
                 std::string code, std::string field = {}) {
  return {std::move(name), "POST",          std::move(target), std::move(body),
          status,          std::move(code), std::move(field)};
}

HostileCase WrongMethod(std::string name, std::string method, std::string target,
                        std::string allow) {
  return {
      std::move(name),    std::move(method), std::move(target), "", 405, "method_not_allowed", "",
      "application/json", std::move(allow)};
}

HostileCase WrongContentType(std::string name, std::string target, std::string content_type) {
  return {std::move(name), "PUT", std::move(target),      ValidSpec("typed").dump(), 415,
          "invalid",       "",    std::move(content_type)};
}

std::vector<HostileCase> HostileCases() {
  std::vector<HostileCase> cases;
  auto add = [&](HostileCase c) { cases.push_back(std::move(c)); };

  // Malformed JSON.
  add(Put("TruncatedObject", R"({"name":"a","type":"pipel)", "body"));
  add(Put("TruncatedEnvelope", R"({"dry_run":false,"spec":{)", "body"));
  add(Put("TruncatedAfterColon", R"({"name":)", "body"));
  add(Put("UnterminatedString", R"({"name":"a)", "body"));
  add(Put("TrailingComma", R"({"name":"a",})", "body"));
  add(Put("SingleQuotes", R"({'name':'a'})", "body"));
  add(Put("TrailingGarbage", R"({"name":"a"} x)", "body"));
  add(Put("DuplicateKey", R"({"name":"a","name":"b","type":"pipeline"})", "body"));
  add(Put("Comment", R"({/* hi */ "name":"a"})", "body"));
  add(Put("NotANumber", R"({"name":"a","priority":NaN})", "body"));
  add(Put("NumberBeyondDouble", R"({"name":"a","priority":1e999})", "body"));
  add(Put("WhitespaceOnlyBody", "   \n\t ", "body"));
  add(Put("EmptyBody", ""));
  // A body that is JSON but not an object.
  add(Put("ArrayBody", "[1,2,3]", ""));
  add(Put("NumberBody", "42", ""));
  add(Put("StringBody", R"("a job")", ""));
  add(Put("TrueBody", "true", ""));
  add(Put("NullBody", "null"));
  // Invalid UTF-8 and bad escapes, in values and in keys.
  add(Put("InvalidUtf8InValue", std::string(R"({"name":"a)") + "\xff" + R"(","type":"pipeline"})",
          "body"));
  add(Put("InvalidUtf8InKey", std::string(R"({"na)") + "\xfe" + R"(me":"a"})", "body"));
  add(Put("OverlongUtf8Slash", std::string(R"({"name":"a)") + "\xc0\xaf" + R"("})", "body"));
  add(Put("Utf8EncodedSurrogate", std::string(R"({"name":")") + "\xed\xa0\x80" + R"("})", "body"));
  add(Put("TruncatedUtf8Sequence", std::string(R"({"name":")") + "\xe2\x82" + R"("})", "body"));
  add(Put("InvalidUtf8InLabelKey",
          std::string(R"({"name":"a","type":"pipeline","labels":{"k)") + "\x80" + R"(":"v"}})",
          "body"));
  add(Put("LoneSurrogateEscape", R"({"name":"\ud800","type":"pipeline"})", "body"));
  add(Put("ControlCharacterInString", std::string(R"({"name":"a)") + "\x01" + R"("})", "body"));
  // 10,000 levels of nesting, bare and inside a spec.
  add(Put("TenThousandNestedArrays", Repeat("[", 10000) + Repeat("]", 10000), "body"));
  {
    Json spec = ValidSpec("deep");
    std::string text = spec.dump();
    std::string deep = Repeat(R"({"a":)", 10000) + "1" + Repeat("}", 10000);
    text.insert(text.size() - 1, R"(,"description":)" + deep);
    add(Put("TenThousandNestedObjectsInSpec", text, "body"));
  }
  // A wrong type for every top-level spec field, and for the envelope's fields.
  const std::vector<std::pair<std::string, Json>> wrong_types = {{"name", 5},
                                                                 {"namespace", Json::array()},
                                                                 {"type", 1},
                                                                 {"description", Json::object()},
                                                                 {"labels", Json::array({"a"})},
                                                                 {"meta", "x"},
                                                                 {"priority", "high"},
                                                                 {"restart_policy", 3},
                                                                 {"config", "x"},
                                                                 {"selector", Json::array()},
                                                                 {"rollout", 1},
                                                                 {"timeouts", "1s"}};
  for (const auto& [field, value] : wrong_types) {
    Json spec = ValidSpec("typed");
    spec[field] = value;
    std::string test_name = "WrongTypeFor";
    bool upper = true;
    for (char c : field) {
      if (c == '_') {
        upper = true;
        continue;
      }
      test_name += upper ? static_cast<char>(std::toupper(c)) : c;
      upper = false;
    }
    add(Put(test_name, spec.dump(), "spec." + field));
  }
  add(Put(
      "PriorityIsAFraction",
      [] {
        Json s = ValidSpec("typed");
        s["priority"] = 1.5;
        return s.dump();
      }(),
      "spec.priority"));
  add(Put(
      "PriorityOutOfRange",
      [] {
        Json s = ValidSpec("typed");
        s["priority"] = 1e23;
        return s.dump();
      }(),
      "spec.priority"));
  add(Put(
      "LabelValueNotAString",
      [] {
        Json s = ValidSpec("typed");
        s["labels"] = {{"team", 1}};
        return s.dump();
      }(),
      "spec.labels.team"));
  add(Put("DryRunNotABool", Json{{"dry_run", "yes"}, {"spec", ValidSpec("typed")}}.dump(),
          "dry_run"));
  add(Put("ForceNotABool", Json{{"force", 1}, {"spec", ValidSpec("typed")}}.dump(), "force"));
  add(Put("SpecNotAnObject", Json{{"spec", Json::array()}}.dump(), "spec"));
  // Unknown fields and the legacy deployment block.
  add(Put(
      "UnknownSpecField",
      [] {
        Json s = ValidSpec("typed");
        s["replicas"] = 3;
        return s.dump();
      }(),
      "spec.replicas"));
  add(Put(
      "UnknownRolloutField",
      [] {
        Json s = ValidSpec("typed");
        s["rollout"] = {{"strategy", "immediate"}, {"max_paralel", 10}};
        return s.dump();
      }(),
      "spec.rollout.max_paralel"));
  add(Put(
      "LegacyDeploymentBlock",
      [] {
        Json s = ValidSpec("typed");
        s["deployment"] = {{"strategy", "rolling"}, {"min_healthy_time", "10s"}};
        return s.dump();
      }(),
      "spec.deployment"));
  add(Put(
      "RolloutOutOfRange",
      [] {
        Json s = ValidSpec("typed");
        s["rollout"] = {{"max_parallel", 150}};
        return s.dump();
      }(),
      "spec.rollout.max_parallel"));
  // Traversal in names and namespaces of a body.
  add(Put(
      "TraversalInName", [] { return ValidSpec("../../etc").dump(); }(), "spec.name"));
  add(Put(
      "TraversalInNamespace",
      [] {
        Json s = ValidSpec("typed");
        s["namespace"] = "../x";
        return s.dump();
      }(),
      "spec.namespace"));
  add(Put("DiffWithTruncatedJson", R"({"name":)", "body"));
  cases.back().target = "/api/v1/jobs/diff";
  // Content types that are not JSON.
  add(WrongContentType("TextPlainBody", "/api/v1/jobs", "text/plain"));
  add(WrongContentType("FormEncodedBody", "/api/v1/jobs", "application/x-www-form-urlencoded"));
  add(WrongContentType("XmlBody", "/api/v1/jobs", "application/xml"));
  add(WrongContentType("MultipartBody", "/api/v1/jobs", "multipart/form-data; boundary=x"));
  add(WrongContentType("XmlBodyToDiff", "/api/v1/jobs/diff", "application/xml"));
  {
    HostileCase c =
        WrongContentType("TextPlainRegistration", "/api/v1/agent/register", "text/plain");
    c.method = "POST";
    c.body = Json{{"node_id", "n1"}}.dump();
    add(c);
  }

  // Traversal in ids and names of the path and query.
  add(Get("EncodedTraversalInJobName", "/api/v1/jobs/..%2F..%2Fetc", 404, "not_found"));
  add(Get("EncodedDotDotJobName", "/api/v1/jobs/%2e%2e", 404, "not_found"));
  add(Get("EncodedTraversalInNodeId", "/api/v1/nodes/..%2Fx", 404, "not_found"));
  add(Get("RawTraversalInPath", "/api/v1/jobs/../../etc/passwd", 404, "not_found"));
  add(Get("TraversalInNamespaceQuery", "/api/v1/jobs?namespace=../x", 400, "invalid", "namespace"));
  add(Get("TraversalInNamespaceOfAJob",
          std::string("/api/v1/jobs/") + kExistingJob + "?namespace=..%2Fdefault", 404,
          "not_found"));
  add(Get("EncodedTraversalInVersions", "/api/v1/jobs/..%2F..%2Fetc/versions", 404, "not_found"));
  add({"EncodedTraversalInDelete", "DELETE", "/api/v1/jobs/..%2F..%2Fetc", "", 404, "not_found"});
  add(Post("EncodedTraversalInCordon", "/api/v1/nodes/..%2F..%2Fx/cordon", "", 404, "not_found"));
  // Percent-encoding errors.
  add(Get("BadEscapeInPath", "/api/v1/jobs/%zz", 400, "invalid"));
  add(Get("TruncatedEscapeInPath", "/api/v1/jobs/abc%2", 400, "invalid"));
  add(Get("BadEscapeInNamespaceQuery", "/api/v1/jobs?namespace=%zz", 400, "invalid", "namespace"));
  add(Get("BadEscapeInLimitQuery", "/api/v1/jobs?limit=%zz", 400, "invalid", "limit"));
  // Overly long paths and query values: under the 60 KiB request-head limit they reach the
  // router; over it the server answers 431 before routing.
  add(Get("FortyKilobyteJobName", "/api/v1/jobs/" + std::string(40000, 'a'), 404, "not_found"));
  add(Get("FortyKilobyteUnknownPath", "/" + std::string(40000, 'b'), 404, "not_found"));
  add(Get("FortyKilobyteLabelSelector", "/api/v1/jobs?labels=" + std::string(40000, 'c'), 400,
          "invalid", "labels"));
  add(Get("HundredKilobyteJobName", "/api/v1/jobs/" + std::string(100000, 'a'), 431, "too_large"));
  add(Get("HundredKilobyteUnknownPath", "/" + std::string(100000, 'b'), 431, "too_large"));
  add(Get("HundredKilobyteLabelSelector", "/api/v1/jobs?labels=" + std::string(100000, 'c'), 431,
          "too_large"));
  add(Get("TenKilobyteNamespace", "/api/v1/jobs?namespace=" + std::string(10000, 'd'), 400,
          "invalid", "namespace"));
  add(Get("NamespaceOverSixtyThreeCharacters", "/api/v1/jobs?namespace=" + std::string(64, 'e'),
          400, "invalid", "namespace"));

  // Unknown routes.
  add(Get("UnknownApiVersion", "/api/v2/jobs", 404, "not_found"));
  add(Get("ApiRoot", "/api/v1", 404, "not_found"));
  add(Get("Root", "/", 404, "not_found"));
  add(Get("MisspelledCollection", "/api/v1/jobz", 404, "not_found"));
  add(Get("TooManySegments", std::string("/api/v1/jobs/") + kExistingJob + "/versions/1/extra", 404,
          "not_found"));
  add(Get("UnknownJobSubresource", std::string("/api/v1/jobs/") + kExistingJob + "/secrets", 404,
          "not_found"));
  add(Get("UnknownJob", "/api/v1/jobs/no-such-job", 404, "not_found"));
  add(Get("UnknownNode", "/api/v1/nodes/no-such-node", 404, "not_found"));
  add(Post("UnknownRolloutControl",
           std::string("/api/v1/jobs/") + kExistingJob + "/rollout/explode", "", 404, "not_found"));
  add(Post("RolloutControlOnMissingJob", "/api/v1/jobs/no-such-job/rollout/pause", "", 404,
           "not_found"));
  add(Post("RollbackOnMissingJob", "/api/v1/jobs/no-such-job/rollout/rollback",
           R"({"to_version":1})", 404, "not_found"));
  add(Post("CordonUnknownNode", "/api/v1/nodes/no-such-node/cordon", "", 404, "not_found"));
  add({"DeleteUnknownNode", "DELETE", "/api/v1/nodes/no-such-node", "", 404, "not_found"});

  // Wrong methods on known routes.
  add(WrongMethod("PostToJobs", "POST", "/api/v1/jobs", "PUT, GET"));
  add(WrongMethod("PatchAJob", "PATCH", std::string("/api/v1/jobs/") + kExistingJob,
                  "GET, DELETE"));
  add(WrongMethod("DeleteHealthz", "DELETE", "/healthz", "GET"));
  add(WrongMethod("GetAgentRegister", "GET", "/api/v1/agent/register", "POST"));
  add(WrongMethod("PutANode", "PUT", std::string("/api/v1/nodes/") + kKnownNode, "GET, DELETE"));
  add(WrongMethod("GetRolloutPause", "GET",
                  std::string("/api/v1/jobs/") + kExistingJob + "/rollout/pause", "POST"));
  add(WrongMethod("DeleteNodes", "DELETE", "/api/v1/nodes", "GET"));

  // Bad query parameters.
  add(Get("LimitNotANumber", "/api/v1/jobs?limit=abc", 400, "invalid", "limit"));
  add(Get("LimitZero", "/api/v1/jobs?limit=0", 400, "invalid", "limit"));
  add(Get("LimitNegative", "/api/v1/jobs?limit=-5", 400, "invalid", "limit"));
  add(Get("LimitTooLarge", "/api/v1/jobs?limit=99999999999999999999", 400, "invalid", "limit"));
  add(Get("GarbageNextToken", "/api/v1/jobs?next_token=garbage", 400, "invalid", "next_token"));
  add(Get("ForeignNextToken", "/api/v1/jobs?next_token=2f6e6f6465732f78", 400, "invalid",
          "next_token"));
  add(Get("UnclosedSetSelector", "/api/v1/jobs?labels=zone%20in%20(a", 400, "invalid", "labels"));
  add(Get("DoubleNegationSelector", "/api/v1/jobs?labels=!!zone", 400, "invalid", "labels"));
  add(Get("BadNodeSelector", "/api/v1/nodes?labels=role%3D%3D%3Dweb", 400, "invalid", "labels"));
  add(Get("DiffFromNotANumber",
          std::string("/api/v1/jobs/") + kExistingJob + "/versions/diff?from=x&to=1", 400,
          "invalid", "from"));
  add(Get("DiffWithoutTo", std::string("/api/v1/jobs/") + kExistingJob + "/versions/diff?from=1",
          400, "invalid", "to"));
  add(Get("DiffToMissingVersion",
          std::string("/api/v1/jobs/") + kExistingJob + "/versions/diff?from=1&to=99", 404,
          "not_found"));
  add(Get("VersionNotANumber", std::string("/api/v1/jobs/") + kExistingJob + "/versions/abc", 400,
          "invalid", "version"));
  add(Get("VersionZero", std::string("/api/v1/jobs/") + kExistingJob + "/versions/0", 400,
          "invalid", "version"));
  add(Get("ExecutionsVersionNotANumber",
          std::string("/api/v1/jobs/") + kExistingJob + "/executions?version=v2", 400, "invalid",
          "version"));
  add({"PurgeNotABool", "DELETE", std::string("/api/v1/jobs/") + kExistingJob + "?purge=maybe", "",
       400, "invalid", "purge"});
  add(Get("AssignmentsWithoutNodeId", "/api/v1/agent/assignments", 400, "invalid", "node_id"));
  add(Get("AssignmentsIndexNotANumber",
          std::string("/api/v1/agent/assignments?node_id=") + kKnownNode + "&index=abc", 400,
          "invalid", "index"));
  add(Get("AssignmentsWaitNotADuration",
          std::string("/api/v1/agent/assignments?node_id=") + kKnownNode + "&wait=forever", 400,
          "invalid", "wait"));
  add(Get("AssignmentsForUnknownNode", "/api/v1/agent/assignments?node_id=ghost&wait=0s", 404,
          "not_found"));

  // Agent registration.
  const std::string kRegister = "/api/v1/agent/register";
  add(Post("RegisterWithSpaceInNodeId", kRegister, R"({"node_id":"bad id!"})", 400, "invalid",
           "node_id"));
  add(Post("RegisterWithTraversalNodeId", kRegister, R"({"node_id":"../../etc"})", 400, "invalid",
           "node_id"));
  add(Post("RegisterWithOverlongNodeId", kRegister, Json{{"node_id", std::string(254, 'n')}}.dump(),
           400, "invalid", "node_id"));
  add(Post("RegisterWithoutNodeId", kRegister, R"({"name":"x"})", 400, "invalid", "node_id"));
  add(Post("RegisterWithNumericNodeId", kRegister, R"({"node_id":7})", 400, "invalid", "node_id"));
  add(Post("RegisterWithInvalidLabelKey", kRegister,
           Json{{"node_id", kKnownNode}, {"labels", {{"-zone", "a"}}}}.dump(), 400, "invalid",
           "labels.-zone"));
  add(Post("RegisterWithOverlongLabelValue", kRegister,
           Json{{"node_id", kKnownNode}, {"labels", {{"zone", std::string(64, 'v')}}}}.dump(), 400,
           "invalid", "labels.zone"));
  add(Post("RegisterWithLabelsAsList", kRegister,
           Json{{"node_id", kKnownNode}, {"labels", Json::array({"zone=a"})}}.dump(), 400,
           "invalid", "labels"));
  add(Post("RegisterWithNumericLabelValue", kRegister,
           Json{{"node_id", kKnownNode}, {"labels", {{"zone", 1}}}}.dump(), 400, "invalid",
           "labels.zone"));
  add(Post("RegisterWithCapacityAsString", kRegister,
           Json{{"node_id", kKnownNode}, {"capacity", "lots"}}.dump(), 400, "invalid", "capacity"));
  add(Post("RegisterWithNumericName", kRegister, Json{{"node_id", kKnownNode}, {"name", 5}}.dump(),
           400, "invalid", "name"));
  add(Post("RegisterWithUnknownField", kRegister,
           Json{{"node_id", kKnownNode}, {"hostname", "x"}}.dump(), 400, "invalid", "hostname"));
  add(Post("RegisterWithOverlongAgentVersion", kRegister,
           Json{{"node_id", kKnownNode}, {"agent_version", std::string(300, '1')}}.dump(), 400,
           "invalid", "agent_version"));
  add(Post("RegisterWithArrayBody", kRegister, R"(["known-node"])", 400, "invalid"));
  add(Post("RegisterWithoutBody", kRegister, "", 400, "invalid"));

  // Heartbeats.
  const std::string kHeartbeat = "/api/v1/agent/heartbeat";
  add(Post("HeartbeatForUnknownNode", kHeartbeat,
           R"({"node_id":"never-registered","executions":[]})", 404, "not_found"));
  add(Post("HeartbeatExecutionsNotAList", kHeartbeat,
           Json{{"node_id", kKnownNode}, {"executions", "running"}}.dump(), 400, "invalid",
           "executions"));
  add(Post("HeartbeatExecutionNotAnObject", kHeartbeat,
           Json{{"node_id", kKnownNode}, {"executions", Json::array({5})}}.dump(), 400, "invalid",
           "executions[0]"));
  add(Post("HeartbeatWithoutNodeId", kHeartbeat, R"({"executions":[]})", 400, "invalid",
           "node_id"));
  add(Post("HeartbeatWithUnknownField", kHeartbeat,
           Json{{"node_id", kKnownNode}, {"cpu", 99}}.dump(), 400, "invalid", "cpu"));

  // Rollout control bodies.
  const std::string kRollout = std::string("/api/v1/jobs/") + kExistingJob + "/rollout/";
  add(Post("RollbackToVersionNotANumber", kRollout + "rollback", R"({"to_version":"x"})", 400,
           "invalid", "to_version"));
  add(Post("RollbackToVersionZero", kRollout + "rollback", R"({"to_version":0})", 400, "invalid",
           "to_version"));
  add(Post("RollbackToVersionFraction", kRollout + "rollback", R"({"to_version":1.5})", 400,
           "invalid", "to_version"));
  add(Post("PauseWithToVersion", kRollout + "pause", R"({"to_version":1})", 400, "invalid",
           "to_version"));
  add(Post("RollbackWithUnknownField", kRollout + "rollback", R"({"version":1})", 400, "invalid",
           "version"));
  add(Post("RollbackWithArrayBody", kRollout + "rollback", "[1]", 400, "invalid"));
  add(Post("RollbackWithTruncatedBody", kRollout + "rollback", R"({"to_version":)", 400, "invalid",
           "body"));
  add(Post("RollbackToMissingVersion", kRollout + "rollback", R"({"to_version":99})", 404,
           "not_found"));
  return cases;
}

class HostileInputTable : public HostileInputBase,
                          public ::testing::WithParamInterface<HostileCase> {
 protected:
  static void SetUpTestSuite() { StartController({"--heartbeat-interval", "60s"}); }
};

TEST_P(HostileInputTable, GetsItsSpecific4xxWritesNothingAndKeepsServing) {
  const HostileCase& c = GetParam();
  const int64_t before = StoreRevision(*controller_);
  ASSERT_GE(before, 0);
  std::map<std::string, std::string> headers;
  if (!c.body.empty()) headers["Content-Type"] = c.content_type;
  HttpReply reply = controller_->Call(c.method, c.target, c.body, headers);

  EXPECT_EQ(reply.status, c.status) << reply.body.substr(0, 400);
  EXPECT_TRUE(IsErrorBody(reply, c.code));
  if (!c.field.empty()) {
    EXPECT_TRUE(NamesField(reply, c.field));
  }
  if (c.status == 405) {
    ASSERT_TRUE(reply.headers.count("allow")) << "405 without an Allow header";
    EXPECT_EQ(SplitAllow(reply.headers["allow"]), SplitAllow(c.allow));
  }
  EXPECT_EQ(StoreRevision(*controller_), before) << "a refused request wrote to the store";
  ExpectStillServing();
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileInputTable, ::testing::ValuesIn(HostileCases()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) {
                           return info.param.name;
                         });

// ---- Whole bodies, raw bytes and slow clients ------------------------------------------------

class HostileInput : public HostileInputBase {
 protected:
  static void SetUpTestSuite() { StartController({"--heartbeat-interval", "60s"}); }
};

TEST_F(HostileInput, TenMegabyteBodyWithContentLengthIs413) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply = controller_->Call("PUT", "/api/v1/jobs", std::string(10 << 20, ' '));
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  ExpectStillServing();
}

TEST_F(HostileInput, TenMegabyteChunkedBodyWithoutContentLengthIs413) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply =
      PutChunked(controller_->port(), "/api/v1/jobs", std::string(10 << 20, ' '), 64 << 10);
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  ExpectStillServing();
}

// A Content-Length over the limit is known from the headers: the server must not buffer the
// body (a client could otherwise make it hold gigabytes) before refusing it.
TEST_F(HostileInput, OversizedContentLengthIsRefusedBeforeTheBodyArrives) {
  Connection c(controller_->port(), std::chrono::seconds(5));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.SendRaw("PUT /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 10737418240\r\n\r\n{\"name\":"));
  HttpReply reply = c.ReadReply();
  EXPECT_EQ(reply.status, 413) << "no answer within 5 s while the rest of a 10 GiB body is "
                                  "pending: the server waits to read it all";
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  ExpectStillServing();
}

TEST_F(HostileInput, DeclaredLengthLongerThanTheBodySentIsNotServedAsTruncatedJson) {
  const int64_t before = StoreRevision(*controller_);
  {
    Connection c(controller_->port(), std::chrono::milliseconds(500));
    ASSERT_TRUE(c.ok());
    std::string body = ValidSpec("short-body").dump();
    ASSERT_TRUE(
        c.SendRaw("PUT /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size() + 100) + "\r\n\r\n" + body));
    HttpReply reply = c.ReadReply();
    EXPECT_NE(reply.status / 100, 2) << "a body shorter than its Content-Length was accepted";
  }  // the client gives up and closes; the server must not act on the partial body
  EXPECT_EQ(testing::WaitForQuietStore(controller_->port()), before);
  ExpectStillServing();
}

// Builds a string from a literal that holds NUL bytes.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

TEST_F(HostileInput, BytesThatAreNotHttpLeaveTheServerServing) {
  struct Garbage {
    std::string what;
    std::string bytes;
    bool well_formed;  // a valid request after all: any answer but a 5xx will do
  };
  const std::vector<Garbage> garbage = {
      {"text", "garbage garbage garbage\r\n\r\n", false},
      {"binary", Repeat(Bytes("\x00\x01\x02\xff\xfe\x80"), 200), false},
      {"tls client hello",
       Bytes("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03") + std::string(160, '\0'), false},
      {"request line without a path", "GET HTTP/1.1\r\nHost: x\r\n\r\n", false},
      {"request line with an empty path", "GET  HTTP/1.1\r\nHost: x\r\n\r\n", false},
      {"method only", "GET\r\n\r\n", false},
      {"unknown protocol", "GET /healthz SPDY/9\r\n\r\n", false},
      {"header without a colon", "GET /healthz HTTP/1.1\r\nHost x\r\nNoColon\r\n\r\n", false},
      {"content length not a number",
       "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}", false},
      {"negative content length",
       "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", false},
      {"content length beyond 64 bits",
       "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
       false},
      {"bad chunk size",
       "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"
       "0\r\n\r\n",
       false},
      {"nul in the path", Bytes("GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n"), false},
      {"hundred kilobyte header",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'h') + "\r\n\r\n", true},
      {"ten thousand headers",
       "GET /healthz HTTP/1.1\r\nHost: x\r\n" + Repeat("X-A: b\r\n", 10000) + "\r\n", true},
  };
  const int64_t before = StoreRevision(*controller_);
  for (const Garbage& g : garbage) {
    SCOPED_TRACE(g.what);
    Connection c(controller_->port(), std::chrono::seconds(2));
    ASSERT_TRUE(c.ok());
    c.SendRaw(g.bytes);
    HttpReply reply = c.ReadReply();  // an answer, a close or a time-out
    if (reply.status != 0) {
      EXPECT_LT(reply.status, 500) << reply.body;
      if (!g.well_formed) {
        EXPECT_GE(reply.status, 400) << reply.body;
      }
    }
    ExpectStillServing();
  }
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(HostileInput, StalledClientsDoNotBlockOthers) {
  std::vector<std::unique_ptr<Connection>> stalled;
  for (int i = 0; i < 64; ++i) {
    auto c = std::make_unique<Connection>(controller_->port());
    ASSERT_TRUE(c->ok());
    // Half a request line, or headers promising a body that never comes.
    ASSERT_TRUE(c->SendRaw(i % 2 == 0 ? "PUT /api/v1/jo"
                                      : "PUT /api/v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                        "Content-Length: 100\r\n\r\n{"));
    stalled.push_back(std::move(c));
  }
  Connection probe(controller_->port(), std::chrono::seconds(5));
  ASSERT_TRUE(probe.ok());
  HttpReply health = probe.Request("GET", "/healthz");
  EXPECT_EQ(health.status, 200) << "64 stalled connections starved the server";
}

TEST_F(HostileInput, ManyBadRequestsInARowOnOneConnectionKeepItUsable) {
  const int64_t before = StoreRevision(*controller_);
  Connection c(controller_->port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 50; ++i) {
    HttpReply bad = c.Request("PUT", "/api/v1/jobs", R"({"name":)");
    ASSERT_EQ(bad.status, 400) << "request " << i;
  }
  EXPECT_EQ(c.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(HostileInput, ContentTypeIsMatchedCaseInsensitively) {
  // RFC 9110 §8.3.1: type and subtype are case-insensitive.
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply = controller_->Call("PUT", "/api/v1/jobs",
                                      Json{{"dry_run", true}, {"spec", ValidSpec("cased")}}.dump(),
                                      {{"Content-Type", "Application/JSON; charset=UTF-8"}});
  EXPECT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  EXPECT_EQ(StoreRevision(*controller_), before);
}

// ---- Around --max-body-bytes -------------------------------------------------------------------

constexpr size_t kSmallLimit = 4096;

class HostileInputSmallLimit : public HostileInputBase {
 protected:
  static void SetUpTestSuite() {
    StartController({"--heartbeat-interval", "60s", "--max-body-bytes", "4096"});
  }

  // A dry-run PutJobRequest padded with trailing spaces to exactly `size` bytes.
  static std::string DryRunOfSize(size_t size) {
    std::string body = Json{{"dry_run", true}, {"spec", ValidSpec("padded")}}.dump();
    if (body.size() < size) body.append(size - body.size(), ' ');
    return body;
  }
};

TEST_F(HostileInputSmallLimit, BodyOfExactlyTheLimitIsServed) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply = controller_->Call("PUT", "/api/v1/jobs", DryRunOfSize(kSmallLimit));
  EXPECT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  EXPECT_EQ(reply.Json().value("dry_run", false), true);
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(HostileInputSmallLimit, BodyOneByteOverTheLimitIs413) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply = controller_->Call("PUT", "/api/v1/jobs", DryRunOfSize(kSmallLimit + 1));
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_THAT(reply.Json()["error"].value("message", ""), HasSubstr("4096"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  ExpectStillServing();
}

TEST_F(HostileInputSmallLimit, OverTheLimitIs413EvenWhenTheBodyIsNotJson) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply = controller_->Call("PUT", "/api/v1/jobs", std::string(kSmallLimit + 1, '{'));
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(HostileInputSmallLimit, ChunkedBodyOfExactlyTheLimitIsServed) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply =
      PutChunked(controller_->port(), "/api/v1/jobs", DryRunOfSize(kSmallLimit), 1000);
  EXPECT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  EXPECT_EQ(StoreRevision(*controller_), before);
}

TEST_F(HostileInputSmallLimit, ChunkedBodyOneByteOverTheLimitIs413) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply =
      PutChunked(controller_->port(), "/api/v1/jobs", DryRunOfSize(kSmallLimit + 1), 1000);
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  ExpectStillServing();
}

TEST_F(HostileInputSmallLimit, OversizedRegistrationIs413) {
  const int64_t before = StoreRevision(*controller_);
  HttpReply reply =
      controller_->Call("POST", "/api/v1/agent/register",
                        Json{{"node_id", "big"}, {"name", std::string(kSmallLimit, 'n')}}.dump());
  EXPECT_EQ(reply.status, 413);
  EXPECT_TRUE(IsErrorBody(reply, "too_large"));
  EXPECT_EQ(StoreRevision(*controller_), before);
  EXPECT_EQ(controller_->Call("GET", "/api/v1/nodes/big").status, 404);
}

}  // namespace
}  // namespace drover
