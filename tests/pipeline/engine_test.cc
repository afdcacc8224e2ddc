// The engine as the agent uses it: configs checked at Create, the `stdin`, `generate` and
// `http_server` inputs, the processors and their error accounting, every output, and a prompt
// RequestStop in every mode. Real pipes, files and loopback sockets; no mocks.
// cpprestsdk's U() macro would clash with gtest's template parameters: turn it off.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/pipeline/engine_testing.h"
#include "tests/testing/http_client.h"

namespace drover::pipeline {
namespace {

using ::testing::ElementsAre;
using testing::Eventually;
using testing::FixedEnvironment;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Lines;
using testing::MakeEngine;
using testing::ReadLines;
using testing::RunningEngine;
using testing::TempDir;
using testing::WriteText;
using Json = nlohmann::json;

// A pipe whose read end is the engine's stdin.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe(fds_), 0); }
  ~Pipe() {
    CloseWriteEnd();
    close(fds_[0]);
  }
  int read_end() const { return fds_[0]; }
  void Write(const std::string& text) {
    EXPECT_EQ(write(fds_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void CloseWriteEnd() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

Json StdinTo(const Json& output, const Json& processors = Json::array()) {
  return {{"input", {{"stdin", Json::object()}}},
          {"pipeline", {{"processors", processors}}},
          {"output", output}};
}

Json Stdout() { return {{"stdout", Json::object()}}; }

// Runs `config` over `input` fed on a pipe until end of file; the stdout lines come back.
struct Outcome {
  Status status;
  std::vector<std::string> out;
  std::vector<std::string> log;
  Counts counts;
};
Outcome RunOverStdin(const Json& config, const std::string& input, EngineOptions options = {}) {
  static const FixedEnvironment environment;
  Pipe pipe;
  pipe.Write(input);
  pipe.CloseWriteEnd();
  Lines out;
  Lines log;
  options.stdin_fd = pipe.read_end();
  options.stdout_sink = out.Sink();
  options.log_sink = log.Sink();
  if (options.environment == nullptr) options.environment = &environment;
  Outcome outcome;
  auto engine = MakeEngine(config, std::move(options));
  if (engine == nullptr) return outcome;
  outcome.status = engine->Run();
  outcome.out = out.Get();
  outcome.log = log.Get();
  outcome.counts = engine->counts();
  return outcome;
}

// ---- Create: the same checks as job validation, and the options' limits ----

TEST(EngineCreate, RejectsWhatJobValidationRejectsNamingTheField) {
  Result<std::unique_ptr<Engine>> engine =
      Engine::Create({{"input", {{"kafka", Json::object()}}}, {"output", Stdout()}}, {});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalid);
  EXPECT_THAT(engine.status().message(), HasSubstr("input.kafka: unsupported input \"kafka\""));

  engine = Engine::Create(Json::array(), {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("config: expected an object"));

  // A pipeline needs an output; a query does not (its results are the output).
  Json no_output = {{"input", {{"stdin", Json::object()}}}};
  engine = Engine::Create(no_output, {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("output: required"));
  EngineOptions query;
  query.query = true;
  EXPECT_TRUE(Engine::Create(no_output, query).ok());
}

TEST(EngineCreate, RejectsAMappingThatDoesNotParseNamingTheProcessor) {
  Result<std::unique_ptr<Engine>> engine = Engine::Create(
      StdinTo(Stdout(), {{{"log", {{"message", "x"}}}}, {{"mapping", "root = "}}}), {});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalid);
  EXPECT_THAT(engine.status().message(), HasSubstr("pipeline.processors[1].mapping: line 1 char"));

  engine = Engine::Create(
      {{"input", {{"generate", {{"mapping", "root = nope_fn()"}}}}}, {"output", Stdout()}}, {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("input.generate.mapping: "));
}

TEST(EngineCreate, HttpServerListensOnlyWhenAllowed) {
  Json config = {{"input", {{"http_server", {{"address", "127.0.0.1:0"}}}}}, {"output", Stdout()}};
  Result<std::unique_ptr<Engine>> engine = Engine::Create(config, {});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalid);
  EXPECT_THAT(engine.status().message(), HasSubstr("input.http_server: "));
  EXPECT_THAT(engine.status().message(), HasSubstr("--allow-listen"));
}

TEST(EngineCreate, FileOutputOutsideTheReadRootIsRejected) {
  TempDir dir;
  EngineOptions options;
  options.read_root = dir.path().string();
  Result<std::unique_ptr<Engine>> engine =
      Engine::Create(StdinTo({{"file", {{"path", "/tmp/elsewhere.txt"}}}}), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(),
              HasSubstr("output.file.path: /tmp/elsewhere.txt is outside the read root"));
  EXPECT_TRUE(Engine::Create(StdinTo({{"file", {{"path", dir / "out.txt"}}}}), options).ok());
}

// ---- Inputs ----

TEST(StdinInput, ReadsLinesUntilEndOfFile) {
  Outcome r = RunOverStdin(StdinTo(Stdout()), "one\ntwo\n\nthree");
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(r.out, ElementsAre("one", "two", "three"));
  EXPECT_EQ(r.counts.processed, 3u);
  EXPECT_EQ(r.counts.errors, 0u);
}

TEST(GenerateInput, RunsTheMappingCountTimesThenEnds) {
  static const FixedEnvironment environment;
  Lines out;
  EngineOptions options;
  options.stdout_sink = out.Sink();
  options.environment = &environment;
  auto engine = MakeEngine(
      {{"input",
        {{"generate",
          {{"mapping", "root = {\"host\": hostname()}"}, {"interval", "1ms"}, {"count", 3}}}}},
       {"output", Stdout()}},
      std::move(options));
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(engine->Run().ok());
  EXPECT_THAT(out.Get(), ElementsAre(R"({"host":"test-host"})", R"({"host":"test-host"})",
                                     R"({"host":"test-host"})"));
  EXPECT_EQ(engine->counts().processed, 3u);
}

TEST(GenerateInput, AZeroIntervalGeneratesAsFastAsItCan) {
  EngineOptions options;
  auto engine = MakeEngine(
      {{"input",
        {{"generate", {{"mapping", "root = \"x\""}, {"interval", "0s"}, {"count", 1000}}}}},
       {"output", {{"drop", Json::object()}}}},
      std::move(options));
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(engine->Run().ok());
  EXPECT_EQ(engine->counts().processed, 1000u);
}

TEST(HttpServerInput, EachPostBodyIsAMessage) {
  int port = drover::testing::FreePort();
  Lines out;
  EngineOptions options;
  options.allow_listen = true;
  options.stdout_sink = out.Sink();
  auto engine =
      MakeEngine({{"input", {{"http_server", {{"address", "127.0.0.1:" + std::to_string(port)}}}}},
                  {"output", Stdout()}},
                 std::move(options));
  ASSERT_NE(engine, nullptr);
  RunningEngine running(*engine);
  // Path defaults to /post, as in Bento.
  ASSERT_TRUE(Eventually(
      [&] { return drover::testing::Http(port, "POST", "/post", R"({"a":1})").status == 200; }));
  EXPECT_EQ(drover::testing::Http(port, "POST", "/post", "second").status, 200);
  EXPECT_EQ(drover::testing::Http(port, "GET", "/post").status, 405);
  EXPECT_EQ(drover::testing::Http(port, "POST", "/elsewhere", "x").status, 404);
  ASSERT_TRUE(out.WaitForSize(2));
  EXPECT_TRUE(running.Stop().ok());
  EXPECT_THAT(out.Get(), ElementsAre(R"({"a":1})", "second"));
}

TEST(HttpServerInput, AnAddressInUseFailsTheRun) {
  int port = drover::testing::FreePort();
  EngineOptions options;
  options.allow_listen = true;
  Json config = {
      {"input",
       {{"http_server", {{"address", "127.0.0.1:" + std::to_string(port)}, {"path", "/in"}}}}},
      {"output", {{"drop", Json::object()}}}};
  auto first = MakeEngine(config, options);
  ASSERT_NE(first, nullptr);
  RunningEngine running(*first);
  ASSERT_TRUE(
      Eventually([&] { return drover::testing::Http(port, "POST", "/in", "x").status == 200; }));
  auto second = MakeEngine(config, options);
  ASSERT_NE(second, nullptr);
  Status status = second->Run();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("input.http_server: cannot listen on 127.0.0.1:"));
}

// ---- Processors ----

TEST(MappingProcessor, TheSeedMappingStampsEveryMessage) {
  Outcome r =
      RunOverStdin(StdinTo(Stdout(), {{{"mapping", "root = this\nroot.processed_at = now()\n"}}}),
                   "{\"level\":\"info\",\"msg\":\"started\"}\n{\"b\":2,\"a\":1}\n");
  EXPECT_TRUE(r.status.ok());
  ASSERT_EQ(r.out.size(), 2u);
  EXPECT_EQ(
      Json::parse(r.out[0]),
      Json::parse(R"({"level":"info","msg":"started","processed_at":"2024-01-02T03:04:05Z"})"));
  EXPECT_EQ(Json::parse(r.out[1])["a"], 1);
  EXPECT_EQ(r.counts.processed, 2u);
}

TEST(MappingProcessor, ANonJsonMessageIsAnErrorPassedOnUnchangedAndCounted) {
  Outcome r = RunOverStdin(StdinTo(Stdout(), {{{"mapping", "root = this\nroot.ok = true"}},
                                              {{"mapping", "root = this\nroot.again = true"}}}),
                           "{\"a\":1}\nnot json\n{\"a\":2}\n");
  EXPECT_TRUE(r.status.ok());
  ASSERT_EQ(r.out.size(), 3u);
  EXPECT_EQ(r.out[1], "not json");  // both processors failed it; it passed on as it was
  EXPECT_EQ(Json::parse(r.out[2]), Json::parse(R"({"a":2,"ok":true,"again":true})"));
  EXPECT_EQ(r.counts.processed, 2u);
  EXPECT_EQ(r.counts.errors, 1u);  // one message, one error, however many processors failed it
}

TEST(MappingProcessor, ADeletedMessageNeverReachesTheOutputAndIsNoError) {
  Outcome r = RunOverStdin(
      StdinTo(Stdout(), {{{"mapping", "root = if this.drop == true { deleted() } else { this }"}}}),
      "{\"n\":1}\n{\"n\":2,\"drop\":true}\n{\"n\":3}\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(r.out, ElementsAre(R"({"n":1})", R"({"n":3})"));
  EXPECT_EQ(r.counts.processed, 3u);
  EXPECT_EQ(r.counts.errors, 0u);
}

TEST(LogProcessor, WritesALineForEachMessageWithInterpolations) {
  Outcome r = RunOverStdin(
      StdinTo(Stdout(), {{{"log", {{"level", "WARN"}, {"message", "saw ${! this.n } \"q\""}}}},
                         {{"log", {{"level", "DEBUG"}, {"message", "hidden"}}}},
                         {{"log", {{"message", "plain"}}}}}),
      "{\"n\":1}\nraw\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(r.log,
              ElementsAre(R"(level=warn msg="saw 1 \"q\"" path=root.pipeline.processors.0)",
                          R"(level=warn msg="saw null \"q\"" path=root.pipeline.processors.0)",
                          R"(level=info msg="plain" path=root.pipeline.processors.2)",
                          R"(level=info msg="plain" path=root.pipeline.processors.2)"));
  // Logging never fails a message; the messages go on unchanged.
  EXPECT_THAT(r.out, ElementsAre(R"({"n":1})", "raw"));
  EXPECT_EQ(r.counts.errors, 0u);

  EngineOptions debug;
  debug.log_level = "DEBUG";
  r = RunOverStdin(StdinTo(Stdout(), {{{"log", {{"level", "DEBUG"}, {"message", "shown"}}}}}),
                   "x\n", debug);
  EXPECT_THAT(r.log, ElementsAre(R"(level=debug msg="shown" path=root.pipeline.processors.0)"));
}

TEST(LogProcessor, AnInterpolationThatDoesNotParseIsRejectedAtCreate) {
  Result<std::unique_ptr<Engine>> engine =
      Engine::Create(StdinTo(Stdout(), {{{"log", {{"message", "a ${! this. } b"}}}}}), {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("pipeline.processors[0].log.message: "));
  engine = Engine::Create(StdinTo(Stdout(), {{{"log", {{"message", "a ${! this"}}}}}), {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("is not closed"));
}

TEST(SleepProcessor, PassesMessagesOnAfterItsDuration) {
  Outcome r = RunOverStdin(StdinTo(Stdout(), {{{"sleep", {{"duration", "1ms"}}}}}), "a\nb\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(r.out, ElementsAre("a", "b"));
}

// ---- Outputs ----

TEST(FileOutput, AppendsOneLinePerMessage) {
  TempDir dir;
  WriteText(dir / "out.txt", "kept\n");
  Outcome r = RunOverStdin(StdinTo({{"file", {{"path", dir / "out.txt"}}}}), "a\nb\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(ReadLines(dir / "out.txt"), ElementsAre("kept", "a", "b"));
}

TEST(FileOutput, AMissingFolderFailsTheRunNamingTheField) {
  TempDir dir;
  Outcome r = RunOverStdin(StdinTo({{"file", {{"path", dir / "missing/out.txt"}}}}), "a\n");
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("output.file.path: cannot open "));
}

TEST(DropOutput, CountsMessagesAndWritesNothing) {
  Outcome r = RunOverStdin(StdinTo({{"drop", Json::object()}}), "a\nb\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.counts.processed, 2u);
}

// A loopback HTTP server that records bodies and answers 500 to those containing "fail".
class RecordingServer {
 public:
  RecordingServer() : port_(drover::testing::FreePort()) {
    listener_ = std::make_unique<web::http::experimental::listener::http_listener>(
        web::uri("http://127.0.0.1:" + std::to_string(port_) + "/in"));
    listener_->support([this](web::http::http_request request) {
      std::string body = request.extract_string(true).get();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(std::string(request.method()) + " " + body);
      }
      request.reply(body.find("fail") == std::string::npos ? 200 : 500);
    });
    listener_->open().wait();
  }
  ~RecordingServer() { listener_->close().wait(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/in"; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  int port_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

TEST(HttpClientOutput, SendsEachMessageAndCountsNon2xxAnswersAsErrors) {
  RecordingServer server;
  Outcome r = RunOverStdin(StdinTo({{"http_client", {{"url", server.url()}}}}),
                           "{\"a\":1}\nplease fail\nlast\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(server.requests(), ElementsAre("POST {\"a\":1}", "POST please fail", "POST last"));
  EXPECT_EQ(r.counts.processed, 2u);
  EXPECT_EQ(r.counts.errors, 1u);

  r = RunOverStdin(StdinTo({{"http_client", {{"url", server.url()}, {"verb", "PUT"}}}}), "x\n");
  EXPECT_EQ(server.requests().back(), "PUT x");
}

TEST(HttpClientOutput, AnUnreachableServerIsAnOutputErrorNotAFailedRun) {
  int port = drover::testing::FreePort();  // nothing listens there
  Outcome r = RunOverStdin(
      StdinTo({{"http_client", {{"url", "http://127.0.0.1:" + std::to_string(port) + "/x"}}}}),
      "a\n");
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.counts.errors, 1u);
}

TEST(HttpClientOutput, ARelativeUrlIsRejectedAtCreate) {
  Result<std::unique_ptr<Engine>> engine =
      Engine::Create(StdinTo({{"http_client", {{"url", "/just/a/path"}}}}), {});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("output.http_client.url: "));
}

TEST(QueryMode, EveryMessageReachingTheOutputIsAResult) {
  Lines results;
  EngineOptions options;
  options.query = true;
  options.result_sink = results.ResultSink();
  Outcome r = RunOverStdin(
      {{"input", {{"stdin", Json::object()}}},
       {"pipeline",
        {{"processors", {{{"mapping", "root = if this.n == 2 { deleted() } else { this }"}}}}}}},
      "{\"n\":1}\n{\"n\":2}\nnot json\n", std::move(options));
  EXPECT_TRUE(r.status.ok());
  EXPECT_THAT(results.Get(), ElementsAre(R"({"n":1})", "not json"));
  EXPECT_EQ(r.counts.errors, 1u);
}

// ---- RequestStop ----

TEST(RequestStop, EndsRunPromptlyInEveryMode) {
  TempDir dir;
  WriteText(dir / "a.log", "x\n");
  int port = drover::testing::FreePort();
  Pipe idle_stdin;  // open, never written
  std::vector<Json> configs = {
      {{"input", {{"file", {{"paths", {dir / "*.log"}}}}}}, {"output", Stdout()}},
      StdinTo(Stdout()),
      {{"input", {{"generate", {{"mapping", "root = 1"}, {"interval", "1h"}}}}},
       {"output", Stdout()}},
      {{"input", {{"generate", {{"mapping", "root = 1"}, {"interval", "0s"}}}}},
       {"output", {{"drop", Json::object()}}}},
      {{"input", {{"http_server", {{"address", "127.0.0.1:" + std::to_string(port)}}}}},
       {"output", Stdout()}},
      StdinTo(Stdout(), {{{"sleep", {{"duration", "1h"}}}}}),
  };
  for (const Json& config : configs) {
    SCOPED_TRACE(config.dump());
    Lines out;
    EngineOptions options;
    options.allow_listen = true;
    options.stdin_fd = idle_stdin.read_end();
    options.stdout_sink = out.Sink();
    auto engine = MakeEngine(config, std::move(options));
    ASSERT_NE(engine, nullptr);
    RunningEngine running(*engine);
    if (config.dump().find("sleep") != std::string::npos) {
      idle_stdin.Write("into the long sleep\n");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it settle into its wait
    Status status = running.Stop();
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
}

TEST(RequestStop, BeforeRunMakesRunReturnAtOnce) {
  Pipe idle_stdin;
  EngineOptions options;
  options.stdin_fd = idle_stdin.read_end();
  auto engine = MakeEngine(StdinTo(Stdout()), std::move(options));
  ASSERT_NE(engine, nullptr);
  engine->RequestStop();
  EXPECT_TRUE(engine->Run().ok());
}

}  // namespace
}  // namespace drover::pipeline
