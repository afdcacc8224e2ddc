#include "agent/controller_client.h"

#include <cpprest/http_client.h>

#include <vector>

namespace drover::agent {

namespace http = web::http;

struct ControllerClient::Impl {
  // One client per controller replica given; `current` is the one in use.
  std::vector<std::unique_ptr<http::client::http_client>> clients;
  size_t current = 0;
  std::string token;
  pplx::cancellation_token_source cancel;

  http::client::http_client& client() { return *clients[current]; }
  // After no answer or a 503, the next call goes to the next replica (a dead or leaderless one
  // is left behind; with one server this changes nothing).
  void NoteAnswer(int status) {
    if ((status == 0 || status == 503) && clients.size() > 1) {
      current = (current + 1) % clients.size();
    }
  }
};

ControllerClient::ControllerClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControllerClient::~ControllerClient() = default;

Result<std::unique_ptr<ControllerClient>> ControllerClient::Create(const std::string& server,
                                                                   const std::string& token,
                                                                   std::chrono::seconds timeout) {
  http::client::http_client_config config;
  config.set_timeout(timeout);
  auto impl = std::make_unique<Impl>();
  impl->token = token;
  size_t start = 0;
  while (true) {
    size_t comma = server.find(',', start);
    std::string one = server.substr(start, comma == std::string::npos ? comma : comma - start);
    if (one.empty()) return InvalidError("--server " + server + ": an empty URL in the list");
    try {
      impl->clients.push_back(std::make_unique<http::client::http_client>(one, config));
    } catch (const std::exception& e) {
      return InvalidError("--server " + one + ": " + e.what());
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return std::unique_ptr<ControllerClient>(new ControllerClient(std::move(impl)));
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
  HttpAnswer answer = Send(impl_->client(), impl_->cancel.get_token(), impl_->token,
                           http::methods::POST, path, &body);
  impl_->NoteAnswer(answer.status);
  return answer;
}

HttpAnswer ControllerClient::Get(const std::string& path_and_query) {
  HttpAnswer answer = Send(impl_->client(), impl_->cancel.get_token(), impl_->token,
                           http::methods::GET, path_and_query, nullptr);
  impl_->NoteAnswer(answer.status);
  return answer;
}

}  // namespace drover::agent

namespace drover::agent {
void ControllerClient::Cancel() { impl_->cancel.cancel(); }
}  // namespace drover::agent
