// Forwarder: how a follower replica serves the API (docs/architecture.md). As Nomad's servers
// do, a follower hands each API and agent request to the leader and relays the answer, so every
// replica answers every route with the leader's view (liveness and long polls live in the
// leader's memory). The request is sent on without blocking a thread: the answer is relayed from
// the HTTP client's completion. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controller/http.h"

namespace drover::controller {

class Forwarder {
 public:
  // `replica_id` goes into X-Drover-Forwarded-By; `timeout` bounds one forwarded request (longer
  // than the longest long poll).
  Forwarder(std::string replica_id, std::chrono::milliseconds timeout);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Sends `request` to the leader at `leader_url` ("http://host:port") and answers `respond`
  // with its reply, or with 503 naming the leader when it cannot be reached.
  void Forward(const HttpRequest& request, const std::string& leader_id,
               const std::string& leader_url, Responder respond);

 private:
  struct Clients;
  std::string replica_id_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Clients> clients_;
};

// The header a forwarded request carries; a replica that gets one and does not lead answers 503
// instead of forwarding again (no loops while leadership moves).
inline constexpr const char* kForwardedByHeader = "x-drover-forwarded-by";

}  // namespace drover::controller
