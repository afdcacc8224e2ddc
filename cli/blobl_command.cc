// drover blobl: run a Bloblang mapping on standard input (SPEC §10), the way a job's mapping
// processor would run it, to try mappings out before a job ships them.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "bloblang/bloblang.h"
#include "cli/commands.h"

namespace drover::cli {
namespace {

constexpr int kExitDeleted = 3;

constexpr const char* kBloblUsage =
    "Usage: drover blobl MAPPING | -f FILE [--lines]\n"
    "\n"
    "Runs a Bloblang mapping (Drover's subset of Bento's language, docs/bloblang.md) on standard\n"
    "input read whole as one message, and writes the resulting message's bytes to standard\n"
    "output exactly, with no newline added.\n"
    "\n"
    "Flags:\n"
    "  -f, --file FILE   read the mapping from FILE instead of the argument\n"
    "      --lines       treat each line of standard input as a message and write one line per\n"
    "                    result; errors go to standard error and the run goes on\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 the message was mapped, 3 the mapping deleted it, 1 a runtime error (with\n"
    "--lines: any message failed), 2 the mapping does not parse or a usage error.\n";

struct Options {
  std::string mapping;
  std::string mapping_file;
  bool has_mapping = false;
  bool lines = false;
  bool help = false;
};

// Parses the flags; returns a usage problem, or "" when they are fine.
std::string ParseOptions(const std::vector<std::string>& args, Options* o) {
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!only_positional && (a == "-h" || a == "--help")) {
      o->help = true;
    } else if (!only_positional && a == "--lines") {
      o->lines = true;
    } else if (!only_positional && (a == "-f" || a == "--file")) {
      if (i + 1 >= args.size()) return a + " needs a file";
      if (!o->mapping_file.empty()) return "give -f once";
      o->mapping_file = args[++i];
    } else if (!only_positional && (a.rfind("--file=", 0) == 0 || a.rfind("-f=", 0) == 0)) {
      if (!o->mapping_file.empty()) return "give -f once";
      o->mapping_file = a.substr(a.find('=') + 1);
    } else if (!only_positional && a == "--") {
      only_positional = true;
    } else if (!only_positional && a.size() > 1 && a[0] == '-') {
      return "unknown flag \"" + a + "\"";
    } else {
      if (o->has_mapping) return "give one mapping (quote it as one argument)";
      o->mapping = a;
      o->has_mapping = true;
    }
  }
  if (o->help) return "";
  if (o->has_mapping && !o->mapping_file.empty()) return "give a mapping or -f FILE, not both";
  if (!o->has_mapping && o->mapping_file.empty()) return "give a mapping or -f FILE";
  return "";
}

// Maps each line of `in` as a message; returns the exit code.
int RunLines(const bloblang::Mapping& mapping, Streams s) {
  const bloblang::Environment& env = bloblang::SystemEnvironment();
  std::string line;
  bool failed = false;
  size_t number = 0;
  std::string out;
  while (std::getline(s.in, line)) {
    ++number;
    bloblang::MappingResult r = mapping.Apply(bloblang::Message{std::move(line), {}}, env);
    switch (r.outcome) {
      case bloblang::Outcome::kMessage:
        out.assign(r.message.content).push_back('\n');
        s.out << out;
        break;
      case bloblang::Outcome::kDeleted:
        break;
      case bloblang::Outcome::kError:
        failed = true;
        s.out.flush();
        s.err << "drover blobl: line " << number << ": " << r.error << "\n";
        break;
    }
    line.clear();
  }
  s.out.flush();
  return failed ? kExitFailure : kExitOk;
}

}  // namespace

int RunBlobl(const std::vector<std::string>& args, Streams s) {
  Options options;
  std::string problem = ParseOptions(args, &options);
  if (options.help) {
    s.out << kBloblUsage;
    return kExitOk;
  }
  if (!problem.empty()) {
    s.err << "drover blobl: " << problem << "\n\n" << kBloblUsage;
    return kExitUsage;
  }
  std::string text = options.mapping;
  std::string source = "mapping";
  if (!options.mapping_file.empty()) {
    std::ifstream file(options.mapping_file, std::ios::binary);
    if (!file) {
      s.err << "drover blobl: cannot read " << options.mapping_file << "\n";
      return kExitUsage;
    }
    std::ostringstream buffer;
    buffer << file.rdbuf();
    text = buffer.str();
    source = options.mapping_file;
  }
  Result<bloblang::Mapping> mapping = bloblang::Mapping::Parse(text);
  if (!mapping.ok()) {
    s.err << "drover blobl: " << source << ": " << mapping.status().message() << "\n";
    return kExitUsage;
  }
  if (options.lines) return RunLines(*mapping, s);

  bloblang::Message input;
  input.content.assign(std::istreambuf_iterator<char>(s.in), std::istreambuf_iterator<char>());
  bloblang::MappingResult r = mapping->Apply(input, bloblang::SystemEnvironment());
  switch (r.outcome) {
    case bloblang::Outcome::kMessage:
      s.out << r.message.content;
      s.out.flush();
      return kExitOk;
    case bloblang::Outcome::kDeleted:
      return kExitDeleted;
    case bloblang::Outcome::kError:
      s.err << "drover blobl: " << r.error << "\n";
      return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace drover::cli
