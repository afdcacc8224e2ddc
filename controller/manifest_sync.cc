#include "controller/manifest_sync.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "api/duration.h"
#include "api/records.h"
#include "controller/keys.h"

namespace drover::controller {
namespace {

namespace fs = std::filesystem;

bool IsManifestName(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends_with(".yaml") || ends_with(".yml") || ends_with(".json");
}

bool IsHidden(std::string_view name) { return !name.empty() && name.front() == '.'; }

// "2026-12-04T15:33:51.123Z" (Clock::WallTime) as Unix seconds; 0 when it does not parse.
double UnixSeconds(const std::string& rfc3339) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(rfc3339.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) < 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + millis / 1000.0;
}

std::string Join(const std::vector<std::string>& lines, const std::string& separator) {
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : separator) + line;
  return out;
}

// The message of an error answer (SPEC §12 body), with its details.
std::string AnswerMessage(const ApiAnswer& answer) {
  const Json& error = answer.body.is_object() && answer.body.contains("error")
                          ? answer.body["error"]
                          : Json::object();
  std::string out = "HTTP " + std::to_string(answer.status);
  if (error.contains("code") && error["code"].is_string()) {
    out += " " + error["code"].get<std::string>();
  }
  if (error.contains("message") && error["message"].is_string()) {
    out += ": " + error["message"].get<std::string>();
  }
  if (error.contains("details") && error["details"].is_array()) {
    for (const Json& d : error["details"]) {
      if (d.is_object() && d.contains("field") && d.contains("message")) {
        out += "; " + d["field"].get<std::string>() + ": " + d["message"].get<std::string>();
      }
    }
  }
  return out;
}

// "PATH" or "PATH#DOC": where a document stands, as FormatManifestIssue writes it.
std::string Place(const std::string& path, int document) {
  return document > 0 ? path + "#" + std::to_string(document) : path;
}

// The folder as a path without trailing separators ("jobs/" -> "jobs"), and its parent.
std::pair<fs::path, std::string> ParentAndName(const std::string& folder) {
  fs::path p = fs::path(folder).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
  fs::path parent = p.parent_path();
  if (parent.empty()) parent = ".";
  return {parent, p.filename().string()};
}

}  // namespace

// --- The pure part
// --------------------------------------------------------------------------------

std::vector<FolderFile> ParseManifestFolder(const std::vector<ManifestSource>& sources) {
  std::vector<FolderFile> files;
  for (const ManifestSource& source : sources) {
    FolderFile file;
    file.path = source.path;
    Result<Manifest> manifest =
        ParseManifest(source.text, DetectManifestFormat(source.path, source.text));
    if (!manifest.ok()) {
      // The message already starts with LINE:COL.
      file.errors.push_back(source.path + ":" + manifest.status().message());
      files.push_back(std::move(file));
      continue;
    }
    bool several = manifest->document_count > 1;
    for (const ManifestDocument& doc : manifest->documents) {
      int number = several ? doc.index : 0;
      for (const FieldIssue& e : doc.checked.diagnostics.errors()) {
        file.errors.push_back(FormatManifestIssue(source.path, number, PositionOf(doc, e.field),
                                                  e.field, e.message, /*warning=*/false));
      }
      for (const FieldIssue& w : doc.checked.diagnostics.warnings()) {
        file.warnings.push_back(FormatManifestIssue(source.path, number, PositionOf(doc, w.field),
                                                    w.field, w.message, /*warning=*/true));
      }
      if (!doc.checked.ok()) continue;
      FolderDocument valid;
      valid.key = doc.checked.spec().namespace_ + "/" + doc.checked.spec().name;
      valid.document = number;
      valid.checked = doc.checked;
      file.documents.push_back(std::move(valid));
    }
    files.push_back(std::move(file));
  }
  return files;
}

Result<FolderListing> ListManifestFolder(const std::string& folder) {
  std::error_code ec;
  fs::file_status status = fs::status(folder, ec);
  if (ec || !fs::exists(status)) {
    return InvalidError("cannot read " + folder + ": no such file or directory");
  }
  if (!fs::is_directory(status)) return InvalidError("cannot read " + folder + ": not a directory");
  FolderListing listing;
  listing.folders.push_back(folder);
  fs::recursive_directory_iterator it(folder, ec);
  if (ec) return InvalidError("cannot read " + folder + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return InvalidError("cannot read " + folder + ": " + ec.message());
    std::string name = it->path().filename().string();
    std::error_code entry_ec;
    if (it->is_directory(entry_ec)) {
      if (IsHidden(name) || it->is_symlink(entry_ec)) {
        it.disable_recursion_pending();  // not followed: as the CLI reads folders
        continue;
      }
      listing.folders.push_back(it->path().string());
      continue;
    }
    if (IsHidden(name) || !IsManifestName(name)) continue;
    // A dangling symlink (an editor's lock file) or an entry removed meanwhile is no file.
    if (it->is_regular_file(entry_ec)) listing.files.push_back(it->path().string());
  }
  if (ec) return InvalidError("cannot read " + folder + ": " + ec.message());
  std::sort(listing.files.begin(), listing.files.end());
  return listing;
}

// --- The watcher
// ----------------------------------------------------------------------------------

// inotify on the folder, each of its subfolders and its parent (for the folder itself being
// created, removed, renamed or a symlink to it replaced), plus an eventfd that wakes the wait
// for Stop(). Used by the sync thread only (Wake() from any thread).
class ManifestSync::Watcher {
 public:
  explicit Watcher(const std::string& folder) {
    auto [parent, name] = ParentAndName(folder);
    parent_ = parent.string();
    name_ = name;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_fd_ < 0) error_ = std::string("inotify_init1: ") + std::strerror(errno);
  }
  ~Watcher() {
    if (inotify_fd_ >= 0) close(inotify_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // "" when changes are watched; else why not (the periodic re-read still runs).
  const std::string& error() const { return error_; }

  // Watches exactly these folders (and the parent). True when a folder was not watched before:
  // files created in it before the watch existed are then seen only by a fresh listing.
  bool Watch(const std::vector<std::string>& folders) {
    if (inotify_fd_ < 0) return false;
    constexpr uint32_t kTreeMask = IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                   IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR;
    constexpr uint32_t kParentMask =
        IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR;
    bool added = false;
    std::set<int> now;
    for (const std::string& folder : folders) {
      int wd = inotify_add_watch(inotify_fd_, folder.c_str(), kTreeMask);
      if (wd < 0) {
        if (errno == ENOSPC && error_.empty()) {
          error_ =
              "too many inotify watches (fs.inotify.max_user_watches): some folders are "
              "only re-read every interval";
        }
        continue;
      }
      if (!tree_.contains(wd)) added = true;
      now.insert(wd);
    }
    for (int wd : tree_) {
      if (!now.contains(wd)) inotify_rm_watch(inotify_fd_, wd);
    }
    tree_ = std::move(now);
    if (parent_wd_ < 0) parent_wd_ = inotify_add_watch(inotify_fd_, parent_.c_str(), kParentMask);
    return added;
  }

  // Waits at most `timeout`; true when something relevant to the folder changed.
  bool Wait(std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int count = inotify_fd_ >= 0 ? 2 : 1;
    if (wake_fd_ < 0) {  // no eventfd: poll in short steps so that Stop() is seen soon
      fds[0].fd = -1;
      timeout = std::min(timeout, std::chrono::milliseconds(100));
    }
    int ms = static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, 60'000));
    if (poll(fds, static_cast<nfds_t>(count), ms) <= 0) return false;
    if (wake_fd_ >= 0 && (fds[0].revents & POLLIN)) {
      uint64_t value = 0;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &value, sizeof(value));
    }
    return count == 2 && (fds[1].revents & POLLIN) && Drain();
  }

  void Wake() {
    if (wake_fd_ < 0) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

 private:
  // Reads every pending event; true when one concerns the folder's manifests.
  bool Drain() {
    bool relevant = false;
    alignas(inotify_event) char buffer[16 * 1024];
    while (true) {
      ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
      if (n <= 0) break;
      for (char* p = buffer; p < buffer + n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        p += sizeof(inotify_event) + event->len;
        std::string_view name = event->len > 0 ? std::string_view(event->name) : "";
        if (event->mask & IN_Q_OVERFLOW) {
          relevant = true;
        } else if (event->wd == parent_wd_) {
          if (event->mask & IN_IGNORED) {
            parent_wd_ = -1;  // the parent itself went away; watched again on the next sync
            relevant = true;
          } else if (name == name_) {
            relevant = true;
          }
        } else if (event->mask & IN_IGNORED) {
          // A watched folder went away (one whose watch Watch() removed itself is no news).
          if (tree_.erase(event->wd) > 0) relevant = true;
        } else if (name.empty() || ((event->mask & IN_ISDIR) && !IsHidden(name)) ||
                   (IsManifestName(name) && !IsHidden(name))) {
          relevant = true;
        }
      }
    }
    return relevant;
  }

  std::string parent_;
  std::string name_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  int parent_wd_ = -1;
  std::set<int> tree_;
  std::string error_;
};

// --- The loop
// -------------------------------------------------------------------------------------

ManifestSync::ManifestSync(ManifestSyncOptions options, JobService& jobs, store::Store& store,
                           const Clock& clock, ManifestMetrics& metrics,
                           std::function<void(const std::string&, const std::string&)> log)
    : options_(std::move(options)),
      jobs_(jobs),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      log_(std::move(log)),
      watcher_(std::make_unique<Watcher>(options_.folder)) {}

ManifestSync::~ManifestSync() { Stop(); }

void ManifestSync::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void ManifestSync::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  watcher_->Wake();
  if (thread_.joinable()) thread_.join();
}

bool ManifestSync::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void ManifestSync::Log(const std::string& level, const std::string& message) const {
  if (log_) log_(level, "manifests: " + message);
}

void ManifestSync::Loop() {
  Log("info", "keeping the jobs of " + options_.folder + " applied (applied set \"" +
                  options_.applied_set + "\", re-read every " +
                  Duration::Milliseconds(options_.interval.count()).ToString() +
                  " and on every change)");
  std::string watch_error;
  std::optional<SteadyTime> burst_start;  // the first change not yet synced
  SteadyTime last_change{};
  SteadyTime next_sync = clock_.Now();  // the first sync at once
  auto retry = std::chrono::milliseconds(1000);
  while (!stopping()) {
    SteadyTime now = clock_.Now();
    SteadyTime due = next_sync;
    if (burst_start) {
      due = std::min(due,
                     std::min(last_change + options_.debounce, *burst_start + options_.max_delay));
    }
    if (now >= due) {
      burst_start.reset();
      SyncOnce();
      if (stopping()) break;
      if (watcher_->error() != watch_error) {
        watch_error = watcher_->error();
        if (!watch_error.empty()) Log("warn", "not watching for changes: " + watch_error);
      }
      std::string result;
      {
        std::lock_guard lock(mu_);
        result = result_;
      }
      // A failed request or an unreadable folder is retried sooner, backing off to the interval.
      if (result == "failed" || result == "unreadable") {
        next_sync = clock_.Now() + std::min(retry, options_.interval);
        retry = std::min(retry * 2, options_.interval);
      } else {
        next_sync = clock_.Now() + options_.interval;
        retry = std::chrono::milliseconds(1000);
      }
      continue;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now) +
                std::chrono::milliseconds(1);
    if (watcher_->Wait(wait)) {
      last_change = clock_.Now();
      if (!burst_start) burst_start = last_change;
    }
  }
}

void ManifestSync::SyncOnce() {
  const std::string now = clock_.WallTime();
  std::vector<FileStatus> previous;
  {
    std::lock_guard lock(mu_);
    previous = files_;
  }
  auto unreadable = [&](const std::string& why) {
    Publish(std::move(previous), "unreadable",
            why + "; nothing was applied or stopped (the jobs keep running as they are)",
            "the folder could not be read: nothing was stopped", {});
  };

  Result<FolderListing> listing = ListManifestFolder(options_.folder);
  if (!listing.ok()) {
    watcher_->Watch({});  // the parent still tells when the folder comes back
    return unreadable(listing.status().message());
  }
  if (watcher_->Watch(listing->folders)) {
    listing = ListManifestFolder(options_.folder);  // what new folders held before their watch
    if (!listing.ok()) return unreadable(listing.status().message());
  }
  std::istringstream no_stdin;
  Result<std::vector<ManifestSource>> sources = ReadManifestSources(listing->files, no_stdin);
  if (!sources.ok()) return unreadable(sources.status().message());
  std::vector<FolderFile> folder = ParseManifestFolder(*sources);

  // The jobs of this set, from the store (a cheap text test first: most jobs are not in it).
  ManifestPlanInput input;
  std::string members_error;
  Result<store::RangeResult> jobs = store_.List(keys::kJobs);
  if (!jobs.ok()) {
    input.members_known = false;
    members_error = jobs.status().message();
  } else {
    for (const store::KeyValue& kv : jobs->items) {
      if (kv.value.find(options_.applied_set) == std::string::npos) continue;
      Json json = Json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
      if (json.is_discarded()) continue;
      Result<JobRecord> job = JobRecordFromJson(json);
      if (!job.ok()) continue;
      auto set = job->spec.meta.find(kAppliedSetMetaKey);
      if (set == job->spec.meta.end() || set->second != options_.applied_set) continue;
      input.members.push_back({job->spec.namespace_ + "/" + job->spec.name, job->stopped()});
    }
  }

  std::vector<std::pair<size_t, size_t>> where;  // declared index -> (file, document)
  for (size_t f = 0; f < folder.size(); ++f) {
    if (!folder[f].errors.empty()) ++input.invalid_files;
    for (size_t d = 0; d < folder[f].documents.size(); ++d) {
      const FolderDocument& doc = folder[f].documents[d];
      input.declared.push_back({doc.key, folder[f].path, doc.document});
      where.emplace_back(f, d);
    }
  }
  ManifestPlan plan = PlanManifestSync(input);

  std::vector<FileStatus> files(folder.size());
  // Per file: a request failed; something was created or updated; a document was refused
  // (declared twice, or refused by the server).
  std::vector<bool> failed(folder.size(), false), applied(folder.size(), false),
      refused(folder.size(), false);
  for (size_t f = 0; f < folder.size(); ++f) {
    files[f].path = folder[f].path;
    files[f].errors = folder[f].errors;
    files[f].warnings = folder[f].warnings;
    for (const FolderDocument& doc : folder[f].documents) files[f].jobs.push_back(doc.key);
  }
  for (const DuplicateJob& duplicate : plan.duplicates) {
    std::vector<std::string> places;
    for (size_t i : duplicate.declared) {
      const DeclaredJob& d = input.declared[i];
      places.push_back(Place(d.file, d.document));
    }
    for (size_t i : duplicate.declared) {
      const DeclaredJob& d = input.declared[i];
      refused[where[i].first] = true;
      files[where[i].first].errors.push_back(FormatManifestIssue(
          d.file, d.document, {}, "",
          "job " + d.key + " is declared more than once (" + Join(places, ", ") +
              "): none of them is applied until only one is left",
          false));
    }
  }

  std::set<std::string> stopped_members;  // a 200 for one of them means "started again"
  for (const AppliedSetMember& m : input.members) {
    if (m.stopped) stopped_members.insert(m.key);
  }
  std::set<std::string> failures_now;
  bool request_failed = false;
  for (size_t i : plan.put) {
    if (stopping()) return;
    auto [f, d] = where[i];
    const FolderDocument& doc = folder[f].documents[d];
    CheckedRequest request = doc.checked;
    request.decoded.request.applied_set = options_.applied_set;
    request.decoded.request.dry_run = false;
    request.decoded.request.force = false;
    ApiAnswer answer = jobs_.Put(request);
    const std::string place = Place(files[f].path, doc.document);
    if (answer.status == 201 || answer.status == 200) {
      applied[f] = true;
      std::string version =
          answer.body.contains("version") ? answer.body["version"].dump() : std::string("?");
      std::string what = answer.status == 201                ? "created "
                         : stopped_members.contains(doc.key) ? "started again "
                                                             : "configured ";
      Log("info", what + doc.key + " (version " + version + ") from " + place);
    } else if (answer.status != 422) {
      std::string message = place + ": " + doc.key + ": " + AnswerMessage(answer);
      files[f].errors.push_back(message);
      if (answer.status == 400) {
        refused[f] = true;
      } else {
        failed[f] = true;
        request_failed = true;
      }
      failures_now.insert(message);
      if (!logged_failures_.contains(message)) Log("warn", "applying failed: " + message);
    }
  }

  std::vector<PrunedJob> pruned;
  std::vector<std::string> stop_errors;
  for (const std::string& key : plan.stop) {
    if (stopping()) return;
    size_t slash = key.find('/');
    ApiAnswer answer = jobs_.Stop(key.substr(slash + 1), key.substr(0, slash), /*purge=*/false);
    if (answer.status == 200) {
      pruned.push_back({key, now});
      Log("info", "stopped " + key + ": its manifest was removed from " + options_.folder);
    } else if (answer.status != 404) {  // 404: purged meanwhile, nothing left to stop
      std::string message = "stopping " + key + ": " + AnswerMessage(answer);
      stop_errors.push_back(message);
      failures_now.insert(message);
      if (!logged_failures_.contains(message)) Log("warn", message);
    }
  }
  logged_failures_ = std::move(failures_now);

  std::map<std::string, int> counts;
  for (size_t f = 0; f < files.size(); ++f) {
    bool invalid = !folder[f].errors.empty() || refused[f];
    files[f].state = invalid      ? "invalid"
                     : failed[f]  ? "failed"
                     : applied[f] ? "applied"
                                  : "unchanged";
    ++counts[files[f].state];
  }
  std::string result = request_failed || !stop_errors.empty() || !input.members_known ? "failed"
                       : counts["invalid"] > 0                                        ? "invalid"
                                                                                      : "success";
  std::string message = std::to_string(files.size()) + (files.size() == 1 ? " file" : " files");
  std::vector<std::string> parts;
  for (const char* state : {"applied", "unchanged", "invalid", "failed"}) {
    if (counts[state] > 0) parts.push_back(std::to_string(counts[state]) + " " + state);
  }
  if (!parts.empty()) message += ": " + Join(parts, ", ");
  if (!pruned.empty()) message += "; stopped " + std::to_string(pruned.size());
  if (!stop_errors.empty()) message += "; " + Join(stop_errors, "; ");
  if (!members_error.empty()) message += "; listing the jobs of the set: " + members_error;
  Publish(std::move(files), result, message, plan.prune_skipped, std::move(pruned));
}

void ManifestSync::Publish(std::vector<FileStatus> files, const std::string& result,
                           std::string message, std::string prune, std::vector<PrunedJob> pruned) {
  const std::string now = clock_.WallTime();
  std::map<std::string, const FileStatus*> before;
  std::vector<FileStatus> previous;
  {
    std::lock_guard lock(mu_);
    previous = files_;
  }
  for (const FileStatus& f : previous) before[f.path] = &f;
  std::map<std::string, int64_t> counts;
  for (FileStatus& f : files) {
    ++counts[f.state];
    auto it = before.find(f.path);
    const FileStatus* old = it == before.end() ? nullptr : it->second;
    bool same = old != nullptr && old->state == f.state && old->jobs == f.jobs &&
                old->errors == f.errors && old->warnings == f.warnings;
    f.updated_at = same ? old->updated_at : now;
    if (result == "unreadable" || same) continue;
    // One line per change of a file's validity (applied jobs are logged as they are applied).
    if (f.state == "invalid" && (old == nullptr || old->errors != f.errors)) {
      Log("warn", f.path + " is invalid; the jobs it declares are left as they are: " +
                      Join(f.errors, "; "));
    } else if (f.state != "invalid" && old != nullptr && old->state == "invalid") {
      Log("info", f.path + " is valid again");
    }
    if (!f.warnings.empty() && (old == nullptr || old->warnings != f.warnings)) {
      Log("warn", Join(f.warnings, "; "));
    }
  }

  if (result == "unreadable") {
    if (message != logged_folder_error_) Log("warn", message);
    logged_folder_error_ = message;
  } else {
    if (!logged_folder_error_.empty()) Log("info", options_.folder + " can be read again");
    logged_folder_error_.clear();
    if (prune != logged_prune_) {
      if (!prune.empty()) {
        Log("warn", prune);
      } else {
        Log("info", "pruning resumed");
      }
      logged_prune_ = prune;
    }
  }

  if (result != "unreadable") metrics_.SetFiles(counts);
  metrics_.ObserveSync(result, UnixSeconds(now));
  if (!pruned.empty()) metrics_.AddPruned(static_cast<int64_t>(pruned.size()));

  std::lock_guard lock(mu_);
  ++sequence_;
  last_sync_ = now;
  result_ = result;
  message_ = std::move(message);
  prune_ = std::move(prune);
  files_ = std::move(files);
  for (PrunedJob& p : pruned) pruned_.push_back(std::move(p));
  if (pruned_.size() > options_.pruned_kept) {
    pruned_.erase(pruned_.begin(), pruned_.end() - static_cast<long>(options_.pruned_kept));
  }
}

Json ManifestSync::Status() const {
  std::lock_guard lock(mu_);
  Json files = Json::array();
  for (const FileStatus& f : files_) {
    files.push_back({{"path", f.path},
                     {"state", f.state},
                     {"jobs", f.jobs},
                     {"errors", f.errors},
                     {"warnings", f.warnings},
                     {"updated_at", f.updated_at}});
  }
  Json pruned = Json::array();
  for (auto it = pruned_.rbegin(); it != pruned_.rend(); ++it) {
    pruned.push_back({{"job", it->job}, {"at", it->at}});
  }
  return {{"folder", options_.folder},
          {"applied_set", options_.applied_set},
          {"interval_seconds", options_.interval.count() / 1000.0},
          {"sequence", sequence_},
          {"last_sync", last_sync_.empty() ? Json(nullptr) : Json(last_sync_)},
          {"result", result_},
          {"message", message_},
          {"prune", prune_.empty() ? std::string("enabled") : prune_},
          {"files", files},
          {"pruned", pruned}};
}

}  // namespace drover::controller
