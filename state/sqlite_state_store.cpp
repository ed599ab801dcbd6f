#include "state/sqlite_state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/secrets.h"

namespace tend {

namespace {

// v1 is the first released schema; v2 added dependency tracking, the dry-run flag and the
// indexes /v1/events and run pruning need. Never edit a step once released: append one.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE schema_version (
  version      INTEGER PRIMARY KEY,
  applied_unix INTEGER NOT NULL,
  description  TEXT NOT NULL
);
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE resources (
  id                TEXT PRIMARY KEY,
  kind              TEXT NOT NULL,
  desired_hash      TEXT NOT NULL DEFAULT '',
  last_applied_hash TEXT NOT NULL DEFAULT '',
  phase             TEXT NOT NULL DEFAULT 'pending',
  message           TEXT NOT NULL DEFAULT '',
  drifted           INTEGER NOT NULL DEFAULT 0,
  last_applied_unix INTEGER NOT NULL DEFAULT 0,
  updated_unix      INTEGER NOT NULL DEFAULT 0,
  owner_data        TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE runs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  started_unix_ms  INTEGER NOT NULL,
  finished_unix_ms INTEGER NOT NULL DEFAULT 0,
  result           TEXT NOT NULL,
  revision         TEXT NOT NULL DEFAULT '',
  trigger          TEXT NOT NULL DEFAULT '',
  summary          TEXT NOT NULL DEFAULT ''
);
CREATE TABLE events (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id   INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  ts       INTEGER NOT NULL,
  level    TEXT NOT NULL,
  resource TEXT NOT NULL DEFAULT '',
  reason   TEXT NOT NULL DEFAULT '',
  message  TEXT NOT NULL DEFAULT ''
);
)sql";

constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE resources ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_by_resource ON events(resource, id);
CREATE INDEX events_by_run ON events(run_id);
)sql";

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Phase> parsePhase(std::string_view s) {
  for (Phase p : {Phase::Pending, Phase::Blocked, Phase::Progressing, Phase::Ready, Phase::Failed,
                  Phase::Deleting}) {
    if (s == phaseName(p)) return p;
  }
  return std::nullopt;
}

// Last line of defence: callers redact before calling, but the database is a sink that
// outlives the process (and /v1/events serves it), so it passes through the Redactor too.
std::string scrub(const std::string& s) { return Redactor::instance().redact(s); }

nlohmann::json scrubJson(const nlohmann::json& j) {
  if (j.is_string()) return scrub(j.get_ref<const std::string&>());
  if (j.is_array() || j.is_object()) {
    nlohmann::json out = j;
    for (auto it = out.begin(); it != out.end(); ++it) *it = scrubJson(*it);
    return out;
  }
  return j;
}

std::string dumpJson(const nlohmann::json& j) {
  // replace: invalid UTF-8 from a provider must not throw out of the store.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Binds, steps and resets one cached statement; reset on scope exit so a statement never
// holds a read transaction open between calls.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bindNull(int i) { sqlite3_bind_null(s_, i); }
  int step() { return sqlite3_step(s_); }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }

 private:
  sqlite3_stmt* s_;
};

constexpr const char* kUpsertResource = R"sql(
INSERT INTO resources (id, kind, desired_hash, last_applied_hash, phase, message, drifted,
                       last_applied_unix, updated_unix, owner_data, depends_on)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT(id) DO UPDATE SET
  kind = excluded.kind, desired_hash = excluded.desired_hash,
  last_applied_hash = excluded.last_applied_hash, phase = excluded.phase,
  message = excluded.message, drifted = excluded.drifted,
  last_applied_unix = excluded.last_applied_unix, updated_unix = excluded.updated_unix,
  owner_data = excluded.owner_data, depends_on = excluded.depends_on)sql";

constexpr const char* kSelectResources =
    "SELECT id, kind, desired_hash, last_applied_hash, phase, message, drifted, "
    "last_applied_unix, updated_unix, owner_data, depends_on FROM resources ORDER BY id";
constexpr const char* kSelectResource =
    "SELECT id, kind, desired_hash, last_applied_hash, phase, message, drifted, "
    "last_applied_unix, updated_unix, owner_data, depends_on FROM resources WHERE id = ?1";
constexpr const char* kDeleteResource = "DELETE FROM resources WHERE id = ?1";
constexpr const char* kInsertEvent =
    "INSERT INTO events (run_id, ts, level, resource, reason, message) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kPruneEvents = "DELETE FROM events WHERE id <= ?1";
constexpr const char* kRecentEvents =
    "SELECT id, ts, level, resource, reason, message, COALESCE(run_id, 0) FROM events "
    "ORDER BY id DESC LIMIT ?1";
constexpr const char* kRecentEventsOf =
    "SELECT id, ts, level, resource, reason, message, COALESCE(run_id, 0) FROM events "
    "WHERE resource = ?2 ORDER BY id DESC LIMIT ?1";
constexpr const char* kSelectEvents =
    "SELECT id, ts, level, resource, reason, message, COALESCE(run_id, 0) FROM events "
    "WHERE id > ?1 ORDER BY id LIMIT ?2";
constexpr const char* kInsertRun =
    "INSERT INTO runs (started_unix_ms, finished_unix_ms, result, revision, trigger, dry_run, "
    "summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kPruneRuns = "DELETE FROM runs WHERE id <= ?1";
constexpr const char* kFinishRun =
    "UPDATE runs SET finished_unix_ms = ?2, result = ?3, summary = ?4, "
    "revision = CASE WHEN ?5 = '' THEN revision ELSE ?5 END WHERE id = ?1";
constexpr const char* kSelectRuns =
    "SELECT id, started_unix_ms, finished_unix_ms, result, revision, trigger, dry_run, summary "
    "FROM runs ORDER BY id DESC LIMIT ?1";
constexpr const char* kGetMeta = "SELECT value FROM meta WHERE key = ?1";
constexpr const char* kSetMeta =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value";

// mkdir -p with 0700 for the components we create; existing directories are left alone.
Result<void> makeParentDirs(const std::filesystem::path& file) {
  std::filesystem::path parent = file.parent_path();
  if (parent.empty()) return {};
  std::filesystem::path cur;
  for (const auto& part : parent) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      return makeError(
          "cannot create state directory " + cur.string() + ": " + std::strerror(errno), true);
    }
  }
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return makeError("cannot use state directory " + parent.string() + ": it is not a directory",
                     true);
  }
  return {};
}

// Create the file ourselves so its mode is 0600 from the first byte; SQLite then gives the
// -wal and -shm files the same mode as the database.
Result<void> prepareDbFile(const std::string& path) {
  if (auto r = makeParentDirs(path); !r) return r;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return makeError("cannot open state database " + path + ": " + std::strerror(errno), true);
  }
  struct stat st {};
  int rc = ::fstat(fd, &st);
  int err = errno;
  if (rc == 0 && (st.st_mode & 077) != 0 && st.st_uid == ::geteuid()) {
    // Tighten a file created by hand or by an older tool; not ours to fix if owned by others.
    rc = ::fchmod(fd, 0600);
    err = errno;
  }
  ::close(fd);
  if (rc != 0) {
    return makeError("cannot set mode 0600 on state database " + path + ": " + std::strerror(err),
                     true);
  }
  if (!S_ISREG(st.st_mode)) {
    return makeError("state database " + path + " is not a regular file", true);
  }
  return {};
}

}  // namespace

struct SqliteStateStore::Impl {
  std::string path;
  SqliteStateOptions opts;
  sqlite3* db = nullptr;
  std::mutex mu;
  std::unordered_map<const char*, sqlite3_stmt*> stmts;

  // PRAGMA quick_check on a second, read-only connection, begun by open() on its own thread
  // (it reads every page: the longest part of opening) and awaited by verified() and by the
  // first write. Its result, once known, is kept (guarded by mu).
  std::future<Result<void>> check;
  std::optional<Result<void>> checkResult;
  Result<void> awaitCheck() {
    if (!checkResult) checkResult = check.valid() ? check.get() : Result<void>{};
    return *checkResult;
  }

  // Frames in the WAL after the newest commit (kept only with opts.keepWalBelowFrames).
  std::atomic<int> walFrames{0};

  ~Impl() {
    // Before the close: the checking connection must be gone for this one to be the last
    // (which checkpoints the WAL).
    if (check.valid()) check.wait();
    for (auto& [_, s] : stmts) sqlite3_finalize(s);
    if (db && opts.keepWalBelowFrames > 0 && walFrames.load() < opts.keepWalBelowFrames)
      sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    if (db) sqlite3_close_v2(db);
  }

  Error dbError(const std::string& what, int rc) const {
    std::string msg = "state database " + path + ": " + what + ": ";
    msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      msg +=
          " (the file is not a tend state database or is corrupt; move it aside and "
          "restart: tend rebuilds state from what providers observe)";
    } else if (primary == SQLITE_READONLY) {
      msg += " (the file or its directory is not writable by this user)";
    } else if (primary == SQLITE_BUSY) {
      msg += " (locked by another process for longer than busy_timeout)";
    }
    // Terminal: retrying a broken database does not fix it; busy is the one transient case.
    return makeError(std::move(msg), primary != SQLITE_BUSY);
  }

  Result<sqlite3_stmt*> prepare(const char* sql) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return it->second;
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return dbError("prepare", rc);
    stmts.emplace(sql, s);
    return s;
  }

  Result<void> exec(const char* sql, const char* what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    sqlite3_free(err);  // sqlite3_errmsg() below reports the same text
    if (rc != SQLITE_OK) return dbError(what, rc);
    return {};
  }

  // Single-value PRAGMA read, uncached (pragmas run rarely).
  Result<std::string> pragmaText(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    if (rc != SQLITE_OK) return dbError(sql, rc);
    std::string out;
    rc = sqlite3_step(s);
    while (rc == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      if (!out.empty()) out += "\n";
      out += t ? reinterpret_cast<const char*>(t) : "";
      rc = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return dbError(sql, rc);
    return out;
  }

  Result<int> userVersion() {
    auto v = pragmaText("PRAGMA user_version");
    if (!v) return v.error();
    return std::atoi(v->c_str());
  }

  // Rolls back unless committed, so every early return leaves the database unchanged.
  class Txn {
   public:
    explicit Txn(Impl& im) : im_(im) {}
    ~Txn() {
      if (open_) sqlite3_exec(im_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Result<void> begin() {
      // IMMEDIATE takes the write lock up front: no deadlock-prone read→write upgrade when
      // another process (a second tendd by mistake, a migration) writes at the same time.
      auto r = im_.exec("BEGIN IMMEDIATE", "begin transaction");
      if (r) open_ = true;
      return r;
    }
    Result<void> commit() {
      auto r = im_.exec("COMMIT", "commit");
      if (r) open_ = false;
      return r;
    }

   private:
    Impl& im_;
    bool open_ = false;
  };

  Result<void> migrate() {
    const auto& steps = sqliteStateMigrations();
    for (const auto& m : steps) {
      auto cur = userVersion();
      if (!cur) return cur.error();
      if (*cur >= m.version) continue;
      Txn txn(*this);
      if (auto r = txn.begin(); !r) return r;
      // Re-read under the write lock: another process may have migrated meanwhile.
      cur = userVersion();
      if (!cur) return cur.error();
      if (*cur >= m.version) continue;
      if (*cur != m.version - 1) {
        return makeError("state database " + path + ": schema version " + std::to_string(*cur) +
                             " has no migration to " + std::to_string(m.version),
                         true);
      }
      if (auto r = exec(m.sql, ("migration to schema v" + std::to_string(m.version)).c_str()); !r) {
        return r;
      }
      std::string rec = "INSERT INTO schema_version (version, applied_unix, description) VALUES (" +
                        std::to_string(m.version) + ", " + std::to_string(nowMs() / 1000) +
                        ", 'tend " TEND_VERSION ": ' || " + quote(m.description) + ")";
      if (auto r = exec(rec.c_str(), "record schema version"); !r) return r;
      std::string uv = "PRAGMA user_version = " + std::to_string(m.version);
      if (auto r = exec(uv.c_str(), "set user_version"); !r) return r;
      if (auto r = txn.commit(); !r) return r;
    }
    return {};
  }

  static std::string quote(const char* s) {
    char* q = sqlite3_mprintf("%Q", s);
    std::string out = q ? q : "''";
    sqlite3_free(q);
    return out;
  }

  Result<void> upsertResource(const ResourceRecord& rec) {
    if (rec.id.empty()) return makeError("state: resource record without id", true);
    auto s = prepare(kUpsertResource);
    if (!s) return s.error();
    Stmt st(*s);
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& d : rec.dependsOn) deps.push_back(d);
    st.bind(1, rec.id);
    st.bind(2, rec.kind);
    st.bind(3, rec.desiredHash);
    st.bind(4, rec.lastAppliedHash);
    st.bind(5, std::string(phaseName(rec.phase)));
    st.bind(6, scrub(rec.message));
    st.bind(7, int64_t{rec.drifted ? 1 : 0});
    st.bind(8, rec.lastAppliedUnix);
    st.bind(9, rec.updatedUnix != 0 ? rec.updatedUnix : nowMs() / 1000);
    st.bind(10, rec.ownerData.is_null() ? std::string("{}") : dumpJson(scrubJson(rec.ownerData)));
    st.bind(11, dumpJson(deps));
    int rc = st.step();
    if (rc != SQLITE_DONE) return dbError("write resource " + rec.id, rc);
    return {};
  }

  Result<int64_t> insertEvent(const EventRecord& ev, const std::string& defaultResource) {
    auto s = prepare(kInsertEvent);
    if (!s) return s.error();
    {
      Stmt st(*s);
      if (ev.runId != 0) {
        st.bind(1, ev.runId);
      } else {
        st.bindNull(1);
      }
      st.bind(2, ev.unixMs != 0 ? ev.unixMs : nowMs());
      st.bind(3, ev.level.empty() ? std::string("info") : ev.level);
      st.bind(4, ev.resource.empty() ? defaultResource : ev.resource);
      st.bind(5, scrub(ev.reason));
      st.bind(6, scrub(ev.message));
      int rc = st.step();
      if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        return dbError("append event: run " + std::to_string(ev.runId) +
                           " does not exist (use the id beginRun returned, or 0)",
                       rc);
      }
      if (rc != SQLITE_DONE) return dbError("append event", rc);
    }
    int64_t id = sqlite3_last_insert_rowid(db);
    if (opts.maxEvents > 0 && id > opts.maxEvents) {
      // Ids are dense (AUTOINCREMENT, no rollbacks leave gaps we care about), so "older than
      // id - N" is the retention window; the delete is a range seek on the primary key.
      auto p = prepare(kPruneEvents);
      if (!p) return p.error();
      Stmt st(*p);
      st.bind(1, id - opts.maxEvents);
      int rc = st.step();
      if (rc != SQLITE_DONE) return dbError("prune events", rc);
    }
    return id;
  }

  Result<ResourceRecord> readResource(const Stmt& st) {
    ResourceRecord r;
    r.id = st.text(0);
    r.kind = st.text(1);
    r.desiredHash = st.text(2);
    r.lastAppliedHash = st.text(3);
    auto ph = parsePhase(st.text(4));
    if (!ph) {
      return makeError("state database " + path + ": resource " + r.id + " has unknown phase '" +
                           st.text(4) + "'",
                       true);
    }
    r.phase = *ph;
    r.message = st.text(5);
    r.drifted = st.i64(6) != 0;
    r.lastAppliedUnix = st.i64(7);
    r.updatedUnix = st.i64(8);
    r.ownerData = nlohmann::json::parse(st.text(9), nullptr, false);
    if (r.ownerData.is_discarded()) {
      return makeError(
          "state database " + path + ": resource " + r.id + " has unreadable owner_data", true);
    }
    auto deps = nlohmann::json::parse(st.text(10), nullptr, false);
    if (deps.is_discarded() || !deps.is_array()) {
      return makeError(
          "state database " + path + ": resource " + r.id + " has unreadable depends_on", true);
    }
    for (const auto& d : deps) {
      if (d.is_string()) r.dependsOn.push_back(d.get<std::string>());
    }
    return r;
  }

  static RunRecord readRun(const Stmt& st) {
    RunRecord r;
    r.id = st.i64(0);
    r.startedUnixMs = st.i64(1);
    r.finishedUnixMs = st.i64(2);
    r.result = st.text(3);
    r.revision = st.text(4);
    r.trigger = st.text(5);
    r.dryRun = st.i64(6) != 0;
    r.summary = st.text(7);
    return r;
  }

  Result<std::vector<RunRecord>> runs(int limit) {
    auto s = prepare(kSelectRuns);
    if (!s) return s.error();
    Stmt st(*s);
    st.bind(1, int64_t{limit > 0 ? limit : -1});
    std::vector<RunRecord> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(readRun(st));
    if (rc != SQLITE_DONE) return dbError("read runs", rc);
    return out;
  }
};

const std::vector<SqliteMigration>& sqliteStateMigrations() {
  static const std::vector<SqliteMigration> steps = {
      {1, "initial schema: resources, runs, events, meta", kSchemaV1},
      {2, "resources.depends_on, runs.dry_run, event indexes", kSchemaV2},
  };
  return steps;
}

SqliteStateStore::SqliteStateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStateStore::~SqliteStateStore() = default;

const std::string& SqliteStateStore::path() const { return impl_->path; }

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::open(const std::string& path,
                                                                 const SqliteStateOptions& opts) {
  if (path.empty()) return makeError("state database path is empty", true);
  const bool memory = path == ":memory:";
  if (!memory) {
    if (auto r = prepareDbFile(path); !r) return r.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->opts = opts;
  // NOMUTEX: our own mutex serialises every call; SQLite's would only add a second lock.
  int rc =
      sqlite3_open_v2(path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return impl->dbError("open", rc);
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, opts.busyTimeoutMs);
  if (!memory && sqlite3_db_readonly(impl->db, "main") == 1) {
    return makeError(
        "state database " + path + " is read-only for this user; tend needs to write its state",
        true);
  }

  // The first read of the header tells a garbage file apart (SQLITE_NOTADB) before we write.
  auto ver = impl->userVersion();
  if (!ver) return ver.error();
  if (*ver > kStateSchemaVersion) {
    return makeError("state database " + path + " has schema version " + std::to_string(*ver) +
                         ", written by a newer tend (this tend " TEND_VERSION " knows up to " +
                         std::to_string(kStateSchemaVersion) +
                         "); upgrade tend or point --state at another file",
                     true);
  }
  if (!memory) {
    auto mode = impl->pragmaText("PRAGMA journal_mode=WAL");
    if (!mode) return mode.error();
    if (*mode != "wal") {
      return makeError("state database " + path + ": cannot enable WAL (journal_mode is " + *mode +
                           "); is it on a network filesystem?",
                       true);
    }
  }
  if (!memory) {
    // The WAL and its index stay on disk between runs (emptied by the checkpoint at close):
    // deleting them at every exit made the next start create both again, and a new WAL costs
    // a file creation and a sync of the directory before the first write. Only a clean close
    // empties it; after a crash the next open recovers from it as before. The limit keeps a
    // WAL that a long pass grew from staying that large once it has been checkpointed.
    int persist = 1;
    sqlite3_file_control(impl->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (auto r = impl->exec("PRAGMA journal_size_limit=16777216", "limit the WAL"); !r) return r.error();
    if (opts.keepWalBelowFrames > 0) {
      // Counts the WAL's frames for the close. A WAL hook replaces SQLite's own, which only
      // checkpoints once the WAL reaches 1,000 pages: this one does the same.
      sqlite3_wal_hook(
          impl->db,
          [](void* p, sqlite3* db, const char* name, int frames) -> int {
            static_cast<Impl*>(p)->walFrames.store(frames);
            if (frames >= 1000) sqlite3_wal_checkpoint(db, name);
            return SQLITE_OK;
          },
          impl.get());
    }
  }
  const char* sync = opts.fullSync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (auto r = impl->exec(sync, "set synchronous"); !r) return r.error();
  if (auto r = impl->exec("PRAGMA foreign_keys=ON", "enable foreign keys"); !r) return r.error();
  if (auto r = impl->migrate(); !r) return r.error();
  if (*ver != 0) {
    // A structural check at start-up turns silent corruption into a clear error now, not a
    // confusing one in the middle of a reconcile pass. It reads every page, so it runs on its
    // own connection while the caller goes on (loading the spec); verified() and every write
    // wait for it.
    auto run = [path, timeout = opts.busyTimeoutMs]() -> Result<void> {
      sqlite3* c = nullptr;
      int rc = sqlite3_open_v2(path.c_str(), &c, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
      std::string text;
      if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(c, timeout);
        sqlite3_stmt* st = nullptr;
        rc = sqlite3_prepare_v2(c, "PRAGMA quick_check", -1, &st, nullptr);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
          const unsigned char* t = sqlite3_column_text(st, 0);
          text = t ? reinterpret_cast<const char*>(t) : "";
          rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
      }
      std::string why = rc == SQLITE_OK ? text : std::string(c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
      sqlite3_close_v2(c);
      if (rc == SQLITE_OK && text == "ok") return {};
      return makeError("state database " + path + " failed quick_check: " + why.substr(0, 300) +
                           " (move it aside and restart: tend rebuilds state from observation)",
                       true);
    };
    try {
      impl->check = std::async(std::launch::async, run);
    } catch (const std::system_error&) {
      impl->checkResult = run();  // no thread to be had: checked here
    }
  }
  return std::unique_ptr<SqliteStateStore>(new SqliteStateStore(std::move(impl)));
}

Result<std::vector<ResourceRecord>> SqliteStateStore::loadResources() {
  std::lock_guard lk(impl_->mu);
  auto s = impl_->prepare(kSelectResources);
  if (!s) return s.error();
  Stmt st(*s);
  std::vector<ResourceRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto r = impl_->readResource(st);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  if (rc != SQLITE_DONE) return impl_->dbError("load resources", rc);
  return out;
}

Result<std::optional<ResourceRecord>> SqliteStateStore::getResource(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  auto s = impl_->prepare(kSelectResource);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<ResourceRecord>();
  if (rc != SQLITE_ROW) return impl_->dbError("read resource " + id, rc);
  auto r = impl_->readResource(st);
  if (!r) return r.error();
  return std::optional<ResourceRecord>(std::move(*r));
}

Result<void> SqliteStateStore::recordApply(const ResourceRecord& rec, const EventRecord& ev) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c;
  Impl::Txn txn(*impl_);
  if (auto r = txn.begin(); !r) return r;
  if (auto r = impl_->upsertResource(rec); !r) return r;
  if (auto r = impl_->insertEvent(ev, rec.id); !r) return r.error();
  return txn.commit();
}

Result<void> SqliteStateStore::putResource(const ResourceRecord& rec) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c;
  return impl_->upsertResource(rec);
}

Result<void> SqliteStateStore::deleteResource(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c;
  auto s = impl_->prepare(kDeleteResource);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, id);
  int rc = st.step();
  if (rc != SQLITE_DONE) return impl_->dbError("delete resource " + id, rc);
  return {};
}

Result<int64_t> SqliteStateStore::beginRun(const RunRecord& run) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c.error();
  Impl::Txn txn(*impl_);
  if (auto r = txn.begin(); !r) return r.error();
  int64_t id = 0;
  {
    auto s = impl_->prepare(kInsertRun);
    if (!s) return s.error();
    Stmt st(*s);
    st.bind(1, run.startedUnixMs != 0 ? run.startedUnixMs : nowMs());
    st.bind(2, run.finishedUnixMs);
    st.bind(3, run.result.empty() ? std::string("running") : run.result);
    st.bind(4, run.revision);
    st.bind(5, run.trigger);
    st.bind(6, int64_t{run.dryRun ? 1 : 0});
    st.bind(7, scrub(run.summary));
    int rc = st.step();
    if (rc != SQLITE_DONE) return impl_->dbError("begin run", rc);
    id = sqlite3_last_insert_rowid(impl_->db);
  }
  if (impl_->opts.maxRuns > 0 && id > impl_->opts.maxRuns) {
    auto p = impl_->prepare(kPruneRuns);
    if (!p) return p.error();
    Stmt st(*p);
    st.bind(1, id - impl_->opts.maxRuns);
    int rc = st.step();
    if (rc != SQLITE_DONE) return impl_->dbError("prune runs", rc);
  }
  if (auto r = txn.commit(); !r) return r.error();
  return id;
}

Result<void> SqliteStateStore::finishRun(const RunRecord& run) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c;
  auto s = impl_->prepare(kFinishRun);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, run.id);
  st.bind(2, run.finishedUnixMs != 0 ? run.finishedUnixMs : nowMs());
  st.bind(3, run.result.empty() ? std::string("success") : run.result);
  st.bind(4, scrub(run.summary));
  st.bind(5, run.revision);
  int rc = st.step();
  if (rc != SQLITE_DONE) return impl_->dbError("finish run", rc);
  if (sqlite3_changes(impl_->db) == 0) {
    return makeError("state: finishRun for unknown run " + std::to_string(run.id), true);
  }
  return {};
}

Result<std::optional<RunRecord>> SqliteStateStore::lastRun() {
  std::lock_guard lk(impl_->mu);
  auto r = impl_->runs(1);
  if (!r) return r.error();
  if (r->empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(r->front()));
}

Result<std::vector<RunRecord>> SqliteStateStore::recentRuns(int limit) {
  std::lock_guard lk(impl_->mu);
  return impl_->runs(limit);
}

Result<int64_t> SqliteStateStore::appendEvent(const EventRecord& ev) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c.error();
  Impl::Txn txn(*impl_);
  if (auto r = txn.begin(); !r) return r.error();
  auto id = impl_->insertEvent(ev, "");
  if (!id) return id.error();
  if (auto r = txn.commit(); !r) return r.error();
  return *id;
}

Result<std::vector<EventRecord>> SqliteStateStore::eventsSince(int64_t sinceId, int limit) {
  std::lock_guard lk(impl_->mu);
  auto s = impl_->prepare(kSelectEvents);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, sinceId);
  st.bind(2, int64_t{limit > 0 ? limit : -1});
  std::vector<EventRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    EventRecord e;
    e.id = st.i64(0);
    e.unixMs = st.i64(1);
    e.level = st.text(2);
    e.resource = st.text(3);
    e.reason = st.text(4);
    e.message = st.text(5);
    e.runId = st.i64(6);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return impl_->dbError("read events", rc);
  return out;
}

Result<std::vector<EventRecord>> SqliteStateStore::recentEvents(const std::string& resource, int limit) {
  std::lock_guard lk(impl_->mu);
  // events_by_resource (resource, id) serves the per-resource form.
  auto s = impl_->prepare(resource.empty() ? kRecentEvents : kRecentEventsOf);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, int64_t{limit > 0 ? limit : -1});
  if (!resource.empty()) st.bind(2, resource);
  std::vector<EventRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    EventRecord e;
    e.id = st.i64(0);
    e.unixMs = st.i64(1);
    e.level = st.text(2);
    e.resource = st.text(3);
    e.reason = st.text(4);
    e.message = st.text(5);
    e.runId = st.i64(6);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return impl_->dbError("read events", rc);
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<std::string>> SqliteStateStore::getMeta(const std::string& key) {
  std::lock_guard lk(impl_->mu);
  auto s = impl_->prepare(kGetMeta);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, key);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return impl_->dbError("read meta " + key, rc);
  return std::optional<std::string>(st.text(0));
}

Result<void> SqliteStateStore::verified() {
  std::lock_guard lk(impl_->mu);
  return impl_->awaitCheck();
}

Result<void> SqliteStateStore::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard lk(impl_->mu);
  if (auto c = impl_->awaitCheck(); !c) return c;
  auto s = impl_->prepare(kSetMeta);
  if (!s) return s.error();
  Stmt st(*s);
  st.bind(1, key);
  st.bind(2, scrub(value));
  int rc = st.step();
  if (rc != SQLITE_DONE) return impl_->dbError("write meta " + key, rc);
  return {};
}

Result<std::string> SqliteStateStore::integrityCheck() {
  std::lock_guard lk(impl_->mu);
  return impl_->pragmaText("PRAGMA integrity_check");
}

Result<std::string> SqliteStateStore::journalMode() {
  std::lock_guard lk(impl_->mu);
  return impl_->pragmaText("PRAGMA journal_mode");
}

Result<int> SqliteStateStore::schemaVersion() {
  std::lock_guard lk(impl_->mu);
  return impl_->userVersion();
}

Result<std::unique_ptr<StateStore>> openSqliteStateStore(const std::string& path,
                                                        const SqliteStateOptions& opts) {
  auto s = SqliteStateStore::open(path, opts);
  if (!s) return s.error();
  return std::unique_ptr<StateStore>(std::move(*s));
}

std::string defaultStatePath() {
  const char* sd = std::getenv("STATE_DIRECTORY");
  if (sd && *sd) {
    std::string dir(sd);
    // systemd joins several StateDirectory= entries with ':'; ours is the first.
    if (auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
    if (!dir.empty()) return (std::filesystem::path(dir) / "tend.db").string();
  }
  return "./var/tend.db";
}

}  // namespace tend
