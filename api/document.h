// Documents: JSON and YAML text parsed into one tree type (nlohmann::json) with a map from each
// value's field path to where it stood in the text, so that errors can point at a line and a
// column. Also the canonical YAML rendering of a tree. Pure functions; no shared state.
//
// Both parsers are built for hostile input: nesting depth, string length, node count (YAML
// aliases) and total size are bounded, invalid UTF-8 and duplicate keys are errors, and every
// error is a Status whose message starts with "LINE:COLUMN: " (1-based).
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"

namespace drover {

using Json = nlohmann::json;

struct SourcePosition {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  bool known() const { return line > 0; }
};

// Field paths as used in every error message: `spec.rollout.strategy`, `spec.config.files[2]`,
// and `spec.labels["example.com/zone"]` for keys that are not plain identifiers.
std::string FieldPathAppendKey(std::string_view base, std::string_view key);
std::string FieldPathAppendIndex(std::string_view base, size_t index);

// Where each value of a document came from, by field path.
class SourceMap {
 public:
  void Record(std::string path, SourcePosition position) {
    positions_.emplace(std::move(path), position);
  }
  // The position of `path`, or of its nearest recorded ancestor (a missing field points at the
  // object that lacks it). Unknown when nothing on the way was recorded.
  SourcePosition Find(std::string_view path) const;
  bool empty() const { return positions_.empty(); }

 private:
  std::map<std::string, SourcePosition, std::less<>> positions_;
};

struct ParseLimits {
  size_t max_depth = 100;                // nested arrays/objects
  size_t max_string_bytes = 1 << 20;     // one string or key
  size_t max_nodes = 1'000'000;          // values in one document (after alias expansion)
  size_t max_document_bytes = 16 << 20;  // the whole text
};

struct Document {
  Json value;
  SourceMap positions;  // keys are field paths rooted at "" (e.g. "spec.name")
  int index = 1;        // 1-based position among the documents of its file
};

// Strict RFC 8259 JSON: one value, no comments, no trailing commas, no duplicate keys, valid
// UTF-8. Integers that fit int64/uint64 stay integers, others become doubles. `positions` is
// filled only when `record_positions` is set (the API server does not need it).
Result<Document> ParseJson(std::string_view text, bool record_positions = false,
                           const ParseLimits& limits = {});

// YAML 1.2 (core schema) documents separated by `---`. Quoted scalars are strings; plain ones
// resolve to null/bool/int/float/string as in YAML 1.2 (so `yes` stays a string). Empty
// documents are skipped but still counted in `index`.
Result<std::vector<Document>> ParseYaml(std::string_view text, const ParseLimits& limits = {});

// Block-style YAML with sorted keys; strings quoted whenever a plain scalar would read back as
// something else, multi-line strings as literal blocks. ParseYaml(RenderYaml(v)) == v.
std::string RenderYaml(const Json& value);

// True when `text` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace drover
