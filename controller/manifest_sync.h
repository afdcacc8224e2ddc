// ManifestSync: the controller's `--manifests DIR` mode (docs/gitops.md), a GitOps loop with no
// extra tool. At start, on every change in the folder (inotify on the folder, its subfolders and
// its parent, bursts coalesced) and every interval, it reads the folder, validates every document,
// PUTs each valid one through the JobService in process (applied set kManifestAppliedSet) and
// stops the jobs of that set whose documents were removed, under the safety rules of
// reconcilers/manifest_plan.h. Per-file status for GET /api/v1/manifests, metrics, and one log
// line per change.
//
// Owned by the controller's wiring; one thread, started by Start() and stopped by Stop() (or the
// destructor), which must happen before the JobService and the store are destroyed. Status() is
// thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/document.h"
#include "controller/clock.h"
#include "controller/job_service.h"
#include "controller/manifest_files.h"
#include "controller/metrics.h"
#include "reconcilers/manifest_plan.h"
#include "store/store.h"

namespace drover::controller {

// The applied set of every job the --manifests mode PUTs (recorded in the job's
// spec.meta["expanso.io/applied-set"]); only jobs of this set are ever stopped by the sync.
inline constexpr const char* kManifestAppliedSet = "controller-manifests";

// --- The pure part: what a folder's files say ---------------------------------------------------

// One document of a file that is valid: what to PUT.
struct FolderDocument {
  std::string key;   // "namespace/name"
  int document = 0;  // as in FormatManifestIssue: 0 when the file holds one document
  CheckedRequest checked;
};

// One file of the folder, parsed and validated.
struct FolderFile {
  std::string path;                       // the folder as given, then the path below it
  std::vector<FolderDocument> documents;  // the valid documents, in order
  std::vector<std::string> errors;    // FormatManifestIssue lines, empty when every one is valid
  std::vector<std::string> warnings;  // likewise, for warnings
};

// Parses and validates every source (ParseManifest, FormatManifestIssue). Pure.
std::vector<FolderFile> ParseManifestFolder(const std::vector<ManifestSource>& sources);

// The manifest files below `folder` (*.yaml, *.yml, *.json, recursively, in path order) and the
// folders to watch (the folder itself first). Names starting with '.' are left out (hidden
// folders such as .git, editors' temporary files). Unlike the CLI's reading, a folder that
// cannot be listed is an error, never skipped: a missing subfolder must not look like removed
// manifests.
struct FolderListing {
  std::vector<std::string> files;
  std::vector<std::string> folders;
};
Result<FolderListing> ListManifestFolder(const std::string& folder);

// --- The loop ------------------------------------------------------------------------------------

struct ManifestSyncOptions {
  std::string folder;
  std::string applied_set = kManifestAppliedSet;
  std::chrono::milliseconds interval{30'000};  // periodic re-read
  std::chrono::milliseconds debounce{200};     // quiet time after the last change
  std::chrono::milliseconds max_delay{2'000};  // a burst never delays a sync longer than this
  size_t pruned_kept = 100;                    // pruned jobs remembered for the route
};

class ManifestSync {
 public:
  // `log(level, message)` writes one line of the controller's log; called from the sync thread.
  ManifestSync(ManifestSyncOptions options, JobService& jobs, store::Store& store,
               const Clock& clock, ManifestMetrics& metrics,
               std::function<void(const std::string&, const std::string&)> log);
  ~ManifestSync();
  ManifestSync(const ManifestSync&) = delete;
  ManifestSync& operator=(const ManifestSync&) = delete;

  // Starts the thread; the first sync runs at once.
  void Start();
  // Stops the thread (a sync in progress ends after its current request). Idempotent.
  void Stop();

  // One sync now, on the caller's thread (the thread calls this; also for tests). Not
  // concurrently with itself.
  void SyncOnce();

  // The GET /api/v1/manifests body: {folder, applied_set, sequence, last_sync, result, message,
  // prune, files: [...], pruned: [...]}.
  Json Status() const;

 private:
  struct FileStatus {
    std::string path;
    std::string state;  // applied | unchanged | invalid | failed
    std::vector<std::string> jobs;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    std::string updated_at;
  };
  struct PrunedJob {
    std::string job;
    std::string at;
  };
  class Watcher;

  void Loop();
  // Records a sync's outcome (status, metrics) and logs what changed since the last one.
  void Publish(std::vector<FileStatus> files, const std::string& result, std::string message,
               std::string prune, std::vector<PrunedJob> pruned);
  bool stopping() const;
  void Log(const std::string& level, const std::string& message) const;

  const ManifestSyncOptions options_;
  JobService& jobs_;
  store::Store& store_;
  const Clock& clock_;
  ManifestMetrics& metrics_;
  std::function<void(const std::string&, const std::string&)> log_;
  std::unique_ptr<Watcher> watcher_;  // null when inotify is not available

  mutable std::mutex mu_;
  bool stopping_ = false;
  // What the route shows (under mu_).
  int64_t sequence_ = 0;
  std::string last_sync_;
  std::string result_ = "pending";
  std::string message_ = "the first sync has not run yet";
  std::string prune_;
  std::vector<FileStatus> files_;
  std::vector<PrunedJob> pruned_;
  // Per (file, job) PUT failures already logged, so that a failing job is logged on change only.
  std::set<std::string> logged_failures_;
  std::string logged_folder_error_;
  std::string logged_prune_;

  std::thread thread_;
};

}  // namespace drover::controller
