// Validation of job specs: each invalid spec reports the exact field path, every error at once.
#include "api/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace drover {
namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;

Json BaseSpec() {
  return Json::parse(R"({
    "name": "web-logs", "type": "pipeline",
    "config": {"input": {"stdin": {}}, "output": {"stdout": {}}}
  })");
}

// Applies an RFC 7386 merge patch to the base spec (null deletes a field).
Json Patched(const char* patch) {
  Json spec = BaseSpec();
  spec.merge_patch(Json::parse(patch));
  return spec;
}

std::vector<std::string> ErrorFields(const CheckedRequest& c) {
  std::vector<std::string> out;
  for (const FieldIssue& e : c.diagnostics.errors()) out.push_back(e.field);
  return out;
}

struct InvalidCase {
  const char* name;
  const char* patch;  // merged into BaseSpec()
  const char* field;  // the exact path that must be reported
  const char* message_part;
  friend void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }
};

class InvalidSpec : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidSpec, ReportsTheExactFieldPath) {
  const InvalidCase& c = GetParam();
  CheckedRequest checked = CheckPutJobRequest(Patched(c.patch));
  EXPECT_FALSE(checked.ok()) << c.name;
  bool found = false;
  for (const FieldIssue& e : checked.diagnostics.errors()) {
    if (e.field == c.field) {
      found = true;
      EXPECT_THAT(e.message, HasSubstr(c.message_part)) << c.name;
    }
  }
  EXPECT_TRUE(found) << c.name << ": no error at " << c.field
                     << "; got: " << checked.diagnostics.Summary();
}

INSTANTIATE_TEST_SUITE_P(
    Table, InvalidSpec,
    ::testing::Values(
        InvalidCase{"MissingName", R"({"name": null})", "spec.name", "required"},
        InvalidCase{"UppercaseName", R"({"name": "Web"})", "spec.name", "lowercase"},
        InvalidCase{"NameEndsWithDash", R"({"name": "web-"})", "spec.name", "start and end"},
        InvalidCase{"NameLooksLikeJobId", R"({"name": "j-0b5d3f5e-8c1a-4f7b-9a2e-123456789abc"})",
                    "spec.name", "job id"},
        InvalidCase{"NameNotString", R"({"name": 7})", "spec.name", "expected a string"},
        InvalidCase{"NamespaceWithSlash", R"({"namespace": "a/b"})", "spec.namespace", "lowercase"},
        InvalidCase{
            "NamespaceTooLong",
            R"({"namespace": "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"})",
            "spec.namespace", "at most 63"},
        InvalidCase{"MissingType", R"({"type": null})", "spec.type", "required"},
        InvalidCase{"UnknownType", R"({"type": "batch"})", "spec.type", "must be one of pipeline"},
        InvalidCase{"UnknownTopLevelField", R"({"rollot": {}})", "spec.rollot",
                    "did you mean \"rollout\""},
        InvalidCase{"LegacyDeploymentBlock", R"({"deployment": {"min_healthy_time": "10s"}})",
                    "spec.deployment", "rollout:"},
        InvalidCase{"PriorityNotInteger", R"({"priority": 1.5})", "spec.priority",
                    "expected an integer"},
        InvalidCase{"PriorityString", R"({"priority": "high"})", "spec.priority",
                    "expected an integer"},
        InvalidCase{"PriorityOutOfRange", R"({"priority": 99999999999})", "spec.priority",
                    "out of range"},
        InvalidCase{"RestartPolicyUnknown", R"({"restart_policy": "sometimes"})",
                    "spec.restart_policy", "on-failure, always or never"},
        InvalidCase{"LabelValueNotString", R"({"labels": {"tier": 1}})", "spec.labels.tier",
                    "expected a string"},
        InvalidCase{"LabelKeyInvalid", R"({"labels": {"-bad": "x"}})", "spec.labels.-bad",
                    "invalid label key"},
        InvalidCase{
            "LabelValueTooLong",
            R"({"labels": {"a": "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}})",
            "spec.labels.a", "invalid label value"},
        InvalidCase{"LabelPrefixUppercase", R"({"labels": {"Example.com/zone": "a"}})",
                    "spec.labels[\"Example.com/zone\"]", "invalid label key"},
        InvalidCase{"DescriptionNotString", R"({"description": ["a"]})", "spec.description",
                    "expected a string"},
        InvalidCase{"ConfigNotObject", R"({"config": "input: stdin"})", "spec.config",
                    "expected an object"},
        InvalidCase{"SelectorNotObject", R"({"selector": ["a"]})", "spec.selector",
                    "expected an object"},
        InvalidCase{"SelectorUnknownField", R"({"selector": {"match_label": {}}})",
                    "spec.selector.match_label", "did you mean \"match_labels\""},
        InvalidCase{"MatchLabelsBadValue", R"({"selector": {"match_labels": {"env": "a b"}}})",
                    "spec.selector.match_labels.env", "invalid label value"},
        InvalidCase{"MatchExpressionSyntax",
                    R"({"selector": {"match_expressions": ["env in (a"]}})",
                    "spec.selector.match_expressions[0]", "char"},
        InvalidCase{"MatchExpressionEmpty", R"({"selector": {"match_expressions": ["env=a", ""]}})",
                    "spec.selector.match_expressions[1]", "empty"},
        InvalidCase{"MatchExpressionNotString", R"({"selector": {"match_expressions": [1]}})",
                    "spec.selector.match_expressions[0]", "expected a string"},
        InvalidCase{"MatchIdsInvalid", R"({"selector": {"match_ids": ["ok", "bad id"]}})",
                    "spec.selector.match_ids[1]", "invalid node id"},
        InvalidCase{"StrategyUnknown", R"({"rollout": {"strategy": "sideways"}})",
                    "spec.rollout.strategy", "immediate, rolling or canary"},
        InvalidCase{"MaxParallelAbove100EvenForImmediate", R"({"rollout": {"max_parallel": 150}})",
                    "spec.rollout.max_parallel", "between 0 and 100"},
        InvalidCase{"MaxParallelNegative", R"({"rollout": {"max_parallel": -1}})",
                    "spec.rollout.max_parallel", "between 0 and 100"},
        InvalidCase{"MaxFailedNodesNegative", R"({"rollout": {"max_failed_nodes": -2}})",
                    "spec.rollout.max_failed_nodes", "0 or more"},
        InvalidCase{"MaxFailedPercentAbove100",
                    R"({"rollout": {"max_failed_nodes_percent": 100.5}})",
                    "spec.rollout.max_failed_nodes_percent", "between 0 and 100"},
        InvalidCase{"CanaryPercentAbove100", R"({"rollout": {"canary_percent": 101}})",
                    "spec.rollout.canary_percent", "between 0 and 100"},
        InvalidCase{"CanaryCountNegative", R"({"rollout": {"canary_count": -1}})",
                    "spec.rollout.canary_count", "0 or more"},
        InvalidCase{"CanaryWithoutSize",
                    R"({"rollout": {"strategy": "canary", "health_check": {"deadline": "1m"}}})",
                    "spec.rollout.canary_count", "canary_count > 0 or canary_percent > 0"},
        InvalidCase{"RollingWithoutHealthCheck", R"({"rollout": {"strategy": "rolling"}})",
                    "spec.rollout.health_check.deadline", "required for strategy \"rolling\""},
        InvalidCase{
            "CanaryWithoutDeadline",
            R"({"rollout": {"strategy": "canary", "canary_count": 1, "health_check": {"interval": "5s"}}})",
            "spec.rollout.health_check.deadline", "required for strategy \"canary\""},
        InvalidCase{"DeadlineBadUnit",
                    R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "10x"}}})",
                    "spec.rollout.health_check.deadline", "unknown unit"},
        InvalidCase{"DeadlineNegative", R"({"rollout": {"health_check": {"deadline": "-5s"}}})",
                    "spec.rollout.health_check.deadline", "greater than 0"},
        InvalidCase{"DeadlineWrongType",
                    R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": true}}})",
                    "spec.rollout.health_check.deadline", "expected a duration"},
        InvalidCase{
            "DeadlineTooShortToEverPass",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "20s", "interval": "10s", "success_threshold": 2}}})",
            "spec.rollout.health_check.deadline",
            "must exceed interval x success_threshold (10s x 2 = 20s)"},
        InvalidCase{
            "ExplicitZeroInterval",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m", "interval": 0}}})",
            "spec.rollout.health_check.interval", "greater than 0"},
        InvalidCase{
            "SuccessThresholdZero",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m", "success_threshold": 0}}})",
            "spec.rollout.health_check.success_threshold", "1 or more"},
        InvalidCase{
            "FailureThresholdZero",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m", "failure_threshold": 0}}})",
            "spec.rollout.health_check.failure_threshold", "1 or more"},
        InvalidCase{
            "MaxErrorRateAboveOne",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m", "max_error_rate": 1.5}}})",
            "spec.rollout.health_check.max_error_rate", "between 0 and 1"},
        InvalidCase{
            "HealthCheckUnknownField",
            R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m", "min_healthy_time": "10s"}}})",
            "spec.rollout.health_check.min_healthy_time", "unknown field"},
        InvalidCase{"NoAutoRollbackNotBool", R"({"rollout": {"no_auto_rollback": "yes"}})",
                    "spec.rollout.no_auto_rollback", "true or false"},
        InvalidCase{"TimeoutNegative", R"({"timeouts": {"execution_timeout": -1}})",
                    "spec.timeouts.execution_timeout", "number of seconds"},
        InvalidCase{"TimeoutAsDurationString", R"({"timeouts": {"queue_timeout": "10s"}})",
                    "spec.timeouts.queue_timeout", "expected an integer"},
        InvalidCase{
            "TotalTimeoutTooSmallForQuery",
            R"({"type": "query", "timeouts": {"queue_timeout": 10, "execution_timeout": 20, "total_timeout": 25}})",
            "spec.timeouts.total_timeout", "10 + 20 = 30"},
        InvalidCase{"TimeoutsUnknownField", R"({"timeouts": {"run_timeout": 5}})",
                    "spec.timeouts.run_timeout", "unknown field"},
        InvalidCase{"PipelineWithoutInput", R"({"config": {"input": null}})", "spec.config.input",
                    "required"},
        InvalidCase{"PipelineWithoutOutput", R"({"config": {"output": null}})",
                    "spec.config.output", "required"},
        InvalidCase{"PipelineUnsupportedInput",
                    R"({"config": {"input": {"kafka": {}, "stdin": null}}})",
                    "spec.config.input.kafka", "unsupported input \"kafka\""},
        InvalidCase{
            "PipelineUnsupportedProcessor",
            R"({"config": {"pipeline": {"processors": [{"mapping": "root = this"}, {"jq": {}}]}}})",
            "spec.config.pipeline.processors[1].jq", "unsupported processor"},
        InvalidCase{"PipelineUnsupportedOutput",
                    R"({"config": {"output": {"kafka": {}, "stdout": null}}})",
                    "spec.config.output.kafka", "unsupported output"},
        InvalidCase{"PipelineFileInputWithoutPaths",
                    R"({"config": {"input": {"file": {}, "stdin": null}}})",
                    "spec.config.input.file.paths", "required"},
        InvalidCase{"PipelineUnknownConfigSection", R"({"config": {"buffer": {}}})",
                    "spec.config.buffer", "unknown field"},
        InvalidCase{"UpdateWithoutCommand",
                    R"({"type": "update", "config": {"input": null, "output": null}})",
                    "spec.config.command", "required"},
        InvalidCase{
            "UpdateCommandNotArgv",
            R"({"type": "update", "config": {"input": null, "output": null, "command": "reboot"}})",
            "spec.config.command", "list of strings"},
        InvalidCase{
            "ConfigFileRelativePath",
            R"({"type": "config", "config": {"input": null, "output": null, "files": [{"path": "etc/x", "content": ""}]}})",
            "spec.config.files[0].path", "absolute"},
        InvalidCase{
            "ConfigFileBadMode",
            R"({"type": "config", "config": {"input": null, "output": null, "files": [{"path": "/etc/x", "content": "", "mode": "rw-r--r--"}]}})",
            "spec.config.files[0].mode", "octal"},
        InvalidCase{
            "ConfigFileWithoutContent",
            R"({"type": "config", "config": {"input": null, "output": null, "files": [{"path": "/etc/x"}]}})",
            "spec.config.files[0].content", "required"},
        InvalidCase{
            "ConfigFileDotDot",
            R"({"type": "config", "config": {"input": null, "output": null, "files": [{"path": "/etc/../root/x", "content": ""}]}})",
            "spec.config.files[0].path", "\"..\""}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return std::string(info.param.name); });

TEST(Validation, ReportsEveryErrorAtOnce) {
  CheckedRequest c = CheckPutJobRequest(Json::parse(R"({
    "name": "Bad", "type": "batch", "priority": "x",
    "rollout": {"strategy": "sideways", "max_parallel": 150},
    "selector": {"match_expressions": ["env in (a"]}
  })"));
  std::vector<std::string> fields = ErrorFields(c);
  for (const char* f : {"spec.name", "spec.type", "spec.priority", "spec.rollout.strategy",
                        "spec.rollout.max_parallel", "spec.selector.match_expressions[0]"}) {
    EXPECT_THAT(fields, Contains(f)) << c.diagnostics.Summary();
  }
}

TEST(Validation, NameLongerThan253CharactersIsAnError) {
  Json spec = BaseSpec();
  spec["name"] = std::string(253, 'a');
  EXPECT_TRUE(CheckPutJobRequest(spec).ok());
  spec["name"] = std::string(254, 'a');
  CheckedRequest c = CheckPutJobRequest(spec);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.diagnostics.errors()[0].field, "spec.name");
  EXPECT_THAT(c.diagnostics.errors()[0].message, HasSubstr("at most 253 characters (got 254)"));
}

TEST(Validation, DoesNotReportADecodeErrorTwice) {
  CheckedRequest c = CheckPutJobRequest(
      Patched(R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "10x"}}})"));
  std::vector<std::string> fields = ErrorFields(c);
  EXPECT_EQ(std::count(fields.begin(), fields.end(), "spec.rollout.health_check.deadline"), 1);
}

TEST(Validation, ExplicitZerosOfBudgetsAndErrorRateAreKept) {
  CheckedRequest c = CheckPutJobRequest(Patched(
      R"({"rollout": {"strategy": "rolling", "max_failed_nodes": 0, "max_failed_nodes_percent": 0,
          "health_check": {"deadline": "1m", "max_error_rate": 0}}})"));
  ASSERT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_EQ(c.spec().rollout.max_failed_nodes, 0);
  EXPECT_EQ(c.spec().rollout.max_failed_nodes_percent, 0.0);
  EXPECT_EQ(c.spec().rollout.health_check->max_error_rate, 0.0);
}

TEST(Validation, AbsentBudgetsTakeTheirDefaults) {
  CheckedRequest c = CheckPutJobRequest(
      Patched(R"({"rollout": {"strategy": "rolling", "health_check": {"deadline": "1m"}}})"));
  ASSERT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_EQ(c.spec().rollout.max_failed_nodes, 10);
  EXPECT_EQ(c.spec().rollout.max_failed_nodes_percent, 10.0);
  EXPECT_EQ(c.spec().rollout.max_parallel, 10);
  const HealthCheck& h = *c.spec().rollout.health_check;
  EXPECT_EQ(h.interval, Duration::Seconds(10));
  EXPECT_EQ(h.success_threshold, 2);
  EXPECT_EQ(h.failure_threshold, 3);
  EXPECT_DOUBLE_EQ(h.max_error_rate, 0.10);
}

struct WarningCase {
  const char* name;
  const char* patch;
  const char* field;
  friend void PrintTo(const WarningCase& c, std::ostream* os) { *os << c.name; }
};

class SpecWarning : public ::testing::TestWithParam<WarningCase> {};

TEST_P(SpecWarning, IsAWarningNotAnError) {
  CheckedRequest c = CheckPutJobRequest(Patched(GetParam().patch));
  EXPECT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_THAT(c.diagnostics.warnings(), Contains(Field(&FieldIssue::field, GetParam().field)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SpecWarning,
    ::testing::Values(
        WarningCase{"ReservedMeta", R"({"meta": {"expanso.io/owner": "me", "team": "a"}})",
                    "spec.meta[\"expanso.io/owner\"]"},
        WarningCase{"MaxParallelZero", R"({"rollout": {"max_parallel": 0}})",
                    "spec.rollout.max_parallel"},
        WarningCase{"AutoPromoteWithoutCanary", R"({"rollout": {"auto_promote": true}})",
                    "spec.rollout.auto_promote"},
        WarningCase{
            "CanaryCountWithRolling",
            R"({"rollout": {"strategy": "rolling", "canary_count": 2, "health_check": {"deadline": "1m"}}})",
            "spec.rollout.canary_count"},
        WarningCase{"HealthCheckWithImmediate",
                    R"({"rollout": {"health_check": {"deadline": "1m"}}})",
                    "spec.rollout.health_check"},
        WarningCase{"TotalTimeoutOnPipeline", R"({"timeouts": {"total_timeout": 60}})",
                    "spec.timeouts.total_timeout"}),
    [](const ::testing::TestParamInfo<WarningCase>& info) { return std::string(info.param.name); });

TEST(Validation, ReservedMetaIsDroppedAndOtherMetaKept) {
  CheckedRequest c =
      CheckPutJobRequest(Patched(R"({"meta": {"expanso.io/owner": "me", "team": "a"}})"));
  EXPECT_EQ(c.spec().meta, (Labels{{"team", "a"}}));
}

TEST(Validation, MaxParallelZeroBecomesTen) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"({"rollout": {"max_parallel": 0}})"));
  EXPECT_EQ(c.spec().rollout.max_parallel, 10);
}

TEST(Normalization, SortsIdsCanonicalisesExpressionsAndFillsFileModes) {
  CheckedRequest c = CheckPutJobRequest(Json::parse(R"json({
    "name": "files", "type": "config",
    "selector": {"match_ids": ["n2", "n1", "n2"], "match_expressions": ["tier in ( b , a )", "env == prod"]},
    "config": {"files": [{"path": "/etc/a", "content": "x"}]}
  })json"));
  ASSERT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_EQ(c.spec().selector.match_ids, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(c.spec().selector.match_expressions,
            (std::vector<std::string>{"tier in (a,b)", "env=prod"}));
  EXPECT_EQ(c.spec().config["files"][0]["mode"], "0644");
}

TEST(Normalization, EmptyAndMissingMapsAreEqual) {
  CheckedRequest a = CheckPutJobRequest(BaseSpec());
  CheckedRequest b = CheckPutJobRequest(
      Patched(R"({"labels": {}, "meta": {}, "selector": {"match_labels": {}, "match_ids": []}})"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.spec(), b.spec());
}

// ---- Bloblang mappings are parsed when the job is validated (SPEC §10) ----------------------

TEST(MappingValidation, ProcessorMappingThatDoesNotParseIsAnErrorAtItsPath) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"json({"config": {"pipeline": {"processors": [
      {"mapping": "root = this\nroot.x = foo()"}]}}})json"));
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(
      c.diagnostics.errors(),
      Contains(AllOf(Field(&FieldIssue::field, "spec.config.pipeline.processors[0].mapping"),
                     Field(&FieldIssue::message, "line 2 char 10: unrecognised function 'foo'"))));
}

TEST(MappingValidation, OnlyTheBadProcessorIsReported) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"json({"config": {"pipeline": {"processors": [
      {"mapping": "root = this.a.uppercase()"},
      {"mapping": "root = this.a.shout()"}]}}})json"));
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(ErrorFields(c),
            (std::vector<std::string>{"spec.config.pipeline.processors[1].mapping"}));
  EXPECT_THAT(c.diagnostics.errors()[0].message, HasSubstr("unrecognised method 'shout'"));
}

TEST(MappingValidation, GenerateInputMappingIsParsed) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"json({"config": {"input": {"stdin": null,
      "generate": {"mapping": "root = {\"ts\": now(}", "interval": "1s"}}}})json"));
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(ErrorFields(c), (std::vector<std::string>{"spec.config.input.generate.mapping"}));
  EXPECT_THAT(c.diagnostics.errors()[0].message, ::testing::StartsWith("line 1 char "));
}

TEST(MappingValidation, QueryMappingsAreParsedToo) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"json({"type": "query", "config": {
      "pipeline": {"processors": [{"mapping": "root = match this {}"}]}}})json"));
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(ErrorFields(c), Contains("spec.config.pipeline.processors[0].mapping"));
}

TEST(MappingValidation, MappingsInTheSubsetAreValid) {
  CheckedRequest c = CheckPutJobRequest(Patched(R"json({"config": {
      "input": {"stdin": null, "generate": {
        "mapping": "root = {\"ts\": now(), \"id\": uuid_v4()}", "interval": "5s"}},
      "pipeline": {"processors": [
        {"mapping": "root = this\nroot.processed_at = now()\n"},
        {"mapping": "let n = this.n | 0\nmeta kind = \"x\"\nroot.big = if $n > 10 { true } else { deleted() }"}]}}})json"));
  EXPECT_TRUE(c.ok()) << c.diagnostics.Summary();
}

TEST(MappingValidation, EmptyMappingIsStillRequiredNotAParseError) {
  CheckedRequest c = CheckPutJobRequest(
      Patched(R"json({"config": {"pipeline": {"processors": [{"mapping": ""}]}}})json"));
  EXPECT_FALSE(c.ok());
  ASSERT_EQ(c.diagnostics.errors().size(), 1u);
  EXPECT_EQ(c.diagnostics.errors()[0].message, "must not be empty");
}

}  // namespace
}  // namespace drover

namespace drover {
namespace {

TEST(ValidationGenerate, AnEmptyIntervalMeansAsFastAsPossibleAndNonsenseIsRefused) {
  auto check = [](const Json& interval) {
    Json config = {{"input", {{"generate", {{"mapping", "root = 1"}, {"interval", interval}}}}},
                   {"output", {{"drop", Json::object()}}}};
    Diagnostics d;
    ValidateJobConfig(JobType::kPipeline, config, "spec.config", &d);
    return d;
  };
  EXPECT_TRUE(check("").ok());
  EXPECT_TRUE(check("250ms").ok());
  Diagnostics bad = check("every second");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.errors()[0].field, "spec.config.input.generate.interval");
}

}  // namespace
}  // namespace drover
