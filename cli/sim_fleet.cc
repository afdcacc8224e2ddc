// The simulated fleet's engine. One I/O thread runs Boost.Asio: a timer over a time-ordered heap
// of due requests moves nodes into a ready queue, and a fixed pool of keep-alive connections
// (Lanes) takes ready nodes in order. A node's request body is built when a connection takes it,
// so it always carries the node's state at that moment. Long polls use one connection per
// polling node. All fleet state sits behind one mutex, taken by the I/O thread while it updates
// and by observers while they read; no network call is made with it held.
#include "cli/sim_fleet.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <set>
#include <thread>
#include <unordered_map>

#include "api/labels.h"
#include "controller/clock.h"

namespace drover::sim {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

constexpr size_t kMaxAnswerBytes = 64u << 20;
constexpr milliseconds kDefaultInterval{5000};
constexpr milliseconds kLaneBackoffMin{100};
constexpr milliseconds kLaneBackoffMax{5000};
constexpr milliseconds kRetryMin{500};
constexpr milliseconds kRetryMax{30'000};
constexpr size_t kMaxViolations = 10'000;
constexpr milliseconds kPollPause{100};

SteadyTime Now() { return controller::RealClock().Now(); }

milliseconds Backoff(int failures) {
  int64_t ms = kRetryMin.count();
  for (int i = 1; i < failures && ms < kRetryMax.count(); ++i) ms *= 2;
  return milliseconds(std::min(ms, kRetryMax.count()));
}

struct Target {
  std::string host;
  int port = 0;
  std::string host_header;
  std::string authorization;  // "" or "Bearer TOKEN"
  tcp::resolver::results_type endpoints;
};

struct Answer {
  int status = 0;  // 0: no HTTP answer
  std::string body;
  bool aborted = false;  // the connection was closed on purpose (stop, offline)
  std::string error;
};

// One keep-alive HTTP/1.1 connection carrying one request at a time. Used on the I/O thread
// only. A request that fails on a reused connection the server had closed is sent once more on a
// fresh one (every request of the protocol is idempotent).
class Lane : public std::enable_shared_from_this<Lane> {
 public:
  using Callback = std::function<void(Answer)>;

  Lane(net::io_context& io, const Target& target) : stream_(io), target_(target) {}

  void Send(http::verb verb, const std::string& path, std::string body, milliseconds timeout,
            Callback done) {
    request_ = {};
    request_.method(verb);
    request_.target(path);
    request_.version(11);
    request_.set(http::field::host, target_.host_header);
    request_.set(http::field::user_agent, "drover-sim");
    if (!target_.authorization.empty()) {
      request_.set(http::field::authorization, target_.authorization);
    }
    if (!body.empty()) request_.set(http::field::content_type, "application/json");
    request_.body() = std::move(body);
    request_.keep_alive(true);
    request_.prepare_payload();
    timeout_ = timeout;
    done_ = std::move(done);
    retried_ = false;
    if (open_) {
      Write();
    } else {
      Connect();
    }
  }

  // Closes the connection; a request in flight ends with `aborted`.
  void Close() {
    closing_ = true;
    Reset();
  }

 private:
  void Connect() {
    closing_ = false;
    stream_.expires_after(timeout_);
    stream_.async_connect(target_.endpoints,
                          [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                            if (ec) return self->Failed(ec, /*may_retry=*/false);
                            self->open_ = true;
                            self->reused_ = false;
                            beast::error_code ignored;
                            self->stream_.socket().set_option(tcp::no_delay(true), ignored);
                            self->Write();
                          });
  }

  void Write() {
    stream_.expires_after(timeout_);
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Failed(ec, true);
      self->Read();
    });
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(kMaxAnswerBytes);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Failed(ec, true);
                       http::response<http::string_body> response = self->parser_->release();
                       Answer answer;
                       answer.status = static_cast<int>(response.result_int());
                       answer.body = std::move(response.body());
                       if (!response.keep_alive()) {
                         self->Reset();
                       } else {
                         self->reused_ = true;
                       }
                       self->Finish(std::move(answer));
                     });
  }

  void Failed(beast::error_code ec, bool may_retry) {
    bool stale = may_retry && reused_ && !retried_ && !closing_ &&
                 (ec == http::error::end_of_stream || ec == net::error::eof ||
                  ec == net::error::connection_reset || ec == net::error::broken_pipe ||
                  ec == http::error::partial_message);
    Reset();
    if (stale) {
      retried_ = true;
      return Connect();
    }
    Answer answer;
    answer.aborted = closing_ || ec == net::error::operation_aborted;
    answer.error = ec == beast::error::timeout ? "timed out" : ec.message();
    Finish(std::move(answer));
  }

  void Reset() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    open_ = false;
    reused_ = false;
    buffer_.clear();
  }

  void Finish(Answer answer) {
    Callback done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(answer));
  }

  beast::tcp_stream stream_;
  const Target& target_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  milliseconds timeout_{10'000};
  Callback done_;
  bool open_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool closing_ = false;
};

std::string ErrorMessage(const Answer& answer) {
  if (answer.status == 0) return answer.error;
  Json body = Json::parse(answer.body, nullptr, false);
  std::string message;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = body["error"].value("message", "");
    if (body["error"].contains("details") && body["error"]["details"].is_array()) {
      for (const Json& d : body["error"]["details"]) {
        if (d.is_object()) {
          message += "; " + d.value("field", "") + ": " + d.value("message", "");
        }
      }
    }
  }
  return "HTTP " + std::to_string(answer.status) + (message.empty() ? "" : ": " + message);
}

std::string Text(const Json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::pair<std::string, int>> ParseServerUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return InvalidError("\"" + url + "\": https is not supported by drover sim; use http://");
  }
  if (url.rfind(kScheme, 0) != 0) {
    return InvalidError("\"" + url + "\": expected http://HOST:PORT");
  }
  std::string rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) {
    return InvalidError("\"" + url + "\": expected http://HOST:PORT without a path");
  }
  std::string host;
  std::string port = "80";
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return InvalidError("\"" + url + "\": unclosed [");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return InvalidError("\"" + url + "\": expected [IPv6]:PORT");
      port = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  int number = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || ec != std::errc() || p != port.data() + port.size() || number < 1 ||
      number > 65535) {
    return InvalidError("\"" + url + "\": expected http://HOST:PORT with a port from 1 to 65535");
  }
  return std::make_pair(host, number);
}

class Fleet::Engine {
 public:
  explicit Engine(FleetOptions options) : options_(std::move(options)), timer_(io_) {}

  ~Engine() { Stop(); }

  // Validates the options, resolves the server and checks it answers; registers the first node.
  Status Open() {
    if (options_.connections < 1 || options_.connections > 65536) {
      return InvalidError("connections must be from 1 to 65536");
    }
    if (options_.heartbeat_interval && options_.heartbeat_interval->count() <= 0) {
      return InvalidError("the heartbeat interval must be positive");
    }
    if (options_.behaviour.default_health.interval.count() <= 0) {
      return InvalidError("the health interval must be positive");
    }
    std::set<std::string> seen;
    for (const SimNode& node : options_.nodes) {
      if (Status s = CheckNode(node, seen); !s.ok()) return s;
    }
    Result<std::pair<std::string, int>> address = ParseServerUrl(options_.server);
    if (!address.ok()) return address.status();
    target_.host = address->first;
    target_.port = address->second;
    bool v6 = target_.host.find(':') != std::string::npos;
    target_.host_header =
        (v6 ? "[" + target_.host + "]" : target_.host) + ":" + std::to_string(target_.port);
    if (!options_.token.empty()) target_.authorization = "Bearer " + options_.token;
    beast::error_code ec;
    tcp::resolver resolver(io_);
    target_.endpoints = resolver.resolve(target_.host, std::to_string(target_.port), ec);
    if (ec) {
      return UnavailableError("cannot resolve " + target_.host + ": " + ec.message());
    }

    Answer health = Exchange(http::verb::get, "/healthz", "");
    if (health.status == 0) {
      return UnavailableError("cannot reach the controller at " + options_.server + ": " +
                              health.error);
    }
    if (health.status != 200) {
      return UnavailableError("the controller at " + options_.server + " answered /healthz with " +
                              ErrorMessage(health));
    }
    start_ = Now();
    for (const SimNode& n : options_.nodes) AppendNode(n);
    RebuildPlans();
    if (nodes_.empty()) return Status::Ok();

    // The first registration, synchronously: it checks the token and the labels, and says the
    // heartbeat interval to spread the fleet over.
    Node& first = nodes_[0];
    Answer reg = Exchange(http::verb::post, "/api/v1/agent/register", RegisterBody(first));
    if (reg.status == 0) {
      return UnavailableError("cannot reach the controller at " + options_.server + ": " +
                              reg.error);
    }
    if (reg.status != 200) {
      StatusCode code = reg.status == 401   ? StatusCode::kUnauthorized
                        : reg.status == 403 ? StatusCode::kForbidden
                        : reg.status == 400 ? StatusCode::kInvalid
                                            : StatusCode::kUnavailable;
      return Status(code, "registering node " + first.id + ": " + ErrorMessage(reg));
    }
    SteadyTime now = Now();
    milliseconds interval = OnRegistered(first, reg.body);
    first.needs_register = false;
    ++counters_.registrations;
    // Node 0 registered now; node i registers i/N of an interval later.
    ScheduleBeat(0, now + interval);
    SpreadRegistrations(1, 1, now, options_.registration_spread.value_or(interval));
    if (first.polls) ScheduleTask(0, now, Task::kPoll);
    return Status::Ok();
  }

  void Run() {
    for (int i = 0; i < options_.connections; ++i) {
      auto slot = std::make_unique<LaneSlot>(io_);
      slot->lane = std::make_shared<Lane>(io_, target_);
      lanes_.push_back(std::move(slot));
      idle_lanes_.push_back(static_cast<size_t>(i));
    }
    work_.emplace(net::make_work_guard(io_));
    net::post(io_, [this] { Kick(); });
    thread_ = std::thread([this] {
      while (true) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "drover sim: error in the I/O loop (continuing): %s\n", e.what());
        }
      }
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    if (!thread_.joinable()) return;
    net::post(io_, [this] {
      std::lock_guard lock(mu_);
      timer_.cancel();
      for (auto& slot : lanes_) {
        slot->backoff_timer.cancel();
        slot->lane->Close();
      }
      for (Node& n : nodes_) {
        if (n.poll_lane) n.poll_lane->Close();
      }
    });
    work_.reset();
    thread_.join();
  }

  // ---- observation ----

  std::vector<Assignment> Assignments(const std::string& node_id) const {
    std::lock_guard lock(mu_);
    const Node* n = Find(node_id);
    return n == nullptr ? std::vector<Assignment>() : n->assignments;
  }

  std::map<std::string, int> RunningVersions(const std::string& job_id) const {
    std::lock_guard lock(mu_);
    std::map<std::string, int> versions;
    for (const Node& n : nodes_) {
      for (const Assignment& a : n.assignments) {
        if (a.job_id == job_id && a.desired_state == "running") versions[n.id] = a.version;
      }
    }
    return versions;
  }

  std::map<std::string, SteadyTime> FirstReceived(const std::string& job_id,
                                                  std::optional<int> version) const {
    std::lock_guard lock(mu_);
    std::map<std::string, SteadyTime> out;
    const std::unordered_map<uint32_t, SteadyTime>* times = nullptr;
    if (version) {
      auto it = first_by_version_.find({job_id, *version});
      if (it != first_by_version_.end()) times = &it->second;
    } else {
      auto it = first_by_job_.find(job_id);
      if (it != first_by_job_.end()) times = &it->second;
    }
    if (times != nullptr) {
      for (const auto& [index, time] : *times) out[nodes_[index].id] = time;
    }
    return out;
  }

  std::vector<std::string> Violations() const {
    std::lock_guard lock(mu_);
    return violations_;
  }

  FleetCounters Counters() const {
    std::lock_guard lock(mu_);
    FleetCounters c = counters_;
    c.nodes = static_cast<int64_t>(nodes_.size());
    SimDuration since = Now() - start_;
    for (const Node& n : nodes_) {
      if (n.registered) ++c.registered;
      if (n.manual_offline || offline_.OfflineUntil(n.id, since)) ++c.offline;
    }
    return c;
  }

  Json Executions(const std::string& node_id) const {
    std::lock_guard lock(mu_);
    const Node* n = Find(node_id);
    Json reports = Json::array();
    if (n == nullptr) return reports;
    SteadyTime now = Now();
    for (const Execution& e : n->executions) {
      reports.push_back(ExecutionReportJson(e.id, e.job_id, e.version, ObserveAt(e, now)));
    }
    return reports;
  }

  std::map<std::string, int64_t> ExecutionStates() const {
    std::lock_guard lock(mu_);
    std::map<std::string, int64_t> counts;
    SteadyTime now = Now();
    for (const Node& n : nodes_) {
      for (const Execution& e : n.executions) {
        counts[e.namespace_ + "/" + e.name + " v" + std::to_string(e.version) + " " +
               ObserveAt(e, now).state]++;
      }
    }
    return counts;
  }

  std::vector<std::string> NodeIds() const {
    std::lock_guard lock(mu_);
    return ids_;
  }

  SteadyTime started_at() const { return start_; }

  // ---- control ----

  void SetOffline(const std::string& node_id, bool offline) {
    std::lock_guard lock(mu_);
    auto it = index_.find(node_id);
    if (it == index_.end() || stopping_) return;
    uint32_t i = it->second;
    Node& n = nodes_[i];
    if (n.manual_offline == offline) return;
    n.manual_offline = offline;
    if (offline) {
      net::post(io_, [this, i] {
        std::lock_guard lock(mu_);
        Node& n = nodes_[i];
        if (n.manual_offline && n.poll_lane && n.poll_in_flight) n.poll_lane->Close();
      });
    } else {
      BeatSoon(i, Now());
      if (n.polls) ScheduleTask(i, Now(), Task::kPoll);
    }
    net::post(io_, [this] { Kick(); });
  }

  void Relabel(const std::string& node_id, Labels labels) {
    std::lock_guard lock(mu_);
    auto it = index_.find(node_id);
    if (it == index_.end() || stopping_) return;
    Node& n = nodes_[it->second];
    n.labels = std::move(labels);
    n.needs_register = true;
    ++n.labels_version;
    BeatSoon(it->second, Now());
    net::post(io_, [this] { Kick(); });
  }

  Status AddNodes(std::vector<SimNode> nodes) {
    std::lock_guard lock(mu_);
    std::set<std::string> seen;
    for (const SimNode& node : nodes) {
      if (Status s = CheckNode(node, seen); !s.ok()) return s;
      if (index_.count(node.id)) return InvalidError("node " + node.id + " is already simulated");
    }
    if (stopping_) return UnavailableError("the fleet is stopped");
    uint32_t first = static_cast<uint32_t>(nodes_.size());
    for (const SimNode& node : nodes) AppendNode(node);
    RebuildPlans();
    SpreadRegistrations(first, 0, Now(), options_.registration_spread.value_or(interval_));
    net::post(io_, [this] { Kick(); });
    return Status::Ok();
  }

 private:
  enum class Task : uint8_t { kBeat, kPoll };

  struct Execution {
    std::string id;
    std::string job_id;
    std::string namespace_;
    std::string name;
    int version = 0;
    ExecutionScript script;
    SteadyTime assigned_at;
    std::optional<SimDuration> stop_at;  // since assigned_at
  };

  struct Node {
    std::string id;
    Labels labels;
    uint64_t labels_version = 0;
    bool registered = false;
    bool needs_register = true;
    milliseconds interval = kDefaultInterval;
    uint64_t index = 0;  // the controller's assignments index
    // Heartbeat/registration schedule: exactly one of in the heap (beat_generation), in the
    // ready queue (queued) or in flight.
    SteadyTime due{};
    uint32_t beat_generation = 0;
    bool queued = false;
    bool in_flight = false;
    bool soon = false;  // send again at once when the request in flight ends
    int failures = 0;   // consecutive failed registrations
    bool manual_offline = false;
    // Long polls.
    bool polls = false;
    uint32_t poll_generation = 0;
    bool poll_in_flight = false;
    int poll_failures = 0;
    std::shared_ptr<Lane> poll_lane;
    // What the node runs and was told.
    std::vector<Execution> executions;
    std::vector<std::string> tombstones;  // reported stopped, still listed by the controller
    std::vector<Assignment> assignments;
    size_t answer_hash = 0;
    bool answered = false;
  };

  struct Due {
    SteadyTime at;
    uint32_t node;
    uint32_t generation;
    Task task;
    bool operator>(const Due& other) const { return at > other.at; }
  };

  struct LaneSlot {
    explicit LaneSlot(net::io_context& io) : backoff_timer(io) {}
    std::shared_ptr<Lane> lane;
    net::steady_timer backoff_timer;
    milliseconds backoff{0};
  };

  static Status CheckNode(const SimNode& node, std::set<std::string>& seen) {
    if (auto e = NodeIdError(node.id)) return InvalidError("node id \"" + node.id + "\": " + *e);
    if (!seen.insert(node.id).second) return InvalidError("node id " + node.id + " given twice");
    for (const auto& [key, value] : node.labels) {
      if (auto e = LabelKeyError(key)) return InvalidError("label key \"" + key + "\": " + *e);
      if (auto e = LabelValueError(value)) {
        return InvalidError("label " + key + "=\"" + value + "\": " + *e);
      }
    }
    return Status::Ok();
  }

  // A blocking request on the I/O context, before the I/O thread runs.
  Answer Exchange(http::verb verb, const std::string& path, std::string body) {
    auto lane = std::make_shared<Lane>(io_, target_);
    Answer answer;
    lane->Send(verb, path, std::move(body), options_.request_timeout,
               [&answer](Answer a) { answer = std::move(a); });
    io_.run();
    io_.restart();
    lane->Close();
    return answer;
  }

  void AppendNode(const SimNode& node) {
    uint32_t i = static_cast<uint32_t>(nodes_.size());
    Node& n = nodes_.emplace_back();
    n.id = node.id;
    n.labels = node.labels;
    n.polls = options_.long_poll && i < static_cast<uint32_t>(std::max(0, options_.max_long_polls));
    if (options_.heartbeat_interval) n.interval = *options_.heartbeat_interval;
    index_[n.id] = i;
    ids_.push_back(n.id);
  }

  void RebuildPlans() {
    rules_ = RuleBook(options_.rules, ids_);
    offline_ = OfflinePlan(options_.offline, ids_);
  }

  // Nodes [first, end) register spread evenly over `interval` from `from`, as if `slots_before`
  // nodes had taken the first slots.
  void SpreadRegistrations(uint32_t first, uint32_t slots_before, SteadyTime from,
                           milliseconds interval) {
    size_t count = nodes_.size() - first;
    auto span = std::chrono::duration_cast<SteadyTime::duration>(interval);
    int64_t total = static_cast<int64_t>(count + slots_before);
    for (size_t k = 0; k < count; ++k) {
      ScheduleBeat(first + static_cast<uint32_t>(k),
                   from + span * static_cast<int64_t>(k + slots_before) / total);
    }
  }

  std::string RegisterBody(const Node& n) const {
    Json labels = Json::object();
    for (const auto& [k, v] : n.labels) labels[k] = v;
    return Json{{"node_id", n.id},  {"name", n.id},
                {"labels", labels}, {"agent_version", options_.agent_version},
                {"os", "linux"},    {"arch", "amd64"}}
        .dump();
  }

  // Takes the register answer; returns the heartbeat interval.
  milliseconds OnRegistered(Node& n, const std::string& body) {
    milliseconds interval = kDefaultInterval;
    Json answer = Json::parse(body, nullptr, false);
    if (answer.is_object() && answer.contains("heartbeat_interval_ms") &&
        answer["heartbeat_interval_ms"].is_number_integer() &&
        answer["heartbeat_interval_ms"].get<int64_t>() > 0) {
      interval = milliseconds(answer["heartbeat_interval_ms"].get<int64_t>());
    } else {
      ++counters_.malformed_answers;
    }
    if (options_.heartbeat_interval) interval = *options_.heartbeat_interval;
    n.interval = interval;
    interval_ = interval;
    n.registered = true;
    n.failures = 0;
    return interval;
  }

  // ---- the schedule (mu_ held) ----

  void ScheduleBeat(uint32_t i, SteadyTime at) {
    Node& n = nodes_[i];
    n.due = at;
    ++n.beat_generation;
    heap_.push({at, i, n.beat_generation, Task::kBeat});
    if (armed_ && at < armed_for_) rearm_ = true;
  }

  void ScheduleTask(uint32_t i, SteadyTime at, Task task) {
    if (task == Task::kBeat) return ScheduleBeat(i, at);
    Node& n = nodes_[i];
    ++n.poll_generation;
    heap_.push({at, i, n.poll_generation, Task::kPoll});
    if (armed_ && at < armed_for_) rearm_ = true;
  }

  // A heartbeat (or registration) as soon as possible.
  void BeatSoon(uint32_t i, SteadyTime now) {
    Node& n = nodes_[i];
    if (n.queued || n.in_flight) {
      n.soon = true;
    } else {
      ScheduleBeat(i, now);
    }
  }

  // Runs due work and arms the timer for the next. I/O thread.
  void Kick() {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    SteadyTime now = Now();
    while (!heap_.empty() && heap_.top().at <= now) {
      Due due = heap_.top();
      heap_.pop();
      Node& n = nodes_[due.node];
      if (due.task == Task::kBeat) {
        if (due.generation != n.beat_generation || n.queued || n.in_flight) continue;
        n.queued = true;
        ready_.push_back(due.node);
      } else if (due.generation == n.poll_generation) {
        StartPoll(due.node, now);
      }
    }
    Pump(now);
    Arm();
  }

  void Arm() {
    if (heap_.empty() || stopping_) return;
    SteadyTime next = heap_.top().at;
    if (armed_ && !rearm_ && armed_for_ <= next) return;
    armed_ = true;
    rearm_ = false;
    armed_for_ = next;
    timer_.expires_at(next);
    timer_.async_wait([this](beast::error_code ec) {
      if (ec == net::error::operation_aborted) return;
      {
        std::lock_guard lock(mu_);
        armed_ = false;
      }
      Kick();
    });
  }

  // Hands ready nodes to idle connections.
  void Pump(SteadyTime now) {
    while (!ready_.empty() && !idle_lanes_.empty()) {
      uint32_t i = ready_.front();
      ready_.pop_front();
      Node& n = nodes_[i];
      n.queued = false;
      if (SkipWhileOffline(i, now)) continue;
      size_t lane = idle_lanes_.back();
      idle_lanes_.pop_back();
      n.in_flight = true;
      bool registering = n.needs_register;
      uint64_t labels_version = n.labels_version;
      SteadyTime due = n.due;
      std::string path;
      std::string body;
      if (registering) {
        path = "/api/v1/agent/register";
        body = RegisterBody(n);
      } else {
        path = "/api/v1/agent/heartbeat";
        body = HeartbeatBody(n, now);
      }
      lanes_[lane]->lane->Send(http::verb::post, path, std::move(body), options_.request_timeout,
                               [this, lane, i, registering, labels_version, due](Answer answer) {
                                 OnAnswer(lane, i, registering, labels_version, due,
                                          std::move(answer));
                               });
    }
  }

  // True (and the node rescheduled) when the node is offline now.
  bool SkipWhileOffline(uint32_t i, SteadyTime now) {
    Node& n = nodes_[i];
    if (n.manual_offline) {
      ScheduleBeat(i, now + n.interval);  // SetOffline(false) reschedules it at once
      return true;
    }
    if (auto until = offline_.OfflineUntil(n.id, now - start_)) {
      ScheduleBeat(i, start_ + *until);
      return true;
    }
    return false;
  }

  void ReleaseLane(size_t lane, bool transport_error) {
    LaneSlot& slot = *lanes_[lane];
    if (!transport_error) {
      slot.backoff = milliseconds(0);
      idle_lanes_.push_back(lane);
      return;
    }
    slot.backoff = std::clamp(slot.backoff * 2, kLaneBackoffMin, kLaneBackoffMax);
    slot.backoff_timer.expires_after(slot.backoff);
    slot.backoff_timer.async_wait([this, lane](beast::error_code ec) {
      if (ec == net::error::operation_aborted) return;
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        idle_lanes_.push_back(lane);
      }
      Kick();
    });
  }

  void OnAnswer(size_t lane, uint32_t i, bool registering, uint64_t labels_version, SteadyTime due,
                Answer answer) {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    SteadyTime now = Now();
    bool transport_error = answer.status == 0;
    if (transport_error && !answer.aborted) ++counters_.connection_errors;
    ReleaseLane(lane, transport_error);
    Node& n = nodes_[i];
    n.in_flight = false;
    SteadyTime next = due + n.interval;
    if (registering) {
      if (answer.status == 200) {
        ++counters_.registrations;
        OnRegistered(n, answer.body);
        if (n.labels_version == labels_version) n.needs_register = false;
        next = due + n.interval;
        if (n.polls && !n.poll_in_flight) ScheduleTask(i, now, Task::kPoll);
      } else {
        ++counters_.registration_failures;
        ++n.failures;
        next = now + Backoff(n.failures);
      }
    } else if (answer.status == 200) {
      ++counters_.heartbeats_ok;
      TakeAnswer(i, answer.body, now);
    } else {
      ++counters_.heartbeats_failed;
      if (answer.status == 404) {  // the controller does not know the node (any more)
        n.needs_register = true;
        n.registered = false;
        next = now;
      }
    }
    if (n.soon || (n.needs_register && answer.status == 200)) next = now;
    n.soon = false;
    if (next + n.interval < now) next = now;  // far behind: catch up once, keep the cadence
    ScheduleBeat(i, next);
    Pump(now);
    Arm();
  }

  // ---- long polls (mu_ held) ----

  void StartPoll(uint32_t i, SteadyTime now) {
    Node& n = nodes_[i];
    if (!n.polls || !n.registered || n.poll_in_flight || n.manual_offline || stopping_) return;
    SimDuration since = now - start_;
    if (auto until = offline_.OfflineUntil(n.id, since)) {
      ScheduleTask(i, start_ + *until, Task::kPoll);
      return;
    }
    milliseconds wait = options_.long_poll_wait;
    if (auto next = offline_.NextOffline(n.id, since)) {
      auto left = std::chrono::duration_cast<milliseconds>(*next - since);
      if (left < milliseconds(100)) {
        ScheduleTask(i, start_ + *next, Task::kPoll);
        return;
      }
      wait = std::min(wait, left);
    }
    if (!n.poll_lane) n.poll_lane = std::make_shared<Lane>(io_, target_);
    n.poll_in_flight = true;
    std::string path = "/api/v1/agent/assignments?node_id=" + n.id +
                       "&index=" + std::to_string(n.index) +
                       "&wait=" + std::to_string(wait.count()) + "ms";
    n.poll_lane->Send(http::verb::get, path, "", wait + options_.request_timeout,
                      [this, i](Answer answer) { OnPollAnswer(i, std::move(answer)); });
  }

  void OnPollAnswer(uint32_t i, Answer answer) {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    Node& n = nodes_[i];
    n.poll_in_flight = false;
    SteadyTime now = Now();
    if (n.manual_offline) return;  // SetOffline(false) polls again
    if (answer.aborted) {
      ScheduleTask(i, now, Task::kPoll);
    } else if (answer.status == 200) {
      ++counters_.polls_ok;
      n.poll_failures = 0;
      bool changed = TakeAnswer(i, answer.body, now);
      if (changed) BeatSoon(i, now);  // report the change promptly
      // An answer without a change came after the wait (or from a controller that answers at
      // once): a short pause keeps the latter from spinning, and the index catches up anyway.
      ScheduleTask(i, changed ? now : now + kPollPause, Task::kPoll);
    } else {
      ++counters_.polls_failed;
      if (answer.status == 0) ++counters_.connection_errors;
      if (answer.status == 404) {
        n.needs_register = true;
        n.registered = false;
        BeatSoon(i, now);  // registering starts the polls again
      } else {
        ++n.poll_failures;
        ScheduleTask(i, now + Backoff(n.poll_failures), Task::kPoll);
      }
    }
    Arm();
    Pump(now);
  }

  // ---- assignments (mu_ held) ----

  // Applies a heartbeat or poll answer; true when it changed which executions the node runs or
  // stops.
  bool TakeAnswer(uint32_t i, const std::string& body, SteadyTime now) {
    Node& n = nodes_[i];
    size_t hash = std::hash<std::string>{}(body);
    if (n.answered && hash == n.answer_hash) return false;
    Json answer = Json::parse(body, nullptr, false);
    if (!answer.is_object() || !answer.contains("assignments") ||
        !answer["assignments"].is_array()) {
      ++counters_.malformed_answers;
      return false;
    }
    n.answered = true;
    n.answer_hash = hash;
    if (answer.contains("index") && answer["index"].is_number_unsigned()) {
      n.index = answer["index"].get<uint64_t>();
    }
    return ApplyAssignments(i, answer["assignments"], now);
  }

  std::shared_ptr<const Json> InternSpec(const std::string& job_id, int version, Json spec) {
    std::string key = job_id + "#" + std::to_string(version);
    auto it = specs_.find(key);
    if (it != specs_.end() && *it->second == spec) return it->second;
    auto shared = std::make_shared<const Json>(std::move(spec));
    specs_[key] = shared;
    return shared;
  }

  void AddViolation(std::string message) {
    if (violations_.size() >= kMaxViolations || !violation_set_.insert(message).second) return;
    violations_.push_back(std::move(message));
  }

  Observation ObserveAt(const Execution& e, SteadyTime now) const {
    return Observe(e.script, now - e.assigned_at, e.stop_at);
  }

  // Returns whether the (execution, desired state) pairs changed.
  bool ApplyAssignments(uint32_t i, const Json& list, SteadyTime now) {
    Node& n = nodes_[i];
    std::vector<Assignment> parsed;
    std::vector<std::optional<HealthSettings>> health;
    std::vector<std::string> restart_policies;
    for (const Json& a : list) {
      if (!a.is_object() || !a.contains("execution_id") || !a["execution_id"].is_string() ||
          !a.contains("job_id") || !a["job_id"].is_string()) {
        ++counters_.malformed_answers;
        continue;
      }
      Assignment out;
      out.execution_id = a["execution_id"].get<std::string>();
      out.job_id = a["job_id"].get<std::string>();
      out.namespace_ = Text(a, "namespace");
      out.name = Text(a, "name");
      out.type = Text(a, "type");
      out.desired_state = Text(a, "desired_state");
      if (out.desired_state.empty()) out.desired_state = "running";
      if (a.contains("version") && a["version"].is_number_integer()) {
        out.version = a["version"].get<int>();
      }
      Json spec = Json::object();
      for (const char* field : {"config", "restart_policy", "timeouts", "health_check"}) {
        if (a.contains(field)) spec[field] = a[field];
      }
      Result<std::optional<HealthSettings>> check =
          ParseHealthCheck(a.contains("health_check") ? a["health_check"] : Json());
      if (!check.ok()) ++counters_.malformed_answers;
      health.push_back(check.ok() ? *check : std::nullopt);
      restart_policies.push_back(Text(a, "restart_policy"));
      out.spec = InternSpec(out.job_id, out.version, std::move(spec));
      parsed.push_back(std::move(out));
    }

    auto tombstoned = [&n](const std::string& id) {
      return std::find(n.tombstones.begin(), n.tombstones.end(), id) != n.tombstones.end();
    };
    auto local = [&n](const std::string& id) -> Execution* {
      for (Execution& e : n.executions) {
        if (e.id == id) return &e;
      }
      return nullptr;
    };

    // The controller's side of the invariant (SPEC §1): at most one running execution per job.
    std::map<std::string, std::vector<const Assignment*>> running;
    for (const Assignment& a : parsed) {
      if (a.desired_state == "running") running[a.job_id].push_back(&a);
    }
    for (const auto& [job_id, list] : running) {
      if (list.size() < 2) continue;
      std::string message = "node " + n.id + ": told to run " + std::to_string(list.size()) +
                            " executions of job " + job_id + " at once:";
      for (const Assignment* a : list) {
        message += " " + a->execution_id + " (v" + std::to_string(a->version) + ")";
      }
      AddViolation(std::move(message));
    }
    // A version going backwards must stop the newer execution first.
    for (const Assignment& a : parsed) {
      if (a.desired_state != "running" || local(a.execution_id) || tombstoned(a.execution_id)) {
        continue;
      }
      for (const Execution& e : n.executions) {
        if (e.job_id == a.job_id && e.version > a.version &&
            !IsTerminalState(ObserveAt(e, now).state)) {
          AddViolation("node " + n.id + ": job " + a.job_id + " went back from v" +
                       std::to_string(e.version) + " (" + e.id + ") to v" +
                       std::to_string(a.version) + " (" + a.execution_id +
                       ") without stopping the newer execution first");
        }
      }
    }

    std::set<std::string> listed;
    for (size_t k = 0; k < parsed.size(); ++k) {
      const Assignment& a = parsed[k];
      listed.insert(a.execution_id);
      if (a.desired_state == "running") {
        first_by_job_[a.job_id].emplace(i, now);
        first_by_version_[{a.job_id, a.version}].emplace(i, now);
      }
      if (tombstoned(a.execution_id)) continue;
      Execution* e = local(a.execution_id);
      if (e == nullptr) {
        if (a.desired_state != "running") continue;  // never ran here: nothing to stop
        AssignmentFacts facts{n.id,      a.job_id, a.namespace_,        a.name,
                              a.version, a.type,   restart_policies[k], health[k]};
        Execution& created = n.executions.emplace_back();
        created.id = a.execution_id;
        created.job_id = a.job_id;
        created.namespace_ = a.namespace_;
        created.name = a.name;
        created.version = a.version;
        created.script = MakeScript(facts, rules_.Match(facts), options_.behaviour);
        created.assigned_at = now;
      } else if (a.desired_state == "stopped" && !e->stop_at) {
        e->stop_at = now - e->assigned_at;
      }
    }
    // Not listed any more: stopped (reported once), or gone when it had already ended.
    std::vector<Execution> kept;
    for (Execution& e : n.executions) {
      if (!listed.count(e.id)) {
        Observation o = ObserveAt(e, now);
        if (IsTerminalState(o.state)) continue;
        e.stop_at = now - e.assigned_at;
      }
      kept.push_back(std::move(e));
    }
    n.executions = std::move(kept);
    std::erase_if(n.tombstones, [&listed](const std::string& id) { return !listed.count(id); });
    bool changed =
        !std::equal(parsed.begin(), parsed.end(), n.assignments.begin(), n.assignments.end(),
                    [](const Assignment& a, const Assignment& b) {
                      return a.execution_id == b.execution_id && a.desired_state == b.desired_state;
                    });
    n.assignments = std::move(parsed);
    return changed;
  }

  // The heartbeat body; executions that reported their stop are dropped afterwards.
  std::string HeartbeatBody(Node& n, SteadyTime now) {
    Json reports = Json::array();
    std::vector<Execution> kept;
    for (Execution& e : n.executions) {
      SimDuration since = now - e.assigned_at;
      Observation o = Observe(e.script, since, e.stop_at);
      reports.push_back(ExecutionReportJson(e.id, e.job_id, e.version, o));
      if (e.stop_at && since >= *e.stop_at) {
        bool still_listed =
            std::any_of(n.assignments.begin(), n.assignments.end(),
                        [&e](const Assignment& a) { return a.execution_id == e.id; });
        if (still_listed) n.tombstones.push_back(e.id);
        continue;
      }
      kept.push_back(std::move(e));
    }
    n.executions = std::move(kept);
    return Json{{"node_id", n.id}, {"executions", std::move(reports)}}.dump();
  }

  const Node* Find(const std::string& id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &nodes_[it->second];
  }

  FleetOptions options_;
  net::io_context io_;  // declared before everything that holds its sockets and timers
  Target target_;
  net::steady_timer timer_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
  std::vector<std::unique_ptr<LaneSlot>> lanes_;

  mutable std::mutex mu_;
  bool stopping_ = false;
  SteadyTime start_{};
  milliseconds interval_ = kDefaultInterval;
  std::deque<Node> nodes_;
  std::vector<std::string> ids_;
  std::unordered_map<std::string, uint32_t> index_;
  RuleBook rules_;
  OfflinePlan offline_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> heap_;
  std::deque<uint32_t> ready_;
  std::vector<size_t> idle_lanes_;
  bool armed_ = false;
  bool rearm_ = false;
  SteadyTime armed_for_{};
  FleetCounters counters_;
  std::vector<std::string> violations_;
  std::set<std::string> violation_set_;
  std::map<std::string, std::unordered_map<uint32_t, SteadyTime>> first_by_job_;
  std::map<std::pair<std::string, int>, std::unordered_map<uint32_t, SteadyTime>> first_by_version_;
  std::unordered_map<std::string, std::shared_ptr<const Json>> specs_;
};

Result<std::unique_ptr<Fleet>> Fleet::Start(FleetOptions options) {
  auto engine = std::make_unique<Engine>(std::move(options));
  Status opened = engine->Open();
  if (!opened.ok()) return opened;
  engine->Run();
  return std::unique_ptr<Fleet>(new Fleet(std::move(engine)));
}

Fleet::Fleet(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
Fleet::~Fleet() { Stop(); }
void Fleet::Stop() { engine_->Stop(); }

std::vector<Assignment> Fleet::Assignments(const std::string& node_id) const {
  return engine_->Assignments(node_id);
}
std::map<std::string, int> Fleet::RunningVersions(const std::string& job_id) const {
  return engine_->RunningVersions(job_id);
}
std::map<std::string, SteadyTime> Fleet::FirstReceived(const std::string& job_id,
                                                       std::optional<int> version) const {
  return engine_->FirstReceived(job_id, version);
}
std::vector<std::string> Fleet::Violations() const { return engine_->Violations(); }
FleetCounters Fleet::Counters() const { return engine_->Counters(); }
Json Fleet::Executions(const std::string& node_id) const { return engine_->Executions(node_id); }
std::map<std::string, int64_t> Fleet::ExecutionStates() const { return engine_->ExecutionStates(); }
std::vector<std::string> Fleet::NodeIds() const { return engine_->NodeIds(); }
SteadyTime Fleet::started_at() const { return engine_->started_at(); }
void Fleet::SetOffline(const std::string& node_id, bool offline) {
  engine_->SetOffline(node_id, offline);
}
void Fleet::Relabel(const std::string& node_id, Labels labels) {
  engine_->Relabel(node_id, std::move(labels));
}
Status Fleet::AddNodes(std::vector<SimNode> nodes) { return engine_->AddNodes(std::move(nodes)); }

}  // namespace drover::sim
