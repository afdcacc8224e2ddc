// Diagnostics: the errors and warnings found while decoding and validating one document, each
// tied to a field path (`spec.rollout.health_check.deadline`). Collected, never thrown, so that
// a user sees every problem at once. Plain value; not shared between threads.
#pragma once

#include <string>
#include <vector>

namespace drover {

struct FieldIssue {
  std::string field;    // field path; "" for the document as a whole
  std::string message;  // one sentence for a person
  bool operator==(const FieldIssue&) const = default;
};

class Diagnostics {
 public:
  void Error(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }
  void Warning(std::string field, std::string message) {
    warnings_.push_back({std::move(field), std::move(message)});
  }

  bool ok() const { return errors_.empty(); }
  const std::vector<FieldIssue>& errors() const { return errors_; }
  const std::vector<FieldIssue>& warnings() const { return warnings_; }

  // "spec.name: required; spec.type: ..." for one-line logs.
  std::string Summary() const;

 private:
  std::vector<FieldIssue> errors_;
  std::vector<FieldIssue> warnings_;
};

}  // namespace drover
