// The agent's side of the protocol (SPEC §8): register, heartbeat, long-poll assignments, over
// HTTP/JSON with cpprestsdk. One ControllerClient per calling thread (each holds its own
// connection); calls block until answered or timed out and never throw.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/status.h"

namespace drover::agent {

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, timeout)
  nlohmann::json body;
  std::string error;  // why there was no answer, or the error message of a non-2xx answer
};

class ControllerClient {
 public:
  // `server`: http(s)://HOST:PORT, or several controller replicas' URLs separated by commas:
  // calls go to one until it does not answer (or answers 503), then to the next.
  // `token`: sent as a bearer token when not empty.
  static Result<std::unique_ptr<ControllerClient>> Create(const std::string& server,
                                                          const std::string& token,
                                                          std::chrono::seconds timeout);
  ~ControllerClient();

  HttpAnswer Post(const std::string& path, const nlohmann::json& body);
  HttpAnswer Get(const std::string& path_and_query);
  // Ends the request in flight (a long poll, at shutdown) and every later one. Any thread.
  void Cancel();

 private:
  struct Impl;
  explicit ControllerClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::agent
