// The etcd backend of the store (SPEC §9, docs/store.md): the same revisions, transactions and
// watches as the memory and SQLite backends, kept in an etcd v3 cluster that several controllers
// can share. It talks to etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn,
// /v3/kv/compaction, streaming /v3/watch) over plain HTTP with cpprestsdk, trying the endpoints
// in turn. The caller owns the store; all methods are thread-safe.
//
// Revisions: a fresh etcd is at revision 1 with no keys, so Drover's revision r is etcd's r + 1
// (Drover's 0 is etcd's 1; a key's create/mod revision likewise). The offset is fixed: any
// Drover process reading the same cluster sees the same numbers.
//
// Watches: one streaming POST /v3/watch per Watch call, read by one thread and delivered by
// another (so a slow callback never blocks the stream), with at most `watch_buffer_events`
// undelivered events (beyond that the watch ends with kUnavailable, "fell behind, re-list"; one
// revision alone is always delivered). A broken stream is reopened on the next endpoint from the
// revision after the last one delivered, for up to `watch_reconnect_window`; after that the
// watch ends with kUnavailable. Events received but not yet delivered whose revision a
// compaction through this store has overtaken end the watch with kOutOfRange, as in the other
// backends.
//
// Fencing: `fence`, when set, is asked for extra compares before every Commit (e.g. "my leader
// key still has create_revision R", for a leader-election layer). They are sent as the outer
// compares of an etcd transaction whose only success operation is the caller's transaction
// (nested), so a lost fence fails the Commit with kUnavailable and applies neither branch.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/status.h"
#include "store/leases.h"
#include "store/store.h"

namespace drover::store {

struct EtcdStoreOptions {
  // "host:port" of each etcd client endpoint, tried in this order (then round-robin).
  std::vector<std::string> endpoints = {};
  // Inactivity timeout of one request (connect, send, or the wait for the reply).
  std::chrono::milliseconds request_timeout{5'000};
  // How long a watch whose stream broke keeps trying the endpoints before it ends with
  // kUnavailable.
  std::chrono::milliseconds watch_reconnect_window{10'000};
  // A watch stream silent for longer than this is treated as broken and reopened (etcd sends a
  // progress notification to idle watches every 10 minutes by default).
  std::chrono::milliseconds watch_idle_timeout{std::chrono::minutes(15)};
  // Undelivered events one watch may buffer before it ends with kUnavailable (re-list).
  size_t watch_buffer_events = 100'000;
  // Extra compares every Commit must also satisfy (fencing; see above). Called once per Commit;
  // an error status fails the Commit with that status without contacting etcd.
  std::function<Result<std::vector<Compare>>()> fence = nullptr;
};

// Parses "etcd://host:port[,host:port...]" into options with those endpoints (other fields at
// their defaults). kInvalid, naming the problem, for anything else.
Result<EtcdStoreOptions> ParseEtcdUrl(std::string_view url);

// Connects to the cluster (one read through any endpoint): kUnavailable, naming every endpoint
// and its error, when none answers.
Result<std::unique_ptr<Store>> OpenEtcdStore(EtcdStoreOptions options);

// Leases on the same cluster (store/leases.h), through their own connection: never fenced, since
// the leader election that sets the store's fence runs on them. Connects like OpenEtcdStore.
Result<std::unique_ptr<Leases>> OpenEtcdLeases(EtcdStoreOptions options);

}  // namespace drover::store
