// LineSplitter: cuts a byte stream into line messages for the `file` and `stdin` inputs. A line
// ends at "\n" (a "\r" before it is dropped, as Bento's line scanner does); empty lines make no
// message. An incomplete last line waits for more bytes, up to kMaxLineBytes, beyond which it
// is cut into a message of its own. Tracks stream offsets so that the file input can commit
// exactly the lines that were handled. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/components.h"

namespace drover::pipeline {

class LineSplitter {
 public:
  static constexpr size_t kMaxLineBytes = 16 << 20;

  // Adds a message per line completed by `data` to `batch`, each with `metadata`, and pushes
  // onto `ends` the stream offset just past each of those lines.
  void Feed(std::string_view data, const Metadata& metadata, Batch* batch,
            std::vector<uint64_t>* ends);
  // At the end of the stream: the incomplete last line, if any, becomes a message too.
  void Flush(const Metadata& metadata, Batch* batch, std::vector<uint64_t>* ends);
  // Starts again at stream offset `offset`, dropping any incomplete line.
  void Reset(uint64_t offset) {
    pending_.clear();
    position_ = offset;
  }

  uint64_t position() const { return position_; }  // the offset of the next byte to feed
  // The offset just past the last complete line fed (lines after it are still pending).
  uint64_t consumed() const { return position_ - pending_.size(); }

 private:
  void Emit(std::string_view line, uint64_t end, const Metadata& metadata, Batch* batch,
            std::vector<uint64_t>* ends);

  std::string pending_;
  uint64_t position_ = 0;
};

}  // namespace drover::pipeline
