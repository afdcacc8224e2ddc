// HttpServer: the real HTTP(S) listener (cpprestsdk) in front of a request handler. It turns
// each request into an HttpRequest (refusing bodies over the limit with 413 before handing them
// on), and the handler's HttpResponse back into a reply; replies may come later, from any thread
// (long polls park no thread). The only file that includes cpprestsdk's listener. Start/Stop from
// one thread; requests are served on cpprestsdk's thread pool.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/status.h"
#include "controller/http.h"

namespace drover::controller {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 9010;
  std::string tls_cert;  // PEM files; both or neither
  std::string tls_key;
  size_t max_body_bytes = 1 << 20;
};

// "127.0.0.1:9010", "[::1]:9010", "localhost:9010", ":9010" (all interfaces) -> host, port.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& text);

// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopbackHost(const std::string& host);

// Sets the size of cpprestsdk's shared thread pool; call once, before any server or client.
void InitializeHttpThreads(size_t threads);

class HttpServer {
 public:
  using RequestHandler = std::function<void(HttpRequest, Responder)>;

  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   RequestHandler handler);
  virtual ~HttpServer() = default;
  virtual void Stop() = 0;
};

}  // namespace drover::controller
