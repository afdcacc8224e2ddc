#include "cli/apply_plan.h"

#include <filesystem>

#include "api/job.h"
#include "api/labels.h"

namespace drover::cli {
namespace {

using Json = nlohmann::json;

bool IsAlphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Lowercase, [a-z0-9._-] only, runs of '-' collapsed, alphanumerics at both ends, at most 63.
std::string ToLabelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!IsAlphanumeric(c) && c != '.' && c != '_') c = '-';
    if (c == '-' && !out.empty() && out.back() == '-') continue;
    out.push_back(c);
  }
  auto trim = [](std::string* s) {
    size_t begin = 0;
    while (begin < s->size() && !IsAlphanumeric((*s)[begin])) ++begin;
    s->erase(0, begin);
    while (!s->empty() && !IsAlphanumeric(s->back())) s->pop_back();
  };
  trim(&out);
  if (out.size() > kLabelValueMaxLength) {
    out.resize(kLabelValueMaxLength);
    trim(&out);
  }
  return out;
}

std::string JoinIds(const Json& ids, size_t max_ids) {
  std::string out;
  size_t shown = 0;
  for (const Json& id : ids) {
    if (shown == max_ids) break;
    if (shown > 0) out += ", ";
    out += id.is_string() ? id.get<std::string>() : id.dump();
    ++shown;
  }
  if (ids.size() > shown) out += " ... (" + std::to_string(ids.size() - shown) + " more)";
  return out;
}

std::string Count(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

Json ArrayAt(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_array()) {
    return Json::array();
  }
  return object[key];
}

}  // namespace

std::string AppliedSetName(std::string_view path) {
  if (path == "-") return "stdin";
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  std::string base = p.filename().string();
  if (base.empty() || base == "." || base == "..") {
    base = p.parent_path().filename().string();  // "dir/" normalises to "dir/" with no filename
  }
  for (char& c : base) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (std::string_view ext : {".yaml", ".yml", ".json"}) {
    if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0) {
      base.resize(base.size() - ext.size());
      break;
    }
  }
  std::string name = ToLabelValue(base);
  return name.empty() ? "manifests" : name;
}

std::string_view ApplyOutcomeName(ApplyOutcome outcome) {
  switch (outcome) {
    case ApplyOutcome::kCreated:
      return "created";
    case ApplyOutcome::kConfigured:
      return "configured";
    case ApplyOutcome::kUnchanged:
      return "unchanged";
    case ApplyOutcome::kInvalid:
      return "invalid";
    case ApplyOutcome::kFailed:
      break;
  }
  return "failed";
}

const Json& JsonAt(const Json& value, const char* key) {
  static const Json kNull;
  if (!value.is_object()) return kNull;
  auto it = value.find(key);
  return it == value.end() ? kNull : *it;
}

std::string JsonStringAt(const Json& value, const char* key) {
  const Json& at = JsonAt(value, key);
  return at.is_string() ? at.get<std::string>() : std::string();
}

ApplyOutcome OutcomeOfPut(int status, const Json& body) {
  if (status == 201) return ApplyOutcome::kCreated;
  if (status == 200) return ApplyOutcome::kConfigured;
  if (status == 400) return ApplyOutcome::kInvalid;
  if (status == 422 && JsonAt(JsonAt(body, "error"), "code") == Json("unchanged")) {
    return ApplyOutcome::kUnchanged;
  }
  return ApplyOutcome::kFailed;
}

ApplyOutcome OutcomeOfDryRun(const Json& body, bool job_stopped) {
  const Json& changed = JsonAt(body, "changed");
  if (!changed.is_boolean()) return ApplyOutcome::kFailed;
  if (!changed.get<bool>()) {
    return job_stopped ? ApplyOutcome::kConfigured : ApplyOutcome::kUnchanged;
  }
  return JsonAt(body, "version") == Json(1) ? ApplyOutcome::kCreated : ApplyOutcome::kConfigured;
}

std::string JobRefOf(const Json& job) {
  const Json& ns = JsonAt(JsonAt(job, "spec"), "namespace");
  const Json& name = JsonAt(JsonAt(job, "spec"), "name");
  if (!ns.is_string() || !name.is_string()) return "";
  return ns.get<std::string>() + "/" + name.get<std::string>();
}

std::vector<std::string> PruneCandidates(const Json& items, const std::string& applied_set,
                                         const std::set<std::string>& kept) {
  std::vector<std::string> out;
  if (!items.is_array() || applied_set.empty()) return out;
  for (const Json& job : items) {
    const Json& set = JsonAt(JsonAt(JsonAt(job, "spec"), "meta"), kAppliedSetMetaKey);
    if (set != Json(applied_set)) continue;
    if (JsonAt(JsonAt(job, "status"), "state") == Json("stopped")) continue;
    std::string ref = JobRefOf(job);
    if (!ref.empty() && kept.count(ref) == 0) out.push_back(ref);
  }
  return out;
}

std::string FormatWavePlan(const Json& plan, const std::string& indent, size_t max_ids) {
  const Json targets = ArrayAt(plan, "target_nodes");
  if (targets.empty()) return indent + "plan: no target nodes\n";
  const Json canary = ArrayAt(plan, "canary");
  const Json waves = ArrayAt(plan, "waves");
  std::string out = indent + "plan: " + Count(targets.size(), "target node", "target nodes");
  if (!canary.empty()) out += ", " + Count(canary.size(), "canary", "canaries");
  out += ", " + Count(waves.size(), "wave", "waves") + "\n";
  if (!canary.empty()) out += indent + "  canary: " + JoinIds(canary, max_ids) + "\n";
  for (size_t i = 0; i < waves.size(); ++i) {
    const Json wave = waves[i].is_array() ? waves[i] : Json::array();
    out += indent + "  wave " + std::to_string(i + 1) + "/" + std::to_string(waves.size()) + " (" +
           std::to_string(wave.size()) + "): " + JoinIds(wave, max_ids) + "\n";
  }
  return out;
}

std::string LabelDiff(const std::string& diff, const std::string& job_ref) {
  std::string out;
  size_t pos = 0;
  for (int header = 0; header < 2 && pos < diff.size(); ++header) {
    size_t end = diff.find('\n', pos);
    if (end == std::string::npos) end = diff.size();
    std::string line = diff.substr(pos, end - pos);
    const char* prefix = header == 0 ? "--- " : "+++ ";
    if (line.rfind(prefix, 0) != 0) break;
    out += prefix + job_ref + "\t" + line.substr(4) + "\n";
    pos = end + 1;
  }
  if (pos < diff.size()) out += diff.substr(pos);
  return out;
}

}  // namespace drover::cli
