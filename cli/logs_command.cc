// drover logs NAME [-n NS] [--node ID] [--tail N] [-f]: a job's execution output (SPEC §8, §13)
// as the controller's log tails hold it (docs/logs.md), read from
// GET /api/v1/jobs/{job}/logs; with -f, polled every second for new lines until interrupted.
#include <cpprest/http_client.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "api/document.h"
#include "cli/commands.h"

namespace drover::cli {
namespace {

namespace http = web::http;

constexpr const char* kLogsUsage =
    "Usage: drover logs NAME [-n NAMESPACE] [--node ID] [--tail N] [-f]\n"
    "\n"
    "Prints the output (stdout and stderr, in order of arrival) of a job's executions as the\n"
    "controller holds it: the newest lines of each execution, shipped by the agents with their\n"
    "heartbeats. Lines are prefixed with the node id when several executions are printed\n"
    "(\"node-1 | text\"). NAME is a job name (or a job id, j-...).\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS   the job's namespace (default \"default\")\n"
    "  --node ID            only the executions on this node\n"
    "  --tail N             the newest N lines (default 100, at most 10000; 0: none)\n"
    "  -f, --follow         then keep printing new lines (polls every second) until interrupted\n"
    "  --server URL         the controller (default $DROVER_ADDR or http://127.0.0.1:9010)\n"
    "  --token TOKEN        bearer token (default $DROVER_TOKEN)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 printed, 1 the request failed or the job does not exist, 2 usage error.\n";

constexpr int64_t kMaxTail = 10'000;
constexpr auto kFollowInterval = std::chrono::seconds(1);

struct LogsFlags {
  std::string name;
  std::string namespace_ = "default";
  std::string node;
  int64_t tail = 100;
  bool follow = false;
  std::string server = "http://127.0.0.1:9010";
  std::string token;
};

Result<LogsFlags> ParseLogsFlags(const std::vector<std::string>& args, bool* help) {
  LogsFlags f;
  if (const char* addr = std::getenv("DROVER_ADDR"); addr != nullptr && *addr != '\0') {
    f.server = addr;
  }
  if (const char* token = std::getenv("DROVER_TOKEN"); token != nullptr) f.token = token;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> value;
    if (name == "-h" || name == "--help") {
      *help = true;
      return f;
    }
    if (name == "-f" || name == "--follow") {
      f.follow = true;
      continue;
    }
    if (name.size() < 2 || name[0] != '-') {
      positional.push_back(name);
      continue;
    }
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    static const std::set<std::string> kWithValue = {"-n",     "--namespace", "--node",
                                                     "--tail", "--server",    "--token"};
    if (!kWithValue.count(name)) return InvalidError("unknown flag \"" + args[i] + "\"");
    if (!value) {
      if (i + 1 >= args.size()) return InvalidError(name + " needs a value");
      value = args[++i];
    }
    if (name == "-n" || name == "--namespace") {
      if (value->empty()) return InvalidError(name + " needs a namespace");
      f.namespace_ = *value;
    } else if (name == "--node") {
      f.node = *value;
    } else if (name == "--tail") {
      int64_t tail = -1;
      auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), tail);
      if (value->empty() || ec != std::errc() || p != value->data() + value->size() || tail < 0 ||
          tail > kMaxTail) {
        return InvalidError("--tail: expected an integer from 0 to 10000, got \"" + *value + "\"");
      }
      f.tail = tail;
    } else if (name == "--server") {
      f.server = *value;
    } else {
      f.token = *value;
    }
  }
  if (positional.empty()) return InvalidError("give the job's NAME");
  if (positional.size() > 1) {
    return InvalidError("one job NAME only, got \"" + positional[0] + "\" and \"" + positional[1] +
                        "\"");
  }
  f.name = positional[0];
  if (!web::uri::validate(f.server)) {
    return InvalidError("--server: \"" + f.server + "\" is not a URL such as http://HOST:PORT");
  }
  web::uri server(f.server);
  if ((server.scheme() != "http" && server.scheme() != "https") || server.host().empty()) {
    return InvalidError("--server: expected http://HOST:PORT or https://HOST:PORT, got \"" +
                        f.server + "\"");
  }
  return f;
}

// One GET against the controller: the HTTP status and the body, or why no answer came.
struct Answer {
  int status = 0;  // 0: no answer
  Json body;
  std::string failure;  // when status is 0
};

class LogsClient {
 public:
  explicit LogsClient(const LogsFlags& flags) : flags_(flags), client_(flags.server, Config()) {}

  Answer Get(int64_t tail) {
    std::string path = "/api/v1/jobs/" + web::uri::encode_data_string(flags_.name) +
                       "/logs?namespace=" + web::uri::encode_data_string(flags_.namespace_) +
                       "&tail=" + std::to_string(tail);
    if (!flags_.node.empty()) path += "&node=" + web::uri::encode_data_string(flags_.node);
    Answer answer;
    try {
      http::http_request request(http::methods::GET);
      request.set_request_uri(path);
      if (!flags_.token.empty()) request.headers().add("Authorization", "Bearer " + flags_.token);
      http::http_response response = client_.request(request).get();
      answer.status = response.status_code();
      answer.body = Json::parse(response.extract_utf8string(true).get(), nullptr, false);
    } catch (const std::exception& e) {
      answer.status = 0;
      answer.failure = e.what();
    }
    return answer;
  }

 private:
  static http::client::http_client_config Config() {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(30));
    return config;
  }

  const LogsFlags& flags_;
  http::client::http_client client_;
};

// Prints the lines of successive answers once each: a line is new when its seq is past every
// seq printed so far (seqs only grow, across controller restarts too); a line printed while it
// was partial (no newline yet) gets the rest of its text printed when it grows.
class LinePrinter {
 public:
  explicit LinePrinter(std::ostream& out) : out_(out) {}

  // `print` false: remember where the output stands without printing (follow with --tail 0).
  void Take(const Json& items, bool print) {
    if (!items.is_array()) return;
    std::set<std::string> executions;
    for (const Json& item : items) executions.insert(item.value("execution_id", std::string()));
    if (executions.size() > 1) prefix_ = true;
    for (const Json& item : items) {
      uint64_t seq = item.value("seq", uint64_t{0});
      std::string text = item.value("line", std::string());
      bool partial = item.value("partial", false);
      auto printed = partial_printed_.find(seq);
      if (printed != partial_printed_.end()) {
        if (text.size() > printed->second && print) Line(item, text.substr(printed->second));
        if (partial) {
          printed->second = text.size();
        } else {
          partial_printed_.erase(printed);
        }
        continue;
      }
      if (seq <= high_seq_) continue;
      high_seq_ = seq;
      if (print) Line(item, text);
      if (partial) partial_printed_[seq] = text.size();
    }
    // Lines the controller no longer holds will not grow.
    if (!items.empty()) {
      uint64_t oldest = items.front().value("seq", uint64_t{0});
      partial_printed_.erase(partial_printed_.begin(), partial_printed_.lower_bound(oldest));
    }
    out_.flush();
  }

 private:
  void Line(const Json& item, const std::string& text) {
    if (prefix_) out_ << item.value("node_id", std::string()) << " | ";
    out_ << text << "\n";
  }

  std::ostream& out_;
  bool prefix_ = false;
  uint64_t high_seq_ = 0;
  std::map<uint64_t, size_t> partial_printed_;
};

// An answer that is not 200 as one line for standard error.
std::string Failure(const LogsFlags& f, const Answer& a) {
  std::string job = "job " + f.namespace_ + "/" + f.name;
  if (a.status == 0) return "cannot reach " + f.server + " for " + job + ": " + a.failure;
  if (a.status == 404) return job + " not found";
  std::string message;
  if (a.body.is_object() && a.body.contains("error") && a.body["error"].is_object()) {
    message = a.body["error"].value("message", std::string());
  }
  return job + ": HTTP " + std::to_string(a.status) + (message.empty() ? "" : ": " + message);
}

}  // namespace

int RunLogs(const std::vector<std::string>& args, Streams s) {
  bool help = false;
  Result<LogsFlags> flags = ParseLogsFlags(args, &help);
  if (help) {
    s.out << kLogsUsage;
    return kExitOk;
  }
  if (!flags.ok()) {
    s.err << "drover logs: " << flags.status().message() << "\n\n" << kLogsUsage;
    return kExitUsage;
  }
  std::optional<LogsClient> client;
  try {
    client.emplace(*flags);
  } catch (const std::exception& e) {
    s.err << "drover logs: --server \"" << flags->server << "\": " << e.what() << "\n";
    return kExitUsage;
  }
  LinePrinter printer(s.out);
  // With --tail 0 and -f, one line tells where the output stands; it is not printed.
  Answer first = client->Get(flags->follow ? std::max<int64_t>(flags->tail, 1) : flags->tail);
  if (first.status != 200) {
    s.err << "drover logs: " << Failure(*flags, first) << "\n";
    return kExitFailure;
  }
  printer.Take(first.body.is_object() ? first.body.value("items", Json::array()) : Json(),
               flags->tail > 0);
  if (!flags->follow) return kExitOk;
  bool unreachable = false;
  while (true) {
    std::this_thread::sleep_for(kFollowInterval);
    Answer next = client->Get(kMaxTail);
    if (next.status == 0) {
      // The controller may be restarting: keep trying, say so once.
      if (!unreachable) s.err << "drover logs: " << Failure(*flags, next) << " (retrying)\n";
      unreachable = true;
      continue;
    }
    unreachable = false;
    if (next.status != 200) {
      s.err << "drover logs: " << Failure(*flags, next) << "\n";
      return kExitFailure;
    }
    printer.Take(next.body.is_object() ? next.body.value("items", Json::array()) : Json(), true);
  }
}

}  // namespace drover::cli
