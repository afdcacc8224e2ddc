// Pipeline engine throughput on one core: a file of ~100-byte JSON lines read to its end (query
// mode) and written to a file, with the seed mapping (`root = this` + `processed_at = now()`)
// and with no processor at all, in the same run. Prints messages/s for both and their ratio.
// The engine does all its work on the thread that calls Run(), so the numbers are one core's.
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

// ~100-byte JSON log lines with varied values (fixed seed).
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

BENCHMARK(BM_FileToFile_SeedMapping)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_FileToFile_NoProcessors)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

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
  for (const auto& [name, rate] : reporter.rates) {
    if (name.find("SeedMapping") != std::string::npos) mapping = rate;
    if (name.find("NoProcessors") != std::string::npos) plain = rate;
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
  std::filesystem::remove_all(drover::TheFiles().dir);
  return 0;
}
