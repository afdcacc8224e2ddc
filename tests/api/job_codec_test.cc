// The job codec: the seed's example as written, defaults, both duration forms, and the
// JSON -> model -> YAML -> model -> JSON round trip.
#include "api/job_codec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "api/document.h"
#include "api/spec_diff.h"
#include "api/validation.h"

namespace drover {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The example request of the seed API document, taken from the file itself.
Json SeedRequest() {
  std::string seed = ReadFile(std::string(DROVER_SHARED_DIR) + "/seed/000_55c649b16cc764b8.txt");
  size_t start = seed.find("\n{\n");
  EXPECT_NE(start, std::string::npos) << "seed example not found";
  Result<Document> d = ParseJson(seed.substr(start + 1));
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() ? d->value : Json();
}

TEST(SeedExample, ValidatesAsAPutJobRequest) {
  CheckedRequest c = CheckPutJobRequest(SeedRequest());
  ASSERT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_TRUE(c.decoded.envelope);
  EXPECT_TRUE(c.decoded.request.dry_run);
  EXPECT_TRUE(c.decoded.request.force);
  EXPECT_TRUE(c.diagnostics.warnings().empty());
  const JobSpec& s = c.spec();
  EXPECT_EQ(s.name, "log-processor");
  EXPECT_EQ(s.namespace_, "production");
  EXPECT_EQ(s.type, JobType::kPipeline);
  EXPECT_EQ(s.priority, 50);
  EXPECT_EQ(s.selector.match_labels, (Labels{{"env", "production"}, {"role", "app-server"}}));
  EXPECT_EQ(s.config["pipeline"]["processors"][0]["mapping"],
            "root = this\nroot.processed_at = now()\n");
  // Defaults filled.
  EXPECT_EQ(s.restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(s.rollout.strategy, RolloutStrategy::kImmediate);
  EXPECT_EQ(s.rollout.max_parallel, 10);
}

TEST(SeedExample, ValidatesAsABareSpec) {
  CheckedRequest c = CheckPutJobRequest(SeedRequest()["spec"]);
  ASSERT_TRUE(c.ok()) << c.diagnostics.Summary();
  EXPECT_FALSE(c.decoded.envelope);
  EXPECT_FALSE(c.decoded.request.dry_run);
  EXPECT_FALSE(c.decoded.request.force);
  EXPECT_EQ(c.spec(), CheckPutJobRequest(SeedRequest()).spec());
}

TEST(SeedExample, RoundTripsJsonModelYamlModelJson) {
  CheckedRequest first = CheckPutJobRequest(SeedRequest());
  ASSERT_TRUE(first.ok());
  std::string json1 = EncodeJobSpec(first.spec()).dump();

  std::string yaml = RenderYaml(EncodeJobSpec(first.spec(), DurationStyle::kText));
  Result<std::vector<Document>> docs = ParseYaml(yaml);
  ASSERT_TRUE(docs.ok()) << docs.status().message() << "\n" << yaml;
  CheckedRequest second = CheckPutJobRequest((*docs)[0].value);
  ASSERT_TRUE(second.ok()) << second.diagnostics.Summary() << "\n" << yaml;
  EXPECT_EQ(second.spec(), first.spec());
  EXPECT_EQ(EncodeJobSpec(second.spec()).dump(), json1);
}

TEST(SeedExample, ExampleManifestsMatchTheSeed) {
  CheckedRequest seed = CheckPutJobRequest(SeedRequest());
  for (const char* file : {"examples/seed-log-processor.yaml", "seed/seed-log-processor.json",
                           "seed/seed-log-processor.request.json"}) {
    std::string text = ReadFile(std::string(DROVER_SOURCE_DIR) + "/manifests/" + file);
    Result<std::vector<Document>> docs = ParseYaml(text);  // YAML reads JSON too
    ASSERT_TRUE(docs.ok()) << file << ": " << docs.status().message();
    CheckedRequest c = CheckPutJobRequest((*docs)[0].value);
    ASSERT_TRUE(c.ok()) << file << ": " << c.diagnostics.Summary();
    EXPECT_EQ(c.spec(), seed.spec()) << file << "\n" << SpecDiff(&seed.spec(), c.spec());
  }
}

TEST(Durations, AcceptIntegerNanosecondsAndStrings) {
  auto deadline_of = [](const char* value) {
    Json spec = Json::parse(
        R"({"name": "a", "type": "update", "config": {"command": ["true"]},
            "rollout": {"strategy": "rolling", "health_check": {"deadline": 0}}})");
    spec["rollout"]["health_check"]["deadline"] = Json::parse(value);
    CheckedRequest c = CheckPutJobRequest(spec);
    EXPECT_TRUE(c.ok()) << value << ": " << c.diagnostics.Summary();
    return c.spec().rollout.health_check->deadline;
  };
  EXPECT_EQ(deadline_of("60000000000"), Duration::Minutes(1));
  EXPECT_EQ(deadline_of("\"1m\""), Duration::Minutes(1));
  EXPECT_EQ(deadline_of("\"1m30s\""), Duration::Seconds(90));
  EXPECT_EQ(deadline_of("60000000000.0"), Duration::Minutes(1));
}

TEST(Durations, AreWrittenAsNanosecondsInJsonAndTextInYaml) {
  JobSpec spec;
  spec.name = "a";
  spec.rollout.strategy = RolloutStrategy::kRolling;
  spec.rollout.health_check = HealthCheck{Duration::Minutes(2)};
  Json json = EncodeJobSpec(spec);
  EXPECT_EQ(json["rollout"]["health_check"]["deadline"], 120'000'000'000);
  EXPECT_EQ(json["rollout"]["health_check"]["interval"], 10'000'000'000);
  Json text = EncodeJobSpec(spec, DurationStyle::kText);
  EXPECT_EQ(text["rollout"]["health_check"]["deadline"], "2m0s");
  EXPECT_EQ(text["rollout"]["health_check"]["interval"], "10s");
}

TEST(Encode, WritesEveryFieldWithDefaults) {
  JobSpec spec;
  spec.name = "a";
  Json j = EncodeJobSpec(spec);
  EXPECT_EQ(j["namespace"], "default");
  EXPECT_EQ(j["priority"], 50);
  EXPECT_EQ(j["restart_policy"], "on-failure");
  EXPECT_EQ(j["rollout"]["strategy"], "immediate");
  EXPECT_EQ(j["rollout"]["max_failed_nodes"], 10);
  EXPECT_EQ(j["rollout"]["max_failed_nodes_percent"], 10.0);
  EXPECT_TRUE(j["labels"].is_object());
  EXPECT_TRUE(j["selector"]["match_labels"].is_object());
  EXPECT_TRUE(j["selector"]["match_ids"].is_array());
  EXPECT_FALSE(j["rollout"].contains("health_check"));
  EXPECT_EQ(j["timeouts"]["total_timeout"], 0);
}

TEST(DecodePutJobRequest, RejectsUnknownEnvelopeFieldsAndNonObjects) {
  Diagnostics d;
  DecodePutJobRequest(Json::parse(R"({"spec": {"name": "a", "type": "query"}, "dryrun": true})"),
                      &d);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.errors()[0].field, "dryrun");
  EXPECT_NE(d.errors()[0].message.find("did you mean \"dry_run\""), std::string::npos);

  Diagnostics d2;
  DecodePutJobRequest(Json::parse("[1, 2]"), &d2);
  ASSERT_FALSE(d2.ok());
  EXPECT_EQ(d2.errors()[0].field, "");
  EXPECT_NE(d2.errors()[0].message.find("got a list"), std::string::npos);

  Diagnostics d3;
  DecodePutJobRequest(Json::parse(R"({"spec": "log-processor"})"), &d3);
  ASSERT_FALSE(d3.ok());
  EXPECT_EQ(d3.errors()[0].field, "spec");

  Diagnostics d4;
  DecodePutJobRequest(Json::parse(R"({"spec": {"name": "a", "type": "query"}, "force": "yes"})"),
                      &d4);
  ASSERT_FALSE(d4.ok());
  EXPECT_EQ(d4.errors()[0].field, "force");
}

TEST(DecodePutJobRequest, WrongTypesAnywhereNeverThrow) {
  // Every field of the seed replaced in turn by values of every other type.
  Json seed = SeedRequest();
  const Json replacements[] = {
      Json(nullptr),           Json(true), Json(-1), Json(1e300), Json("x"), Json::array({1}),
      Json::object({{"k", 1}})};
  std::vector<std::vector<std::string>> paths;
  std::function<void(const Json&, std::vector<std::string>)> walk =
      [&](const Json& v, std::vector<std::string> p) {
        if (!p.empty()) paths.push_back(p);
        if (v.is_object()) {
          for (auto it = v.begin(); it != v.end(); ++it) {
            auto q = p;
            q.push_back(it.key());
            walk(it.value(), q);
          }
        }
      };
  walk(seed, {});
  ASSERT_GT(paths.size(), 15u);
  int checked = 0;
  for (const auto& path : paths) {
    if (path.size() >= 2 && path[1] == "config") continue;  // free-form per type
    std::string field;
    for (const std::string& k : path) field = FieldPathAppendKey(field, k);
    for (const Json& r : replacements) {
      Json mutated = seed;
      Json* at = &mutated;
      for (const std::string& k : path) at = &(*at)[k];
      const Json original = *at;
      *at = r;
      CheckedRequest c = CheckPutJobRequest(mutated);  // must not throw or crash
      if (r.is_null() || r.type() == original.type()) continue;
      ++checked;
      bool reported = false;
      for (const FieldIssue& e : c.diagnostics.errors()) {
        reported = reported || e.field.rfind(field, 0) == 0;
      }
      EXPECT_TRUE(reported) << field << " = " << r.dump() << ": " << c.diagnostics.Summary();
    }
  }
  EXPECT_GT(checked, 60);
}

TEST(SpecDiff, EmptyWhenEqualAndShowsChangedLines) {
  CheckedRequest a = CheckPutJobRequest(SeedRequest());
  JobSpec b = a.spec();
  EXPECT_EQ(SpecDiff(&a.spec(), b), "");
  b.priority = 90;
  std::string diff = SpecDiff(&a.spec(), b, "v1", "v2");
  EXPECT_NE(diff.find("--- v1\n+++ v2\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("-priority: 50\n+priority: 90\n"), std::string::npos) << diff;
}

TEST(SpecDiff, IgnoresReservedMeta) {
  CheckedRequest a = CheckPutJobRequest(SeedRequest());
  JobSpec b = a.spec();
  b.meta["expanso.io/applied-by"] = "manifests/";
  EXPECT_EQ(SpecDiff(&a.spec(), b), "");
  b.meta["team"] = "logs";
  EXPECT_NE(SpecDiff(&a.spec(), b), "");
}

TEST(SpecDiff, NewJobShowsEveryLineAdded) {
  CheckedRequest a = CheckPutJobRequest(SeedRequest());
  std::string diff = SpecDiff(nullptr, a.spec());
  EXPECT_NE(diff.find("+name: log-processor\n"), std::string::npos) << diff;
  EXPECT_EQ(diff.find("\n-"), std::string::npos) << diff;
}

}  // namespace
}  // namespace drover
