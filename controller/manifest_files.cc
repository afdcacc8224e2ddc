#include "controller/manifest_files.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace drover {
namespace {

namespace fs = std::filesystem;

bool IsManifestName(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidError("cannot read " + path + ": " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return InvalidError("cannot read " + path + ": read error");
  return text;
}

}  // namespace

Result<std::vector<ManifestSource>> ReadManifestSources(const std::vector<std::string>& paths,
                                                        std::istream& stdin_stream) {
  std::vector<ManifestSource> out;
  bool stdin_used = false;
  for (const std::string& path : paths) {
    if (path == "-") {
      if (stdin_used) return InvalidError("\"-\" (standard input) given more than once");
      stdin_used = true;
      std::string text((std::istreambuf_iterator<char>(stdin_stream)),
                       std::istreambuf_iterator<char>());
      out.push_back({"-", std::move(text)});
      continue;
    }
    std::error_code ec;
    fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      return InvalidError("cannot read " + path + ": no such file or directory");
    }
    if (fs::is_directory(status)) {
      std::vector<std::string> files;
      // An unreadable subfolder is an error, not skipped: apply --prune would stop its jobs.
      fs::recursive_directory_iterator it(path, ec);
      if (ec) return InvalidError("cannot read directory " + path + ": " + ec.message());
      for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) return InvalidError("cannot read directory " + path + ": " + ec.message());
        if (it->is_regular_file(ec) && IsManifestName(it->path())) {
          files.push_back(it->path().string());
        }
      }
      std::sort(files.begin(), files.end());
      for (const std::string& file : files) {
        Result<std::string> text = ReadWholeFile(file);
        if (!text.ok()) return text.status();
        out.push_back({file, std::move(text).value()});
      }
      continue;
    }
    Result<std::string> text = ReadWholeFile(path);
    if (!text.ok()) return text.status();
    out.push_back({path, std::move(text).value()});
  }
  return out;
}

std::string FormatManifestIssue(const std::string& path, int doc, SourcePosition position,
                                const std::string& field, const std::string& message,
                                bool warning) {
  std::string out = path;
  if (doc > 0) out += "#" + std::to_string(doc);
  if (position.known()) {
    out += ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
  }
  out += ": ";
  if (!field.empty()) out += field + ": ";
  if (warning) out += "warning: ";
  out += message;
  return out;
}

SourcePosition PositionOf(const ManifestDocument& doc, const std::string& field) {
  if (doc.checked.decoded.envelope || field.rfind("spec", 0) != 0) {
    return doc.positions.Find(field);
  }
  std::string inner = field.substr(4);
  if (!inner.empty() && inner[0] == '.') inner.erase(0, 1);
  return doc.positions.Find(inner);
}

}  // namespace drover
