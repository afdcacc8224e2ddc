// The `file` input (pipeline/components.h). Query mode: every matched file read to its end, in
// path order. Follow mode: every file read from its start (or its saved offset), then polled:
// appended lines are read, new files matching a pattern are picked up, a file that shrank is
// read again from its start, one replaced by another (a new inode: rotation) or removed is
// read to its end before it is let go. Offsets (path + device + inode -> offset of the last
// handled line) persist in `state_dir` at most every save_interval and at the stop, so that a
// restart neither repeats nor loses lines.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "pipeline/components.h"
#include "pipeline/files.h"
#include "pipeline/line_splitter.h"

namespace drover::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunkBytes = 256 << 10;
constexpr int kChunksPerRound = 16;  // then the next file gets its turn
constexpr const char* kOffsetsFile = "file_input_offsets.json";

struct SavedOffset {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t offset = 0;
};

struct TrackedFile {
  std::string path;
  int fd = -1;
  uint64_t device = 0;
  uint64_t inode = 0;
  LineSplitter lines;
  Metadata metadata;
};

class FileInput : public Input {
 public:
  explicit FileInput(FileInputOptions options)
      : options_(std::move(options)), buffer_(kChunkBytes) {}
  ~FileInput() override {
    for (auto& [path, file] : files_) close(file.fd);
  }

  Status Run(Pipeline& pipeline, const StopSignal& stop) override {
    pipeline_ = &pipeline;
    stop_ = &stop;
    if (!options_.follow) {
      for (const std::string& path : Matches()) {
        if (stop.requested()) break;
        std::optional<TrackedFile> file = OpenFile(path, /*saved=*/nullptr);
        if (!file) continue;
        ReadToEnd(*file);
        close(file->fd);
      }
      return Status::Ok();
    }
    LoadOffsets();
    Clock::time_point last_scan = Clock::now() - options_.poll_interval;
    Clock::time_point last_save = Clock::now();
    while (!stop.requested()) {
      if (Clock::now() - last_scan >= options_.poll_interval) {
        Scan();
        last_scan = Clock::now();
      }
      bool progressed = false;
      for (auto& [path, file] : files_) {
        if (stop.requested()) break;
        progressed = ReadAvailable(file, kChunksPerRound) || progressed;
      }
      if (dirty_ && Clock::now() - last_save >= options_.save_interval) {
        SaveOffsets();
        last_save = Clock::now();
      }
      if (!progressed) stop.WaitFor(options_.poll_interval);
    }
    SaveOffsets();
    return Status::Ok();
  }

 private:
  std::set<std::string> Matches() const {
    std::set<std::string> paths;
    for (const std::string& pattern : options_.patterns) {
      for (std::string& path : Glob(pattern)) paths.insert(std::move(path));
    }
    return paths;
  }

  void Warn(const std::string& path, const std::string& message) {
    // Once per path and message, or a poll every 200 ms would repeat it forever.
    if (options_.log && warned_.insert(path + "\n" + message).second) {
      options_.log("level=warn msg=\"input.file: " + path + ": " + message + "\"");
    }
  }

  // Opens a regular file under the read root; resumes at `saved` when it is the same file and
  // no longer than the file.
  std::optional<TrackedFile> OpenFile(const std::string& path, const SavedOffset* saved) {
    if (!options_.read_root.empty() && !options_.read_root.ContainsResolved(path)) {
      Warn(path, "skipped: it resolves outside the read root " + options_.read_root.path());
      return std::nullopt;
    }
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      Warn(path, std::string("cannot open: ") + std::strerror(errno));
      return std::nullopt;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return std::nullopt;
    }
    TrackedFile file;
    file.path = path;
    file.fd = fd;
    file.device = static_cast<uint64_t>(st.st_dev);
    file.inode = static_cast<uint64_t>(st.st_ino);
    file.metadata["path"] = path;
    if (saved != nullptr && saved->device == file.device && saved->inode == file.inode &&
        saved->offset <= static_cast<uint64_t>(st.st_size)) {
      file.lines.Reset(saved->offset);
    }
    return file;
  }

  // Reads up to `max_chunks` chunks from where the file was left; true when it read anything.
  bool ReadAvailable(TrackedFile& file, int max_chunks) {
    bool progressed = false;
    for (int chunk = 0; chunk < max_chunks && !stop_->requested(); ++chunk) {
      ssize_t n =
          pread(file.fd, buffer_.data(), buffer_.size(), static_cast<off_t>(file.lines.position()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Warn(file.path, std::string("read failed: ") + std::strerror(errno));
      if (n <= 0) break;
      progressed = true;
      uint64_t before = file.lines.consumed();
      batch_.Clear();
      ends_.clear();
      file.lines.Feed(std::string_view(buffer_.data(), static_cast<size_t>(n)), file.metadata,
                      &batch_, &ends_);
      Deliver(file, before);
    }
    return progressed;
  }

  // Hands the batch on; when a stop cut it short, the file resumes after the last handled line.
  void Deliver(TrackedFile& file, uint64_t before) {
    if (batch_.empty()) {
      dirty_ = true;
      return;
    }
    size_t handled = pipeline_->Process(batch_);
    dirty_ = true;
    if (handled < batch_.size()) file.lines.Reset(handled == 0 ? before : ends_[handled - 1]);
  }

  // Reads to the end of the file; the last line needs no newline.
  void ReadToEnd(TrackedFile& file) {
    while (!stop_->requested() && ReadAvailable(file, kChunksPerRound)) {
    }
    if (stop_->requested()) return;
    uint64_t before = file.lines.consumed();
    batch_.Clear();
    ends_.clear();
    file.lines.Flush(file.metadata, &batch_, &ends_);
    Deliver(file, before);
  }

  // Follow mode: new matches opened, rotated, truncated and removed files handled.
  void Scan() {
    std::set<std::string> matches = Matches();
    for (auto it = files_.begin(); it != files_.end() && !stop_->requested();) {
      TrackedFile& file = it->second;
      struct stat st {};
      bool present = matches.count(file.path) && stat(file.path.c_str(), &st) == 0;
      bool replaced = present && (static_cast<uint64_t>(st.st_dev) != file.device ||
                                  static_cast<uint64_t>(st.st_ino) != file.inode);
      if (!present || replaced) {
        // What was written before the rotation or removal is still read.
        ReadToEnd(file);
        close(file.fd);
        it = files_.erase(it);
        dirty_ = true;
        continue;
      }
      struct stat opened {};
      if (fstat(file.fd, &opened) == 0 &&
          static_cast<uint64_t>(opened.st_size) < file.lines.position()) {
        file.lines.Reset(0);  // truncated: its new content starts at 0
        dirty_ = true;
      }
      ++it;
    }
    for (const std::string& path : matches) {
      if (files_.count(path) || stop_->requested()) continue;
      auto saved = saved_.find(path);
      std::optional<TrackedFile> file =
          OpenFile(path, saved == saved_.end() ? nullptr : &saved->second);
      // A saved offset serves once: a file created later at the same path (inodes are reused)
      // starts at 0.
      if (saved != saved_.end()) saved_.erase(saved);
      if (file) files_.emplace(path, std::move(*file));
    }
  }

  std::string OffsetsPath() const {
    return (std::filesystem::path(options_.state_dir) / kOffsetsFile).string();
  }

  void LoadOffsets() {
    if (options_.state_dir.empty()) return;
    std::string text;
    int fd = open(OffsetsPath().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // the first run
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) text.append(chunk, static_cast<size_t>(n));
    close(fd);
    nlohmann::json state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!state.is_object() || !state.contains("files") || !state["files"].is_array()) {
      Warn(OffsetsPath(), "unreadable offsets; reading every file from its start");
      return;
    }
    for (const nlohmann::json& entry : state["files"]) {
      if (!entry.is_object() || !entry.value("path", nlohmann::json()).is_string()) continue;
      SavedOffset saved;
      saved.device = entry.value("device", uint64_t{0});
      saved.inode = entry.value("inode", uint64_t{0});
      saved.offset = entry.value("offset", uint64_t{0});
      saved_[entry["path"].get<std::string>()] = saved;
    }
  }

  void SaveOffsets() {
    dirty_ = false;
    if (options_.state_dir.empty()) return;
    nlohmann::json files = nlohmann::json::array();
    for (const auto& [path, file] : files_) {
      files.push_back({{"path", path},
                       {"device", file.device},
                       {"inode", file.inode},
                       {"offset", file.lines.consumed()}});
    }
    std::error_code ignored;
    std::filesystem::create_directories(options_.state_dir, ignored);
    nlohmann::json state = {{"files", std::move(files)}};
    Status saved = WriteFileAtomically(
        OffsetsPath(), state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (!saved.ok()) Warn(OffsetsPath(), saved.message());
  }

  FileInputOptions options_;
  Pipeline* pipeline_ = nullptr;
  const StopSignal* stop_ = nullptr;
  std::map<std::string, TrackedFile> files_;
  std::map<std::string, SavedOffset> saved_;
  std::set<std::string> warned_;
  std::vector<char> buffer_;
  Batch batch_;
  std::vector<uint64_t> ends_;
  bool dirty_ = false;
};

}  // namespace

std::unique_ptr<Input> MakeFileInput(FileInputOptions options) {
  return std::make_unique<FileInput>(std::move(options));
}

}  // namespace drover::pipeline
