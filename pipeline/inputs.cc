// The `stdin` and `generate` inputs (pipeline/components.h); `file` is in file_input.cc and
// `http_server` in http_server_input.cc.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "pipeline/components.h"
#include "pipeline/line_splitter.h"

namespace drover::pipeline {
namespace {

class StdinInput : public Input {
 public:
  explicit StdinInput(int fd) : fd_(fd), buffer_(64 << 10) {}

  Status Run(Pipeline& pipeline, const StopSignal& stop) override {
    const Metadata no_metadata;
    LineSplitter lines;
    Batch batch;
    std::vector<uint64_t> ends;
    while (!stop.requested()) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop.fd(), POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) {
        return UnavailableError(std::string("input.stdin: ") + std::strerror(errno));
      }
      if (stop.requested()) break;
      if (fds[0].revents == 0) continue;
      ssize_t n = read(fd_, buffer_.data(), buffer_.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return UnavailableError(std::string("input.stdin: ") + std::strerror(errno));
      }
      batch.Clear();
      ends.clear();
      if (n == 0) {
        lines.Flush(no_metadata, &batch, &ends);
        pipeline.Process(batch);
        return Status::Ok();
      }
      lines.Feed(std::string_view(buffer_.data(), static_cast<size_t>(n)), no_metadata, &batch,
                 &ends);
      pipeline.Process(batch);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  std::vector<char> buffer_;
};

class GenerateInput : public Input {
 public:
  GenerateInput(bloblang::Mapping mapping, std::chrono::nanoseconds interval, int64_t count,
                const bloblang::Environment& environment)
      : mapping_(std::move(mapping)),
        interval_(interval),
        count_(count),
        environment_(environment) {}

  Status Run(Pipeline& pipeline, const StopSignal& stop) override {
    using Clock = std::chrono::steady_clock;
    constexpr int64_t kFastBatch = 256;
    const bloblang::Message empty;
    Batch batch;
    int64_t produced = 0;
    Clock::time_point next = Clock::now();
    while (!stop.requested() && (count_ == 0 || produced < count_)) {
      int64_t n = 1;
      if (interval_.count() > 0) {
        Clock::time_point now = Clock::now();
        if (now < next && stop.WaitFor(next - now)) break;
        // A late tick does not make a burst: the next one is an interval after this one.
        next = std::max(next + interval_, Clock::now());
      } else {
        n = count_ == 0 ? kFastBatch : std::min(kFastBatch, count_ - produced);
      }
      batch.Clear();
      for (int64_t i = 0; i < n; ++i) {
        bloblang::MappingResult result = mapping_.Apply(empty, environment_);
        if (result.outcome == bloblang::Outcome::kMessage) batch.Add(std::move(result.message));
        // A failed mapping makes no message, only an error (Bento logs it and moves on).
        if (result.outcome == bloblang::Outcome::kError) pipeline.CountErrors(1);
      }
      produced += n;
      pipeline.Process(batch);
    }
    return Status::Ok();
  }

 private:
  bloblang::Mapping mapping_;
  std::chrono::nanoseconds interval_;
  int64_t count_;
  const bloblang::Environment& environment_;
};

}  // namespace

std::unique_ptr<Input> MakeStdinInput(int fd) { return std::make_unique<StdinInput>(fd); }

std::unique_ptr<Input> MakeGenerateInput(bloblang::Mapping mapping,
                                         std::chrono::nanoseconds interval, int64_t count,
                                         const bloblang::Environment& environment) {
  return std::make_unique<GenerateInput>(std::move(mapping), interval, count, environment);
}

}  // namespace drover::pipeline
