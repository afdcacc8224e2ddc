// Running pipelines with an external Bento-compatible binary (`drover agent --pipeline-engine`):
// the agent writes the job's config with an HTTP server for metrics on a loopback port, starts
// `ENGINE -c CONFIG`, and reads the health counts from the engine's Prometheus metrics.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace drover::agent {

struct EngineCounts {
  uint64_t processed = 0;  // output_sent
  uint64_t errors = 0;     // processor_error + output_error
};

// The job's config with `http` (enabled, on 127.0.0.1:PORT) and `metrics.prometheus` set.
nlohmann::json ExternalEngineConfig(const nlohmann::json& config, int metrics_port);

// Sums Bento's counters in a Prometheus text exposition (every label set; `_total` suffixes
// accepted). nullopt when none of them is present.
std::optional<EngineCounts> ParseEngineMetrics(std::string_view exposition);

// A free TCP port on 127.0.0.1 now (0 when none could be found).
int FreeLoopbackPort();

// GET http://127.0.0.1:PORT/PATH with a short timeout; the body of a 200 answer, else nullopt.
std::optional<std::string> LoopbackGet(int port, const std::string& path, int timeout_ms);

}  // namespace drover::agent
