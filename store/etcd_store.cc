#include "store/etcd_store.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "store/apply_transaction.h"

namespace drover::store {
namespace {

using nlohmann::json;
namespace http = web::http;

// --- encoding -----------------------------------------------------------------------------------

std::string Base64(std::string_view bytes) {
  std::vector<unsigned char> data(bytes.begin(), bytes.end());
  return utility::conversions::to_base64(data);
}

std::string FromBase64(const json& value) {
  if (!value.is_string()) return {};
  std::vector<unsigned char> data = utility::conversions::from_base64(value.get<std::string>());
  return std::string(data.begin(), data.end());
}

// etcd's int64s arrive as JSON strings, and proto3 leaves out fields that are zero.
int64_t Int(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end()) return 0;
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  return 0;
}

bool Bool(const json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// Drover's revision r is etcd's r + 1; a key revision 0 ("missing") is 0 in both.
int64_t ToDrover(int64_t etcd_revision) { return etcd_revision > 0 ? etcd_revision - 1 : 0; }
int64_t KeyRevisionToEtcd(int64_t revision) { return revision > 0 ? revision + 1 : revision; }

KeyValue ParseKv(const json& kv) {
  KeyValue out;
  out.key = FromBase64(kv.value("key", json()));
  out.value = FromBase64(kv.value("value", json()));
  out.create_revision = ToDrover(Int(kv, "create_revision"));
  out.mod_revision = ToDrover(Int(kv, "mod_revision"));
  out.version = Int(kv, "version");
  return out;
}

// The etcd range of every key under `prefix`: [prefix, PrefixEnd) or, without an upper bound,
// [prefix or "\0", "\0") which etcd reads as "every key from here".
std::string RangeEnd(std::string_view prefix) {
  std::string end = PrefixEnd(prefix);
  return end.empty() ? std::string(1, '\0') : end;
}
std::string RangeStart(std::string_view prefix) {
  return prefix.empty() ? std::string(1, '\0') : std::string(prefix);
}

json EncodeCompare(const Compare& compare) {
  json out = {{"key", Base64(compare.key)}, {"result", "EQUAL"}};
  switch (compare.target) {
    case Compare::Target::kCreateRevision:
      out["target"] = "CREATE";
      out["create_revision"] = std::to_string(KeyRevisionToEtcd(compare.value));
      break;
    case Compare::Target::kModRevision:
      out["target"] = "MOD";
      out["mod_revision"] = std::to_string(KeyRevisionToEtcd(compare.value));
      break;
    case Compare::Target::kVersion:
      out["target"] = "VERSION";
      out["version"] = std::to_string(compare.value);
      break;
  }
  return out;
}

json EncodeOperation(const Operation& operation) {
  switch (operation.type) {
    case Operation::Type::kPut:
      return {
          {"request_put", {{"key", Base64(operation.key)}, {"value", Base64(operation.value)}}}};
    case Operation::Type::kDelete:
      return {{"request_delete_range", {{"key", Base64(operation.key)}}}};
    case Operation::Type::kDeletePrefix:
      return {{"request_delete_range",
               {{"key", Base64(RangeStart(operation.key))},
                {"range_end", Base64(RangeEnd(operation.key))}}}};
  }
  return json::object();
}

json EncodeTransaction(const Transaction& transaction) {
  json out = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const Compare& compare : transaction.compares)
    out["compare"].push_back(EncodeCompare(compare));
  for (const Operation& op : transaction.success) out["success"].push_back(EncodeOperation(op));
  for (const Operation& op : transaction.failure) out["failure"].push_back(EncodeOperation(op));
  return out;
}

// gRPC status codes that etcd's gateway reports in {"code": N}.
constexpr int kGrpcInvalidArgument = 3;
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcResourceExhausted = 8;
constexpr int kGrpcOutOfRange = 11;
constexpr int kGrpcUnavailable = 14;

// --- the connection: endpoints, requests, failover ----------------------------------------------

// Shared by the store and its watches (a watch handle may outlive the store).
class Connection {
 public:
  explicit Connection(EtcdStoreOptions options) : options_(std::move(options)) {
    for (size_t i = 0; i < options_.endpoints.size(); ++i) clients_.push_back(NewClient(i));
  }

  const EtcdStoreOptions& options() const { return options_; }
  size_t preferred() const { return preferred_.load(); }
  void Prefer(size_t index) { preferred_.store(index % options_.endpoints.size()); }
  // The highest etcd revision any reply has carried (0 before the first).
  int64_t last_revision() const { return last_revision_.load(); }

  // POSTs `body` to `path`, starting at the preferred endpoint. Reads (`retry_anywhere`) move on to
  // the next endpoint after any transport failure; writes only when the connection could not be
  // made, since a write whose reply was lost may have been applied. `expect_error`: the call may
  // well be refused (a probe), so its connection is not kept (see ReplaceClient).
  Result<json> Call(const std::string& path, const json& body, bool retry_anywhere,
                    bool expect_error = false) {
    const size_t count = options_.endpoints.size();
    const size_t start = preferred();
    std::string tried;
    std::string payload = body.dump();
    // Reads get one attempt more than there are endpoints: a pooled connection that the server
    // closed (e.g. it restarted) fails once, and the next attempt uses a fresh one.
    const size_t attempts = retry_anywhere ? count + 1 : count;
    for (size_t attempt = 0; attempt < attempts; ++attempt) {
      size_t index = (start + attempt) % count;
      const std::string& endpoint = options_.endpoints[index];
      http::http_request request(http::methods::POST);
      request.set_request_uri(path);
      request.set_body(payload, "application/json");
      if (expect_error) request.headers().add("Connection", "close");
      http::http_response response;
      std::string text;
      try {
        response = Client(index)->request(request).get();
        text = response.extract_string(true).get();
      } catch (const std::exception& e) {
        std::string what = e.what();
        bool not_connected = what.find("Failed to connect") != std::string::npos ||
                             what.find("Connection refused") != std::string::npos;
        ReplaceClient(index);
        if (!tried.empty()) tried += "; ";
        tried += endpoint + ": " + what;
        if (retry_anywhere || not_connected) {
          Prefer(index + 1);
          continue;
        }
        return UnavailableError("etcd at " + endpoint + ": " + what + " (during " + path +
                                "; the write may or may not have been applied)");
      }
      json reply = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (response.status_code() == http::status_codes::OK && reply.is_object()) {
        int64_t revision = Int(reply.value("header", json::object()), "revision");
        int64_t seen = last_revision_.load();
        while (revision > seen && !last_revision_.compare_exchange_weak(seen, revision)) {
        }
        return reply;
      }
      if (!expect_error) ReplaceClient(index);
      int code = reply.is_object() ? static_cast<int>(Int(reply, "code")) : 0;
      std::string message =
          reply.is_object() && reply.contains("error") && reply["error"].is_string()
              ? reply["error"].get<std::string>()
              : "HTTP " + std::to_string(response.status_code()) + ": " + text;
      std::string where = "etcd at " + endpoint + ": " + message;
      if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded || code == 0) {
        if (!tried.empty()) tried += "; ";
        tried += endpoint + ": " + message;
        if (retry_anywhere) {
          Prefer(index + 1);
          continue;
        }
        return UnavailableError(where + " (during " + path + ")");
      }
      if (code == kGrpcInvalidArgument) return InvalidError(where);
      if (code == kGrpcOutOfRange) return OutOfRangeError(where);
      if (code == kGrpcResourceExhausted) return Status(StatusCode::kTooLarge, where);
      return InternalError(where);
    }
    return UnavailableError("no etcd endpoint answered " + path + ": " + tried);
  }

 private:
  std::shared_ptr<http::client::http_client> NewClient(size_t index) const {
    http::client::http_client_config config;
    config.set_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.request_timeout));
    return std::make_shared<http::client::http_client>("http://" + options_.endpoints[index],
                                                       config);
  }

  std::shared_ptr<http::client::http_client> Client(size_t index) {
    std::lock_guard<std::mutex> lock(clients_mutex_);
    return clients_[index];
  }

  // etcd's gateway ends an error reply with an HTTP trailer that cpprest does not consume, so the
  // next reply on that kept-alive connection would not parse ("Invalid HTTP status line"); a
  // transport failure may leave a dead connection in the pool too. A new client drops the pool.
  void ReplaceClient(size_t index) {
    std::shared_ptr<http::client::http_client> fresh = NewClient(index);
    std::lock_guard<std::mutex> lock(clients_mutex_);
    clients_[index] = std::move(fresh);
  }

  EtcdStoreOptions options_;
  std::mutex clients_mutex_;
  std::vector<std::shared_ptr<http::client::http_client>> clients_;
  std::atomic<size_t> preferred_{0};
  std::atomic<int64_t> last_revision_{0};
};

// --- watches ------------------------------------------------------------------------------------

struct WatchCore {
  std::shared_ptr<Connection> connection;
  std::shared_ptr<std::atomic<int64_t>> compacted;  // Drover revision compacted through the store
  std::string prefix;
  WatchCallback callback;

  struct Batch {
    int64_t revision = 0;  // Drover's
    std::vector<Event> events;
    bool replayed = false;  // at or before the revision the stream was created at
  };

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Batch> queue;
  size_t queued_events = 0;
  std::optional<Status> final_status;
  bool cancelled = false;
  pplx::cancellation_token_source cancel_source;
  // Next etcd revision the stream must start from (the one after the last one received).
  int64_t next_etcd_revision = 0;

  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      cancelled = true;
    }
    cancel_source.cancel();
    changed.notify_all();
  }

  bool Cancelled() {
    std::lock_guard<std::mutex> lock(mutex);
    return cancelled;
  }

  void Finish(Status status) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!final_status) final_status = std::move(status);
    changed.notify_all();
  }

  // Queues one revision's events; false when the watch has ended.
  bool Push(Batch batch) {
    std::lock_guard<std::mutex> lock(mutex);
    if (final_status || cancelled) return false;
    size_t max = connection->options().watch_buffer_events;
    if (!queue.empty() && queued_events + batch.events.size() > max) {
      queue.clear();
      queued_events = 0;
      final_status =
          UnavailableError("watcher fell behind: more than " + std::to_string(max) +
                           " undelivered events at revision " + std::to_string(batch.revision) +
                           "; re-list, then watch again from the list's revision");
      changed.notify_all();
      return false;
    }
    queued_events += batch.events.size();
    queue.push_back(std::move(batch));
    changed.notify_all();
    return true;
  }

  std::string CompactedMessage(int64_t compacted_revision) const {
    return "watch of \"" + prefix + "\": history up to revision " +
           std::to_string(compacted_revision) +
           " was compacted; re-list, then watch from the list's revision";
  }

  // Delivers queued revisions and then the final status, one callback at a time.
  void Dispatch() {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return cancelled || !queue.empty() || final_status.has_value(); });
      if (cancelled) return;
      if (!queue.empty()) {
        Batch batch = std::move(queue.front());
        queue.pop_front();
        queued_events -= batch.events.size();
        int64_t compacted_through = compacted->load();
        if (batch.replayed && batch.revision <= compacted_through) {
          // History that a compaction overtook before it was delivered: as in the other backends,
          // the watcher must re-list rather than see a replay with a hole in it.
          queue.clear();
          queued_events = 0;
          if (!final_status || final_status->code() != StatusCode::kOutOfRange) {
            final_status = OutOfRangeError(CompactedMessage(compacted_through));
          }
          cancel_source.cancel();
          continue;
        }
        lock.unlock();
        callback(batch.events, Status::Ok());
        lock.lock();
        continue;
      }
      Status status = *final_status;
      lock.unlock();
      callback({}, status);
      lock.lock();
      cancelled = true;
      cancel_source.cancel();
      return;
    }
  }

  // One stream: returns an error when it broke, OK when the watch ended (final status or cancel).
  Status ReadStream(size_t endpoint_index, bool& created_out) {
    const EtcdStoreOptions& options = connection->options();
    const std::string& endpoint = options.endpoints[endpoint_index];
    http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(
        std::max(options.watch_idle_timeout, options.request_timeout)));
    int64_t start;
    {
      std::lock_guard<std::mutex> lock(mutex);
      start = next_etcd_revision;
    }
    json create = {{"create_request",
                    {{"key", Base64(RangeStart(prefix))},
                     {"range_end", Base64(RangeEnd(prefix))},
                     {"start_revision", std::to_string(start)},
                     {"prev_kv", true},
                     {"progress_notify", true}}}};
    http::http_request request(http::methods::POST);
    request.set_request_uri("/v3/watch");
    request.set_body(create.dump(), "application/json");
    try {
      http::client::http_client client("http://" + endpoint, config);
      http::http_response response = client.request(request, cancel_source.get_token()).get();
      if (response.status_code() != http::status_codes::OK) {
        return UnavailableError("etcd at " + endpoint + ": watch answered HTTP " +
                                std::to_string(response.status_code()));
      }
      concurrency::streams::istream body = response.body();
      int64_t created_at = 0;  // etcd revision when the stream was created
      while (true) {
        concurrency::streams::container_buffer<std::string> line;
        body.read_line(line).get();
        if (Cancelled()) return Status::Ok();
        const std::string& text = line.collection();
        if (text.empty()) {
          if (body.is_eof())
            return UnavailableError("etcd at " + endpoint + ": watch stream ended");
          continue;
        }
        json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (!message.is_object()) {
          return UnavailableError("etcd at " + endpoint + ": unreadable watch message");
        }
        if (message.contains("error")) {
          return UnavailableError("etcd at " + endpoint + ": watch error " +
                                  message["error"].dump());
        }
        const json& result = message.value("result", json::object());
        int64_t header_revision = Int(result.value("header", json::object()), "revision");
        if (Bool(result, "created")) {
          created_at = header_revision;
          created_out = true;
        }
        if (int64_t compact = Int(result, "compact_revision"); compact > 0) {
          Finish(OutOfRangeError(CompactedMessage(ToDrover(compact))));
          return Status::Ok();
        }
        if (Bool(result, "canceled")) {
          return UnavailableError("etcd at " + endpoint + ": watch canceled: " +
                                  result.value("cancel_reason", std::string()));
        }
        auto events = result.find("events");
        if (events == result.end() || !events->is_array() || events->empty()) {
          // A progress notification: every revision up to the header's has been sent.
          if (!Bool(result, "created") && header_revision > 0) {
            std::lock_guard<std::mutex> lock(mutex);
            next_etcd_revision = std::max(next_etcd_revision, header_revision + 1);
          }
          continue;
        }
        // etcd never splits one revision's events across messages (no fragmenting asked for).
        Batch batch;
        int64_t batch_etcd_revision = 0;
        for (const json& raw : *events) {
          Event event;
          event.type = raw.value("type", std::string("PUT")) == "DELETE" ? Event::Type::kDelete
                                                                         : Event::Type::kPut;
          event.kv = ParseKv(raw.value("kv", json::object()));
          if (event.type == Event::Type::kDelete) {
            event.kv.value.clear();
            event.kv.create_revision = 0;
            event.kv.version = 0;
          }
          if (auto prev = raw.find("prev_kv"); prev != raw.end() && prev->is_object()) {
            event.prev_kv = ParseKv(*prev);
          }
          int64_t etcd_revision = Int(raw.value("kv", json::object()), "mod_revision");
          if (etcd_revision < start) continue;  // never deliver a revision twice
          if (etcd_revision != batch_etcd_revision && !batch.events.empty()) {
            if (!Push(std::move(batch))) return Status::Ok();
            batch = Batch();
          }
          batch_etcd_revision = etcd_revision;
          batch.revision = ToDrover(etcd_revision);
          batch.replayed = etcd_revision <= created_at;
          batch.events.push_back(std::move(event));
          std::lock_guard<std::mutex> lock(mutex);
          next_etcd_revision = std::max(next_etcd_revision, etcd_revision + 1);
        }
        if (!batch.events.empty() && !Push(std::move(batch))) return Status::Ok();
      }
    } catch (const std::exception& e) {
      if (Cancelled()) return Status::Ok();
      return UnavailableError("etcd at " + endpoint + ": watch stream: " + e.what());
    }
  }

  // Keeps a stream open, moving to the next endpoint when one breaks, until the watch ends.
  void Read() {
    const EtcdStoreOptions& options = connection->options();
    const size_t count = options.endpoints.size();
    size_t index = connection->preferred();
    auto failing_since = std::chrono::steady_clock::time_point();
    std::string errors;
    auto backoff = std::chrono::milliseconds(50);
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (cancelled || final_status) return;
      }
      bool created = false;
      Status status = ReadStream(index, created);
      if (status.ok()) return;
      if (created) {  // the stream worked for a while: a fresh failure
        failing_since = std::chrono::steady_clock::time_point();
        errors.clear();
        backoff = std::chrono::milliseconds(50);
      }
      auto now = std::chrono::steady_clock::now();
      if (failing_since == std::chrono::steady_clock::time_point()) failing_since = now;
      if (errors.find(status.message()) == std::string::npos) {
        if (!errors.empty()) errors += "; ";
        errors += status.message();
      }
      if (now - failing_since >= options.watch_reconnect_window) {
        Finish(UnavailableError("watch of \"" + prefix + "\" lost its etcd stream for " +
                                std::to_string(options.watch_reconnect_window.count()) + " ms (" +
                                errors + "); re-list, then watch again"));
        return;
      }
      index = (index + 1) % count;
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait_for(lock, backoff, [&] { return cancelled; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1'000));
    }
  }
};

class EtcdWatchHandle : public WatchHandle {
 public:
  EtcdWatchHandle(std::shared_ptr<WatchCore> core, std::thread reader, std::thread dispatcher)
      : core_(std::move(core)), reader_(std::move(reader)), dispatcher_(std::move(dispatcher)) {}

  ~EtcdWatchHandle() override {
    core_->Cancel();
    if (std::this_thread::get_id() == dispatcher_.get_id()) {
      // Destroyed from its own callback: the threads hold the core and finish on their own.
      dispatcher_.detach();
      reader_.detach();
      return;
    }
    dispatcher_.join();
    reader_.join();
  }

 private:
  std::shared_ptr<WatchCore> core_;
  std::thread reader_;
  std::thread dispatcher_;
};

// --- the store ----------------------------------------------------------------------------------

// etcd's own words for a transaction over its limits name neither the size nor the flag: say
// both, for the operator who reads the controller's log.
Status ExplainTxnRefusal(const Status& status, const Transaction& transaction) {
  const std::string& message = status.message();
  size_t ops = transaction.success.size() + transaction.failure.size();
  if (message.find("too many operations in txn request") != std::string::npos) {
    return Status(StatusCode::kTooLarge,
                  message + ": a transaction of " + std::to_string(ops) +
                      " operations is over etcd's --max-txn-ops; start etcd with a larger "
                      "--max-txn-ops (docs/architecture.md), or roll out in smaller waves");
  }
  if (message.find("request is too large") != std::string::npos) {
    return Status(StatusCode::kTooLarge,
                  message + ": a transaction of " + std::to_string(ops) +
                      " operations is over etcd's --max-request-bytes; raise it "
                      "(docs/architecture.md), or roll out in smaller waves");
  }
  return status;
}

class EtcdStore : public Store {
 public:
  explicit EtcdStore(EtcdStoreOptions options)
      : connection_(std::make_shared<Connection>(std::move(options))),
        compacted_(std::make_shared<std::atomic<int64_t>>(0)) {}

  ~EtcdStore() override {
    std::lock_guard<std::mutex> lock(watches_mutex_);
    for (const std::weak_ptr<WatchCore>& weak : watches_) {
      if (std::shared_ptr<WatchCore> core = weak.lock()) core->Cancel();
    }
  }

  Status Probe() { return Range(std::string(1, '\0'), {}, 0, 1, true).status(); }

  Result<KeyValue> Get(std::string_view key) override {
    if (key.empty()) return InvalidError("empty key");
    Result<json> reply = Range(std::string(key), {}, 0, 0, false);
    if (!reply.ok()) return reply.status();
    auto kvs = reply->find("kvs");
    if (kvs == reply->end() || !kvs->is_array() || kvs->empty()) {
      return NotFoundError("key \"" + std::string(key) + "\" not found");
    }
    return ParseKv(kvs->at(0));
  }

  Result<RangeResult> List(std::string_view prefix, std::string_view start_after,
                           size_t limit) override {
    std::string from = RangeStart(prefix);
    if (!start_after.empty() && start_after >= prefix) {
      from = std::string(start_after) + '\0';  // the smallest key after start_after
    }
    std::string end = RangeEnd(prefix);
    RangeResult result;
    if (end != std::string(1, '\0') && from >= end) {  // start_after is past the prefix
      result.revision = CurrentRevision();
      return result;
    }
    Result<json> reply = Range(from, end, limit, 0, false);
    if (!reply.ok()) return reply.status();
    result.revision = ToDrover(Int(reply->value("header", json::object()), "revision"));
    result.more = Bool(*reply, "more");
    if (auto kvs = reply->find("kvs"); kvs != reply->end() && kvs->is_array()) {
      for (const json& kv : *kvs) result.items.push_back(ParseKv(kv));
    }
    return result;
  }

  Result<TransactionResult> Commit(const Transaction& transaction) override {
    if (Status shape = CheckTransactionShape(transaction); !shape.ok()) return shape;
    json request = EncodeTransaction(transaction);
    bool fenced = false;
    if (connection_->options().fence) {
      Result<std::vector<Compare>> fence = connection_->options().fence();
      if (!fence.ok()) return fence.status();
      if (!fence->empty()) {
        json outer = {{"compare", json::array()},
                      {"success", json::array({{{"request_txn", request}}})},
                      {"failure", json::array()}};
        for (const Compare& compare : *fence) outer["compare"].push_back(EncodeCompare(compare));
        request = std::move(outer);
        fenced = true;
      }
    }
    Result<json> reply = connection_->Call("/v3/kv/txn", request, false);
    if (!reply.ok()) return ExplainTxnRefusal(reply.status(), transaction);
    TransactionResult result;
    result.revision = ToDrover(Int(reply->value("header", json::object()), "revision"));
    result.succeeded = Bool(*reply, "succeeded");
    if (fenced) {
      if (!result.succeeded) {
        return UnavailableError(
            "the store fence no longer holds (this process lost its lease or leadership); the "
            "transaction was not applied");
      }
      const json& responses = reply->value("responses", json::array());
      json inner =
          responses.empty() ? json::object() : responses[0].value("response_txn", json::object());
      result.succeeded = Bool(inner, "succeeded");
    }
    return result;
  }

  Result<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t after_revision,
                                             WatchCallback callback) override {
    if (after_revision < 0) return InvalidError("watch from a negative revision");
    // Is (after_revision, now] still in history? A read at etcd revision after + 1 fails as
    // compacted exactly when Drover's compacted revision is beyond after_revision.
    Result<json> probe = Range(std::string(1, '\0'), {}, 0, after_revision + 1, true);
    if (!probe.ok()) {
      const std::string& message = probe.status().message();
      if (message.find("compacted") != std::string::npos) {
        int64_t compacted = CompactedRevision();
        return OutOfRangeError("watch from revision " + std::to_string(after_revision) +
                               ": history up to revision " + std::to_string(compacted) +
                               " was compacted; re-list, then watch from the list's revision");
      }
      if (message.find("future revision") == std::string::npos) return probe.status();
    }
    auto core = std::make_shared<WatchCore>();
    core->connection = connection_;
    core->compacted = compacted_;
    core->prefix = std::string(prefix);
    core->callback = std::move(callback);
    core->next_etcd_revision = after_revision + 2;
    std::thread reader([core] { core->Read(); });
    std::thread dispatcher([core] { core->Dispatch(); });
    {
      std::lock_guard<std::mutex> lock(watches_mutex_);
      std::erase_if(watches_, [](const std::weak_ptr<WatchCore>& weak) { return weak.expired(); });
      watches_.push_back(core);
    }
    return std::unique_ptr<WatchHandle>(
        std::make_unique<EtcdWatchHandle>(core, std::move(reader), std::move(dispatcher)));
  }

  Status Compact(int64_t revision) override {
    if (revision < 0) return InvalidError("cannot compact at a negative revision");
    if (revision <= compacted_->load()) return Status::Ok();
    json request = {{"revision", std::to_string(revision + 1)}, {"physical", true}};
    Result<json> reply = connection_->Call("/v3/kv/compaction", request, false, true);
    if (!reply.ok()) {
      const std::string& message = reply.status().message();
      if (message.find("future revision") != std::string::npos) {
        return OutOfRangeError("cannot compact at revision " + std::to_string(revision) +
                               ": the current revision is " + std::to_string(CurrentRevision()));
      }
      if (message.find("compacted") == std::string::npos) return reply.status();
      // Already compacted at or beyond it (by another process): a no-op.
    } else {
      NoteCompacted(revision);
    }
    return Status::Ok();
  }

  int64_t CurrentRevision() override {
    Result<json> reply = Range(std::string(1, '\0'), {}, 0, 0, true);
    if (!reply.ok()) return ToDrover(connection_->last_revision());  // the last one seen
    return ToDrover(Int(reply->value("header", json::object()), "revision"));
  }

  // etcd does not report its compacted revision, but a read at etcd revision R fails as
  // compacted exactly when R is below it: a binary search finds it in a few dozen reads.
  int64_t CompactedRevision() override {
    int64_t known = compacted_->load();
    int64_t low = known + 1;  // etcd revision known readable
    Result<json> head = Range(std::string(1, '\0'), {}, 0, 0, true);
    if (!head.ok()) return known;
    int64_t high = Int(head->value("header", json::object()), "revision");  // readable
    if (high <= low) return known;
    // Invariant: `high` is readable; find the smallest readable revision in [low, high].
    while (low < high) {
      int64_t middle = low + (high - low) / 2;
      Result<json> at = Range(std::string(1, '\0'), {}, 0, middle, true);
      if (at.ok()) {
        high = middle;
      } else if (at.status().message().find("compacted") != std::string::npos) {
        low = middle + 1;
      } else {
        return known;
      }
    }
    NoteCompacted(ToDrover(low));
    return compacted_->load();
  }

 private:
  Result<json> Range(const std::string& key, const std::string& range_end, size_t limit,
                     int64_t etcd_revision, bool count_only) {
    json request = {{"key", Base64(key)}};
    if (!range_end.empty()) request["range_end"] = Base64(range_end);
    if (limit > 0) request["limit"] = std::to_string(limit);
    if (etcd_revision > 0) request["revision"] = std::to_string(etcd_revision);
    if (count_only) request["count_only"] = true;
    // A read at an old revision is a probe that may be refused as compacted or future.
    return connection_->Call("/v3/kv/range", request, true, etcd_revision > 0);
  }

  void NoteCompacted(int64_t revision) {
    int64_t seen = compacted_->load();
    while (revision > seen && !compacted_->compare_exchange_weak(seen, revision)) {
    }
  }

  std::shared_ptr<Connection> connection_;
  std::shared_ptr<std::atomic<int64_t>> compacted_;  // Drover revision, as far as known here
  std::mutex watches_mutex_;
  std::vector<std::weak_ptr<WatchCore>> watches_;
};

// --- leases -------------------------------------------------------------------------------------

LeasedKey ParseLeasedKey(const json& kv) {
  KeyValue parsed = ParseKv(kv);
  return {std::move(parsed.value), parsed.create_revision, Int(kv, "lease")};
}

class EtcdLeases : public Leases {
 public:
  explicit EtcdLeases(EtcdStoreOptions options)
      : connection_(std::make_shared<Connection>(std::move(options))) {}

  Status Probe() {
    return connection_
        ->Call("/v3/kv/range", {{"key", Base64(std::string(1, '\0'))}, {"limit", "1"}}, true)
        .status();
  }

  Result<int64_t> Grant(std::chrono::milliseconds ttl) override {
    int64_t seconds = std::max<int64_t>(1, (ttl.count() + 999) / 1000);
    // A grant whose reply was lost leaves an unused lease that expires by itself: safe to retry.
    Result<json> reply =
        connection_->Call("/v3/lease/grant", {{"TTL", std::to_string(seconds)}}, true);
    if (!reply.ok()) return reply.status();
    int64_t id = Int(*reply, "ID");
    if (id == 0) return InternalError("etcd granted a lease without an id: " + reply->dump());
    return id;
  }

  Result<bool> KeepAlive(int64_t lease) override {
    // One request on the gateway's keep-alive stream: {"result": {"ID", "TTL"}}, TTL missing (0)
    // once the lease has expired.
    Result<json> reply =
        connection_->Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, true);
    if (!reply.ok()) return reply.status();
    const json& result = reply->contains("result") ? (*reply)["result"] : *reply;
    return Int(result, "TTL") > 0;
  }

  Status Revoke(int64_t lease) override {
    Result<json> reply = connection_->Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}},
                                           true, /*expect_error=*/true);
    // etcd answers "requested lease not found" for an expired lease: already gone.
    if (!reply.ok() && reply.status().message().find("not found") == std::string::npos) {
      return reply.status();
    }
    return Status::Ok();
  }

  Result<LeasedKey> CreateIfAbsent(const std::string& key, const std::string& value,
                                   int64_t lease) override {
    json txn = {{"compare", json::array({{{"key", Base64(key)},
                                          {"target", "CREATE"},
                                          {"result", "EQUAL"},
                                          {"create_revision", "0"}}})},
                {"success", json::array({{{"request_put",
                                           {{"key", Base64(key)},
                                            {"value", Base64(value)},
                                            {"lease", std::to_string(lease)}}}}})},
                {"failure", json::array({{{"request_range", {{"key", Base64(key)}}}}})}};
    Result<json> reply = connection_->Call("/v3/kv/txn", txn, false);
    if (!reply.ok()) return reply.status();
    if (Bool(*reply, "succeeded")) {
      return LeasedKey{value, ToDrover(Int(reply->value("header", json::object()), "revision")),
                       lease};
    }
    const json& responses = reply->value("responses", json::array());
    if (!responses.empty()) {
      const json& range = responses[0].value("response_range", json::object());
      const json& kvs = range.value("kvs", json::array());
      if (!kvs.empty()) return ParseLeasedKey(kvs[0]);
    }
    // The key was deleted between the compare and the read (its lease expired): try again.
    return UnavailableError("the key " + key + " changed during the attempt to create it");
  }

  Result<std::optional<LeasedKey>> Read(const std::string& key) override {
    Result<json> reply = connection_->Call("/v3/kv/range", {{"key", Base64(key)}}, true);
    if (!reply.ok()) return reply.status();
    const json& kvs = reply->value("kvs", json::array());
    if (kvs.empty()) return std::optional<LeasedKey>();
    return std::optional<LeasedKey>(ParseLeasedKey(kvs[0]));
  }

 private:
  std::shared_ptr<Connection> connection_;
};

}  // namespace

Result<EtcdStoreOptions> ParseEtcdUrl(std::string_view url) {
  constexpr std::string_view kScheme = "etcd://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidError("etcd store URL \"" + std::string(url) +
                        "\": expected etcd://HOST:PORT[,HOST:PORT...]");
  }
  EtcdStoreOptions options;
  std::string_view rest = url.substr(kScheme.size());
  while (true) {
    size_t comma = rest.find(',');
    std::string_view endpoint = rest.substr(0, comma);
    size_t colon = endpoint.rfind(':');
    bool port_ok = colon != std::string_view::npos && colon > 0 && colon + 1 < endpoint.size() &&
                   endpoint.find('/') == std::string_view::npos &&
                   std::all_of(endpoint.begin() + static_cast<ptrdiff_t>(colon) + 1, endpoint.end(),
                               [](char c) { return c >= '0' && c <= '9'; });
    if (!port_ok) {
      return InvalidError("etcd store URL \"" + std::string(url) + "\": endpoint \"" +
                          std::string(endpoint) + "\" is not HOST:PORT");
    }
    options.endpoints.emplace_back(endpoint);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return options;
}

Result<std::unique_ptr<Store>> OpenEtcdStore(EtcdStoreOptions options) {
  if (options.endpoints.empty()) return InvalidError("the etcd store needs at least one endpoint");
  auto store = std::make_unique<EtcdStore>(std::move(options));
  if (Status probe = store->Probe(); !probe.ok()) return probe;
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Leases>> OpenEtcdLeases(EtcdStoreOptions options) {
  if (options.endpoints.empty()) return InvalidError("the etcd store needs at least one endpoint");
  options.fence = nullptr;
  auto leases = std::make_unique<EtcdLeases>(std::move(options));
  if (Status probe = leases->Probe(); !probe.ok()) return probe;
  return std::unique_ptr<Leases>(std::move(leases));
}

}  // namespace drover::store
