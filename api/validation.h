// Validation and normalisation of job specs (SPEC §2): every rule, every error at once, each
// with its field path. Also the one entry point the server and the CLI share: decode a document,
// normalise it and validate it. Pure functions.
#pragma once

#include <string>

#include "api/diagnostics.h"
#include "api/job.h"
#include "api/job_codec.h"

namespace drover {

// Limits that SPEC §2 leaves to us (documented in docs/job-spec.md).
inline constexpr size_t kMaxJobNameLength = 253;
inline constexpr size_t kMaxNamespaceLength = 63;
inline constexpr size_t kMaxDescriptionBytes = 16 * 1024;
inline constexpr size_t kMaxMetaKeyLength = 253;
inline constexpr size_t kMaxMetaValueBytes = 64 * 1024;

// The charset of job names and namespaces, [a-z0-9]([-a-z0-9_.]*[a-z0-9])?, within a length.
bool IsValidObjectName(std::string_view s, size_t max_length);

// Brings a decoded spec to its canonical form: reserved meta dropped, match_ids sorted and
// unique, each match expression in Kubernetes' canonical spelling ("tier in (a,b)"), config
// defaults filled (config files' mode "0644"). Idempotent.
void NormalizeJobSpec(JobSpec* spec);

// Checks every rule of SPEC §2 on a decoded spec; `path` prefixes every field ("spec").
// `check_config` is false when spec.type itself was invalid: its config and the type-specific
// timeout rules are then not judged.
void ValidateJobSpec(const JobSpec& spec, const std::string& path, Diagnostics* diagnostics,
                     bool check_config = true);

// Type-specific config rules (SPEC §4, §10): the components and fields each type accepts.
void ValidateJobConfig(JobType type, const Json& config, const std::string& path,
                       Diagnostics* diagnostics);

struct CheckedRequest {
  DecodedRequest decoded;
  Diagnostics diagnostics;
  bool ok() const { return diagnostics.ok(); }
  const JobSpec& spec() const { return decoded.request.spec; }
};

// Decode, normalise and validate a PutJobRequest body (or a bare spec).
CheckedRequest CheckPutJobRequest(const Json& body);

}  // namespace drover
