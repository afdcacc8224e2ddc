#include "api/validation.h"

#include <algorithm>
#include <optional>
#include <set>

#include "api/document.h"
#include "api/labels.h"
#include "api/selector.h"

namespace drover {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool IsValidObjectName(std::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// "j-" followed by a canonical lowercase UUID: the shape of server-assigned job ids.
bool LooksLikeJobId(std::string_view s) {
  if (s.size() != 38 || s.substr(0, 2) != "j-") return false;
  std::string_view u = s.substr(2);
  for (size_t i = 0; i < u.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !IsHex(u[i])) return false;
  }
  return true;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

void ValidateName(const std::string& name, const std::string& path, Diagnostics* d) {
  if (name.empty()) return;  // "required" was reported by the decoder
  if (name.size() > kMaxJobNameLength) {
    d->Error(path, "must be at most " + std::to_string(kMaxJobNameLength) + " characters (got " +
                       std::to_string(name.size()) + ")");
  } else if (!IsValidObjectName(name, kMaxJobNameLength)) {
    d->Error(path,
             "must consist of lowercase letters, digits, '-', '_' or '.', and start and end "
             "with a letter or digit (got " +
                 Quoted(name) + ")");
  } else if (LooksLikeJobId(name)) {
    d->Error(path, "must not have the form of a job id (j-<uuid>): it would be read as an id");
  }
}

void ValidateNamespace(const std::string& ns, const std::string& path, Diagnostics* d) {
  if (ns.size() > kMaxNamespaceLength) {
    d->Error(path, "must be at most " + std::to_string(kMaxNamespaceLength) + " characters (got " +
                       std::to_string(ns.size()) + ")");
  } else if (!IsValidObjectName(ns, kMaxNamespaceLength)) {
    d->Error(path,
             "must consist of lowercase letters, digits, '-', '_' or '.', and start and end "
             "with a letter or digit (got " +
                 Quoted(ns) + ")");
  }
}

void ValidateLabels(const Labels& labels, const std::string& path, Diagnostics* d) {
  for (const auto& [key, value] : labels) {
    std::string field = FieldPathAppendKey(path, key);
    if (auto e = LabelKeyError(key)) d->Error(field, "invalid label key: " + *e);
    if (auto e = LabelValueError(value)) d->Error(field, "invalid label value: " + *e);
  }
}

void ValidateSelector(const Selector& s, const std::string& path, Diagnostics* d) {
  ValidateLabels(s.match_labels, FieldPathAppendKey(path, "match_labels"), d);
  std::string expressions = FieldPathAppendKey(path, "match_expressions");
  for (size_t i = 0; i < s.match_expressions.size(); ++i) {
    Result<Requirement> r = ParseRequirement(s.match_expressions[i]);
    if (!r.ok()) d->Error(FieldPathAppendIndex(expressions, i), r.status().message());
  }
  std::string ids = FieldPathAppendKey(path, "match_ids");
  for (size_t i = 0; i < s.match_ids.size(); ++i) {
    if (auto e = NodeIdError(s.match_ids[i])) {
      d->Error(FieldPathAppendIndex(ids, i), "invalid node id: " + *e);
    }
  }
}

void CheckRange(const std::string& field, double value, double min, double max, Diagnostics* d,
                std::string_view unit = "") {
  if (value < min || value > max) {
    auto fmt = [](double v) {
      Json j = v;
      if (v == static_cast<double>(static_cast<int64_t>(v))) j = static_cast<int64_t>(v);
      return j.dump();
    };
    d->Error(field, "must be between " + fmt(min) + " and " + fmt(max) + std::string(unit) +
                        " (got " + fmt(value) + ")");
  }
}

void ValidateRollout(const Rollout& r, JobType type, const std::string& path, Diagnostics* d) {
  (void)type;
  auto field = [&](std::string_view f) { return FieldPathAppendKey(path, f); };
  const std::string strategy(RolloutStrategyName(r.strategy));
  CheckRange(field("max_parallel"), r.max_parallel, 0, 100, d, " percent");
  if (r.max_failed_nodes < 0) {
    d->Error(field("max_failed_nodes"),
             "must be 0 or more (got " + std::to_string(r.max_failed_nodes) + ")");
  }
  CheckRange(field("max_failed_nodes_percent"), r.max_failed_nodes_percent, 0, 100, d);
  if (r.canary_count < 0) {
    d->Error(field("canary_count"),
             "must be 0 or more (got " + std::to_string(r.canary_count) + ")");
  }
  CheckRange(field("canary_percent"), r.canary_percent, 0, 100, d);

  const bool canary = r.strategy == RolloutStrategy::kCanary;
  if (canary && r.canary_count <= 0 && r.canary_percent <= 0) {
    d->Error(field("canary_count"),
             "strategy \"canary\" needs canary_count > 0 or canary_percent > 0");
  }
  if (!canary) {
    if (r.auto_promote) {
      d->Warning(field("auto_promote"), "ignored: only strategy \"canary\" promotes");
    }
    if (r.canary_count > 0) {
      d->Warning(field("canary_count"), "ignored for strategy " + Quoted(strategy));
    }
    if (r.canary_percent > 0) {
      d->Warning(field("canary_percent"), "ignored for strategy " + Quoted(strategy));
    }
  }

  const bool needs_health = r.strategy != RolloutStrategy::kImmediate;
  std::string hc_path = field("health_check");
  auto hc = [&](std::string_view f) { return FieldPathAppendKey(hc_path, f); };
  if (!r.health_check) {
    if (needs_health) d->Error(hc("deadline"), "required for strategy " + Quoted(strategy));
    return;
  }
  const HealthCheck& h = *r.health_check;
  if (!needs_health) {
    d->Warning(hc_path, "ignored for strategy \"immediate\"");
  }
  if (h.deadline.nanoseconds() < 0) {
    d->Error(hc("deadline"), "must be greater than 0 (got " + h.deadline.ToString() + ")");
  } else if (h.deadline.nanoseconds() == 0 && needs_health) {
    d->Error(hc("deadline"), "required for strategy " + Quoted(strategy) +
                                 ": the longest wait for an execution to become healthy");
  }
  if (h.interval.nanoseconds() <= 0) {
    d->Error(hc("interval"), "must be greater than 0 (got " + h.interval.ToString() +
                                 "); leave it out for the default 10s");
  }
  if (h.success_threshold < 1) {
    d->Error(hc("success_threshold"),
             "must be 1 or more (got " + std::to_string(h.success_threshold) + ")");
  }
  if (h.failure_threshold < 1) {
    d->Error(hc("failure_threshold"),
             "must be 1 or more (got " + std::to_string(h.failure_threshold) + ")");
  }
  CheckRange(hc("max_error_rate"), h.max_error_rate, 0, 1, d);
  if (h.deadline.nanoseconds() > 0 && h.interval.nanoseconds() > 0 && h.success_threshold >= 1) {
    // interval x success_threshold, saturating instead of overflowing.
    int64_t interval = h.interval.nanoseconds();
    bool overflow = interval > INT64_MAX / h.success_threshold;
    int64_t needed = overflow ? INT64_MAX : interval * h.success_threshold;
    if (h.deadline.nanoseconds() <= needed) {
      std::string needed_text =
          overflow ? std::string("more than 292 years") : Duration::Nanoseconds(needed).ToString();
      d->Error(hc("deadline"), "must exceed interval x success_threshold (" +
                                   h.interval.ToString() + " x " +
                                   std::to_string(h.success_threshold) + " = " + needed_text +
                                   "), or no execution could ever become healthy");
    }
  }
}

// `type` is unknown when spec.type itself was invalid: the type-specific rules are skipped.
void ValidateTimeouts(const Timeouts& t, std::optional<JobType> type, const std::string& path,
                      Diagnostics* d) {
  auto field = [&](std::string_view f) { return FieldPathAppendKey(path, f); };
  bool negative = false;
  for (auto [name, value] :
       {std::pair<std::string_view, int64_t>{"execution_timeout", t.execution_timeout},
        {"queue_timeout", t.queue_timeout},
        {"total_timeout", t.total_timeout}}) {
    if (value < 0) {
      d->Error(field(name),
               "must be 0 (none) or a number of seconds (got " + std::to_string(value) + ")");
      negative = true;
    }
  }
  if (!type) return;
  bool one_shot = type == JobType::kQuery || type == JobType::kUpdate;
  if (t.total_timeout > 0 && !one_shot) {
    d->Warning(field("total_timeout"),
               std::string("ignored for ") + std::string(JobTypeName(*type)) +
                   " jobs: a long-running job is never stopped by total_timeout");
    return;
  }
  if (!negative && t.total_timeout > 0 && t.queue_timeout + t.execution_timeout > t.total_timeout) {
    d->Error(field("total_timeout"),
             "must be at least queue_timeout + execution_timeout (" +
                 std::to_string(t.queue_timeout) + " + " + std::to_string(t.execution_timeout) +
                 " = " + std::to_string(t.queue_timeout + t.execution_timeout) +
                 " seconds), since the total includes the queue and the run");
  }
}

}  // namespace

void NormalizeJobSpec(JobSpec* spec) {
  for (auto it = spec->meta.begin(); it != spec->meta.end();) {
    if (std::string_view(it->first).substr(0, kReservedMetaPrefix.size()) == kReservedMetaPrefix) {
      it = spec->meta.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string>& ids = spec->selector.match_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (std::string& expression : spec->selector.match_expressions) {
    Result<Requirement> r = ParseRequirement(expression);
    if (r.ok()) expression = r->ToString();
  }
  if (spec->type == JobType::kConfig && spec->config.is_object()) {
    auto files = spec->config.find("files");
    if (files != spec->config.end() && files->is_array()) {
      for (Json& file : *files) {
        if (file.is_object() && (!file.contains("mode") || file["mode"].is_null())) {
          file["mode"] = "0644";
        }
      }
    }
  }
}

void ValidateJobSpec(const JobSpec& spec, const std::string& path, Diagnostics* d,
                     bool check_config) {
  auto field = [&](std::string_view f) { return FieldPathAppendKey(path, f); };
  ValidateName(spec.name, field("name"), d);
  ValidateNamespace(spec.namespace_, field("namespace"), d);
  if (spec.description.size() > kMaxDescriptionBytes) {
    d->Error(field("description"), "must be at most " + std::to_string(kMaxDescriptionBytes) +
                                       " bytes (got " + std::to_string(spec.description.size()) +
                                       ")");
  }
  ValidateLabels(spec.labels, field("labels"), d);
  for (const auto& [key, value] : spec.meta) {
    std::string f = FieldPathAppendKey(field("meta"), key);
    if (key.empty() || key.size() > kMaxMetaKeyLength) {
      d->Error(f, "meta keys must be 1 to " + std::to_string(kMaxMetaKeyLength) + " characters");
    }
    if (value.size() > kMaxMetaValueBytes) {
      d->Error(f, "must be at most " + std::to_string(kMaxMetaValueBytes) + " bytes (got " +
                      std::to_string(value.size()) + ")");
    }
  }
  ValidateSelector(spec.selector, field("selector"), d);
  ValidateRollout(spec.rollout, spec.type, field("rollout"), d);
  ValidateTimeouts(spec.timeouts, check_config ? std::optional(spec.type) : std::nullopt,
                   field("timeouts"), d);
  if (check_config) ValidateJobConfig(spec.type, spec.config, field("config"), d);
}

CheckedRequest CheckPutJobRequest(const Json& body) {
  CheckedRequest out;
  out.decoded = DecodePutJobRequest(body, &out.diagnostics);
  if (!body.is_object()) return out;
  // Validate before normalising, so that list indices in messages match the user's document.
  Diagnostics rules;
  ValidateJobSpec(out.decoded.request.spec, "spec", &rules, out.decoded.type_known);
  NormalizeJobSpec(&out.decoded.request.spec);
  // A field the decoder already rejected kept its default; judging the default again would only
  // repeat the problem in other words.
  std::set<std::string> rejected;
  for (const FieldIssue& e : out.diagnostics.errors()) rejected.insert(e.field);
  for (const FieldIssue& e : rules.errors()) {
    if (!rejected.count(e.field)) out.diagnostics.Error(e.field, e.message);
  }
  for (const FieldIssue& w : rules.warnings()) out.diagnostics.Warning(w.field, w.message);
  return out;
}

}  // namespace drover
