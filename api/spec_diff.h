// The canonical text of a job spec and the diff of two specs (SPEC §3): what `dry_run`,
// `PUT /jobs/diff` and `versions/diff` show. Both specs are expected normalised; meta keys
// reserved for the system are left out, so the server's own bookkeeping never shows as a change.
// Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "api/job.h"

namespace drover {

// Block YAML, keys sorted, durations as "10s", reserved meta omitted. Equal for equal specs.
std::string CanonicalSpecText(const JobSpec& spec);

// Unified diff of the canonical texts; "" when they are equal. `old_spec` null means "no job
// yet", so every line shows as added.
std::string SpecDiff(const JobSpec* old_spec, const JobSpec& new_spec,
                     std::string_view old_label = "stored",
                     std::string_view new_label = "proposed");

}  // namespace drover
