// The processors: `mapping` (Bloblang), `log` and `sleep` (pipeline/components.h).
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "pipeline/components.h"

namespace drover::pipeline {
namespace {

class MappingProcessor : public Processor {
 public:
  MappingProcessor(bloblang::Mapping mapping, const bloblang::Environment& environment)
      : mapping_(std::move(mapping)), environment_(environment) {}

  void Process(Batch& batch) override {
    std::string error;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch.live(i)) continue;
      // In place: the message's own buffers are reused, nothing is copied that does not change.
      switch (mapping_.ApplyInPlace(batch.message(i), environment_, &error)) {
        case bloblang::Outcome::kMessage:
          break;
        case bloblang::Outcome::kDeleted:
          batch.flags(i) |= kDeleted;
          break;
        case bloblang::Outcome::kError:
          // Bento passes a failed message on unchanged, flagged as failed.
          batch.flags(i) |= kFailed;
          break;
      }
    }
  }

 private:
  bloblang::Mapping mapping_;
  const bloblang::Environment& environment_;
};

constexpr std::array<std::string_view, 5> kLevels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};

int LevelRank(std::string_view level) {
  for (size_t i = 0; i < kLevels.size(); ++i) {
    if (kLevels[i] == level) return static_cast<int>(i);
  }
  return 2;  // INFO
}

// logfmt quoting of a value: quotes, backslashes and control characters escaped.
void AppendQuoted(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        out->push_back(c);
    }
  }
  out->push_back('"');
}

// One piece of a log message: literal text, or a `${! expression }` to evaluate.
struct Segment {
  std::string text;
  std::optional<bloblang::Mapping> expression;
};

// The end of the expression that starts at `from` (the index of its closing '}'), skipping
// nested braces and string literals; npos when unterminated.
size_t ExpressionEnd(std::string_view text, size_t from) {
  int depth = 0;
  for (size_t i = from; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (depth == 0) return i;
      --depth;
    }
  }
  return std::string_view::npos;
}

Result<std::vector<Segment>> ParseInterpolation(std::string_view text) {
  std::vector<Segment> segments;
  std::string literal;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find("${!", pos);
    if (start == std::string_view::npos) {
      literal += text.substr(pos);
      break;
    }
    literal += text.substr(pos, start - pos);
    size_t end = ExpressionEnd(text, start + 3);
    if (end == std::string_view::npos) {
      return InvalidError("interpolation at char " + std::to_string(start + 1) +
                          " is not closed with '}'");
    }
    std::string_view expression = text.substr(start + 3, end - start - 3);
    Result<bloblang::Mapping> mapping =
        bloblang::Mapping::Parse("root = " + std::string(expression));
    if (!mapping.ok()) {
      return InvalidError("interpolation \"${!" + std::string(expression) +
                          "}\": " + mapping.status().message());
    }
    if (!literal.empty()) segments.push_back({std::move(literal), std::nullopt});
    literal.clear();
    segments.push_back({"", std::move(mapping).value()});
    pos = end + 1;
  }
  if (!literal.empty()) segments.push_back({std::move(literal), std::nullopt});
  return segments;
}

class LogProcessor : public Processor {
 public:
  LogProcessor(std::string level, std::vector<Segment> segments, std::string component_path,
               bool enabled, const bloblang::Environment& environment, LineSink sink)
      : segments_(std::move(segments)),
        prefix_("level=" + Lowercase(level) + " msg="),
        suffix_(" path=" + component_path),
        enabled_(enabled),
        environment_(environment),
        sink_(std::move(sink)) {}

  void Process(Batch& batch) override {
    if (!enabled_) return;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch.live(i)) continue;
      message_.clear();
      for (const Segment& s : segments_) {
        if (!s.expression) {
          message_ += s.text;
          continue;
        }
        bloblang::MappingResult r = s.expression->Apply(batch.message(i), environment_);
        // As Bento's non-strict interpolation: what cannot be evaluated reads "null".
        message_ += r.outcome == bloblang::Outcome::kMessage ? r.message.content : "null";
      }
      line_ = prefix_;
      AppendQuoted(message_, &line_);
      line_ += suffix_;
      sink_(line_);
    }
  }

 private:
  static std::string Lowercase(std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
  }

  std::vector<Segment> segments_;
  std::string prefix_;
  std::string suffix_;
  bool enabled_;
  const bloblang::Environment& environment_;
  LineSink sink_;
  std::string message_;
  std::string line_;
};

class SleepProcessor : public Processor {
 public:
  SleepProcessor(std::chrono::nanoseconds duration, const StopSignal& stop)
      : duration_(duration), stop_(stop) {}

  void Process(Batch& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      // Once stopping, messages pass without the wait so that the stop stays prompt.
      if (batch.live(i) && duration_.count() > 0 && !stop_.requested()) stop_.WaitFor(duration_);
    }
  }

 private:
  std::chrono::nanoseconds duration_;
  const StopSignal& stop_;
};

}  // namespace

std::unique_ptr<Processor> MakeMappingProcessor(bloblang::Mapping mapping,
                                                const bloblang::Environment& environment) {
  return std::make_unique<MappingProcessor>(std::move(mapping), environment);
}

Result<std::unique_ptr<Processor>> MakeLogProcessor(std::string level, std::string_view message,
                                                    std::string component_path,
                                                    std::string_view min_level,
                                                    const bloblang::Environment& environment,
                                                    LineSink sink) {
  Result<std::vector<Segment>> segments = ParseInterpolation(message);
  if (!segments.ok()) return segments.status();
  bool enabled = LevelRank(level) >= LevelRank(min_level);
  return std::unique_ptr<Processor>(std::make_unique<LogProcessor>(
      std::move(level), std::move(segments).value(), std::move(component_path), enabled,
      environment, std::move(sink)));
}

std::unique_ptr<Processor> MakeSleepProcessor(std::chrono::nanoseconds duration,
                                              const StopSignal& stop) {
  return std::make_unique<SleepProcessor>(duration, stop);
}

}  // namespace drover::pipeline
