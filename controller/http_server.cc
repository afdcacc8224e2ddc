// HttpServer on Boost.Beast (Boost's HTTP library, already a dependency through Asio). Beast
// lets the server refuse an oversized body from its Content-Length before reading it, answer
// malformed requests with a proper error body, check TLS files at start, and serve about twice
// the requests of cpprestsdk's listener per core (prior-art/baselines.md). One session per
// connection on a strand; a fixed pool of threads runs every session; a handler may answer later
// (long polls) from any thread, which posts the write back onto the session's strand.
#include "controller/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <charconv>
#include <cstdio>
#include <thread>
#include <vector>

namespace drover::controller {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

constexpr auto kReadTimeout = std::chrono::seconds(60);   // a request's headers and body
constexpr auto kIdleTimeout = std::chrono::seconds(120);  // between requests on keep-alive
constexpr auto kWriteTimeout = std::chrono::seconds(60);
// Request line and headers. Beast refuses single fields over 64 KiB by throwing, so the limit
// stays below that and oversized requests are answered 431 instead.
constexpr size_t kHeaderLimit = 60 * 1024;
constexpr size_t kDrainLimit = 64 * 1024 * 1024;  // bytes discarded after a 413 before closing

size_t g_threads = 8;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, const HttpServerOptions& options,
          const HttpServer::RequestHandler& handler, std::atomic<int64_t>& open_sessions)
      : stream_(std::move(stream)), options_(options), handler_(handler), open_(open_sessions) {
    ++open_;
  }
  ~Session() { --open_; }

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(kReadTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->Read(true);
                              });
    } else {
      Read(true);
    }
  }

 private:
  void Read(bool first) {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(options_.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(first ? kReadTimeout : kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto length = parser_->content_length();
    if (length && *length > options_.max_body_bytes) return TooLarge(*length);
    beast::get_lowest_layer(stream_).expires_after(kReadTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == http::error::body_limit) return TooLarge(0);
    if (ec == http::error::header_limit) {
      return Fail(
          431, "request line and headers larger than " + std::to_string(kHeaderLimit) + " bytes");
    }
    Fail(400, "malformed HTTP request: " + ec.message());
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    beast::get_lowest_layer(stream_).expires_never();  // the handler may take a while (long polls)
    http::request<http::string_body> request = parser_->release();
    keep_alive_ = request.keep_alive();
    HttpRequest r;
    r.method = std::string(request.method_string());
    std::string_view target(request.target().data(), request.target().size());
    size_t question = target.find('?');
    r.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
      std::string bad_parameter;
      Result<std::map<std::string, std::string>> query =
          ParseQuery(target.substr(question + 1), &bad_parameter);
      if (!query.ok()) {
        return Write(ErrorResponse(400, "invalid", query.status().message(),
                                   {{bad_parameter, "malformed percent-escape"}}));
      }
      r.query = std::move(query).value();
    }
    if (r.path.empty() || r.path[0] != '/') {
      return Write(ErrorResponse(400, "invalid", "the request target must be an absolute path"));
    }
    for (const auto& field : request) {
      r.headers[Lower(std::string_view(field.name_string().data(), field.name_string().size()))] =
          std::string(field.value());
    }
    r.body = std::move(request.body());
    beast::error_code endpoint_error;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(endpoint_error);
    if (!endpoint_error) r.remote_address = remote.address().to_string();
    auto self = this->shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self, answered](HttpResponse response) {
      if (answered->exchange(true)) return;  // exactly once
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
    try {
      handler_(std::move(r), respond);
    } catch (const std::exception& e) {
      respond(ErrorResponse(500, "internal", std::string("internal error: ") + e.what()));
    }
  }

  void TooLarge(uint64_t size) {
    keep_alive_ = false;  // the rest of the body is never stored
    drain_after_write_ = true;
    std::string what =
        size > 0 ? "request body of " + std::to_string(size) + " bytes" : "request body";
    Write(ErrorResponse(413, "too_large",
                        what + " is over the limit of " + std::to_string(options_.max_body_bytes) +
                            " bytes (--max-body-bytes)"));
  }

  void Fail(int status, const std::string& message) {
    keep_alive_ = false;
    Write(ErrorResponse(status, status == 413 || status == 431 ? "too_large" : "invalid", message));
  }

  void Write(HttpResponse response) {
    auto reply = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), 11);
    reply->set(http::field::server, "drover");
    reply->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) reply->set(name, value);
    reply->body() = std::move(response.body);
    reply->keep_alive(keep_alive_);
    reply->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    http::async_write(stream_, *reply,
                      [self = this->shared_from_this(), reply](beast::error_code ec, size_t) {
                        if (!ec && self->drain_after_write_) return self->Drain();
                        if (ec || !self->keep_alive_) return self->Close();
                        self->Read(false);
                      });
  }

  // After refusing a body, reads and discards what the client still sends (bounded in bytes and
  // time) so that it sees our answer instead of a connection reset.
  void Drain() {
    Close();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(stream_).async_read_some(
        net::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > kDrainLimit) return;
          self->Drain();
        });
  }

  void Close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  const HttpServerOptions& options_;
  const HttpServer::RequestHandler& handler_;
  std::atomic<int64_t>& open_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool drain_after_write_ = false;
  size_t drained_ = 0;
  std::array<char, 64 * 1024> scratch_{};
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, RequestHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        io_(static_cast<int>(g_threads)),
        acceptor_(net::make_strand(io_)),
        tls_(ssl::context::tls_server) {}

  Status Open() {
    if (!options_.tls_cert.empty()) {
      try {
        tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        tls_.use_certificate_chain_file(options_.tls_cert);
        tls_.use_private_key_file(options_.tls_key, ssl::context::pem);
      } catch (const std::exception& e) {
        return InvalidError("cannot load --tls-cert " + options_.tls_cert + " / --tls-key " +
                            options_.tls_key + ": " + e.what());
      }
      use_tls_ = true;
    }
    beast::error_code ec;
    auto address =
        net::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
    if (ec) return InvalidError("--listen: \"" + options_.host + "\" is not an IP address");
    tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
    std::string where = options_.host + ":" + std::to_string(options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("cannot listen on " + where + ": " + ec.message());
    Accept();
    for (size_t i = 0; i < g_threads; ++i) {
      threads_.emplace_back([this] {
        // No exception from one connection may take the process down: log it and keep serving.
        while (!stopped_) {
          try {
            io_.run();
            return;
          } catch (const std::exception& e) {
            std::fprintf(stderr, "drover: error in the HTTP server (connection dropped): %s\n",
                         e.what());
          }
        }
      });
    }
    return Status::Ok();
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    io_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  ~BeastServer() override { Stop(); }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || stopped_) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        ec = {};
        if (use_tls_) {
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), tls_),
              options_, handler_, open_sessions_)
              ->Start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)),
                                                       options_, handler_, open_sessions_)
              ->Start();
        }
      }
      Accept();
    });
  }

  // Sessions refer to these three; a session still held when the server stops dies with io_,
  // so they are declared (and live) before it.
  std::atomic<int64_t> open_sessions_{0};
  HttpServerOptions options_;
  RequestHandler handler_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  ssl::context tls_;
  bool use_tls_ = false;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
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
    if (colon == std::string::npos) {
      return InvalidError("--listen: expected HOST:PORT, got \"" + text + "\"");
    }
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

void InitializeHttpThreads(size_t threads) { g_threads = std::max<size_t>(1, threads); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      RequestHandler handler) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidError("--tls-cert and --tls-key go together");
  }
  auto server = std::make_unique<BeastServer>(options, std::move(handler));
  Status opened = server->Open();
  if (!opened.ok()) return opened;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace drover::controller
