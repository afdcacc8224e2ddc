// Benchmarks of the store backends on the operations the controller runs most: creating a job
// (one transaction of three puts: job, version, event; ~2 KB each for the first two), a
// compare-and-swap update of an existing key, a point read among 10,000 keys, and a list of a
// 100-key prefix. SQLite runs on a file under $DROVER_BENCH_DIR (default: the system temp dir),
// with synchronous=FULL (the default) and NORMAL.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "store/memory_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace drover::store {
namespace {

enum class Backend { kMemory, kSqliteFull, kSqliteNormal };

// A store of one backend, and the folder it lives in (removed afterwards).
class BenchStore {
 public:
  explicit BenchStore(Backend backend) {
    if (backend == Backend::kMemory) {
      store_ = NewMemoryStore();
      return;
    }
    const char* base = std::getenv("DROVER_BENCH_DIR");
    std::filesystem::path parent =
        base != nullptr ? std::filesystem::path(base) : std::filesystem::temp_directory_path();
    static int counter = 0;
    dir_ = parent /
           ("drover-store-bench-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    SqliteOptions options;
    options.synchronous = backend == Backend::kSqliteFull ? SqliteOptions::Synchronous::kFull
                                                          : SqliteOptions::Synchronous::kNormal;
    Result<std::unique_ptr<Store>> store = OpenSqliteStore((dir_ / "store.db").string(), options);
    if (store.ok()) store_ = std::move(*store);
    error_ = store.status().ToString();
  }
  ~BenchStore() {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  Store* get() { return store_.get(); }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  std::string error_;
};

// A job-like document of about `size` bytes.
std::string JobLikeValue(size_t size, int seed) {
  std::string value = R"({"name":"log-processor-)" + std::to_string(seed) +
                      R"(","type":"pipeline","selector":"site=eu-west,hw=rpi4","config":")";
  while (value.size() + 2 < size) value += "input.file.paths=/var/log/app/*.log;";
  value.resize(size - 2);
  value += "\"}";
  return value;
}

void BM_CreateJob(benchmark::State& state, Backend backend) {
  BenchStore bench(backend);
  if (bench.get() == nullptr) return state.SkipWithError(bench.error().c_str());
  Store& store = *bench.get();
  const std::string spec = JobLikeValue(2048, 1);
  const std::string event(200, 'e');
  int job = 0;
  for (auto _ : state) {
    std::string id = std::to_string(job++);
    Transaction transaction;
    transaction.compares.push_back({"/jobs/" + id, Compare::Target::kCreateRevision, 0});
    transaction.success = {Operation::Put("/jobs/" + id, spec),
                           Operation::Put("/versions/" + id + "/1", spec),
                           Operation::Put("/events/" + id + "/1", event)};
    Result<TransactionResult> result = store.Commit(transaction);
    if (!result.ok() || !result->succeeded) return state.SkipWithError("create failed");
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CasUpdate(benchmark::State& state, Backend backend) {
  BenchStore bench(backend);
  if (bench.get() == nullptr) return state.SkipWithError(bench.error().c_str());
  Store& store = *bench.get();
  const std::string spec = JobLikeValue(2048, 2);
  Result<TransactionResult> created = CreateOnly(store, "/jobs/cas", spec);
  if (!created.ok()) return state.SkipWithError("setup failed");
  int64_t mod_revision = created->revision;
  for (auto _ : state) {
    Result<TransactionResult> result = UpdateIfRevision(store, "/jobs/cas", spec, mod_revision);
    if (!result.ok()) return state.SkipWithError("CAS update failed");
    mod_revision = result->revision;
  }
  state.SetItemsProcessed(state.iterations());
}

// 100 prefixes of 100 keys each: /jobs/p00/k00 ... /jobs/p99/k99, ~2 KB values.
bool FillTenThousandKeys(Store& store) {
  const std::string spec = JobLikeValue(2048, 3);
  for (int prefix = 0; prefix < 100; ++prefix) {
    Transaction transaction;
    for (int key = 0; key < 100; ++key) {
      char name[32];
      std::snprintf(name, sizeof(name), "/jobs/p%02d/k%02d", prefix, key);
      transaction.success.push_back(Operation::Put(name, spec));
    }
    if (!store.Commit(transaction).ok()) return false;
  }
  return true;
}

void BM_GetAmongTenThousand(benchmark::State& state, Backend backend) {
  BenchStore bench(backend);
  if (bench.get() == nullptr) return state.SkipWithError(bench.error().c_str());
  Store& store = *bench.get();
  if (!FillTenThousandKeys(store)) return state.SkipWithError("setup failed");
  std::mt19937 random(42);
  std::uniform_int_distribution<int> pick(0, 9999);
  char name[32];
  for (auto _ : state) {
    int n = pick(random);
    std::snprintf(name, sizeof(name), "/jobs/p%02d/k%02d", n / 100, n % 100);
    Result<KeyValue> kv = store.Get(name);
    if (!kv.ok()) return state.SkipWithError("get failed");
    benchmark::DoNotOptimize(kv);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ListHundredKeyPrefix(benchmark::State& state, Backend backend) {
  BenchStore bench(backend);
  if (bench.get() == nullptr) return state.SkipWithError(bench.error().c_str());
  Store& store = *bench.get();
  if (!FillTenThousandKeys(store)) return state.SkipWithError("setup failed");
  std::mt19937 random(42);
  std::uniform_int_distribution<int> pick(0, 99);
  char prefix[32];
  for (auto _ : state) {
    std::snprintf(prefix, sizeof(prefix), "/jobs/p%02d/", pick(random));
    Result<RangeResult> range = store.List(prefix);
    if (!range.ok() || range->items.size() != 100) return state.SkipWithError("list failed");
    benchmark::DoNotOptimize(range);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_CreateJob, memory, Backend::kMemory);
BENCHMARK_CAPTURE(BM_CreateJob, sqlite_full, Backend::kSqliteFull)->UseRealTime();
BENCHMARK_CAPTURE(BM_CreateJob, sqlite_normal, Backend::kSqliteNormal)->UseRealTime();
BENCHMARK_CAPTURE(BM_CasUpdate, memory, Backend::kMemory);
BENCHMARK_CAPTURE(BM_CasUpdate, sqlite_full, Backend::kSqliteFull)->UseRealTime();
BENCHMARK_CAPTURE(BM_CasUpdate, sqlite_normal, Backend::kSqliteNormal)->UseRealTime();
BENCHMARK_CAPTURE(BM_GetAmongTenThousand, memory, Backend::kMemory);
BENCHMARK_CAPTURE(BM_GetAmongTenThousand, sqlite, Backend::kSqliteFull)->UseRealTime();
BENCHMARK_CAPTURE(BM_ListHundredKeyPrefix, memory, Backend::kMemory);
BENCHMARK_CAPTURE(BM_ListHundredKeyPrefix, sqlite, Backend::kSqliteFull)->UseRealTime();

}  // namespace
}  // namespace drover::store

BENCHMARK_MAIN();
