// The `http_server` input (pipeline/components.h): cpprestsdk's listener on host:port, path.
// Each POST body is one message; it is queued (bounded) for the Run() thread and answered 200
// once queued, 503 when the queue is full or the input is stopping, 405 for other verbs and 404
// below the path. Requests are handled on cpprestsdk's threads; the queue is the only shared
// state.
#include <cpprest/http_listener.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

#include "pipeline/components.h"

namespace drover::pipeline {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;

constexpr size_t kMaxQueued = 4096;

// Shared with the request handlers, which may outlive the input's Run() by a little.
struct RequestQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<bloblang::Message> messages;  // guarded by mutex
  bool closing = false;                    // guarded by mutex
};

void Reply(http::http_request& request, http::status_code code) {
  try {
    request.reply(code);
  } catch (const std::exception&) {
    // The client went away: nothing to answer.
  }
}

void Handle(const std::shared_ptr<RequestQueue>& queue, http::http_request request) {
  std::string relative = request.relative_uri().path();
  if (relative != "/" && !relative.empty()) {
    Reply(request, http::status_codes::NotFound);
    return;
  }
  if (request.method() != http::methods::POST) {
    Reply(request, http::status_codes::MethodNotAllowed);
    return;
  }
  request.extract_vector().then(
      [queue, request](pplx::task<std::vector<unsigned char>> body) mutable {
        bloblang::Message message;
        try {
          std::vector<unsigned char> bytes = body.get();
          message.content.assign(bytes.begin(), bytes.end());
        } catch (const std::exception&) {
          Reply(request, http::status_codes::BadRequest);
          return;
        }
        message.metadata["http_server_request_path"] = request.request_uri().path();
        message.metadata["http_server_verb"] = request.method();
        {
          std::lock_guard<std::mutex> lock(queue->mutex);
          if (queue->closing || queue->messages.size() >= kMaxQueued) {
            Reply(request, http::status_codes::ServiceUnavailable);
            return;
          }
          queue->messages.push_back(std::move(message));
        }
        queue->ready.notify_one();
        Reply(request, http::status_codes::OK);
      });
}

class HttpServerInput : public Input {
 public:
  HttpServerInput(std::string host, int port, std::string path)
      : host_(std::move(host)), port_(port), path_(std::move(path)) {}

  Status Run(Pipeline& pipeline, const StopSignal& stop) override {
    std::string address = host_ + ":" + std::to_string(port_);
    auto queue = std::make_shared<RequestQueue>();
    std::unique_ptr<http_listener> listener;
    try {
      listener = std::make_unique<http_listener>(web::uri("http://" + address + path_));
      listener->support([queue](http::http_request request) { Handle(queue, request); });
      listener->open().wait();
    } catch (const std::exception& e) {
      return UnavailableError("input.http_server: cannot listen on " + address + path_ + ": " +
                              e.what());
    }
    Batch batch;
    while (true) {
      bool stopping = stop.requested();
      batch.Clear();
      {
        std::unique_lock<std::mutex> lock(queue->mutex);
        if (!stopping) {
          // The stop is not a notification of this queue: look at it every 50 ms.
          queue->ready.wait_for(lock, std::chrono::milliseconds(50),
                                [&] { return !queue->messages.empty(); });
        }
        if (stopping) queue->closing = true;
        while (!queue->messages.empty()) {
          batch.Add(std::move(queue->messages.front()));
          queue->messages.pop_front();
        }
      }
      if (!batch.empty()) pipeline.Process(batch);
      if (stopping) break;  // what was queued before the stop is handled
    }
    try {
      listener->close().wait();
    } catch (const std::exception&) {
      // Closing is best effort at the stop.
    }
    return Status::Ok();
  }

 private:
  std::string host_;
  int port_;
  std::string path_;
};

}  // namespace

std::unique_ptr<Input> MakeHttpServerInput(std::string host, int port, std::string path) {
  return std::make_unique<HttpServerInput>(std::move(host), port, std::move(path));
}

}  // namespace drover::pipeline
