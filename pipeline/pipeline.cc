// Batch and Pipeline (pipeline/components.h).
#include <utility>

#include "pipeline/components.h"

namespace drover::pipeline {

bloblang::Message& Batch::Next() {
  if (size_ == messages_.size()) {
    messages_.emplace_back();
    flags_.push_back(0);
  }
  flags_[size_] = 0;
  return messages_[size_++];
}

bloblang::Message& Batch::Add(std::string_view content, const Metadata& metadata) {
  bloblang::Message& m = Next();
  m.content.assign(content.data(), content.size());
  if (m.metadata != metadata) m.metadata = metadata;
  return m;
}

bloblang::Message& Batch::Add(bloblang::Message message) {
  bloblang::Message& m = Next();
  m = std::move(message);
  return m;
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Processor>> processors,
                   std::unique_ptr<Output> output, ResultSink result_sink)
    : processors_(std::move(processors)),
      output_(std::move(output)),
      result_sink_(std::move(result_sink)) {}

size_t Pipeline::Process(Batch& batch) {
  if (batch.empty()) return 0;
  for (const std::unique_ptr<Processor>& p : processors_) p->Process(batch);
  size_t handled = output_->Write(batch);
  uint64_t errors = 0;
  for (size_t i = 0; i < handled; ++i) {
    if (batch.flags(i) & kFailed) ++errors;
    if (result_sink_ && batch.live(i)) result_sink_(batch.message(i));
  }
  // A deleted message was handled without error: it counts as processed.
  processed_.fetch_add(handled - errors, std::memory_order_relaxed);
  errors_.fetch_add(errors, std::memory_order_relaxed);
  return handled;
}

}  // namespace drover::pipeline
