#include "api/job_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "api/document.h"
#include "api/labels.h"

namespace drover {
namespace {

std::string_view KindOf(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    default:
      return "null";
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string OneOf(std::initializer_list<std::string_view> names) {
  std::string out;
  size_t i = 0;
  for (std::string_view n : names) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += n;
    ++i;
  }
  return out;
}

// Reads the fields of one object, reporting each problem at its field path.
class ObjectReader {
 public:
  ObjectReader(const Json& value, std::string path, Diagnostics* diagnostics,
               std::initializer_list<std::string_view> known)
      : path_(std::move(path)), diagnostics_(diagnostics) {
    if (value.is_null()) return;  // absent: every field takes its default
    if (!value.is_object()) {
      diagnostics_->Error(path_,
                          std::string("expected an object, got ") + std::string(KindOf(value)));
      return;
    }
    object_ = &value;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
      std::string message = "unknown field";
      std::string_view best;
      size_t best_distance = 3;
      for (std::string_view candidate : known) {
        size_t d = EditDistance(it.key(), candidate);
        if (d < best_distance) best_distance = d, best = candidate;
      }
      if (!best.empty()) message += " (did you mean \"" + std::string(best) + "\"?)";
      unknown_.push_back(it.key());
      diagnostics_->Error(FieldPathAppendKey(path_, it.key()), message);
    }
  }

  bool is_object() const { return object_ != nullptr; }
  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view field) const { return FieldPathAppendKey(path_, field); }

  // The field's value, or nullptr when absent or null (null means "use the default").
  const Json* Get(std::string_view field) const {
    if (object_ == nullptr) return nullptr;
    auto it = object_->find(field);
    if (it == object_->end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool Has(std::string_view field) const { return Get(field) != nullptr; }

  void TypeError(std::string_view field, std::string_view expected, const Json& got) const {
    diagnostics_->Error(PathOf(field), "expected " + std::string(expected) + ", got " +
                                           std::string(KindOf(got)) + Hint(expected, got));
  }

  std::string String(std::string_view field, std::string fallback = {}) const {
    const Json* v = Get(field);
    if (v == nullptr) return fallback;
    if (!v->is_string()) {
      TypeError(field, "a string", *v);
      return fallback;
    }
    return v->get<std::string>();
  }

  bool Bool(std::string_view field, bool fallback = false) const {
    const Json* v = Get(field);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      TypeError(field, "true or false", *v);
      return fallback;
    }
    return v->get<bool>();
  }

  int64_t Int64(std::string_view field, int64_t fallback, int64_t min, int64_t max) const {
    const Json* v = Get(field);
    if (v == nullptr) return fallback;
    std::optional<int64_t> n = AsInteger(field, *v, min, max);
    return n.value_or(fallback);
  }

  int Int(std::string_view field, int fallback) const {
    return static_cast<int>(Int64(field, fallback, std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::max()));
  }

  double Number(std::string_view field, double fallback) const {
    const Json* v = Get(field);
    if (v == nullptr) return fallback;
    if (!v->is_number()) {
      TypeError(field, "a number", *v);
      return fallback;
    }
    return v->get<double>();
  }

  Duration DurationField(std::string_view field, Duration fallback) const {
    const Json* v = Get(field);
    if (v == nullptr) return fallback;
    if (v->is_string()) {
      Result<Duration> d = ParseDuration(v->get<std::string>());
      if (!d.ok()) {
        diagnostics_->Error(
            PathOf(field),
            d.status().message() + " (use e.g. \"30s\", \"5m\" or integer nanoseconds)");
        return fallback;
      }
      return *d;
    }
    if (v->is_number()) {
      std::optional<int64_t> n = AsInteger(field, *v, std::numeric_limits<int64_t>::min(),
                                           std::numeric_limits<int64_t>::max());
      return n ? Duration::Nanoseconds(*n) : fallback;
    }
    TypeError(field, "a duration (\"10s\" or integer nanoseconds)", *v);
    return fallback;
  }

  Labels StringMap(std::string_view field) const {
    Labels out;
    const Json* v = Get(field);
    if (v == nullptr) return out;
    if (!v->is_object()) {
      TypeError(field, "an object of string values", *v);
      return out;
    }
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it->is_string()) {
        out.emplace(it.key(), it->get<std::string>());
      } else {
        diagnostics_->Error(
            FieldPathAppendKey(PathOf(field), it.key()),
            "expected a string, got " + std::string(KindOf(*it)) + Hint("a string", *it));
      }
    }
    return out;
  }

  std::vector<std::string> StringList(std::string_view field) const {
    std::vector<std::string> out;
    const Json* v = Get(field);
    if (v == nullptr) return out;
    if (!v->is_array()) {
      TypeError(field, "a list of strings", *v);
      return out;
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& item = (*v)[i];
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      } else {
        diagnostics_->Error(FieldPathAppendIndex(PathOf(field), i),
                            "expected a string, got " + std::string(KindOf(item)));
      }
    }
    return out;
  }

  const Json& Raw(std::string_view field) const {
    static const Json kNull;
    const Json* v = Get(field);
    return v == nullptr ? kNull : *v;
  }

 private:
  static std::string Hint(std::string_view expected, const Json& got) {
    if (expected == "a string" && (got.is_number() || got.is_boolean())) {
      return " (quote it in YAML: \"" + got.dump() + "\")";
    }
    return "";
  }

  std::optional<int64_t> AsInteger(std::string_view field, const Json& v, int64_t min,
                                   int64_t max) const {
    std::string range = " (" + std::to_string(min) + ".." + std::to_string(max) + ")";
    if (v.is_number_integer() && !v.is_number_unsigned()) {
      int64_t n = v.get<int64_t>();
      if (n < min || n > max) {
        diagnostics_->Error(PathOf(field),
                            "value " + std::to_string(n) + " is out of range" + range);
        return std::nullopt;
      }
      return n;
    }
    if (v.is_number_unsigned()) {
      uint64_t n = v.get<uint64_t>();
      if (max < 0 || n > static_cast<uint64_t>(max)) {
        diagnostics_->Error(PathOf(field),
                            "value " + std::to_string(n) + " is out of range" + range);
        return std::nullopt;
      }
      return static_cast<int64_t>(n);
    }
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::floor(d) != d) {
        diagnostics_->Error(PathOf(field), "expected an integer, got " + v.dump());
        return std::nullopt;
      }
      if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
        diagnostics_->Error(PathOf(field), "value " + v.dump() + " is out of range" + range);
        return std::nullopt;
      }
      return static_cast<int64_t>(d);
    }
    TypeError(field, "an integer", v);
    return std::nullopt;
  }

  const Json* object_ = nullptr;
  std::string path_;
  Diagnostics* diagnostics_;
  std::vector<std::string> unknown_;
};

template <typename Enum>
Enum EnumField(const ObjectReader& reader, std::string_view field, Enum fallback,
               std::optional<Enum> (*parse)(std::string_view),
               std::initializer_list<std::string_view> names, Diagnostics* diagnostics,
               bool* valid = nullptr) {
  if (valid != nullptr) *valid = false;
  const Json* v = reader.Get(field);
  if (v == nullptr) {
    if (valid != nullptr) *valid = true;
    return fallback;
  }
  if (!v->is_string()) {
    reader.TypeError(field, "a string", *v);
    return fallback;
  }
  std::optional<Enum> parsed = parse(v->get<std::string>());
  if (!parsed) {
    diagnostics->Error(reader.PathOf(field), "must be one of " + OneOf(names) + " (got \"" +
                                                 v->get<std::string>() + "\")");
    return fallback;
  }
  if (valid != nullptr) *valid = true;
  return *parsed;
}

HealthCheck DecodeHealthCheck(const Json& value, const std::string& path, Diagnostics* d) {
  ObjectReader r(
      value, path, d,
      {"deadline", "interval", "success_threshold", "failure_threshold", "max_error_rate"});
  HealthCheck h;
  h.deadline = r.DurationField("deadline", Duration());
  h.interval = r.DurationField("interval", JobDefaults::kHealthInterval);
  h.success_threshold = r.Int("success_threshold", JobDefaults::kSuccessThreshold);
  h.failure_threshold = r.Int("failure_threshold", JobDefaults::kFailureThreshold);
  h.max_error_rate = r.Number("max_error_rate", JobDefaults::kMaxErrorRate);
  return h;
}

Rollout DecodeRollout(const Json& value, const std::string& path, Diagnostics* d) {
  ObjectReader r(
      value, path, d,
      {"strategy", "max_parallel", "max_failed_nodes", "max_failed_nodes_percent",
       "no_auto_rollback", "auto_promote", "canary_count", "canary_percent", "health_check"});
  Rollout out;
  out.strategy = EnumField(r, "strategy", RolloutStrategy::kImmediate, &ParseRolloutStrategy,
                           {"immediate", "rolling", "canary"}, d);
  out.max_parallel = r.Int("max_parallel", JobDefaults::kMaxParallel);
  if (r.Has("max_parallel") && out.max_parallel == 0) {
    d->Warning(r.PathOf("max_parallel"), "0 means the default: 10 percent of the nodes per wave");
    out.max_parallel = JobDefaults::kMaxParallel;
  }
  out.max_failed_nodes = r.Int("max_failed_nodes", JobDefaults::kMaxFailedNodes);
  out.max_failed_nodes_percent =
      r.Number("max_failed_nodes_percent", JobDefaults::kMaxFailedNodesPercent);
  out.no_auto_rollback = r.Bool("no_auto_rollback");
  out.auto_promote = r.Bool("auto_promote");
  out.canary_count = r.Int("canary_count", 0);
  out.canary_percent = r.Int("canary_percent", 0);
  if (r.Has("health_check")) {
    out.health_check = DecodeHealthCheck(r.Raw("health_check"), r.PathOf("health_check"), d);
  }
  return out;
}

Selector DecodeSelector(const Json& value, const std::string& path, Diagnostics* d) {
  ObjectReader r(value, path, d, {"match_labels", "match_expressions", "match_ids"});
  Selector s;
  s.match_labels = r.StringMap("match_labels");
  s.match_expressions = r.StringList("match_expressions");
  s.match_ids = r.StringList("match_ids");
  return s;
}

Timeouts DecodeTimeouts(const Json& value, const std::string& path, Diagnostics* d) {
  ObjectReader r(value, path, d, {"execution_timeout", "queue_timeout", "total_timeout"});
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1'000'000'000;  // fits in ns
  Timeouts t;
  t.execution_timeout = r.Int64("execution_timeout", 0, std::numeric_limits<int64_t>::min(), kMax);
  t.queue_timeout = r.Int64("queue_timeout", 0, std::numeric_limits<int64_t>::min(), kMax);
  t.total_timeout = r.Int64("total_timeout", 0, std::numeric_limits<int64_t>::min(), kMax);
  return t;
}

Json DurationJson(Duration d, DurationStyle style) {
  if (style == DurationStyle::kText) return d.ToString();
  return d.nanoseconds();
}

}  // namespace

JobSpec DecodeJobSpec(const Json& value, const std::string& path, Diagnostics* d,
                      bool* type_known) {
  ObjectReader r(value, path, d,
                 {"name", "namespace", "type", "description", "labels", "meta", "priority",
                  "restart_policy", "config", "selector", "rollout", "timeouts", "deployment"});
  JobSpec spec;
  if (type_known != nullptr) *type_known = false;
  if (!r.is_object()) {
    if (value.is_null()) d->Error(path, "required: the job spec");
    return spec;
  }
  if (value.contains("deployment")) {
    d->Error(r.PathOf("deployment"),
             "the deployment block is no longer supported: use rollout: instead (strategy, "
             "max_parallel, max_failed_nodes, health_check with deadline and interval)");
  }
  spec.name = r.String("name");
  if (!r.Has("name")) d->Error(r.PathOf("name"), "required");
  spec.namespace_ = r.String("namespace", std::string(JobDefaults::kNamespace));
  if (spec.namespace_.empty()) spec.namespace_ = std::string(JobDefaults::kNamespace);
  bool valid_type = false;
  spec.type = EnumField(r, "type", JobType::kPipeline, &ParseJobType,
                        {"pipeline", "query", "update", "config"}, d, &valid_type);
  if (!r.Has("type")) {
    d->Error(r.PathOf("type"), "required: one of pipeline, query, update or config");
    valid_type = false;
  }
  if (type_known != nullptr) *type_known = valid_type;
  spec.description = r.String("description");
  spec.labels = r.StringMap("labels");
  spec.meta = r.StringMap("meta");
  for (auto it = spec.meta.begin(); it != spec.meta.end();) {
    if (std::string_view(it->first).substr(0, kReservedMetaPrefix.size()) == kReservedMetaPrefix) {
      d->Warning(FieldPathAppendKey(r.PathOf("meta"), it->first),
                 "keys starting with \"expanso.io/\" are reserved for the system: dropped");
      it = spec.meta.erase(it);
    } else {
      ++it;
    }
  }
  spec.priority = r.Int("priority", JobDefaults::kPriority);
  spec.restart_policy = EnumField(r, "restart_policy", RestartPolicy::kOnFailure,
                                  &ParseRestartPolicy, {"on-failure", "always", "never"}, d);
  if (const Json* config = r.Get("config")) {
    if (config->is_object()) {
      spec.config = *config;
    } else {
      r.TypeError("config", "an object", *config);
    }
  }
  spec.selector = DecodeSelector(r.Raw("selector"), r.PathOf("selector"), d);
  spec.rollout = DecodeRollout(r.Raw("rollout"), r.PathOf("rollout"), d);
  spec.timeouts = DecodeTimeouts(r.Raw("timeouts"), r.PathOf("timeouts"), d);
  return spec;
}

DecodedRequest DecodePutJobRequest(const Json& body, Diagnostics* d) {
  DecodedRequest out;
  if (!body.is_object()) {
    d->Error("", std::string("expected a JSON object (a PutJobRequest or a bare job spec), got ") +
                     std::string(KindOf(body)));
    return out;
  }
  if (body.contains("spec")) {
    out.envelope = true;
    ObjectReader r(body, "", d, {"dry_run", "force", "applied_set", "spec"});
    out.request.dry_run = r.Bool("dry_run");
    out.request.force = r.Bool("force");
    std::string set = r.String("applied_set");
    if (std::optional<std::string> bad = LabelValueError(set)) {
      d->Error("applied_set", "invalid label value: " + *bad);
    } else {
      out.request.applied_set = std::move(set);
    }
    out.request.spec = DecodeJobSpec(body["spec"], "spec", d, &out.type_known);
  } else {
    out.request.spec = DecodeJobSpec(body, "spec", d, &out.type_known);
  }
  return out;
}

Json EncodeJobSpec(const JobSpec& spec, DurationStyle style) {
  Json rollout = {
      {"strategy", RolloutStrategyName(spec.rollout.strategy)},
      {"max_parallel", spec.rollout.max_parallel},
      {"max_failed_nodes", spec.rollout.max_failed_nodes},
      {"max_failed_nodes_percent", spec.rollout.max_failed_nodes_percent},
      {"no_auto_rollback", spec.rollout.no_auto_rollback},
      {"auto_promote", spec.rollout.auto_promote},
      {"canary_count", spec.rollout.canary_count},
      {"canary_percent", spec.rollout.canary_percent},
  };
  if (spec.rollout.health_check) {
    const HealthCheck& h = *spec.rollout.health_check;
    rollout["health_check"] = {
        {"deadline", DurationJson(h.deadline, style)},
        {"interval", DurationJson(h.interval, style)},
        {"success_threshold", h.success_threshold},
        {"failure_threshold", h.failure_threshold},
        {"max_error_rate", h.max_error_rate},
    };
  }
  return {
      {"name", spec.name},
      {"namespace", spec.namespace_},
      {"type", JobTypeName(spec.type)},
      {"description", spec.description},
      {"labels", spec.labels},
      {"meta", spec.meta},
      {"priority", spec.priority},
      {"restart_policy", RestartPolicyName(spec.restart_policy)},
      {"config", spec.config},
      {"selector",
       {{"match_labels", spec.selector.match_labels},
        {"match_expressions", spec.selector.match_expressions},
        {"match_ids", spec.selector.match_ids}}},
      {"rollout", rollout},
      {"timeouts",
       {{"execution_timeout", spec.timeouts.execution_timeout},
        {"queue_timeout", spec.timeouts.queue_timeout},
        {"total_timeout", spec.timeouts.total_timeout}}},
  };
}

}  // namespace drover
