#include "pipeline/files.h"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace drover::pipeline {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  std::string temporary = path + ".tmp";
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return UnavailableError("cannot write " + temporary + ": " + std::strerror(errno));
  }
  bool written = WriteAll(fd, content);
  int saved = errno;
  if (close(fd) != 0 && written) {
    written = false;
    saved = errno;
  }
  if (!written) {
    unlink(temporary.c_str());
    return UnavailableError("cannot write " + temporary + ": " + std::strerror(saved));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    saved = errno;
    unlink(temporary.c_str());
    return UnavailableError("cannot rename " + temporary + " to " + path + ": " +
                            std::strerror(saved));
  }
  return Status::Ok();
}

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> paths;
  glob_t matches{};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    paths.reserve(matches.gl_pathc);
    for (size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
  return paths;
}

std::string AbsoluteNormal(std::string_view path) {
  std::filesystem::path p(path);
  if (p.is_relative()) {
    std::error_code ignored;
    p = std::filesystem::current_path(ignored) / p;
  }
  std::string normal = p.lexically_normal().string();
  // "/data/" -> "/data", so that comparisons are by component.
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

bool IsUnderRoot(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

ReadRoot::ReadRoot(std::string_view root) : lexical_(AbsoluteNormal(root)) {
  char resolved[PATH_MAX];
  resolved_ = realpath(lexical_.c_str(), resolved) != nullptr ? std::string(resolved) : lexical_;
}

bool ReadRoot::ContainsLexically(std::string_view path) const {
  std::string normal = AbsoluteNormal(path);
  return IsUnderRoot(normal, lexical_) || IsUnderRoot(normal, resolved_);
}

bool ReadRoot::ContainsResolved(const std::string& existing_path) const {
  char resolved[PATH_MAX];
  if (realpath(existing_path.c_str(), resolved) == nullptr) return false;
  return IsUnderRoot(resolved, resolved_) || IsUnderRoot(resolved, lexical_);
}

}  // namespace drover::pipeline
