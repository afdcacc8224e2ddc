#include "controller/node_registry.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "controller/keys.h"
#include "reconcilers/node_state.h"

namespace drover::controller {
namespace {

// Entry::execution_ids: each id as its length (4 bytes, host order) and its bytes.
void PackId(std::string_view id, std::string* packed) {
  const uint32_t size = static_cast<uint32_t>(id.size());
  packed->append(reinterpret_cast<const char*>(&size), sizeof(size));
  packed->append(id);
}

std::vector<std::string> UnpackIds(std::string_view packed) {
  std::vector<std::string> ids;
  while (packed.size() >= sizeof(uint32_t)) {
    uint32_t size = 0;
    std::memcpy(&size, packed.data(), sizeof(size));
    packed.remove_prefix(sizeof(size));
    ids.emplace_back(packed.substr(0, size));
    packed.remove_prefix(std::min<size_t>(size, packed.size()));
  }
  return ids;
}

}  // namespace

Json NodeSnapshotToJson(const NodeSnapshot& n) {
  Json executions = Json::array();
  for (const std::string& id : n.execution_ids) executions.push_back(id);
  return {{"id", n.record.id},
          {"name", n.record.name},
          {"labels", n.record.labels},
          {"state", n.state},
          {"schedulable", n.record.schedulable},
          {"draining", n.record.draining},
          {"last_heartbeat", n.last_heartbeat.empty() ? Json(nullptr) : Json(n.last_heartbeat)},
          {"agent_version", n.record.agent_version},
          {"os", n.record.os},
          {"arch", n.record.arch},
          {"capacity", n.record.capacity},
          {"executions", executions}};
}

NodeRegistry::NodeRegistry(store::Store& store, const Clock& clock, NodeRegistryOptions options)
    : store_(store), clock_(clock), options_(options), reaper_([this] { ReapLoop(); }) {}

NodeRegistry::~NodeRegistry() { Shutdown(); }

void NodeRegistry::Shutdown() {
  std::multimap<std::string, std::shared_ptr<Waiter>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(waiters_);
  }
  reaper_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  for (auto& [id, w] : left) w->respond(std::nullopt);
}

Status NodeRegistry::Load() {
  Result<store::RangeResult> list = store_.List(keys::kNodes);
  if (!list.ok()) return list.status();
  std::lock_guard<std::mutex> lock(mu_);
  for (const store::KeyValue& kv : list->items) {
    Result<Json> parsed = [&]() -> Result<Json> {
      try {
        return Json::parse(kv.value);
      } catch (const std::exception& e) {
        return InternalError(std::string("node record ") + kv.key + ": " + e.what());
      }
    }();
    if (!parsed.ok()) return parsed.status();
    Result<NodeRecord> record = NodeRecordFromJson(*parsed);
    if (!record.ok()) return record.status();
    nodes_[record->id].record = std::move(record).value();
  }
  return Status::Ok();
}

std::string_view NodeRegistry::StateLocked(const Entry& e, SteadyTime now) const {
  return NodeConnectionState(e.seen, now - e.last_seen, options_.heartbeat_interval,
                             options_.lost_after);
}

NodeSnapshot NodeRegistry::SnapshotLocked(const Entry& e) const {
  NodeSnapshot s;
  s.record = e.record;
  s.last_heartbeat = e.last_heartbeat;
  s.execution_ids = UnpackIds(e.execution_ids);
  s.assignments_index = e.assignments_index;
  s.state = std::string(StateLocked(e, clock_.Now()));
  return s;
}

Status NodeRegistry::PersistLocked(const NodeRecord& record) {
  store::Transaction txn;
  txn.success.push_back(
      store::Operation::Put(keys::Node(record.id), NodeRecordToJson(record).dump()));
  Result<store::TransactionResult> r = store_.Commit(txn);
  return r.ok() ? Status::Ok() : r.status();
}

Result<NodeSnapshot> NodeRegistry::Register(NodeRecord record, const std::string& token_id) {
  std::vector<NodeChange> changes;
  Result<NodeSnapshot> result = RegisterLocked(std::move(record), token_id, &changes);
  Notify(changes);
  return result;
}

Result<NodeSnapshot> NodeRegistry::RegisterLocked(NodeRecord record, const std::string& token_id,
                                                  std::vector<NodeChange>* changes) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = nodes_[record.id];
  bool is_new = e.record.id.empty();
  if (!is_new && !e.record.token_id.empty() && e.record.token_id != token_id) {
    return Status(StatusCode::kForbidden,
                  "node id " + record.id + " is bound to the agent token that registered it");
  }
  NodeRecord next = e.record;
  next.id = record.id;
  next.name = record.name.empty() ? record.id : record.name;
  next.labels = record.labels;
  next.agent_version = record.agent_version;
  next.os = record.os;
  next.arch = record.arch;
  next.capacity = record.capacity;
  if (next.token_id.empty()) next.token_id = token_id;
  if (is_new) next.registered_at = clock_.WallTime();
  if (is_new || !(next == e.record)) {
    Status persisted = PersistLocked(next);
    if (!persisted.ok()) {
      if (is_new) nodes_.erase(record.id);
      return persisted;
    }
    bool relabelled = !is_new && next.labels != e.record.labels;
    changes->push_back({next.id, e.record.labels, next.labels});
    e.record = std::move(next);
    if (relabelled) ++e.assignments_index;  // a relabel re-evaluates the node's jobs
  }
  e.seen = true;
  e.last_seen = clock_.Now();
  e.last_heartbeat = clock_.WallTime();
  if (e.last_state != "connected") {
    e.last_state = "connected";
    if (changes->empty()) changes->push_back({e.record.id, e.record.labels, e.record.labels});
  }
  return SnapshotLocked(e);
}

Result<NodeSnapshot> NodeRegistry::Heartbeat(const std::string& node_id,
                                             const std::string& token_id,
                                             const std::vector<Json>& observed) {
  std::vector<NodeChange> changes;
  Result<NodeSnapshot> result = HeartbeatLocked(node_id, token_id, observed, &changes);
  Notify(changes);
  return result;
}

Result<NodeSnapshot> NodeRegistry::HeartbeatLocked(const std::string& node_id,
                                                   const std::string& token_id,
                                                   const std::vector<Json>& observed,
                                                   std::vector<NodeChange>* changes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) {
    return NotFoundError("node " + node_id + " is not registered: register it first");
  }
  Entry& e = it->second;
  if (!e.record.token_id.empty() && e.record.token_id != token_id) {
    return Status(StatusCode::kForbidden,
                  "node id " + node_id + " is bound to the agent token that registered it");
  }
  e.seen = true;
  e.last_seen = clock_.Now();
  e.last_heartbeat = clock_.WallTime();
  e.execution_ids.clear();
  for (const Json& x : observed) {
    if (!x.is_object()) continue;
    auto id = x.find("execution_id");
    if (id != x.end() && id->is_string())
      PackId(id->get_ref<const std::string&>(), &e.execution_ids);
  }
  if (e.execution_ids.capacity() > 2 * e.execution_ids.size() + 64) e.execution_ids.shrink_to_fit();
  if (e.last_state != "connected") {
    e.last_state = "connected";
    changes->push_back({e.record.id, e.record.labels, e.record.labels});
  }
  return SnapshotLocked(e);
}

std::optional<NodeSnapshot> NodeRegistry::Get(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return SnapshotLocked(it->second);
}

std::vector<NodeSnapshot> NodeRegistry::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<NodeSnapshot> out;
  out.reserve(nodes_.size());
  for (const auto& [id, e] : nodes_) out.push_back(SnapshotLocked(e));
  return out;
}

std::map<std::string, int64_t> NodeRegistry::CountByState() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> counts = {{"connected", 0}, {"disconnected", 0}, {"lost", 0}};
  const SteadyTime now = clock_.Now();
  for (const auto& [id, e] : nodes_) ++counts[std::string(StateLocked(e, now))];
  return counts;
}

Result<NodeSnapshot> NodeRegistry::SetSchedulable(const std::string& node_id, bool schedulable,
                                                  bool draining) {
  std::vector<NodeChange> changes;
  Result<NodeSnapshot> result = [&]() -> Result<NodeSnapshot> {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return NotFoundError("node " + node_id + " not found");
    NodeRecord next = it->second.record;
    next.schedulable = schedulable;
    next.draining = draining;
    if (!(next == it->second.record)) {
      Status s = PersistLocked(next);
      if (!s.ok()) return s;
      it->second.record = std::move(next);
      ++it->second.assignments_index;
      changes.push_back({node_id, it->second.record.labels, it->second.record.labels});
    }
    return SnapshotLocked(it->second);
  }();
  Notify(changes);
  return result;
}

Status NodeRegistry::Remove(const std::string& node_id) {
  std::vector<std::shared_ptr<Waiter>> woken;
  std::vector<NodeChange> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!nodes_.count(node_id)) return NotFoundError("node " + node_id + " not found");
    store::Transaction txn;
    txn.success.push_back(store::Operation::Delete(keys::Node(node_id)));
    Result<store::TransactionResult> r = store_.Commit(txn);
    if (!r.ok()) return r.status();
    changes.push_back({node_id, nodes_[node_id].record.labels, {}});
    nodes_.erase(node_id);
    auto [begin, end] = waiters_.equal_range(node_id);
    for (auto it = begin; it != end; ++it) woken.push_back(it->second);
    waiters_.erase(begin, end);
  }
  for (auto& w : woken) w->respond(std::nullopt);
  Notify(changes);
  return Status::Ok();
}

void NodeRegistry::ForEachNode(
    const std::function<void(const NodeRecord&, std::string_view state)>& visit) const {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime now = clock_.Now();
  for (const auto& [id, e] : nodes_) visit(e.record, StateLocked(e, now));
}

void NodeRegistry::CheckConnectionStates() {
  std::vector<NodeChange> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changes = ScanStatesLocked(clock_.Now());
  }
  Notify(changes);
}

bool NodeRegistry::AllHeardSinceStart() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, e] : nodes_) {
    if (!e.seen) return false;
  }
  return true;
}

std::string NodeRegistry::StateOf(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return "";
  return std::string(StateLocked(it->second, clock_.Now()));
}

void NodeRegistry::SetListener(NodeListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void NodeRegistry::Notify(const std::vector<NodeChange>& changes) {
  if (changes.empty()) return;
  NodeListener listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  if (!listener) return;
  for (const NodeChange& c : changes) listener(c);
}

std::vector<NodeChange> NodeRegistry::ScanStatesLocked(SteadyTime now) {
  std::vector<NodeChange> changes;
  for (auto& [id, e] : nodes_) {
    std::string_view state = StateLocked(e, now);
    if (state != e.last_state) {
      e.last_state = state;
      changes.push_back({id, e.record.labels, e.record.labels});
    }
  }
  return changes;
}

void NodeRegistry::WaitForAssignments(const std::string& node_id, uint64_t index,
                                      std::chrono::milliseconds wait,
                                      std::function<void(std::optional<NodeSnapshot>)> respond) {
  std::optional<NodeSnapshot> now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) {
      now = std::nullopt;
    } else if (it->second.assignments_index != index || wait.count() <= 0 || stopping_) {
      now = SnapshotLocked(it->second);
    } else {
      auto w =
          std::make_shared<Waiter>(Waiter{node_id, index, clock_.Now() + wait, std::move(respond)});
      waiters_.emplace(node_id, std::move(w));
      reaper_wake_.notify_all();
      return;
    }
  }
  respond(std::move(now));
}

void NodeRegistry::NotifyAssignmentsChanged(const std::string& node_id) {
  std::vector<std::pair<std::shared_ptr<Waiter>, std::optional<NodeSnapshot>>> woken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return;
    ++it->second.assignments_index;
    auto [begin, end] = waiters_.equal_range(node_id);
    if (begin == end) return;  // nobody waits: no snapshot to make (most nodes heartbeat)
    NodeSnapshot snapshot = SnapshotLocked(it->second);
    for (auto w = begin; w != end; ++w) woken.emplace_back(w->second, snapshot);
    waiters_.erase(begin, end);
  }
  for (auto& [w, s] : woken) w->respond(std::move(s));
}

size_t NodeRegistry::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

void NodeRegistry::ReapLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    SteadyTime next = SteadyTime::max();
    SteadyTime now = clock_.Now();
    std::vector<std::pair<std::shared_ptr<Waiter>, std::optional<NodeSnapshot>>> due;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second->deadline <= now) {
        auto node = nodes_.find(it->first);
        std::optional<NodeSnapshot> snapshot;
        if (node != nodes_.end()) snapshot = SnapshotLocked(node->second);
        due.emplace_back(it->second, std::move(snapshot));
        it = waiters_.erase(it);
      } else {
        next = std::min(next, it->second->deadline);
        ++it;
      }
    }
    std::vector<NodeChange> transitions;
    if (now - last_scan_ >= std::chrono::milliseconds(250)) {
      last_scan_ = now;
      transitions = ScanStatesLocked(now);
    }
    if (!due.empty() || !transitions.empty()) {
      lock.unlock();
      for (auto& [w, s] : due) w->respond(std::move(s));
      Notify(transitions);
      lock.lock();
      continue;
    }
    // Deadlines are on the monotonic clock; a fake clock in tests is re-checked every 50 ms.
    auto sleep = next == SteadyTime::max()
                     ? std::chrono::milliseconds(1000)
                     : std::chrono::duration_cast<std::chrono::milliseconds>(next - now) +
                           std::chrono::milliseconds(1);
    reaper_wake_.wait_for(lock, std::min(sleep, std::chrono::milliseconds(50)));
  }
}

}  // namespace drover::controller
