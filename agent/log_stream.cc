#include "agent/log_stream.h"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace drover::agent {
namespace {

// Length of the longest prefix of `s` (at most `max`) that does not end inside a UTF-8
// sequence; invalid bytes count as single characters.
size_t Utf8Cut(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t cut = max;
  // step back over continuation bytes (at most 3) to the start of the sequence at `cut`
  size_t back = 0;
  while (cut > 0 && back < 3 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
    ++back;
  }
  return cut == 0 ? max : cut;
}

// Replaces bytes that are not part of a well-formed UTF-8 sequence by '?', keeping the length.
void ScrubUtf8(std::string* s) {
  auto* p = reinterpret_cast<unsigned char*>(s->data());
  size_t n = s->size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;
    if (ok && len == 3) {
      ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] >= 0xA0);
    }
    if (ok && len == 4)
      ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] >= 0x90) && c <= 0xF4;
    if (!ok) {
      p[i] = '?';
      ++i;
    } else {
      i += len;
    }
  }
}

}  // namespace

LogStream::LogStream(std::filesystem::path file, uint64_t produced, uint64_t acked)
    : file_(std::move(file)), produced_(produced), acked_(std::min(acked, produced)) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(file_, ec);
  file_bytes_ = ec ? 0 : size;
  // bytes not yet shipped that the file still holds
  uint64_t missing = produced_ - acked_;
  uint64_t readable = std::min<uint64_t>({missing, file_bytes_, uint64_t{kPendingCap}});
  pending_base_ = produced_ - readable;
  if (readable > 0) {
    std::ifstream in(file_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(file_bytes_ - readable));
    pending_.resize(readable);
    in.read(pending_.data(), static_cast<std::streamsize>(readable));
    pending_.resize(static_cast<size_t>(in.gcount()));
    pending_base_ = produced_ - pending_.size();
  }
}

void LogStream::Append(std::string_view data) {
  if (data.empty()) return;
  if (file_bytes_ + data.size() > kFileCap && file_bytes_ > 0) {
    std::error_code ec;
    std::filesystem::rename(file_, file_.string() + ".1", ec);
    file_bytes_ = 0;
  }
  {
    std::ofstream out(file_, std::ios::binary | std::ios::app);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  file_bytes_ += data.size();
  produced_ += data.size();
  pending_.append(data);
  if (pending_.size() > kPendingCap) {
    size_t drop = pending_.size() - kPendingCap;
    pending_.erase(0, drop);
  }
  pending_base_ = produced_ - pending_.size();
}

std::optional<LogChunk> LogStream::Next(size_t max_bytes) const {
  if (acked_ >= produced_ || pending_.empty() || max_bytes == 0) return std::nullopt;
  uint64_t from = std::max(acked_, pending_base_);
  std::string_view rest(pending_);
  rest.remove_prefix(static_cast<size_t>(from - pending_base_));
  if (rest.empty()) return std::nullopt;
  LogChunk chunk;
  chunk.offset = from;
  chunk.data.assign(rest.substr(0, Utf8Cut(rest, max_bytes)));
  ScrubUtf8(&chunk.data);
  return chunk;
}

void LogStream::Ack(uint64_t end) {
  if (end <= acked_) return;
  acked_ = std::min(end, produced_);
  if (acked_ > pending_base_) {
    size_t drop = static_cast<size_t>(std::min<uint64_t>(acked_ - pending_base_, pending_.size()));
    pending_.erase(0, drop);
    pending_base_ += drop;
  }
}

}  // namespace drover::agent
