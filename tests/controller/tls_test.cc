// The controller over TLS (SPEC §12: --tls-cert and --tls-key): with a self-signed certificate
// made by the `openssl` command line, /healthz and the API answer over HTTPS, plain HTTP on the
// same port gets no API answer, and bad TLS flags stop the controller at start-up.
// cpprestsdk's U() macro would clash with gtest's template parameters: turn it off.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_client.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/controller_process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using ::testing::HasSubstr;
using Json = nlohmann::json;

struct HttpsReply {
  int status = 0;  // 0: no HTTPS answer
  std::string body;
  std::string error;
};

// One request over HTTPS, not verifying the (self-signed) certificate.
HttpsReply HttpsGet(int port, const std::string& path,
                    std::chrono::seconds timeout = std::chrono::seconds(5)) {
  HttpsReply out;
  try {
    web::http::client::http_client_config config;
    config.set_validate_certificates(false);
    config.set_timeout(timeout);
    web::http::client::http_client client("https://127.0.0.1:" + std::to_string(port), config);
    web::http::http_response response = client.request(web::http::methods::GET, path).get();
    out.status = response.status_code();
    out.body = response.extract_string().get();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

bool HaveOpenssl() { return testing::RunCommand("command -v openssl").exit_code == 0; }

// A self-signed certificate and key for 127.0.0.1 in `dir`; an error message or "".
std::string MakeCertificate(const std::filesystem::path& dir) {
  testing::ProcessResult made = testing::RunCommand(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=127.0.0.1 -keyout " +
      (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string());
  if (made.exit_code != 0) return "openssl failed: " + made.err;
  return "";
}

// The controller binary serving HTTPS, on a free port with a temporary data dir. Ready when
// /healthz answers over TLS.
class TlsController {
 public:
  TlsController(std::string cert, std::string key)
      : cert_(std::move(cert)), key_(std::move(key)), dir_(testing::MakeTempDir("drover-tls")) {}
  ~TlsController() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Starts and waits up to 15 s for HTTPS /healthz; false when it exited or never answered.
  bool Start() {
    port_ = testing::FreePort();
    log_path_ = (dir_ / "log").string();
    std::vector<std::string> args = {DROVER_BINARY, "controller",
                                     "--listen",    "127.0.0.1:" + std::to_string(port_),
                                     "--data-dir",  (dir_ / "data").string(),
                                     "--tls-cert",  cert_,
                                     "--tls-key",   key_};
    pid_ = fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path_.c_str(), "a");
      if (log != nullptr) {
        dup2(fileno(log), 1);
        dup2(fileno(log), 2);
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (HttpsGet(port_, "/healthz", std::chrono::seconds(1)).status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  int port() const { return port_; }
  std::string log() const { return testing::ReadAll(log_path_); }

 private:
  std::string cert_;
  std::string key_;
  std::filesystem::path dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

class TlsServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveOpenssl()) return;
    cert_dir_ = testing::MakeTempDir("drover-tls-cert");
    setup_error_ = MakeCertificate(cert_dir_);
    if (!setup_error_.empty()) return;
    controller_ = std::make_unique<TlsController>((cert_dir_ / "cert.pem").string(),
                                                  (cert_dir_ / "key.pem").string());
    if (!controller_->Start()) setup_error_ = "controller did not start: " + controller_->log();
  }
  static void TearDownTestSuite() {
    controller_.reset();
    if (!cert_dir_.empty()) std::filesystem::remove_all(cert_dir_);
    setup_error_.clear();
  }
  void SetUp() override {
    if (!HaveOpenssl()) {
      GTEST_SKIP() << "the openssl command line is not installed (apt-get install -y openssl): "
                      "cannot make a test certificate";
    }
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  static std::unique_ptr<TlsController> controller_;
  static std::filesystem::path cert_dir_;
  static std::string setup_error_;
};

std::unique_ptr<TlsController> TlsServer::controller_;
std::filesystem::path TlsServer::cert_dir_;
std::string TlsServer::setup_error_;

TEST_F(TlsServer, HealthzAnswers200OverTls) {
  HttpsReply reply = HttpsGet(controller_->port(), "/healthz");
  EXPECT_EQ(reply.status, 200) << reply.error;
  Json body = Json::parse(reply.body, nullptr, false);
  EXPECT_EQ(body.value("status", ""), "ok") << reply.body;
  EXPECT_THAT(controller_->log(), HasSubstr("https://"));
}

TEST_F(TlsServer, ApiAnswersOverTlsWithSpecErrorBodies) {
  HttpsReply jobs = HttpsGet(controller_->port(), "/api/v1/jobs");
  EXPECT_EQ(jobs.status, 200) << jobs.error;
  EXPECT_TRUE(Json::parse(jobs.body, nullptr, false).contains("items")) << jobs.body;

  HttpsReply missing = HttpsGet(controller_->port(), "/api/v1/no-such-route");
  EXPECT_EQ(missing.status, 404) << missing.error;
  Json error = Json::parse(missing.body, nullptr, false);
  ASSERT_TRUE(error.contains("error")) << missing.body;
  EXPECT_EQ(error["error"].value("code", ""), "not_found");
}

TEST_F(TlsServer, PlainHttpToTheTlsPortGetsNoApiAnswer) {
  testing::Connection plain(controller_->port(), std::chrono::seconds(5));
  ASSERT_TRUE(plain.ok());
  testing::HttpReply reply = plain.Request("GET", "/healthz");
  EXPECT_NE(reply.status, 200);
  EXPECT_THAT(reply.body, ::testing::Not(HasSubstr("\"status\"")));
  // And the TLS side is unharmed.
  EXPECT_EQ(HttpsGet(controller_->port(), "/healthz").status, 200);
}

// ---- Start-up refusals ---------------------------------------------------------------------

TEST(TlsStartup, CertificateWithoutKeyRefusesToStart) {
  std::filesystem::path dir = testing::MakeTempDir("drover-tls-half");
  ControllerProcess controller({"--tls-cert", (dir / "cert.pem").string(), "--store", "memory"});
  EXPECT_FALSE(controller.Start());
  EXPECT_FALSE(controller.running());
  EXPECT_NE(controller.exit_code(), 0);
  EXPECT_THAT(controller.log(), HasSubstr("--tls-key"));
  std::filesystem::remove_all(dir);
}

// A certificate that cannot be loaded must stop the controller at start-up, not fail every TLS
// handshake later while the log says it is listening.
TEST(TlsStartup, MissingCertificateFilesRefuseToStart) {
  std::filesystem::path dir = testing::MakeTempDir("drover-tls-missing");
  const std::string cert = (dir / "no-such-cert.pem").string();
  ControllerProcess controller(
      {"--tls-cert", cert, "--tls-key", (dir / "no-such-key.pem").string(), "--store", "memory"});
  // Start() polls plain HTTP, which a TLS listener never answers: it returns false either way,
  // after the process exited (right) or after 15 s with the process still up (wrong).
  EXPECT_FALSE(controller.Start());
  EXPECT_FALSE(controller.running())
      << "the controller kept running with an unreadable certificate; log:\n"
      << controller.log();
  EXPECT_NE(controller.exit_code(), 0);
  EXPECT_THAT(controller.log(), HasSubstr("no-such-cert.pem"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace drover
