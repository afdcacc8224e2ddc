#include "cli/output.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ostream>

#include "api/document.h"
#include "api/duration.h"
#include "reconcilers/waves.h"

namespace drover::cli {
namespace {

// Health-check durations as text ("20s"), as a manifest writes them, wherever they stand.
Json WithTextDurations(Json value) {
  if (value.is_array()) {
    for (Json& item : value) item = WithTextDurations(std::move(item));
    return value;
  }
  if (!value.is_object()) return value;
  for (auto& [key, item] : value.items()) {
    if (key == "health_check" && item.is_object()) {
      for (const char* field : {"deadline", "interval"}) {
        if (item.contains(field) && item[field].is_number_integer()) {
          item[field] = DurationText(item[field]);
        }
      }
    } else {
      item = WithTextDurations(std::move(item));
    }
  }
  return value;
}

// Reads `count` digits at text[*at], advancing *at; false when they are not there.
bool Digits(std::string_view text, size_t* at, size_t count, int* value) {
  if (*at + count > text.size()) return false;
  const char* begin = text.data() + *at;
  auto [end, ec] = std::from_chars(begin, begin + count, *value);
  if (ec != std::errc() || end != begin + count) return false;
  *at += count;
  return true;
}

bool Literal(std::string_view text, size_t* at, char c) {
  if (*at >= text.size() || (text[*at] != c && std::tolower(text[*at]) != c)) return false;
  ++*at;
  return true;
}

}  // namespace

// ---- command line ----

std::string ParsedArgs::Value(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::vector<FlagDef>& flags) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      return parsed;
    }
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    Result<bool> client = TakeClientFlag(args, &i, &parsed.client);
    if (!client.ok()) return client.status();
    if (*client) continue;
    std::string name = arg;
    std::optional<std::string> value;
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto def = std::find_if(flags.begin(), flags.end(), [&](const FlagDef& f) {
      return f.name == name || (!f.short_name.empty() && f.short_name == name);
    });
    if (def == flags.end()) return InvalidError("unknown flag \"" + arg + "\"");
    if (!def->takes_value) {
      if (value) return InvalidError(def->name + " takes no value");
      parsed.switches.insert(def->name);
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return InvalidError(name + " needs a value");
      value = args[++i];
    }
    parsed.values[def->name] = *value;
  }
  return parsed;
}

CommandRun::CommandRun(std::string command, std::string usage, Streams streams)
    : command_(std::move(command)), usage_(std::move(usage)), s_(streams) {
  if (size_t at = usage_.find("%CLIENT%"); at != std::string::npos) {
    usage_.replace(at, 8, kClientFlagsHelp);
  }
}

std::optional<int> CommandRun::Start(const std::vector<std::string>& args,
                                     const std::vector<FlagDef>& flags) {
  Result<ParsedArgs> parsed = ParseArgs(args, flags);
  if (!parsed.ok()) return Usage(parsed.status().message());
  args_ = std::move(parsed).value();
  if (args_.help) {
    s_.out << usage_;
    return kExitOk;
  }
  if (args_.values.count("--namespace") && args_.values["--namespace"].empty()) {
    return Usage("-n/--namespace needs a namespace");
  }
  Result<ClientConfig> config = ResolveClientConfig(args_.client);
  if (!config.ok()) return Usage(config.status().message());
  client_ = std::make_unique<ApiClient>(std::move(config).value());
  return std::nullopt;
}

int CommandRun::Usage(const std::string& message) const {
  s_.err << "drover " << command_ << ": " << message << "\n\n" << usage_;
  return kExitUsage;
}

int CommandRun::Fail(const std::string& message) const {
  s_.err << "drover " << command_ << ": " << message << "\n";
  return kExitFailure;
}

int CommandRun::Fail(const std::string& what, const ApiAnswer& answer) const {
  s_.err << "drover " << command_ << ": " << (what.empty() ? "" : what + ": ") << answer.Message()
         << "\n";
  for (const std::string& field : answer.FieldErrors()) s_.err << "  " << field << "\n";
  return kExitFailure;
}

std::string CommandRun::Namespace() const {
  return args_.Value("--namespace", client_ ? client_->config().default_namespace : "default");
}

std::string JobPath(const std::string& name, const std::string& ns, const std::string& suffix) {
  return "/api/v1/jobs/" + UrlEncode(name) + suffix + "?namespace=" + UrlEncode(ns);
}

// ---- output ----

Result<OutputFormat> ParseOutputFormat(const std::string& text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  if (text == "name") return OutputFormat::kName;
  return InvalidError("-o: expected table, json, yaml or name, got \"" + text + "\"");
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  auto text = [](const std::string& cell) { return cell.empty() ? std::string("<none>") : cell; };
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], text(row[c]).size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string cell = text(row[c]);
      line += cell;
      if (c + 1 < row.size()) line += std::string(widths[c] - cell.size() + 3, ' ');
    }
    out << line << "\n";
  }
}

void PrintDocument(const Json& value, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kYaml) {
    std::string yaml = RenderYaml(WithTextDurations(value));
    out << yaml;
    if (yaml.empty() || yaml.back() != '\n') out << "\n";
    return;
  }
  out << value.dump(2) << "\n";
}

std::optional<WallTime> ParseRfc3339(std::string_view text) {
  size_t at = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, &at, 4, &year) || !Literal(text, &at, '-') || !Digits(text, &at, 2, &month) ||
      !Literal(text, &at, '-') || !Digits(text, &at, 2, &day) || !Literal(text, &at, 't') ||
      !Digits(text, &at, 2, &hour) || !Literal(text, &at, ':') || !Digits(text, &at, 2, &minute) ||
      !Literal(text, &at, ':') || !Digits(text, &at, 2, &second)) {
    return std::nullopt;
  }
  std::chrono::nanoseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    ++at;
    int64_t scale = 100'000'000;
    size_t start = at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
      fraction += std::chrono::nanoseconds((text[at] - '0') * scale);
      scale /= 10;
      ++at;
    }
    if (at == start) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int sign = text[at] == '+' ? 1 : -1;
    ++at;
    int oh = 0, om = 0;
    if (!Digits(text, &at, 2, &oh) || !Literal(text, &at, ':') || !Digits(text, &at, 2, &om)) {
      return std::nullopt;
    }
    offset = std::chrono::minutes(sign * (oh * 60 + om));
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                   std::chrono::day(day)};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto time = std::chrono::sys_days(date) + std::chrono::hours(hour) +
              std::chrono::minutes(minute) + std::chrono::seconds(second) + fraction - offset;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(time);
}

std::string FormatAge(std::chrono::system_clock::duration age) {
  int64_t s = std::chrono::duration_cast<std::chrono::seconds>(age).count();
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  if (s < 365 * 86400) return std::to_string(s / 86400) + "d";
  return std::to_string(s / (365 * 86400)) + "y";
}

std::string AgeOf(const Json& timestamp, WallTime now) {
  if (!timestamp.is_string()) return "<unknown>";
  std::optional<WallTime> t = ParseRfc3339(timestamp.get<std::string>());
  return t ? FormatAge(now - *t) : "<unknown>";
}

std::string Cell(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

std::string LabelsText(const Json& labels) {
  std::string out;
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      out += (out.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return out.empty() ? "<none>" : out;
}

std::string DurationText(const Json& nanoseconds) {
  if (nanoseconds.is_number_integer()) {
    return Duration::Nanoseconds(nanoseconds.get<int64_t>()).ToString();
  }
  return Cell(nanoseconds);
}

// ---- rollouts ----

int FailureBudget(const Json& policy, int target_nodes) {
  int max_nodes = 10;
  double max_percent = 10.0;
  if (policy.is_object()) {
    if (policy.contains("max_failed_nodes") && policy["max_failed_nodes"].is_number()) {
      max_nodes = policy["max_failed_nodes"].get<int>();
    }
    if (policy.contains("max_failed_nodes_percent") &&
        policy["max_failed_nodes_percent"].is_number()) {
      max_percent = policy["max_failed_nodes_percent"].get<double>();
    }
  }
  Rollout budget;
  budget.max_failed_nodes = max_nodes;
  budget.max_failed_nodes_percent = max_percent;
  return ToleratedFailures(budget, static_cast<size_t>(std::max(0, target_nodes)));
}

std::string RolloutColumn(const Json& rollout) {
  if (!rollout.is_object()) return "-";
  std::string text = rollout.value("phase", std::string("?"));
  int total = rollout.value("total_waves", 0);
  if (total > 0) {
    text += " " + std::to_string(rollout.value("current_wave", 0)) + "/" + std::to_string(total);
  }
  return text;
}

std::string RolloutLine(const Json& rollout, int budget) {
  if (!rollout.is_object()) return "no rollout";
  auto count = [&](const char* key) { return std::to_string(rollout.value(key, 0)); };
  std::string line = rollout.value("phase", std::string("?")) + ": ";
  if (rollout.value("total_waves", 0) > 0) {
    line += "wave " + count("current_wave") + "/" + count("total_waves") + ", ";
  }
  line += count("updated_nodes") + "/" + count("target_nodes") + " nodes updated, " +
          count("healthy_nodes") + " healthy, " + count("failed_nodes") + " failed";
  if (budget >= 0) line += " (budget " + std::to_string(budget) + ")";
  if (rollout.value("skipped_nodes", 0) > 0) line += ", " + count("skipped_nodes") + " skipped";
  return line;
}

std::string ProgressBar(int done, int total, int width) {
  int filled = total > 0 ? std::clamp(done, 0, total) * width / total : 0;
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(width - filled), '-') + "]";
}

}  // namespace drover::cli
