#include "api/manifest.h"

namespace drover {

ManifestFormat DetectManifestFormat(std::string_view path, std::string_view text) {
  if (path.size() >= 5 && path.substr(path.size() - 5) == ".json") return ManifestFormat::kJson;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return ManifestFormat::kJson;
  return ManifestFormat::kYaml;
}

Result<Manifest> ParseManifest(std::string_view text, ManifestFormat format) {
  std::vector<Document> documents;
  int count = 0;
  if (format == ManifestFormat::kJson) {
    Result<Document> doc = ParseJson(text, /*record_positions=*/true);
    if (!doc.ok()) return doc.status();
    documents.push_back(std::move(doc).value());
    count = 1;
  } else {
    Result<std::vector<Document>> docs = ParseYaml(text);
    if (!docs.ok()) return docs.status();
    documents = std::move(docs).value();
    // Count the separators too, so "#DOC" numbers agree with what an editor shows.
    count = documents.empty() ? 0 : documents.back().index;
  }
  Manifest manifest;
  manifest.document_count = count;
  for (Document& doc : documents) {
    ManifestDocument out;
    out.index = doc.index;
    out.positions = std::move(doc.positions);
    out.checked = CheckPutJobRequest(doc.value);
    if (out.checked.decoded.envelope) {
      for (const char* field : {"dry_run", "force"}) {
        if (doc.value.contains(field)) {
          out.checked.diagnostics.Warning(
              field, "ignored in a manifest (use the command's --" +
                         std::string(field == std::string("dry_run") ? "dry-run" : "force") +
                         " flag)");
        }
      }
    }
    manifest.documents.push_back(std::move(out));
  }
  return manifest;
}

}  // namespace drover
