#include "controller/log_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <utility>

namespace drover::controller {
namespace {

// Offsets beyond this are refused: far more than any stream produces, and offset + data size
// cannot overflow.
constexpr uint64_t kMaxOffset = uint64_t{1} << 62;
constexpr size_t kMaxExecutionIdLength = 253;

size_t StreamIndex(LogStream stream) { return stream == LogStream::kStdout ? 0 : 1; }

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The length of the longest prefix of `s`, at most `max` bytes, that does not end inside a UTF-8
// sequence (0 when even the first character does not fit).
size_t Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t cut = max;
  for (int back = 0; cut > 0 && back < 3 && IsContinuationByte(s[cut]); ++back) --cut;
  return cut;
}

// Microseconds since the epoch of an RFC 3339 UTC time ("2026-12-04T15:33:51.123Z"); 1 when it
// does not parse. Seqs start there, so that they keep growing across controller restarts (a
// follower's cursor stays valid) as long as fewer than a million lines a second arrive.
uint64_t SeqBase(const std::string& time) {
  int year = 0;
  unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  if (std::sscanf(time.c_str(), "%4d-%2u-%2uT%2u:%2u:%2u.%3u", &year, &month, &day, &hour, &minute,
                  &second, &millis) != 7) {
    return 1;
  }
  std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                   std::chrono::day(day)};
  if (!date.ok() || year < 1970) return 1;
  auto since_epoch = std::chrono::sys_days(date).time_since_epoch() + std::chrono::hours(hour) +
                     std::chrono::minutes(minute) + std::chrono::seconds(second) +
                     std::chrono::milliseconds(millis);
  return static_cast<uint64_t>(
             std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count()) +
         1;
}

}  // namespace

std::string_view LogStreamName(LogStream stream) {
  return stream == LogStream::kStdout ? "stdout" : "stderr";
}

std::vector<LogChunk> ParseLogChunks(const Json& logs, Diagnostics* diagnostics) {
  std::vector<LogChunk> chunks;
  if (logs.is_null()) return chunks;
  if (!logs.is_array()) {
    diagnostics->Error("logs", "expected a list of {execution_id, stream, offset, data}");
    return chunks;
  }
  for (size_t i = 0; i < logs.size(); ++i) {
    const Json& item = logs[i];
    const std::string path = FieldPathAppendIndex("logs", i);
    if (!item.is_object()) {
      diagnostics->Error(path, "expected an object {execution_id, stream, offset, data}");
      continue;
    }
    LogChunk chunk;
    bool ok = true;
    auto error = [&](const char* field, const std::string& message) {
      diagnostics->Error(FieldPathAppendKey(path, field), message);
      ok = false;
    };
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it.key() != "execution_id" && it.key() != "stream" && it.key() != "offset" &&
          it.key() != "data") {
        diagnostics->Error(FieldPathAppendKey(path, it.key()), "unknown field");
        ok = false;
      }
    }
    auto id = item.find("execution_id");
    if (id == item.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
      error("execution_id", "required: a non-empty string");
    } else if (id->get_ref<const std::string&>().size() > kMaxExecutionIdLength) {
      error("execution_id", "at most 253 characters");
    } else {
      chunk.execution_id = id->get<std::string>();
    }
    auto stream = item.find("stream");
    if (stream != item.end() && stream->is_string() && *stream == "stdout") {
      chunk.stream = LogStream::kStdout;
    } else if (stream != item.end() && stream->is_string() && *stream == "stderr") {
      chunk.stream = LogStream::kStderr;
    } else {
      error("stream", "required: stdout or stderr");
    }
    auto offset = item.find("offset");
    if (offset == item.end() || !offset->is_number_integer() ||
        (offset->is_number_unsigned() ? offset->get<uint64_t>() > kMaxOffset
                                      : offset->get<int64_t>() < 0)) {
      error("offset", "required: an integer from 0 to 2^62");
    } else {
      chunk.offset = offset->get<uint64_t>();
    }
    auto data = item.find("data");
    if (data == item.end() || !data->is_string()) {
      error("data", "required: a string");
    } else {
      chunk.data = data->get<std::string>();
    }
    if (ok) chunks.push_back(std::move(chunk));
  }
  return chunks;
}

Json LogPageToJson(const LogPage& page) {
  Json items = Json::array();
  for (const LogEntry& e : page.entries) {
    items.push_back({{"execution_id", e.execution_id},
                     {"node_id", e.owner.node_id},
                     {"job_id", e.owner.job_id},
                     {"version", e.owner.version},
                     {"seq", e.seq},
                     {"time", e.time},
                     {"stream", LogStreamName(e.stream)},
                     {"line", e.text},
                     {"partial", e.partial}});
  }
  return {{"items", std::move(items)}, {"next_token", nullptr}, {"truncated", page.truncated}};
}

LogStore::LogStore(const Clock& clock, LogStoreLimits limits)
    : clock_(clock),
      limits_([&] {
        // A line must hold at least one UTF-8 character, or a long line could never be broken.
        limits.line_bytes = std::max<size_t>(limits.line_bytes, 4);
        return limits;
      }()),
      next_seq_(SeqBase(clock.WallTime())) {}

LogAppendResult LogStore::Append(const LogOwner& owner, const LogChunk& chunk) {
  LogAppendResult result;
  if (chunk.execution_id.empty()) return result;
  const std::string time = clock_.WallTime();
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, created] = executions_.try_emplace(chunk.execution_id);
  ExecutionLog& log = it->second;
  if (created) {
    log.owner = owner;
    log.recency = recency_.insert(recency_.end(), chunk.execution_id);
    by_job_[owner.job_id].insert(chunk.execution_id);
    log.bytes = kExecutionOverhead + chunk.execution_id.size();
    total_bytes_ += log.bytes;
  }
  StreamState& state = log.streams[StreamIndex(chunk.stream)];
  std::string_view data = chunk.data;
  const uint64_t offset = std::min(chunk.offset, kMaxOffset);
  if (offset < state.next_offset) {
    // Resent bytes: keep only what follows what we hold, from a character boundary.
    uint64_t held = state.next_offset - offset;
    if (held >= data.size()) {
      result.duplicate = data.size();
      return result;
    }
    data.remove_prefix(static_cast<size_t>(held));
    while (!data.empty() && IsContinuationByte(data.front())) data.remove_prefix(1);
    result.duplicate = chunk.data.size() - data.size();
  } else if (offset > state.next_offset) {
    result.skipped = offset - state.next_offset;
    // The bytes before the gap will never come: the open line ends where they stopped.
    if (Line* open = OpenLine(log, chunk.stream)) open->partial = false;
    state.open_seq.reset();
    NewLine(log, chunk.stream, "[... " + std::to_string(result.skipped) + " bytes skipped ...]",
            false, time);
  }
  state.next_offset = offset + chunk.data.size();
  AppendText(log, chunk.stream, data, time);
  result.stored = data.size();
  recency_.splice(recency_.end(), recency_, log.recency);

  while (log.bytes > limits_.execution_bytes && !log.lines.empty()) DropFront(log);
  while (total_bytes_ > limits_.total_bytes && recency_.front() != chunk.execution_id) {
    Remove(executions_.find(recency_.front()));
    ++evicted_;
  }
  while (total_bytes_ > limits_.total_bytes && !log.lines.empty()) DropFront(log);
  return result;
}

void LogStore::AppendText(ExecutionLog& log, LogStream stream, std::string_view text,
                          const std::string& time) {
  while (!text.empty()) {
    size_t newline = text.find('\n');
    bool ends = newline != std::string_view::npos;
    std::string_view piece = text.substr(0, ends ? newline : text.size());
    text.remove_prefix(ends ? newline + 1 : text.size());
    // Add `piece` to the open line, breaking it wherever it would pass line_bytes.
    while (true) {
      Line* open = OpenLine(log, stream);
      if (open == nullptr) {
        if (piece.empty() && !ends) break;
        NewLine(log, stream, "", true, time);
        open = &log.lines.back();
      }
      size_t room = limits_.line_bytes - std::min(open->text.size(), limits_.line_bytes);
      size_t take = Utf8Prefix(piece, room);
      if (take == 0 && open->text.empty() && !piece.empty()) take = std::min(room, piece.size());
      open->text.append(piece.substr(0, take));
      log.bytes += take;
      total_bytes_ += take;
      piece.remove_prefix(take);
      if (piece.empty()) break;
      open->partial = false;  // broken: the rest goes on a new line
      log.streams[StreamIndex(stream)].open_seq.reset();
    }
    if (ends) {
      if (Line* open = OpenLine(log, stream)) {
        if (!open->text.empty() && open->text.back() == '\r') {
          open->text.pop_back();
          --log.bytes;
          --total_bytes_;
        }
        open->partial = false;
      }
      log.streams[StreamIndex(stream)].open_seq.reset();
    }
  }
}

LogStore::Line* LogStore::OpenLine(ExecutionLog& log, LogStream stream) {
  StreamState& state = log.streams[StreamIndex(stream)];
  if (!state.open_seq) return nullptr;
  // The open line is near the back: only the other stream's lines can follow it.
  for (auto it = log.lines.rbegin(); it != log.lines.rend() && it->seq >= *state.open_seq; ++it) {
    if (it->seq == *state.open_seq) return &*it;
  }
  state.open_seq.reset();  // dropped by a cap
  return nullptr;
}

void LogStore::NewLine(ExecutionLog& log, LogStream stream, std::string text, bool partial,
                       const std::string& time) {
  size_t cost = kLineOverhead + text.size();
  uint64_t seq = next_seq_++;
  log.lines.push_back({seq, time, stream, std::move(text), partial});
  if (partial) log.streams[StreamIndex(stream)].open_seq = seq;
  log.bytes += cost;
  total_bytes_ += cost;
}

void LogStore::DropFront(ExecutionLog& log) {
  const Line& front = log.lines.front();
  StreamState& state = log.streams[StreamIndex(front.stream)];
  if (state.open_seq == front.seq) state.open_seq.reset();
  size_t cost = kLineOverhead + front.text.size();
  log.bytes -= cost;
  total_bytes_ -= cost;
  log.lines.pop_front();
  log.truncated = true;
}

void LogStore::Remove(Executions::iterator it) {
  ExecutionLog& log = it->second;
  total_bytes_ -= log.bytes;
  auto job = by_job_.find(log.owner.job_id);
  if (job != by_job_.end()) {
    job->second.erase(it->first);
    if (job->second.empty()) by_job_.erase(job);
  }
  recency_.erase(log.recency);
  executions_.erase(it);
}

void LogStore::Forget(const std::string& execution_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = executions_.find(execution_id);
  if (it != executions_.end()) Remove(it);
}

void LogStore::AppendEntries(const std::string& id, const ExecutionLog& log, size_t max_lines,
                             LogPage* page) const {
  size_t first = log.lines.size() - std::min(log.lines.size(), max_lines);
  if (first > 0 || log.truncated) page->truncated = true;
  for (auto it = log.lines.begin() + static_cast<std::ptrdiff_t>(first); it != log.lines.end();
       ++it) {
    page->entries.push_back({id, log.owner, it->seq, it->time, it->stream, it->text, it->partial});
  }
}

std::optional<LogPage> LogStore::ExecutionTail(const std::string& execution_id,
                                               size_t max_lines) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = executions_.find(execution_id);
  if (it == executions_.end()) return std::nullopt;
  LogPage page;
  AppendEntries(it->first, it->second, max_lines, &page);
  return page;
}

std::optional<LogOwner> LogStore::OwnerOf(const std::string& execution_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = executions_.find(execution_id);
  if (it == executions_.end()) return std::nullopt;
  return it->second.owner;
}

LogPage LogStore::JobTail(const std::string& job_id, const std::string& node_id,
                          size_t max_lines) const {
  LogPage page;
  std::lock_guard<std::mutex> lock(mu_);
  auto job = by_job_.find(job_id);
  if (job == by_job_.end()) return page;
  // The newest max_lines of each execution are the only candidates; of those, the newest
  // max_lines overall win. Sort pointers, copy only the winners.
  struct Candidate {
    uint64_t seq;
    const std::string* id;
    const ExecutionLog* log;
    const Line* line;
  };
  std::vector<Candidate> candidates;
  for (const std::string& id : job->second) {
    const ExecutionLog& log = executions_.at(id);
    if (!node_id.empty() && log.owner.node_id != node_id) continue;
    size_t first = log.lines.size() - std::min(log.lines.size(), max_lines);
    if (first > 0 || log.truncated) page.truncated = true;
    for (size_t i = first; i < log.lines.size(); ++i) {
      candidates.push_back({log.lines[i].seq, &id, &log, &log.lines[i]});
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.seq < b.seq; });
  size_t first = candidates.size() - std::min(candidates.size(), max_lines);
  if (first > 0) page.truncated = true;
  page.entries.reserve(candidates.size() - first);
  for (size_t i = first; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    page.entries.push_back(
        {*c.id, c.log->owner, c.seq, c.line->time, c.line->stream, c.line->text, c.line->partial});
  }
  return page;
}

LogStore::Usage LogStore::usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {total_bytes_, executions_.size(), evicted_};
}

}  // namespace drover::controller
