#include "controller/http_server.h"

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include <boost/asio/ssl.hpp>
#include <charconv>

namespace drover::controller {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;
using http::experimental::listener::http_listener_config;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void SendReply(http::http_request request, const HttpResponse& response) {
  http::http_response reply(static_cast<http::status_code>(response.status));
  for (const auto& [name, value] : response.headers) reply.headers().add(name, value);
  reply.set_body(response.body, response.content_type);
  try {
    request.reply(reply).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {
        // The client went away; nothing to do.
      }
    });
  } catch (...) {
  }
}

class CppRestServer final : public HttpServer {
 public:
  CppRestServer(const HttpServerOptions& options, RequestHandler handler)
      : options_(options), handler_(std::move(handler)) {}

  Status Open() {
    http_listener_config config;
    config.set_timeout(std::chrono::seconds(120));
    bool tls = !options_.tls_cert.empty();
    if (tls) {
      std::string cert = options_.tls_cert, key = options_.tls_key;
      config.set_ssl_context_callback([cert, key](boost::asio::ssl::context& context) {
        context.set_options(boost::asio::ssl::context::default_workarounds |
                            boost::asio::ssl::context::no_sslv2 |
                            boost::asio::ssl::context::no_sslv3 |
                            boost::asio::ssl::context::no_tlsv1 |
                            boost::asio::ssl::context::no_tlsv1_1);
        context.use_certificate_chain_file(cert);
        context.use_private_key_file(key, boost::asio::ssl::context::pem);
      });
    }
    std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]"
                                                                     : options_.host;
    std::string uri = std::string(tls ? "https://" : "http://") + host + ":" +
                      std::to_string(options_.port) + "/";
    try {
      listener_ = std::make_unique<http_listener>(uri, config);
      listener_->support([this](http::http_request request) { OnRequest(std::move(request)); });
      listener_->open().wait();
    } catch (const std::exception& e) {
      listener_.reset();
      return UnavailableError("cannot listen on " + uri + ": " + e.what());
    }
    return Status::Ok();
  }

  void Stop() override {
    if (listener_) {
      try {
        listener_->close().wait();
      } catch (...) {
      }
      listener_.reset();
    }
  }

  ~CppRestServer() override { Stop(); }

 private:
  void OnRequest(http::http_request request) {
    try {
      HttpRequest r;
      r.method = request.method();
      r.path = request.relative_uri().path();
      r.query = ParseQuery(request.relative_uri().query());
      for (const auto& [name, value] : request.headers()) r.headers[Lower(name)] = value;
      r.remote_address = request.remote_address();
      uint64_t length = request.headers().content_length();
      if (length > options_.max_body_bytes) {
        return SendReply(request, TooLarge(length));
      }
      request.extract_vector()
          .then([this, request, r = std::move(r)](pplx::task<std::vector<unsigned char>> body) mutable {
            try {
              std::vector<unsigned char> bytes = body.get();
              if (bytes.size() > options_.max_body_bytes) return SendReply(request, TooLarge(bytes.size()));
              r.body.assign(bytes.begin(), bytes.end());
            } catch (const std::exception& e) {
              return SendReply(request, ErrorResponse(400, "invalid",
                                                      std::string("cannot read the body: ") + e.what()));
            }
            try {
              handler_(std::move(r), [request](HttpResponse response) { SendReply(request, response); });
            } catch (const std::exception& e) {
              SendReply(request, ErrorResponse(500, "internal", e.what()));
            }
          });
    } catch (const std::exception& e) {
      SendReply(request, ErrorResponse(400, "invalid", std::string("bad request: ") + e.what()));
    }
  }

  HttpResponse TooLarge(uint64_t size) const {
    return ErrorResponse(413, "too_large",
                         "request body of " + std::to_string(size) + " bytes is over the limit of " +
                             std::to_string(options_.max_body_bytes) + " (--max-body-bytes)");
  }

  HttpServerOptions options_;
  RequestHandler handler_;
  std::unique_ptr<http_listener> listener_;
};

}  // namespace

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidError("--listen: expected [IPv6]:PORT, got \"" + text + "\"");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return InvalidError("--listen: expected HOST:PORT, got \"" + text + "\"");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  int number = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (ec != std::errc() || p != port.data() + port.size() || number < 1 || number > 65535) {
    return InvalidError("--listen: port must be 1-65535, got \"" + port + "\"");
  }
  return std::make_pair(host, number);
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void InitializeHttpThreads(size_t threads) {
  crossplat::threadpool::initialize_with_threads(threads);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      RequestHandler handler) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidError("--tls-cert and --tls-key go together");
  }
  auto server = std::make_unique<CppRestServer>(options, std::move(handler));
  Status opened = server->Open();
  if (!opened.ok()) return opened;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace drover::controller
