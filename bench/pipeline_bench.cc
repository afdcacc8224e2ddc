// Pipeline engine throughput on one core: a file of ~100-byte (117 on average) JSON lines read to
// its end (query mode) and written to a file, with the seed mapping (`root = this` + `processed_at
// = now()`) and with no processor at all, in the same run. Prints messages/s for both and their
// ratio. The engine does all its work on the thread that calls Run(), so the numbers are one
// core's. A third benchmark applies the mapping alone to the same lines in memory, to tell the
// engine's share of the cost from Bloblang's.
//
//   ./build/pipeline_bench [--lines=N] [benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "pipeline/engine.h"

namespace drover {
namespace {

int g_lines = 200'000;

struct Files {
  std::filesystem::path dir;
  std::string input;
  std::string output;
  size_t input_bytes = 0;
};

// JSON log lines of ~117 bytes with varied values (fixed seed).
Files& TheFiles() {
  static Files* files = [] {
    auto* f = new Files;
    f->dir = std::filesystem::temp_directory_path() /
             ("drover-pipeline-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(f->dir);
    f->input = (f->dir / "in.log").string();
    f->output = (f->dir / "out.log").string();
    std::mt19937 random(7);
    const char* levels[] = {"info", "warn", "error", "debug"};
    const char* messages[] = {"request served", "cache miss", "upstream slow", "retrying"};
    std::ofstream out(f->input, std::ios::binary);
    for (int i = 0; i < g_lines; ++i) {
      std::string line = "{\"ts\":\"2024-05-01T12:00:" + std::to_string(10 + i % 50) +
                         ".123Z\",\"level\":\"" + levels[random() % 4] + "\",\"host\":\"edge-" +
                         std::to_string(random() % 1000) + "\",\"msg\":\"" +
                         messages[random() % 4] +
                         "\",\"latency_ms\":" + std::to_string(random() % 5000) +
                         ",\"id\":" + std::to_string(i) + "}\n";
      f->input_bytes += line.size();
      out << line;
    }
    return f;
  }();
  return *files;
}

void RunFileToFile(benchmark::State& state, const nlohmann::json& processors) {
  Files& files = TheFiles();
  nlohmann::json config = {{"input", {{"file", {{"paths", {files.input}}}}}},
                           {"pipeline", {{"processors", processors}}},
                           {"output", {{"file", {{"path", files.output}}}}}};
  uint64_t messages = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove(files.output);
    pipeline::EngineOptions options;
    options.query = true;
    Result<std::unique_ptr<pipeline::Engine>> engine = pipeline::Engine::Create(config, options);
    if (!engine.ok()) {
      state.SkipWithError(engine.status().ToString().c_str());
      return;
    }
    state.ResumeTiming();
    Status status = (*engine)->Run();
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
    messages += (*engine)->counts().processed;
  }
  state.SetItemsProcessed(static_cast<int64_t>(messages));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * files.input_bytes));
  state.counters["lines"] = g_lines;
}

void BM_FileToFile_SeedMapping(benchmark::State& state) {
  RunFileToFile(state, {{{"mapping", "root = this\nroot.processed_at = now()\n"}}});
}

void BM_FileToFile_NoProcessors(benchmark::State& state) {
  RunFileToFile(state, nlohmann::json::array());
}

// The seed mapping alone on the same lines, in memory: how much of the mapping run is Bloblang.
void BM_SeedMappingApplyOnly(benchmark::State& state) {
  Files& files = TheFiles();
  Result<bloblang::Mapping> mapping =
      bloblang::Mapping::Parse("root = this\nroot.processed_at = now()\n");
  if (!mapping.ok()) {
    state.SkipWithError(mapping.status().ToString().c_str());
    return;
  }
  std::vector<bloblang::Message> messages;
  std::ifstream in(files.input, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    messages.push_back({line, {{"path", files.input}}});
  }
  const bloblang::Environment& environment = bloblang::SystemEnvironment();
  for (auto _ : state) {
    for (const bloblang::Message& message : messages) {
      benchmark::DoNotOptimize(mapping->Apply(message, environment));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * messages.size()));
}

BENCHMARK(BM_FileToFile_SeedMapping)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_FileToFile_NoProcessors)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_SeedMappingApplyOnly)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// Messages/s of one benchmark: by wall-clock time, and by the CPU time of the thread that ran
// the engine (what one core does when nothing else wants it).
struct Rate {
  double wall = 0;
  double cpu = 0;
};

// Keeps each benchmark's rates for the summary lines.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.cpu_accumulated_time <= 0) continue;
      double messages = static_cast<double>(g_lines) * static_cast<double>(run.iterations);
      rates[run.benchmark_name()] = {messages / run.real_accumulated_time,
                                     messages / run.cpu_accumulated_time};
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, Rate> rates;
};

}  // namespace
}  // namespace drover

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--lines=", 8) == 0) drover::g_lines = std::atoi(argv[i] + 8);
  }
  benchmark::Initialize(&argc, argv);
  drover::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  drover::Rate mapping;
  drover::Rate plain;
  drover::Rate apply_only;
  for (const auto& [name, rate] : reporter.rates) {
    if (name.rfind("BM_FileToFile_SeedMapping", 0) == 0) mapping = rate;
    if (name.rfind("BM_FileToFile_NoProcessors", 0) == 0) plain = rate;
    if (name.rfind("BM_SeedMappingApplyOnly", 0) == 0) apply_only = rate;
  }
  if (mapping.wall > 0 && plain.wall > 0) {
    auto line = [&](const char* what, double m, double p) {
      std::cout << what << ": seed mapping " << static_cast<int64_t>(m)
                << " messages/s, no processors " << static_cast<int64_t>(p) << " messages/s, ratio "
                << m / p << "\n";
    };
    std::cout << "\n";
    line("wall clock", mapping.wall, plain.wall);
    line("engine thread CPU", mapping.cpu, plain.cpu);
  }
  if (apply_only.cpu > 0 && mapping.cpu > 0) {
    std::cout << "per message (CPU): seed mapping run " << 1e9 / mapping.cpu
              << " ns, of which Mapping::Apply " << 1e9 / apply_only.cpu << " ns; no-processor run "
              << 1e9 / plain.cpu << " ns\n";
  }
  std::filesystem::remove_all(drover::TheFiles().dir);
  return 0;
}
