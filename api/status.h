// Status and Result<T>: the one error type of Drover. Every fallible function returns one of
// these; exceptions from third-party libraries are caught at the edge and turned into a Status
// with context. Plain values, cheap to move, safe to share between threads once built.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace drover {

// Canonical codes, matching the `error.code` strings of the HTTP API (SPEC §12).
enum class StatusCode {
  kOk,
  kInvalid,
  kUnchanged,
  kNotFound,
  kConflict,
  kUnauthorized,
  kForbidden,
  kTooLarge,
  kMethodNotAllowed,
  kUnavailable,
  kInternal,
  kOutOfRange,  // e.g. a store watch from a revision that was compacted away
};

// The wire name of a code: "invalid", "not_found", ... ("ok" for kOk).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid: spec.name: required" style, for logs and command-line output.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidError(std::string message) {
  return {StatusCode::kInvalid, std::move(message)};
}
inline Status NotFoundError(std::string message) {
  return {StatusCode::kNotFound, std::move(message)};
}
inline Status ConflictError(std::string message) {
  return {StatusCode::kConflict, std::move(message)};
}
inline Status UnavailableError(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status InternalError(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}
inline Status OutOfRangeError(std::string message) {
  return {StatusCode::kOutOfRange, std::move(message)};
}

// Either a T or a non-OK Status. Access to value() on an error is a broken invariant (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace drover
