// NodeRegistry: the controller's view of the fleet (SPEC §8). Node records (labels, agent
// version, cordon/drain) are durable in the store and written only when they change; liveness
// (last heartbeat) and the executions each agent reports live in memory, so a heartbeat costs no
// durable write. Long polls for assignments wait here without holding a thread: the waiting
// request's responder is parked and answered when the node's assignments change or its wait
// runs out. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/records.h"
#include "controller/clock.h"
#include "store/store.h"

namespace drover::controller {

struct NodeSnapshot {
  NodeRecord record;
  std::string state;           // connected | disconnected | lost
  std::string last_heartbeat;  // RFC 3339, "" if none since the controller started
  std::vector<Json> observed;  // the executions of the last heartbeat, as reported
  uint64_t assignments_index = 0;
};

Json NodeSnapshotToJson(const NodeSnapshot& node);

struct NodeRegistryOptions {
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds lost_after{10 * 60 * 1000};
};

class NodeRegistry {
 public:
  NodeRegistry(store::Store& store, const Clock& clock, NodeRegistryOptions options);
  ~NodeRegistry();
  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  // Loads the durable node records (at start; nodes are disconnected until they heartbeat).
  Status Load();

  // Registers or re-registers (a relabel): counts as a heartbeat. `token_id` binds the id to the
  // agent token that first registered it (kForbidden for another token).
  Result<NodeSnapshot> Register(NodeRecord record, const std::string& token_id);

  // Records a heartbeat with the agent's observed executions. kNotFound for unknown nodes
  // (the agent must register first).
  Result<NodeSnapshot> Heartbeat(const std::string& node_id, const std::string& token_id,
                                 std::vector<Json> observed);

  std::optional<NodeSnapshot> Get(const std::string& node_id) const;
  std::vector<NodeSnapshot> List() const;  // by id
  // Nodes per connection state (connected, disconnected, lost), for drover_nodes.
  std::map<std::string, int64_t> CountByState() const;

  // Cordon / uncordon / drain: durable flags.
  Result<NodeSnapshot> SetSchedulable(const std::string& node_id, bool schedulable, bool draining);
  Status Remove(const std::string& node_id);

  // Answers `respond(snapshot)` when the node's assignments index passes `index`, or when
  // `wait` has passed (with the current snapshot). Never blocks the caller.
  void WaitForAssignments(const std::string& node_id, uint64_t index,
                          std::chrono::milliseconds wait,
                          std::function<void(std::optional<NodeSnapshot>)> respond);

  // Bumps a node's assignments index and wakes its waiters (the controller calls this when the
  // node's desired executions change).
  void NotifyAssignmentsChanged(const std::string& node_id);

  size_t waiting() const;
  std::chrono::milliseconds heartbeat_interval() const { return options_.heartbeat_interval; }

 private:
  struct Entry {
    NodeRecord record;
    bool seen = false;  // heartbeat since start
    SteadyTime last_seen{};
    std::string last_heartbeat;
    std::vector<Json> observed;
    uint64_t assignments_index = 0;
  };
  struct Waiter {
    std::string node_id;
    uint64_t index;
    SteadyTime deadline;
    std::function<void(std::optional<NodeSnapshot>)> respond;
  };

  NodeSnapshot SnapshotLocked(const Entry& entry) const;
  std::string_view StateLocked(const Entry& entry, SteadyTime now) const;
  Status PersistLocked(const NodeRecord& record);
  void ReapLoop();

  store::Store& store_;
  const Clock& clock_;
  NodeRegistryOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> nodes_;
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;  // by node id
  std::condition_variable reaper_wake_;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace drover::controller
