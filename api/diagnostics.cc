#include "api/diagnostics.h"

namespace drover {

std::string Diagnostics::Summary() const {
  std::string out;
  for (const FieldIssue& issue : errors_) {
    if (!out.empty()) out += "; ";
    out += issue.field.empty() ? issue.message : issue.field + ": " + issue.message;
  }
  return out;
}

}  // namespace drover
