// File helpers of the pipeline engine and `drover engine`: whole writes, atomic replacement,
// glob(3) expansion, and the read-root checks of SPEC §12. Free functions, thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"

namespace drover::pipeline {

// Writes all of `data` to `fd`, retrying short writes and EINTR. False with errno set on error.
bool WriteAll(int fd, std::string_view data);

// Replaces `path` with `content` atomically: writes `path`.tmp, then renames it over `path`.
Status WriteFileAtomically(const std::string& path, std::string_view content);

// The paths matching a glob(3) pattern, sorted; none when nothing matches.
std::vector<std::string> Glob(const std::string& pattern);

// `path` made absolute (against the working directory) and lexically normal ("a/../b" -> "b").
std::string AbsoluteNormal(std::string_view path);

// True when `path` (absolute, normal) is `root` or lies below it, comparing whole components.
bool IsUnderRoot(std::string_view path, std::string_view root);

// The read root as given (absolute, normal) and as resolved through symlinks: a path is inside
// when it is under either spelling.
class ReadRoot {
 public:
  ReadRoot() = default;
  explicit ReadRoot(std::string_view root);
  bool empty() const { return lexical_.empty(); }
  const std::string& path() const { return lexical_; }
  // The configured pattern or path, lexically (globs and missing files included).
  bool ContainsLexically(std::string_view path) const;
  // An existing file, through its real path (symlinks and ".." matched by a glob resolved).
  bool ContainsResolved(const std::string& existing_path) const;

 private:
  std::string lexical_;
  std::string resolved_;
};

}  // namespace drover::pipeline
