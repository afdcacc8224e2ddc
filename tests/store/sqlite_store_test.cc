// Tests of what only the SQLite backend promises (store/sqlite_store.h): reopening restores
// everything, the lock file keeps a second store off the file, bad files give clear errors, a held
// SQLite lock fails cleanly, a large revision behind a small backlog does not end a watch, and a
// SIGKILL during commits loses no acknowledged commit.
#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/store/watch_recorder.h"
#include "tests/testing/run_process.h"

namespace drover::store {
namespace {

using ::drover::store::testing::CallbackGate;
using ::drover::store::testing::WatchRecorder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = drover::testing::MakeTempDir("drover-sqlite-test");
    ASSERT_FALSE(dir_.empty());
    path_ = (dir_ / "store.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> MustOpen(SqliteOptions options = {}) {
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static int64_t Put(Store& store, const std::string& key, const std::string& value) {
    Transaction transaction;
    transaction.success.push_back(Operation::Put(key, value));
    Result<TransactionResult> result = store.Commit(transaction);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->revision : -1;
  }

  // Runs SQL on the file through a connection of the test's own.
  void RawSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(code, SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, ReopenRestoresValuesRevisionCompactionAndHistory) {
  {
    std::unique_ptr<Store> store = MustOpen();
    ASSERT_NE(store, nullptr);
    Put(*store, "/jobs/a", "1");                                                // 1
    Put(*store, "/jobs/b", "1");                                                // 2
    Put(*store, "/jobs/a", "2");                                                // 3
    ASSERT_TRUE(store->Commit({{}, {Operation::Delete("/jobs/b")}, {}}).ok());  // 4
    Put(*store, "/jobs/c", "1");                                                // 5
    ASSERT_TRUE(store->Compact(2).ok());
  }
  std::unique_ptr<Store> store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), 5);
  EXPECT_EQ(store->CompactedRevision(), 2);
  EXPECT_EQ(*store->Get("/jobs/a"), (KeyValue{"/jobs/a", "2", 1, 3, 2}));
  EXPECT_EQ(store->Get("/jobs/b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->List("/jobs/")->revision, 5);

  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/jobs/", 2, recorder.Callback());
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  ASSERT_TRUE(recorder.WaitForEvents(3));
  EXPECT_THAT(recorder.revisions(), ElementsAre(3, 4, 5));
  std::vector<Event> events = recorder.events();
  EXPECT_EQ(events[0].prev_kv, (KeyValue{"/jobs/a", "1", 1, 1, 1}));
  EXPECT_EQ(events[1].type, Event::Type::kDelete);
  EXPECT_EQ(events[1].prev_kv, (KeyValue{"/jobs/b", "1", 2, 2, 1}));

  EXPECT_EQ(store->Watch("/jobs/", 1, recorder.Callback()).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(Put(*store, "/jobs/d", "1"), 6) << "revisions continue after a reopen";
}

TEST_F(SqliteStoreTest, SecondOpenOfTheSameFileIsRefusedWithTheHoldersPid) {
  std::unique_ptr<Store> first = MustOpen();
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<Store>> second = OpenSqliteStore(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("data dir in use by another drover process"));
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));
  first.reset();
  EXPECT_TRUE(OpenSqliteStore(path_).ok()) << "the lock goes with the store";
}

TEST_F(SqliteStoreTest, AnotherProcessCannotOpenAFileThatIsInUse) {
  std::unique_ptr<Store> store = MustOpen();
  ASSERT_NE(store, nullptr);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<std::unique_ptr<Store>> other = OpenSqliteStore(path_);
    bool refused =
        !other.ok() && other.status().code() == StatusCode::kUnavailable &&
        other.status().message().find("in use by another drover process") != std::string::npos;
    _exit(refused ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child process opened a file that was in use";
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseGivesAClearError) {
  std::ofstream(path_, std::ios::binary) << std::string(8192, 'x');
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInternal);
  EXPECT_THAT(store.status().message(), HasSubstr(path_));
  EXPECT_THAT(store.status().message(), HasSubstr("not a database"));
  EXPECT_THAT(store.status().message(), HasSubstr("corrupt"));
}

TEST_F(SqliteStoreTest, CorruptedPagesGiveAnErrorNotACrash) {
  {
    std::unique_ptr<Store> store = MustOpen();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 200; ++i) Put(*store, "/k/" + std::to_string(i), std::string(1000, 'v'));
  }
  RawSql("PRAGMA wal_checkpoint(TRUNCATE);");
  {
    // Overwrite everything after the first page (the header stays valid) with garbage.
    std::fstream file(path_, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(4096);
    std::string garbage(64 * 1024, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  if (!store.ok()) {
    EXPECT_THAT(store.status().message(), HasSubstr(path_));
    EXPECT_THAT(store.status().message(), HasSubstr("corrupt"));
    return;
  }
  // If the damage is not on the pages that opening reads, reading the rest must fail cleanly.
  Result<RangeResult> range = (*store)->List("/k/");
  ASSERT_FALSE(range.ok()) << "a corrupted table was listed";
  EXPECT_THAT(range.status().message(), HasSubstr("corrupt"));
}

TEST_F(SqliteStoreTest, MissingFolderGivesUnavailableWithThePath) {
  const std::string path = (dir_ / "no-such-folder" / "store.db").string();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
}

TEST_F(SqliteStoreTest, SqliteDatabaseThatIsNotADroverStoreIsRefused) {
  RawSql("CREATE TABLE something_else (x INTEGER);");
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalid);
  EXPECT_THAT(store.status().message(), HasSubstr("not a Drover store"));
}

TEST_F(SqliteStoreTest, UnknownSchemaVersionIsRefused) {
  MustOpen().reset();
  RawSql("UPDATE schema_version SET version = 99;");
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("unsupported schema version \"99\""));
}

TEST_F(SqliteStoreTest, HeldSqliteWriteLockFailsCommitsCleanlyAndReadsStillWork) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  std::unique_ptr<Store> store = MustOpen(options);
  ASSERT_NE(store, nullptr);
  Put(*store, "/a", "1");

  // Another connection (not a Drover store: it bypasses the lock file) takes the write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE; UPDATE meta SET revision = revision;", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);

  Transaction transaction;
  transaction.success.push_back(Operation::Put("/b", "1"));
  Result<TransactionResult> blocked = store->Commit(transaction);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(blocked.status().message(), HasSubstr("locked"));
  // WAL readers do not wait for the writer.
  EXPECT_EQ(store->Get("/a")->value, "1");
  EXPECT_EQ(store->List("/")->items.size(), 1u);

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  Result<TransactionResult> retried = store->Commit(transaction);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->revision, 2) << "the failed commit did not use up a revision";
  EXPECT_EQ(store->Get("/b")->value, "1");
}

TEST_F(SqliteStoreTest, ALargeRevisionBehindASmallBacklogDoesNotEndTheWatch) {
  // The controller's status writer commits small batches while a reconcile commits 100,000
  // executions: the large revision may arrive while a small one still waits. Only a backlog at
  // the limit ends a watch (the in-process backends' WatchHub rule).
  SqliteOptions options;
  options.watch_buffer_events = 10;
  std::unique_ptr<Store> store = MustOpen(options);
  ASSERT_NE(store, nullptr);
  CallbackGate gate;
  WatchRecorder recorder(gate.OnBatch());
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/k/", 0, recorder.Callback());
  ASSERT_TRUE(handle.ok());
  Put(*store, "/k/first", "v");
  ASSERT_TRUE(gate.WaitUntilHeld());
  for (int i = 0; i < 3; ++i) Put(*store, "/k/small" + std::to_string(i), "v");  // backlog 3
  Transaction large;
  for (int i = 0; i < 50; ++i) {
    large.success.push_back(Operation::Put("/k/large" + std::to_string(i), "v"));
  }
  ASSERT_TRUE(store->Commit(large).ok());
  gate.Open();
  ASSERT_TRUE(recorder.WaitForEvents(54));
  EXPECT_FALSE(recorder.final_status().has_value());
  EXPECT_THAT(recorder.revisions(), ElementsAre(1, 2, 3, 4, 5));

  // a backlog at the limit does end it
  gate.Close();
  Put(*store, "/k/again", "v");
  ASSERT_TRUE(gate.WaitUntilHeld());
  for (int i = 0; i < 11; ++i) Put(*store, "/k/more" + std::to_string(i), "v");
  gate.Open();
  ASSERT_TRUE(recorder.WaitForFinalStatus());
  EXPECT_EQ(recorder.final_status()->code(), StatusCode::kUnavailable);
}

TEST_F(SqliteStoreTest, NormalSynchronousModeStoresAndReopens) {
  SqliteOptions options;
  options.synchronous = SqliteOptions::Synchronous::kNormal;
  {
    std::unique_ptr<Store> store = MustOpen(options);
    ASSERT_NE(store, nullptr);
    Put(*store, "/a", "1");
  }
  std::unique_ptr<Store> store = MustOpen(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get("/a")->value, "1");
}

TEST_F(SqliteStoreTest, FileIsInWalMode) {
  MustOpen().reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

std::string CrashKey(int64_t index) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "/crash/%08lld", static_cast<long long>(index));
  return buffer;
}

std::string CrashValue(int64_t index) { return std::string(2000, 'j') + std::to_string(index); }

struct Acknowledgement {
  int64_t index;
  int64_t revision;
};

TEST_F(SqliteStoreTest, SigkillDuringCommitsLosesNoAcknowledgedCommit) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child commits as fast as it can and reports each commit once Commit returned.
    close(pipe_fds[0]);
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
    if (!store.ok()) _exit(2);
    for (int64_t i = 0; i < 10'000'000; ++i) {
      Result<TransactionResult> result = CreateOnly(**store, CrashKey(i), CrashValue(i));
      if (!result.ok()) _exit(3);
      Acknowledgement ack{i, result->revision};
      if (write(pipe_fds[1], &ack, sizeof(ack)) != sizeof(ack)) _exit(4);
    }
    _exit(0);
  }
  close(pipe_fds[1]);

  std::vector<Acknowledgement> acks;
  auto read_acks = [&](std::chrono::milliseconds budget) {
    auto deadline = std::chrono::steady_clock::now() + budget;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      pollfd poll_fd{pipe_fds[0], POLLIN, 0};
      if (poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
      Acknowledgement ack;
      ssize_t size = read(pipe_fds[0], &ack, sizeof(ack));
      if (size == 0) return false;  // end of file: the child is gone
      if (size == sizeof(ack)) acks.push_back(ack);
    }
  };
  // Wait (bounded) for the child to start committing, then let it run ~300 ms and kill it.
  auto start_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (acks.empty() && std::chrono::steady_clock::now() < start_deadline) {
    if (!read_acks(std::chrono::milliseconds(10))) break;
  }
  ASSERT_FALSE(acks.empty()) << "the child never committed";
  ASSERT_TRUE(read_acks(std::chrono::milliseconds(300))) << "the child died on its own";
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_FALSE(read_acks(std::chrono::seconds(10))) << "the pipe did not close after SIGKILL";
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  ASSERT_GT(acks.size(), 10u);

  std::unique_ptr<Store> store = MustOpen();
  ASSERT_NE(store, nullptr);
  const int64_t revision = store->CurrentRevision();
  EXPECT_GE(revision, acks.back().revision);
  for (const Acknowledgement& ack : acks) {
    Result<KeyValue> kv = store->Get(CrashKey(ack.index));
    ASSERT_TRUE(kv.ok()) << "acknowledged key " << ack.index << " lost";
    ASSERT_EQ(kv->value, CrashValue(ack.index));
    ASSERT_EQ(kv->mod_revision, ack.revision);
  }
  // Consistent: each commit created one key, so the keys are exactly 0..revision-1, each at
  // revision index+1, and history holds every revision.
  Result<RangeResult> range = store->List("/crash/");
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(static_cast<int64_t>(range->items.size()), revision);
  for (int64_t i = 0; i < revision; ++i) {
    ASSERT_EQ(range->items[i].key, CrashKey(i));
    ASSERT_EQ(range->items[i].mod_revision, i + 1);
  }
  WatchRecorder recorder;
  Result<std::unique_ptr<WatchHandle>> handle = store->Watch("/crash/", 0, recorder.Callback());
  ASSERT_TRUE(handle.ok());
  ASSERT_TRUE(recorder.WaitForEvents(static_cast<size_t>(revision)));
  EXPECT_EQ(recorder.revisions().back(), revision);
  handle->reset();
  store.reset();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "ok");
  sqlite3_finalize(statement);
  sqlite3_close(db);
  std::printf("crash test: %zu acknowledged commits before SIGKILL, %lld on disk\n", acks.size(),
              static_cast<long long>(revision));
}

}  // namespace
}  // namespace drover::store
