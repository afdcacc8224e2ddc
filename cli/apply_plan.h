// The decisions of `drover apply` and `drover diff` that need no server and no files: the name of
// the applied set, what an answer of PUT /api/v1/jobs means, which jobs `--prune` stops, and how
// a dry run's wave plan and a diff are printed (docs/apply.md). Pure functions;
// cli/apply_command.cc does the reading, the requests and the printing.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace drover::cli {

// value[key] when `value` is an object holding it, else null: answers are read without throwing.
const nlohmann::json& JsonAt(const nlohmann::json& value, const char* key);
// value[key] when it is a string, else "".
std::string JsonStringAt(const nlohmann::json& value, const char* key);

// The applied set when --applyset is not given, from the first -f path: "stdin" for "-", else
// the last component of the (lexically normalised) path, lowercased, with a trailing
// .yaml/.yml/.json removed, and reduced to a label value (other characters become '-', runs of '-'
// collapse, non-alphanumerics trimmed from both ends, at most 63 characters); "manifests" when
// nothing is left (e.g. "/"). Give it an absolute path so that "." names the folder.
std::string AppliedSetName(std::string_view path);

// What PUT /api/v1/jobs answered for one document.
enum class ApplyOutcome { kCreated, kConfigured, kUnchanged, kInvalid, kFailed };

// The word printed after "<namespace>/<name>": created, configured, unchanged, invalid, failed.
std::string_view ApplyOutcomeName(ApplyOutcome outcome);

// The outcome of a PUT (not a dry run): 201 created, 200 configured, 422 with error code
// "unchanged" unchanged, 400 invalid, anything else (no answer included) failed.
ApplyOutcome OutcomeOfPut(int status, const nlohmann::json& body);

// The outcome a dry run predicts from its 200 answer: "changed" at version 1 is created, other
// changes configured; no change is unchanged, unless the job is stopped (`job_stopped`): the
// same spec then starts it again, which apply reports as configured.
ApplyOutcome OutcomeOfDryRun(const nlohmann::json& body, bool job_stopped);

// "<namespace>/<name>" of a job as the API returns it ({spec: {namespace, name}}).
std::string JobRefOf(const nlohmann::json& job);

// The jobs `apply --prune` stops, in the order listed: items of GET /api/v1/jobs whose
// spec.meta["expanso.io/applied-set"] is `applied_set`, whose "<namespace>/<name>" is not in
// `kept` (the documents just applied), and that are not stopped already.
std::vector<std::string> PruneCandidates(const nlohmann::json& items,
                                         const std::string& applied_set,
                                         const std::set<std::string>& kept);

// A dry run's plan ({target_nodes, canary, waves}) in a few lines, each starting with `indent`:
//   plan: 5 target nodes, 1 canary, 2 waves
//     canary: n1
//     wave 1/2 (2): n2, n3
//     wave 2/2 (2): n4, n5
// At most `max_ids` ids per line, then "... (N more)". "plan: no target nodes" when empty.
std::string FormatWavePlan(const nlohmann::json& plan, const std::string& indent = "",
                           size_t max_ids = 8);

// The server's unified diff with the job named in its header lines, as `diff -u` names files:
// "--- v1" becomes "--- default/web\tv1", "+++ proposed" becomes "+++ default/web\tproposed".
// "" stays "".
std::string LabelDiff(const std::string& diff, const std::string& job_ref);

}  // namespace drover::cli
