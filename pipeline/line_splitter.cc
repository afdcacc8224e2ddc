#include "pipeline/line_splitter.h"

#include <cstring>

namespace drover::pipeline {

void LineSplitter::Emit(std::string_view line, uint64_t end, const Metadata& metadata, Batch* batch,
                        std::vector<uint64_t>* ends) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;
  batch->Add(line, metadata);
  ends->push_back(end);
}

void LineSplitter::Feed(std::string_view data, const Metadata& metadata, Batch* batch,
                        std::vector<uint64_t>* ends) {
  size_t start = 0;
  while (start < data.size()) {
    const void* found = std::memchr(data.data() + start, '\n', data.size() - start);
    if (found == nullptr) break;
    size_t newline = static_cast<size_t>(static_cast<const char*>(found) - data.data());
    std::string_view line = data.substr(start, newline - start);
    uint64_t end = position_ + newline + 1;
    if (pending_.empty()) {
      Emit(line, end, metadata, batch, ends);
    } else {
      pending_.append(line);
      Emit(pending_, end, metadata, batch, ends);
      pending_.clear();
    }
    start = newline + 1;
  }
  pending_.append(data.substr(start));
  position_ += data.size();
  if (pending_.size() > kMaxLineBytes) Flush(metadata, batch, ends);
}

void LineSplitter::Flush(const Metadata& metadata, Batch* batch, std::vector<uint64_t>* ends) {
  if (pending_.empty()) return;
  Emit(pending_, position_, metadata, batch, ends);
  pending_.clear();
}

}  // namespace drover::pipeline
