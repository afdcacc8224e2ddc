// Load test of the HTTP API (issue 3, acceptance 5; issue 8, acceptance 4 for etcd): a real
// `drover controller` (default flags, --heartbeat-interval 10s) started on a free 127.0.0.1 port
// for each store compared (--store sqlite,etcd: SQLite in its data dir, or a fresh etcd member
// started by the bench, bench/etcd_server.h), driven by a closed-loop generator in this process
// (N threads, each with its own keep-alive connection), for a fixed duration per scenario:
//   put_new        PUT /api/v1/jobs, a new job each time (distinct names)     -> 201
//   put_unchanged  PUT /api/v1/jobs of a job already stored, same spec        -> 422
//   get_job        GET /api/v1/jobs/{name}                                    -> 200
//   heartbeat      POST /api/v1/agent/heartbeat, 10,000 registered nodes,
//                  2 observed executions per heartbeat                        -> 200
//   healthz        GET /healthz (reference: the HTTP stack with no work)      -> 200
// Then the same work without HTTP, in this process, with the same thread count: the same store
// (SqliteStore with default options, or EtcdStore on a fresh etcd) behind the InstrumentedStore,
// NodeRegistry and JobService exactly as `drover controller` wires them; each call parses the
// same body text (ParseJson), runs what the route handler runs and serialises the answer, so
// HTTP/direct is the cost of the HTTP layer (ApiServer::Handle's routing and metrics) on top of
// the same store work. The CPU of an etcd the bench started is counted apart.
//
//   ./build/api_load_bench [--drover PATH] [--duration SECONDS] [--connections 16,64]
//                          [--nodes 10000] [--only put_new,heartbeat,...] [--no-direct]
//                          [--no-http] [--no-diagnosis] [--store sqlite,etcd]
//                          [--controller-args "--http-threads 4"]
//                          [--etcd /usr/bin/etcd] [--etcd-flags "--max-txn-ops=1000"]
//                          [--etcd-data-parent /dev/shm]
//
// Stops by itself; the controller is stopped (SIGTERM, then SIGKILL) before the direct part, and
// every etcd it started is killed when its run ends.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
std::string g_drover_binary;
}  // namespace
#define DROVER_BINARY ::g_drover_binary

#include "api/document.h"
#include "api/validation.h"
#include "bench/etcd_server.h"
#include "controller/clock.h"
#include "controller/http.h"
#include "controller/instrumented_store.h"
#include "controller/job_service.h"
#include "controller/metrics.h"
#include "controller/node_registry.h"
#include "store/etcd_store.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"
#include "tests/testing/controller_process.h"

namespace drover {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Request bodies

// The jobs select env=unplaced, which no bench node has (they register with env=bench): the
// thousands of jobs put_new creates must not be placed by the control loop onto the nodes
// registered for the heartbeat scenario while heartbeats are measured.
std::string JobSpecBody(const std::string& name) {
  return R"({"name":")" + name +
         R"(","type":"pipeline","labels":{"team":"bench"},"selector":{"match_labels":{"env":"unplaced"}},)"
         R"("config":{"input":{"generate":{"mapping":"root = \"hello\"","interval":"1s"}},)"
         R"("pipeline":{"processors":[{"mapping":"root = this"}]},"output":{"stdout":{}}}})";
}

std::string NodeId(int i) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "node-%05d", i);
  return buffer;
}

std::string RegisterBody(const std::string& id) {
  return R"({"node_id":")" + id + R"(","name":")" + id +
         R"(","labels":{"env":"bench","region":"eu-west","hw":"rpi4"},"agent_version":"1.0.0","os":"linux","arch":"arm64"})";
}

std::string HeartbeatBody(const std::string& id, int seq) {
  std::string s = std::to_string(seq);
  return R"({"node_id":")" + id +
         R"(","executions":[)"
         R"({"execution_id":"e-)" +
         id +
         R"(-1","job_id":"j-0001","version":3,"state":"running","exit_code":null,"restarts":0,"health":"healthy","window":{"processed":)" +
         s +
         R"(,"errors":0},"message":""},)"
         R"({"execution_id":"e-)" +
         id +
         R"(-2","job_id":"j-0002","version":1,"state":"running","exit_code":null,"restarts":1,"health":"healthy","window":{"processed":)" +
         s + R"(,"errors":1},"message":"ok"}]})";
}

// ---------------------------------------------------------------------------------------------
// A lean keep-alive HTTP/1.1 client (status + Content-Length only), so that the generator takes
// as little of the 2 shared cores as possible.

class Lane {
 public:
  explicit Lane(int port) : port_(port) { Connect(); }
  ~Lane() { Close(); }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  // Sends one request and reads its reply; the HTTP status, or 0 on a transport error (the
  // connection is then re-opened for the next request).
  int Exchange(const std::string& method, const std::string& path, const std::string& body,
               std::string* reply_body = nullptr) {
    if (fd_ < 0 && !Connect()) return 0;
    request_.clear();
    request_ += method;
    request_ += ' ';
    request_ += path;
    request_ += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!body.empty()) request_ += "Content-Type: application/json\r\n";
    request_ += "Content-Length: ";
    request_ += std::to_string(body.size());
    request_ += "\r\n\r\n";
    request_ += body;
    size_t sent = 0;
    while (sent < request_.size()) {
      ssize_t n = ::send(fd_, request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return Fail();
      sent += static_cast<size_t>(n);
    }
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return Fail();
    }
    if (header_end < 12 || buffer_.compare(0, 5, "HTTP/") != 0) return Fail();
    int status = std::atoi(buffer_.c_str() + 9);
    size_t length = 0;
    bool have_length = false;
    for (size_t pos = buffer_.find("\r\n"); pos < header_end;) {
      size_t next = buffer_.find("\r\n", pos + 2);
      if (next - pos > 17 && strncasecmp(buffer_.c_str() + pos + 2, "content-length:", 15) == 0) {
        length = std::strtoul(buffer_.c_str() + pos + 17, nullptr, 10);
        have_length = true;
      }
      pos = next;
    }
    if (!have_length) return Fail();  // cpprestsdk always sends Content-Length for these replies
    size_t total = header_end + 4 + length;
    while (buffer_.size() < total) {
      if (!Fill()) return Fail();
    }
    if (reply_body != nullptr) reply_body->assign(buffer_, header_end + 4, length);
    buffer_.erase(0, total);
    return status;
  }

 private:
  bool Connect() {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  int Fail() {
    Close();
    return 0;
  }
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int port_;
  int fd_ = -1;
  std::string buffer_;
  std::string request_;
};

// Sum and count of a histogram in the controller's /metrics, over the series whose labels
// contain `labels` (e.g. `op="commit"`).
struct HistogramTotals {
  double sum = 0;
  double count = 0;
};

HistogramTotals Scrape(int port, const std::string& metric, const std::string& labels) {
  HistogramTotals t;
  Lane lane(port);
  std::string body;
  if (lane.Exchange("GET", "/metrics", "", &body) != 200) return t;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.find(labels) == std::string::npos) continue;
    double* into = nullptr;
    if (line.rfind(metric + "_sum{", 0) == 0) into = &t.sum;
    if (line.rfind(metric + "_count{", 0) == 0) into = &t.count;
    if (into == nullptr) continue;
    size_t space = line.rfind(' ');
    if (space != std::string::npos) *into += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU-seconds the whole machine spent busy (every cpu, all processes), from /proc/stat.
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                     steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the command: state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime(14) stime(15).
  for (int i = 3; i <= 13; ++i) rest >> field;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------------------------------------
// Closed-loop runner

struct Outcome {
  std::string scenario;
  std::string mode;   // http | direct
  std::string store;  // as named by --store: sqlite, etcd, ...
  int concurrency = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double server_cpu = 0;  // CPU-seconds of the controller during the measure (http only)
  double client_cpu = 0;  // CPU-seconds of this process during the measure
  double etcd_cpu = 0;    // CPU-seconds of the etcd this bench started, during the measure
  double other_cpu = 0;   // CPU-seconds of everything else on the machine (noise)
  // From the controller's own histograms, over the measure (http only): mean time inside
  // ApiServer::Handle for the route, and mean store commit / get (including the wait for the
  // store's writer lock, which InstrumentedStore's timer covers).
  double handle_ms = 0, commit_ms = 0, get_ms = 0;
  double commits = 0;
  std::string first_error;
  double rate() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// One operation of thread `thread`, iteration `i`: true when it got the expected answer; on
// false, `error` says what came back.
using Operation = std::function<bool(int thread, uint64_t i, std::string* error)>;

// `server` and `etcd`: the processes whose CPU is counted apart (-1: none).
Outcome RunClosedLoop(const std::string& scenario, const std::string& mode, int threads,
                      double warmup_s, double measure_s, const Operation& op, pid_t server,
                      pid_t etcd) {
  struct PerThread {
    std::vector<uint32_t> latencies_us;
    uint64_t errors = 0;
    std::string first_error;
  };
  std::vector<PerThread> per(static_cast<size_t>(threads));
  std::atomic<int> phase{0};  // 0 warm-up, 1 measure, 2 stop
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      PerThread& mine = per[static_cast<size_t>(t)];
      mine.latencies_us.reserve(1 << 16);
      std::string error;
      for (uint64_t i = 0;; ++i) {
        int p = phase.load(std::memory_order_relaxed);
        if (p == 2) break;
        auto start = Clock::now();
        error.clear();
        bool ok = op(t, i, &error);
        auto took = Clock::now() - start;
        if (p == 1 && phase.load(std::memory_order_relaxed) == 1) {
          mine.latencies_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
          if (!ok) {
            ++mine.errors;
            if (mine.first_error.empty()) mine.first_error = error;
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  double server0 = ProcessCpuSeconds(server), client0 = SelfCpuSeconds();
  double etcd0 = ProcessCpuSeconds(etcd);
  double machine0 = MachineBusySeconds();
  auto t0 = Clock::now();
  phase = 1;
  std::this_thread::sleep_for(std::chrono::duration<double>(measure_s));
  phase = 2;
  auto t1 = Clock::now();
  double server1 = ProcessCpuSeconds(server), client1 = SelfCpuSeconds();
  double etcd1 = ProcessCpuSeconds(etcd);
  double machine1 = MachineBusySeconds();
  for (std::thread& w : workers) w.join();

  Outcome o;
  o.scenario = scenario;
  o.mode = mode;
  o.concurrency = threads;
  o.seconds = std::chrono::duration<double>(t1 - t0).count();
  o.server_cpu = server1 - server0;
  o.client_cpu = client1 - client0;
  o.etcd_cpu = etcd1 - etcd0;
  o.other_cpu = std::max(0.0, (machine1 - machine0) - o.server_cpu - o.client_cpu - o.etcd_cpu);
  std::vector<uint32_t> all;
  for (PerThread& p : per) {
    all.insert(all.end(), p.latencies_us.begin(), p.latencies_us.end());
    o.errors += p.errors;
    if (o.first_error.empty()) o.first_error = p.first_error;
  }
  o.requests = all.size();
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto at = [&](double q) {
      size_t k = static_cast<size_t>(q * static_cast<double>(all.size() - 1));
      return all[k] / 1000.0;
    };
    o.p50_ms = at(0.50);
    o.p99_ms = at(0.99);
    o.max_ms = all.back() / 1000.0;
  }
  return o;
}

void PrintOutcome(const Outcome& o) {
  std::printf("  %-14s %-6s %-6s c=%-3d %8" PRIu64 " req %6" PRIu64
              " err %9.0f /s  p50 %7.2f  p99 %7.2f  max %7.2f ms",
              o.scenario.c_str(), o.store.c_str(), o.mode.c_str(), o.concurrency, o.requests,
              o.errors, o.rate(), o.p50_ms, o.p99_ms, o.max_ms);
  if (o.mode == "http") {
    std::printf("  srv %.2f cores %.0f us/req  gen %.2f cores", o.server_cpu / o.seconds,
                o.requests ? o.server_cpu / static_cast<double>(o.requests) * 1e6 : 0.0,
                o.client_cpu / o.seconds);
  } else {
    std::printf("  cpu %.2f cores %.0f us/op", o.client_cpu / o.seconds,
                o.requests ? o.client_cpu / static_cast<double>(o.requests) * 1e6 : 0.0);
  }
  if (o.etcd_cpu > 0) std::printf("  etcd %.2f cores", o.etcd_cpu / o.seconds);
  std::printf("  other %.2f cores\n", o.other_cpu / o.seconds);
  if (o.mode == "http") {
    std::printf(
        "    in-server: handle %.3f ms/req; store commit %.3f ms (%.0f commits/s), get %.3f ms\n",
        o.handle_ms, o.commit_ms, o.commits / o.seconds, o.get_ms);
  }
  if (o.errors > 0) std::printf("    first error: %s\n", o.first_error.substr(0, 300).c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string drover;
  double duration_s = 10;
  double warmup_s = 1;
  std::vector<int> connections = {16, 64};
  int nodes = 10'000;
  std::set<std::string> only;
  bool direct = true;
  bool http = true;
  // The stores compared, each run in turn at each connection count: sqlite, memory, etcd (a
  // fresh etcd per run, see bench/etcd_server.h) or etcd://host:port,... (an existing one).
  std::vector<std::string> stores = {"sqlite"};
  bench::EtcdServerOptions etcd;             // for the "etcd" store
  std::vector<std::string> controller_args;  // more controller flags (diagnosis only)
  bool diagnosis = true;  // the extra direct put_new runs (1 thread, synchronous=NORMAL)
};

bool Wanted(const Options& o, const std::string& scenario) {
  return o.only.empty() || o.only.count(scenario) > 0;
}

// ---------------------------------------------------------------------------------------------
// The HTTP part: for each store and concurrency level, two parts, each on a fresh controller and
// store: the job routes, then heartbeats. Heartbeats get their own controller so that their
// numbers do not depend on how many jobs put_new created before them (the faster store creates
// more, and the control loop goes over every job when nodes register and on every resync).

const std::vector<std::set<std::string>> kHttpParts = {
    {"put_new", "put_unchanged", "get_job", "healthz"}, {"heartbeat"}};

// Names of jobs created by put_new, per thread, for the later scenarios.
struct CreatedJobs {
  std::vector<std::vector<std::string>> by_thread;
  const std::string& Pick(int thread, uint64_t i) const {
    const auto& mine = by_thread[static_cast<size_t>(thread)];
    return mine[i % mine.size()];
  }
};

bool RunHttp(const Options& options, const std::set<std::string>& part,
             const std::string& store_name, int conns, std::vector<Outcome>* results) {
  auto wanted = [&](const std::string& scenario) {
    return part.count(scenario) > 0 && Wanted(options, scenario);
  };
  if (std::none_of(part.begin(), part.end(), wanted)) return true;
  Result<bench::BenchStore> store = bench::BenchStore::Open(store_name, options.etcd);
  if (!store.ok()) {
    std::fprintf(stderr, "store %s: %s\n", store_name.c_str(), store.status().message().c_str());
    return false;
  }
  std::vector<std::string> args = {"--heartbeat-interval", "10s", "--store", store->flag()};
  args.insert(args.end(), options.controller_args.begin(), options.controller_args.end());
  testing::ControllerProcess controller(args);
  if (!controller.Start() || !controller.WaitReady()) {
    std::fprintf(stderr, "controller did not start or lead (exit %d):\n%s\n",
                 controller.exit_code(), controller.log().c_str());
    return false;
  }
  pid_t pid = controller.pid();
  int port = controller.port();
  std::printf("controller pid %d on 127.0.0.1:%d, %s, data dir %s, %d connections\n", pid, port,
              store->Describe().c_str(), controller.data_dir().c_str(), conns);

  std::vector<std::unique_ptr<Lane>> lanes;
  for (int t = 0; t < conns; ++t) lanes.push_back(std::make_unique<Lane>(port));

  // put_new, and the job names later scenarios use.
  CreatedJobs created;
  created.by_thread.resize(static_cast<size_t>(conns));
  // Runs one scenario and reads the controller's own timings of it.
  auto measure = [&](const std::string& scenario, const std::string& method,
                     const std::string& route, const Operation& op) {
    const std::string route_labels = "method=\"" + method + "\",route=\"" + route + "\"";
    // The histograms count the warm-up too: read them when the measure starts, from a side
    // thread, so that the generator keeps running.
    HistogramTotals h0, c0, g0;
    std::thread reader([&] {
      std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_s));
      h0 = Scrape(port, "drover_api_request_duration_seconds", route_labels);
      c0 = Scrape(port, "drover_store_operation_duration_seconds", "op=\"commit\"");
      g0 = Scrape(port, "drover_store_operation_duration_seconds", "op=\"get\"");
    });
    Outcome o = RunClosedLoop(scenario, "http", conns, options.warmup_s, options.duration_s, op,
                              pid, store->etcd_pid());
    o.store = store_name;
    reader.join();
    HistogramTotals h1 = Scrape(port, "drover_api_request_duration_seconds", route_labels);
    HistogramTotals c1 = Scrape(port, "drover_store_operation_duration_seconds", "op=\"commit\"");
    HistogramTotals g1 = Scrape(port, "drover_store_operation_duration_seconds", "op=\"get\"");
    auto mean_ms = [](const HistogramTotals& a, const HistogramTotals& b) {
      return b.count > a.count ? (b.sum - a.sum) / (b.count - a.count) * 1e3 : 0.0;
    };
    o.handle_ms = mean_ms(h0, h1);
    o.commit_ms = mean_ms(c0, c1);
    o.get_ms = mean_ms(g0, g1);
    o.commits = c1.count - c0.count;
    results->push_back(o);
    PrintOutcome(o);
  };
  auto expect = [](int got, int want, const std::string& body, std::string* error) {
    if (got == want) return true;
    *error = "HTTP " + std::to_string(got) + " " + body.substr(0, 200);
    return false;
  };
  {
    auto op = [&](int t, uint64_t i, std::string* error) {
      std::string name =
          "bench-c" + std::to_string(conns) + "-t" + std::to_string(t) + "-" + std::to_string(i);
      std::string reply;
      int status =
          lanes[static_cast<size_t>(t)]->Exchange("PUT", "/api/v1/jobs", JobSpecBody(name), &reply);
      if (status == 201) created.by_thread[static_cast<size_t>(t)].push_back(name);
      return expect(status, 201, reply, error);
    };
    if (wanted("put_new")) {
      measure("put_new", "PUT", "/api/v1/jobs", op);
    } else if (wanted("put_unchanged") || wanted("get_job")) {
      for (int t = 0; t < conns; ++t) {
        for (uint64_t i = 0; i < 20; ++i) {
          std::string e;
          op(t, i, &e);
        }
      }
    }
  }
  for (auto& names : created.by_thread) {
    if (names.empty() && (wanted("put_unchanged") || wanted("get_job"))) {
      std::fprintf(stderr, "a connection created no job; giving up\n");
      return false;
    }
  }
  if (wanted("put_unchanged")) {
    auto op = [&](int t, uint64_t i, std::string* error) {
      std::string reply;
      int status = lanes[static_cast<size_t>(t)]->Exchange("PUT", "/api/v1/jobs",
                                                           JobSpecBody(created.Pick(t, i)), &reply);
      return expect(status, 422, reply, error);
    };
    measure("put_unchanged", "PUT", "/api/v1/jobs", op);
  }
  if (wanted("get_job")) {
    auto op = [&](int t, uint64_t i, std::string* error) {
      std::string reply;
      int status = lanes[static_cast<size_t>(t)]->Exchange(
          "GET", "/api/v1/jobs/" + created.Pick(t, i), "", &reply);
      return expect(status, 200, reply, error);
    };
    measure("get_job", "GET", "/api/v1/jobs/{job}", op);
  }
  if (wanted("healthz")) {
    // Reference: the cheapest route, i.e. the HTTP stack alone (cpprestsdk + ApiServer::Handle).
    auto op = [&](int t, uint64_t, std::string* error) {
      std::string reply;
      int status = lanes[static_cast<size_t>(t)]->Exchange("GET", "/healthz", "", &reply);
      return expect(status, 200, reply, error);
    };
    measure("healthz", "GET", "/healthz", op);
  }
  if (wanted("heartbeat")) {
    // Register the fleet over the same connections.
    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    auto r0 = Clock::now();
    std::vector<std::thread> registrars;
    for (int t = 0; t < conns; ++t) {
      registrars.emplace_back([&, t] {
        for (int i; (i = next.fetch_add(1)) < options.nodes;) {
          std::string reply;
          if (lanes[static_cast<size_t>(t)]->Exchange("POST", "/api/v1/agent/register",
                                                      RegisterBody(NodeId(i)), &reply) != 200) {
            if (failures.fetch_add(1) == 0) std::fprintf(stderr, "register: %s\n", reply.c_str());
          }
        }
      });
    }
    for (std::thread& r : registrars) r.join();
    double took = std::chrono::duration<double>(Clock::now() - r0).count();
    std::printf("  registered %d nodes in %.2f s (%.0f /s, %d failures)\n", options.nodes, took,
                options.nodes / took, failures.load());
    auto op = [&](int t, uint64_t i, std::string* error) {
      int node = static_cast<int>((static_cast<uint64_t>(t) + i * static_cast<uint64_t>(conns)) %
                                  static_cast<uint64_t>(options.nodes));
      std::string reply;
      int status = lanes[static_cast<size_t>(t)]->Exchange(
          "POST", "/api/v1/agent/heartbeat", HeartbeatBody(NodeId(node), static_cast<int>(i)),
          &reply);
      return expect(status, 200, reply, error);
    };
    measure("heartbeat", "POST", "/api/v1/agent/heartbeat", op);
  }
  lanes.clear();
  int code = controller.Stop();
  std::printf("controller stopped (exit %d)\n", code);
  // ControllerProcess keeps its log beside the data dir; drop it unless something went wrong.
  if (code == 0) std::filesystem::remove(controller.data_dir().string() + ".log");
  return true;
}

// ---------------------------------------------------------------------------------------------
// The direct part: the same store work, no HTTP.

// Times every Commit of the wrapped store (wall time, including the wait for the SQLite store's
// writer lock when several threads commit; with one thread, the time the commit holds it).
class CommitTimer final : public store::Store {
 public:
  explicit CommitTimer(store::Store& inner) : inner_(inner) {}
  Result<store::KeyValue> Get(std::string_view key) override { return inner_.Get(key); }
  Result<store::RangeResult> List(std::string_view prefix, std::string_view start_after,
                                  size_t limit) override {
    return inner_.List(prefix, start_after, limit);
  }
  Result<store::TransactionResult> Commit(const store::Transaction& txn) override {
    auto start = Clock::now();
    Result<store::TransactionResult> r = inner_.Commit(txn);
    nanos_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    ++count_;
    return r;
  }
  Result<std::unique_ptr<store::WatchHandle>> Watch(std::string_view prefix, int64_t after,
                                                    store::WatchCallback callback) override {
    return inner_.Watch(prefix, after, std::move(callback));
  }
  Status Compact(int64_t revision) override { return inner_.Compact(revision); }
  int64_t CurrentRevision() override { return inner_.CurrentRevision(); }
  int64_t CompactedRevision() override { return inner_.CompactedRevision(); }

  std::pair<int64_t, int64_t> Totals() const { return {nanos_.load(), count_.load()}; }

 private:
  store::Store& inner_;
  std::atomic<int64_t> nanos_{0};
  std::atomic<int64_t> count_{0};
};

// The backend of the direct part, opened in this process: SQLite in `dir` with `sqlite`, a
// memory store, or the etcd `bench_store` names (a fresh one when it started it).
Result<std::unique_ptr<store::Store>> OpenDirectStore(const bench::BenchStore& bench_store,
                                                      const std::filesystem::path& dir,
                                                      const store::SqliteOptions& sqlite) {
  const std::string& flag = bench_store.flag();
  if (flag == "sqlite") return store::OpenSqliteStore((dir / "drover.db").string(), sqlite);
  if (flag == "memory") return store::NewMemoryStore();
  Result<store::EtcdStoreOptions> etcd = store::ParseEtcdUrl(flag);
  if (!etcd.ok()) return etcd.status();
  return store::OpenEtcdStore(std::move(etcd).value());
}

// `mode` labels the results ("direct", or a variant); `put_new_only` runs just put_new;
// `sqlite` applies to the sqlite store only.
void RunDirect(const Options& options, const std::string& store_name, int threads,
               std::vector<Outcome>* results, const std::string& mode, store::SqliteOptions sqlite,
               bool put_new_only) {
  using namespace controller;
  std::filesystem::path dir = testing::MakeTempDir("drover-direct");
  {
    Result<bench::BenchStore> bench_store = bench::BenchStore::Open(store_name, options.etcd);
    Result<std::unique_ptr<store::Store>> opened =
        bench_store.ok() ? OpenDirectStore(*bench_store, dir, sqlite)
                         : Result<std::unique_ptr<store::Store>>(bench_store.status());
    if (!opened.ok()) {
      std::fprintf(stderr, "%s store: %s\n", store_name.c_str(), opened.status().message().c_str());
      return;
    }
    std::unique_ptr<store::Store> backend = std::move(opened).value();
    ControllerMetrics metrics;
    CommitTimer timer(*backend);
    InstrumentedStore store(timer, metrics);
    NodeRegistry nodes(store, RealClock(),
                       {std::chrono::milliseconds(10'000), std::chrono::milliseconds(600'000)});
    (void)nodes.Load();
    JobService jobs(store, RealClock(), nodes, {20, 1000});
    if (store_name == "sqlite") {
      std::printf(
          "%s: sqlite store (synchronous=%s) in %s, %d threads\n", mode.c_str(),
          sqlite.synchronous == store::SqliteOptions::Synchronous::kFull ? "FULL" : "NORMAL",
          dir.c_str(), threads);
    } else {
      std::printf("%s: %s, %d threads\n", mode.c_str(), bench_store->Describe().c_str(), threads);
    }
    // One scenario, measured with the CPU of the etcd this run started counted apart.
    auto run = [&](const std::string& scenario, const Operation& op) {
      Outcome o = RunClosedLoop(scenario, mode, threads, options.warmup_s, options.duration_s, op,
                                -1, bench_store->etcd_pid());
      o.store = store_name;
      return o;
    };

    auto put = [&](const std::string& text, int want, std::string* error) {
      Result<Document> parsed = ParseJson(text);
      if (!parsed.ok()) {
        *error = parsed.status().message();
        return false;
      }
      ApiAnswer answer = jobs.Put(CheckPutJobRequest(parsed->value));
      std::string out = answer.body.dump();
      if (answer.status != want) *error = std::to_string(answer.status) + " " + out.substr(0, 200);
      return answer.status == want;
    };
    CreatedJobs created;
    created.by_thread.resize(static_cast<size_t>(threads));
    auto put_new = [&](int t, uint64_t i, std::string* error) {
      std::string name =
          "direct-c" + std::to_string(threads) + "-t" + std::to_string(t) + "-" + std::to_string(i);
      bool ok = put(JobSpecBody(name), 201, error);
      if (ok) created.by_thread[static_cast<size_t>(t)].push_back(name);
      return ok;
    };
    if (Wanted(options, "put_new") || put_new_only) {
      // Commit totals over the measure only: read them when it starts, from a side thread.
      std::pair<int64_t, int64_t> t0;
      std::thread reader([&] {
        std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_s));
        t0 = timer.Totals();
      });
      Outcome o = run("put_new", put_new);
      reader.join();
      std::pair<int64_t, int64_t> t1 = timer.Totals();
      if (t1.second > t0.second) {
        o.commit_ms = static_cast<double>(t1.first - t0.first) /
                      static_cast<double>(t1.second - t0.second) / 1e6;
        o.commits = static_cast<double>(t1.second - t0.second);
      }
      results->push_back(o);
      PrintOutcome(o);
      std::printf("    Store::Commit: %.3f ms mean wall time per commit%s\n", o.commit_ms,
                  store_name != "sqlite" ? ""
                  : threads == 1         ? " (one thread: the time a commit holds the writer)"
                                         : " (includes the wait for the writer lock)");
    }
    if (put_new_only) {
      // nothing else
    } else if (!Wanted(options, "put_new")) {
      for (int t = 0; t < threads; ++t) {
        for (uint64_t i = 0; i < 20; ++i) {
          std::string e;
          put_new(t, i, &e);
        }
      }
    }
    if (Wanted(options, "put_unchanged") && !put_new_only) {
      auto op = [&](int t, uint64_t i, std::string* error) {
        return put(JobSpecBody(created.Pick(t, i)), 422, error);
      };
      results->push_back(run("put_unchanged", op));
      PrintOutcome(results->back());
    }
    if (Wanted(options, "get_job") && !put_new_only) {
      auto op = [&](int t, uint64_t i, std::string* error) {
        ApiAnswer answer = jobs.Get(created.Pick(t, i), "default");
        std::string out = answer.body.dump();
        if (answer.status != 200) *error = std::to_string(answer.status) + " " + out.substr(0, 200);
        return answer.status == 200;
      };
      results->push_back(run("get_job", op));
      PrintOutcome(results->back());
    }
    if (Wanted(options, "heartbeat") && !put_new_only) {
      auto r0 = Clock::now();
      std::atomic<int> next{0};
      std::vector<std::thread> registrars;
      for (int t = 0; t < threads; ++t) {
        registrars.emplace_back([&] {
          for (int i; (i = next.fetch_add(1)) < options.nodes;) {
            NodeRecord n;
            n.id = NodeId(i);
            n.name = n.id;
            n.labels = {{"env", "bench"}, {"region", "eu-west"}, {"hw", "rpi4"}};
            n.agent_version = "1.0.0";
            n.os = "linux";
            n.arch = "arm64";
            Result<NodeSnapshot> r = nodes.Register(std::move(n), "");
            if (!r.ok()) std::fprintf(stderr, "register: %s\n", r.status().message().c_str());
          }
        });
      }
      for (std::thread& r : registrars) r.join();
      double took = std::chrono::duration<double>(Clock::now() - r0).count();
      std::printf("  registered %d nodes in %.2f s (%.0f /s)\n", options.nodes, took,
                  options.nodes / took);
      auto op = [&](int t, uint64_t i, std::string* error) {
        int node =
            static_cast<int>((static_cast<uint64_t>(t) + i * static_cast<uint64_t>(threads)) %
                             static_cast<uint64_t>(options.nodes));
        Result<Document> parsed = ParseJson(HeartbeatBody(NodeId(node), static_cast<int>(i)));
        if (!parsed.ok()) {
          *error = parsed.status().message();
          return false;
        }
        // What the route handler does with the body.
        const Json& b = parsed->value;
        for (auto it = b.begin(); it != b.end(); ++it) {
          if (it.key() != "node_id" && it.key() != "executions" && it.key() != "logs") return false;
        }
        std::vector<Json> observed;
        for (size_t k = 0; k < b["executions"].size(); ++k) {
          const Json& e = b["executions"][k];
          if (!e.is_object() || !e.contains("execution_id")) return false;
          observed.push_back(e);
        }
        Result<NodeSnapshot> n =
            nodes.Heartbeat(b["node_id"].get<std::string>(), "", std::move(observed));
        if (!n.ok()) {
          *error = n.status().message();
          return false;
        }
        std::string out =
            Json{{"assignments", Json::array()}, {"index", n->assignments_index}}.dump();
        return !out.empty();
      };
      results->push_back(run("heartbeat", op));
      PrintOutcome(results->back());
    }
  }
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------

int Main(int argc, char** argv) {
  Options options;
  options.drover = std::string(DROVER_SOURCE_DIR) + "/build/drover";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto list = [](const std::string& text) { return bench::SplitList(text, ','); };
    if (bench::ParseEtcdOption(a, value, &options.etcd)) {
      // --etcd, --etcd-flags, --etcd-data-parent
    } else if (a == "--drover") {
      options.drover = value();
    } else if (a == "--duration") {
      options.duration_s = std::stod(value());
    } else if (a == "--warmup") {
      options.warmup_s = std::stod(value());
    } else if (a == "--connections") {
      options.connections.clear();
      for (const std::string& c : list(value())) options.connections.push_back(std::stoi(c));
    } else if (a == "--nodes") {
      options.nodes = std::stoi(value());
    } else if (a == "--only") {
      for (const std::string& s : list(value())) options.only.insert(s);
    } else if (a == "--store") {
      options.stores = list(value());
    } else if (a == "--controller-args") {
      options.controller_args = bench::SplitList(value(), ' ');
    } else if (a == "--no-diagnosis") {
      options.diagnosis = false;
    } else if (a == "--no-direct") {
      options.direct = false;
    } else if (a == "--no-http") {
      options.http = false;
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--drover PATH] [--duration S] [--warmup S] [--connections 16,64] "
          "[--nodes N] [--only put_new,put_unchanged,get_job,healthz,heartbeat] [--no-direct] "
          "[--no-http] [--no-diagnosis] [--store sqlite,etcd,memory,etcd://HOST:PORT] "
          "[--controller-args \"FLAGS\"] %s\n",
          argv[0], bench::kEtcdUsage);
      return 2;
    }
  }
  g_drover_binary = options.drover;
  if (options.http && access(g_drover_binary.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "no drover binary at %s (use --drover PATH)\n", g_drover_binary.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("api_load_bench: %.0f s per scenario (+%.0f s warm-up), %d nodes, %u cpus\n",
              options.duration_s, options.warmup_s, options.nodes,
              std::thread::hardware_concurrency());

  std::vector<Outcome> results;
  // Each store in turn at one connection count, so a comparison is run back to back.
  for (int conns : options.connections) {
    for (const std::string& store : options.stores) {
      for (const std::set<std::string>& part : kHttpParts) {
        if (options.http && !RunHttp(options, part, store, conns, &results)) return 1;
      }
      if (options.direct) RunDirect(options, store, conns, &results, "direct", {}, false);
    }
  }
  // Diagnosis of put_new on SQLite: one writer thread (the uncontended commit), and
  // synchronous=NORMAL (no fsync per commit).
  const bool sqlite = std::count(options.stores.begin(), options.stores.end(), "sqlite") > 0;
  if (options.direct && options.diagnosis && sqlite && Wanted(options, "put_new")) {
    store::SqliteOptions normal;
    normal.synchronous = store::SqliteOptions::Synchronous::kNormal;
    RunDirect(options, "sqlite", 1, &results, "direct", {}, true);
    RunDirect(options, "sqlite", options.connections.front(), &results, "direct-normal", normal,
              true);
  }

  // Summary with HTTP/direct ratios.
  std::printf(
      "\n| scenario | store | conc. | HTTP req/s | errors | p50 ms | p99 ms | max ms | srv cores "
      "| srv us/req | etcd cores | gen cores | other cores | direct ops/s | direct p99 ms | "
      "direct/HTTP |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Outcome& h : results) {
    if (h.mode != "http") continue;
    const Outcome* d = nullptr;
    for (const Outcome& o : results) {
      if (o.mode == "direct" && o.store == h.store && o.scenario == h.scenario &&
          o.concurrency == h.concurrency) {
        d = &o;
      }
    }
    std::printf("| %s | %s | %d | %.0f | %" PRIu64
                " | %.2f | %.2f | %.1f | %.2f | %.0f | %.2f | %.2f | %.2f | %s | %s | %s |\n",
                h.scenario.c_str(), h.store.c_str(), h.concurrency, h.rate(), h.errors, h.p50_ms,
                h.p99_ms, h.max_ms, h.server_cpu / h.seconds,
                h.requests ? h.server_cpu / static_cast<double>(h.requests) * 1e6 : 0.0,
                h.etcd_cpu / h.seconds, h.client_cpu / h.seconds, h.other_cpu / h.seconds,
                d ? std::to_string(static_cast<long>(d->rate())).c_str() : "-",
                d ? (std::to_string(d->p99_ms).substr(0, 5)).c_str() : "-",
                d && h.rate() > 0
                    ? (std::to_string(d->rate() / h.rate()).substr(0, 4) + "x").c_str()
                    : "-");
  }
  std::printf(
      "\n| direct scenario | store | mode | threads | ops/s | p50 ms | p99 ms | max ms | cpu cores "
      "| us/op | etcd cores | other cores |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Outcome& d : results) {
    if (d.mode == "http") continue;
    std::printf("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %.1f | %.2f | %.0f | %.2f | %.2f |\n",
                d.scenario.c_str(), d.store.c_str(), d.mode.c_str(), d.concurrency, d.rate(),
                d.p50_ms, d.p99_ms, d.max_ms, d.client_cpu / d.seconds,
                d.requests ? d.client_cpu / static_cast<double>(d.requests) * 1e6 : 0.0,
                d.etcd_cpu / d.seconds, d.other_cpu / d.seconds);
  }
  return 0;
}

}  // namespace
}  // namespace drover

int main(int argc, char** argv) { return drover::Main(argc, argv); }
