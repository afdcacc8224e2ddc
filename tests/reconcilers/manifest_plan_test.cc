// PlanManifestSync: what the controller's --manifests mode PUTs and stops, and when it refuses
// to stop anything (reconcilers/manifest_plan.h, docs/gitops.md).
#include "reconcilers/manifest_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace drover {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

DeclaredJob Declared(std::string key, std::string file, int document = 0) {
  return {std::move(key), std::move(file), document};
}

TEST(ManifestPlan, PutsEveryDeclaredJobInPathOrder) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml"), Declared("ops/b", "d/b.yaml", 1),
                    Declared("ops/c", "d/b.yaml", 2)};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_EQ(plan.prune_skipped, "");
}

TEST(ManifestPlan, StopsRunningMembersOfTheSetThatAreNoLongerDeclared) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml")};
  input.members = {{"default/a", false}, {"default/z", false}, {"ops/b", false}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u));
  EXPECT_THAT(plan.stop, ElementsAre("default/z", "ops/b"));
  EXPECT_EQ(plan.prune_skipped, "");
}

TEST(ManifestPlan, AlreadyStoppedMembersAreNotStoppedAgain) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml")};
  input.members = {{"default/gone", true}};
  EXPECT_THAT(PlanManifestSync(input).stop, IsEmpty());
}

TEST(ManifestPlan, AStoppedMemberThatIsDeclaredAgainIsPut) {
  ManifestPlanInput input;
  input.declared = {Declared("default/back", "d/back.yaml")};
  input.members = {{"default/back", true}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u));
  EXPECT_THAT(plan.stop, IsEmpty());
}

TEST(ManifestPlan, AnUnreadableFolderChangesNothing) {
  ManifestPlanInput input;
  input.folder_read = false;
  input.declared = {Declared("default/a", "d/a.yaml")};
  input.members = {{"default/b", false}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, IsEmpty());
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_THAT(plan.prune_skipped, HasSubstr("could not be read"));
}

TEST(ManifestPlan, AnInvalidFileStopsNothingButTheValidDocumentsAreStillPut) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml")};
  input.invalid_files = 1;
  input.members = {{"default/a", false}, {"default/in-the-broken-file", false}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u));
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_THAT(plan.prune_skipped, HasSubstr("1 file is invalid"));
}

TEST(ManifestPlan, SeveralInvalidFilesAreCounted) {
  ManifestPlanInput input;
  input.invalid_files = 3;
  input.members = {{"default/a", false}};
  EXPECT_THAT(PlanManifestSync(input).prune_skipped, HasSubstr("3 files are invalid"));
}

TEST(ManifestPlan, AJobDeclaredTwiceIsPutFromNeitherAndStopsPruning) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml"), Declared("default/dup", "d/b.yaml"),
                    Declared("default/c", "d/c.yaml"), Declared("default/dup", "d/d.yaml", 2)};
  input.members = {{"default/gone", false}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u, 2u));
  ASSERT_EQ(plan.duplicates.size(), 1u);
  EXPECT_EQ(plan.duplicates[0].key, "default/dup");
  EXPECT_THAT(plan.duplicates[0].declared, ElementsAre(1u, 3u));
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_THAT(plan.prune_skipped, HasSubstr("1 job is declared more than once"));
}

TEST(ManifestPlan, AFolderThatDeclaresNothingNeverStopsTheWholeSet) {
  ManifestPlanInput input;
  input.members = {{"default/a", false}, {"default/b", true}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_THAT(plan.prune_skipped, HasSubstr("declares no job"));
  EXPECT_THAT(plan.prune_skipped, HasSubstr("1 running"));
}

TEST(ManifestPlan, AnEmptyFolderWithNothingRunningIsFine) {
  ManifestPlanInput input;
  input.members = {{"default/a", true}};
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_EQ(plan.prune_skipped, "");
}

TEST(ManifestPlan, UnknownMembersStopNothing) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml")};
  input.members_known = false;
  ManifestPlan plan = PlanManifestSync(input);
  EXPECT_THAT(plan.put, ElementsAre(0u));
  EXPECT_THAT(plan.stop, IsEmpty());
  EXPECT_THAT(plan.prune_skipped, HasSubstr("could not be listed"));
}

TEST(ManifestPlan, RunningTwiceGivesTheSamePlan) {
  ManifestPlanInput input;
  input.declared = {Declared("default/a", "d/a.yaml"), Declared("default/b", "d/b.yaml")};
  input.members = {{"default/x", false}, {"default/a", false}};
  ManifestPlan first = PlanManifestSync(input);
  ManifestPlan second = PlanManifestSync(input);
  EXPECT_EQ(first.put, second.put);
  EXPECT_EQ(first.stop, second.stop);
  EXPECT_THAT(first.stop, ElementsAre("default/x"));
}

}  // namespace
}  // namespace drover
