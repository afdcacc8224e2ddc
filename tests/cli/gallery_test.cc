// The example gallery (manifests/examples/) as the README uses it: the whole folder applies to a
// real controller — every job created, then every job unchanged — and every file of the folder
// is in its index. The seed's own files (manifests/seed/) validate, and the README tour's
// versions (manifests/tour/) validate and apply in the tour's order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/testing/controller_process.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::HasSubstr;
using testing::ProcessResult;
using testing::RunCommand;

const std::string kExamples = std::string(DROVER_SOURCE_DIR) + "/manifests/examples";
const std::string kTour = std::string(DROVER_SOURCE_DIR) + "/manifests/tour";

ProcessResult Drover(const ControllerProcess& c, const std::string& args) {
  return RunCommand("env DROVER_CONFIG=/nonexistent/drover.yaml DROVER_PROFILE= DROVER_TOKEN= " +
                    std::string("DROVER_ADDR=") + c.url() + " " + DROVER_BINARY + " " + args);
}

// The lines of `text` that end with " <word>".
std::set<std::string> JobsWith(const std::string& text, const std::string& word) {
  std::set<std::string> jobs;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const std::string suffix = " " + word;
    if (line.size() > suffix.size() &&
        line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0) {
      jobs.insert(line.substr(0, line.size() - suffix.size()));
    }
    start = end + 1;
  }
  return jobs;
}

TEST(Gallery, TheWholeFolderAppliesThenIsUnchanged) {
  ControllerProcess controller;
  ASSERT_TRUE(controller.Start()) << controller.log();
  ProcessResult first = Drover(controller, "apply -f " + kExamples);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::set<std::string> created = JobsWith(first.out, "created");
  EXPECT_GE(created.size(), 10u) << first.out;
  EXPECT_TRUE(created.count("production/log-processor")) << first.out;
  EXPECT_TRUE(created.count("edge/event-forwarder")) << first.out;
  EXPECT_TRUE(created.count("ops/app-logrotate")) << first.out;
  // every job is there, with its version 1
  for (const std::string& ref : created) {
    const std::string ns = ref.substr(0, ref.find('/'));
    const std::string name = ref.substr(ref.find('/') + 1);
    nlohmann::json job =
        controller.Call("GET", "/api/v1/jobs/" + name + "?namespace=" + ns).Json()["job"];
    ASSERT_TRUE(job.is_object()) << ref;
    EXPECT_EQ(job["status"]["version"], 1) << ref;
  }
  ProcessResult second = Drover(controller, "apply -f " + kExamples);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(JobsWith(second.out, "unchanged"), created) << second.out;
}

TEST(Gallery, EveryExampleIsInTheIndexAndTheSeedFilesValidate) {
  const std::string index = testing::ReadAll(kExamples + "/README.md");
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    const std::string name = entry.path().filename().string();
    if (name == "README.md") continue;
    EXPECT_THAT(index, HasSubstr("`" + name + "`")) << name << " is missing from the index";
  }
  ProcessResult seed = RunCommand(std::string(DROVER_BINARY) + " validate -f " + DROVER_SOURCE_DIR +
                                  "/manifests/seed/");
  EXPECT_EQ(seed.exit_code, 0) << seed.out << seed.err;
  EXPECT_THAT(seed.err, HasSubstr("2 valid, 0 invalid")) << seed.err;
}

TEST(Gallery, TheTourVersionsValidateAndApplyInTheTourOrder) {
  // every file of the folder is one the README's tour uses, and each one validates
  const std::string readme = testing::ReadAll(std::string(DROVER_SOURCE_DIR) + "/README.md");
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kTour)) {
    ++files;
    const std::string name = entry.path().filename().string();
    EXPECT_THAT(readme, HasSubstr("manifests/tour/" + name)) << name << " is not in the tour";
  }
  ProcessResult validate = RunCommand(std::string(DROVER_BINARY) + " validate -f " + kTour);
  EXPECT_EQ(validate.exit_code, 0) << validate.out << validate.err;
  EXPECT_THAT(validate.err, HasSubstr(std::to_string(files) + " valid, 0 invalid")) << validate.err;

  // the tour: the seed's job, then v2 and v3 over it; v3 applied again changes nothing
  ControllerProcess controller;
  ASSERT_TRUE(controller.Start()) << controller.log();
  const std::string job = "production/log-processor";
  const auto apply = [&](const std::string& file, const std::string& outcome, int version) {
    ProcessResult r = Drover(controller, "apply -f " + file);
    EXPECT_EQ(r.exit_code, 0) << file << ": " << r.out << r.err;
    EXPECT_EQ(JobsWith(r.out, outcome), std::set<std::string>{job}) << file << ": " << r.out;
    nlohmann::json status =
        controller.Call("GET", "/api/v1/jobs/log-processor?namespace=production")
            .Json()["job"]["status"];
    EXPECT_EQ(status["version"], version) << file;
  };
  apply(kExamples + "/seed-log-processor.yaml", "created", 1);
  apply(kTour + "/log-processor-v2.json", "configured", 2);
  apply(kTour + "/log-processor-v3.json", "configured", 3);
  apply(kTour + "/log-processor-v3.json", "unchanged", 3);
  nlohmann::json spec = controller.Call("GET", "/api/v1/jobs/log-processor?namespace=production")
                            .Json()["job"]["spec"];
  EXPECT_EQ(spec["rollout"]["strategy"], "rolling") << spec;
  EXPECT_EQ(spec["rollout"]["max_parallel"], 20) << spec;
}

}  // namespace
}  // namespace drover
