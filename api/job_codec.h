// The JSON/YAML codec of the job model (SPEC §2): from a parsed document tree to a PutJobRequest
// with every default filled in, and back. Decoding reports wrong types, unknown fields (with a
// "did you mean"), the legacy `deployment:` block and reserved meta as Diagnostics with field
// paths; it never throws and never stops at the first problem. Pure functions.
#pragma once

#include <string>

#include "api/diagnostics.h"
#include "api/job.h"

namespace drover {

// How durations are written: integer nanoseconds (JSON, as Go marshals time.Duration) or the
// text form "10s" (YAML, for people).
enum class DurationStyle { kNanoseconds, kText };

struct DecodedRequest {
  PutJobRequest request;
  bool envelope = false;    // the body had a "spec" key (else it was a bare spec)
  bool type_known = false;  // spec.type was present and valid, so config can be checked
};

// Decodes a PutJobRequest body, or a bare spec when the body has no "spec" key. Field paths in
// the diagnostics always start with "spec." for spec fields. The result is best-effort when
// there are errors (fields that failed keep their defaults).
DecodedRequest DecodePutJobRequest(const Json& body, Diagnostics* diagnostics);

// Decodes a spec object found at `path` (normally "spec").
JobSpec DecodeJobSpec(const Json& spec, const std::string& path, Diagnostics* diagnostics,
                      bool* type_known = nullptr);

// The full spec, defaults included, keys sorted by the JSON tree.
Json EncodeJobSpec(const JobSpec& spec, DurationStyle style = DurationStyle::kNanoseconds);

}  // namespace drover
