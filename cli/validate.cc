// drover validate: parse and check manifests locally (SPEC §13).
#include <iostream>

#include "api/manifest.h"
#include "cli/commands.h"
#include "controller/manifest_files.h"

namespace drover::cli {
namespace {

constexpr const char* kValidateUsage =
    "Usage: drover validate -f FILE|DIR|- [-f ...]\n"
    "\n"
    "Checks job manifests (YAML or JSON, several documents per file separated by ---, folders\n"
    "read recursively) without a server. Prints every problem as\n"
    "  PATH[#DOC]:LINE:COL: field.path: message\n"
    "and warnings the same way with \"warning:\" before the message.\n"
    "\n"
    "Flags:\n"
    "  -f, --filename PATH   a file, a folder or - for standard input (repeatable)\n"
    "  -q, --quiet           print problems only, no summary line\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 all valid, 1 a document is invalid, 2 usage error or unreadable path.\n";

}  // namespace

int RunValidate(const std::vector<std::string>& args, Streams s) {
  std::vector<std::string> paths;
  bool quiet = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      s.out << kValidateUsage;
      return kExitOk;
    }
    if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "-f" || a == "--filename") {
      if (i + 1 >= args.size()) {
        s.err << "drover validate: " << a << " needs a path\n" << kValidateUsage;
        return kExitUsage;
      }
      paths.push_back(args[++i]);
    } else if (a.rfind("--filename=", 0) == 0) {
      paths.push_back(a.substr(11));
    } else if (a.rfind("-f", 0) == 0 && a.size() > 2) {
      paths.push_back(a.substr(a[2] == '=' ? 3 : 2));
    } else {
      s.err << "drover validate: unknown argument \"" << a << "\"\n" << kValidateUsage;
      return kExitUsage;
    }
  }
  if (paths.empty()) {
    s.err << "drover validate: give at least one -f FILE|DIR|-\n" << kValidateUsage;
    return kExitUsage;
  }
  Result<std::vector<ManifestSource>> sources = ReadManifestSources(paths, s.in);
  if (!sources.ok()) {
    s.err << "drover validate: " << sources.status().message() << "\n";
    return kExitUsage;
  }
  int documents = 0;
  int invalid = 0;
  int warnings = 0;
  for (const ManifestSource& source : *sources) {
    Result<Manifest> manifest =
        ParseManifest(source.text, DetectManifestFormat(source.path, source.text));
    if (!manifest.ok()) {
      // The message already starts with LINE:COL.
      s.out << source.path << ":" << manifest.status().message() << "\n";
      ++invalid;
      ++documents;
      continue;
    }
    if (manifest->documents.empty() && !quiet) {
      s.err << source.path << ": warning: no documents\n";
    }
    bool several = manifest->document_count > 1;
    for (const ManifestDocument& doc : manifest->documents) {
      ++documents;
      int doc_number = several ? doc.index : 0;
      for (const FieldIssue& e : doc.checked.diagnostics.errors()) {
        s.out << FormatManifestIssue(source.path, doc_number, PositionOf(doc, e.field), e.field,
                                     e.message, /*warning=*/false)
              << "\n";
      }
      for (const FieldIssue& w : doc.checked.diagnostics.warnings()) {
        s.out << FormatManifestIssue(source.path, doc_number, PositionOf(doc, w.field), w.field,
                                     w.message, /*warning=*/true)
              << "\n";
        ++warnings;
      }
      if (!doc.checked.ok()) ++invalid;
    }
  }
  if (!quiet) {
    s.err << documents << (documents == 1 ? " document" : " documents")
          << " checked: " << (documents - invalid) << " valid, " << invalid << " invalid, "
          << warnings << (warnings == 1 ? " warning" : " warnings") << "\n";
  }
  return invalid > 0 ? kExitFailure : kExitOk;
}

}  // namespace drover::cli
