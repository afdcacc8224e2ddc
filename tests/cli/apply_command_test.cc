// `drover apply` and `drover diff` as a user runs them: the real binary on manifest folders,
// files and stdin against a real controller (no mocks), checked through the controller's API;
// and the pure decisions of cli/apply_plan.h by tables.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/apply_plan.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using testing::ControllerProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using testing::RunCommand;

// --- the pure decisions -------------------------------------------------------------------------

TEST(AppliedSetName, IsThePathsBaseNameReducedToALabelValue) {
  struct Case {
    std::string path;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"-", "stdin"},
      {"/srv/prod-jobs", "prod-jobs"},
      {"/srv/prod-jobs/", "prod-jobs"},
      {"/srv/prod-jobs/.", "prod-jobs"},
      {"/srv/prod-jobs/sub/..", "prod-jobs"},
      {"/srv/Edge Fleet/web.yaml", "web"},
      {"/srv/jobs/Web_Pipeline.YML", "web_pipeline"},
      {"/srv/jobs/web.pipeline.json", "web.pipeline"},
      {"/srv/jobs.d", "jobs.d"},
      {"/srv/My Jobs!!", "my-jobs"},
      {"/srv/--a--b--", "a-b"},
      {"/srv/.hidden", "hidden"},
      {"/", "manifests"},
      {"/srv/___", "manifests"},
      {"/srv/" + std::string(70, 'x') + "-tail", std::string(63, 'x')},
      {"/srv/" + std::string(62, 'x') + "-y", std::string(62, 'x')},  // no '-' left at the end
  };
  for (const Case& c : cases) EXPECT_EQ(cli::AppliedSetName(c.path), c.want) << c.path;
}

TEST(ApplyOutcome, FollowsThePutStatusAndTheDryRunAnswer) {
  using cli::ApplyOutcome;
  const Json unchanged = {{"error", {{"code", "unchanged"}}}};
  EXPECT_EQ(cli::OutcomeOfPut(201, Json()), ApplyOutcome::kCreated);
  EXPECT_EQ(cli::OutcomeOfPut(200, Json()), ApplyOutcome::kConfigured);
  EXPECT_EQ(cli::OutcomeOfPut(422, unchanged), ApplyOutcome::kUnchanged);
  EXPECT_EQ(cli::OutcomeOfPut(422, {{"error", {{"code", 5}}}}), ApplyOutcome::kFailed);
  EXPECT_EQ(cli::OutcomeOfPut(400, Json()), ApplyOutcome::kInvalid);
  EXPECT_EQ(cli::OutcomeOfPut(409, Json()), ApplyOutcome::kFailed);
  EXPECT_EQ(cli::OutcomeOfPut(0, Json()), ApplyOutcome::kFailed);

  EXPECT_EQ(cli::OutcomeOfDryRun({{"changed", true}, {"version", 1}}, false),
            ApplyOutcome::kCreated);
  EXPECT_EQ(cli::OutcomeOfDryRun({{"changed", true}, {"version", 4}}, false),
            ApplyOutcome::kConfigured);
  EXPECT_EQ(cli::OutcomeOfDryRun({{"changed", false}, {"version", 4}}, false),
            ApplyOutcome::kUnchanged);
  // a stopped job with the same spec starts again: apply says configured
  EXPECT_EQ(cli::OutcomeOfDryRun({{"changed", false}, {"version", 4}}, true),
            ApplyOutcome::kConfigured);
  EXPECT_EQ(cli::OutcomeOfDryRun("not an answer", false), ApplyOutcome::kFailed);
}

Json ListedJob(const std::string& ns, const std::string& name, const std::string& set,
               const std::string& state = "running") {
  Json meta = Json::object();
  if (!set.empty()) meta["expanso.io/applied-set"] = set;
  return {{"spec", {{"namespace", ns}, {"name", name}, {"meta", meta}}},
          {"status", {{"state", state}}}};
}

TEST(PruneCandidates, AreRunningJobsOfTheSetThatTheDocumentsNoLongerHold) {
  const Json items = {ListedJob("default", "kept", "prod"),
                      ListedJob("default", "removed", "prod"),
                      ListedJob("default", "other-set", "staging"),
                      ListedJob("default", "no-set", ""),
                      ListedJob("default", "stopped-already", "prod", "stopped"),
                      ListedJob("edge", "removed-too", "prod", "rollout_failed"),
                      "garbage",
                      {{"spec", {{"name", "no-namespace"}, {"meta", {{"x", "y"}}}}}}};
  EXPECT_THAT(cli::PruneCandidates(items, "prod", {"default/kept"}),
              ElementsAre("default/removed", "edge/removed-too"));
  EXPECT_THAT(cli::PruneCandidates(items, "", {}), ElementsAre());
  EXPECT_THAT(cli::PruneCandidates(Json::object(), "prod", {}), ElementsAre());
}

TEST(FormatWavePlan, ShowsCountsCanariesAndWavesCompactly) {
  EXPECT_EQ(cli::FormatWavePlan({{"target_nodes", Json::array()}}), "plan: no target nodes\n");
  EXPECT_EQ(cli::FormatWavePlan(Json()), "plan: no target nodes\n");
  Json plan = {{"target_nodes", {"n1", "n2", "n3", "n4", "n5"}},
               {"canary", {"n1"}},
               {"waves", Json::array({Json::array({"n2", "n3"}), Json::array({"n4", "n5"})})}};
  EXPECT_EQ(cli::FormatWavePlan(plan, "  "),
            "  plan: 5 target nodes, 1 canary, 2 waves\n"
            "    canary: n1\n"
            "    wave 1/2 (2): n2, n3\n"
            "    wave 2/2 (2): n4, n5\n");
  Json big = {{"target_nodes", {"a", "b", "c", "d"}},
              {"waves", Json::array({Json::array({"a", "b", "c", "d"})})}};
  EXPECT_EQ(cli::FormatWavePlan(big, "", 2),
            "plan: 4 target nodes, 1 wave\n"
            "  wave 1/1 (4): a, b ... (2 more)\n");
}

TEST(LabelDiff, NamesTheJobInBothHeaderLines) {
  EXPECT_EQ(cli::LabelDiff("--- v1\n+++ proposed\n@@ -1 +1 @@\n-a\n+b\n", "default/web"),
            "--- default/web\tv1\n+++ default/web\tproposed\n@@ -1 +1 @@\n-a\n+b\n");
  EXPECT_EQ(cli::LabelDiff("", "default/web"), "");
  EXPECT_EQ(cli::LabelDiff("no headers\n", "default/web"), "no headers\n");
}

// --- the binary against a real controller -------------------------------------------------------

// A pipeline on the nodes labelled role=web; `extra` adds top-level YAML lines.
std::string PipelineYaml(const std::string& name, const std::string& extra = "",
                         const std::string& ns = "default") {
  return "name: " + name + "\nnamespace: " + ns +
         "\ntype: pipeline\n"
         "selector: {match_labels: {role: web}}\n"
         "config: {input: {stdin: {}}, output: {stdout: {}}}\n" +
         extra;
}

constexpr const char* kCanaryRollout =
    "rollout:\n"
    "  strategy: canary\n"
    "  canary_count: 1\n"
    "  max_parallel: 50\n"
    "  health_check: {deadline: 5m}\n";

class ApplyCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(controller_.Start()) << controller_.log();
    dir_ = testing::MakeTempDir("drover-apply");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // The binary, with the environment cleared of anything that could pick another controller.
  ProcessResult Drover(const std::string& args, const std::string& stdin_text = "",
                       const std::string& server = "") const {
    return RunCommand(
        "env DROVER_CONFIG=/nonexistent/drover.yaml DROVER_PROFILE= DROVER_TOKEN= DROVER_ADDR=" +
            (server.empty() ? controller_.url() : server) + " " + DROVER_BINARY + " " + args,
        stdin_text);
  }

  Json Job(const std::string& name, const std::string& ns = "default") const {
    return controller_.Call("GET", "/api/v1/jobs/" + name + "?namespace=" + ns).Json()["job"];
  }
  int Version(const std::string& name, const std::string& ns = "default") const {
    Json job = Job(name, ns);
    return job.is_object() ? job["status"]["version"].get<int>() : -1;
  }
  std::string State(const std::string& name, const std::string& ns = "default") const {
    Json job = Job(name, ns);
    return job.is_object() ? job["status"]["state"].get<std::string>() : "(none)";
  }
  std::string AppliedSet(const std::string& name, const std::string& ns = "default") const {
    return Job(name, ns)["spec"]["meta"].value("expanso.io/applied-set", "(none)");
  }
  void RegisterNode(const std::string& id, const std::string& role) {
    controller_.Call("POST", "/api/v1/agent/register",
                     Json{{"node_id", id}, {"labels", {{"role", role}}}}.dump());
  }

  // A folder "Fleet-Jobs" (applied set "fleet-jobs"): two files, one with two documents, one
  // in another namespace, one JSON file.
  std::string WriteFleet() {
    Write("Fleet-Jobs/web.yaml", PipelineYaml("web-a") + "---\n" + PipelineYaml("web-b"));
    Write("Fleet-Jobs/edge/collector.yml", PipelineYaml("collector", "", "edge"));
    Write("Fleet-Jobs/zz-query.json",
          R"({"name": "disk", "type": "query", "config": {"input": {"stdin": {}},)"
          R"( "output": {"stdout": {}}}})");
    return Path("Fleet-Jobs");
  }

  // Registered nodes stay connected (three intervals) however slow the machine.
  ControllerProcess controller_{{"--heartbeat-interval", "30s"}};
  std::filesystem::path dir_;
};

TEST_F(ApplyCommand, AppliesAFolderThenAgainReportsEverythingUnchanged) {
  std::string folder = WriteFleet();
  ProcessResult first = Drover("apply -f " + folder);
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  // one line per document, in path order (edge/ sorts before web.yaml)
  EXPECT_EQ(first.out,
            "edge/collector created\n"
            "default/web-a created\n"
            "default/web-b created\n"
            "default/disk created\n");
  for (const auto& [ns, name] :
       std::vector<std::pair<std::string, std::string>>{{"edge", "collector"},
                                                        {"default", "web-a"},
                                                        {"default", "web-b"},
                                                        {"default", "disk"}}) {
    EXPECT_EQ(Version(name, ns), 1) << name;
    EXPECT_EQ(AppliedSet(name, ns), "fleet-jobs") << name;
  }

  ProcessResult again = Drover("apply -f " + folder + "/");
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out,
            "edge/collector unchanged\n"
            "default/web-a unchanged\n"
            "default/web-b unchanged\n"
            "default/disk unchanged\n");
  EXPECT_EQ(Version("web-a"), 1);

  // --force rolls the unchanged jobs out again
  ProcessResult forced = Drover("apply --force -f " + folder + "/web.yaml");
  EXPECT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(forced.out, "default/web-a configured\ndefault/web-b configured\n");
  EXPECT_EQ(Version("web-a"), 2);
}

TEST_F(ApplyCommand, DryRunShowsTheDiffAndPlanAndWritesNothingThenApplyConfiguresOneJob) {
  RegisterNode("n1", "web");
  RegisterNode("n2", "web");
  RegisterNode("n3", "web");
  RegisterNode("db1", "db");
  std::string folder = WriteFleet();
  ASSERT_EQ(Drover("apply -f " + folder).exit_code, 0);
  Write("Fleet-Jobs/web.yaml",
        PipelineYaml("web-a") + "---\n" +
            PipelineYaml("web-b", std::string("priority: 70\n") + kCanaryRollout));

  ProcessResult dry = Drover("apply --dry-run -f " + folder);
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("edge/collector unchanged (dry run)\n"
                                 "default/web-a unchanged (dry run)\n"
                                 "default/web-b configured (dry run)\n"
                                 "--- default/web-b\tv1\n"
                                 "+++ default/web-b\tproposed\n"));
  EXPECT_THAT(dry.out, HasSubstr("-priority: 50\n+priority: 70\n"));
  EXPECT_THAT(dry.out, HasSubstr("+  strategy: canary\n"));
  EXPECT_THAT(dry.out, HasSubstr("  plan: 3 target nodes, 1 canary, 1 wave\n    canary: n"));
  EXPECT_THAT(dry.out, HasSubstr("    wave 1/1 (2): n"));
  EXPECT_THAT(dry.out, Not(HasSubstr("db1")));
  EXPECT_THAT(dry.out, HasSubstr("default/disk unchanged (dry run)\n"));
  EXPECT_EQ(Version("web-b"), 1) << "a dry run wrote a version";
  EXPECT_EQ(Job("web-b")["spec"]["priority"], 50);

  // a new job under --dry-run: created, every line added, nothing written
  Write("Fleet-Jobs/new.yaml", PipelineYaml("fresh"));
  ProcessResult fresh = Drover("apply --dry-run -f " + Path("Fleet-Jobs/new.yaml"));
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out << fresh.err;
  EXPECT_THAT(fresh.out, HasSubstr("default/fresh created (dry run)\n--- default/fresh\tnone\n"));
  EXPECT_THAT(fresh.out, HasSubstr("+name: fresh\n"));
  EXPECT_THAT(fresh.out, HasSubstr("  plan: 3 target nodes, 1 wave\n"));
  EXPECT_EQ(Version("fresh"), -1);
  std::filesystem::remove(Path("Fleet-Jobs/new.yaml"));

  ProcessResult real = Drover("apply -f " + folder);
  EXPECT_EQ(real.exit_code, 0) << real.out << real.err;
  EXPECT_EQ(real.out,
            "edge/collector unchanged\n"
            "default/web-a unchanged\n"
            "default/web-b configured\n"
            "default/disk unchanged\n");
  EXPECT_EQ(Version("web-b"), 2);
  EXPECT_EQ(Version("web-a"), 1);
}

TEST_F(ApplyCommand, PruneStopsOnlyTheRemovedJobsOfItsOwnSet) {
  std::string folder = WriteFleet();
  ASSERT_EQ(Drover("apply -f " + folder).exit_code, 0);
  // another set in the same namespace, and a job applied by no set at all
  Write("other/jobs.yaml", PipelineYaml("other-job"));
  ASSERT_EQ(Drover("apply --applyset staging -f " + Path("other/jobs.yaml")).exit_code, 0);
  EXPECT_EQ(AppliedSet("other-job"), "staging");
  ASSERT_EQ(
      controller_
          .Call("PUT", "/api/v1/jobs",
                Json{{"name", "hand-made"}, {"type", "update"}, {"config", {{"command", {"true"}}}}}
                    .dump())
          .status,
      201);

  Write("Fleet-Jobs/web.yaml", PipelineYaml("web-a"));  // web-b removed
  std::filesystem::remove(Path("Fleet-Jobs/edge/collector.yml"));
  Write("Fleet-Jobs/edge/other.yml", PipelineYaml("edge-two", "", "edge"));

  ProcessResult dry = Drover("apply --prune --dry-run -f " + folder);
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("default/web-b pruned (dry run)\n"));
  EXPECT_THAT(dry.out, HasSubstr("edge/collector pruned (dry run)\n"));
  EXPECT_EQ(State("web-b"), State("web-a")) << "a dry run stopped a job";
  EXPECT_NE(State("web-b"), "stopped");

  ProcessResult pruned = Drover("apply --prune -f " + folder);
  EXPECT_EQ(pruned.exit_code, 0) << pruned.out << pruned.err;
  EXPECT_EQ(pruned.out,
            "edge/edge-two created\n"
            "default/web-a unchanged\n"
            "default/disk unchanged\n"
            "edge/collector pruned\n"
            "default/web-b pruned\n");
  EXPECT_EQ(State("web-b"), "stopped");
  EXPECT_EQ(State("collector", "edge"), "stopped");
  EXPECT_EQ(Version("web-b"), 1) << "prune stops, it does not purge";
  for (const char* untouched : {"web-a", "disk", "other-job", "hand-made"}) {
    EXPECT_NE(State(untouched), "stopped") << untouched;
  }

  // stopped jobs are not pruned twice
  ProcessResult again = Drover("apply --prune -f " + folder);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_THAT(again.out, Not(HasSubstr("pruned")));

  // the file back: the stopped job starts again, and the dry run says so first
  Write("Fleet-Jobs/web.yaml", PipelineYaml("web-a") + "---\n" + PipelineYaml("web-b"));
  ProcessResult back_dry = Drover("apply --dry-run -f " + folder);
  EXPECT_THAT(back_dry.out, HasSubstr("default/web-b configured (dry run)\n"));
  ProcessResult back = Drover("apply -f " + folder);
  EXPECT_THAT(back.out, HasSubstr("default/web-b configured\n"));
  EXPECT_NE(State("web-b"), "stopped");

  // the last job of a namespace removed: only --prune-namespace looks there
  std::filesystem::remove(Path("Fleet-Jobs/edge/other.yml"));
  ProcessResult scoped = Drover("apply --prune -f " + folder);
  EXPECT_EQ(scoped.exit_code, 0) << scoped.out << scoped.err;
  EXPECT_THAT(scoped.out, Not(HasSubstr("pruned")));
  EXPECT_NE(State("edge-two", "edge"), "stopped");
  ProcessResult widened = Drover("apply --prune --prune-namespace edge -f " + folder);
  EXPECT_EQ(widened.exit_code, 0) << widened.out << widened.err;
  EXPECT_THAT(widened.out, HasSubstr("edge/edge-two pruned\n"));
  EXPECT_EQ(State("edge-two", "edge"), "stopped");

  // an empty folder names no namespace: nothing is pruned, and it says so
  std::filesystem::create_directories(Path("empty"));
  ProcessResult empty = Drover("apply --prune --applyset fleet-jobs -f " + Path("empty"));
  EXPECT_EQ(empty.exit_code, 0) << empty.out << empty.err;
  EXPECT_THAT(empty.err, HasSubstr("nothing pruned"));
  EXPECT_NE(State("web-a"), "stopped");
}

TEST_F(ApplyCommand, ABrokenFileIsReportedTheOthersStillApplyAndPruneRefuses) {
  Write("set/keep.yaml", PipelineYaml("keep"));
  Write("set/old.yaml", PipelineYaml("old"));
  ASSERT_EQ(Drover("apply -f " + Path("set")).exit_code, 0);
  std::filesystem::remove(Path("set/old.yaml"));
  std::string broken = Write("set/broken.yaml", "name: x\nlabels: [a, b\ntype: query\n");
  Write("set/new.yaml", PipelineYaml("new"));

  ProcessResult r = Drover("apply --prune -f " + Path("set"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(broken + ":3:"));
  EXPECT_THAT(r.out, HasSubstr(broken + " invalid\n"));
  EXPECT_THAT(r.out, HasSubstr("default/keep unchanged\n"));
  EXPECT_THAT(r.out, HasSubstr("default/new created\n"));
  EXPECT_THAT(r.err, HasSubstr("not pruning: 1 document is invalid"));
  EXPECT_THAT(r.out, Not(HasSubstr("pruned")));
  EXPECT_NE(State("old"), "stopped") << "a broken file must not stop running jobs";
  EXPECT_EQ(Version("new"), 1);
}

TEST_F(ApplyCommand, ValidationErrorsNameTheFileDocumentAndFieldAndTheValidOnesApply) {
  std::string path = Write("jobs.yaml", PipelineYaml("good") +
                                            "---\n"
                                            "name: second\n"
                                            "type: pipeline\n"
                                            "rollout:\n"
                                            "  strategy: sideways\n"
                                            "config: {input: {stdin: {}}, output: {stdout: {}}}\n"
                                            "---\n" +
                                            PipelineYaml("good"));
  ProcessResult r = Drover("apply -f " + path);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(path + "#2:10:3: spec.rollout.strategy: must be one of"));
  EXPECT_THAT(r.err, HasSubstr(path + "#3:13:1: spec.name: job default/good is also defined by " +
                               path + "#1"));
  EXPECT_EQ(r.out, "default/good created\ndefault/second invalid\ndefault/good invalid\n");
  EXPECT_EQ(Version("good"), 1);
  EXPECT_EQ(Version("second"), -1);
}

TEST_F(ApplyCommand, ReadsStandardInputAsTheSetStdin) {
  ProcessResult r = Drover("apply -f -", PipelineYaml("piped"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "default/piped created\n");
  EXPECT_EQ(AppliedSet("piped"), "stdin");
  ProcessResult json = Drover("apply --applyset=from-ci -f -",
                              R"({"spec": {"name": "piped", "type": "pipeline", "selector":)"
                              R"( {"match_labels": {"role": "web"}}, "config": {"input":)"
                              R"( {"stdin": {}}, "output": {"stdout": {}}}}})");
  EXPECT_EQ(json.exit_code, 0) << json.out << json.err;
  EXPECT_EQ(json.out, "default/piped unchanged\n");
  EXPECT_EQ(AppliedSet("piped"), "from-ci") << "an unchanged PUT from another set records it";
}

// SPEC §13: a document may be a PutJobRequest envelope; its dry_run and force are ignored with
// a warning (the command's flags decide), so an envelope saying dry_run: true is really applied.
TEST_F(ApplyCommand, AnEnvelopesDryRunAndForceAreIgnoredWithAWarningAndTheJobIsApplied) {
  std::string path = Write("envelope.yaml",
                           "spec:\n"
                           "  name: enveloped\n"
                           "  type: pipeline\n"
                           "  selector: {match_labels: {role: web}}\n"
                           "  config: {input: {stdin: {}}, output: {stdout: {}}}\n"
                           "dry_run: true\n"
                           "force: true\n");
  ProcessResult r = Drover("apply -f " + path);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "default/enveloped created\n") << "not \"(dry run)\"";
  EXPECT_THAT(r.err,
              HasSubstr(path + ":6:1: dry_run: warning: ignored in a manifest (use the command's "
                               "--dry-run flag)\n"));
  EXPECT_THAT(r.err,
              HasSubstr(path + ":7:1: force: warning: ignored in a manifest (use the command's "
                               "--force flag)\n"));
  EXPECT_EQ(Version("enveloped"), 1) << "the envelope's dry_run kept the job from being written";
  EXPECT_EQ(AppliedSet("enveloped"), "envelope");

  ProcessResult again = Drover("apply -f " + path);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out, "default/enveloped unchanged\n") << "the envelope's force is ignored too";
  EXPECT_EQ(Version("enveloped"), 1);
}

// SPEC §13: 0 success, 1 failure, 2 usage, for diff too; differences are not a failure. With
// --exit-code (git's convention) they exit 3, so that 1 still means "failed".
TEST_F(ApplyCommand, DiffExitsZeroWithOrWithoutDifferencesAndThreeForThemWithExitCode) {
  std::string path = Write("web.yaml", PipelineYaml("web"));
  ProcessResult before = Drover("diff -f " + path);
  EXPECT_EQ(before.exit_code, 0) << before.out << before.err;
  EXPECT_THAT(before.out, HasSubstr("--- default/web\tnone\n+++ default/web\tproposed\n"));
  EXPECT_THAT(before.out, HasSubstr("+name: web\n"));
  EXPECT_EQ(before.err, "");
  ProcessResult before_code = Drover("diff --exit-code -f " + path);
  EXPECT_EQ(before_code.exit_code, 3) << before_code.out << before_code.err;
  EXPECT_EQ(before_code.out, before.out);
  EXPECT_EQ(Version("web"), -1) << "diff wrote something";

  ASSERT_EQ(Drover("apply -f " + path).exit_code, 0);
  for (const char* flags : {"", "--exit-code "}) {
    ProcessResult same = Drover(std::string("diff ") + flags + "-f " + path);
    EXPECT_EQ(same.exit_code, 0) << flags << same.out << same.err;
    EXPECT_EQ(same.out, "") << flags;
  }

  Write("web.yaml", PipelineYaml("web", "description: new\n"));
  ProcessResult changed = Drover("diff -f " + path);
  EXPECT_EQ(changed.exit_code, 0) << changed.out << changed.err;
  EXPECT_THAT(changed.out, HasSubstr("--- default/web\tv1\n"));
  EXPECT_THAT(changed.out, HasSubstr("+description: new\n"));
  ProcessResult changed_code = Drover("diff -f " + path + " --exit-code");
  EXPECT_EQ(changed_code.exit_code, 3) << changed_code.out << changed_code.err;
  EXPECT_EQ(changed_code.out, changed.out);
  EXPECT_EQ(Version("web"), 1);

  std::string bad = Write("bad.yaml", "name: web2\ntype: pipeline\npriority: high\n");
  ProcessResult invalid = Drover("diff -f " + bad);
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(invalid.err, HasSubstr(bad + ":3:1: spec.priority: "));
  EXPECT_EQ(invalid.out, "");
  // A failure wins over differences: the valid document's diff is shown, the exit is 1.
  ProcessResult both = Drover("diff --exit-code -f " + bad + " -f " + path);
  EXPECT_EQ(both.exit_code, 1) << both.out << both.err;
  EXPECT_THAT(both.out, HasSubstr("+description: new\n"));
  EXPECT_THAT(both.err, HasSubstr(bad + ":3:1: spec.priority: "));
}

TEST_F(ApplyCommand, UsageErrorsExitTwoAndHelpExitsZero) {
  std::string path = Write("web.yaml", PipelineYaml("web"));
  for (const std::string& args :
       {std::string("apply"), std::string("apply -f"), std::string("apply --bogus -f " + path),
        std::string("apply --applyset 'Not A Label!' -f " + path),
        std::string("apply --applyset -f " + path), std::string("apply --server -f " + path),
        std::string("apply --server ftp://x -f " + path),
        std::string("apply --prune-namespace edge -f " + path),
        std::string("apply --prune --prune-namespace Bad! -f " + path),
        std::string("apply -f " + Path("missing.yaml")), std::string("diff"),
        std::string("diff --dry-run -f " + path), std::string("diff --exit-code=yes -f " + path),
        std::string("diff -f " + Path("missing"))}) {
    ProcessResult r = Drover(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("drover ")) << args;
  }
  EXPECT_EQ(Version("web"), -1);
  ProcessResult help = Drover("apply --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Usage: drover apply -f FILE|DIR|-"));
  EXPECT_THAT(help.out, HasSubstr("--server URL"));
  ProcessResult diff_help = Drover("diff -h");
  EXPECT_EQ(diff_help.exit_code, 0);
  EXPECT_THAT(diff_help.out, HasSubstr("--exit-code          exit 3 when there are differences"));
}

TEST_F(ApplyCommand, AnUnreachableControllerExitsOneWithAClearMessage) {
  std::string path = Write("jobs.yaml", PipelineYaml("a") + "---\n" + PipelineYaml("b"));
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  ProcessResult r = Drover("apply --prune -f " + path, "", nowhere);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot reach the controller at " + nowhere));
  EXPECT_THAT(r.err, HasSubstr("2 documents not applied"));
  EXPECT_THAT(r.err, HasSubstr("not pruning"));
  EXPECT_EQ(r.out, "");
  ProcessResult diff = Drover("diff -f " + path, "", nowhere);
  EXPECT_EQ(diff.exit_code, 1);
  EXPECT_THAT(diff.err, HasSubstr("cannot reach the controller at " + nowhere));
}

}  // namespace
}  // namespace drover
