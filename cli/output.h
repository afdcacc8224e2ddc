// What the client commands get, describe, rollout, delete and nodes share: their command line
// (flags declared once and parsed one way, with --server/--token/--profile and -h/--help
// everywhere) and their output (aligned tables with kubectl-like columns, ages such as 5s, 3m,
// 2h, 4d from RFC 3339 timestamps, documents as JSON or YAML, one-line rollout progress).
// Plain functions over values; no shared state, safe from any thread.
#pragma once

#include <chrono>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "cli/client.h"
#include "cli/commands.h"

namespace drover::cli {

// ---- command line ----

struct FlagDef {
  std::string name;        // the long form, "--namespace"
  std::string short_name;  // "-n", or empty
  bool takes_value = false;
};

struct ParsedArgs {
  bool help = false;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // by long name; the last one given wins
  std::set<std::string> switches;             // long names of the switches given
  ClientFlags client;

  bool Has(const std::string& name) const { return switches.count(name) || values.count(name); }
  std::string Value(const std::string& name, const std::string& fallback = "") const;
};

// Parses `args` against `flags`, plus --server/--token/--profile and -h/--help. Long flags also
// take `--name=value`; "--" ends the flags. Errors (usage errors): an unknown flag, a missing
// value, a value given to a switch.
Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::vector<FlagDef>& flags);

// One run of a client command: says things the same way for every command ("drover get: ...")
// and turns them into exit codes.
class CommandRun {
 public:
  // `usage`: the command's --help text; "%CLIENT%" in it stands for kClientFlagsHelp.
  CommandRun(std::string command, std::string usage, Streams streams);

  // Parses flags and resolves the client configuration. nullopt: go on (`args()`, `client()`);
  // otherwise the exit code to return now (help printed: 0, usage error printed: 2).
  std::optional<int> Start(const std::vector<std::string>& args, const std::vector<FlagDef>& flags);

  // "drover CMD: message", a blank line and the usage on stderr; returns 2.
  int Usage(const std::string& message) const;
  // "drover CMD: message" on stderr; returns 1.
  int Fail(const std::string& message) const;
  // "drover CMD: WHAT: <the controller's message>" and its field errors on stderr; returns 1.
  int Fail(const std::string& what, const ApiAnswer& answer) const;

  const ParsedArgs& args() const { return args_; }
  const ApiClient& client() const { return *client_; }
  // -n/--namespace, else the profile's namespace.
  std::string Namespace() const;
  std::ostream& out() const { return s_.out; }
  std::ostream& err() const { return s_.err; }

 private:
  std::string command_;
  std::string usage_;
  Streams s_;
  ParsedArgs args_;
  std::unique_ptr<ApiClient> client_;
};

// "/api/v1/jobs/NAME" plus "?namespace=NS" (both encoded) and more of `suffix` before the query.
std::string JobPath(const std::string& name, const std::string& ns, const std::string& suffix = "");

// ---- output ----

enum class OutputFormat { kTable, kJson, kYaml, kName };

// "table", "json", "yaml", "name"; anything else is an error naming the accepted values.
Result<OutputFormat> ParseOutputFormat(const std::string& text);

// Columns padded to their widest cell and separated by three spaces, as kubectl prints them;
// the last column is not padded. Empty cells print as "<none>".
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  size_t size() const { return rows_.size() - 1; }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // the first one holds the headers
};

// `value` as indented JSON or as YAML (api/document.h RenderYaml), ending with a newline.
// In YAML, a job's health-check durations are written as text ("20s") as in a manifest.
void PrintDocument(const Json& value, OutputFormat format, std::ostream& out);

using WallTime = std::chrono::system_clock::time_point;

// "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123Z" or with an offset ("+02:00").
std::optional<WallTime> ParseRfc3339(std::string_view text);
// kubectl's short ages: "45s", "3m", "2h", "4d", "2y" (whole units, rounded down; a negative
// duration, from clock skew, is "0s").
std::string FormatAge(std::chrono::system_clock::duration age);
// The age of an RFC 3339 timestamp at `now`; "<unknown>" when it is empty or does not parse.
std::string AgeOf(const Json& timestamp, WallTime now);

// A JSON value as a table cell: strings as they are, null as "-", numbers as text.
std::string Cell(const Json& value);
// "k=v,k2=v2" (sorted), "<none>" when empty.
std::string LabelsText(const Json& labels);
// A duration in integer nanoseconds (as the API sends them) as text, "20s", "1m30s".
std::string DurationText(const Json& nanoseconds);

// ---- rollouts (status.rollout, SPEC §5) ----

// How many failed nodes the rollout tolerates before it halts: the lower of max_failed_nodes
// and max_failed_nodes_percent of the targets (the controller halts when failed exceeds it).
int FailureBudget(const Json& rollout_policy, int target_nodes);
// "progressing 2/5" for the ROLLOUT column: the phase and the wave progress; "-" when null.
std::string RolloutColumn(const Json& rollout);
// One line of a rollout's state: "progressing: wave 2/5, 20/50 nodes updated, 18 healthy,
// 0 failed (budget 5), 0 skipped". `budget` < 0: not shown.
std::string RolloutLine(const Json& rollout, int budget);
// A progress bar of `done` out of `total`, `width` characters inside brackets: "[#####-----]".
std::string ProgressBar(int done, int total, int width);

}  // namespace drover::cli
