// Node-selector matching over a fleet of 100,000 nodes with 6-8 labels each (fixed seed):
// CompiledSelector over interned labels against NodeSelector over std::map labels, for one
// selector of five requirements. "time_per_match" is the CPU time of one node-match.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "api/selector.h"

namespace drover {
namespace {

constexpr int kNodes = 100'000;

struct Fleet {
  std::vector<Labels> labels;
  LabelDictionary dictionary;
  std::vector<InternedLabels> interned;
};

// Every node has fleet, region and os, then 3 to 5 of the optional keys: 6 to 8 labels.
Fleet& TheFleet() {
  static Fleet* fleet = [] {
    auto* built = new Fleet;
    std::mt19937 random(42);
    auto pick = [&random](const std::vector<std::string>& from) {
      return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(random)];
    };
    const std::vector<std::pair<std::string, std::vector<std::string>>> optional = {
        {"env", {"prod", "staging", "dev"}},
        {"tier", {"web", "api", "cache", "batch"}},
        {"arch", {"amd64", "arm64"}},
        {"gpu", {"", "nvidia-t4"}},
        {"example.com/zone", {"a", "b", "c"}},
        {"rack", {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"}},
        {"kernel", {"5.10", "6.1"}},
        {"example.com/team", {"core", "ml", "data"}},
    };
    std::vector<size_t> order(optional.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    built->labels.reserve(kNodes);
    for (int n = 0; n < kNodes; ++n) {
      Labels labels{{"fleet", "edge"},
                    {"region", pick({"us-east", "us-west", "eu-central", "ap-south"})},
                    {"os", pick({"linux", "windows"})}};
      std::shuffle(order.begin(), order.end(), random);
      const int extra = std::uniform_int_distribution<int>(3, 5)(random);
      for (int i = 0; i < extra; ++i) {
        const auto& [key, values] = optional[order[i]];
        labels[key] = pick(values);
      }
      built->labels.push_back(std::move(labels));
    }
    built->interned.reserve(kNodes);
    for (const Labels& labels : built->labels) {
      built->interned.push_back(built->dictionary.Intern(labels));
    }
    return built;
  }();
  return *fleet;
}

// Selective: most nodes fail one of the five, at whichever term comes first.
const std::vector<std::string> kMixed = {"env=prod", "region in (us-east,us-west,eu-central)",
                                         "tier notin (cache,batch)", "gpu", "arch!=arm64"};
// Every node passes, so every node evaluates all five requirements.
const std::vector<std::string> kAllPass = {"fleet=edge",
                                           "region in (us-east,us-west,eu-central,"
                                           "ap-south)",
                                           "tier notin (db)", "os", "arch!=sparc"};

NodeSelector MakeSelector(const std::vector<std::string>& expressions) {
  Result<NodeSelector> selector = NodeSelector::Create({}, expressions, {});
  if (!selector.ok()) {
    std::cerr << selector.status().ToString() << "\n";
    std::abort();
  }
  return std::move(selector).value();
}

void Report(benchmark::State& state, int64_t matched) {
  state.SetItemsProcessed(state.iterations() * kNodes);
  state.counters["time_per_match"] = benchmark::Counter(
      static_cast<double>(kNodes),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["matched_pct"] = 100.0 * static_cast<double>(matched) / kNodes;
}

void BM_CompiledSelector(benchmark::State& state, const std::vector<std::string>* expressions) {
  Fleet& fleet = TheFleet();
  const CompiledSelector selector =
      CompiledSelector::Compile(MakeSelector(*expressions), fleet.dictionary);
  int64_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const InternedLabels& labels : fleet.interned) matched += selector.Matches(labels);
    benchmark::DoNotOptimize(matched);
  }
  Report(state, matched);
}

void BM_NodeSelector(benchmark::State& state, const std::vector<std::string>* expressions) {
  Fleet& fleet = TheFleet();
  const NodeSelector selector = MakeSelector(*expressions);
  int64_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const Labels& labels : fleet.labels) matched += selector.MatchesLabels(labels);
    benchmark::DoNotOptimize(matched);
  }
  Report(state, matched);
}

BENCHMARK_CAPTURE(BM_CompiledSelector, mixed, &kMixed)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CompiledSelector, all_pass, &kAllPass)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_NodeSelector, mixed, &kMixed)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_NodeSelector, all_pass, &kAllPass)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace drover

BENCHMARK_MAIN();
