// The engine on the real SQLite state store across a spec change and a restart: what the
// database says was applied is what was applied, so a restarted tend neither re-applies nor
// rewrites anything. (The in-memory store of the other engine tests cannot lose a field.)
#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/engine.h"
#include "state/sqlite_state_store.h"
#include "tests/core/engine/engine_fixture.h"

using namespace tend;
using namespace tend::testing;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tend-engine-sqlite-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Raw SQL beside the store (its own connection): counts every row tend writes into the
// resources table from now on, whatever code path writes it.
int execCount(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  int n = -1;
  if (sqlite3_open(db.c_str(), &h) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    for (const char* s = sql.c_str(); *s && sqlite3_prepare_v2(h, s, -1, &st, &s) == SQLITE_OK;) {
      if (!st) break;
      while (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(h);
  return n;
}

constexpr const char* kCountWrites = R"sql(
CREATE TABLE test_resource_writes (n INTEGER);
CREATE TRIGGER test_w_ins AFTER INSERT ON resources BEGIN INSERT INTO test_resource_writes VALUES (1); END;
CREATE TRIGGER test_w_upd AFTER UPDATE ON resources BEGIN INSERT INTO test_resource_writes VALUES (1); END;
CREATE TRIGGER test_w_del AFTER DELETE ON resources BEGIN INSERT INTO test_resource_writes VALUES (1); END;
)sql";

// One tend process: the store opened on the file and an engine over the provider (the
// provider's objects play the real server, which outlives tend).
struct Tend {
  std::unique_ptr<SqliteStateStore> store;
  std::unique_ptr<Engine> engine;
  Tend(const std::string& db, MemoryProvider& server) {
    auto s = SqliteStateStore::open(db);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s.ok());
    store = std::move(*s);
    EngineDeps d;
    d.state = store.get();
    d.providerFor = [&server](const std::string& n) -> Provider* { return n == "memory" ? &server : nullptr; };
    engine = makeEngine(d, fastEngineOptions(2));
  }
};

}  // namespace

TEST_CASE("on the SQLite store a changed spec is recorded as applied, and a restart writes nothing",
          "[core][engine][state]") {
  TempDir dir;
  const std::string db = dir.path + "/tend.db";
  MemoryProvider server;
  auto v1 = graphOf({res("network/h/n"), res("container/app/a", {"network/h/n"}, "1")});
  auto v2 = graphOf({res("network/h/n"), res("container/app/a", {"network/h/n"}, "2")});
  {
    Tend t(db, server);
    t.engine->setDesired(v1);
    REQUIRE(t.engine->run({}).result == "success");
    t.engine->setDesired(v2);
    auto r = t.engine->run({});
    REQUIRE(r.result == "success");
    CHECK(r.changed == 1);
    CHECK(server.applyCount("container/app/a") == 2);  // created, then updated
    // One more pass takes up the observed messages ("updated" -> "running"), as any
    // pass after an apply does; from here on nothing changes.
    REQUIRE(t.engine->run({}).result == "success");
  }
  {
    auto s = SqliteStateStore::open(db);
    REQUIRE(s.ok());
    auto rec = (*s)->getResource("container/app/a");
    REQUIRE(rec.ok());
    REQUIRE(rec->has_value());
    CHECK((*rec)->lastAppliedHash == "hash-container/app/a-2");
    CHECK((*rec)->desiredHash == "hash-container/app/a-2");
    CHECK((*rec)->phase == Phase::Ready);
  }
  REQUIRE(execCount(db, std::string(kCountWrites) + "SELECT count(*) FROM test_resource_writes;") == 0);
  {
    Tend t(db, server);  // a restart: the engine knows only what the database says
    t.engine->setDesired(v2);
    auto r = t.engine->run({});
    CHECK(r.result == "success");
    CHECK(r.changed == 0);
  }
  CHECK(server.applyCount("container/app/a") == 2);
  CHECK(server.applyCount("network/h/n") == 1);
  CHECK(execCount(db, "SELECT count(*) FROM test_resource_writes;") == 0);
}
