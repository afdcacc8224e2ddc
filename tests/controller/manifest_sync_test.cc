// `drover controller --manifests DIR` end to end (docs/gitops.md, issue 6 acceptance 4): the real
// controller applies a folder at start, follows files being added, changed, renamed over and
// removed (inotify: the periodic re-read is set to an hour so that it never helps, except in the
// test of the periodic re-read), reports every file in GET /api/v1/manifests and in metrics, and
// never lets a broken file or an unreadable folder stop a job. Also the pure parts of
// controller/manifest_sync.h.
#include "controller/manifest_sync.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

namespace fs = std::filesystem;
using testing::ControllerProcess;
using ::testing::ElementsAre;
using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

// A temporary folder of manifests.
class Folder {
 public:
  Folder() : root_(testing::MakeTempDir("drover-gitops")), dir_(root_ / "jobs") {
    fs::create_directories(dir_);
  }
  ~Folder() { fs::remove_all(root_); }

  std::string path() const { return dir_.string(); }
  std::string PathOf(const std::string& relative) const { return (dir_ / relative).string(); }
  const fs::path& root() const { return root_; }

  void Write(const std::string& relative, const std::string& text) const {
    fs::create_directories((dir_ / relative).parent_path());
    std::ofstream(dir_ / relative, std::ios::binary) << text;
  }
  // As editors and atomic writers save: a temporary file beside it, renamed over it.
  void WriteByRename(const std::string& relative, const std::string& text) const {
    fs::path target = dir_ / relative;
    fs::path temporary = target.parent_path() / ("." + target.filename().string() + ".tmp");
    std::ofstream(temporary, std::ios::binary) << text;
    fs::rename(temporary, target);
  }
  void Remove(const std::string& relative) const { fs::remove(dir_ / relative); }

 private:
  fs::path root_;
  fs::path dir_;
};

std::string UpdateJob(const std::string& name, const std::string& word,
                      const std::string& ns = "default") {
  return "name: " + name + "\nnamespace: " + ns +
         "\ntype: update\nconfig:\n  command: [\"/bin/echo\", \"" + word + "\"]\n";
}

std::vector<std::string> Args(const Folder& folder, const std::string& interval = "1h") {
  return {"--store", "memory", "--manifests", folder.path(), "--manifests-interval", interval};
}

Json Manifests(const ControllerProcess& c) { return c.Call("GET", "/api/v1/manifests").Json(); }

// The status of one file in GET /api/v1/manifests (null when it is not listed).
Json FileOf(const ControllerProcess& c, const std::string& path) {
  Json status = Manifests(c);
  if (!status.is_object() || !status.contains("files")) return nullptr;
  for (const Json& f : status["files"]) {
    if (f["path"] == path) return f;
  }
  return nullptr;
}

std::string FileState(const ControllerProcess& c, const std::string& path) {
  Json f = FileOf(c, path);
  return f.is_null() ? "" : f["state"].get<std::string>();
}

// The job's status ({state, version, ...}), or null when there is no such job.
Json JobStatus(const ControllerProcess& c, const std::string& name,
               const std::string& ns = "default") {
  testing::HttpReply r = c.Call("GET", "/api/v1/jobs/" + name + "?namespace=" + ns);
  if (r.status != 200) return nullptr;
  return r.Json()["job"]["status"];
}

int Version(const ControllerProcess& c, const std::string& name,
            const std::string& ns = "default") {
  Json s = JobStatus(c, name, ns);
  return s.is_null() ? 0 : s["version"].get<int>();
}

bool Running(const ControllerProcess& c, const std::string& name,
             const std::string& ns = "default") {
  Json s = JobStatus(c, name, ns);
  return !s.is_null() && s["state"] != "stopped";
}

bool Stopped(const ControllerProcess& c, const std::string& name,
             const std::string& ns = "default") {
  Json s = JobStatus(c, name, ns);
  return !s.is_null() && s["state"] == "stopped";
}

// One sample of /metrics ("name{labels}" as written), or nullopt.
std::optional<double> Metric(const ControllerProcess& c, const std::string& series) {
  std::istringstream text(c.Call("GET", "/metrics").body);
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

// Writes NAME.yaml (an update job) for each name, starts a controller on the folder and waits
// until every job exists at version 1. Null (with a failure recorded) when that does not happen.
std::unique_ptr<ControllerProcess> StartOn(const Folder& folder,
                                           const std::vector<std::string>& names,
                                           const std::string& interval = "1h") {
  for (const std::string& name : names) folder.Write(name + ".yaml", UpdateJob(name, "one"));
  auto controller = std::make_unique<ControllerProcess>(Args(folder, interval));
  if (!controller->Start()) {
    ADD_FAILURE() << controller->log();
    return nullptr;
  }
  for (const std::string& name : names) {
    if (!Eventually([&] { return Version(*controller, name) == 1; })) {
      ADD_FAILURE() << name << " was not created\n" << controller->log();
      return nullptr;
    }
  }
  return controller;
}

bool LogHas(const ControllerProcess& c, const std::string& text) {
  return c.log().find(text) != std::string::npos;
}

int64_t Sequence(const ControllerProcess& c) {
  Json status = Manifests(c);
  return status.is_object() && status.contains("sequence") ? status["sequence"].get<int64_t>() : -1;
}

// --- the pure parts
// --------------------------------------------------------------------------------

TEST(ManifestFolder, ParsesEveryFileAndFormatsEveryProblemWithItsPlace) {
  std::vector<ManifestSource> sources = {
      {"d/a.yaml", UpdateJob("a", "x")},
      {"d/b.yaml", UpdateJob("b", "x", "ops") + "---\nname: c\ntype: nope\n"},
      {"d/c.yaml", "name: [unclosed\n"}};
  std::vector<controller::FolderFile> files = controller::ParseManifestFolder(sources);
  ASSERT_EQ(files.size(), 3u);
  ASSERT_EQ(files[0].documents.size(), 1u);
  EXPECT_EQ(files[0].documents[0].key, "default/a");
  EXPECT_EQ(files[0].documents[0].document, 0);
  EXPECT_THAT(files[0].errors, IsEmpty());
  ASSERT_EQ(files[1].documents.size(), 1u);
  EXPECT_EQ(files[1].documents[0].key, "ops/b");
  EXPECT_EQ(files[1].documents[0].document, 1);
  ASSERT_EQ(files[1].errors.size(), 1u);
  EXPECT_THAT(files[1].errors[0], ::testing::StartsWith("d/b.yaml#2:8:1: spec.type: "));
  ASSERT_EQ(files[2].errors.size(), 1u);
  EXPECT_TRUE(std::regex_search(files[2].errors[0], std::regex("^d/c\\.yaml:\\d+:\\d+: ")))
      << files[2].errors[0];
  EXPECT_THAT(files[2].documents, IsEmpty());
}

TEST(ManifestFolder, ListsManifestsRecursivelyInPathOrderAndSkipsHiddenNames) {
  Folder folder;
  folder.Write("b.yaml", "");
  folder.Write("a/z.json", "");
  folder.Write("a/y.yml", "");
  folder.Write("notes.txt", "");
  folder.Write(".a.yaml.swp", "");
  folder.Write(".hidden.yaml", "");
  folder.Write(".git/config.yaml", "");
  Result<controller::FolderListing> listing = controller::ListManifestFolder(folder.path());
  ASSERT_TRUE(listing.ok()) << listing.status().message();
  EXPECT_THAT(listing->files, ElementsAre(folder.PathOf("a/y.yml"), folder.PathOf("a/z.json"),
                                          folder.PathOf("b.yaml")));
  EXPECT_THAT(listing->folders, ElementsAre(folder.path(), folder.PathOf("a")));
  Result<controller::FolderListing> missing = controller::ListManifestFolder(folder.PathOf("nope"));
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no such file or directory"));
}

// --- the real controller
// ---------------------------------------------------------------------------

TEST(ManifestSync, AppliesTheFolderAtStartAndReportsEveryFile) {
  Folder folder;
  folder.Write("a.yaml", UpdateJob("a", "one"));
  folder.Write("sub/b.yaml", UpdateJob("b1", "one") + "---\n" + UpdateJob("b2", "one", "ops"));
  folder.Write(
      "c.json",
      R"({"spec": {"name": "c", "type": "update", "config": {"command": ["/bin/true"]}}})");
  folder.Write(".hidden.yaml", UpdateJob("hidden", "one"));
  folder.Write("README.md", "not a manifest");
  ControllerProcess controller(Args(folder));
  ASSERT_TRUE(controller.Start()) << controller.log();

  ASSERT_TRUE(Eventually([&] { return Sequence(controller) >= 1; })) << controller.log();
  for (auto [name, ns] : std::vector<std::pair<std::string, std::string>>{
           {"a", "default"}, {"b1", "default"}, {"b2", "ops"}, {"c", "default"}}) {
    EXPECT_EQ(Version(controller, name, ns), 1) << ns << "/" << name;
  }
  EXPECT_TRUE(JobStatus(controller, "hidden").is_null());
  Json status = Manifests(controller);
  EXPECT_EQ(status["folder"], folder.path());
  EXPECT_EQ(status["applied_set"], "controller-manifests");
  EXPECT_EQ(status["result"], "success");
  EXPECT_EQ(status["prune"], "enabled");
  ASSERT_EQ(status["files"].size(), 3u) << status.dump(2);
  EXPECT_EQ(status["files"][0]["path"], folder.PathOf("a.yaml"));
  EXPECT_EQ(status["files"][1]["path"], folder.PathOf("c.json"));
  EXPECT_EQ(status["files"][2]["path"], folder.PathOf("sub/b.yaml"));
  EXPECT_EQ(status["files"][2]["jobs"], Json::array({"default/b1", "ops/b2"}));
  for (const Json& f : status["files"]) {
    EXPECT_EQ(f["state"], "applied") << f.dump();
    EXPECT_TRUE(f["errors"].empty()) << f.dump();
    EXPECT_FALSE(f["updated_at"].get<std::string>().empty());
  }
  EXPECT_EQ(Metric(controller, "drover_manifest_files{state=\"applied\"}"), 3.0);
  EXPECT_EQ(Metric(controller, "drover_manifest_files{state=\"invalid\"}"), 0.0);
  EXPECT_GE(Metric(controller, "drover_manifest_syncs_total{result=\"success\"}").value_or(0), 1.0);
  EXPECT_GT(Metric(controller, "drover_manifest_last_sync_timestamp_seconds").value_or(0), 1e9);
  EXPECT_THAT(controller.log(), HasSubstr("manifests: created ops/b2 (version 1) from " +
                                          folder.PathOf("sub/b.yaml") + "#2"));
  EXPECT_EQ(controller.Stop(), 0) << controller.log();
}

TEST(ManifestSync, AddingChangingAndRemovingFilesConvergesTheJobs) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a", "b"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  // A new file in a new subfolder: created.
  folder.Write("team/new/c.yaml", UpdateJob("c", "one"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "c") == 1; })) << controller.log();

  // A changed file: a new version; the others untouched.
  folder.Write("a.yaml", UpdateJob("a", "two"));
  // (The status is published once the sync is done: wait for it, not just for the job.)
  ASSERT_TRUE(Eventually([&] {
    return Version(controller, "a") == 2 &&
           FileState(controller, folder.PathOf("a.yaml")) == "applied";
  })) << controller.log();
  EXPECT_EQ(Version(controller, "b"), 1);
  EXPECT_EQ(Version(controller, "c"), 1);
  // The files this sync read but did not change anything for read "unchanged", in the route
  // and in drover_manifest_files (read until both come from the same sync).
  EXPECT_EQ(FileState(controller, folder.PathOf("b.yaml")), "unchanged");
  EXPECT_EQ(FileState(controller, folder.PathOf("team/new/c.yaml")), "unchanged");
  std::map<std::string, double> listed;
  ASSERT_TRUE(Eventually([&] {
    int64_t before = Sequence(controller);
    listed.clear();
    const Json status = Manifests(controller);
    for (const Json& f : status.value("files", Json::array())) listed[f.value("state", "")] += 1;
    std::optional<double> unchanged =
        Metric(controller, "drover_manifest_files{state=\"unchanged\"}");
    std::optional<double> applied = Metric(controller, "drover_manifest_files{state=\"applied\"}");
    return Sequence(controller) == before && unchanged == listed["unchanged"] &&
           applied == listed["applied"];
  })) << controller.log();
  EXPECT_GE(listed["unchanged"], 2.0) << "b.yaml and team/new/c.yaml";
  EXPECT_EQ(listed["unchanged"] + listed["applied"], 3.0);

  // A removed file: its job is stopped (not purged), the others keep running.
  folder.Remove("b.yaml");
  ASSERT_TRUE(Eventually([&] { return Manifests(controller)["pruned"].size() == 1; }))
      << controller.log();
  EXPECT_TRUE(Stopped(controller, "b"));
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_TRUE(Running(controller, "c"));
  EXPECT_EQ(Version(controller, "a"), 2);
  Json status = Manifests(controller);
  EXPECT_EQ(status["pruned"][0]["job"], "default/b");
  EXPECT_TRUE(FileOf(controller, folder.PathOf("b.yaml")).is_null());
  EXPECT_EQ(Metric(controller, "drover_manifest_pruned_total"), 1.0);
  EXPECT_TRUE(LogHas(controller, "manifests: stopped default/b: its manifest was removed"))
      << controller.log();

  // Back again: the stopped job starts again at the same version.
  folder.Write("b.yaml", UpdateJob("b", "one"));
  ASSERT_TRUE(Eventually([&] {
    return LogHas(controller,
                  "manifests: started again default/b (version 1) from " + folder.PathOf("b.yaml"));
  })) << controller.log();
  EXPECT_TRUE(Running(controller, "b"));
  EXPECT_EQ(Version(controller, "b"), 1);
  EXPECT_EQ(Version(controller, "a"), 2);

  // A whole subfolder removed: its job is stopped too.
  fs::remove_all(folder.PathOf("team"));
  ASSERT_TRUE(Eventually([&] { return Stopped(controller, "c"); })) << controller.log();
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_TRUE(Running(controller, "b"));
}

TEST(ManifestSync, ABrokenFileIsReportedAndLeavesEveryOtherJobAlone) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a", "b", "c"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  // A YAML syntax error: reported at file:line:column; its job keeps running at version 1.
  folder.Write("a.yaml", "name: a\ntype: update\nconfig:\n  command: [\"/bin/echo\", \"two\"\n");
  ASSERT_TRUE(Eventually([&] {
    return FileState(controller, folder.PathOf("a.yaml")) == "invalid";
  })) << controller.log();
  Json a = FileOf(controller, folder.PathOf("a.yaml"));
  ASSERT_EQ(a["errors"].size(), 1u) << a.dump(2);
  std::string error = a["errors"][0];
  const std::string prefix = folder.PathOf("a.yaml") + ":";
  ASSERT_THAT(error, ::testing::StartsWith(prefix));
  EXPECT_TRUE(std::regex_search(error.substr(prefix.size()), std::regex("^\\d+:\\d+: "))) << error;
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_EQ(Version(controller, "a"), 1);
  EXPECT_EQ(Version(controller, "b"), 1);
  EXPECT_EQ(Version(controller, "c"), 1);
  EXPECT_EQ(Metric(controller, "drover_manifest_files{state=\"invalid\"}"), 1.0);
  EXPECT_GE(Metric(controller, "drover_manifest_syncs_total{result=\"invalid\"}").value_or(0), 1.0);
  EXPECT_EQ(Manifests(controller)["result"], "invalid");
  EXPECT_THAT(controller.log(), HasSubstr("manifests: " + folder.PathOf("a.yaml") +
                                          " is invalid; the jobs it declares are left as they "
                                          "are: " +
                                          error));

  // A file removed while another is broken: nothing is pruned, and the status says why.
  folder.Remove("c.yaml");
  ASSERT_TRUE(Eventually([&] { return FileOf(controller, folder.PathOf("c.yaml")).is_null(); }))
      << controller.log();
  EXPECT_THAT(Manifests(controller)["prune"].get<std::string>(),
              HasSubstr("pruning is skipped while 1 file is invalid"));
  EXPECT_TRUE(Running(controller, "c"));

  // A validation error: reported with its field path; the job is left at version 1.
  folder.Write("b.yaml", UpdateJob("b", "two") + "rollout:\n  max_parallel: 150\n");
  ASSERT_TRUE(Eventually([&] {
    return FileState(controller, folder.PathOf("b.yaml")) == "invalid";
  })) << controller.log();
  Json b = FileOf(controller, folder.PathOf("b.yaml"));
  ASSERT_EQ(b["errors"].size(), 1u) << b.dump(2);
  EXPECT_THAT(b["errors"][0].get<std::string>(),
              ::testing::StartsWith(folder.PathOf("b.yaml") + ":7:3: spec.rollout.max_parallel: "));
  EXPECT_EQ(Version(controller, "b"), 1);
  EXPECT_TRUE(Running(controller, "b"));
  EXPECT_EQ(Metric(controller, "drover_manifest_files{state=\"invalid\"}"), 2.0);

  // Fixed: a changed spec is applied, an unchanged one is just valid again; then pruning
  // resumes and the job whose file was removed is stopped.
  folder.Write("a.yaml", UpdateJob("a", "two"));
  folder.Write("b.yaml", UpdateJob("b", "one"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "a") == 2; })) << controller.log();
  ASSERT_TRUE(Eventually([&] { return Manifests(controller)["pruned"].size() == 1; }))
      << controller.log();
  EXPECT_TRUE(Stopped(controller, "c"));
  EXPECT_EQ(Version(controller, "b"), 1);
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_TRUE(Running(controller, "b"));
  Json status = Manifests(controller);
  EXPECT_EQ(status["result"], "success") << status.dump(2);
  EXPECT_EQ(status["prune"], "enabled");
  EXPECT_EQ(Metric(controller, "drover_manifest_files{state=\"invalid\"}"), 0.0);
  EXPECT_THAT(controller.log(), HasSubstr("is valid again"));
}

TEST(ManifestSync, AJobDeclaredTwiceIsAppliedFromNeitherFile) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  folder.Write("copy.yaml", UpdateJob("a", "two"));
  ASSERT_TRUE(Eventually([&] {
    return FileState(controller, folder.PathOf("copy.yaml")) == "invalid";
  })) << controller.log();
  EXPECT_EQ(FileState(controller, folder.PathOf("a.yaml")), "invalid");
  EXPECT_THAT(FileOf(controller, folder.PathOf("copy.yaml"))["errors"][0].get<std::string>(),
              HasSubstr("job default/a is declared more than once"));
  EXPECT_EQ(Version(controller, "a"), 1);
  EXPECT_TRUE(Running(controller, "a"));
}

TEST(ManifestSync, EditorStyleSavesAndFoldersMovedInAreApplied) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  // A temporary file renamed over the manifest (atomic writers, many editors).
  folder.WriteByRename("a.yaml", UpdateJob("a", "two"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "a") == 2; })) << controller.log();

  // vim's default: the original renamed to a backup, then a new file written.
  fs::rename(folder.PathOf("a.yaml"), folder.PathOf("a.yaml~"));
  folder.Write("a.yaml", UpdateJob("a", "three"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "a") == 3; })) << controller.log();
  folder.Remove("a.yaml~");

  // A folder prepared elsewhere and moved in whole.
  fs::path outside = folder.root() / "staging";
  fs::create_directories(outside / "deep");
  std::ofstream(outside / "deep" / "d.yaml") << UpdateJob("d", "one");
  fs::rename(outside, folder.PathOf("staging"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "d") == 1; })) << controller.log();
  // ... and a file written later in it (the moved-in folder is watched too).
  folder.Write("staging/deep/e.yaml", UpdateJob("e", "one"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "e") == 1; })) << controller.log();
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_EQ(Version(controller, "a"), 3);
}

TEST(ManifestSync, JobsAppliedByHandOrByAnotherSetAreNeverStopped) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a", "b"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  Json manual = {{"spec",
                  {{"name", "manual"},
                   {"type", "update"},
                   {"config", {{"command", Json::array({"/bin/true"})}}}}}};
  ASSERT_EQ(controller.Call("PUT", "/api/v1/jobs", manual.dump()).status, 201);
  Json other = manual;
  other["spec"]["name"] = "other-set";
  other["applied_set"] = "prod-jobs";
  ASSERT_EQ(controller.Call("PUT", "/api/v1/jobs", other.dump()).status, 201);

  folder.Remove("b.yaml");
  ASSERT_TRUE(Eventually([&] { return Stopped(controller, "b"); })) << controller.log();
  EXPECT_TRUE(Running(controller, "manual"));
  EXPECT_TRUE(Running(controller, "other-set"));
  EXPECT_TRUE(Running(controller, "a"));
  // A later change and sync still leaves them alone.
  int64_t before = Sequence(controller);
  folder.Write("a.yaml", UpdateJob("a", "two"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "a") == 2; })) << controller.log();
  ASSERT_TRUE(Eventually([&] { return Sequence(controller) > before; }));
  EXPECT_TRUE(Running(controller, "manual"));
  EXPECT_TRUE(Running(controller, "other-set"));
}

TEST(ManifestSync, AFolderThatVanishesChangesNothingAndIsAppliedAgainWhenItReturns) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a", "b"});
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;

  fs::path away = folder.root() / "away";
  fs::rename(folder.path(), away);
  ASSERT_TRUE(Eventually([&] { return Manifests(controller)["result"] == "unreadable"; }))
      << controller.log();
  Json status = Manifests(controller);
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("cannot read " + folder.path()));
  EXPECT_EQ(status["files"].size(), 2u) << "the last known files stay listed";
  EXPECT_TRUE(Running(controller, "a"));
  EXPECT_TRUE(Running(controller, "b"));
  EXPECT_GE(Metric(controller, "drover_manifest_syncs_total{result=\"unreadable\"}").value_or(0),
            1.0);

  // Back (changed meanwhile): applied again, without a restart of the controller.
  std::ofstream(away / "a.yaml") << UpdateJob("a", "two");
  fs::rename(away, folder.path());
  ASSERT_TRUE(Eventually([&] { return Version(controller, "a") == 2; })) << controller.log();
  EXPECT_TRUE(Running(controller, "b"));
  EXPECT_EQ(Version(controller, "b"), 1);
  ASSERT_TRUE(Eventually([&] { return Manifests(controller)["result"] == "success"; }));
  // And watched again: a later change is seen.
  folder.Write("b.yaml", UpdateJob("b", "two"));
  ASSERT_TRUE(Eventually([&] { return Version(controller, "b") == 2; })) << controller.log();
}

TEST(ManifestSync, ThePeriodicReReadStartsAJobStoppedByHandAgain) {
  Folder folder;
  std::unique_ptr<ControllerProcess> started = StartOn(folder, {"a"}, "1s");
  ASSERT_TRUE(started);
  ControllerProcess& controller = *started;
  testing::HttpReply stopped = controller.Call("DELETE", "/api/v1/jobs/a");
  ASSERT_EQ(stopped.status, 200);
  ASSERT_EQ(stopped.Json()["job"]["status"]["state"], "stopped");
  ASSERT_TRUE(Eventually([&] { return Running(controller, "a"); })) << controller.log();
  EXPECT_EQ(Version(controller, "a"), 1);
}

TEST(ManifestSync, TheRouteIsForReadersAndAnswers404WithoutManifests) {
  ControllerProcess plain({"--store", "memory"});
  ASSERT_TRUE(plain.Start()) << plain.log();
  testing::HttpReply off = plain.Call("GET", "/api/v1/manifests");
  EXPECT_EQ(off.status, 404);
  EXPECT_EQ(off.Json()["error"]["code"], "not_found");

  Folder folder;
  folder.Write("a.yaml", UpdateJob("a", "one"));
  const std::string reader = "reader-of-team-0123456789";
  std::ofstream(folder.root() / "tokens") << reader << " reader:team\n";
  std::vector<std::string> args = Args(folder);
  args.insert(args.end(), {"--auth-token-file", (folder.root() / "tokens").string()});
  ControllerProcess secured(args);
  ASSERT_TRUE(secured.Start()) << secured.log();
  EXPECT_EQ(secured.Call("GET", "/api/v1/manifests").status, 401);
  testing::HttpReply read =
      secured.Call("GET", "/api/v1/manifests", "", {{"Authorization", "Bearer " + reader}});
  EXPECT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.Json()["folder"], folder.path());
}

TEST(ManifestSync, FlagsAreCheckedAndDocumented) {
  using testing::RunCommand;
  std::string drover = DROVER_BINARY;
  EXPECT_EQ(RunCommand(drover + " controller --manifests-interval 0s").exit_code, 2);
  EXPECT_EQ(RunCommand(drover + " controller --manifests-interval soon").exit_code, 2);
  auto help = RunCommand(drover + " controller --help");
  EXPECT_THAT(help.out, HasSubstr("--manifests DIR"));
  EXPECT_THAT(help.out, HasSubstr("--manifests-interval"));
}

}  // namespace
}  // namespace drover
