// Pipeline engine throughput on one core: a file of ~100-byte (117 on average) JSON lines read to
// its end (query mode) and written to a file, with the seed mapping (`root = this` + `processed_at
// = now()`) and with no processor at all, in the same run. Prints messages/s for both and their
// ratio. The engine does all its work on the thread that calls Run(), so the numbers are one
// core's. Two files hold the same log lines: one with the keys in a logger's insertion order
// (ts, level, host, msg, latency_ms, id), one with them sorted (as a JSON logger that sorts its
// keys, or an earlier Bento stage, writes them). Apply-only benchmarks run the mapping alone on
// the same lines in memory, the way the engine calls it, to tell the engine's share of the cost
// from Bloblang's, and once through the general path (no rewrite of the text) for comparison.
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

#include "bloblang/internals.h"
#include "pipeline/engine.h"

namespace drover {
namespace {

int g_lines = 200'000;
constexpr const char* kSeedMapping = "root = this\nroot.processed_at = now()\n";

struct Files {
  std::filesystem::path dir;
  std::string input;         // keys in insertion order
  std::string sorted_input;  // the same lines, keys sorted
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
    f->sorted_input = (f->dir / "in-sorted.log").string();
    f->output = (f->dir / "out.log").string();
    std::mt19937 random(7);
    const char* levels[] = {"info", "warn", "error", "debug"};
    const char* messages[] = {"request served", "cache miss", "upstream slow", "retrying"};
    std::ofstream out(f->input, std::ios::binary);
    std::ofstream sorted(f->sorted_input, std::ios::binary);
    for (int i = 0; i < g_lines; ++i) {
      std::string ts = "\"ts\":\"2024-05-01T12:00:" + std::to_string(10 + i % 50) + ".123Z\"";
      std::string level = "\"level\":\"" + std::string(levels[random() % 4]) + "\"";
      std::string host = "\"host\":\"edge-" + std::to_string(random() % 1000) + "\"";
      std::string msg = "\"msg\":\"" + std::string(messages[random() % 4]) + "\"";
      std::string latency = "\"latency_ms\":" + std::to_string(random() % 5000);
      std::string id = "\"id\":" + std::to_string(i);
      std::string line =
          "{" + ts + "," + level + "," + host + "," + msg + "," + latency + "," + id + "}\n";
      f->input_bytes += line.size();
      out << line;
      sorted << "{" + host + "," + id + "," + latency + "," + level + "," + msg + "," + ts + "}\n";
    }
    return f;
  }();
  return *files;
}

void RunFileToFile(benchmark::State& state, const std::string& input,
                   const nlohmann::json& processors) {
  Files& files = TheFiles();
  nlohmann::json config = {{"input", {{"file", {{"paths", {input}}}}}},
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
  RunFileToFile(state, TheFiles().input, {{{"mapping", kSeedMapping}}});
}

void BM_FileToFile_NoProcessors(benchmark::State& state) {
  RunFileToFile(state, TheFiles().input, nlohmann::json::array());
}

void BM_FileToFile_SeedMapping_SortedKeys(benchmark::State& state) {
  RunFileToFile(state, TheFiles().sorted_input, {{{"mapping", kSeedMapping}}});
}

void BM_FileToFile_NoProcessors_SortedKeys(benchmark::State& state) {
  RunFileToFile(state, TheFiles().sorted_input, nlohmann::json::array());
}

// The seed mapping alone on the lines of `path`, in memory, called as the engine calls it: each
// line copied into a reused message, then mapped in place.
void RunApplyOnly(benchmark::State& state, const std::string& path, bool general_path) {
  Result<bloblang::Mapping> mapping = bloblang::Mapping::Parse(kSeedMapping);
  if (!mapping.ok()) {
    state.SkipWithError(mapping.status().ToString().c_str());
    return;
  }
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const bloblang::Environment& environment = bloblang::SystemEnvironment();
  bloblang::Message message{"", {{"path", path}}};
  std::string error;
  for (auto _ : state) {
    for (const std::string& line : lines) {
      message.content.assign(line);
      if (general_path) {
        benchmark::DoNotOptimize(
            bloblang::MappingInternals::ApplyGeneral(*mapping, message, environment));
      } else {
        benchmark::DoNotOptimize(mapping->ApplyInPlace(message, environment, &error));
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines.size()));
}

void BM_SeedMappingApplyOnly(benchmark::State& state) {
  RunApplyOnly(state, TheFiles().input, false);
}

void BM_SeedMappingApplyOnly_SortedKeys(benchmark::State& state) {
  RunApplyOnly(state, TheFiles().sorted_input, false);
}

void BM_SeedMappingApplyOnly_GeneralPath(benchmark::State& state) {
  RunApplyOnly(state, TheFiles().input, true);
}

BENCHMARK(BM_FileToFile_SeedMapping)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_FileToFile_NoProcessors)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_FileToFile_SeedMapping_SortedKeys)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);
BENCHMARK(BM_FileToFile_NoProcessors_SortedKeys)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);
BENCHMARK(BM_SeedMappingApplyOnly)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_SeedMappingApplyOnly_SortedKeys)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);
BENCHMARK(BM_SeedMappingApplyOnly_GeneralPath)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

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
  auto rate = [&](const std::string& name) {
    for (const auto& [run_name, r] : reporter.rates) {
      if (run_name.rfind(name + "/", 0) == 0 || run_name == name) return r;
    }
    return drover::Rate{};
  };
  auto report = [&](const char* input, const std::string& suffix) {
    drover::Rate mapping = rate("BM_FileToFile_SeedMapping" + suffix);
    drover::Rate plain = rate("BM_FileToFile_NoProcessors" + suffix);
    drover::Rate apply_only = rate("BM_SeedMappingApplyOnly" + suffix);
    if (mapping.wall <= 0 || plain.wall <= 0) return;
    auto line = [&](const char* what, double m, double p) {
      std::cout << input << ", " << what << ": seed mapping " << static_cast<int64_t>(m)
                << " messages/s, no processors " << static_cast<int64_t>(p) << " messages/s, ratio "
                << m / p << "\n";
    };
    line("wall clock", mapping.wall, plain.wall);
    line("engine thread CPU", mapping.cpu, plain.cpu);
    if (apply_only.cpu > 0) {
      std::cout << input << ", per message (CPU): seed mapping run " << 1e9 / mapping.cpu
                << " ns, of which Mapping::ApplyInPlace " << 1e9 / apply_only.cpu
                << " ns; no-processor run " << 1e9 / plain.cpu << " ns\n";
    }
  };
  std::cout << "\n";
  report("keys in insertion order", "");
  report("keys sorted", "_SortedKeys");
  drover::Rate general = rate("BM_SeedMappingApplyOnly_GeneralPath");
  if (general.cpu > 0) {
    std::cout << "general path (no text rewrite), keys in insertion order, per message (CPU): "
              << 1e9 / general.cpu << " ns\n";
  }
  std::filesystem::remove_all(drover::TheFiles().dir);
  return 0;
}
