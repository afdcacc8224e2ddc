// Engine::Create and the engine itself (pipeline/engine.h): the config checked by the same rules
// as job validation (api/validation.h), then each component built from its fields with Bento's
// defaults, then the options' limits (read root, listening) applied.
#include "pipeline/engine.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <utility>

#include "api/document.h"
#include "api/duration.h"
#include "api/validation.h"
#include "pipeline/components.h"
#include "pipeline/files.h"

namespace drover::pipeline {
namespace {

using Json = nlohmann::json;

constexpr const char* kDefaultHttpServerAddress = "0.0.0.0:4195";  // Bento's HTTP server
constexpr const char* kDefaultHttpServerPath = "/post";
constexpr const char* kDefaultGenerateInterval = "1s";

// A string field after validation: present and a string, or `fallback`.
std::string StringField(const Json& body, std::string_view key, std::string fallback) {
  if (!body.is_object()) return fallback;
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// A duration field after validation (so it parses).
std::chrono::nanoseconds DurationField(const Json& body, std::string_view key,
                                       std::string_view fallback) {
  Result<Duration> parsed = ParseDuration(StringField(body, key, std::string(fallback)));
  return std::chrono::nanoseconds(parsed.ok() ? parsed->nanoseconds() : 0);
}

// "host:port", ":port" (every interface) or "[v6]:port".
Result<std::pair<std::string, int>> ParseAddress(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return InvalidError("expected host:port, got " + std::string(text));
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    return InvalidError("expected host:port with a port from 1 to 65535, got " + std::string(text));
  }
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, port);
}

void WriteToStderr(std::string_view line) {
  std::string text(line);
  text.push_back('\n');
  WriteAll(STDERR_FILENO, text);
}

class EngineImpl : public Engine {
 public:
  explicit EngineImpl(EngineOptions options) : options_(std::move(options)) {}

  Status Build(const Json& config);

  Status Run() override {
    if (ran_.exchange(true)) return InternalError("Engine::Run called twice");
    Status opened = pipeline_->Open();
    if (!opened.ok()) return opened;
    Status status = input_->Run(*pipeline_, stop_);
    pipeline_->Close();
    return status;
  }
  void RequestStop() override { stop_.Request(); }
  Counts counts() const override { return pipeline_->counts(); }

 private:
  Result<std::unique_ptr<Input>> BuildInput(const Json& input);
  Result<std::unique_ptr<Processor>> BuildProcessor(const Json& processor, size_t index);
  Result<std::unique_ptr<Output>> BuildOutput(const Json* output);

  EngineOptions options_;
  const bloblang::Environment* environment_ = nullptr;
  LineSink log_;
  StopSignal stop_;  // first in, last out: components hold references to it
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<Input> input_;
  std::atomic<bool> ran_{false};
};

Status EngineImpl::Build(const Json& config) {
  environment_ =
      options_.environment != nullptr ? options_.environment : &bloblang::SystemEnvironment();
  log_ = options_.log_sink ? options_.log_sink : LineSink(WriteToStderr);

  Result<std::unique_ptr<Input>> input = BuildInput(config.at("input"));
  if (!input.ok()) return input.status();
  std::vector<std::unique_ptr<Processor>> processors;
  auto pipeline = config.find("pipeline");
  if (pipeline != config.end() && pipeline->is_object()) {
    auto list = pipeline->find("processors");
    if (list != pipeline->end() && list->is_array()) {
      for (size_t i = 0; i < list->size(); ++i) {
        Result<std::unique_ptr<Processor>> processor = BuildProcessor((*list)[i], i);
        if (!processor.ok()) return processor.status();
        processors.push_back(std::move(processor).value());
      }
    }
  }
  auto output_field = config.find("output");
  Result<std::unique_ptr<Output>> output = BuildOutput(
      output_field == config.end() || output_field->is_null() ? nullptr : &*output_field);
  if (!output.ok()) return output.status();
  input_ = std::move(input).value();
  pipeline_ = std::make_unique<Pipeline>(std::move(processors), std::move(output).value(),
                                         options_.query ? options_.result_sink : nullptr);
  return Status::Ok();
}

Result<std::unique_ptr<Input>> EngineImpl::BuildInput(const Json& input) {
  const std::string& name = input.begin().key();
  const Json& body = input.begin().value();
  std::string path = FieldPathAppendKey("input", name);
  if (name == "file") {
    FileInputOptions file;
    file.follow = !options_.query;
    file.state_dir = options_.state_dir;
    file.log = log_;
    if (!options_.read_root.empty()) file.read_root = ReadRoot(options_.read_root);
    const Json& paths = body.at("paths");
    for (size_t i = 0; i < paths.size(); ++i) {
      std::string pattern = paths[i].get<std::string>();
      if (!file.read_root.empty() && !file.read_root.ContainsLexically(pattern)) {
        return InvalidError(FieldPathAppendIndex(FieldPathAppendKey(path, "paths"), i) + ": " +
                            pattern + " is outside the read root " + file.read_root.path());
      }
      file.patterns.push_back(std::move(pattern));
    }
    return MakeFileInput(std::move(file));
  }
  if (name == "stdin") return MakeStdinInput(options_.stdin_fd);
  if (name == "generate") {
    Result<bloblang::Mapping> mapping = bloblang::Mapping::Parse(StringField(body, "mapping", ""));
    if (!mapping.ok()) {
      return InvalidError(FieldPathAppendKey(path, "mapping") + ": " + mapping.status().message());
    }
    int64_t count = 0;
    if (auto it = body.find("count"); it != body.end() && it->is_number_integer()) {
      count = it->get<int64_t>();
    }
    return MakeGenerateInput(std::move(mapping).value(),
                             DurationField(body, "interval", kDefaultGenerateInterval), count,
                             *environment_);
  }
  if (name == "http_server") {
    if (!options_.allow_listen) {
      return InvalidError(path +
                          ": this node does not allow listening for requests (the agent runs "
                          "without --allow-listen)");
    }
    std::string address = StringField(body, "address", "");
    if (address.empty()) address = kDefaultHttpServerAddress;
    Result<std::pair<std::string, int>> host_port = ParseAddress(address);
    if (!host_port.ok()) {
      return InvalidError(FieldPathAppendKey(path, "address") + ": " +
                          host_port.status().message());
    }
    std::string route = StringField(body, "path", "");
    if (route.empty()) route = kDefaultHttpServerPath;
    if (route[0] != '/') route.insert(route.begin(), '/');
    return MakeHttpServerInput(host_port->first, host_port->second, route);
  }
  return InvalidError(path + ": unsupported input");  // validation names it first
}

Result<std::unique_ptr<Processor>> EngineImpl::BuildProcessor(const Json& processor, size_t index) {
  const std::string& name = processor.begin().key();
  const Json& body = processor.begin().value();
  std::string path = FieldPathAppendKey(FieldPathAppendIndex("pipeline.processors", index), name);
  if (name == "mapping") {
    Result<bloblang::Mapping> mapping = bloblang::Mapping::Parse(body.get<std::string>());
    if (!mapping.ok()) return InvalidError(path + ": " + mapping.status().message());
    return MakeMappingProcessor(std::move(mapping).value(), *environment_);
  }
  if (name == "log") {
    Result<std::unique_ptr<Processor>> log =
        MakeLogProcessor(StringField(body, "level", "INFO"), StringField(body, "message", ""),
                         "root.pipeline.processors." + std::to_string(index), options_.log_level,
                         *environment_, log_);
    if (!log.ok()) {
      return InvalidError(FieldPathAppendKey(path, "message") + ": " + log.status().message());
    }
    return log;
  }
  if (name == "sleep") return MakeSleepProcessor(DurationField(body, "duration", "0s"), stop_);
  return InvalidError(path + ": unsupported processor");  // validation names it first
}

Result<std::unique_ptr<Output>> EngineImpl::BuildOutput(const Json* output) {
  if (output == nullptr) return MakeDropOutput();  // a query without an output: results only
  const std::string& name = output->begin().key();
  const Json& body = output->begin().value();
  std::string path = FieldPathAppendKey("output", name);
  if (name == "stdout") return MakeStdoutOutput(options_.stdout_sink);
  if (name == "drop") return MakeDropOutput();
  if (name == "file") {
    std::string file = StringField(body, "path", "");
    ReadRoot root;
    if (!options_.read_root.empty()) {
      root = ReadRoot(options_.read_root);
      if (!root.ContainsLexically(file)) {
        return InvalidError(FieldPathAppendKey(path, "path") + ": " + file +
                            " is outside the read root " + root.path());
      }
    }
    return MakeFileOutput(std::move(file), std::move(root));
  }
  if (name == "http_client") {
    Result<std::unique_ptr<Output>> client = MakeHttpClientOutput(
        StringField(body, "url", ""), StringField(body, "verb", "POST"), stop_);
    if (!client.ok()) {
      return InvalidError(FieldPathAppendKey(path, "url") + ": " + client.status().message());
    }
    return client;
  }
  return InvalidError(path + ": unsupported output");  // validation names it first
}

std::string KindName(const Json& v) {
  if (v.is_array()) return "a list";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Create(const nlohmann::json& config,
                                               EngineOptions options) {
  if (!config.is_object()) {
    return InvalidError("config: expected an object {input, pipeline, output}, got " +
                        KindName(config));
  }
  Diagnostics diagnostics;
  ValidateJobConfig(options.query ? JobType::kQuery : JobType::kPipeline, config, "", &diagnostics);
  if (!diagnostics.ok()) return InvalidError(diagnostics.Summary());
  auto engine = std::make_unique<EngineImpl>(std::move(options));
  Status built = engine->Build(config);
  if (!built.ok()) return built;
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace drover::pipeline
