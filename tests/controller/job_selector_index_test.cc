// JobSelectorIndex: the candidates for a node always include every job whose selector matches
// it, and leave out the jobs filed under what the node lacks.
#include "controller/job_selector_index.h"

#include <gtest/gtest.h>

#include <random>

#include "api/selector.h"

namespace drover::controller {
namespace {

std::unordered_set<std::string> Candidates(const JobSelectorIndex& index, const std::string& node,
                                           const Labels& labels) {
  std::unordered_set<std::string> out;
  index.AddCandidates(node, labels, &out);
  return out;
}

Selector Labelled(Labels labels) { return {std::move(labels), {}, {}}; }
Selector Expressions(std::vector<std::string> expressions) {
  return {{}, std::move(expressions), {}};
}
Selector Ids(std::vector<std::string> ids) { return {{}, {}, std::move(ids)}; }

TEST(JobSelectorIndexTest, JobsAreFiledUnderWhatEveryNodeTheySelectMustHave) {
  JobSelectorIndex index;
  index.Set("by-label", Labelled({{"role", "edge"}, {"zone", "a"}}));
  index.Set("by-id", Ids({"n-1", "n-2"}));
  index.Set("by-in", Expressions({"zone in (a,b)"}));
  index.Set("by-equals", Expressions({"gpu", "model=x1"}));
  index.Set("not-in", Expressions({"zone notin (c)"}));
  index.Set("everything", {});
  EXPECT_EQ(index.unindexed_size(), 2u);  // notin only, and the empty selector

  using Set = std::unordered_set<std::string>;
  EXPECT_EQ(Candidates(index, "n-9", {{"role", "core"}}), (Set{"not-in", "everything"}));
  EXPECT_EQ(Candidates(index, "n-9", {{"role", "edge"}, {"zone", "b"}}),
            (Set{"by-label", "by-in", "not-in", "everything"}));
  EXPECT_EQ(Candidates(index, "n-2", {{"model", "x1"}}),
            (Set{"by-id", "by-equals", "not-in", "everything"}));

  // re-filed when the selector changes, gone when erased
  index.Set("by-label", Labelled({{"role", "core"}}));
  EXPECT_EQ(Candidates(index, "n-9", {{"role", "core"}}),
            (Set{"by-label", "not-in", "everything"}));
  EXPECT_EQ(Candidates(index, "n-9", {{"role", "edge"}}), (Set{"not-in", "everything"}));
  index.Erase("by-label");
  index.Erase("everything");
  EXPECT_EQ(Candidates(index, "n-9", {{"role", "core"}}), (Set{"not-in"}));
  index.Clear();
  EXPECT_TRUE(Candidates(index, "n-1", {{"zone", "a"}}).empty());
}

// Random selectors and nodes: a job that matches is always a candidate.
TEST(JobSelectorIndexTest, EveryMatchingJobIsACandidate) {
  std::mt19937 rng(20261205);
  const std::vector<std::string> keys = {"role", "zone", "gpu", "tier"};
  const std::vector<std::string> values = {"a", "b", "c", "1", "5"};
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  const std::vector<std::string> ops = {"=", "!=", " in ", " notin ", "", "!", ">", "<"};
  for (int round = 0; round < 200; ++round) {
    JobSelectorIndex index;
    std::vector<std::pair<std::string, NodeSelector>> jobs;
    for (int j = 0; j < 20; ++j) {
      Selector s;
      const int kind = std::uniform_int_distribution<int>(0, 3)(rng);
      if (kind == 0) s.match_ids = {"n-" + pick(values)};
      if (kind <= 1 && rng() % 2) s.match_labels[pick(keys)] = pick(values);
      for (int e = 0; e < static_cast<int>(rng() % 3); ++e) {
        const std::string op = pick(ops);
        const std::string key = pick(keys);
        if (op == " in " || op == " notin ") {
          s.match_expressions.push_back(key + op + "(" + pick(values) + "," + pick(values) + ")");
        } else if (op.empty()) {
          s.match_expressions.push_back(key);
        } else if (op == "!") {
          s.match_expressions.push_back("!" + key);
        } else if (op == ">" || op == "<") {
          s.match_expressions.push_back(key + op + "3");
        } else {
          s.match_expressions.push_back(key + op + pick(values));
        }
      }
      Result<NodeSelector> compiled = NodeSelector::Create(s);
      ASSERT_TRUE(compiled.ok()) << compiled.status().message();
      const std::string id = "job-" + std::to_string(j);
      index.Set(id, s);
      jobs.emplace_back(id, *compiled);
    }
    for (int n = 0; n < 20; ++n) {
      const std::string node = "n-" + pick(values);
      Labels labels;
      for (const std::string& k : keys) {
        if (rng() % 2) labels[k] = pick(values);
      }
      const std::unordered_set<std::string> candidates = Candidates(index, node, labels);
      for (const auto& [id, selector] : jobs) {
        if (selector.Matches(node, labels)) {
          EXPECT_TRUE(candidates.count(id))
              << id << " matches " << node << " but is not a candidate";
        }
      }
    }
  }
}

}  // namespace
}  // namespace drover::controller
