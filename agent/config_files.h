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
  std::string path;  // where it is written: the config root joined with the job's path
  std::string content;
  mode_t mode = 0644;
};

// Reads `config.files`. Each path is taken inside `config_root`, as if it were the file system's
// root: with `/` the paths are used as written; with `/srv/node-1`, `/etc/app.conf` is written
// at `/srv/node-1/etc/app.conf` (several agents on one machine, tests). As in a chroot, `..`
// never leads out of the root; a path that names no file is an error naming the field.
Result<std::vector<ConfigFile>> ParseConfigFiles(const nlohmann::json& config,
                                                 const std::string& config_root);

// Writes each file whose content or mode differs from what is on disk (creating its folder);
// returns the paths it wrote.
Result<std::vector<std::string>> SyncConfigFiles(const std::vector<ConfigFile>& files);

}  // namespace drover::agent
