#include "controller/job_service.h"

#include <charconv>
#include <random>

#include "api/job_codec.h"
#include "api/selector.h"
#include "api/spec_diff.h"
#include "controller/keys.h"
#include "reconcilers/job_put.h"
#include "reconcilers/waves.h"

namespace drover::controller {
namespace {

constexpr int kPutAttempts = 8;

ApiAnswer Error(int status, std::string_view code, const std::string& message,
                const std::vector<FieldIssue>& details = {}) {
  return {status, ErrorBody(code, message, details)};
}

ApiAnswer ErrorFrom(const Status& s) { return {HttpStatusFor(s), ErrorBody(s)}; }

Result<Json> ParseValue(const store::KeyValue& kv) {
  try {
    return Json::parse(kv.value);
  } catch (const std::exception& e) {
    return InternalError("store value at " + kv.key + " is not JSON: " + e.what());
  }
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string ToHex(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> FromHex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = digit(s[i]), lo = digit(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

Json WarningsJson(const Diagnostics& d) {
  Json out = Json::array();
  for (const FieldIssue& w : d.warnings()) {
    out.push_back(w.field.empty() ? w.message : w.field + ": " + w.message);
  }
  return out;
}

std::string Ref(const JobSpec& spec) { return spec.namespace_ + "/" + spec.name; }

}  // namespace

store::Operation PutEvent(JobRecord* job, const std::string& now, std::string reason,
                          std::string message, std::string type) {
  EventRecord e;
  e.sequence = ++job->event_sequence;
  e.time = now;
  e.type = std::move(type);
  e.reason = std::move(reason);
  e.message = std::move(message);
  return store::Operation::Put(keys::Event(job->id, e.sequence), EventToJson(e).dump());
}

std::string NewJobId() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<uint64_t>(std::random_device{}()) << 32)};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return std::string("j-") + buffer;
}

JobService::JobService(store::Store& store, const Clock& clock, const NodeRegistry& nodes,
                       JobServiceOptions options)
    : store_(store), clock_(clock), nodes_(nodes), options_(options) {}

Result<StoredJob> JobService::ReadJob(const std::string& ns, const std::string& name) {
  Result<store::KeyValue> kv = store_.Get(keys::Job(ns, name));
  if (!kv.ok()) {
    if (kv.status().code() == StatusCode::kNotFound) {
      return NotFoundError("job " + ns + "/" + name + " not found");
    }
    return kv.status();
  }
  Result<Json> json = ParseValue(*kv);
  if (!json.ok()) return json.status();
  Result<JobRecord> job = JobRecordFromJson(*json);
  if (!job.ok()) return job.status();
  StoredJob stored{std::move(job).value(), kv->mod_revision, std::nullopt, 0};
  Result<store::KeyValue> rollout = store_.Get(keys::Rollout(stored.job.id));
  if (rollout.ok()) {
    Result<Json> rj = ParseValue(*rollout);
    if (!rj.ok()) return rj.status();
    Result<RolloutRecord> r = RolloutRecordFromJson(*rj);
    if (!r.ok()) return r.status();
    stored.rollout = std::move(r).value();
    stored.rollout_revision = rollout->mod_revision;
  } else if (rollout.status().code() != StatusCode::kNotFound) {
    return rollout.status();
  }
  return stored;
}

Result<StoredJob> JobService::Find(const std::string& ref, const std::string& ns) {
  if (ref.size() > 2 && ref.rfind("j-", 0) == 0) {
    Result<store::KeyValue> index = store_.Get(keys::JobId(ref));
    if (index.ok()) {
      size_t slash = index->value.find('/');
      if (slash == std::string::npos) return InternalError("malformed job id index for " + ref);
      return ReadJob(index->value.substr(0, slash), index->value.substr(slash + 1));
    }
    if (index.status().code() != StatusCode::kNotFound) return index.status();
  }
  const std::string& space = ns.empty() ? std::string(JobDefaults::kNamespace) : ns;
  if (!IsValidObjectName(ref, kMaxJobNameLength) ||
      !IsValidObjectName(space, kMaxNamespaceLength)) {
    return NotFoundError("job \"" + ref + "\" not found: not a job id or name");
  }
  return ReadJob(space, ref);
}

std::string JobService::NamespaceOf(const std::string& ref, const std::string& ns) {
  Result<StoredJob> found = Find(ref, ns);
  if (found.ok()) return found->job.spec.namespace_;
  return ns.empty() ? std::string(JobDefaults::kNamespace) : ns;
}

Json JobService::JobJson(const StoredJob& s) {
  const JobRecord& j = s.job;
  Json status = {{"state", j.state},
                 {"version", j.version},
                 {"revision", s.mod_revision},
                 {"stable_version", j.stable_version ? Json(*j.stable_version) : Json(nullptr)},
                 {"failed_version", j.failed_version ? Json(*j.failed_version) : Json(nullptr)},
                 {"rollout", s.rollout ? RolloutStatusJson(*s.rollout) : Json(nullptr)},
                 {"created_at", j.created_at},
                 {"updated_at", j.updated_at},
                 {"message", j.message}};
  return {{"id", j.id}, {"spec", EncodeJobSpec(j.spec)}, {"status", status}};
}

Json JobService::Plan(const JobSpec& spec, const std::string& job_id) const {
  Result<NodeSelector> selector = NodeSelector::Create(spec.selector);
  std::vector<std::string> ids;
  if (selector.ok()) {
    for (const NodeSnapshot& n : nodes_.List()) {
      if (n.state == "connected" && n.record.schedulable &&
          selector->Matches(n.record.id, n.record.labels)) {
        ids.push_back(n.record.id);
      }
    }
  }
  std::vector<std::string> ordered = OrderTargets(job_id.empty() ? Ref(spec) : job_id, ids);
  WavePlan plan = PlanWaves(spec.rollout, ordered);
  return {{"target_nodes", ordered}, {"canary", plan.canary}, {"waves", plan.waves}};
}

ApiAnswer JobService::Put(const CheckedRequest& checked) {
  if (!checked.ok()) {
    size_t n = checked.diagnostics.errors().size();
    return Error(400, "invalid",
                 "invalid job spec: " + std::to_string(n) + (n == 1 ? " problem" : " problems"),
                 checked.diagnostics.errors());
  }
  const PutJobRequest& request = checked.decoded.request;
  for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
    Result<StoredJob> existing = ReadJob(checked.spec().namespace_, checked.spec().name);
    if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
      return ErrorFrom(existing.status());
    }
    const StoredJob* current = existing.ok() ? &existing.value() : nullptr;
    // The system's own meta (validation dropped any the user sent): kept from the stored job,
    // the applied set replaced when the request names one. It never makes a new version.
    JobSpec spec = checked.spec();
    if (current != nullptr) {
      for (const auto& [k, v] : current->job.spec.meta) {
        if (IsReservedMetaKey(k)) spec.meta[k] = v;
      }
    }
    if (!request.applied_set.empty()) spec.meta[kAppliedSetMetaKey] = request.applied_set;
    const bool bookkeeping_only = current != nullptr && !(current->job.spec == spec) &&
                                  SameSpecIgnoringReservedMeta(current->job.spec, spec);
    PutDecision decision = DecidePut(current ? &current->job : nullptr, spec, request.force);
    if (bookkeeping_only) {
      JobRecord unchanged = current->job;
      decision = DecidePut(&unchanged, unchanged.spec, request.force);
    }

    if (request.dry_run) {
      bool changed = decision.outcome == PutOutcome::kCreated ||
                     decision.outcome == PutOutcome::kUpdated ||
                     decision.outcome == PutOutcome::kForced;
      return {200,
              {{"dry_run", true},
               {"changed", changed},
               {"version", decision.version},
               {"diff", SpecDiff(current ? &current->job.spec : nullptr, spec,
                                 current ? "v" + std::to_string(current->job.version) : "none",
                                 "proposed")},
               {"job", EncodeJobSpec(spec)},
               {"warnings", WarningsJson(checked.diagnostics)},
               {"plan", Plan(spec, current ? current->job.id : "")}}};
    }
    if (decision.outcome == PutOutcome::kUnchanged) {
      if (bookkeeping_only) {
        // Only the applied set moved (a manifest moved to another folder): record it, with no
        // version and no rollout, so that the old folder's prune leaves the job alone.
        JobRecord job = current->job;
        job.spec.meta = spec.meta;
        store::Transaction txn;
        txn.compares.push_back({keys::Job(spec.namespace_, spec.name),
                                store::Compare::Target::kModRevision, current->mod_revision});
        txn.success.push_back(store::Operation::Put(keys::Job(spec.namespace_, spec.name),
                                                    JobRecordToJson(job).dump()));
        Result<store::TransactionResult> committed = store_.Commit(txn);
        if (!committed.ok()) return ErrorFrom(committed.status());
        if (!committed->succeeded) continue;
      }
      return Error(422, "unchanged",
                   "job " + Ref(spec) + " is unchanged at version " +
                       std::to_string(current->job.version) +
                       "; nothing was written (use force to roll it out again)");
    }

    const std::string now = clock_.WallTime();
    JobRecord job;
    store::Transaction txn;
    if (current == nullptr) {
      job.id = NewJobId();
      job.spec = spec;
      job.version = 1;
      job.created_at = now;
      txn.compares.push_back(
          {keys::Job(spec.namespace_, spec.name), store::Compare::Target::kCreateRevision, 0});
      txn.success.push_back(store::Operation::Put(keys::JobId(job.id), Ref(spec)));
    } else {
      job = current->job;
      job.spec = spec;
      job.version = decision.version;
      txn.compares.push_back({keys::Job(spec.namespace_, spec.name),
                              store::Compare::Target::kModRevision, current->mod_revision});
    }
    job.state = std::string(kJobPending);
    job.failed_version.reset();
    job.message.clear();
    job.updated_at = now;

    if (current != nullptr && current->rollout && !IsTerminalPhase(current->rollout->phase)) {
      RolloutRecord old = *current->rollout;
      txn.success.push_back(PutEvent(&job, now, "RolloutSuperseded",
                                     "rollout to version " + std::to_string(old.to_version) +
                                         " superseded by version " +
                                         std::to_string(decision.version)));
    }
    switch (decision.outcome) {
      case PutOutcome::kCreated:
        txn.success.push_back(PutEvent(&job, now, "JobCreated", "created version 1"));
        break;
      case PutOutcome::kUpdated:
        txn.success.push_back(
            PutEvent(&job, now, "JobUpdated", "updated to version " + std::to_string(job.version)));
        break;
      case PutOutcome::kForced:
        txn.success.push_back(PutEvent(&job, now, "JobForced",
                                       "version " + std::to_string(job.version) +
                                           " forced with an unchanged spec: a re-rollout"));
        break;
      case PutOutcome::kRestarted:
        txn.success.push_back(PutEvent(&job, now, "JobRestarted",
                                       "started again at version " + std::to_string(job.version)));
        break;
      case PutOutcome::kUnchanged:
        break;
    }
    if (decision.new_version) {
      JobVersionRecord v{job.version, spec, now, decision.outcome == PutOutcome::kForced};
      txn.success.push_back(
          store::Operation::Put(keys::Version(job.id, job.version), JobVersionToJson(v).dump()));
      int expired = job.version - options_.history_limit;
      if (expired >= 1)
        txn.success.push_back(store::Operation::Delete(keys::Version(job.id, expired)));
    }
    int64_t expired_event = job.event_sequence - options_.events_per_job;
    for (int64_t e = std::max<int64_t>(1, expired_event - 2); e <= expired_event; ++e) {
      txn.success.push_back(store::Operation::Delete(keys::Event(job.id, e)));
    }
    RolloutRecord rollout = NewRollout(spec, job.stable_version, job.version, now);
    rollout.rollout_id = job.event_sequence;  // unique per job: sequences only grow
    txn.success.push_back(
        store::Operation::Put(keys::Rollout(job.id), RolloutRecordToJson(rollout).dump()));
    txn.success.insert(
        txn.success.begin(),
        store::Operation::Put(keys::Job(spec.namespace_, spec.name), JobRecordToJson(job).dump()));

    Result<store::TransactionResult> committed = store_.Commit(txn);
    if (!committed.ok()) return ErrorFrom(committed.status());
    if (!committed->succeeded) continue;  // raced with another writer: decide again
    StoredJob stored{job, committed->revision, rollout, committed->revision};
    return {decision.http_status,
            {{"job_id", job.id},
             {"version", job.version},
             {"warnings", WarningsJson(checked.diagnostics)},
             {"job", JobJson(stored)}}};
  }
  return Error(409, "conflict",
               "job " + Ref(checked.spec()) + " is being changed concurrently; try again");
}

ApiAnswer JobService::Diff(const CheckedRequest& checked) {
  if (!checked.ok()) {
    return Error(400, "invalid", "invalid job spec", checked.diagnostics.errors());
  }
  const JobSpec& spec = checked.spec();
  Result<StoredJob> existing = ReadJob(spec.namespace_, spec.name);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
    return ErrorFrom(existing.status());
  }
  const JobSpec* old = existing.ok() ? &existing->job.spec : nullptr;
  return {200,
          {{"diff", SpecDiff(old, spec,
                             existing.ok() ? "v" + std::to_string(existing->job.version) : "none",
                             "proposed")}}};
}

ApiAnswer JobService::Get(const std::string& ref, const std::string& ns) {
  Result<StoredJob> found = Find(ref, ns);
  if (!found.ok()) return ErrorFrom(found.status());
  return {200, {{"job", JobJson(*found)}}};
}

ApiAnswer JobService::List(const std::string& ns, const std::string& label_selector,
                           const std::string& state, const std::string& limit_text,
                           const std::string& next_token) {
  Result<NodeSelector> selector = ParseSelectorString(label_selector);
  if (!selector.ok()) {
    return Error(400, "invalid", "invalid label selector",
                 {{"labels", selector.status().message()}});
  }
  size_t limit = 0;
  if (!limit_text.empty()) {
    std::optional<int64_t> n = ParseInt(limit_text);
    if (!n || *n < 1 || *n > 10000) {
      return Error(400, "invalid", "invalid limit",
                   {{"limit", "must be an integer from 1 to 10000"}});
    }
    limit = static_cast<size_t>(*n);
  }
  std::string space = ns.empty() ? std::string(JobDefaults::kNamespace) : ns;
  if (space != "*" && !IsValidObjectName(space, kMaxNamespaceLength)) {
    return Error(400, "invalid", "invalid namespace",
                 {{"namespace",
                   "not a valid namespace (lowercase letters, digits, '-', '_', '.'; "
                   "at most 63 characters)"}});
  }
  std::string prefix = space == "*" ? keys::kJobs : keys::JobsIn(space);
  std::string after;
  if (!next_token.empty()) {
    std::optional<std::string> decoded = FromHex(next_token);
    if (!decoded || decoded->rfind(prefix, 0) != 0) {
      return Error(400, "invalid", "invalid next_token",
                   {{"next_token", "not a token from this listing"}});
    }
    after = *decoded;
  }
  Json items = Json::array();
  std::string last_key;
  bool more = false;
  // Filters apply after reading, so read in pages until the page is full.
  while (true) {
    Result<store::RangeResult> page = store_.List(prefix, after, limit == 0 ? 0 : limit + 1);
    if (!page.ok()) return ErrorFrom(page.status());
    for (const store::KeyValue& kv : page->items) {
      after = kv.key;
      if (limit != 0 && items.size() == limit) {
        more = true;
        break;
      }
      Result<Json> json = ParseValue(kv);
      if (!json.ok()) return ErrorFrom(json.status());
      Result<JobRecord> job = JobRecordFromJson(*json);
      if (!job.ok()) return ErrorFrom(job.status());
      if (!selector->MatchesLabels(job->spec.labels)) continue;
      if (!state.empty() && job->state != state) continue;
      Result<StoredJob> stored = ReadJob(job->spec.namespace_, job->spec.name);
      if (!stored.ok()) continue;  // deleted meanwhile
      items.push_back(JobJson(*stored));
      last_key = kv.key;
    }
    if (more || !page->more || limit == 0) break;
  }
  return {200, {{"items", items}, {"next_token", more ? Json(ToHex(last_key)) : Json(nullptr)}}};
}

ApiAnswer JobService::ListOfJob(const std::string& ref, const std::string& ns,
                                std::string (*prefix_of)(std::string_view job_id)) {
  Result<StoredJob> found = Find(ref, ns);
  if (!found.ok()) return ErrorFrom(found.status());
  return ValuesUnder(prefix_of(found->job.id));
}

ApiAnswer JobService::ValuesUnder(const std::string& prefix) {
  Result<store::RangeResult> list = store_.List(prefix);
  if (!list.ok()) return ErrorFrom(list.status());
  Json items = Json::array();
  for (const store::KeyValue& kv : list->items) {
    Result<Json> json = ParseValue(kv);
    if (!json.ok()) return ErrorFrom(json.status());
    items.push_back(*json);
  }
  return {200, {{"items", items}, {"next_token", nullptr}}};
}

ApiAnswer JobService::Versions(const std::string& ref, const std::string& ns) {
  return ListOfJob(ref, ns, &keys::VersionsOf);
}

ApiAnswer JobService::Version(const std::string& ref, const std::string& ns, const std::string& n) {
  Result<StoredJob> found = Find(ref, ns);
  if (!found.ok()) return ErrorFrom(found.status());
  std::optional<int64_t> version = ParseInt(n);
  if (!version || *version < 1 || *version > INT32_MAX) {
    return Error(400, "invalid", "invalid version", {{"version", "must be a positive integer"}});
  }
  Result<store::KeyValue> kv = store_.Get(keys::Version(found->job.id, static_cast<int>(*version)));
  if (!kv.ok()) {
    return Error(404, "not_found",
                 "version " + n + " of job " + Ref(found->job.spec) +
                     " not found (kept: the last " + std::to_string(options_.history_limit) + ")");
  }
  Result<Json> json = ParseValue(*kv);
  if (!json.ok()) return ErrorFrom(json.status());
  return {200, {{"version", *json}}};
}

ApiAnswer JobService::VersionsDiff(const std::string& ref, const std::string& ns,
                                   const std::string& from, const std::string& to) {
  Result<StoredJob> found = Find(ref, ns);
  if (!found.ok()) return ErrorFrom(found.status());
  std::vector<FieldIssue> problems;
  std::optional<int64_t> a = ParseInt(from), b = ParseInt(to);
  if (!a || *a < 1 || *a > INT32_MAX) problems.push_back({"from", "must be a version number"});
  if (!b || *b < 1 || *b > INT32_MAX) problems.push_back({"to", "must be a version number"});
  if (!problems.empty()) return Error(400, "invalid", "invalid version range", problems);
  JobVersionRecord records[2];
  for (int i = 0; i < 2; ++i) {
    int v = static_cast<int>(i == 0 ? *a : *b);
    Result<store::KeyValue> kv = store_.Get(keys::Version(found->job.id, v));
    if (!kv.ok()) {
      return Error(
          404, "not_found",
          "version " + std::to_string(v) + " of job " + Ref(found->job.spec) + " not found");
    }
    Result<Json> json = ParseValue(*kv);
    if (!json.ok()) return ErrorFrom(json.status());
    Result<JobVersionRecord> record = JobVersionFromJson(*json);
    if (!record.ok()) return ErrorFrom(record.status());
    records[i] = std::move(record).value();
  }
  return {200,
          {{"from", *a},
           {"to", *b},
           {"diff", SpecDiff(&records[0].spec, records[1].spec, "v" + from, "v" + to)}}};
}

ApiAnswer JobService::Executions(const std::string& ref, const std::string& ns,
                                 const std::string& version, const std::string& state) {
  Result<StoredJob> found = Find(ref, ns);
  if (!found.ok()) return ErrorFrom(found.status());
  std::optional<int64_t> want_version;
  if (!version.empty()) {
    want_version = ParseInt(version);
    if (!want_version) {
      return Error(400, "invalid", "invalid version", {{"version", "must be an integer"}});
    }
  }
  Result<store::RangeResult> list = store_.List(keys::ExecutionsOf(found->job.id));
  if (!list.ok()) return ErrorFrom(list.status());
  Json items = Json::array();
  for (const store::KeyValue& kv : list->items) {
    Result<Json> json = ParseValue(kv);
    if (!json.ok()) return ErrorFrom(json.status());
    Result<ExecutionRecord> e = ExecutionFromJson(*json);
    if (!e.ok()) return ErrorFrom(e.status());
    if (want_version && e->version != *want_version) continue;
    if (!state.empty() && e->state != state) continue;
    items.push_back(ExecutionToJson(*e));
  }
  return {200, {{"items", items}, {"next_token", nullptr}}};
}

ApiAnswer JobService::Results(const StoredJob& stored) {
  ApiAnswer answer = ValuesUnder(keys::ResultsOf(stored.job.id));
  if (answer.status == 200) answer.body["job_id"] = stored.job.id;
  return answer;
}

ApiAnswer JobService::Events(const std::string& ref, const std::string& ns) {
  return ListOfJob(ref, ns, &keys::EventsOf);
}

ApiAnswer JobService::Stop(const std::string& ref, const std::string& ns, bool purge) {
  for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
    Result<StoredJob> found = Find(ref, ns);
    if (!found.ok()) return ErrorFrom(found.status());
    StoredJob stored = std::move(found).value();
    JobRecord& job = stored.job;
    const std::string now = clock_.WallTime();
    store::Transaction txn;
    std::string job_key = keys::Job(job.spec.namespace_, job.spec.name);
    txn.compares.push_back({job_key, store::Compare::Target::kModRevision, stored.mod_revision});
    if (purge) {
      txn.success.push_back(store::Operation::Delete(job_key));
      txn.success.push_back(store::Operation::Delete(keys::JobId(job.id)));
      txn.success.push_back(store::Operation::Delete(keys::Rollout(job.id)));
      txn.success.push_back(store::Operation::DeletePrefix(keys::VersionsOf(job.id)));
      txn.success.push_back(store::Operation::DeletePrefix(keys::EventsOf(job.id)));
      txn.success.push_back(store::Operation::DeletePrefix(keys::ExecutionsOf(job.id)));
      txn.success.push_back(store::Operation::DeletePrefix(keys::ResultsOf(job.id)));
    } else {
      if (job.stopped()) return {200, {{"job", JobJson(stored)}}};
      job.state = std::string(kJobStopped);
      job.message = "stopped by an operator";
      job.updated_at = now;
      if (stored.rollout && !IsTerminalPhase(stored.rollout->phase)) {
        stored.rollout->phase = std::string(kPhaseCancelled);
        stored.rollout->completed_at = now;
        stored.rollout->message = "cancelled: the job was stopped";
        txn.success.push_back(store::Operation::Put(keys::Rollout(job.id),
                                                    RolloutRecordToJson(*stored.rollout).dump()));
      }
      txn.success.push_back(
          PutEvent(&job, now, "JobStopped", "stopped: every execution is being stopped"));
      txn.success.insert(txn.success.begin(),
                         store::Operation::Put(job_key, JobRecordToJson(job).dump()));
    }
    Result<store::TransactionResult> committed = store_.Commit(txn);
    if (!committed.ok()) return ErrorFrom(committed.status());
    if (!committed->succeeded) continue;
    if (purge) return {200, {{"job_id", job.id}, {"purged", true}}};
    stored.mod_revision = committed->revision;
    return {200, {{"job", JobJson(stored)}}};
  }
  return Error(409, "conflict", "the job is being changed concurrently; try again");
}

ApiAnswer JobService::Control(const std::string& ref, const std::string& ns,
                              const std::string& control_name, const Json& body) {
  std::optional<RolloutControl> control = ParseRolloutControl(control_name);
  if (!control) return Error(404, "not_found", "unknown rollout control \"" + control_name + "\"");
  std::optional<int> to_version;
  if (body.is_object()) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() != "to_version") {
        return Error(400, "invalid", "invalid rollout control body", {{it.key(), "unknown field"}});
      }
    }
    if (body.contains("to_version") && !body["to_version"].is_null()) {
      const Json& v = body["to_version"];
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > INT32_MAX) {
        return Error(400, "invalid", "invalid rollout control body",
                     {{"to_version", "must be a positive integer version"}});
      }
      if (*control != RolloutControl::kRollback) {
        return Error(400, "invalid", "invalid rollout control body",
                     {{"to_version", "only rollback takes a to_version"}});
      }
      to_version = static_cast<int>(v.get<int64_t>());
    }
  } else if (!body.is_null()) {
    return Error(400, "invalid", "the body must be a JSON object");
  }
  for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
    Result<StoredJob> found = Find(ref, ns);
    if (!found.ok()) return ErrorFrom(found.status());
    StoredJob stored = std::move(found).value();
    if (!stored.rollout) {
      return Error(409, "conflict", "the job has no rollout", {{"rollout.phase", "none"}});
    }
    const std::string now = clock_.WallTime();
    if (to_version) {
      Result<store::KeyValue> v = store_.Get(keys::Version(stored.job.id, *to_version));
      if (!v.ok()) {
        return Error(404, "not_found", "version " + std::to_string(*to_version) + " not found");
      }
    }
    Result<RolloutRecord> next =
        ApplyRolloutControl(*stored.rollout, *control, to_version, stored.job.stable_version, now);
    if (!next.ok()) {
      if (next.status().code() == StatusCode::kConflict) {
        return Error(409, "conflict", next.status().message(),
                     {{"rollout.phase", stored.rollout->phase}});
      }
      return ErrorFrom(next.status());
    }
    JobRecord& job = stored.job;
    job.state = JobStateForPhase(next->phase, job.spec.type);
    job.updated_at = now;
    store::Transaction txn;
    std::string job_key = keys::Job(job.spec.namespace_, job.spec.name);
    txn.compares.push_back({job_key, store::Compare::Target::kModRevision, stored.mod_revision});
    txn.compares.push_back(
        {keys::Rollout(job.id), store::Compare::Target::kModRevision, stored.rollout_revision});
    static const std::map<std::string, std::string> kReasons = {{"pause", "RolloutPaused"},
                                                                {"resume", "RolloutResumed"},
                                                                {"promote", "CanaryPromoted"},
                                                                {"rollback", "RollbackRequested"}};
    txn.success.push_back(PutEvent(&job, now, kReasons.at(control_name), next->message));
    txn.success.push_back(store::Operation::Put(job_key, JobRecordToJson(job).dump()));
    txn.success.push_back(
        store::Operation::Put(keys::Rollout(job.id), RolloutRecordToJson(*next).dump()));
    Result<store::TransactionResult> committed = store_.Commit(txn);
    if (!committed.ok()) return ErrorFrom(committed.status());
    if (!committed->succeeded) continue;
    return {200, {{"rollout", RolloutStatusJson(*next)}}};
  }
  return Error(409, "conflict", "the job is being changed concurrently; try again");
}

}  // namespace drover::controller
