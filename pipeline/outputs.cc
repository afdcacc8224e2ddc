// The outputs `stdout`, `file` and `drop` (pipeline/components.h); `http_client` is in
// http_client_output.cc. Each batch is one write(2).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "pipeline/components.h"
#include "pipeline/files.h"

namespace drover::pipeline {
namespace {

// The live messages of `batch`, one line each.
void AppendLines(const Batch& batch, std::string* buffer) {
  buffer->clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch.live(i)) continue;
    *buffer += batch.message(i).content;
    buffer->push_back('\n');
  }
}

void FailLive(Batch& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch.live(i)) batch.flags(i) |= kFailed;
  }
}

// Writes one line per message to a descriptor it does not own, or to a sink.
class StdoutOutput : public Output {
 public:
  explicit StdoutOutput(LineSink sink) : sink_(std::move(sink)) {}

  size_t Write(Batch& batch) override {
    if (sink_) {
      for (size_t i = 0; i < batch.size(); ++i) {
        if (batch.live(i)) sink_(batch.message(i).content);
      }
      return batch.size();
    }
    AppendLines(batch, &buffer_);
    if (!WriteAll(STDOUT_FILENO, buffer_)) FailLive(batch);
    return batch.size();
  }

 private:
  LineSink sink_;
  std::string buffer_;
};

class FileOutput : public Output {
 public:
  FileOutput(std::string path, ReadRoot root) : path_(std::move(path)), root_(std::move(root)) {}
  ~FileOutput() override { Close(); }

  Status Open() override {
    if (!root_.empty()) {
      // A symlink on the way may lead out of the root: judge the real path (of the folder, when
      // the file does not exist yet).
      std::string parent = std::filesystem::path(AbsoluteNormal(path_)).parent_path().string();
      bool exists = access(path_.c_str(), F_OK) == 0;
      if (!root_.ContainsResolved(exists ? path_ : parent)) {
        return InvalidError("output.file.path: " + path_ + " resolves outside the read root " +
                            root_.path());
      }
    }
    fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return UnavailableError("output.file.path: cannot open " + path_ + ": " +
                              std::strerror(errno));
    }
    return Status::Ok();
  }

  size_t Write(Batch& batch) override {
    AppendLines(batch, &buffer_);
    if (!buffer_.empty() && !WriteAll(fd_, buffer_)) FailLive(batch);
    return batch.size();
  }

  void Close() override {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  ReadRoot root_;
  int fd_ = -1;
  std::string buffer_;
};

class DropOutput : public Output {
 public:
  size_t Write(Batch& batch) override { return batch.size(); }
};

}  // namespace

std::unique_ptr<Output> MakeStdoutOutput(LineSink sink) {
  return std::make_unique<StdoutOutput>(std::move(sink));
}

std::unique_ptr<Output> MakeFileOutput(std::string path, ReadRoot root) {
  return std::make_unique<FileOutput>(std::move(path), std::move(root));
}

std::unique_ptr<Output> MakeDropOutput() { return std::make_unique<DropOutput>(); }

}  // namespace drover::pipeline
