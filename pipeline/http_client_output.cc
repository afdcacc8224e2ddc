// The `http_client` output (pipeline/components.h): one request per message, the message as
// the body, sent with cpprestsdk and waited for before the next one. A stop cancels the request
// in flight; that message and the rest of the batch are not counted as handled.
#include <cpprest/http_client.h>

#include <utility>
#include <vector>

#include "pipeline/components.h"

namespace drover::pipeline {
namespace {

namespace http = web::http;

class HttpClientOutput : public Output {
 public:
  HttpClientOutput(std::unique_ptr<http::client::http_client> client, http::method verb,
                   StopSignal& stop)
      : client_(std::move(client)), verb_(std::move(verb)), stop_(stop) {
    stop.OnRequest([this] { cancel_.cancel(); });
  }

  size_t Write(Batch& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch.live(i)) continue;
      if (stop_.requested()) return i;
      try {
        http::http_request request(verb_);
        const std::string& content = batch.message(i).content;
        request.set_body(std::vector<unsigned char>(content.begin(), content.end()));
        http::http_response response = client_->request(request, cancel_.get_token()).get();
        http::status_code code = response.status_code();
        if (code < 200 || code > 299) batch.flags(i) |= kFailed;
      } catch (const pplx::task_canceled&) {
        return i;  // stopping: not delivered, not counted
      } catch (const std::exception&) {
        if (stop_.requested()) return i;
        batch.flags(i) |= kFailed;
      }
    }
    return batch.size();
  }

 private:
  std::unique_ptr<http::client::http_client> client_;
  http::method verb_;
  const StopSignal& stop_;
  pplx::cancellation_token_source cancel_;
};

}  // namespace

Result<std::unique_ptr<Output>> MakeHttpClientOutput(const std::string& url, std::string verb,
                                                     StopSignal& stop) {
  if (!web::uri::validate(url)) return InvalidError("not a valid URL: " + url);
  web::uri uri(url);
  if ((uri.scheme() != "http" && uri.scheme() != "https") || uri.host().empty()) {
    return InvalidError("must be an absolute http:// or https:// URL, got " + url);
  }
  try {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(10));
    auto client = std::make_unique<http::client::http_client>(uri, config);
    return std::unique_ptr<Output>(
        std::make_unique<HttpClientOutput>(std::move(client), std::move(verb), stop));
  } catch (const std::exception& e) {
    return InvalidError(std::string("cannot use ") + url + ": " + e.what());
  }
}

}  // namespace drover::pipeline
