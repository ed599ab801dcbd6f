#pragma once
// SQLite implementation of core/state_store.h. One connection per store, guarded by a mutex
// (the engine calls from worker threads); WAL journal so readers in other processes (backup,
// `sqlite3 tend.db`) never block the daemon; versioned migrations recorded in user_version.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/state_store.h"

namespace tend {

// The schema this build writes. A database with a larger user_version came from a newer tend
// and is refused rather than half-understood.
inline constexpr int kStateSchemaVersion = 2;

struct SqliteMigration {
  int version;              // user_version after this step
  const char* description;  // recorded in the schema_version table
  const char* sql;          // applied in one transaction
};
// Ordered, append-only: a released step is never edited, a change is a new step.
const std::vector<SqliteMigration>& sqliteStateMigrations();

struct SqliteStateOptions {
  // Events beyond the newest `maxEvents` are pruned on insert (an indexed range delete, so the
  // cost does not grow with the table). Ids keep increasing: AUTOINCREMENT never reuses one.
  int64_t maxEvents = 10000;
  int64_t maxRuns = 1000;
  int busyTimeoutMs = 5000;
  // false: synchronous=NORMAL (WAL). Every commit survives a process crash (kill -9, OOM);
  // an OS crash or power cut may lose the newest commits but never corrupts the file. That
  // is the right trade for tend because state is never trusted over observation: a lost
  // record means the object is re-adopted by its ownership mark, not duplicated.
  // true: synchronous=FULL, an fsync per commit, for people who want the record durable too.
  bool fullSync = false;
  // A clean close normally checkpoints the WAL into the file (two fsyncs) and empties it. Above
  // 0: that is skipped while the WAL holds fewer frames (pages) than this; they stay in the WAL,
  // which the next open reads back, and the close that finds the WAL at or past the limit
  // folds everything in. For a process that starts and stops often (`tendd --once`), most
  // no-op runs then sync nothing (the first write after a fold syncs the new WAL's header).
  // Durability is that of any commit between checkpoints under
  // synchronous=NORMAL: a process crash loses nothing, a power cut may lose those commits.
  // The database file alone is then not a complete copy: back up with `.backup`.
  int keepWalBelowFrames = 0;
};

class SqliteStateStore final : public StateStore {
 public:
  // Creates missing parent directories (0700) and the file (0600), migrates, enables WAL,
  // foreign keys and busy_timeout. ":memory:" gives a private in-memory store.
  static Result<std::unique_ptr<SqliteStateStore>> open(const std::string& path,
                                                        const SqliteStateOptions& opts = {});
  ~SqliteStateStore() override;
  SqliteStateStore(const SqliteStateStore&) = delete;
  SqliteStateStore& operator=(const SqliteStateStore&) = delete;

  Result<std::vector<ResourceRecord>> loadResources() override;
  Result<std::optional<ResourceRecord>> getResource(const std::string& id) override;
  Result<void> recordApply(const ResourceRecord& rec, const EventRecord& ev) override;
  Result<void> putResource(const ResourceRecord& rec) override;
  Result<void> deleteResource(const std::string& id) override;

  Result<int64_t> beginRun(const RunRecord& run) override;
  Result<void> finishRun(const RunRecord& run) override;
  Result<std::optional<RunRecord>> lastRun() override;

  Result<int64_t> appendEvent(const EventRecord& ev) override;
  Result<std::vector<EventRecord>> eventsSince(int64_t sinceId, int limit) override;

  Result<void> verified() override;
  Result<std::optional<std::string>> getMeta(const std::string& key) override;
  Result<void> setMeta(const std::string& key, const std::string& value) override;

  // Beyond the interface: for status pages, diagnostics and tests.
  Result<std::vector<RunRecord>> recentRuns(int limit) override;  // newest first
  Result<std::vector<EventRecord>> recentEvents(const std::string& resource, int limit) override;
  Result<std::string> integrityCheck();                  // "ok" when healthy
  Result<std::string> journalMode();                     // "wal" for a file database
  Result<int> schemaVersion();
  const std::string& path() const;

  struct Impl;

 private:
  explicit SqliteStateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Opens (creating and migrating as needed) the SQLite state database in WAL mode.
// ":memory:" gives a private in-memory store for tests.
Result<std::unique_ptr<StateStore>> openSqliteStateStore(const std::string& path,
                                                        const SqliteStateOptions& opts = {});

// $STATE_DIRECTORY/tend.db (the first entry when systemd passes several), else ./var/tend.db.
std::string defaultStatePath();

}  // namespace tend
