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
  std::string state;                       // connected | disconnected | lost
  std::string last_heartbeat;              // RFC 3339, "" if none since the controller started
  std::vector<std::string> execution_ids;  // the executions the last heartbeat reported
  uint64_t assignments_index = 0;
};

Json NodeSnapshotToJson(const NodeSnapshot& node);

// A change to a node that may change which jobs it should run: registered, relabelled,
// cordoned/uncordoned/drained, deleted, or a connection state transition.
struct NodeChange {
  std::string node_id;
  Labels old_labels;  // before the change (empty for a new node)
  Labels labels;      // after it (empty for a deleted node)
};
using NodeListener = std::function<void(const NodeChange&)>;

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
                                 const std::vector<Json>& observed);

  std::optional<NodeSnapshot> Get(const std::string& node_id) const;
  std::vector<NodeSnapshot> List() const;  // by id
  // Nodes per connection state (connected, disconnected, lost), for drover_nodes.
  std::map<std::string, int64_t> CountByState() const;

  // Cordon / uncordon / drain: durable flags.
  Result<NodeSnapshot> SetSchedulable(const std::string& node_id, bool schedulable, bool draining);
  Status Remove(const std::string& node_id);

  // Answers every parked long poll (with "no node") and parks no more; the destructor does it too.
  // Call it while whatever the parked answers reach (the API, the HTTP sessions) is still alive.
  void Shutdown();

  // Answers `respond(snapshot)` when the node's assignments index passes `index`, or when
  // `wait` has passed (with the current snapshot). Never blocks the caller.
  void WaitForAssignments(const std::string& node_id, uint64_t index,
                          std::chrono::milliseconds wait,
                          std::function<void(std::optional<NodeSnapshot>)> respond);

  // Bumps a node's assignments index and wakes its waiters (the controller calls this when the
  // node's desired executions change).
  void NotifyAssignmentsChanged(const std::string& node_id);

  // Calls `visit(record, state)` for every node, under the registry's lock: keep it short and do
  // not call back into the registry.
  void ForEachNode(
      const std::function<void(const NodeRecord&, std::string_view state)>& visit) const;

  // Looks for connection state transitions now and notifies the listener (the reaper thread
  // does this every 250 ms of the clock; tests with a fake clock call it directly).
  void CheckConnectionStates();

  // True when every known node has registered or heartbeated since this controller started.
  bool AllHeardSinceStart() const;

  // The connection state of one node ("" when unknown).
  std::string StateOf(const std::string& node_id) const;

  // Called (outside the registry's lock) after every NodeChange; set once before serving.
  void SetListener(NodeListener listener);

  size_t waiting() const;
  std::chrono::milliseconds heartbeat_interval() const { return options_.heartbeat_interval; }

 private:
  struct Entry {
    NodeRecord record;
    bool seen = false;  // heartbeat since start
    SteadyTime last_seen{};
    std::string last_heartbeat;
    // Only the ids (the state goes to the store), packed into one string as 4-byte lengths and
    // bytes: one allocation per node instead of one per execution (10 jobs x 100,000 nodes).
    std::string execution_ids;
    uint64_t assignments_index = 0;
    std::string_view last_state = "disconnected";  // for transition notices
  };
  struct Waiter {
    std::string node_id;
    uint64_t index;
    SteadyTime deadline;
    std::function<void(std::optional<NodeSnapshot>)> respond;
  };

  Result<NodeSnapshot> RegisterLocked(NodeRecord record, const std::string& token_id,
                                      std::vector<NodeChange>* changes);
  Result<NodeSnapshot> HeartbeatLocked(const std::string& node_id, const std::string& token_id,
                                       const std::vector<Json>& observed,
                                       std::vector<NodeChange>* changes);
  NodeSnapshot SnapshotLocked(const Entry& entry) const;
  std::string_view StateLocked(const Entry& entry, SteadyTime now) const;
  Status PersistLocked(const NodeRecord& record);
  void ReapLoop();
  // Nodes whose connection state changed since the last scan (updates last_state).
  std::vector<NodeChange> ScanStatesLocked(SteadyTime now);
  void Notify(const std::vector<NodeChange>& changes);

  store::Store& store_;
  const Clock& clock_;
  NodeRegistryOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> nodes_;
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;  // by node id
  std::condition_variable reaper_wake_;
  bool stopping_ = false;
  NodeListener listener_;
  SteadyTime last_scan_{};
  std::thread reaper_;
};

}  // namespace drover::controller
