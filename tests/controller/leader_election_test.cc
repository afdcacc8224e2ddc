// Leader election (controller/leader_election.h): the elector's rounds over fake leases and a
// fake clock, with explicit time and no sleeps; then the same elector on a real etcd, where a
// deposed leader that has not noticed yet sends a write and the store's fence refuses it.
#include "controller/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_store.h"
#include "tests/controller/fake_clock.h"
#include "tests/testing/etcd_process.h"

namespace drover::controller {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Leases as etcd keeps them, in memory, with expiry driven by the fake clock; `down` makes every
// call fail as an unreachable store does.
class FakeLeases : public store::Leases {
 public:
  explicit FakeLeases(const testing::FakeClock& clock) : clock_(clock) {}

  Result<int64_t> Grant(std::chrono::milliseconds ttl) override {
    if (down) return UnavailableError("store down");
    Expire();
    int64_t id = ++next_lease_;
    leases_[id] = {ttl, clock_.Now() + ttl};
    return id;
  }
  Result<bool> KeepAlive(int64_t lease) override {
    if (down) return UnavailableError("store down");
    Expire();
    auto it = leases_.find(lease);
    if (it == leases_.end()) return false;
    it->second.expires = clock_.Now() + it->second.ttl;
    return true;
  }
  Status Revoke(int64_t lease) override {
    if (down) return UnavailableError("store down");
    leases_.erase(lease);
    Expire();
    return Status::Ok();
  }
  Result<store::LeasedKey> CreateIfAbsent(const std::string& key, const std::string& value,
                                          int64_t lease) override {
    if (down) return UnavailableError("store down");
    Expire();
    if (!keys_.count(key)) keys_[key] = {value, ++revision_, lease};
    return keys_[key];
  }
  Result<std::optional<store::LeasedKey>> Read(const std::string& key) override {
    if (down) return UnavailableError("store down");
    Expire();
    auto it = keys_.find(key);
    if (it == keys_.end()) return std::optional<store::LeasedKey>();
    return std::optional<store::LeasedKey>(it->second);
  }

  // What etcd does when a lease runs out: the lease and its keys go.
  void Expire() {
    for (auto it = leases_.begin(); it != leases_.end();) {
      if (clock_.Now() >= it->second.expires) {
        it = leases_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = keys_.begin(); it != keys_.end();) {
      if (it->second.lease != 0 && !leases_.count(it->second.lease)) {
        it = keys_.erase(it);
      } else {
        ++it;
      }
    }
  }

  bool down = false;

 private:
  struct Lease {
    std::chrono::milliseconds ttl;
    SteadyTime expires;
  };
  const testing::FakeClock& clock_;
  int64_t next_lease_ = 100;
  int64_t revision_ = 10;
  std::map<int64_t, Lease> leases_;
  std::map<std::string, store::LeasedKey> keys_;
};

LeaderElectionOptions Options(const std::string& id) {
  LeaderElectionOptions options;
  options.identity = id;
  options.address = "http://" + id + ":9010";
  return options;  // 15 s lease, 10 s renew deadline, 2 s retry period
}

struct Recorded {
  std::vector<int64_t> started;
  std::vector<std::string> lost;
  LeaderElector::Callbacks Callbacks() {
    return {[this](int64_t term) { started.push_back(term); },
            [this](const std::string& reason) { lost.push_back(reason); }};
  }
};

TEST(LeaderElectionOptionsTest, DurationsMustNest) {
  EXPECT_TRUE(ValidateLeaderElectionOptions(Options("a")).ok());
  LeaderElectionOptions renew_too_long = Options("a");
  renew_too_long.renew_deadline = 15s;
  Status s = ValidateLeaderElectionOptions(renew_too_long);
  EXPECT_THAT(s.message(), HasSubstr("--leader-elect-lease-duration"));
  LeaderElectionOptions retry_too_long = Options("a");
  retry_too_long.retry_period = 10s;
  EXPECT_THAT(ValidateLeaderElectionOptions(retry_too_long).message(),
              HasSubstr("--leader-elect-renew-deadline"));
  LeaderElectionOptions no_id = Options("");
  EXPECT_THAT(ValidateLeaderElectionOptions(no_id).message(), HasSubstr("--replica-id"));
}

TEST(LeaderElectorTest, FirstToCampaignLeadsTheOtherFollowsAndNeitherWritesUnfenced) {
  testing::FakeClock clock;
  FakeLeases leases(clock);
  Recorded ra, rb;
  LeaderElector a(leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(leases, clock, Options("b"), rb.Callbacks());
  EXPECT_EQ(a.Fence().status().code(), StatusCode::kUnavailable);  // before any round

  a.Tick();
  b.Tick();
  ASSERT_TRUE(a.Leading());
  EXPECT_FALSE(b.Leading());
  ASSERT_EQ(ra.started.size(), 1u);
  EXPECT_TRUE(rb.started.empty());
  ASSERT_TRUE(b.Leader().has_value());
  EXPECT_EQ(b.Leader()->identity, "a");
  EXPECT_EQ(b.Leader()->address, "http://a:9010");
  EXPECT_EQ(b.Leader()->term, ra.started[0]);

  Result<std::vector<store::Compare>> fence = a.Fence();
  ASSERT_TRUE(fence.ok());
  ASSERT_EQ(fence->size(), 1u);
  EXPECT_EQ((*fence)[0].key, "/drover-election/controller");
  EXPECT_EQ((*fence)[0].target, store::Compare::Target::kCreateRevision);
  EXPECT_EQ((*fence)[0].value, ra.started[0]);
  Status follower = b.Fence().status();
  EXPECT_EQ(follower.code(), StatusCode::kUnavailable);
  EXPECT_THAT(follower.message(), HasSubstr("not the leader"));
}

TEST(LeaderElectorTest, ALeaderThatRenewsKeepsLeadingPastManyLeases) {
  testing::FakeClock clock;
  FakeLeases leases(clock);
  Recorded ra, rb;
  LeaderElector a(leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(leases, clock, Options("b"), rb.Callbacks());
  a.Tick();
  for (int round = 0; round < 60; ++round) {  // 120 s: eight lease durations
    clock.Advance(2s);
    a.Tick();
    b.Tick();
  }
  EXPECT_TRUE(a.Leading());
  EXPECT_TRUE(ra.lost.empty());
  EXPECT_FALSE(b.Leading());
  EXPECT_TRUE(a.Fence().ok());
}

TEST(LeaderElectorTest, ALeaderThatCannotRenewStepsDownAtTheRenewDeadlineBeforeItsLeaseEnds) {
  testing::FakeClock clock;
  FakeLeases leases(clock);
  Recorded ra, rb;
  LeaderElector a(leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(leases, clock, Options("b"), rb.Callbacks());
  a.Tick();
  ASSERT_TRUE(a.Leading());
  leases.down = true;  // a cannot reach the store (nor can b)
  for (int second = 2; second <= 10; second += 2) {
    clock.Advance(2s);
    a.Tick();
    EXPECT_TRUE(a.Leading()) << "stepped down after " << second << " s, before the deadline";
  }
  EXPECT_TRUE(a.Fence().ok());
  clock.Advance(2s);  // 12 s since the last renewal: past the 10 s renew deadline
  EXPECT_EQ(a.Fence().status().code(), StatusCode::kUnavailable);  // refused even before a notices
  a.Tick();
  EXPECT_FALSE(a.Leading());
  ASSERT_EQ(ra.lost.size(), 1u);
  EXPECT_THAT(ra.lost[0], HasSubstr("renew deadline"));
  // Its lease is still valid (15 s): nobody else may lead yet...
  leases.down = false;
  b.Tick();
  EXPECT_FALSE(b.Leading());
  // ...and once it ran out, b takes over with a higher term; a never campaigns again.
  clock.Advance(4s);
  a.Tick();
  b.Tick();
  EXPECT_TRUE(b.Leading());
  EXPECT_FALSE(a.Leading());
  ASSERT_EQ(rb.started.size(), 1u);
  EXPECT_GT(rb.started[0], ra.started[0]);
}

TEST(LeaderElectorTest, ALeaderWhoseLeaseExpiredOrWhoseKeyWasTakenLosesAtItsNextRound) {
  testing::FakeClock clock;
  FakeLeases leases(clock);
  Recorded ra, rb;
  LeaderElector a(leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(leases, clock, Options("b"), rb.Callbacks());
  a.Tick();
  clock.Advance(20s);  // a was paused (SIGSTOP) past its lease
  b.Tick();
  ASSERT_TRUE(b.Leading());
  EXPECT_TRUE(a.Leading());  // a has not noticed yet: only the fence protects the store now
  // Past its renew deadline a refuses to write by itself; b writes under its own, newer term.
  EXPECT_EQ(a.Fence().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(b.Fence().ok());
  EXPECT_GT(b.Fence()->at(0).value, ra.started.at(0));
  a.Tick();
  EXPECT_FALSE(a.Leading());
  ASSERT_EQ(ra.lost.size(), 1u);
  EXPECT_THAT(ra.lost[0], HasSubstr("expired"));
}

TEST(LeaderElectorTest, StopHandsOverAtOnce) {
  testing::FakeClock clock;
  FakeLeases leases(clock);
  Recorded ra, rb;
  LeaderElector a(leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(leases, clock, Options("b"), rb.Callbacks());
  a.Tick();
  b.Tick();
  a.Stop();  // revokes its lease: the key goes with it
  EXPECT_FALSE(a.Leading());
  EXPECT_TRUE(ra.lost.empty());  // a stop is not a loss
  b.Tick();
  EXPECT_TRUE(b.Leading());
}

// --- on a real etcd ---------------------------------------------------------------------------

class EtcdElectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(etcd_.Start(), ""); }

  std::unique_ptr<store::Leases> OpenLeases() {
    Result<std::unique_ptr<store::Leases>> leases =
        store::OpenEtcdLeases({.endpoints = {etcd_.endpoint()}});
    EXPECT_TRUE(leases.ok()) << leases.status().ToString();
    return leases.ok() ? std::move(*leases) : nullptr;
  }
  std::unique_ptr<store::Store> OpenFenced(const LeaderElector& elector) {
    store::EtcdStoreOptions options{.endpoints = {etcd_.endpoint()}};
    options.fence = [&elector] { return elector.Fence(); };
    Result<std::unique_ptr<store::Store>> s = store::OpenEtcdStore(std::move(options));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  drover::testing::EtcdProcess etcd_;
};

store::Transaction PutTxn(const std::string& key, const std::string& value) {
  store::Transaction txn;
  txn.success.push_back(store::Operation::Put(key, value));
  return txn;
}

TEST_F(EtcdElectionTest, ADeposedLeaderThatHasNotNoticedCannotWrite) {
  testing::FakeClock clock;  // time only gates the elector's own deadlines here
  std::unique_ptr<store::Leases> leases_a = OpenLeases(), leases_b = OpenLeases();
  std::unique_ptr<store::Leases> operator_leases = OpenLeases();
  ASSERT_TRUE(leases_a && leases_b && operator_leases);
  Recorded ra, rb;
  LeaderElector a(*leases_a, clock, Options("a"), ra.Callbacks());
  LeaderElector b(*leases_b, clock, Options("b"), rb.Callbacks());
  std::unique_ptr<store::Store> store_a = OpenFenced(a), store_b = OpenFenced(b);
  ASSERT_TRUE(store_a && store_b);

  a.Tick();
  b.Tick();
  ASSERT_TRUE(a.Leading());
  ASSERT_FALSE(b.Leading());
  Result<store::TransactionResult> by_leader = store_a->Commit(PutTxn("/drover/x", "from a"));
  ASSERT_TRUE(by_leader.ok()) << by_leader.status().ToString();
  EXPECT_TRUE(by_leader->succeeded);
  Result<store::TransactionResult> by_follower = store_b->Commit(PutTxn("/drover/x", "from b"));
  EXPECT_EQ(by_follower.status().code(), StatusCode::kUnavailable);

  // a's lease ends behind its back (as when a was paused past its lease), and b takes over.
  Result<std::optional<store::LeasedKey>> holder = operator_leases->Read(a.options().key);
  ASSERT_TRUE(holder.ok() && holder->has_value());
  ASSERT_TRUE(operator_leases->Revoke((*holder)->lease).ok());
  b.Tick();
  ASSERT_TRUE(b.Leading());
  ASSERT_TRUE(a.Leading()) << "a has not run a round since: it still believes it leads";

  int64_t before = store_b->CurrentRevision();
  Result<store::TransactionResult> stale = store_a->Commit(PutTxn("/drover/x", "stale a"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(stale.status().message(), HasSubstr("fence"));
  EXPECT_EQ(store_b->CurrentRevision(), before) << "the deposed leader's write changed the store";
  Result<store::KeyValue> x = store_b->Get("/drover/x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->value, "from a");

  Result<store::TransactionResult> by_new = store_b->Commit(PutTxn("/drover/x", "from b"));
  ASSERT_TRUE(by_new.ok()) << by_new.status().ToString();
  EXPECT_TRUE(by_new->succeeded);

  a.Tick();  // now a notices, and says why
  EXPECT_FALSE(a.Leading());
  ASSERT_EQ(ra.lost.size(), 1u);
  EXPECT_THAT(ra.lost[0], HasSubstr("expired"));
}

TEST_F(EtcdElectionTest, ALeaseRunsOutOnItsOwnAndAStoppedLeaderHandsOver) {
  testing::FakeClock clock;
  std::unique_ptr<store::Leases> leases = OpenLeases();
  ASSERT_TRUE(leases);
  // etcd itself expires leases: a 2 s lease granted and never renewed is gone within ~3 s.
  Result<int64_t> lease = leases->Grant(2s);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  Result<store::LeasedKey> created = leases->CreateIfAbsent("/drover-test/k", "v", *lease);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->lease, *lease);
  Result<bool> alive = leases->KeepAlive(*lease);
  ASSERT_TRUE(alive.ok());
  EXPECT_TRUE(*alive);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(100ms);
    Result<std::optional<store::LeasedKey>> read = leases->Read("/drover-test/k");
    gone = read.ok() && !read->has_value();
  }
  EXPECT_TRUE(gone) << "etcd did not expire the lease's key";
  Result<bool> expired = leases->KeepAlive(*lease);
  ASSERT_TRUE(expired.ok());
  EXPECT_FALSE(*expired);
  EXPECT_TRUE(leases->Revoke(*lease).ok()) << "revoking an expired lease is not an error";

  Recorded ra, rb;
  LeaderElector a(*leases, clock, Options("a"), ra.Callbacks());
  LeaderElector b(*leases, clock, Options("b"), rb.Callbacks());
  a.Tick();
  b.Tick();
  ASSERT_TRUE(a.Leading());
  a.Stop();
  b.Tick();
  EXPECT_TRUE(b.Leading());
  EXPECT_EQ(b.Leader()->identity, "b");
}

}  // namespace
}  // namespace drover::controller
