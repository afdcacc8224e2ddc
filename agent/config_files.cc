#include "agent/config_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace drover::agent {
namespace fs = std::filesystem;

Result<std::vector<ConfigFile>> ParseConfigFiles(const nlohmann::json& config,
                                                 const std::string& config_root) {
  if (config_root.empty()) {
    return InvalidError(
        "config files are not allowed on this node (start the agent with --config-root DIR)");
  }
  const fs::path root = fs::path(config_root).lexically_normal();
  std::vector<ConfigFile> files;
  if (!config.contains("files") || !config["files"].is_array()) {
    return InvalidError("files: expected a list");
  }
  const auto& list = config["files"];
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = "files[" + std::to_string(i) + "]";
    const auto& f = list[i];
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) {
      return InvalidError(field + ".path: required");
    }
    // The path as the job gives it, inside the config root: with --config-root / it is the
    // path itself; with --config-root /srv/node-1, /etc/app.conf is /srv/node-1/etc/app.conf.
    fs::path given = fs::path(f["path"].get<std::string>()).lexically_normal();
    fs::path inside = given.relative_path();
    if (inside.empty() || *inside.begin() == ".." || given.filename().empty()) {
      return InvalidError(field + ".path: " + given.string() +
                          " is not a file inside the config root");
    }
    fs::path path = root / inside;
    ConfigFile file;
    file.path = path.string();
    if (f.contains("content") && f["content"].is_string()) {
      file.content = f["content"].get<std::string>();
    }
    if (f.contains("mode") && f["mode"].is_string()) {
      const std::string mode = f["mode"].get<std::string>();
      char* end = nullptr;
      unsigned long m = std::strtoul(mode.c_str(), &end, 8);
      if (mode.empty() || *end != '\0' || m > 07777) {
        return InvalidError(field + ".mode: expected 3-4 octal digits, got \"" + mode + "\"");
      }
      file.mode = static_cast<mode_t>(m);
    }
    files.push_back(std::move(file));
  }
  return files;
}

namespace {

bool SameOnDisk(const ConfigFile& file) {
  struct stat st {};
  if (::stat(file.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((st.st_mode & 07777) != file.mode) return false;
  if (static_cast<size_t>(st.st_size) != file.content.size()) return false;
  std::ifstream in(file.path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str() == file.content;
}

Status WriteAtomically(const ConfigFile& file) {
  const fs::path path(file.path);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return InternalError(file.path + ": cannot create its folder: " + ec.message());
  std::string tmp = file.path + ".drover-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return InternalError(file.path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < file.content.size()) {
    ssize_t n = ::write(fd, file.content.data() + done, file.content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return InternalError(file.path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, file.mode);
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), file.path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return InternalError(file.path + ": " + why);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> SyncConfigFiles(const std::vector<ConfigFile>& files) {
  std::vector<std::string> written;
  for (const ConfigFile& file : files) {
    if (SameOnDisk(file)) continue;
    Status s = WriteAtomically(file);
    if (!s.ok()) return s;
    written.push_back(file.path);
  }
  return written;
}

}  // namespace drover::agent
