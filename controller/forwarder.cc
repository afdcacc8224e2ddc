#include "controller/forwarder.h"

#include <cpprest/http_client.h>

#include <exception>
#include <set>
#include <utility>

namespace drover::controller {
namespace {

namespace http = web::http;

// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the client sets itself.
bool Relayed(const std::string& name_lower) {
  static const std::set<std::string> kSkipped = {
      "connection", "keep-alive",        "proxy-connection", "te",   "trailer",
      "upgrade",    "transfer-encoding", "content-length",   "host", "content-type"};
  return kSkipped.count(name_lower) == 0;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

struct Forwarder::Clients {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<http::client::http_client>> by_url;
};

Forwarder::Forwarder(std::string replica_id, std::chrono::milliseconds timeout)
    : replica_id_(std::move(replica_id)),
      timeout_(timeout),
      clients_(std::make_unique<Clients>()) {}

Forwarder::~Forwarder() = default;

void Forwarder::Forward(const HttpRequest& request, const std::string& leader_id,
                        const std::string& leader_url, Responder respond) {
  auto unavailable = [leader_id, leader_url](const std::string& why) {
    HttpResponse answer = ErrorResponse(503, "unavailable",
                                        "this replica forwards to the leader " + leader_id +
                                            " at " + leader_url + ", which did not answer: " + why +
                                            "; retry (a new leader is elected within one lease)");
    answer.headers.emplace_back("Retry-After", "2");
    return answer;
  };
  std::shared_ptr<http::client::http_client> client;
  try {
    std::lock_guard<std::mutex> lock(clients_->mu);
    auto& slot = clients_->by_url[leader_url];
    if (!slot) {
      http::client::http_client_config config;
      config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout_));
      slot = std::make_shared<http::client::http_client>(leader_url, config);
    }
    client = slot;
  } catch (const std::exception& e) {
    respond(unavailable(std::string("bad leader address: ") + e.what()));
    return;
  }

  http::http_request out(http::method(request.method));
  web::uri_builder target(request.path);
  for (const auto& [name, value] : request.query) target.append_query(name, value);
  out.set_request_uri(target.to_uri());
  for (const auto& [name, value] : request.headers) {
    if (Relayed(name)) out.headers().add(name, value);
  }
  out.headers().add(kForwardedByHeader, replica_id_);
  if (!request.remote_address.empty()) {
    out.headers().add("X-Forwarded-For", request.remote_address);
  }
  if (!request.body.empty() || request.method == "PUT" || request.method == "POST") {
    std::string type = request.Header("content-type");
    out.set_body(request.body, type.empty() ? std::string("application/json") : type);
  }

  auto shared_respond = std::make_shared<Responder>(std::move(respond));
  try {
    client->request(out)
        .then([shared_respond](http::http_response reply) {
          HttpResponse answer;
          answer.status = reply.status_code();
          answer.content_type = reply.headers().content_type();
          for (const auto& [name, value] : reply.headers()) {
            std::string lower = Lower(name);
            if (Relayed(lower) && lower != "server" && lower != "date") {
              answer.headers.emplace_back(name, value);
            }
          }
          return reply.extract_vector().then(
              [shared_respond, answer](std::vector<unsigned char> body) mutable {
                answer.body.assign(body.begin(), body.end());
                (*shared_respond)(std::move(answer));
              });
        })
        .then([shared_respond, unavailable](pplx::task<void> done) {
          try {
            done.get();
          } catch (const std::exception& e) {
            (*shared_respond)(unavailable(e.what()));
          }
        });
  } catch (const std::exception& e) {
    (*shared_respond)(unavailable(e.what()));
  }
}

}  // namespace drover::controller
