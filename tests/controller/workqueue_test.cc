// The work queue's client-go semantics (dedup, one worker per key, re-queue on re-add during
// processing, delayed adds, backoff and token bucket, shutdown) and SPEC §7's priority order, on
// a fake clock: no sleeps; blocking behaviour is checked with bounded waits on futures.
#include "controller/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/controller/fake_clock.h"

namespace drover::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

// Long enough that a key which should arrive does; short enough to keep the suite fast when a
// blocked call is expected to stay blocked.
constexpr auto kArrives = seconds(10);
constexpr auto kStaysBlocked = milliseconds(50);

WorkQueueOptions FakeClockOptions() {
  WorkQueueOptions options;
  options.timer_thread = false;
  return options;
}

class WorkQueueTest : public ::testing::Test {
 protected:
  // Drains the waiting keys in the order Get hands them out, marking each done.
  std::vector<std::string> DrainKeys() {
    std::vector<std::string> keys;
    while (std::optional<WorkQueue::Item> item = queue_.TryGet()) {
      keys.push_back(item->key);
      queue_.Done(item->key);
    }
    return keys;
  }

  FakeClock clock_;
  WorkQueue queue_{clock_, FakeClockOptions()};
};

using Keys = std::vector<std::string>;

TEST_F(WorkQueueTest, KeyAddedManyTimesBeforeProcessingIsProcessedOnce) {
  queue_.Add("a");
  queue_.Add("b");
  queue_.Add("a");
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 2u);
  EXPECT_EQ(DrainKeys(), (Keys{"a", "b"}));
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, AddDuringProcessingRequeuesOnlyAfterDone) {
  queue_.Add("a");
  ASSERT_EQ(queue_.TryGet()->key, "a");
  queue_.Add("a");
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 0u) << "a key being processed must not wait in the queue";
  EXPECT_FALSE(queue_.TryGet().has_value());
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 1u);
  EXPECT_EQ(DrainKeys(), (Keys{"a"})) << "re-added once, processed once more";
}

TEST_F(WorkQueueTest, KeyBeingProcessedIsNotHandedToASecondWorker) {
  queue_.Add("a");
  ASSERT_EQ(queue_.Get()->key, "a");
  queue_.Add("a");
  auto second_worker = std::async(std::launch::async, [this] { return queue_.Get(); });
  EXPECT_EQ(second_worker.wait_for(kStaysBlocked), std::future_status::timeout)
      << "a second worker received a key that is still being processed";
  queue_.Done("a");
  ASSERT_EQ(second_worker.wait_for(kArrives), std::future_status::ready);
  std::optional<WorkQueue::Item> item = second_worker.get();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->key, "a");
}

TEST_F(WorkQueueTest, DoneWithoutReAddLeavesNothingQueued) {
  queue_.Add("a");
  ASSERT_EQ(queue_.TryGet()->key, "a");
  queue_.Done("a");
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_FALSE(queue_.TryGet().has_value());
  EXPECT_EQ(queue_.GetCounters().depth, 0);
  queue_.Add("a");
  EXPECT_EQ(queue_.Len(), 1u) << "a finished key can be added again";
}

TEST_F(WorkQueueTest, DoneForAKeyNotBeingProcessedIsIgnored) {
  queue_.Add("a");
  queue_.Done("a");
  queue_.Done("never-added");
  EXPECT_EQ(queue_.Len(), 1u);
  EXPECT_EQ(DrainKeys(), (Keys{"a"})) << "a stray Done must not duplicate a waiting key";
}

TEST_F(WorkQueueTest, HigherPriorityFirstAndFifoWithinAPriority) {
  queue_.Add("low-1", 1);
  queue_.Add("high-1", 5);
  queue_.Add("low-2", 1);
  queue_.Add("high-2", 5);
  queue_.Add("mid", 3);
  queue_.Add("negative", -2);
  queue_.Add("low-3", 1);
  EXPECT_EQ(DrainKeys(), (Keys{"high-1", "high-2", "mid", "low-1", "low-2", "low-3", "negative"}));
}

TEST_F(WorkQueueTest, ReAddOfWaitingKeyRaisesItsPriorityButNeverLowersIt) {
  queue_.Add("a", 1);
  queue_.Add("b", 1);
  queue_.Add("c", 2);
  queue_.Add("d", 4);
  queue_.Add("b", 4);  // raised: b entered before d, so it goes first among priority 4
  queue_.Add("c", 0);  // lower: ignored
  EXPECT_EQ(queue_.Len(), 4u);
  EXPECT_EQ(DrainKeys(), (Keys{"b", "d", "c", "a"}));
}

TEST_F(WorkQueueTest, ReAddDuringProcessingKeepsTheHighestPriorityForTheRequeue) {
  queue_.Add("a", 1);
  ASSERT_EQ(queue_.TryGet()->key, "a");
  queue_.Add("a", 7);
  queue_.Add("a", 2);
  queue_.Add("b", 5);
  queue_.Done("a");
  std::optional<WorkQueue::Item> first = queue_.TryGet();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->key, "a");
  EXPECT_EQ(first->priority, 7);
}

TEST_F(WorkQueueTest, GetBlocksUntilAKeyIsAdded) {
  auto worker = std::async(std::launch::async, [this] { return queue_.Get(); });
  EXPECT_EQ(worker.wait_for(kStaysBlocked), std::future_status::timeout);
  queue_.Add("a");
  ASSERT_EQ(worker.wait_for(kArrives), std::future_status::ready);
  std::optional<WorkQueue::Item> item = worker.get();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->key, "a");
}

TEST_F(WorkQueueTest, AddAfterFiresWhenTheFakeClockReachesTheDelay) {
  queue_.AddAfter("a", milliseconds(10));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_EQ(queue_.NumDelayed(), 1u);
  clock_.Advance(milliseconds(9));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u) << "fired 1ms early";
  clock_.Advance(milliseconds(1));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 1u);
  EXPECT_EQ(queue_.NumDelayed(), 0u);
  EXPECT_EQ(DrainKeys(), (Keys{"a"}));
}

TEST_F(WorkQueueTest, AddAfterWithSeveralDelaysFiresOnceAtTheEarliest) {
  queue_.AddAfter("a", milliseconds(100));
  queue_.AddAfter("a", milliseconds(10));
  queue_.AddAfter("a", milliseconds(50));
  EXPECT_EQ(queue_.NumDelayed(), 1u);
  clock_.Advance(milliseconds(10));
  queue_.PollTimers();
  EXPECT_EQ(DrainKeys(), (Keys{"a"}));
  clock_.Advance(milliseconds(200));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u) << "the later delays of the same key must not fire again";
  EXPECT_EQ(queue_.NumDelayed(), 0u);
}

TEST_F(WorkQueueTest, AddAfterWithNonPositiveDelayAddsAtOnce) {
  queue_.AddAfter("zero", milliseconds(0));
  queue_.AddAfter("negative", milliseconds(-5));
  EXPECT_EQ(queue_.Len(), 2u);
  EXPECT_EQ(queue_.NumDelayed(), 0u);
}

TEST_F(WorkQueueTest, DelayedKeysEnterTheQueueInDeadlineOrderWithTheirPriority) {
  queue_.AddAfter("late", milliseconds(30), 1);
  queue_.AddAfter("early", milliseconds(10), 1);
  queue_.AddAfter("urgent", milliseconds(20), 9);
  queue_.AddAfter("never-yet", milliseconds(500), 9);
  clock_.Advance(milliseconds(30));
  queue_.PollTimers();
  EXPECT_EQ(queue_.NumDelayed(), 1u);
  EXPECT_EQ(DrainKeys(), (Keys{"urgent", "early", "late"}));
}

TEST_F(WorkQueueTest, DelayedAddOfAKeyAlreadyWaitingIsDeduplicatedWhenItFires) {
  queue_.Add("a");
  queue_.AddAfter("a", milliseconds(5));
  clock_.Advance(milliseconds(5));
  queue_.PollTimers();
  EXPECT_EQ(DrainKeys(), (Keys{"a"}));
}

TEST_F(WorkQueueTest, RateLimitedBackoffDoublesFrom5msAndCapsAt1000s) {
  std::vector<WorkQueue::Duration> delays;
  for (int i = 0; i < 22; ++i) delays.push_back(queue_.AddRateLimited("a"));
  for (int n = 0; n < 22; ++n) {
    // 5ms * 2^17 = 655.36s is the last step under the cap; 2^18 would be 1310.72s.
    WorkQueue::Duration expected =
        n <= 17 ? WorkQueue::Duration(milliseconds(5) * (int64_t{1} << n)) : seconds(1000);
    EXPECT_EQ(delays[n], expected) << "failure " << n;
  }
  EXPECT_EQ(queue_.NumRequeues("a"), 22);
  EXPECT_EQ(queue_.AddRateLimited("b"), milliseconds(5)) << "backoff is per key";
}

TEST_F(WorkQueueTest, ForgetResetsTheBackoffOfThatKeyOnly) {
  queue_.AddRateLimited("a");
  queue_.AddRateLimited("a");
  queue_.AddRateLimited("a");
  queue_.AddRateLimited("b");
  queue_.AddRateLimited("b");
  queue_.Forget("a");
  EXPECT_EQ(queue_.NumRequeues("a"), 0);
  EXPECT_EQ(queue_.NumRequeues("b"), 2);
  EXPECT_EQ(queue_.AddRateLimited("a"), milliseconds(5));
  EXPECT_EQ(queue_.AddRateLimited("b"), milliseconds(20));
}

TEST_F(WorkQueueTest, RateLimitedKeyArrivesAfterItsBackoffOnTheFakeClock) {
  EXPECT_EQ(queue_.AddRateLimited("a"), milliseconds(5));
  clock_.Advance(milliseconds(4));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  queue_.PollTimers();
  ASSERT_EQ(DrainKeys(), (Keys{"a"}));

  EXPECT_EQ(queue_.AddRateLimited("a"), milliseconds(10));
  clock_.Advance(milliseconds(9));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  queue_.PollTimers();
  EXPECT_EQ(DrainKeys(), (Keys{"a"}));
}

TEST_F(WorkQueueTest, TokenBucketDelaysRateLimitedAddsBeyondTheBurstOf100) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(queue_.AddRateLimited("key-" + std::to_string(i)), milliseconds(5))
        << "within the burst only the per-key backoff applies (key " << i << ")";
  }
  // The bucket is empty: each further token costs 1/10 s more.
  EXPECT_EQ(queue_.AddRateLimited("key-100"), milliseconds(100));
  EXPECT_EQ(queue_.AddRateLimited("key-101"), milliseconds(200));
  EXPECT_EQ(queue_.AddRateLimited("key-102"), milliseconds(300));
  // After 1s the bucket has earned 10 tokens, 3 of them already promised.
  clock_.Advance(seconds(1));
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(queue_.AddRateLimited("later-" + std::to_string(i)), milliseconds(5)) << i;
  }
  EXPECT_EQ(queue_.AddRateLimited("later-7"), milliseconds(100));
}

TEST_F(WorkQueueTest, TokenBucketRefillsToTheBurstAndNoMore) {
  for (int i = 0; i < 100; ++i) queue_.AddRateLimited("key-" + std::to_string(i));
  clock_.Advance(seconds(3600));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(queue_.AddRateLimited("again-" + std::to_string(i)), milliseconds(5)) << i;
  }
  EXPECT_EQ(queue_.AddRateLimited("one-too-many"), milliseconds(100));
}

TEST_F(WorkQueueTest, ShutDownUnblocksWaitingGetCallers) {
  auto first = std::async(std::launch::async, [this] { return queue_.Get(); });
  auto second = std::async(std::launch::async, [this] { return queue_.Get(); });
  EXPECT_EQ(first.wait_for(kStaysBlocked), std::future_status::timeout);
  queue_.ShutDown();
  ASSERT_EQ(first.wait_for(kArrives), std::future_status::ready);
  ASSERT_EQ(second.wait_for(kArrives), std::future_status::ready);
  EXPECT_FALSE(first.get().has_value());
  EXPECT_FALSE(second.get().has_value());
  EXPECT_TRUE(queue_.ShuttingDown());
}

TEST_F(WorkQueueTest, ShutDownIgnoresNewAddsButStillHandsOutWaitingKeys) {
  queue_.Add("waiting");
  queue_.ShutDown();
  queue_.Add("late");
  queue_.AddAfter("late-delayed", milliseconds(0));
  queue_.AddRateLimited("late-rate-limited");
  std::optional<WorkQueue::Item> item = queue_.Get();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->key, "waiting");
  EXPECT_FALSE(queue_.Get().has_value());
  EXPECT_EQ(queue_.GetCounters().adds_total, 1u);
  EXPECT_EQ(queue_.GetCounters().retries_total, 0u);
}

TEST_F(WorkQueueTest, ShutDownDropsPendingDelays) {
  queue_.AddAfter("a", milliseconds(10));
  queue_.ShutDown();
  EXPECT_EQ(queue_.NumDelayed(), 0u);
  clock_.Advance(milliseconds(10));
  queue_.PollTimers();
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForKeysBeingProcessed) {
  queue_.Add("a");
  ASSERT_EQ(queue_.TryGet()->key, "a");
  auto drain = std::async(std::launch::async, [this] { queue_.ShutDownWithDrain(); });
  EXPECT_EQ(drain.wait_for(kStaysBlocked), std::future_status::timeout)
      << "drain returned while a key was still being processed";
  queue_.Done("a");
  EXPECT_EQ(drain.wait_for(kArrives), std::future_status::ready);
  EXPECT_TRUE(queue_.ShuttingDown());
}

TEST_F(WorkQueueTest, CountersTrackAddsRetriesAndDepth) {
  queue_.Add("a");
  queue_.Add("a");
  queue_.Add("b");
  WorkQueue::Counters counters = queue_.GetCounters();
  EXPECT_EQ(counters.adds_total, 2u) << "deduplicated adds do not count";
  EXPECT_EQ(counters.depth, 2);

  ASSERT_EQ(queue_.TryGet()->key, "a");
  EXPECT_EQ(queue_.GetCounters().depth, 1);
  queue_.Add("a");  // dirty while processing: counts, and is part of the depth
  counters = queue_.GetCounters();
  EXPECT_EQ(counters.adds_total, 3u);
  EXPECT_EQ(counters.depth, 2);
  EXPECT_EQ(queue_.Len(), 1u) << "Len counts only keys waiting in the queue";

  queue_.AddAfter("c", milliseconds(5));
  queue_.AddRateLimited("d");
  counters = queue_.GetCounters();
  EXPECT_EQ(counters.retries_total, 2u);
  EXPECT_EQ(counters.adds_total, 3u) << "a delayed add counts as an add only when it fires";

  queue_.Done("a");
  clock_.Advance(milliseconds(5));
  queue_.PollTimers();
  counters = queue_.GetCounters();
  EXPECT_EQ(counters.adds_total, 5u);
  EXPECT_EQ(counters.depth, 4);
  EXPECT_EQ(queue_.Len(), 4u);
  DrainKeys();
  EXPECT_EQ(queue_.GetCounters().depth, 0);
}

TEST_F(WorkQueueTest, GetReportsHowLongTheKeyWaitedSinceItBecameDirty) {
  queue_.Add("a");
  clock_.Advance(milliseconds(250));
  queue_.Add("a");  // deduplicated: does not restart the wait
  clock_.Advance(milliseconds(250));
  std::optional<WorkQueue::Item> item = queue_.TryGet();
  ASSERT_TRUE(item.has_value());
  EXPECT_DOUBLE_EQ(item->queued_seconds, 0.5);

  clock_.Advance(seconds(1));  // processing time is not queue time
  queue_.Add("a");
  clock_.Advance(seconds(2));
  queue_.Done("a");
  clock_.Advance(seconds(1));
  item = queue_.TryGet();
  ASSERT_TRUE(item.has_value());
  EXPECT_DOUBLE_EQ(item->queued_seconds, 3.0);
}

TEST_F(WorkQueueTest, PriorityOrderHoldsFor100000Keys) {
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i) queue_.Add(std::to_string(i), i % 10);
  for (int i = 0; i < kKeys; i += 7) queue_.Add(std::to_string(i), i % 10);  // dedup hits
  ASSERT_EQ(queue_.Len(), static_cast<size_t>(kKeys));
  int previous_priority = 10;
  int previous_index = -1;
  int count = 0;
  while (std::optional<WorkQueue::Item> item = queue_.TryGet()) {
    int index = std::stoi(item->key);
    ASSERT_LE(item->priority, previous_priority);
    if (item->priority == previous_priority) {
      ASSERT_GT(index, previous_index) << "not FIFO within priority " << item->priority;
    }
    previous_priority = item->priority;
    previous_index = index;
    queue_.Done(item->key);
    ++count;
  }
  EXPECT_EQ(count, kKeys);
}

TEST(WorkQueueRealClockTest, TimerThreadMovesDueKeysIntoTheQueue) {
  WorkQueue queue(RealClock());
  queue.AddAfter("a", milliseconds(1));
  auto worker = std::async(std::launch::async, [&queue] { return queue.Get(); });
  ASSERT_EQ(worker.wait_for(kArrives), std::future_status::ready);
  std::optional<WorkQueue::Item> item = worker.get();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->key, "a");
}

// Producers add random keys while four workers process them; each worker also adds keys while it
// is processing (often its own key, the re-add-during-processing path), so the two overlap for
// sure. All adds finish before ShutDown, after which workers drain what is left.
TEST(WorkQueueStressTest, FourWorkersNeverShareAKeyAndProcessEveryKeyAfterItsLastAdd) {
  constexpr int kKeys = 64;
  constexpr int kProducers = 2;
  constexpr int kAddsPerProducer = 20000;
  constexpr int kWorkerAdds = 20000;
  constexpr int kTotalAdds = kProducers * kAddsPerProducer + kWorkerAdds;
  constexpr int kWorkers = 4;

  FakeClock clock;
  WorkQueue queue(clock, FakeClockOptions());
  std::vector<std::atomic<int>> in_flight(kKeys);
  std::vector<std::atomic<int>> generation(kKeys);  // bumped before every Add of the key
  std::vector<std::atomic<int>> processed_generation(kKeys);
  std::atomic<int> overlaps{0};
  std::atomic<int> processed{0};
  std::atomic<int> self_re_adds{0};
  std::atomic<int> worker_add_budget{kWorkerAdds};
  std::atomic<int> adds_done{0};
  std::promise<void> all_added;

  auto add = [&](int key, int priority) {
    generation[key].fetch_add(1);
    queue.Add(std::to_string(key), priority);
    if (adds_done.fetch_add(1) + 1 == kTotalAdds) all_added.set_value();
  };
  auto worker = [&](unsigned seed) {
    std::mt19937 random(seed);
    while (std::optional<WorkQueue::Item> item = queue.Get()) {
      int key = std::stoi(item->key);
      if (in_flight[key].fetch_add(1) != 0) ++overlaps;
      int seen = generation[key].load();
      int recorded = processed_generation[key].load();
      while (seen > recorded && !processed_generation[key].compare_exchange_weak(recorded, seen)) {
      }
      if (worker_add_budget.fetch_sub(1) > 0) {
        bool self = random() % 2 == 0;
        if (self) ++self_re_adds;
        add(self ? key : static_cast<int>(random() % kKeys), static_cast<int>(random() % 3));
      }
      std::this_thread::yield();
      in_flight[key].fetch_sub(1);
      ++processed;
      queue.Done(item->key);
    }
  };
  auto producer = [&](unsigned seed) {
    std::mt19937 random(seed);
    for (int i = 0; i < kAddsPerProducer; ++i) {
      add(static_cast<int>(random() % kKeys), static_cast<int>(random() % 3));
    }
  };

  std::vector<std::future<void>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::async(std::launch::async, worker, 100u + i));
  }
  std::vector<std::future<void>> producers;
  for (int i = 0; i < kProducers; ++i) {
    producers.push_back(std::async(std::launch::async, producer, 17u + i));
  }
  ASSERT_EQ(all_added.get_future().wait_for(seconds(60)), std::future_status::ready);
  // Workers keep taking what is waiting (and what Done re-queues) until the queue is empty.
  queue.ShutDown();
  for (auto& w : workers) ASSERT_EQ(w.wait_for(seconds(60)), std::future_status::ready);

  EXPECT_EQ(overlaps.load(), 0) << "a key was processed by two workers at once";
  EXPECT_GE(processed.load(), self_re_adds.load())
      << "a key re-added during its processing must be processed again";
  EXPECT_GT(self_re_adds.load(), 0);
  for (int key = 0; key < kKeys; ++key) {
    if (generation[key].load() == 0) continue;
    EXPECT_EQ(processed_generation[key].load(), generation[key].load())
        << "key " << key << " was not processed after its last add";
  }
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.GetCounters().depth, 0);
}

}  // namespace
}  // namespace drover::controller
