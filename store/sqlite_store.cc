#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "store/apply_transaction.h"
#include "store/watch_hub.h"

namespace drover::store {
namespace {

constexpr int64_t kSchemaVersion = 1;
// Compaction deletes history in slices of this many revisions, one SQLite transaction each, so
// that commits are not held up behind one huge delete.
constexpr int64_t kCompactSliceRevisions = 1'000;

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL,
  compact_revision INTEGER NOT NULL
);
INSERT INTO meta (id, revision, compact_revision) VALUES (1, 0, 0);
CREATE TABLE kv (
  key BLOB NOT NULL PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE events (
  revision INTEGER NOT NULL,
  position INTEGER NOT NULL,
  type INTEGER NOT NULL CHECK (type IN (0, 1)),
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  prev_value BLOB,
  prev_create_revision INTEGER,
  prev_mod_revision INTEGER,
  prev_version INTEGER,
  PRIMARY KEY (revision, position)
);
)sql";

constexpr int kEventPut = 0;
constexpr int kEventDelete = 1;

constexpr const char* kEventColumns =
    "revision, position, type, key, value, create_revision, mod_revision, version, prev_value, "
    "prev_create_revision, prev_mod_revision, prev_version";

// "sqlite <path>: <what>: <SQLite's message>", with a code that tells the caller whether retrying
// can help (busy, locked, I/O, disk full: kUnavailable) or not (corrupt, not a database, misuse).
Status SqliteError(const std::string& path, std::string_view what, int code, const char* message) {
  std::string text = "sqlite " + path + ": " + std::string(what) + ": " +
                     (message != nullptr ? message : sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(text + " (another connection holds the database lock)");
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      return UnavailableError(text);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return InternalError(text + " (the file is corrupt or not a Drover store)");
    default:
      return InternalError(text);
  }
}

Status SqliteError(const std::string& path, std::string_view what, sqlite3* db, int code) {
  return SqliteError(path, what, code, db != nullptr ? sqlite3_errmsg(db) : nullptr);
}

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }  // waits for open statements
};
using Database = std::unique_ptr<sqlite3, DatabaseCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// One execution of a prepared statement: binds, steps, reads columns, and resets the statement
// when it goes out of scope (so that no read transaction stays open by accident).
class Query {
 public:
  Query(const std::string& path, const Statement& statement, std::string_view what)
      : path_(path), statement_(statement.get()), what_(what) {}
  ~Query() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int index, std::string_view bytes) {
    // A null pointer would bind NULL, not an empty blob.
    Check(sqlite3_bind_blob64(statement_, index, bytes.empty() ? "" : bytes.data(), bytes.size(),
                              SQLITE_STATIC));
    return *this;
  }
  Query& Bind(int index, int64_t number) {
    Check(sqlite3_bind_int64(statement_, index, number));
    return *this;
  }
  Query& BindNull(int index) {
    Check(sqlite3_bind_null(statement_, index));
    return *this;
  }

  // True with a row to read, false when done.
  Result<bool> Step() {
    if (bind_code_ != SQLITE_OK) {
      return SqliteError(path_, what_, sqlite3_db_handle(statement_), bind_code_);
    }
    int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    return SqliteError(path_, what_, sqlite3_db_handle(statement_), code);
  }

  // Runs a statement that returns no rows.
  Status Run() {
    Result<bool> row = Step();
    return row.ok() ? Status::Ok() : row.status();
  }

  int64_t Int(int column) const { return sqlite3_column_int64(statement_, column); }
  bool IsNull(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::string Bytes(int column) const {
    const void* data = sqlite3_column_blob(statement_, column);
    int size = sqlite3_column_bytes(statement_, column);
    return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
  }

 private:
  void Check(int code) {
    if (code != SQLITE_OK && bind_code_ == SQLITE_OK) bind_code_ = code;
  }

  const std::string& path_;
  sqlite3_stmt* statement_;
  std::string_view what_;
  int bind_code_ = SQLITE_OK;
};

// One SQLite connection and the statements it has prepared.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int busy_timeout_ms) {
    sqlite3* raw = nullptr;
    int code = sqlite3_open_v2(
        path.c_str(), &raw,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
        nullptr);
    auto connection = std::unique_ptr<Connection>(new Connection(path, Database(raw)));
    if (code != SQLITE_OK) return SqliteError(path, "open", raw, code);
    sqlite3_busy_timeout(raw, busy_timeout_ms);
    return connection;
  }

  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

  Result<Statement> Prepare(std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    int code = sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (code != SQLITE_OK) {
      sqlite3_finalize(raw);
      return SqliteError(path_, "prepare \"" + std::string(sql) + "\"", db(), code);
    }
    return Statement(raw);
  }

  // Runs SQL text (several statements allowed) that returns no rows.
  Status Execute(const char* sql, std::string_view what) {
    char* message = nullptr;
    int code = sqlite3_exec(db(), sql, nullptr, nullptr, &message);
    Status status = code == SQLITE_OK ? Status::Ok() : SqliteError(path_, what, code, message);
    sqlite3_free(message);
    return status;
  }

  // Runs `sql` and returns the first column of its first row as text ("" with no row).
  Result<std::string> QueryText(const char* sql, std::string_view what) {
    Result<Statement> statement = Prepare(sql);
    if (!statement.ok()) return statement.status();
    Query query(path_, *statement, what);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    return *row ? query.Bytes(0) : std::string();
  }

  // Ends a failed transaction if SQLite has not already rolled it back.
  void RollbackIfActive() {
    if (sqlite3_get_autocommit(db()) == 0)
      sqlite3_exec(db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  Connection(std::string path, Database db) : path_(std::move(path)), db_(std::move(db)) {}

  std::string path_;
  Database db_;
};

// The statements over the `kv`, `meta` and `events` tables, for a reader or the writer.
struct Statements {
  Statement begin;
  Statement commit;
  Statement get;
  Statement read_meta;
  // List: [lower bound exclusive (start_after) or inclusive (prefix)][with an upper bound].
  Statement list[2][2];
  Statement history[2];  // [with an upper bound on the key]
  Statement history_of_revision[2];
  // Writer only.
  Statement upsert;
  Statement remove;
  Statement insert_event;
  Statement set_revision;
  Statement set_compact_revision;
  Statement delete_history;

  Status PrepareForReading(Connection& connection) {
    const std::string columns = "key, value, create_revision, mod_revision, version";
    struct Item {
      Statement* statement;
      std::string sql;
    };
    std::vector<Item> items = {
        {&begin, "BEGIN"},
        {&commit, "COMMIT"},
        {&get, "SELECT value, create_revision, mod_revision, version FROM kv WHERE key = ?1"},
        {&read_meta, "SELECT revision, compact_revision FROM meta WHERE id = 1"},
    };
    for (int exclusive = 0; exclusive < 2; ++exclusive) {
      for (int bounded = 0; bounded < 2; ++bounded) {
        items.push_back({&list[exclusive][bounded],
                         "SELECT " + columns + " FROM kv WHERE key " + (exclusive ? ">" : ">=") +
                             " ?1" + (bounded ? " AND key < ?2" : "") + " ORDER BY key LIMIT ?3"});
      }
    }
    for (int bounded = 0; bounded < 2; ++bounded) {
      std::string key_range = std::string(" AND key >= ?3") + (bounded ? " AND key < ?4" : "");
      items.push_back(
          {&history[bounded], std::string("SELECT ") + kEventColumns +
                                  " FROM events WHERE revision > ?1 AND revision <= ?2" +
                                  key_range + " ORDER BY revision, position LIMIT ?5"});
      items.push_back({&history_of_revision[bounded],
                       std::string("SELECT ") + kEventColumns +
                           " FROM events WHERE revision > ?1 AND revision <= ?2" + key_range +
                           " ORDER BY revision, position"});
    }
    return PrepareAll(connection, items);
  }

  Status PrepareForWriting(Connection& connection) {
    if (Status s = PrepareForReading(connection); !s.ok()) return s;
    struct Item {
      Statement* statement;
      std::string sql;
    };
    std::vector<Item> items = {
        {&begin, "BEGIN IMMEDIATE"},
        {&upsert,
         "INSERT INTO kv (key, value, create_revision, mod_revision, version) "
         "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
         "create_revision = excluded.create_revision, mod_revision = excluded.mod_revision, "
         "version = excluded.version"},
        {&remove, "DELETE FROM kv WHERE key = ?1"},
        {&insert_event, std::string("INSERT INTO events (") + kEventColumns +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
        {&set_revision, "UPDATE meta SET revision = ?1 WHERE id = 1"},
        {&set_compact_revision, "UPDATE meta SET compact_revision = ?1 WHERE id = 1"},
        {&delete_history, "DELETE FROM events WHERE revision > ?1 AND revision <= ?2"},
    };
    return PrepareAll(connection, items);
  }

 private:
  template <typename Items>
  static Status PrepareAll(Connection& connection, Items& items) {
    for (auto& item : items) {
      Result<Statement> statement = connection.Prepare(item.sql);
      if (!statement.ok()) return statement.status();
      *item.statement = std::move(*statement);
    }
    return Status::Ok();
  }
};

struct SqliteConnection {
  std::unique_ptr<Connection> connection;
  Statements statements;
};

Result<std::unique_ptr<SqliteConnection>> OpenConnection(const std::string& path,
                                                         const SqliteOptions& options,
                                                         bool writer) {
  Result<std::unique_ptr<Connection>> connection = Connection::Open(path, options.busy_timeout_ms);
  if (!connection.ok()) return connection.status();
  auto result = std::make_unique<SqliteConnection>();
  result->connection = std::move(*connection);
  Connection& c = *result->connection;
  if (writer) {
    Result<std::string> mode = c.QueryText("PRAGMA journal_mode = WAL", "switch to WAL mode");
    if (!mode.ok()) return mode.status();
    if (*mode != "wal") {
      return InternalError("sqlite " + path + ": cannot use WAL mode (journal mode is \"" + *mode +
                           "\")");
    }
    const char* synchronous = options.synchronous == SqliteOptions::Synchronous::kFull
                                  ? "PRAGMA synchronous = FULL"
                                  : "PRAGMA synchronous = NORMAL";
    if (Status s = c.Execute(synchronous, "set synchronous"); !s.ok()) return s;
  } else {
    if (Status s = c.Execute("PRAGMA query_only = 1", "make a reader"); !s.ok()) return s;
  }
  return result;
}

// Creates the schema in an empty file, or checks that an existing file is a Drover store of a
// version this code understands.
Status PrepareSchema(Connection& c) {
  if (Status s = c.Execute("BEGIN IMMEDIATE", "check the schema"); !s.ok()) return s;
  auto fail = [&](Status status) {
    c.RollbackIfActive();
    return status;
  };
  Result<Statement> tables_statement =
      c.Prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
  if (!tables_statement.ok()) return fail(tables_statement.status());
  std::set<std::string> tables;
  {
    Query query(c.path(), *tables_statement, "read the schema");
    while (true) {
      Result<bool> row = query.Step();
      if (!row.ok()) return fail(row.status());
      if (!*row) break;
      tables.insert(query.Bytes(0));
    }
  }
  if (tables.empty()) {
    if (Status s = c.Execute(kCreateSchema, "create the schema"); !s.ok()) return fail(s);
  } else {
    if (!tables.contains("schema_version")) {
      return fail(InvalidError("sqlite " + c.path() +
                               ": not a Drover store (an SQLite database without a "
                               "schema_version table)"));
    }
    Result<std::string> version =
        c.QueryText("SELECT CAST(version AS TEXT) FROM schema_version", "read the schema version");
    if (!version.ok()) return fail(version.status());
    if (*version != std::to_string(kSchemaVersion)) {
      return fail(InvalidError("sqlite " + c.path() + ": unsupported schema version \"" + *version +
                               "\" (this Drover reads version " + std::to_string(kSchemaVersion) +
                               ")"));
    }
    for (const char* table : {"meta", "kv", "events"}) {
      if (!tables.contains(table)) {
        return fail(InternalError("sqlite " + c.path() + ": damaged Drover store: table \"" +
                                  table + "\" is missing"));
      }
    }
    // A compaction interrupted by a crash may have left history it had already given up.
    if (Status s = c.Execute(
            "DELETE FROM events WHERE revision <= (SELECT compact_revision FROM meta WHERE id = 1)",
            "finish an interrupted compaction");
        !s.ok()) {
      return fail(s);
    }
  }
  if (Status s = c.Execute("COMMIT", "commit the schema"); !s.ok()) return fail(s);
  return Status::Ok();
}

// An exclusive flock on `path + ".lock"`, held for the store's lifetime, with our pid inside so
// that the refusal can name the holder. Released by the kernel when the process dies.
class LockFile {
 public:
  static Result<std::unique_ptr<LockFile>> Acquire(const std::string& store_path) {
    std::string path = store_path + ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return UnavailableError("cannot open lock file " + path + ": " + std::strerror(errno));
    }
    auto lock = std::unique_ptr<LockFile>(new LockFile(fd));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) {
        return UnavailableError("cannot lock " + path + ": " + std::strerror(errno));
      }
      char buffer[32] = {};
      ssize_t size = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
      std::string holder = size > 0 ? std::string(buffer, size) : std::string();
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return UnavailableError("data dir in use by another drover process (pid " +
                              (holder.empty() ? std::string("unknown") : holder) + "): " + path +
                              " is locked");
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      return UnavailableError("cannot write lock file " + path + ": " + std::strerror(errno));
    }
    return lock;
  }

  ~LockFile() { ::close(fd_); }  // closing releases the flock
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

// Read connections, lent to one thread at a time.
class ReaderPool {
 public:
  class Lease {
   public:
    Lease(ReaderPool& pool, SqliteConnection* connection) : pool_(pool), connection_(connection) {}
    ~Lease() { pool_.Return(connection_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    SqliteConnection* operator->() const { return connection_; }
    SqliteConnection& operator*() const { return *connection_; }

   private:
    ReaderPool& pool_;
    SqliteConnection* connection_;
  };

  void Add(std::unique_ptr<SqliteConnection> connection) {
    free_.push_back(connection.get());
    all_.push_back(std::move(connection));
  }

  Lease Acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    available_.wait(lock, [&] { return !free_.empty(); });
    SqliteConnection* connection = free_.back();
    free_.pop_back();
    return Lease(*this, connection);
  }

 private:
  void Return(SqliteConnection* connection) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      free_.push_back(connection);
    }
    available_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<SqliteConnection*> free_;
  std::vector<std::unique_ptr<SqliteConnection>> all_;
};

// A read transaction on a reader connection, so that several statements see one snapshot.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(SqliteConnection& c) : c_(c) {}
  ~ReadSnapshot() {
    if (open_) {
      Query commit(c_.connection->path(), c_.statements.commit, "end a read");
      (void)commit.Run();
      c_.connection->RollbackIfActive();
    }
  }
  Status Begin() {
    Query begin(c_.connection->path(), c_.statements.begin, "begin a read");
    Status status = begin.Run();
    open_ = status.ok();
    return status;
  }

 private:
  SqliteConnection& c_;
  bool open_ = false;
};

struct Meta {
  int64_t revision = 0;
  int64_t compact_revision = 0;
};

Result<Meta> ReadMeta(SqliteConnection& c) {
  Query query(c.connection->path(), c.statements.read_meta, "read the store revision");
  Result<bool> row = query.Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return InternalError("sqlite " + c.connection->path() + ": damaged Drover store: no meta row");
  }
  return Meta{query.Int(0), query.Int(1)};
}

KeyValue ReadKeyValue(const Query& query) {
  return {query.Bytes(0), query.Bytes(1), query.Int(2), query.Int(3), query.Int(4)};
}

Event ReadEvent(const Query& query) {
  Event event;
  event.type = query.Int(2) == kEventPut ? Event::Type::kPut : Event::Type::kDelete;
  event.kv = {query.Bytes(3), query.Bytes(4), query.Int(5), query.Int(6), query.Int(7)};
  if (!query.IsNull(8)) {
    event.prev_kv =
        KeyValue{event.kv.key, query.Bytes(8), query.Int(9), query.Int(10), query.Int(11)};
  }
  return event;
}

Status CompactedError(int64_t after_revision, int64_t compact_revision) {
  return OutOfRangeError("watch from revision " + std::to_string(after_revision) +
                         ": history up to revision " + std::to_string(compact_revision) +
                         " was compacted; re-list, then watch from the list's revision");
}

class SqliteStore : public Store {
 public:
  SqliteStore(std::string path, SqliteOptions options, std::unique_ptr<LockFile> lock,
              std::unique_ptr<SqliteConnection> writer, Meta meta)
      : path_(std::move(path)),
        lock_(std::move(lock)),
        writer_(std::move(writer)),
        revision_(meta.revision),
        compacted_(meta.compact_revision),
        hub_(std::make_unique<WatchHub>(
            [this](std::string_view prefix, int64_t after, int64_t through, size_t max_events) {
              return ReadHistory(prefix, after, through, max_events);
            },
            WatchHubOptions{.max_buffered_events = options.watch_buffer_events})) {}

  ~SqliteStore() override { hub_.reset(); }  // no callback or history read after this

  void AddReader(std::unique_ptr<SqliteConnection> reader) { readers_.Add(std::move(reader)); }

  Result<KeyValue> Get(std::string_view key) override {
    ReaderPool::Lease reader = readers_.Acquire();
    Query query(path_, reader->statements.get, "get");
    query.Bind(1, key);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFoundError("key \"" + std::string(key) + "\" not found");
    return KeyValue{std::string(key), query.Bytes(0), query.Int(1), query.Int(2), query.Int(3)};
  }

  Result<RangeResult> List(std::string_view prefix, std::string_view start_after,
                           size_t limit) override {
    ReaderPool::Lease reader = readers_.Acquire();
    ReadSnapshot snapshot(*reader);
    if (Status s = snapshot.Begin(); !s.ok()) return s;
    Result<Meta> meta = ReadMeta(*reader);
    if (!meta.ok()) return meta.status();
    RangeResult result;
    result.revision = meta->revision;

    const bool exclusive = !start_after.empty() && start_after >= prefix;
    const std::string end = PrefixEnd(prefix);
    Query query(path_, reader->statements.list[exclusive][!end.empty()], "list");
    query.Bind(1, exclusive ? start_after : prefix);
    if (!end.empty()) query.Bind(2, end);
    query.Bind(3, limit == 0 ? int64_t{-1} : static_cast<int64_t>(limit) + 1);
    while (true) {
      Result<bool> row = query.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (limit != 0 && result.items.size() == limit) {
        result.more = true;
        break;
      }
      result.items.push_back(ReadKeyValue(query));
    }
    return result;
  }

  // Group commit: concurrent Commit calls queue up; whoever finds the writer free takes every
  // waiting transaction and applies them in one SQLite transaction with one fsync, each inside
  // its own savepoint (so one failing transaction does not undo the others) and with its own
  // revision. Results and watch events are exactly those of committing them one by one in
  // queue order.
  Result<TransactionResult> Commit(const Transaction& transaction) override {
    if (Status s = CheckTransactionShape(transaction); !s.ok()) return s;
    auto pending = std::make_shared<PendingCommit>();
    pending->transaction = &transaction;
    {
      std::lock_guard<std::mutex> queue_lock(queue_mutex_);
      queue_.push_back(pending);
    }
    std::unique_lock<std::mutex> lock(write_mutex_);
    if (pending->done) return pending->result;  // a leader committed it while we waited
    std::vector<std::shared_ptr<PendingCommit>> batch;
    {
      std::lock_guard<std::mutex> queue_lock(queue_mutex_);
      batch.swap(queue_);
    }
    CommitBatch(batch);
    return pending->result;
  }

  struct PendingCommit {
    const Transaction* transaction = nullptr;
    Result<TransactionResult> result = Status(StatusCode::kInternal, "not committed");
    bool done = false;  // guarded by write_mutex_
  };

  // Called with write_mutex_ held.
  void CommitBatch(const std::vector<std::shared_ptr<PendingCommit>>& batch) {
    Statements& statements = writer_->statements;
    auto finish_all = [&](const Status& s) {
      for (const auto& p : batch) {
        if (!p->done) {
          p->result = s;
          p->done = true;
        }
      }
    };
    if (Status s = Query(path_, statements.begin, "begin a commit").Run(); !s.ok()) {
      return finish_all(s);
    }
    int64_t revision = revision_.load();
    std::vector<std::pair<int64_t, std::vector<Event>>> published;
    std::vector<std::pair<PendingCommit*, TransactionResult>> results;
    for (const auto& p : batch) {
      if (Status s = writer_->connection->Execute("SAVEPOINT drover_txn", "open a savepoint");
          !s.ok()) {
        static_cast<void>(Abandon(s));
        return finish_all(s);
      }
      const int64_t next = revision + 1;
      WriterReader reader(path_, statements);
      Result<AppliedTransaction> applied = ApplyTransaction(*p->transaction, next, reader);
      Status failed = applied.ok() ? Status::Ok() : applied.status();
      if (failed.ok() && !applied->events.empty()) {
        for (size_t i = 0; i < applied->events.size() && failed.ok(); ++i) {
          failed = WriteEvent(next, static_cast<int64_t>(i), applied->events[i]);
        }
        if (failed.ok()) {
          Query set_revision(path_, statements.set_revision, "store the revision");
          failed = set_revision.Bind(1, next).Run();
        }
      }
      if (!failed.ok()) {
        // Undo just this transaction; the others in the batch go on.
        Status undo = writer_->connection->Execute("ROLLBACK TO drover_txn; RELEASE drover_txn",
                                                   "undo a failed transaction");
        p->result = failed;
        p->done = true;
        if (!undo.ok()) {
          static_cast<void>(Abandon(undo));
          return finish_all(undo);
        }
        continue;
      }
      if (Status s = writer_->connection->Execute("RELEASE drover_txn", "release a savepoint");
          !s.ok()) {
        static_cast<void>(Abandon(s));
        return finish_all(s);
      }
      if (!applied->events.empty()) {
        revision = next;
        published.emplace_back(next, std::move(applied->events));
      }
      results.emplace_back(p.get(), TransactionResult{applied->succeeded, revision});
    }
    if (Status s = Query(path_, statements.commit, "commit").Run(); !s.ok()) {
      static_cast<void>(Abandon(s));
      return finish_all(s);
    }
    for (auto& [p, r] : results) {
      p->result = r;
      p->done = true;
    }
    if (!published.empty()) revision_.store(revision);
    for (auto& [rev, events] : published) hub_->Publish(rev, std::move(events));
  }

  Result<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t after_revision,
                                             WatchCallback callback) override {
    if (after_revision < 0) return InvalidError("watch from a negative revision");
    std::lock_guard<std::mutex> lock(write_mutex_);  // no commit may slip in
    if (after_revision < compacted_.load()) {
      return CompactedError(after_revision, compacted_.load());
    }
    return hub_->Add(std::string(prefix), after_revision, revision_.load(), std::move(callback));
  }

  Status Compact(int64_t revision) override {
    if (revision < 0) return InvalidError("cannot compact at a negative revision");
    int64_t from = 0;
    {
      std::lock_guard<std::mutex> lock(write_mutex_);
      if (revision > revision_.load()) {
        return OutOfRangeError("cannot compact at revision " + std::to_string(revision) +
                               ": the current revision is " + std::to_string(revision_.load()));
      }
      from = compacted_.load();
      if (revision <= from) return Status::Ok();  // already done
      Statements& statements = writer_->statements;
      if (Status s = Query(path_, statements.begin, "begin a compaction").Run(); !s.ok()) return s;
      Query set(path_, statements.set_compact_revision, "store the compacted revision");
      if (Status s = set.Bind(1, revision).Run(); !s.ok()) return Abandon(s);
      if (Status s = Query(path_, statements.commit, "commit a compaction").Run(); !s.ok()) {
        return Abandon(s);
      }
      compacted_.store(revision);
    }
    // History at or before `revision` is now invisible; delete it slice by slice, letting
    // commits in between. A crash here leaves rows that the next open deletes.
    for (int64_t low = from; low < revision; low += kCompactSliceRevisions) {
      std::lock_guard<std::mutex> lock(write_mutex_);
      Statements& statements = writer_->statements;
      if (Status s = Query(path_, statements.begin, "begin a compaction").Run(); !s.ok()) return s;
      Query remove(path_, statements.delete_history, "delete compacted history");
      remove.Bind(1, low).Bind(2, std::min(revision, low + kCompactSliceRevisions));
      if (Status s = remove.Run(); !s.ok()) return Abandon(s);
      if (Status s = Query(path_, statements.commit, "commit a compaction").Run(); !s.ok()) {
        return Abandon(s);
      }
    }
    return Status::Ok();
  }

  int64_t CurrentRevision() override { return revision_.load(); }
  int64_t CompactedRevision() override { return compacted_.load(); }

 private:
  // The writer's view of current values inside its transaction.
  class WriterReader : public KeyReader {
   public:
    WriterReader(const std::string& path, Statements& statements)
        : path_(path), statements_(statements) {}

    Result<std::optional<KeyValue>> Read(std::string_view key) override {
      Query query(path_, statements_.get, "read in a commit");
      query.Bind(1, key);
      Result<bool> row = query.Step();
      if (!row.ok()) return row.status();
      if (!*row) return std::optional<KeyValue>();
      return std::optional<KeyValue>(
          KeyValue{std::string(key), query.Bytes(0), query.Int(1), query.Int(2), query.Int(3)});
    }

    Result<std::vector<KeyValue>> ReadPrefix(std::string_view prefix) override {
      const std::string end = PrefixEnd(prefix);
      Query query(path_, statements_.list[0][!end.empty()], "list in a commit");
      query.Bind(1, prefix);
      if (!end.empty()) query.Bind(2, end);
      query.Bind(3, int64_t{-1});
      std::vector<KeyValue> out;
      while (true) {
        Result<bool> row = query.Step();
        if (!row.ok()) return row.status();
        if (!*row) return out;
        out.push_back(ReadKeyValue(query));
      }
    }

   private:
    const std::string& path_;
    Statements& statements_;
  };

  // With write_mutex_ held: rolls back the open transaction and returns `status`.
  Status Abandon(Status status) {
    writer_->connection->RollbackIfActive();
    return status;
  }

  Status WriteEvent(int64_t revision, int64_t position, const Event& event) {
    Statements& statements = writer_->statements;
    if (event.type == Event::Type::kPut) {
      Query upsert(path_, statements.upsert, "write a key");
      upsert.Bind(1, event.kv.key)
          .Bind(2, event.kv.value)
          .Bind(3, event.kv.create_revision)
          .Bind(4, event.kv.mod_revision)
          .Bind(5, event.kv.version);
      if (Status s = upsert.Run(); !s.ok()) return s;
    } else {
      Query remove(path_, statements.remove, "delete a key");
      if (Status s = remove.Bind(1, event.kv.key).Run(); !s.ok()) return s;
    }
    Query insert(path_, statements.insert_event, "record an event");
    insert.Bind(1, revision)
        .Bind(2, position)
        .Bind(3, int64_t{event.type == Event::Type::kPut ? kEventPut : kEventDelete})
        .Bind(4, event.kv.key)
        .Bind(5, event.kv.value)
        .Bind(6, event.kv.create_revision)
        .Bind(7, event.kv.mod_revision)
        .Bind(8, event.kv.version);
    if (event.prev_kv) {
      insert.Bind(9, event.prev_kv->value)
          .Bind(10, event.prev_kv->create_revision)
          .Bind(11, event.prev_kv->mod_revision)
          .Bind(12, event.prev_kv->version);
    } else {
      insert.BindNull(9).BindNull(10).BindNull(11).BindNull(12);
    }
    return insert.Run();
  }

  Result<HistoryPage> ReadHistory(std::string_view prefix, int64_t after, int64_t through,
                                  size_t max_events) {
    ReaderPool::Lease reader = readers_.Acquire();
    SqliteConnection& c = *reader;
    ReadSnapshot snapshot(c);
    if (Status s = snapshot.Begin(); !s.ok()) return s;
    Result<Meta> meta = ReadMeta(c);
    if (!meta.ok()) return meta.status();
    if (after < meta->compact_revision) return CompactedError(after, meta->compact_revision);

    const std::string end = PrefixEnd(prefix);
    HistoryPage page;
    size_t rows = 0;
    {
      Query query(path_, c.statements.history[!end.empty()], "read history");
      query.Bind(1, after).Bind(2, through).Bind(3, prefix);
      if (!end.empty()) query.Bind(4, end);
      query.Bind(5, static_cast<int64_t>(max_events));
      if (Status s = AppendEvents(query, page, rows); !s.ok()) return s;
    }
    if (rows < max_events) {
      page.scanned_through = through;
      return page;
    }
    // The page is full, so its last revision may be cut short: drop it and read it whole, alone
    // if it is the only one (a revision may hold more than max_events events).
    const int64_t last = page.revisions.back().front().kv.mod_revision;
    page.revisions.pop_back();
    if (!page.revisions.empty()) {
      page.scanned_through = last - 1;
      return page;
    }
    Query query(path_, c.statements.history_of_revision[!end.empty()], "read history");
    query.Bind(1, last - 1).Bind(2, last).Bind(3, prefix);
    if (!end.empty()) query.Bind(4, end);
    if (Status s = AppendEvents(query, page, rows); !s.ok()) return s;
    page.scanned_through = last;
    return page;
  }

  // Reads the rows of `query` into `page`, one entry per revision.
  static Status AppendEvents(Query& query, HistoryPage& page, size_t& rows) {
    int64_t current = -1;
    while (true) {
      Result<bool> row = query.Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      ++rows;
      const int64_t revision = query.Int(0);
      if (revision != current) {
        page.revisions.emplace_back();
        current = revision;
      }
      page.revisions.back().push_back(ReadEvent(query));
    }
  }

  const std::string path_;
  std::unique_ptr<LockFile> lock_;  // first in, last out
  std::mutex write_mutex_;          // serialises commits, compactions and watch registration
  std::mutex queue_mutex_;          // guards queue_ (never held while waiting for write_mutex_)
  std::vector<std::shared_ptr<PendingCommit>> queue_;  // commits waiting for the writer
  std::unique_ptr<SqliteConnection> writer_;
  ReaderPool readers_;
  std::atomic<int64_t> revision_;
  std::atomic<int64_t> compacted_;
  std::unique_ptr<WatchHub> hub_;  // last: its dispatcher reads through the members above
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, SqliteOptions options) {
  if (path.empty()) return InvalidError("sqlite store: empty file path");
  Result<std::unique_ptr<LockFile>> lock = LockFile::Acquire(path);
  if (!lock.ok()) return lock.status();

  Result<std::unique_ptr<SqliteConnection>> writer = OpenConnection(path, options, true);
  if (!writer.ok()) return writer.status();
  if (Status s = PrepareSchema(*(*writer)->connection); !s.ok()) return s;
  if (Status s = (*writer)->statements.PrepareForWriting(*(*writer)->connection); !s.ok()) {
    return s;
  }
  Result<Meta> meta = ReadMeta(**writer);
  if (!meta.ok()) return meta.status();

  auto store =
      std::make_unique<SqliteStore>(path, options, std::move(*lock), std::move(*writer), *meta);
  for (size_t i = 0; i < std::max<size_t>(1, options.read_connections); ++i) {
    Result<std::unique_ptr<SqliteConnection>> reader = OpenConnection(path, options, false);
    if (!reader.ok()) return reader.status();
    if (Status s = (*reader)->statements.PrepareForReading(*(*reader)->connection); !s.ok()) {
      return s;
    }
    store->AddReader(std::move(*reader));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace drover::store
