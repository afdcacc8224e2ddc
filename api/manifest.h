// Manifests: the text of one manifest file (YAML documents separated by `---`, or one JSON
// document) parsed and checked document by document, keeping where each field stood so that
// problems can be printed as PATH[#DOC]:LINE:COL (SPEC §13). Reading files is the caller's job;
// this is pure.
#pragma once

#include <string_view>
#include <vector>

#include "api/document.h"
#include "api/validation.h"

namespace drover {

enum class ManifestFormat { kYaml, kJson };

// .json files are JSON; anything else is YAML unless its first non-blank character is '{'.
ManifestFormat DetectManifestFormat(std::string_view path, std::string_view text);

struct ManifestDocument {
  int index = 1;  // 1-based among the documents of the file (empty ones counted)
  SourceMap positions;
  CheckedRequest checked;  // a PutJobRequest envelope's dry_run/force are ignored (warned)
};

struct Manifest {
  std::vector<ManifestDocument> documents;
  int document_count = 0;  // documents in the file, empty ones included
};

// Fails only when the text does not parse (message "LINE:COL: ..."); problems of individual
// documents are in their diagnostics.
Result<Manifest> ParseManifest(std::string_view text, ManifestFormat format);

}  // namespace drover
