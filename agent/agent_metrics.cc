#include "agent/agent_metrics.h"

#include <cpprest/http_listener.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <sstream>
#include <vector>

namespace drover::agent {

struct AgentMetrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Gauge>& executions =
      prometheus::BuildGauge()
          .Name("drover_agent_executions")
          .Help("Executions held by this agent, by state")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& heartbeats =
      prometheus::BuildCounter()
          .Name("drover_agent_heartbeats_total")
          .Help("Heartbeats sent to the controller, by result (ok, failed)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& restarts =
      prometheus::BuildCounter()
          .Name("drover_agent_restarts_total")
          .Help("Workload restarts under the restart policy, by job")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& messages =
      prometheus::BuildCounter()
          .Name("drover_agent_messages_total")
          .Help("Messages counted by the health windows, by job and result (processed, error)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& windows =
      prometheus::BuildCounter()
          .Name("drover_agent_health_windows_total")
          .Help("Closed health windows, by job and verdict (healthy, unhealthy)")
          .Register(registry);
  // SPEC §11's name for the messages the health windows count (the same counts as
  // drover_agent_messages_total, which stays for the dashboards that already use it).
  prometheus::Family<prometheus::Counter>& pipeline_messages =
      prometheus::BuildCounter()
          .Name("drover_agent_pipeline_messages_total")
          .Help(
              "Pipeline messages counted by the health windows, by job and result (processed, "
              "error)")
          .Register(registry);
  std::mutex mu;  // guards the set of states published in `executions`
  std::map<std::string, int64_t> last_states;
};

AgentMetrics::AgentMetrics() : impl_(std::make_unique<Impl>()) {
  // Every family shows from the start (SPEC §11): the unlabelled-by-job ones get their series.
  for (const char* state :
       {"pending", "starting", "running", "completed", "failed", "stopped", "lost"}) {
    impl_->executions.Add({{"state", state}});
  }
  impl_->heartbeats.Add({{"result", "ok"}});
  impl_->heartbeats.Add({{"result", "failed"}});
}
AgentMetrics::~AgentMetrics() = default;

void AgentMetrics::SetExecutions(const std::map<std::string, int64_t>& by_state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& [state, unused] : impl_->last_states) {
    if (!by_state.contains(state)) impl_->executions.Add({{"state", state}}).Set(0);
  }
  for (const auto& [state, n] : by_state) {
    impl_->executions.Add({{"state", state}}).Set(static_cast<double>(n));
  }
  impl_->last_states = by_state;
}

void AgentMetrics::CountHeartbeat(bool ok) {
  impl_->heartbeats.Add({{"result", ok ? "ok" : "failed"}}).Increment();
}

void AgentMetrics::CountRestart(const std::string& job) {
  impl_->restarts.Add({{"job", job}}).Increment();
}

void AgentMetrics::CountWindow(const std::string& job, uint64_t processed, uint64_t errors,
                               bool healthy) {
  impl_->messages.Add({{"job", job}, {"result", "processed"}})
      .Increment(static_cast<double>(processed));
  impl_->messages.Add({{"job", job}, {"result", "error"}}).Increment(static_cast<double>(errors));
  impl_->pipeline_messages.Add({{"job", job}, {"result", "processed"}})
      .Increment(static_cast<double>(processed));
  impl_->pipeline_messages.Add({{"job", job}, {"result", "error"}})
      .Increment(static_cast<double>(errors));
  impl_->windows.Add({{"job", job}, {"verdict", healthy ? "healthy" : "unhealthy"}}).Increment();
}

std::string AgentMetrics::Render() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry.Collect();
  // prometheus-cpp leaves out families without series (the ones labelled by job, before the
  // first window closes); show their HELP and TYPE anyway, so that every family is visible.
  const struct {
    const char* name;
    const char* help;
  } kByJob[] = {
      {"drover_agent_restarts_total", "Workload restarts under the restart policy, by job"},
      {"drover_agent_messages_total",
       "Messages counted by the health windows, by job and result (processed, error)"},
      {"drover_agent_health_windows_total",
       "Closed health windows, by job and verdict (healthy, unhealthy)"},
      {"drover_agent_pipeline_messages_total",
       "Pipeline messages counted by the health windows, by job and result (processed, error)"},
  };
  for (const auto& family : kByJob) {
    bool present = false;
    for (const prometheus::MetricFamily& f : families) present = present || f.name == family.name;
    if (!present) {
      families.push_back({family.name, family.help, prometheus::MetricType::Counter, {}});
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

namespace http = web::http;

struct MetricsServer::Impl {
  std::unique_ptr<http::experimental::listener::http_listener> listener;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // best effort at shutdown
  }
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                            const AgentMetrics& metrics) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->listener = std::make_unique<http::experimental::listener::http_listener>(
        web::uri("http://" + address));
    impl->listener->support([&metrics](http::http_request request) {
      if (request.method() != http::methods::GET || request.relative_uri().path() != "/metrics") {
        request.reply(http::status_codes::NotFound, "not found: GET /metrics\n").wait();
        return;
      }
      request.reply(http::status_codes::OK, metrics.Render(), "text/plain; version=0.0.4").wait();
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return InvalidError("--metrics-listen " + address + ": " + e.what());
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace drover::agent
