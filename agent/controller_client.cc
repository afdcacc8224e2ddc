#include "agent/controller_client.h"

#include <cpprest/http_client.h>

namespace drover::agent {

namespace http = web::http;

struct ControllerClient::Impl {
  std::unique_ptr<http::client::http_client> client;
  std::string token;
  pplx::cancellation_token_source cancel;
};

ControllerClient::ControllerClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControllerClient::~ControllerClient() = default;

Result<std::unique_ptr<ControllerClient>> ControllerClient::Create(const std::string& server,
                                                                   const std::string& token,
                                                                   std::chrono::seconds timeout) {
  try {
    http::client::http_client_config config;
    config.set_timeout(timeout);
    auto impl = std::make_unique<Impl>();
    impl->client = std::make_unique<http::client::http_client>(server, config);
    impl->token = token;
    return std::unique_ptr<ControllerClient>(new ControllerClient(std::move(impl)));
  } catch (const std::exception& e) {
    return InvalidError("--server " + server + ": " + e.what());
  }
}

namespace {

HttpAnswer Send(http::client::http_client& client, const pplx::cancellation_token& cancel,
                const std::string& token, const http::method& method, const std::string& path,
                const nlohmann::json* body) {
  HttpAnswer answer;
  try {
    http::http_request request(method);
    request.set_request_uri(path);
    if (!token.empty()) request.headers().add("Authorization", "Bearer " + token);
    if (body != nullptr) {
      request.set_body(body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json");
    }
    http::http_response response = client.request(request, cancel).get();
    answer.status = response.status_code();
    std::string text = response.extract_utf8string(true).get();
    answer.body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (answer.status < 200 || answer.status >= 300) {
      if (answer.body.is_object() && answer.body.contains("error") &&
          answer.body["error"].is_object()) {
        answer.error = answer.body["error"].value("message", text.substr(0, 300));
      } else {
        answer.error = text.substr(0, 300);
      }
    }
  } catch (const std::exception& e) {
    answer.status = 0;
    answer.error = e.what();
  }
  return answer;
}

}  // namespace

HttpAnswer ControllerClient::Post(const std::string& path, const nlohmann::json& body) {
  return Send(*impl_->client, impl_->cancel.get_token(), impl_->token, http::methods::POST, path,
              &body);
}

HttpAnswer ControllerClient::Get(const std::string& path_and_query) {
  return Send(*impl_->client, impl_->cancel.get_token(), impl_->token, http::methods::GET,
              path_and_query, nullptr);
}

}  // namespace drover::agent

namespace drover::agent {
void ControllerClient::Cancel() { impl_->cancel.cancel(); }
}  // namespace drover::agent
