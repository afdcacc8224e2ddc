// Finding and reading manifest files (validate, apply, diff, the controller's --manifests): a path
// is a file, a folder (read recursively: *.yaml, *.yml, *.json, in path order) or "-" for standard
// input. Also the one place that formats a manifest problem as PATH[#DOC]:LINE:COL (SPEC §13).
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "api/document.h"
#include "api/manifest.h"
#include "api/status.h"

namespace drover {

struct ManifestSource {
  std::string path;  // as the user gave it, or "-" for stdin
  std::string text;
};

// Expands the given paths into sources, folders recursively in path order. An unreadable or
// missing path is an error naming it. "-" reads `stdin` (once).
Result<std::vector<ManifestSource>> ReadManifestSources(const std::vector<std::string>& paths,
                                                        std::istream& stdin_stream);

// "PATH[#DOC]:LINE:COL: field: message" (position left out when unknown, field when empty;
// "warning: " before the message for warnings). `doc` 0 means "the file has one document".
std::string FormatManifestIssue(const std::string& path, int doc, SourcePosition position,
                                const std::string& field, const std::string& message, bool warning);

// Where a diagnostic's field stood in the document (bare specs have no "spec" key in the text).
SourcePosition PositionOf(const ManifestDocument& doc, const std::string& field);

}  // namespace drover
