#include "state/sqlite_state_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/secrets.h"

namespace fs = std::filesystem;
using namespace tend;

namespace {

// A private directory per test, removed afterwards; 0755 so a dropped-privilege child can
// traverse it in the permission test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tend-state-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path = p;
    ::chmod(p, 0755);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::unique_ptr<SqliteStateStore> mustOpen(const std::string& path,
                                           const SqliteStateOptions& opts = {}) {
  auto s = SqliteStateStore::open(path, opts);
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.ok());
  return std::move(*s);
}

ResourceRecord sampleRecord(const std::string& id) {
  ResourceRecord r;
  r.id = id;
  r.kind = "container";
  r.desiredHash = "sha256:aaa";
  r.lastAppliedHash = "sha256:bbb";
  r.phase = Phase::Ready;
  r.message = "running";
  r.drifted = true;
  r.lastAppliedUnix = 1700000000;
  r.updatedUnix = 1700000001;
  r.ownerData = {{"container_id", "c0ffee"}, {"ports", {80, 443}}};
  r.dependsOn = {"network/h1/web", "volume/h1/data"};
  return r;
}

// Every field, one CHECK each, so a failure names the field.
void checkSameRecord(const ResourceRecord& got, const ResourceRecord& want) {
  CHECK(got.id == want.id);
  CHECK(got.kind == want.kind);
  CHECK(got.desiredHash == want.desiredHash);
  CHECK(got.lastAppliedHash == want.lastAppliedHash);
  CHECK(got.phase == want.phase);
  CHECK(got.message == want.message);
  CHECK(got.drifted == want.drifted);
  CHECK(got.lastAppliedUnix == want.lastAppliedUnix);
  CHECK(got.updatedUnix == want.updatedUnix);
  CHECK(got.ownerData == want.ownerData);
  CHECK(got.dependsOn == want.dependsOn);
}

EventRecord sampleEvent(const std::string& msg, int64_t runId = 0) {
  EventRecord e;
  e.level = "info";
  e.reason = "Updated";
  e.message = msg;
  e.runId = runId;
  return e;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Raw SQLite access for building old schemas and corrupting files behind the store's back.
void rawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("resources round-trip through put, get, load and delete", "[state][resources]") {
  TempDir dir;
  for (bool inMemory : {true, false}) {
    // Section names must be stable across Catch's re-runs, so not the random temp path.
    SECTION(inMemory ? "in memory" : "in a file") {
      const std::string path = inMemory ? std::string(":memory:") : dir.file("tend.db");
      auto store = mustOpen(path);
      auto rec = sampleRecord("container/web/nginx");
      REQUIRE(store->putResource(rec).ok());
      REQUIRE(store->putResource(sampleRecord("container/web/app")).ok());

      auto got = store->getResource("container/web/nginx");
      REQUIRE(got.ok());
      REQUIRE(got->has_value());
      checkSameRecord(**got, rec);

      // Upsert replaces every field: each one changes here and is read back (a field the
      // upsert forgot would keep its first value, e.g. the first hash ever applied).
      rec.kind = "image";
      rec.desiredHash = "sha256:ccc";
      rec.lastAppliedHash = "sha256:ddd";
      rec.phase = Phase::Failed;
      rec.message = "exit 1";
      rec.drifted = false;
      rec.lastAppliedUnix = 1800000000;
      rec.updatedUnix = 1800000001;
      rec.ownerData = {{"image_id", "sha256:eee"}};
      rec.dependsOn = {"host/h2"};
      REQUIRE(store->putResource(rec).ok());
      for (bool fromLoad : {false, true}) {
        INFO((fromLoad ? "loadResources" : "getResource"));
        ResourceRecord a;
        if (fromLoad) {
          auto all = store->loadResources();
          REQUIRE(all.ok());
          for (auto& r : *all)
            if (r.id == rec.id) a = r;
        } else {
          auto again = store->getResource(rec.id);
          REQUIRE(again.ok());
          REQUIRE(again->has_value());
          a = **again;
        }
        checkSameRecord(a, rec);
      }
      // And again, with an empty dependency list and no owner data.
      rec.dependsOn.clear();
      rec.ownerData = nullptr;
      rec.drifted = true;
      REQUIRE(store->putResource(rec).ok());
      auto again = store->getResource(rec.id);
      REQUIRE(again.ok());
      CHECK((*again)->drifted);
      CHECK((*again)->dependsOn.empty());
      CHECK((*again)->ownerData.empty());  // null is stored as {}

      auto all = store->loadResources();
      REQUIRE(all.ok());
      REQUIRE(all->size() == 2);
      CHECK((*all)[0].id == "container/web/app");  // ordered by id

      REQUIRE(store->deleteResource("container/web/app").ok());
      REQUIRE(store->deleteResource("container/web/absent").ok());  // idempotent
      auto none = store->getResource("container/web/app");
      REQUIRE(none.ok());
      CHECK_FALSE(none->has_value());
      CHECK(store->loadResources()->size() == 1);
    }
  }
}

TEST_CASE("every phase name survives a round trip", "[state][resources]") {
  auto store = mustOpen(":memory:");
  for (Phase p : {Phase::Pending, Phase::Blocked, Phase::Progressing, Phase::Ready, Phase::Failed,
                  Phase::Deleting}) {
    auto r = sampleRecord(std::string("vm/") + phaseName(p));
    r.phase = p;
    REQUIRE(store->putResource(r).ok());
    CHECK((*store->getResource(r.id))->phase == p);
  }
  ResourceRecord noId;
  auto bad = store->putResource(noId);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("without id") != std::string::npos);
}

TEST_CASE("recordApply writes the resource and its event in one transaction",
          "[state][transactions]") {
  auto store = mustOpen(":memory:");
  auto run = store->beginRun(RunRecord{});
  REQUIRE(run.ok());
  REQUIRE(store->recordApply(sampleRecord("zone/lab@int"), sampleEvent("zone written", *run)).ok());
  auto evs = store->eventsSince(0, 100);
  REQUIRE(evs.ok());
  REQUIRE(evs->size() == 1);
  CHECK((*evs)[0].resource == "zone/lab@int");  // defaults to the record's id
  CHECK((*evs)[0].runId == *run);
  CHECK((*evs)[0].unixMs > 0);

  // An event the database rejects (unknown run) must take the resource write down with it.
  auto rec = sampleRecord("zone/other@int");
  auto bad = store->recordApply(rec, sampleEvent("x", 424242));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("run 424242 does not exist") != std::string::npos);
  CHECK_FALSE(store->getResource("zone/other@int")->has_value());
  CHECK(store->eventsSince(0, 100)->size() == 1);
}

TEST_CASE("event ids stay monotonic across reopen and pruning", "[state][events]") {
  TempDir dir;
  SqliteStateOptions opts;
  opts.maxEvents = 5;
  {
    auto store = mustOpen(dir.file("tend.db"), opts);
    for (int i = 1; i <= 12; ++i) {
      auto id = store->appendEvent(sampleEvent("e" + std::to_string(i)));
      REQUIRE(id.ok());
      CHECK(*id == i);
    }
    auto evs = store->eventsSince(0, 0);
    REQUIRE(evs.ok());
    REQUIRE(evs->size() == 5);  // retention keeps the newest N
    CHECK(evs->front().id == 8);
    CHECK(evs->back().message == "e12");
    auto page = store->eventsSince(9, 2);
    REQUIRE(page->size() == 2);
    CHECK(page->at(0).id == 10);
    CHECK(page->at(1).id == 11);
  }
  {
    rawExec(dir.file("tend.db"), "DELETE FROM events");  // even an emptied table
    auto store = mustOpen(dir.file("tend.db"), opts);
    auto id = store->appendEvent(sampleEvent("after reopen"));
    REQUIRE(id.ok());
    CHECK(*id == 13);  // never reused
    CHECK(store->eventsSince(12, 10)->size() == 1);
  }
}

TEST_CASE("runs begin, finish and report the latest", "[state][runs]") {
  SqliteStateOptions opts;
  opts.maxRuns = 3;
  auto store = mustOpen(":memory:", opts);
  CHECK_FALSE(store->lastRun()->has_value());

  RunRecord r;
  r.revision = "abc123";
  r.trigger = "startup";
  r.dryRun = true;
  auto id = store->beginRun(r);
  REQUIRE(id.ok());
  auto last = store->lastRun();
  REQUIRE(last->has_value());
  CHECK((*last)->result == "running");
  CHECK((*last)->finishedUnixMs == 0);
  CHECK((*last)->dryRun);
  CHECK((*last)->trigger == "startup");

  r.id = *id;
  r.result = "partial";
  r.summary = "12 ready, 1 failed";
  r.revision = "";  // keeps the revision recorded at start
  REQUIRE(store->finishRun(r).ok());
  last = store->lastRun();
  CHECK((*last)->result == "partial");
  CHECK((*last)->summary == "12 ready, 1 failed");
  CHECK((*last)->revision == "abc123");
  CHECK((*last)->finishedUnixMs >= (*last)->startedUnixMs);

  // An event pointing at a pruned run survives with run id 0.
  REQUIRE(store->appendEvent(sampleEvent("in run 1", *id)).ok());
  for (int i = 0; i < 4; ++i) REQUIRE(store->beginRun(RunRecord{}).ok());
  auto runs = store->recentRuns(0);
  REQUIRE(runs->size() == 3);
  CHECK(runs->front().id == 5);
  auto evs = store->eventsSince(0, 10);
  REQUIRE(evs->size() == 1);
  CHECK(evs->front().runId == 0);

  RunRecord unknown;
  unknown.id = 999;
  CHECK_FALSE(store->finishRun(unknown).ok());
}

TEST_CASE("meta keys upsert and read back", "[state][meta]") {
  auto store = mustOpen(":memory:");
  CHECK_FALSE(store->getMeta("last_good_revision")->has_value());
  REQUIRE(store->setMeta("last_good_revision", "r1").ok());
  REQUIRE(store->setMeta("last_good_revision", "r2").ok());
  REQUIRE(store->setMeta("zone_serial/lab@int", "2026112501").ok());
  CHECK(**store->getMeta("last_good_revision") == "r2");
  CHECK(**store->getMeta("zone_serial/lab@int") == "2026112501");
}

TEST_CASE("a v1 database migrates to the current schema keeping its data", "[state][migrations]") {
  TempDir dir;
  const std::string path = dir.file("old.db");
  const auto& steps = sqliteStateMigrations();
  REQUIRE(steps.front().version == 1);
  REQUIRE(steps.back().version == kStateSchemaVersion);
  // Exactly what tend with schema v1 wrote.
  rawExec(path, std::string(steps.front().sql) +
                    "INSERT INTO schema_version VALUES (1, 1700000000, 'v1');"
                    "INSERT INTO resources (id, kind, phase, owner_data) VALUES "
                    "('vm/dns1', 'vm', 'ready', '{\"vmid\":101}');"
                    "INSERT INTO runs (started_unix_ms, result) VALUES (1, 'success');"
                    "INSERT INTO events (run_id, ts, level, reason, message) VALUES "
                    "(1, 2, 'info', 'Created', 'old event');"
                    "INSERT INTO meta VALUES ('last_good_revision', 'v1rev');"
                    "PRAGMA user_version = 1;");

  auto store = mustOpen(path);
  CHECK(*store->schemaVersion() == kStateSchemaVersion);
  auto vm = store->getResource("vm/dns1");
  REQUIRE(vm.ok());
  REQUIRE(vm->has_value());
  CHECK((*vm)->ownerData["vmid"] == 101);
  CHECK((*vm)->dependsOn.empty());  // the column v2 added, defaulted
  CHECK(**store->getMeta("last_good_revision") == "v1rev");
  CHECK_FALSE((*store->lastRun())->dryRun);
  auto ev = store->appendEvent(sampleEvent("new event", 1));
  REQUIRE(ev.ok());
  CHECK(*ev == 2);
  store.reset();

  // Each applied step is recorded for whoever debugs the file later.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT group_concat(version) FROM schema_version", -1, &st,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "1,2");
  sqlite3_finalize(st);
  sqlite3_close(db);

  // Reopening a current database applies nothing.
  auto again = mustOpen(path);
  CHECK(*again->schemaVersion() == kStateSchemaVersion);
}

TEST_CASE("a database from a newer tend is refused with a clear error", "[state][migrations]") {
  TempDir dir;
  const std::string path = dir.file("future.db");
  mustOpen(path).reset();
  rawExec(path, "PRAGMA user_version = 99");
  auto s = SqliteStateStore::open(path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().terminal);
  CHECK(s.error().message.find("schema version 99") != std::string::npos);
  CHECK(s.error().message.find("newer tend") != std::string::npos);
}

TEST_CASE("a file database uses WAL, foreign keys and mode 0600", "[state][files]") {
  TempDir dir;
  const std::string path = dir.file("nested/deeper/tend.db");  // parents are created
  auto store = mustOpen(path);
  CHECK(*store->journalMode() == "wal");
  CHECK(*store->integrityCheck() == "ok");
  REQUIRE(store->putResource(sampleRecord("vm/a")).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((path + "-wal").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  REQUIRE(::stat(dir.file("nested").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  // An existing file with loose permissions is tightened.
  const std::string loose = dir.file("loose.db");
  { std::ofstream(loose).flush(); }
  ::chmod(loose.c_str(), 0644);
  mustOpen(loose).reset();
  REQUIRE(::stat(loose.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("a clean close leaves an empty WAL behind: the database file alone holds everything",
          "[state][files]") {
  TempDir dir;
  const std::string path = dir.file("tend.db");
  {
    auto store = mustOpen(path);
    for (int i = 0; i < 50; ++i) REQUIRE(store->putResource(sampleRecord("vm/a" + std::to_string(i))).ok());
    struct stat st {};
    REQUIRE(::stat((path + "-wal").c_str(), &st) == 0);
    CHECK(st.st_size > 0);  // the writes are in the WAL while open
  }
  // Kept (the next start does not create it again), empty (checkpointed into the file), 0600.
  struct stat st {};
  REQUIRE(::stat((path + "-wal").c_str(), &st) == 0);
  CHECK(st.st_size == 0);
  CHECK((st.st_mode & 0077) == 0);
  REQUIRE(::stat((path + "-shm").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  // A copy of the database file alone (a backup taken after tendd stopped) has every record.
  fs::create_directories(dir.file("copy"));
  fs::copy_file(path, dir.file("copy/tend.db"));
  auto copy = mustOpen(dir.file("copy/tend.db"));
  CHECK(copy->loadResources()->size() == 50);
  CHECK(*copy->integrityCheck() == "ok");
  // And the original reopens with them, and keeps writing.
  auto again = mustOpen(path);
  CHECK(again->loadResources()->size() == 50);
  REQUIRE(again->putResource(sampleRecord("vm/b")).ok());
  CHECK(again->loadResources()->size() == 51);
}

TEST_CASE("a short run may leave a small WAL for the next open and past its limit the close folds it in",
          "[state][files]") {
  TempDir dir;
  const std::string path = dir.file("tend.db");
  SqliteStateOptions once;
  once.keepWalBelowFrames = 128;
  auto walSize = [&] {
    struct stat st {};
    REQUIRE(::stat((path + "-wal").c_str(), &st) == 0);
    return st.st_size;
  };
  mustOpen(path, once).reset();  // creates and migrates
  { auto s = mustOpen(path, once); REQUIRE(s->putResource(sampleRecord("vm/a0")).ok()); }
  // A few pages: left in the WAL, read back by the next open (with or without the option).
  CHECK(walSize() > 0);
  const auto small = walSize();
  { auto s = mustOpen(path, once); REQUIRE(s->putResource(sampleRecord("vm/a1")).ok()); }
  CHECK(walSize() > small);  // appended to, not restarted
  {
    auto s = mustOpen(path);
    CHECK(s->loadResources()->size() == 2);
    CHECK(*s->integrityCheck() == "ok");
  }
  // The default close checkpointed: empty again, and the file alone holds both.
  CHECK(walSize() == 0);
  // Past the limit (128 pages) the close checkpoints and empties it even with the option.
  {
    auto s = mustOpen(path, once);
    std::string big(3000, 'x');
    for (int i = 0; i < 200; ++i) {
      auto r = sampleRecord("vm/b" + std::to_string(i));
      r.message = big;
      REQUIRE(s->putResource(r).ok());
    }
  }
  CHECK(walSize() == 0);
  auto s = mustOpen(path, once);
  CHECK(s->loadResources()->size() == 202);
}

TEST_CASE("concurrent writers on threads and on two connections all land", "[state][concurrency]") {
  TempDir dir;
  const std::string path = dir.file("tend.db");
  auto a = mustOpen(path);
  auto b = mustOpen(path);  // a second process's connection, in effect
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SqliteStateStore& s = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < kPerThread; ++i) {
        auto rec = sampleRecord("container/t" + std::to_string(t) + "/c" + std::to_string(i));
        if (!s.recordApply(rec, sampleEvent("applied")).ok()) ++failures;
        if (!s.setMeta("last/" + std::to_string(t), std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(a->loadResources()->size() == kThreads * kPerThread);
  auto evs = b->eventsSince(0, 0);
  REQUIRE(evs->size() == kThreads * kPerThread);
  std::set<int64_t> ids;
  for (size_t i = 0; i < evs->size(); ++i) {
    ids.insert((*evs)[i].id);
    if (i > 0) CHECK((*evs)[i].id > (*evs)[i - 1].id);
  }
  CHECK(ids.size() == evs->size());
  CHECK(*a->integrityCheck() == "ok");
}

TEST_CASE("a writer killed with SIGKILL leaves an intact database with its last commit",
          "[state][crash]") {
  TempDir dir;
  const std::string path = dir.file("tend.db");
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: commit forever, reporting each committed counter after COMMIT returned.
      ::close(fds[0]);
      auto s = SqliteStateStore::open(path);
      if (!s) ::_exit(3);
      int64_t start = 0;
      if (auto m = (*s)->getMeta("counter"); m && m->has_value()) start = std::stoll(**m);
      for (int64_t i = start + 1;; ++i) {
        auto rec = sampleRecord("container/crash/c" + std::to_string(i % 50));
        rec.message = std::to_string(i);
        if (!(*s)->recordApply(rec, sampleEvent(std::to_string(i))).ok()) ::_exit(4);
        if (!(*s)->setMeta("counter", std::to_string(i)).ok()) ::_exit(5);
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(6);
      }
    }
    ::close(fds[1]);
    int64_t last = 0;
    int64_t v = 0;
    // Let it commit a varying amount, then kill it wherever it happens to be.
    const int target = 50 + round * 137;
    for (int n = 0; n < target && ::read(fds[0], &v, sizeof v) == sizeof v; ++n) last = v;
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    while (::read(fds[0], &v, sizeof v) == sizeof v) last = v;  // reports sent before death
    ::close(fds[0]);
    REQUIRE(last > 0);

    auto store = mustOpen(path);
    CHECK(*store->integrityCheck() == "ok");
    auto counter = store->getMeta("counter");
    REQUIRE(counter.ok());
    REQUIRE(counter->has_value());
    CHECK(std::stoll(**counter) >= last);  // every reported commit is durable
    // The resource and its event were written together: the newest of each agree.
    auto evs = store->eventsSince(0, 0);
    REQUIRE_FALSE(evs->empty());
    int64_t lastEvent = std::stoll(evs->back().message);
    CHECK(lastEvent >= last);
    auto rec = store->getResource("container/crash/c" + std::to_string(lastEvent % 50));
    REQUIRE(rec->has_value());
    CHECK((*rec)->message == evs->back().message);
  }
}

TEST_CASE("a garbage or truncated file gives a clear error, not a crash", "[state][files]") {
  TempDir dir;
  const std::string garbage = dir.file("garbage.db");
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>((i * 7919) & 0xff));
  }
  auto g = SqliteStateStore::open(garbage);
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().terminal);
  CHECK(g.error().message.find(garbage) != std::string::npos);
  CHECK(g.error().message.find("not a database") != std::string::npos);

  // A real database whose pages were overwritten in the middle.
  const std::string damaged = dir.file("damaged.db");
  {
    auto s = mustOpen(damaged);
    for (int i = 0; i < 300; ++i)
      REQUIRE(s->putResource(sampleRecord("vm/" + std::to_string(i))).ok());
  }
  rawExec(damaged, "PRAGMA wal_checkpoint(TRUNCATE)");
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    // Pages 2..5 (the b-tree roots after the schema page), headers included.
    f.seekp(4096);
    for (int i = 0; i < 4 * 4096; ++i) f.put(static_cast<char>(0xA5));
  }
  auto d = SqliteStateStore::open(damaged);
  if (d.ok()) {
    // The start-up check runs beside the caller: verified() gives its verdict, and a store that
    // failed it takes no write (the same error). Damage it cannot see must still surface as
    // errors, not crashes.
    auto v = (*d)->verified();
    if (!v) {
      CHECK(v.error().message.find("failed quick_check") != std::string::npos);
      CHECK(v.error().message.find(damaged) != std::string::npos);
      auto w = (*d)->putResource(sampleRecord("vm/new"));
      REQUIRE_FALSE(w.ok());
      CHECK(w.error().message == v.error().message);
      CHECK_FALSE((*d)->beginRun(RunRecord{}).ok());
      CHECK_FALSE((*d)->appendEvent(sampleEvent("x", 0)).ok());
    }
    auto ic = (*d)->integrityCheck();
    auto all = (*d)->loadResources();
    CHECK((!v || !ic.ok() || *ic != "ok" || !all.ok()));
  } else {
    CHECK(d.error().message.find(damaged) != std::string::npos);
  }
}

TEST_CASE("an unusable path gives a clear error", "[state][files]") {
  TempDir dir;
  // A parent that is a regular file: no user, not even root, can create beneath it.
  const std::string notDir = dir.file("plainfile");
  { std::ofstream(notDir).flush(); }
  auto r = SqliteStateStore::open(notDir + "/tend.db");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("cannot") != std::string::npos);
  CHECK(r.error().message.find("not a directory") != std::string::npos);

  auto empty = SqliteStateStore::open("");
  REQUIRE_FALSE(empty.ok());

  // A read-only directory. Root ignores mode bits, so the check runs as `nobody` in a child.
  const fs::path ro = dir.path / "ro";
  fs::create_directory(ro);
  ::chmod(ro.c_str(), 0555);
  const std::string inRo = (ro / "tend.db").string();
  if (::geteuid() != 0) {
    auto s = SqliteStateStore::open(inRo);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("Permission denied") != std::string::npos);
  } else {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      auto s = SqliteStateStore::open(inRo);
      std::string msg = s.ok() ? std::string("OPENED") : s.error().message;
      (void)!::write(fds[1], msg.data(), msg.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(msg.find("Permission denied") != std::string::npos);
    CHECK(msg.find(inRo) != std::string::npos);
  }
}

TEST_CASE("secret values never reach the database file", "[state][secrets]") {
  // The contract: callers redact before they record (the engine runs messages through the
  // Redactor), and owner data never holds secrets. The store re-applies the Redactor as a
  // backstop, so even a caller that forgets cannot write a registered secret to disk.
  TempDir dir;
  const std::string path = dir.file("tend.db");
  const std::string canary = "canary-s3cr3t-" + std::to_string(::getpid()) + "-QZX";
  Redactor::instance().add(canary);
  {
    auto store = mustOpen(path);
    auto rec = sampleRecord("container/app/db");
    rec.message = Redactor::instance().redact("login with " + canary + " failed");  // contract
    REQUIRE(store->putResource(rec).ok());
    auto forgot = sampleRecord("container/app/web");
    forgot.message = "env POSTGRES_PASSWORD=" + canary;  // a caller that forgot
    forgot.ownerData = {{"note", "pw " + canary}, {"nested", {canary}}};
    auto run = store->beginRun(RunRecord{});
    REQUIRE(store->recordApply(forgot, sampleEvent("set password " + canary, *run)).ok());
    REQUIRE(store->setMeta("k", canary).ok());
    auto back = store->getResource("container/app/web");
    CHECK((*back)->message == "env POSTGRES_PASSWORD=(secret)");
    CHECK((*back)->ownerData["nested"][0] == "(secret)");
  }
  Redactor::instance().clear();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string bytes = slurp(path + suffix);
    INFO("file " << path << suffix);
    CHECK(bytes.find(canary) == std::string::npos);
  }
}

TEST_CASE("defaultStatePath follows STATE_DIRECTORY", "[state][paths]") {
  const char* old = std::getenv("STATE_DIRECTORY");
  std::string saved = old ? old : "";
  ::setenv("STATE_DIRECTORY", "/var/lib/tend", 1);
  CHECK(defaultStatePath() == "/var/lib/tend/tend.db");
  ::setenv("STATE_DIRECTORY", "/var/lib/tend:/var/lib/other", 1);
  CHECK(defaultStatePath() == "/var/lib/tend/tend.db");
  ::unsetenv("STATE_DIRECTORY");
  CHECK(defaultStatePath() == "./var/tend.db");
  if (old) ::setenv("STATE_DIRECTORY", saved.c_str(), 1);
}

TEST_CASE("openSqliteStateStore gives an interface usable from :memory:", "[state][api]") {
  auto s = openSqliteStateStore(":memory:");
  REQUIRE(s.ok());
  StateStore& store = **s;
  REQUIRE(store.putResource(sampleRecord("host/pve1")).ok());
  CHECK(store.loadResources()->size() == 1);
}
