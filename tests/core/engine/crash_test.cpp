// Crash recovery: a child process runs the engine with the SQLite store and a file-backed
// provider and is SIGKILLed right after a provider apply, before the engine records it. A new
// engine on the same files must converge without applying (or duplicating) what exists:
// objects are adopted by their ownership mark; the database passes PRAGMA integrity_check.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/engine.h"
#include "state/sqlite_state_store.h"
#include "tests/core/engine/engine_fixture.h"
#include "tests/support/file_provider.h"
#include "tests/support/skip.h"

using namespace tend;
using namespace tend::testing;
namespace fs = std::filesystem;

namespace {

DesiredGraphPtr crashGraph() {
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "crash";
  g->revision = "r1";
  for (int i = 0; i < 80; ++i) {
    DesiredResource r;
    r.id = "thing/t" + std::to_string(i);
    r.kind = "thing";
    r.provider = "file";
    r.spec = {{"n", i}};
    r.hash = "h" + std::to_string(i);
    if (i >= 10) r.dependsOn = {"thing/t" + std::to_string(i % 10)};  // two waves
    g->resources.push_back(std::move(r));
  }
  g->reindex();
  return g;
}

std::string integrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out = "open failed";
  } else {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        if (!out.empty()) out += "\n";
        out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      }
      sqlite3_finalize(st);
    } else {
      out = sqlite3_errmsg(db);
    }
  }
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("a crash between provider apply and state record is recovered without duplicates",
          "[core][engine][crash]") {
  char tmpl[] = "/tmp/tend-engine-crash-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl;
  std::string db = dir + "/tend.db";
  std::string objects = dir + "/objects";
  {
    auto probe = openSqliteStateStore(db);
    if (!probe) {
      fs::remove_all(dir);
      tend::testing::skipTest("SQLite state store unavailable (" + probe.error().message + ")");
    }
  }
  auto graph = crashGraph();
  constexpr int kKillAt = 25;

  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: no Catch assertions here; any way out other than SIGKILL is a failure.
    auto store = openSqliteStateStore(db);
    if (!store) _exit(3);
    FileProvider fp(objects);
    std::atomic<int> applies{0};
    fp.afterApply([&](const ApplyRequest&) {
      if (++applies == kKillAt) raise(SIGKILL);  // the object exists; its record does not
    });
    EngineDeps deps;
    deps.state = store->get();
    deps.providerFor = [&](const std::string& n) -> Provider* { return n == "file" ? &fp : nullptr; };
    auto engine = makeEngine(deps, fastEngineOptions(4));
    engine->setDesired(graph);
    engine->run(RunRequest{});
    _exit(4);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  FileProvider fp(objects);
  std::set<std::string> existedBefore;
  for (auto& r : graph->resources)
    if (fp.countObjects(r.id) > 0) existedBefore.insert(r.id);
  CHECK(existedBefore.size() >= static_cast<size_t>(kKillAt));
  CHECK(integrityCheck(db) == "ok");

  auto store = openSqliteStateStore(db);
  REQUIRE(store);
  // At least the object applied right before the kill has no record of being applied.
  size_t unrecorded = 0;
  {
    auto recs = (*store)->loadResources();
    REQUIRE(recs);
    std::map<std::string, ResourceRecord> byId;
    for (auto& r : *recs) byId[r.id] = r;
    for (auto& id : existedBefore)
      if (!byId.count(id) || byId[id].lastAppliedHash.empty()) unrecorded++;
  }
  CHECK(unrecorded >= 1);

  std::mutex mu;
  std::vector<std::string> appliedAfter;
  fp.afterApply([&](const ApplyRequest& req) {
    std::lock_guard lk(mu);
    appliedAfter.push_back(req.action.id);
  });
  EngineDeps deps;
  deps.state = store->get();
  deps.providerFor = [&](const std::string& n) -> Provider* { return n == "file" ? &fp : nullptr; };
  auto engine = makeEngine(deps, fastEngineOptions(4));
  engine->setDesired(graph);
  auto r = engine->run(RunRequest{});
  CHECK(r.result == "success");
  CHECK(r.ready == 80);
  for (auto& id : appliedAfter) {
    INFO(id << " was applied again after the restart");
    CHECK_FALSE(existedBefore.count(id));
  }
  CHECK(appliedAfter.size() == 80 - existedBefore.size());
  for (auto& res : graph->resources) {
    INFO(res.id);
    CHECK(fp.countObjects(res.id) == 1);
  }
  CHECK(fp.totalObjects() == 80);
  // Adopted objects now have their applied hash recorded.
  auto recs = (*store)->loadResources();
  REQUIRE(recs);
  CHECK(recs->size() == 80);
  for (auto& rec : *recs) CHECK(rec.lastAppliedHash == graph->find(rec.id)->hash);
  engine.reset();
  store->reset();
  CHECK(integrityCheck(db) == "ok");
  fs::remove_all(dir);
}
