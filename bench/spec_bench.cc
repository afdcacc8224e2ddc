// Benchmarks of the job-spec path the API server runs on every PUT: parse the seed's example
// request, then decode, normalise and validate it; and the same from YAML, as `drover apply` does.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "api/document.h"
#include "api/job_codec.h"
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

std::string SeedRequestText() {
  std::string seed = ReadFile(std::string(DROVER_SHARED_DIR) + "/seed/000_55c649b16cc764b8.txt");
  size_t start = seed.find("\n{\n");
  if (start == std::string::npos) {
    // CI always has ../shared; fall back to the copy in the examples.
    return ReadFile(std::string(DROVER_SOURCE_DIR) +
                    "/manifests/seed/seed-log-processor.request.json");
  }
  return seed.substr(start + 1);
}

void BM_ParseJsonSeedRequest(benchmark::State& state) {
  const std::string text = SeedRequestText();
  for (auto _ : state) {
    Result<Document> d = ParseJson(text);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseJsonSeedRequest);

void BM_ParseAndValidateSeedRequest(benchmark::State& state) {
  const std::string text = SeedRequestText();
  for (auto _ : state) {
    Result<Document> d = ParseJson(text);
    CheckedRequest checked = CheckPutJobRequest(d->value);
    if (!checked.ok()) state.SkipWithError("seed did not validate");
    benchmark::DoNotOptimize(checked);
  }
}
BENCHMARK(BM_ParseAndValidateSeedRequest);

void BM_ParseAndValidateSeedYaml(benchmark::State& state) {
  const std::string text =
      ReadFile(std::string(DROVER_SOURCE_DIR) + "/manifests/examples/seed-log-processor.yaml");
  for (auto _ : state) {
    Result<std::vector<Document>> d = ParseYaml(text);
    CheckedRequest checked = CheckPutJobRequest((*d)[0].value);
    if (!checked.ok()) state.SkipWithError("seed did not validate");
    benchmark::DoNotOptimize(checked);
  }
}
BENCHMARK(BM_ParseAndValidateSeedYaml);

void BM_EncodeSeedJson(benchmark::State& state) {
  CheckedRequest checked = CheckPutJobRequest(ParseJson(SeedRequestText())->value);
  for (auto _ : state) {
    std::string out = EncodeJobSpec(checked.spec()).dump();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_EncodeSeedJson);

void BM_SpecDiffOneFieldChanged(benchmark::State& state) {
  CheckedRequest checked = CheckPutJobRequest(ParseJson(SeedRequestText())->value);
  JobSpec changed = checked.spec();
  changed.priority = 90;
  for (auto _ : state) {
    std::string diff = SpecDiff(&checked.spec(), changed);
    benchmark::DoNotOptimize(diff);
  }
}
BENCHMARK(BM_SpecDiffOneFieldChanged);

}  // namespace
}  // namespace drover

BENCHMARK_MAIN();
