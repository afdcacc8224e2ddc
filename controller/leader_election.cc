#include "controller/leader_election.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace drover::controller {
namespace {

using nlohmann::json;

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

LeaderInfo ParseHolder(const store::LeasedKey& key) {
  LeaderInfo info;
  info.term = key.create_revision;
  json value = json::parse(key.value, nullptr, /*allow_exceptions=*/false);
  if (value.is_object()) {
    if (value.contains("id") && value["id"].is_string()) info.identity = value["id"];
    if (value.contains("address") && value["address"].is_string()) {
      info.address = value["address"];
    }
  }
  if (info.identity.empty()) info.identity = "(unreadable leader key: " + key.value + ")";
  return info;
}

}  // namespace

Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options) {
  if (options.retry_period.count() <= 0) {
    return InvalidError("--leader-elect-retry-period must be positive");
  }
  if (options.renew_deadline <= options.retry_period) {
    return InvalidError("--leader-elect-renew-deadline (" + Millis(options.renew_deadline) +
                        ") must be longer than --leader-elect-retry-period (" +
                        Millis(options.retry_period) + ")");
  }
  if (options.lease_duration <= options.renew_deadline) {
    return InvalidError("--leader-elect-lease-duration (" + Millis(options.lease_duration) +
                        ") must be longer than --leader-elect-renew-deadline (" +
                        Millis(options.renew_deadline) +
                        "): a leader must stop acting before its lease can run out");
  }
  if (options.identity.empty()) return InvalidError("--replica-id must not be empty");
  return Status::Ok();
}

LeaderElector::LeaderElector(store::Leases& leases, const Clock& clock,
                             LeaderElectionOptions options, Callbacks callbacks)
    : leases_(leases),
      clock_(clock),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

LeaderElector::~LeaderElector() { Stop(); }

std::string LeaderElector::KeyText() const {
  return json{{"id", options_.identity}, {"address", options_.address}}.dump();
}

void LeaderElector::Tick() {
  // Renewals count from before the request: the lease was renewed no earlier than this.
  SteadyTime started = clock_.Now();
  bool leading = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_) return;  // a deposed leader never campaigns again
    leading = leading_;
  }
  if (leading) {
    TickLeading(started);
  } else {
    TickFollowing();
  }
}

void LeaderElector::TickLeading(SteadyTime started) {
  int64_t lease = 0;
  int64_t term = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease = lease_;
    term = term_;
  }
  std::string problem;
  Result<bool> alive = leases_.KeepAlive(lease);
  if (alive.ok() && !*alive) return Lose("its lease expired before it was renewed");
  if (alive.ok()) {
    Result<std::optional<store::LeasedKey>> holder = leases_.Read(options_.key);
    if (holder.ok()) {
      if (!holder->has_value()) return Lose("the leader key was deleted");
      if ((*holder)->lease != lease || (*holder)->create_revision != term) {
        return Lose("the leader key now belongs to " + ParseHolder(**holder).identity);
      }
      std::lock_guard<std::mutex> lock(mu_);
      last_renew_ = started;
      return;
    }
    problem = holder.status().message();
  } else {
    problem = alive.status().message();
  }
  SteadyTime last_renew;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_renew = last_renew_;
  }
  if (clock_.Now() - last_renew > options_.renew_deadline) {
    Lose("it could not renew its lease for the renew deadline (" + Millis(options_.renew_deadline) +
         "): " + problem);
  }
}

void LeaderElector::TickFollowing() {
  Result<std::optional<store::LeasedKey>> holder = leases_.Read(options_.key);
  if (!holder.ok()) return;  // the store is away: try again next round
  if (holder->has_value()) {
    std::lock_guard<std::mutex> lock(mu_);
    leader_ = ParseHolder(**holder);
    return;
  }
  SteadyTime before_grant = clock_.Now();
  Result<int64_t> lease = leases_.Grant(options_.lease_duration);
  if (!lease.ok()) return;
  Result<store::LeasedKey> won = leases_.CreateIfAbsent(options_.key, KeyText(), *lease);
  if (!won.ok() || won->lease != *lease) {
    (void)leases_.Revoke(*lease);  // best effort: an unused lease also expires by itself
    if (won.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      leader_ = ParseHolder(*won);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    leading_ = true;
    lease_ = *lease;
    term_ = won->create_revision;
    last_renew_ = before_grant;
    leader_ = LeaderInfo{options_.identity, options_.address, term_};
  }
  if (callbacks_.started_leading) callbacks_.started_leading(won->create_revision);
}

void LeaderElector::Lose(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) return;
    leading_ = false;
    lost_ = true;
    term_ = 0;
    leader_.reset();
  }
  if (callbacks_.lost_leadership) callbacks_.lost_leadership(reason);
}

void LeaderElector::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(thread_mu_);
    while (!stopping_) {
      lock.unlock();
      Tick();
      lock.lock();
      wake_.wait_for(lock, options_.retry_period, [this] { return stopping_; });
    }
  });
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  int64_t lease = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) return;
    leading_ = false;
    lease = lease_;
    term_ = 0;
    leader_.reset();
  }
  (void)leases_.Revoke(lease);  // hand over now rather than after the lease runs out
}

bool LeaderElector::Leading() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_;
}

std::optional<LeaderInfo> LeaderElector::Leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

Result<std::vector<store::Compare>> LeaderElector::Fence() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!leading_) {
    return UnavailableError("replica " + options_.identity +
                            " is not the leader: only the leader writes to the store");
  }
  if (clock_.Now() - last_renew_ > options_.renew_deadline) {
    return UnavailableError("replica " + options_.identity +
                            " has not renewed its leadership within the renew deadline");
  }
  return std::vector<store::Compare>{
      {options_.key, store::Compare::Target::kCreateRevision, term_}};
}

}  // namespace drover::controller
