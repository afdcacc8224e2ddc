// Test helper: checks shared by the HTTP integration tests of a real controller: the SPEC §12
// error body, the store revision that /readyz reports (to assert "nothing was written"), and a
// bounded wait for the store to stop moving. Only for tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "tests/testing/controller_process.h"
#include "tests/testing/http_client.h"

namespace drover::testing {

// The store revision from GET /readyz, or -1 when the controller did not answer with one.
inline int64_t StoreRevision(int port) {
  nlohmann::json body = Http(port, "GET", "/readyz").Json();
  if (!body.is_object() || !body.contains("store_revision") ||
      !body["store_revision"].is_number_integer()) {
    return -1;
  }
  return body["store_revision"].get<int64_t>();
}

inline int64_t StoreRevision(const ControllerProcess& controller) {
  return StoreRevision(controller.port());
}

// Polls /readyz until the store revision has not moved for `quiet` (background writers such as
// reconcilers have settled), for at most `limit`. Returns the settled revision, or -1.
inline int64_t WaitForQuietStore(int port,
                                 std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  // The control loop makes no decision during its start-up grace (three heartbeat intervals):
  // wait until it does, then for the store to settle.
  const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < grace_end &&
         Http(port, "GET", "/readyz").Json().value("control_loop", "") ==
             "waiting_for_heartbeats") {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int64_t last = StoreRevision(port);
  auto last_change = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    int64_t now = StoreRevision(port);
    if (now != last) {
      last = now;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change >= quiet) {
      return last;
    }
  }
  return -1;
}

// True when `reply` carries a SPEC §12 error body: {"error": {"code": <code>, "message": string,
// "details": [{"field": string, "message": string}, ...]}}.
inline ::testing::AssertionResult IsErrorBody(const HttpReply& reply, std::string_view code) {
  nlohmann::json body = reply.Json();
  auto failure = [&](const std::string& why) {
    return ::testing::AssertionFailure()
           << why << " (status " << reply.status << ", body: " << reply.body.substr(0, 400) << ")";
  };
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
    return failure("not a JSON object with an \"error\" object");
  }
  const nlohmann::json& error = body["error"];
  if (!error.contains("code") || !error["code"].is_string()) return failure("no string error.code");
  if (error["code"].get<std::string>() != code) {
    return failure("error.code is not \"" + std::string(code) + "\"");
  }
  if (!error.contains("message") || !error["message"].is_string() ||
      error["message"].get<std::string>().empty()) {
    return failure("no non-empty string error.message");
  }
  if (!error.contains("details") || !error["details"].is_array()) {
    return failure("error.details is not a list");
  }
  for (const nlohmann::json& d : error["details"]) {
    if (!d.is_object() || !d.contains("field") || !d["field"].is_string() ||
        !d.contains("message") || !d["message"].is_string()) {
      return failure("an error.details entry is not {field: string, message: string}");
    }
  }
  return ::testing::AssertionSuccess();
}

// True when some error.details entry has exactly this field path.
inline ::testing::AssertionResult NamesField(const HttpReply& reply, std::string_view field) {
  nlohmann::json body = reply.Json();
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("details") && body["error"]["details"].is_array()) {
    for (const nlohmann::json& d : body["error"]["details"]) {
      if (d.is_object() && d.value("field", std::string()) == field) {
        return ::testing::AssertionSuccess();
      }
    }
  }
  return ::testing::AssertionFailure()
         << "no error detail for field \"" << field << "\" in: " << reply.body.substr(0, 400);
}

}  // namespace drover::testing
