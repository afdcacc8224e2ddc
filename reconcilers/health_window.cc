#include "reconcilers/health_window.h"

namespace drover {

std::string_view HealthVerdictName(HealthVerdict verdict) {
  switch (verdict) {
    case HealthVerdict::kHealthy:
      return "healthy";
    case HealthVerdict::kUnhealthy:
      return "unhealthy";
    case HealthVerdict::kUnknown:
      break;
  }
  return "unknown";
}

bool WindowHealthy(const WindowCounts& window, double max_error_rate) {
  if (window.crashed) return false;
  const uint64_t handled = window.processed + window.errors;
  if (handled == 0) return true;  // no data is not failure
  const double rate = static_cast<double>(window.errors) / static_cast<double>(handled);
  return !(rate > max_error_rate);
}

HealthVerdict HealthJudge::Close(const WindowCounts& window) {
  if (WindowHealthy(window, rules_.max_error_rate)) {
    ++healthy_streak_;
    unhealthy_streak_ = 0;
    if (healthy_streak_ >= rules_.success_threshold) verdict_ = HealthVerdict::kHealthy;
  } else {
    ++unhealthy_streak_;
    healthy_streak_ = 0;
    if (unhealthy_streak_ >= rules_.failure_threshold) verdict_ = HealthVerdict::kUnhealthy;
  }
  return verdict_;
}

}  // namespace drover
