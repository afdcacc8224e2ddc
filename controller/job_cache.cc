#include "controller/job_cache.h"

#include <algorithm>

#include "api/job_codec.h"
#include "controller/keys.h"

namespace drover::controller {
namespace {

bool Terminal(std::string_view state) {
  return state == "completed" || state == "failed" || state == "stopped";
}

// ---- timestamps: "YYYY-MM-DDTHH:MM:SS.mmmZ" <-> milliseconds since the epoch ----

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yoe + era * 400 + (*m <= 2);
}

constexpr size_t kTimestampSize = 24;  // 2026-12-04T22:03:38.123Z

void FormatMillis(int64_t millis, char* out) {
  const int64_t days = millis / 86'400'000;
  int64_t rest = millis % 86'400'000;
  int64_t y, m, d;
  CivilFromDays(days, &y, &m, &d);
  auto put = [&](size_t at, int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, y, 4);
  out[4] = '-';
  put(5, m, 2);
  out[7] = '-';
  put(8, d, 2);
  out[10] = 'T';
  put(11, rest / 3'600'000, 2);
  rest %= 3'600'000;
  out[13] = ':';
  put(14, rest / 60'000, 2);
  rest %= 60'000;
  out[16] = ':';
  put(17, rest / 1000, 2);
  out[19] = '.';
  put(20, rest % 1000, 3);
  out[23] = 'Z';
}

// The milliseconds of a timestamp in exactly the form FormatMillis writes (years 1970-9999),
// or -1.
int64_t ParseMillis(std::string_view s) {
  if (s.size() != kTimestampSize) return -1;
  int64_t v[7] = {};
  const size_t at[7] = {0, 5, 8, 11, 14, 17, 20};
  const int width[7] = {4, 2, 2, 2, 2, 2, 3};
  for (int f = 0; f < 7; ++f) {
    for (int i = 0; i < width[f]; ++i) {
      const char c = s[at[f] + static_cast<size_t>(i)];
      if (c < '0' || c > '9') return -1;
      v[f] = v[f] * 10 + (c - '0');
    }
  }
  if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
      v[5] > 59) {
    return -1;
  }
  const int64_t millis =
      ((DaysFromCivil(v[0], v[1], v[2]) * 24 + v[3]) * 60 + v[4]) * 60'000 + v[5] * 1000 + v[6];
  char back[kTimestampSize];
  FormatMillis(millis, back);
  return std::string_view(back, kTimestampSize) == s ? millis : -1;
}

// ---- execution ids: "e-" and a lowercase UUID ----

constexpr std::string_view kExecutionIdPrefix = "e-";
constexpr size_t kUuidSize = 36;  // 8-4-4-4-12 hex digits
bool IsDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

std::optional<ExecutionUuid> ParseExecutionUuid(std::string_view id) {
  if (id.size() != kExecutionIdPrefix.size() + kUuidSize ||
      id.substr(0, kExecutionIdPrefix.size()) != kExecutionIdPrefix) {
    return std::nullopt;
  }
  const std::string_view uuid = id.substr(kExecutionIdPrefix.size());
  uint64_t words[2] = {0, 0};
  int digits = 0;
  for (size_t i = 0; i < kUuidSize; ++i) {
    const char c = uuid[i];
    if (IsDash(i)) {
      if (c != '-') return std::nullopt;
      continue;
    }
    uint64_t nibble;
    if (c >= '0' && c <= '9') {
      nibble = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      nibble = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    uint64_t& word = words[digits / 16];
    word = (word << 4) | nibble;
    ++digits;
  }
  return ExecutionUuid{words[0], words[1]};
}

size_t ExecutionUuidHash::operator()(const ExecutionUuid& k) const {
  uint64_t h = k.hi * 0x9e3779b97f4a7c15ULL ^ k.lo;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<size_t>(h);
}

namespace {

std::string FormatExecutionUuid(uint64_t hi, uint64_t lo) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(kExecutionIdPrefix);
  id.resize(kExecutionIdPrefix.size() + kUuidSize);
  char* out = id.data() + kExecutionIdPrefix.size();
  int digit = 0;
  for (size_t i = 0; i < kUuidSize; ++i) {
    if (IsDash(i)) {
      out[i] = '-';
      continue;
    }
    const uint64_t word = digit < 16 ? hi : lo;
    out[i] = kHex[(word >> (4 * (15 - digit % 16))) & 0xf];
    ++digit;
  }
  return id;
}

// Keys read per List call when the cache (re-)lists the store.
constexpr size_t kListPage = 5'000;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::optional<Json> ParseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

// ---- executions in compact form ----

JobCache::Text JobCache::Intern(std::string_view s) {
  if (s.empty()) return 0;
  if (const int64_t millis = ParseMillis(s); millis >= 0) {
    return (static_cast<uint64_t>(millis) << 1) | 1;
  }
  auto it = interned_.find(s);
  if (it == interned_.end()) {
    auto entry = std::make_unique<Interned>();
    entry->text = std::string(s);
    const std::string_view key = entry->text;
    it = interned_.emplace(key, std::move(entry)).first;
  }
  ++it->second->holders;
  return reinterpret_cast<Text>(it->second.get());
}

void JobCache::Release(Text t) {
  if (t == 0 || (t & 1) != 0) return;
  Interned* entry = reinterpret_cast<Interned*>(t);
  if (--entry->holders == 0) interned_.erase(std::string_view(entry->text));
}

std::optional<JobCache::Text> JobCache::Find(std::string_view s) const {
  if (s.empty()) return Text{0};
  if (const int64_t millis = ParseMillis(s); millis >= 0) {
    return (static_cast<uint64_t>(millis) << 1) | 1;
  }
  auto it = interned_.find(s);
  if (it == interned_.end()) return std::nullopt;
  return reinterpret_cast<Text>(it->second.get());
}

std::string JobCache::Str(Text t) const {
  if (t == 0) return std::string();
  if ((t & 1) != 0) {
    std::string out(kTimestampSize, '\0');
    FormatMillis(static_cast<int64_t>(t >> 1), out.data());
    return out;
  }
  return reinterpret_cast<const Interned*>(t)->text;
}

JobCache::ExecutionKey JobCache::InternKey(std::string_view id) {
  if (std::optional<ExecutionUuid> key = ParseExecutionUuid(id); key && key->hi != 0) return *key;
  return {0, Intern(id)};
}

std::optional<JobCache::ExecutionKey> JobCache::FindKey(std::string_view id) const {
  if (std::optional<ExecutionUuid> key = ParseExecutionUuid(id); key && key->hi != 0) return *key;
  std::optional<Text> t = Find(id);
  if (!t) return std::nullopt;
  return ExecutionKey{0, *t};
}

std::string JobCache::IdOf(const ExecutionKey& key) const {
  return key.hi != 0 ? FormatExecutionUuid(key.hi, key.lo) : Str(key.lo);
}

JobCache::CachedExecution JobCache::Compact(const ExecutionRecord& e, int64_t mod_revision) {
  CachedExecution c;
  c.mod_revision = mod_revision;
  c.job_id = Intern(e.job_id);
  c.namespace_ = Intern(e.namespace_);
  c.name = Intern(e.name);
  c.node_id = Intern(e.node_id);
  c.desired_state = Intern(e.desired_state);
  c.state = Intern(e.state);
  c.health = Intern(e.health);
  c.message = Intern(e.message);
  c.stable_at = Intern(e.stable_at);
  c.created_at = Intern(e.created_at);
  c.updated_at = Intern(e.updated_at);
  c.rollout_id = e.rollout_id;
  c.replaced_for_rollout = e.replaced_for_rollout;
  c.version = e.version;
  c.restarts = e.restarts;
  c.attempt = e.attempt;
  c.wave = e.wave;
  c.replaced_for_version = e.replaced_for_version;
  c.replaced_for_wave = e.replaced_for_wave;
  c.rollback_of = e.rollback_of;
  c.has_exit_code = e.exit_code.has_value();
  c.exit_code = e.exit_code.value_or(0);
  return c;
}

void JobCache::ReleaseAll(const CachedExecution& c) {
  for (Text t : {c.job_id, c.namespace_, c.name, c.node_id, c.desired_state, c.state, c.health,
                 c.message, c.stable_at, c.created_at, c.updated_at}) {
    Release(t);
  }
}

Versioned<ExecutionRecord> JobCache::Expand(const ExecutionKey& key,
                                            const CachedExecution& c) const {
  Versioned<ExecutionRecord> v;
  v.mod_revision = c.mod_revision;
  ExecutionRecord& e = v.value;
  e.id = IdOf(key);
  e.job_id = Str(c.job_id);
  e.namespace_ = Str(c.namespace_);
  e.name = Str(c.name);
  e.node_id = Str(c.node_id);
  e.version = c.version;
  e.desired_state = Str(c.desired_state);
  e.state = Str(c.state);
  e.health = Str(c.health);
  if (c.has_exit_code) e.exit_code = c.exit_code;
  e.restarts = c.restarts;
  e.stable_at = Str(c.stable_at);
  e.message = Str(c.message);
  e.created_at = Str(c.created_at);
  e.updated_at = Str(c.updated_at);
  e.rollout_id = c.rollout_id;
  e.attempt = c.attempt;
  e.wave = c.wave;
  e.replaced_for_rollout = c.replaced_for_rollout;
  e.replaced_for_version = c.replaced_for_version;
  e.replaced_for_wave = c.replaced_for_wave;
  e.rollback_of = c.rollback_of;
  return v;
}

ExecutionChange JobCache::ChangeOf(const ExecutionKey& key, const CachedExecution* prev,
                                   const ExecutionRecord* next) const {
  ExecutionChange c;
  if (next != nullptr) {
    c.id = next->id;
    c.job_id = next->job_id;
    c.node_id = next->node_id;
  } else {
    c.id = IdOf(key);
    c.job_id = Str(prev->job_id);
    c.node_id = Str(prev->node_id);
  }
  c.created = prev == nullptr;
  c.deleted = next == nullptr;
  c.assignment_changed = prev == nullptr || next == nullptr ||
                         Str(prev->desired_state) != next->desired_state ||
                         Terminal(Str(prev->state)) != Terminal(next->state);
  c.started = next && (next->state == "starting" || next->state == "running");
  c.terminal = next == nullptr || Terminal(next->state);
  c.restarts = next ? next->restarts : 0;
  return c;
}

void JobCache::ReleaseMap(const ExecutionMap& map) {
  for (const auto& entry : map) {
    UnindexNode(&entry);
    ReleaseAll(entry.second);
    Release(entry.first.hi == 0 ? entry.first.lo : 0);
  }
}

JobCache::JobCache(store::Store& store, CacheHandlers handlers)
    : store_(store), handlers_(std::move(handlers)) {}

JobCache::~JobCache() { Stop(); }

Status JobCache::Start() {
  Status s = ListAndWatch();
  if (!s.ok()) return s;
  relister_ = std::thread([this] { RelistLoop(); });
  return Status::Ok();
}

void JobCache::Stop() {
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  revision_cv_.notify_all();
  if (relister_.joinable()) relister_.join();
  watch_.reset();
}

Status JobCache::ListAndWatch() {
  // The store is read in pages and each page applied as it comes, under the exclusive lock for
  // the whole list so that no reader sees half a cache (a relist of a million executions never
  // holds them all as text at once). Pages are consistent reads at increasing revisions; the
  // watch starts after the first one's, and re-applying an event a page already showed is
  // harmless (puts and deletes are idempotent by revision).
  Notices after;
  int64_t from = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    // what was there before a re-list: kept aside to tell what changed, and put back should
    // the store fail half way
    std::unordered_map<std::string, JobEntry> old;
    old.swap(jobs_);
    std::unordered_map<std::string, ExecutionMap> old_orphans;
    old_orphans.swap(orphan_executions_);
    std::unordered_map<std::string, std::string> old_job_keys;
    old_job_keys.swap(job_key_to_id_);
    std::unordered_map<std::string, Versioned<RolloutRecord>> old_orphan_rollouts;
    old_orphan_rollouts.swap(orphan_rollouts_);
    std::unordered_map<Text, std::vector<const ExecutionMap::value_type*>> old_by_node;
    old_by_node.swap(by_node_);
    selector_index_.Clear();
    // the old executions keep their interned strings until the new ones hold theirs too
    Status listed = Status::Ok();
    for (const std::string& prefix : {keys::kJobs, keys::kRollouts, keys::kExecutions}) {
      std::string start_after;
      while (listed.ok()) {
        Result<store::RangeResult> page = store_.List(prefix, start_after, kListPage);
        if (!page.ok()) {
          listed = page.status();
          break;
        }
        if (from == 0 || page->revision < from) from = page->revision;
        for (const store::KeyValue& kv : page->items) ApplyPut(kv, nullptr);
        if (!page->more || page->items.empty()) break;
        start_after = page->items.back().key;
      }
    }
    if (!listed.ok()) {
      for (auto& [id, entry] : jobs_) ReleaseMap(entry.executions);
      for (auto& [id, map] : orphan_executions_) ReleaseMap(map);
      jobs_.swap(old);
      orphan_executions_.swap(old_orphans);
      job_key_to_id_.swap(old_job_keys);
      orphan_rollouts_.swap(old_orphan_rollouts);
      by_node_.swap(old_by_node);
      selector_index_.Clear();
      for (const auto& [id, entry] : jobs_) selector_index_.Set(id, entry.job.value.spec.selector);
      return listed;
    }
    old_by_node.clear();
    // Only what changed is noticed (a relist of an unchanged store notices every job but no
    // execution); at the start, `old` is empty and every execution is new.
    for (auto& [id, entry] : old) {
      auto now = jobs_.find(id);
      for (auto& [key, e] : entry.executions) {
        const bool still = now != jobs_.end() && now->second.executions.count(key);
        if (!still) NoticeExecution(ChangeOf(key, &e, nullptr), &after);
      }
      if (!jobs_.count(id)) NoticeJob(id, &after);
    }
    for (auto& [id, entry] : jobs_) {
      NoticeJob(id, &after);
      if (!handlers_.execution_changed) continue;
      auto before = old.find(id);
      for (auto& [key, e] : entry.executions) {
        const CachedExecution* prev = nullptr;
        if (before != old.end()) {
          auto was = before->second.executions.find(key);
          if (was != before->second.executions.end()) {
            if (was->second.mod_revision == e.mod_revision) continue;  // unchanged
            prev = &was->second;
          }
        }
        Versioned<ExecutionRecord> record = Expand(key, e);
        NoticeExecution(ChangeOf(key, prev, &record.value), &after);
      }
    }
    // the node index was rebuilt: only the interned strings of the old maps are released
    for (auto& [id, entry] : old) {
      for (const auto& [key, e] : entry.executions) {
        ReleaseAll(e);
        Release(key.hi == 0 ? key.lo : 0);
      }
    }
    for (auto& [id, map] : old_orphans) {
      for (const auto& [key, e] : map) {
        ReleaseAll(e);
        Release(key.hi == 0 ? key.lo : 0);
      }
    }
  }
  Deliver(after);
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    revision_ = std::max(revision_, from);
    needs_relist_ = false;
  }
  revision_cv_.notify_all();
  watch_.reset();
  Result<std::unique_ptr<store::WatchHandle>> watch = store_.Watch(
      keys::kRoot, from, [this](const std::vector<store::Event>& events, const Status& status) {
        OnWatch(events, status);
      });
  if (!watch.ok()) return watch.status();
  watch_ = std::move(watch).value();
  return Status::Ok();
}

void JobCache::OnWatch(const std::vector<store::Event>& events, const Status& status) {
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(revision_mu_);
    needs_relist_ = true;
    revision_cv_.notify_all();
    return;
  }
  Notices after;
  int64_t revision = 0;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (const store::Event& e : events) {
      Apply(e, &after);
      revision = std::max(revision, e.kv.mod_revision);
    }
  }
  // Handlers first, then the revision: whoever waits for a revision (WaitForRevision) also sees
  // what the handlers did for it (queued jobs, woken long polls, timings).
  Deliver(after);
  {
    std::lock_guard<std::mutex> lock(revision_mu_);
    revision_ = std::max(revision_, revision);
  }
  revision_cv_.notify_all();
}

void JobCache::RelistLoop() {
  std::unique_lock<std::mutex> lock(revision_mu_);
  while (!stopping_) {
    revision_cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping_ || !needs_relist_) continue;
    lock.unlock();
    Status s = ListAndWatch();
    lock.lock();
    if (!s.ok()) needs_relist_ = true;  // try again on the next turn
  }
}

void JobCache::NoticeJob(const std::string& job_id, Notices* after) const {
  if (after == nullptr || !handlers_.job_changed) return;
  Notice n;
  n.job = true;
  n.change.job_id = job_id;
  after->push_back(std::move(n));
}

void JobCache::NoticeExecution(ExecutionChange change, Notices* after) const {
  if (after == nullptr || !handlers_.execution_changed) return;
  after->push_back({false, std::move(change)});
}

void JobCache::Deliver(Notices& after) {
  for (Notice& n : after) {
    if (n.job) {
      handlers_.job_changed(n.change.job_id);
    } else {
      handlers_.execution_changed(n.change);
    }
    n = Notice();  // a large batch's strings go as they are delivered
  }
  after = Notices();
}

void JobCache::Apply(const store::Event& event, Notices* after) {
  if (event.type == store::Event::Type::kPut) {
    ApplyPut(event.kv, after);
  } else {
    ApplyDelete(event.kv.key, event.kv.mod_revision, after);
  }
}

void JobCache::ApplyPut(const store::KeyValue& kv, Notices* after) {
  const std::string& key = kv.key;
  if (StartsWith(key, keys::kJobs)) {
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<JobRecord> job = JobRecordFromJson(*json);
    if (!job.ok()) return;
    const std::string id = job->id;
    JobEntry& entry = jobs_[id];
    if (entry.job.mod_revision > kv.mod_revision) return;
    if (!entry.selector || !(entry.job.value.spec.selector == job->spec.selector)) {
      Result<NodeSelector> selector = NodeSelector::Create(job->spec.selector);
      entry.selector = selector.ok()
                           ? std::make_shared<const NodeSelector>(std::move(selector).value())
                           : nullptr;
      selector_index_.Set(id, job->spec.selector);
    }
    entry.job = {std::move(job).value(), kv.mod_revision};
    job_key_to_id_[key] = id;
    if (auto o = orphan_rollouts_.find(id); o != orphan_rollouts_.end()) {
      entry.rollout = std::move(o->second);
      orphan_rollouts_.erase(o);
    }
    if (auto o = orphan_executions_.find(id); o != orphan_executions_.end()) {
      for (auto& orphan : o->second) {
        const ExecutionKey& key = orphan.first;
        UnindexNode(&orphan);
        auto it = entry.executions.find(key);
        if (it != entry.executions.end()) {
          // already there (cannot happen for a job that was missing): the orphan wins, as before
          UnindexNode(&*it);
          ReleaseAll(it->second);
          Release(key.hi == 0 ? key.lo : 0);
          it->second = orphan.second;
        } else {
          it = entry.executions.emplace(key, orphan.second).first;
        }
        IndexNode(&*it);
      }
      orphan_executions_.erase(o);
    }
    NoticeJob(id, after);
    return;
  }
  if (StartsWith(key, keys::kRollouts)) {
    std::string id = key.substr(keys::kRollouts.size());
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<RolloutRecord> rollout = RolloutRecordFromJson(*json);
    if (!rollout.ok()) return;
    Versioned<RolloutRecord> v{std::move(rollout).value(), kv.mod_revision};
    auto it = jobs_.find(id);
    if (it == jobs_.end()) {
      orphan_rollouts_[id] = std::move(v);
      return;
    }
    if (it->second.rollout && it->second.rollout->mod_revision > kv.mod_revision) return;
    it->second.rollout = std::move(v);
    NoticeJob(id, after);
    return;
  }
  if (StartsWith(key, keys::kExecutions)) {
    std::optional<Json> json = ParseJson(kv.value);
    if (!json) return;
    Result<ExecutionRecord> record = ExecutionFromJson(*json);
    if (!record.ok()) return;
    const ExecutionRecord& next = *record;
    auto it = jobs_.find(next.job_id);
    ExecutionMap& bucket =
        it == jobs_.end() ? orphan_executions_[next.job_id] : it->second.executions;
    std::optional<ExecutionKey> found = FindKey(next.id);
    auto e = found ? bucket.find(*found) : bucket.end();
    std::optional<ExecutionChange> change;
    if (e != bucket.end()) {
      if (e->second.mod_revision > kv.mod_revision) return;
      if (after && handlers_.execution_changed) change = ChangeOf(e->first, &e->second, &next);
      // in place: the node index keeps pointing at it (re-indexed should its node ever change)
      CachedExecution compact = Compact(next, kv.mod_revision);
      const bool moved = compact.node_id != e->second.node_id;
      if (moved) UnindexNode(&*e);
      ReleaseAll(e->second);
      e->second = compact;
      if (moved) IndexNode(&*e);
    } else {
      const ExecutionKey key = InternKey(next.id);
      auto [inserted, ok] = bucket.emplace(key, Compact(next, kv.mod_revision));
      IndexNode(&*inserted);
      if (after && handlers_.execution_changed) change = ChangeOf(key, nullptr, &next);
    }
    if (change) NoticeExecution(std::move(*change), after);
  }
}

void JobCache::ApplyDelete(const std::string& key, int64_t revision, Notices* after) {
  if (StartsWith(key, keys::kJobs)) {
    auto k = job_key_to_id_.find(key);
    if (k == job_key_to_id_.end()) return;
    std::string id = k->second;
    if (auto j = jobs_.find(id); j != jobs_.end() && j->second.job.mod_revision > revision) return;
    job_key_to_id_.erase(k);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) {
      if (after && handlers_.execution_changed) {
        for (auto& [key, e] : it->second.executions) {
          NoticeExecution(ChangeOf(key, &e, nullptr), after);
        }
      }
      ReleaseMap(it->second.executions);
      jobs_.erase(it);
    }
    selector_index_.Erase(id);
    NoticeJob(id, after);
    return;
  }
  if (StartsWith(key, keys::kRollouts)) {
    std::string id = key.substr(keys::kRollouts.size());
    orphan_rollouts_.erase(id);
    auto it = jobs_.find(id);
    if (it != jobs_.end() && it->second.rollout && it->second.rollout->mod_revision < revision)
      it->second.rollout.reset();
    return;
  }
  if (StartsWith(key, keys::kExecutions)) {
    // /drover/executions/{job id}/{execution id}
    const std::string rest = key.substr(keys::kExecutions.size());
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) return;
    const std::string job_id = rest.substr(0, slash);
    const std::string eid = rest.substr(slash + 1);
    auto it = jobs_.find(job_id);
    ExecutionMap* bucket = nullptr;
    if (it != jobs_.end()) {
      bucket = &it->second.executions;
    } else if (auto o = orphan_executions_.find(job_id); o != orphan_executions_.end()) {
      bucket = &o->second;
    }
    if (bucket == nullptr) return;
    std::optional<ExecutionKey> key = FindKey(eid);
    if (!key) return;
    auto e = bucket->find(*key);
    if (e == bucket->end() || e->second.mod_revision > revision) return;
    ExecutionChange c = ChangeOf(e->first, &e->second, nullptr);
    UnindexNode(&*e);
    ReleaseAll(e->second);
    const Text id_text = key->hi == 0 ? key->lo : 0;
    bucket->erase(e);
    Release(id_text);
    NoticeExecution(std::move(c), after);
  }
}

void JobCache::IndexNode(const ExecutionMap::value_type* e) {
  by_node_[e->second.node_id].push_back(e);
}

void JobCache::UnindexNode(const ExecutionMap::value_type* e) {
  auto n = by_node_.find(e->second.node_id);
  if (n == by_node_.end()) return;
  auto& list = n->second;
  list.erase(std::remove(list.begin(), list.end(), e), list.end());
  if (list.empty()) by_node_.erase(n);
}

int64_t JobCache::Revision() const {
  std::lock_guard<std::mutex> lock(revision_mu_);
  return revision_;
}

bool JobCache::WaitForRevision(int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(revision_mu_);
  return revision_cv_.wait_for(lock, timeout, [&] { return revision_ >= revision || stopping_; }) &&
         revision_ >= revision;
}

std::optional<JobSnapshot> JobCache::Snapshot(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  JobSnapshot s;
  s.job = it->second.job;
  s.rollout = it->second.rollout;
  s.executions.reserve(it->second.executions.size());
  s.execution_revisions.reserve(it->second.executions.size());
  for (const auto& [key, e] : it->second.executions) {
    Versioned<ExecutionRecord> v = Expand(key, e);
    s.executions.push_back(std::move(v.value));
    s.execution_revisions.push_back(v.mod_revision);
  }
  return s;
}

std::optional<Versioned<JobRecord>> JobCache::Job(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.job;
}

size_t JobCache::ExecutionCount(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? 0 : it->second.executions.size();
}

std::vector<std::string> JobCache::JobIds() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> ids;
  ids.reserve(jobs_.size());
  for (const auto& [id, entry] : jobs_) ids.push_back(id);
  return ids;
}

std::vector<std::string> JobCache::JobsSelecting(std::string_view node_id, const Labels& old_labels,
                                                 const Labels& labels) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::unordered_set<std::string> candidates;
  selector_index_.AddCandidates(node_id, old_labels, &candidates);
  if (&old_labels != &labels) selector_index_.AddCandidates(node_id, labels, &candidates);
  std::vector<std::string> out;
  for (const std::string& id : candidates) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !it->second.selector) continue;
    const NodeSelector& s = *it->second.selector;
    if (s.Matches(node_id, old_labels) || s.Matches(node_id, labels)) out.push_back(id);
  }
  return out;
}

std::optional<int> JobCache::PriorityOf(const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.job.value.spec.priority;
}

std::optional<Versioned<ExecutionRecord>> JobCache::Execution(const std::string& execution_id,
                                                              const std::string& job_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const std::optional<ExecutionKey> key = FindKey(execution_id);
  if (!key) return std::nullopt;
  auto find_in = [&](const JobEntry& entry) -> std::optional<Versioned<ExecutionRecord>> {
    auto e = entry.executions.find(*key);
    if (e == entry.executions.end()) return std::nullopt;
    return Expand(e->first, e->second);
  };
  if (!job_id.empty()) {
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) {
      if (auto e = find_in(it->second)) return e;
    }
  }
  for (const auto& [id, entry] : jobs_) {
    if (auto e = find_in(entry)) return e;
  }
  return std::nullopt;
}

std::vector<ExecutionRecord> JobCache::ExecutionsOnNode(const std::string& node_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<ExecutionRecord> out;
  const std::optional<Text> node = Find(node_id);
  if (!node) return out;
  auto n = by_node_.find(*node);
  if (n == by_node_.end()) return out;
  out.reserve(n->second.size());
  for (const ExecutionMap::value_type* e : n->second) {
    out.push_back(Expand(e->first, e->second).value);
  }
  return out;
}

std::vector<std::string> JobCache::JobsOnNode(const std::string& node_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> out;
  const std::optional<Text> node = Find(node_id);
  if (!node) return out;
  auto n = by_node_.find(*node);
  if (n == by_node_.end()) return out;
  for (const ExecutionMap::value_type* e : n->second) out.push_back(Str(e->second.job_id));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::shared_ptr<const JobSpec>> JobCache::Spec(const std::string& job_id, int version) {
  {
    std::lock_guard<std::mutex> lock(spec_mu_);
    auto it = specs_.find({job_id, version});
    if (it != specs_.end()) return it->second;
  }
  Result<store::KeyValue> kv = store_.Get(keys::Version(job_id, version));
  if (!kv.ok()) return kv.status();
  std::optional<Json> json = ParseJson(kv->value);
  if (!json) return InternalError("version record " + kv->key + " is not JSON");
  Result<JobVersionRecord> record = JobVersionFromJson(*json);
  if (!record.ok()) return record.status();
  auto spec = std::make_shared<const JobSpec>(std::move(record->spec));
  std::lock_guard<std::mutex> lock(spec_mu_);
  specs_[{job_id, version}] = spec;
  return std::shared_ptr<const JobSpec>(spec);
}

Result<std::shared_ptr<const Json>> JobCache::AssignmentTemplate(const std::string& job_id,
                                                                 int version) {
  {
    std::lock_guard<std::mutex> lock(spec_mu_);
    auto it = templates_.find({job_id, version});
    if (it != templates_.end()) return it->second;
  }
  Result<std::shared_ptr<const JobSpec>> spec = Spec(job_id, version);
  if (!spec.ok()) return spec.status();
  Json encoded = EncodeJobSpec(**spec);
  Json t = {{"type", encoded.value("type", Json())},
            {"config", encoded.value("config", Json::object())},
            {"restart_policy", encoded.value("restart_policy", Json())},
            {"timeouts", encoded.value("timeouts", Json::object())},
            {"health_check", encoded.contains("rollout") && encoded["rollout"].is_object()
                                 ? encoded["rollout"].value("health_check", Json())
                                 : Json()},
            {"priority", (*spec)->priority}};
  auto shared = std::make_shared<const Json>(std::move(t));
  std::lock_guard<std::mutex> lock(spec_mu_);
  templates_[{job_id, version}] = shared;
  return std::shared_ptr<const Json>(shared);
}

JobCache::Counts JobCache::Count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  Counts c;
  std::unordered_map<Text, int64_t> states;
  for (const auto& [id, entry] : jobs_) {
    const JobRecord& j = entry.job.value;
    ++c.jobs[{j.spec.namespace_, std::string(JobTypeName(j.spec.type)), j.state}];
    if (entry.rollout) {
      const RolloutRecord& r = entry.rollout->value;
      ++c.rollouts[r.phase];
      if (!IsTerminalPhase(r.phase)) {
        c.rollouts_in_progress.push_back({j.spec.namespace_, j.spec.name, r.current_wave,
                                          r.total_waves, r.updated_nodes, r.target_nodes,
                                          r.failed_nodes});
      }
    }
    for (const auto& [key, e] : entry.executions) ++states[e.state];
  }
  for (const auto& [state, n] : states) c.executions[Str(state)] += n;
  return c;
}

}  // namespace drover::controller
