// The decision of the controller's `--manifests` mode (docs/gitops.md): given the jobs a folder of
// manifests declares and the jobs the folder applied before (its applied set), which documents to
// PUT and which jobs to stop. Pure: the folder reading, the PUTs and the stops are the caller's
// (controller/manifest_sync.cc).
//
// The safety rules live here: nothing is stopped unless the whole folder was read and every file
// in it is valid (a job whose file is broken keeps running at its last good version), a job
// declared twice is applied from neither document, and a folder that declares no job at all never
// stops every job of its set (a checkout in progress or a wrong path looks just like that).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace drover {

// One valid document of the folder: the job it declares and where.
struct DeclaredJob {
  std::string key;   // "namespace/name"
  std::string file;  // the file's path
  int document = 0;  // 1-based among the file's documents; 0 when the file holds one
};

// A job of the applied set as the store has it.
struct AppliedSetMember {
  std::string key;  // "namespace/name"
  bool stopped = false;
};

struct ManifestPlanInput {
  // False when the folder (or a file in it) could not be read: then nothing is done at all.
  bool folder_read = true;
  // Every valid document, in path order.
  std::vector<DeclaredJob> declared;
  // Files that did not parse or hold an invalid document (their jobs are unknown).
  int invalid_files = 0;
  // False when the jobs of the set could not be listed: nothing is stopped.
  bool members_known = true;
  std::vector<AppliedSetMember> members;
};

// A job declared by more than one document: applied from none of them.
struct DuplicateJob {
  std::string key;
  std::vector<size_t> declared;  // indices into ManifestPlanInput::declared, in path order
};

struct ManifestPlan {
  std::vector<size_t> put;        // indices into ManifestPlanInput::declared, in path order
  std::vector<std::string> stop;  // keys of set members to stop, sorted
  std::vector<DuplicateJob> duplicates;
  // Why nothing was considered for stopping ("" when pruning ran, even if it stopped nothing).
  std::string prune_skipped;
};

ManifestPlan PlanManifestSync(const ManifestPlanInput& input);

}  // namespace drover
