// Leader election for controller replicas sharing one etcd cluster (docs/architecture.md), as
// client-go's leaderelection does it but on an etcd lease: the replica that creates the leader
// key, bound to its lease, leads until the lease runs out; it renews the lease every retry period
// and steps down when it could not renew for the renew deadline (shorter than the lease, so it
// stops acting before anyone else can take over). Followers read the key every retry period and
// campaign when it is gone.
//
// Fencing: Fence() gives the compare "the leader key still has the create revision it had when
// this replica won" that the store adds to every write of the leader (EtcdStoreOptions::fence).
// A deposed leader that has not noticed yet (paused, partitioned) still sends its writes, and
// etcd refuses every one: the key is gone or was created anew by the next leader.
//
// A replica that loses leadership does not campaign again (the controller exits and its
// supervisor restarts it as a follower, as kube-controller-manager does).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/status.h"
#include "controller/clock.h"
#include "store/leases.h"
#include "store/store.h"

namespace drover::controller {

struct LeaderElectionOptions {
  std::string key = "/drover-election/controller";
  std::string identity;  // this replica's id (unique among the replicas)
  std::string address;   // the URL other replicas forward requests to while this one leads
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
};

// kInvalid naming the flag when the durations do not satisfy
// retry_period < renew_deadline < lease_duration (client-go's rule).
Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options);

struct LeaderInfo {
  std::string identity;
  std::string address;
  int64_t term = 0;  // the leader key's create revision: grows with every new leadership
};

class LeaderElector {
 public:
  struct Callbacks {
    std::function<void(int64_t term)> started_leading;  // on the elector's thread
    std::function<void(const std::string& reason)> lost_leadership;
  };

  LeaderElector(store::Leases& leases, const Clock& clock, LeaderElectionOptions options,
                Callbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One round at the clock's now: what the elector's thread does every retry period. Public so
  // that tests can drive it with a fake clock and fake leases.
  void Tick();

  // Runs Tick every retry period on a thread of its own, until Stop.
  void Start();
  // Stops the thread. A leader revokes its lease, so a follower takes over at its next round.
  void Stop();

  bool Leading() const;
  // The leader as last seen (this replica while it leads); nullopt before any is known.
  std::optional<LeaderInfo> Leader() const;
  const LeaderElectionOptions& options() const { return options_; }

  // The store fence (see above): kUnavailable while this replica does not lead, or when its last
  // renewal is older than the renew deadline.
  Result<std::vector<store::Compare>> Fence() const;

 private:
  void TickLeading(SteadyTime started);
  void TickFollowing();
  void Lose(const std::string& reason);
  std::string KeyText() const;  // the leader key's value: {"id", "address"}

  store::Leases& leases_;
  const Clock& clock_;
  const LeaderElectionOptions options_;
  const Callbacks callbacks_;

  mutable std::mutex mu_;
  bool leading_ = false;
  bool lost_ = false;
  int64_t lease_ = 0;
  int64_t term_ = 0;
  SteadyTime last_renew_{};
  std::optional<LeaderInfo> leader_;

  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drover::controller
