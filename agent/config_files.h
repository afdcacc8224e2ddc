// The files of a `config` job (SPEC §4): kept in place on the node, written atomically (a
// temporary file in the same folder, fsync, rename) with their mode, and restored when someone
// changes them. Paths live under the agent's --config-root. Plain functions over the file system.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/status.h"

namespace drover::agent {

struct ConfigFile {
  std::string path;  // absolute, inside the config root
  std::string content;
  mode_t mode = 0644;
};

// Reads `config.files`. A relative path is taken under `config_root`; an absolute one must lie
// inside it. Errors name the field: `files[1].path: /etc/passwd is outside the config root /srv`.
Result<std::vector<ConfigFile>> ParseConfigFiles(const nlohmann::json& config,
                                                 const std::string& config_root);

// Writes each file whose content or mode differs from what is on disk (creating its folder);
// returns the paths it wrote.
Result<std::vector<std::string>> SyncConfigFiles(const std::vector<ConfigFile>& files);

}  // namespace drover::agent
