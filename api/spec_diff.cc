#include "api/spec_diff.h"

#include "api/document.h"
#include "api/job_codec.h"
#include "api/text_diff.h"

namespace drover {

std::string CanonicalSpecText(const JobSpec& spec) {
  Json encoded = EncodeJobSpec(spec, DurationStyle::kText);
  Json& meta = encoded["meta"];
  for (auto it = meta.begin(); it != meta.end();) {
    if (std::string_view(it.key()).substr(0, kReservedMetaPrefix.size()) == kReservedMetaPrefix) {
      it = meta.erase(it);
    } else {
      ++it;
    }
  }
  return RenderYaml(encoded);
}

std::string SpecDiff(const JobSpec* old_spec, const JobSpec& new_spec, std::string_view old_label,
                     std::string_view new_label) {
  std::string before = old_spec == nullptr ? std::string() : CanonicalSpecText(*old_spec);
  return UnifiedDiff(before, CanonicalSpecText(new_spec), old_label, new_label);
}

}  // namespace drover
