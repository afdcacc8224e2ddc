// drover apply -f FILE|DIR|- [--dry-run] [--force] [--prune] and drover diff -f FILE|DIR|-
// (SPEC §13, docs/apply.md): manifests read and checked locally, then each valid document sent
// to PUT /api/v1/jobs (or PUT /api/v1/jobs/diff), and for --prune the jobs of the applied set
// that the documents no longer hold stopped. The decisions are in cli/apply_plan.h.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "api/job_codec.h"
#include "api/labels.h"
#include "api/manifest.h"
#include "api/validation.h"
#include "cli/apply_plan.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "controller/manifest_files.h"

namespace drover::cli {
namespace {

constexpr const char* kApplyUsage =
    "Usage: drover apply -f FILE|DIR|- [-f ...] [--dry-run] [--force] [--prune]\n"
    "                    [--applyset NAME] [--prune-namespace NS ...]\n"
    "\n"
    "Creates or updates the jobs of manifests (YAML or JSON, several documents per file\n"
    "separated by ---, folders read recursively in path order) and prints one line per document:\n"
    "  <namespace>/<name> created|configured|unchanged|invalid\n"
    "Every document is checked locally first; an invalid one prints its problems on stderr as\n"
    "PATH[#DOC]:LINE:COL: field.path: message and never stops the valid ones from applying.\n"
    "\n"
    "Each job applied is recorded in an applied set: --applyset NAME, else the first -f path's\n"
    "base name without .yaml/.yml/.json, lowercased (\"stdin\" for -). --prune then stops the\n"
    "running jobs of that set, in the namespaces the documents use (and --prune-namespace), that\n"
    "the documents no longer contain. See docs/apply.md.\n"
    "\n"
    "Flags:\n"
    "  -f, --filename PATH  a file, a folder or - for standard input (repeatable)\n"
    "  --dry-run            ask the controller what would happen and write nothing: each job's\n"
    "                       diff and wave plan, and the jobs --prune would stop\n"
    "  --force              roll unchanged jobs out again (a new version with the same spec)\n"
    "  --prune              after applying, stop the jobs of the applied set that the documents\n"
    "                       no longer contain (never when a document is invalid or a request\n"
    "                       failed)\n"
    "  --prune-namespace NS also prune in this namespace, which the documents may no longer use\n"
    "                       (repeatable)\n"
    "  --applyset NAME      the applied set, a label value (default: from the first -f path)\n"
    "%CLIENT%"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 success (unchanged included), 1 a document is invalid or a request failed,\n"
    "2 usage error or unreadable path.\n";

constexpr const char* kDiffUsage =
    "Usage: drover diff -f FILE|DIR|- [-f ...] [--exit-code]\n"
    "\n"
    "Shows what `drover apply` would change: for each document of the manifests that differs\n"
    "from the job the controller holds, the unified diff of the stored spec against the\n"
    "document (\"--- <namespace>/<name>\\tvN\", \"+++ <namespace>/<name>\\tproposed\"; a new job\n"
    "diffs against \"none\"). Documents are checked locally first, as apply does. Nothing is\n"
    "written.\n"
    "\n"
    "Flags:\n"
    "  -f, --filename PATH  a file, a folder or - for standard input (repeatable)\n"
    "  --exit-code          exit 3 when there are differences (as git diff --exit-code), so\n"
    "                       that a script can tell them from no differences\n"
    "%CLIENT%"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status (as every client command): 0 done, with or without differences (with\n"
    "--exit-code: no differences); 3 with --exit-code, differences shown and nothing failed;\n"
    "1 a document is invalid or a request failed (whatever the differences); 2 usage error or\n"
    "unreadable path.\n";

std::string Usage(const char* text) {
  std::string usage = text;
  usage.replace(usage.find("%CLIENT%"), 8, kClientFlagsHelp);
  return usage;
}

// What apply and diff share on their command line.
struct ManifestFlags {
  std::vector<std::string> paths;
  ClientFlags client;
};

// If args[*i] is -f PATH, --filename PATH, --filename=PATH or -fPATH, takes the path.
Result<bool> TakeFilenameFlag(const std::vector<std::string>& args, size_t* i,
                              std::vector<std::string>* paths) {
  const std::string& a = args[*i];
  if (a == "-f" || a == "--filename") {
    if (*i + 1 >= args.size()) return InvalidError(a + " needs a path");
    paths->push_back(args[++*i]);
    return true;
  }
  if (a.rfind("--filename=", 0) == 0) {
    paths->push_back(a.substr(11));
    return true;
  }
  if (a.rfind("-f", 0) == 0 && a.size() > 2) {
    paths->push_back(a.substr(a[2] == '=' ? 3 : 2));
    return true;
  }
  return false;
}

// Takes a flag both commands know (-f, --server, --token, --profile). False: not one of them.
Result<bool> TakeManifestFlag(const std::vector<std::string>& args, size_t* i,
                              ManifestFlags* flags) {
  Result<bool> file = TakeFilenameFlag(args, i, &flags->paths);
  if (!file.ok() || *file) return file;
  return TakeClientFlag(args, i, &flags->client);
}

// Parses the command line: --help, the flags both commands know, and `own_flag` for the
// command's own (it takes args[*i], advancing *i past a value, or returns false when it does
// not know it). Returns the exit code when the command is over already (help, usage error).
template <typename OwnFlag>
std::optional<int> ParseFlags(const char* command, const std::vector<std::string>& args,
                              const std::string& usage, Streams s, ManifestFlags* flags,
                              OwnFlag own_flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      s.out << usage;
      return kExitOk;
    }
    Result<bool> taken = TakeManifestFlag(args, &i, flags);
    if (taken.ok() && !*taken) taken = own_flag(&i);
    if (!taken.ok()) {
      s.err << "drover " << command << ": " << taken.status().message() << "\n" << usage;
      return kExitUsage;
    }
    if (!*taken) {
      s.err << "drover " << command << ": unknown argument \"" << a << "\"\n" << usage;
      return kExitUsage;
    }
  }
  return std::nullopt;
}

// One document of the manifests, or a whole file that did not parse.
struct LoadedDocument {
  std::string path;
  int doc_number = 0;                   // 0: the file holds one document
  std::optional<ManifestDocument> doc;  // none: the file did not parse
  std::string ref;                      // "<namespace>/<name>", "" when it has no valid name
  bool valid = false;

  // Where it is: PATH[#DOC].
  std::string Location() const {
    return doc_number > 0 ? path + "#" + std::to_string(doc_number) : path;
  }
  // How the output names it: its job, else its location.
  std::string Name() const { return ref.empty() ? Location() : ref; }
  const JobSpec& spec() const { return doc->checked.spec(); }
};

// Parses and checks every document, printing every problem and warning on `err` as
// PATH[#DOC]:LINE:COL: field: message. A job named twice makes the second one invalid.
std::vector<LoadedDocument> LoadDocuments(const std::vector<ManifestSource>& sources,
                                          std::ostream& err) {
  std::vector<LoadedDocument> out;
  std::map<std::string, std::string> first_definition;  // ref -> PATH[#DOC]
  for (const ManifestSource& source : sources) {
    Result<Manifest> manifest =
        ParseManifest(source.text, DetectManifestFormat(source.path, source.text));
    if (!manifest.ok()) {
      err << source.path << ":" << manifest.status().message() << "\n";  // "LINE:COL: ..."
      out.push_back({source.path, 0, std::nullopt, "", false});
      continue;
    }
    if (manifest->documents.empty()) err << source.path << ": warning: no documents\n";
    const bool several = manifest->document_count > 1;
    for (ManifestDocument& doc : manifest->documents) {
      LoadedDocument loaded{source.path, several ? doc.index : 0, std::move(doc), "", false};
      const ManifestDocument& d = *loaded.doc;
      auto print = [&](const FieldIssue& issue, bool warning) {
        err << FormatManifestIssue(loaded.path, loaded.doc_number, PositionOf(d, issue.field),
                                   issue.field, issue.message, warning)
            << "\n";
      };
      for (const FieldIssue& e : d.checked.diagnostics.errors()) print(e, false);
      for (const FieldIssue& w : d.checked.diagnostics.warnings()) print(w, true);
      const JobSpec& spec = d.checked.spec();
      if (IsValidObjectName(spec.name, kMaxJobNameLength) &&
          IsValidObjectName(spec.namespace_, kMaxNamespaceLength)) {
        loaded.ref = spec.namespace_ + "/" + spec.name;
      }
      loaded.valid = d.checked.ok();
      if (loaded.valid) {
        auto [it, inserted] = first_definition.emplace(loaded.ref, loaded.Location());
        if (!inserted) {
          print({"spec.name", "job " + loaded.ref + " is also defined by " + it->second +
                                  "; a job may appear once"},
                false);
          loaded.valid = false;
        }
      }
      out.push_back(std::move(loaded));
    }
  }
  return out;
}

// The field errors of a 400 answer, printed like local ones (with the document's positions).
void PrintServerFieldErrors(const LoadedDocument& loaded, const ApiAnswer& answer,
                            std::ostream& err) {
  const Json& details = JsonAt(JsonAt(answer.body, "error"), "details");
  if (!details.is_array() || details.empty()) {
    err << loaded.Name() << ": " << answer.Message() << "\n";
    return;
  }
  for (const Json& d : details) {
    if (!d.is_object()) continue;
    const std::string field = JsonStringAt(d, "field");
    err << FormatManifestIssue(loaded.path, loaded.doc_number, PositionOf(*loaded.doc, field),
                               field, JsonStringAt(d, "message"), /*warning=*/false)
        << "\n";
  }
}

std::string JobPath(const JobSpec& spec) {
  return "/api/v1/jobs/" + UrlEncode(spec.name) + "?namespace=" + UrlEncode(spec.namespace_);
}

struct Prepared {
  std::optional<ClientConfig> config;
  std::vector<ManifestSource> sources;
};

// The config and the sources: what both commands need before their first request. Returns the
// exit code when the command is over already (a usage error or an unreadable path).
std::optional<int> Prepare(const char* command, const ManifestFlags& flags,
                           const std::string& usage, Streams s, Prepared* prepared) {
  if (flags.paths.empty()) {
    s.err << "drover " << command << ": give at least one -f FILE|DIR|-\n" << usage;
    return kExitUsage;
  }
  Result<ClientConfig> config = ResolveClientConfig(flags.client);
  if (!config.ok()) {
    s.err << "drover " << command << ": " << config.status().message() << "\n";
    return kExitUsage;
  }
  prepared->config = std::move(config).value();
  Result<std::vector<ManifestSource>> sources = ReadManifestSources(flags.paths, s.in);
  if (!sources.ok()) {
    s.err << "drover " << command << ": " << sources.status().message() << "\n";
    return kExitUsage;
  }
  prepared->sources = std::move(sources).value();
  return std::nullopt;
}

struct ApplyOptions {
  bool dry_run = false;
  bool force = false;
  bool prune = false;
  std::vector<std::string> prune_namespaces;  // besides the documents' namespaces
  std::string applied_set;
};

// --prune: stops the jobs of the set that `documents` no longer hold, in their namespaces and
// the --prune-namespace ones. Returns false when a request failed.
bool Prune(const ApiClient& client, const ApplyOptions& options,
           const std::vector<LoadedDocument>& documents, Streams s) {
  std::set<std::string> kept;
  std::vector<std::string> namespaces;
  auto add_namespace = [&](const std::string& ns) {
    if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) {
      namespaces.push_back(ns);
    }
  };
  for (const LoadedDocument& d : documents) {
    kept.insert(d.ref);
    add_namespace(d.spec().namespace_);
  }
  for (const std::string& ns : options.prune_namespaces) add_namespace(ns);
  if (namespaces.empty()) {
    s.err << "drover apply: --prune: no documents, so no namespace to prune in (see "
             "--prune-namespace); nothing pruned\n";
    return true;
  }
  const std::string suffix = options.dry_run ? " pruned (dry run)\n" : " pruned\n";
  bool ok = true;
  for (const std::string& ns : namespaces) {
    ApiAnswer list = client.Get("/api/v1/jobs?namespace=" + UrlEncode(ns));
    if (!list.ok()) {
      s.err << "drover apply: --prune: cannot list the jobs of namespace " << ns << ": "
            << list.Message() << "\n";
      return false;
    }
    for (const std::string& ref :
         PruneCandidates(JsonAt(list.body, "items"), options.applied_set, kept)) {
      if (!options.dry_run) {
        const std::string name = ref.substr(ref.find('/') + 1);
        ApiAnswer stop = client.Call(
            "DELETE", "/api/v1/jobs/" + UrlEncode(name) + "?namespace=" + UrlEncode(ns));
        if (!stop.ok()) {
          s.err << "drover apply: --prune: cannot stop " << ref << ": " << stop.Message() << "\n";
          ok = false;
          if (stop.status == 0) return false;
          continue;
        }
      }
      s.out << ref << suffix;
    }
  }
  return ok;
}

// The line of one applied document and, under --dry-run, its diff and plan.
void PrintApplied(const LoadedDocument& d, ApplyOutcome outcome, const ApplyOptions& options,
                  const Json& dry_run_answer, std::ostream& out) {
  out << d.Name() << " " << ApplyOutcomeName(outcome) << (options.dry_run ? " (dry run)" : "")
      << "\n";
  if (!options.dry_run || outcome == ApplyOutcome::kInvalid) return;
  out << LabelDiff(JsonStringAt(dry_run_answer, "diff"), d.ref);
  if (outcome != ApplyOutcome::kUnchanged)
    out << FormatWavePlan(JsonAt(dry_run_answer, "plan"), "  ");
}

int Apply(const ApplyOptions& options, const ClientConfig& config,
          const std::vector<ManifestSource>& sources, Streams s) {
  std::vector<LoadedDocument> documents = LoadDocuments(sources, s.err);
  ApiClient client(config);
  int invalid = 0;
  int failed = 0;
  std::vector<LoadedDocument> applied;  // valid documents whose request succeeded
  for (size_t i = 0; i < documents.size(); ++i) {
    const LoadedDocument& d = documents[i];
    if (!d.valid) {
      s.out << d.Name() << " invalid\n";
      ++invalid;
      continue;
    }
    Json body = {{"spec", EncodeJobSpec(d.spec())},
                 {"force", options.force},
                 {"dry_run", options.dry_run},
                 {"applied_set", options.applied_set}};
    ApiAnswer answer = client.Call("PUT", "/api/v1/jobs", body);
    ApplyOutcome outcome = OutcomeOfPut(answer.status, answer.body);
    if (options.dry_run && answer.status == 200) {
      bool stopped = false;
      if (JsonAt(answer.body, "changed") == Json(false)) {
        ApiAnswer job = client.Get(JobPath(d.spec()));
        stopped = JsonAt(JsonAt(JsonAt(job.body, "job"), "status"), "state") == Json("stopped");
      }
      outcome = OutcomeOfDryRun(answer.body, stopped);
    }
    if (answer.status == 0) {
      size_t left = 0;
      for (size_t j = i; j < documents.size(); ++j) left += documents[j].valid ? 1 : 0;
      s.err << "drover apply: " << answer.Message() << "\n"
            << "drover apply: " << left << (left == 1 ? " document" : " documents")
            << " not applied\n";
      failed += static_cast<int>(left);
      break;
    }
    if (outcome == ApplyOutcome::kFailed) {
      s.err << "drover apply: " << d.Name() << ": " << answer.Message() << "\n";
      ++failed;
      continue;
    }
    if (outcome == ApplyOutcome::kInvalid) {
      PrintServerFieldErrors(d, answer, s.err);
      ++invalid;
    } else {
      applied.push_back(d);
    }
    PrintApplied(d, outcome, options, answer.body, s.out);
  }
  bool ok = invalid == 0 && failed == 0;
  if (options.prune) {
    if (!ok) {
      std::string why;
      if (invalid > 0) {
        why = std::to_string(invalid) + (invalid == 1 ? " document is" : " documents are") +
              " invalid";
      }
      if (failed > 0) {
        why += std::string(why.empty() ? "" : " and ") + std::to_string(failed) +
               (failed == 1 ? " request" : " requests") + " failed";
      }
      s.err << "drover apply: not pruning: " << why
            << "; a broken manifest must not stop running jobs\n";
    } else if (!Prune(client, options, applied, s)) {
      ok = false;
    }
  }
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

int RunApply(const std::vector<std::string>& args, Streams s) {
  const std::string usage = Usage(kApplyUsage);
  ManifestFlags flags;
  ApplyOptions options;
  std::optional<std::string> applyset;
  auto apply_flag = [&](size_t* i) -> Result<bool> {
    const std::string& a = args[*i];
    if (a == "--dry-run") {
      options.dry_run = true;
    } else if (a == "--force") {
      options.force = true;
    } else if (a == "--prune") {
      options.prune = true;
    } else if (a == "--applyset") {
      if (*i + 1 >= args.size()) return InvalidError("--applyset needs a name");
      applyset = args[++*i];
    } else if (a.rfind("--applyset=", 0) == 0) {
      applyset = a.substr(11);
    } else if (a == "--prune-namespace" || a.rfind("--prune-namespace=", 0) == 0) {
      if (a == "--prune-namespace" && *i + 1 >= args.size()) {
        return InvalidError("--prune-namespace needs a namespace");
      }
      std::string ns = a == "--prune-namespace" ? args[++*i] : a.substr(18);
      if (!IsValidObjectName(ns, kMaxNamespaceLength)) {
        return InvalidError("--prune-namespace \"" + ns + "\": not a namespace name");
      }
      options.prune_namespaces.push_back(std::move(ns));
    } else {
      return false;
    }
    return true;
  };
  if (std::optional<int> done = ParseFlags("apply", args, usage, s, &flags, apply_flag)) {
    return *done;
  }
  if (!options.prune_namespaces.empty() && !options.prune) {
    s.err << "drover apply: --prune-namespace needs --prune\n" << usage;
    return kExitUsage;
  }
  if (applyset) {
    std::optional<std::string> bad = applyset->empty()
                                         ? std::optional<std::string>("must not be empty")
                                         : LabelValueError(*applyset);
    if (bad) {
      s.err << "drover apply: --applyset \"" << *applyset << "\": " << *bad << "\n";
      return kExitUsage;
    }
  }
  Prepared prepared;
  if (std::optional<int> done = Prepare("apply", flags, usage, s, &prepared)) return *done;
  if (applyset) {
    options.applied_set = *applyset;
  } else if (flags.paths.front() == "-") {
    options.applied_set = AppliedSetName("-");
  } else {
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(flags.paths.front(), ec);
    options.applied_set = AppliedSetName(ec ? flags.paths.front() : absolute.string());
  }
  return Apply(options, *prepared.config, prepared.sources, s);
}

int RunDiff(const std::vector<std::string>& args, Streams s) {
  const std::string usage = Usage(kDiffUsage);
  ManifestFlags flags;
  bool exit_code = false;
  auto diff_flag = [&](size_t* i) -> Result<bool> {
    if (args[*i] != "--exit-code") return false;
    exit_code = true;
    return true;
  };
  if (std::optional<int> done = ParseFlags("diff", args, usage, s, &flags, diff_flag)) {
    return *done;
  }
  Prepared prepared;
  if (std::optional<int> done = Prepare("diff", flags, usage, s, &prepared)) return *done;
  std::vector<LoadedDocument> documents = LoadDocuments(prepared.sources, s.err);
  ApiClient client(*prepared.config);
  bool problems = false;
  bool differences = false;
  for (const LoadedDocument& d : documents) {
    if (!d.valid) {
      problems = true;
      continue;
    }
    ApiAnswer answer =
        client.Call("PUT", "/api/v1/jobs/diff", Json{{"spec", EncodeJobSpec(d.spec())}});
    if (answer.status == 0) {
      s.err << "drover diff: " << answer.Message() << "\n";
      return kExitFailure;
    }
    if (answer.status == 400) {
      PrintServerFieldErrors(d, answer, s.err);
      problems = true;
      continue;
    }
    if (!answer.ok() || !JsonAt(answer.body, "diff").is_string()) {
      s.err << "drover diff: " << d.Name() << ": " << answer.Message() << "\n";
      problems = true;
      continue;
    }
    const std::string diff = JsonStringAt(answer.body, "diff");
    if (diff.empty()) continue;
    differences = true;
    s.out << LabelDiff(diff, d.ref);
  }
  if (problems) return kExitFailure;
  return differences && exit_code ? kExitDifferences : kExitOk;
}

}  // namespace drover::cli
