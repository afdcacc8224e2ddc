// drover logs NAME [-n NS] [--node ID] [--tail N] [-f]: a job's execution output (SPEC §8, §13)
// as the controller's log tails hold it (docs/logs.md), read from
// GET /api/v1/jobs/{job}/logs; with -f, polled every second for new lines until interrupted.
// Server, token and profile as every client command (cli/client.h).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr const char* kLogsUsage =
    "Usage: drover logs NAME [-n NAMESPACE] [--node ID] [--tail N] [-f]\n"
    "\n"
    "Prints the output (stdout and stderr, in order of arrival) of a job's executions as the\n"
    "controller holds it: the newest lines of each execution, shipped by the agents with their\n"
    "heartbeats. Lines are prefixed with the node id when several executions are printed\n"
    "(\"node-1 | text\"). NAME is a job name (or a job id, j-...).\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS   the job's namespace (default: the profile's, else \"default\")\n"
    "  --node ID            only the executions on this node\n"
    "  --tail N             the newest N lines (default 100, at most 10000; 0: none)\n"
    "  -f, --follow         then keep printing new lines (polls every second) until interrupted\n"
    "  -h, --help           show this help\n"
    "Client flags:\n"
    "%CLIENT%"
    "\n"
    "Exit status: 0 printed, 1 the request failed or the job does not exist, 2 usage error.\n";

const std::vector<FlagDef> kLogsFlags = {{"--namespace", "-n", true},
                                         {"--node", "", true},
                                         {"--tail", "", true},
                                         {"--follow", "-f", false}};

constexpr int64_t kMaxTail = 10'000;
constexpr auto kFollowInterval = std::chrono::seconds(1);

Result<int64_t> ParseTail(const ParsedArgs& args) {
  if (!args.Has("--tail")) return int64_t{100};
  const std::string value = args.Value("--tail");
  int64_t tail = -1;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), tail);
  if (value.empty() || ec != std::errc() || p != value.data() + value.size() || tail < 0 ||
      tail > kMaxTail) {
    return InvalidError("--tail: expected an integer from 0 to 10000, got \"" + value + "\"");
  }
  return tail;
}

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

}  // namespace

int RunLogs(const std::vector<std::string>& args, Streams s) {
  CommandRun run("logs", kLogsUsage, s);
  if (std::optional<int> code = run.Start(args, kLogsFlags)) return *code;
  const ParsedArgs& a = run.args();
  if (a.positional.empty()) return run.Usage("give the job's NAME");
  if (a.positional.size() > 1) {
    return run.Usage("one job NAME only, got \"" + a.positional[0] + "\" and \"" + a.positional[1] +
                     "\"");
  }
  Result<int64_t> tail = ParseTail(a);
  if (!tail.ok()) return run.Usage(tail.status().message());
  const bool follow = a.Has("--follow");
  const std::string job = "job " + run.Namespace() + "/" + a.positional[0];
  auto get = [&](int64_t lines) {
    std::string path =
        JobPath(a.positional[0], run.Namespace(), "/logs") + "&tail=" + std::to_string(lines);
    if (a.Has("--node")) path += "&node=" + UrlEncode(a.Value("--node"));
    return run.client().Get(path);
  };
  // What went wrong, naming the job (the controller's 404 names it already).
  auto failure = [&](const ApiAnswer& answer) {
    if (answer.status == 404) return run.Fail("", answer);
    return run.Fail(answer.status == 0 ? job : job + ": HTTP " + std::to_string(answer.status),
                    answer);
  };
  LinePrinter printer(s.out);
  // With --tail 0 and -f, one line tells where the output stands; it is not printed.
  ApiAnswer first = get(follow ? std::max<int64_t>(*tail, 1) : *tail);
  if (!first.ok()) return failure(first);
  printer.Take(first.body.is_object() ? first.body.value("items", Json::array()) : Json(),
               *tail > 0);
  if (!follow) return kExitOk;
  bool unreachable = false;
  while (true) {
    std::this_thread::sleep_for(kFollowInterval);
    ApiAnswer next = get(kMaxTail);
    if (next.status == 0) {
      // The controller may be restarting: keep trying, say so once.
      if (!unreachable)
        s.err << "drover logs: " << job << ": " << next.Message() << " (retrying)\n";
      unreachable = true;
      continue;
    }
    unreachable = false;
    if (!next.ok()) return failure(next);
    printer.Take(next.body.is_object() ? next.body.value("items", Json::array()) : Json(), true);
  }
}

}  // namespace drover::cli
