// JobService: the job routes' work over the store (SPEC §3): PUT with its create / update /
// unchanged / force / restart semantics in one compare-and-swap transaction each, reads of jobs,
// versions, executions and events, stop and purge, and the rollout controls. Answers are the
// JSON bodies of the API. Stateless apart from its collaborators; thread-safe (concurrent PUTs
// of one job are serialised by the store's compare-and-swap, with retries).
#pragma once

#include <optional>
#include <string>

#include "api/records.h"
#include "api/validation.h"
#include "controller/clock.h"
#include "controller/http.h"
#include "controller/node_registry.h"
#include "store/store.h"

namespace drover::controller {

struct JobServiceOptions {
  int history_limit = 20;     // versions kept per job
  int events_per_job = 1000;  // events kept per job
};

// A job with the store revision it was read at.
struct StoredJob {
  JobRecord job;
  int64_t mod_revision = 0;
  std::optional<RolloutRecord> rollout;
  int64_t rollout_revision = 0;
};

// An answer: HTTP status and body (errors as SPEC §12 bodies).
struct ApiAnswer {
  int status = 200;
  Json body;
};

class JobService {
 public:
  JobService(store::Store& store, const Clock& clock, const NodeRegistry& nodes,
             JobServiceOptions options = {});

  // PUT /api/v1/jobs: `checked` is the decoded, normalised and validated body.
  ApiAnswer Put(const CheckedRequest& checked);
  // PUT /api/v1/jobs/diff
  ApiAnswer Diff(const CheckedRequest& checked);

  // `ref` is an id (j-...) or a name in `ns`.
  Result<StoredJob> Find(const std::string& ref, const std::string& ns);

  ApiAnswer Get(const std::string& ref, const std::string& ns);
  ApiAnswer List(const std::string& ns, const std::string& label_selector, const std::string& state,
                 const std::string& limit, const std::string& next_token);
  ApiAnswer Versions(const std::string& ref, const std::string& ns);
  ApiAnswer Version(const std::string& ref, const std::string& ns, const std::string& n);
  ApiAnswer VersionsDiff(const std::string& ref, const std::string& ns, const std::string& from,
                         const std::string& to);
  ApiAnswer Executions(const std::string& ref, const std::string& ns, const std::string& version,
                       const std::string& state);
  ApiAnswer Events(const std::string& ref, const std::string& ns);
  // GET /jobs/{job}/results: `{items: [{execution_id, node_id, version, state, results}]}`.
  ApiAnswer Results(const StoredJob& job);
  ApiAnswer Stop(const std::string& ref, const std::string& ns, bool purge);
  ApiAnswer Control(const std::string& ref, const std::string& ns, const std::string& control,
                    const Json& body);

  // The namespace a job reference resolves to ("" when it does not), for authorisation.
  std::string NamespaceOf(const std::string& ref, const std::string& ns);

  // The dry-run plan of a spec against the registered nodes.
  Json Plan(const JobSpec& spec, const std::string& job_id) const;

  // The store's current revision (for /readyz, and tests that check nothing was written).
  int64_t StoreRevision() { return store_.CurrentRevision(); }

  // The GET /jobs/{job} "job" object.
  static Json JobJson(const StoredJob& stored);

 private:
  Result<StoredJob> ReadJob(const std::string& ns, const std::string& name);
  // The stored JSON values under one of the job's prefixes (versions, events), in key order.
  ApiAnswer ListOfJob(const std::string& ref, const std::string& ns,
                      std::string (*prefix_of)(std::string_view job_id));
  // `{items, next_token}` of the JSON values under a store prefix, in key order.
  ApiAnswer ValuesUnder(const std::string& prefix);

  store::Store& store_;
  const Clock& clock_;
  const NodeRegistry& nodes_;
  JobServiceOptions options_;
};

// A generated job id, "j-" and a random UUID (version 4).
std::string NewJobId();

// The next event of `job` (its event_sequence is advanced): the put to add to the transaction
// that also writes the job record.
store::Operation PutEvent(JobRecord* job, const std::string& now, std::string reason,
                          std::string message, std::string type = "normal");

}  // namespace drover::controller
