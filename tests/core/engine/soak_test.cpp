// Soak on the fake clock: a day of periodic passes (every 30 s) over the real SQLite store,
// with drift made by hand, objects deleted and failures injected along the way. After a
// warm-up nothing may keep growing: heap in use, file descriptors, threads, and the database
// (rows stay within the events/runs retention, the file within what that retention needs).
#include <malloc.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <string>

#include "core/engine.h"
#include "state/sqlite_state_store.h"
#include "tests/core/engine/engine_fixture.h"

using namespace std::chrono_literals;
using namespace tend;
using namespace tend::testing;
namespace fs = std::filesystem;

namespace {

size_t countDir(const char* path) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(path)) ++n;
  return n;
}

int64_t scalar(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return v;
}

struct Sample {
  size_t heap = 0, fds = 0, threads = 0;
  int64_t events = 0, runs = 0, dbBytes = 0;
};

}  // namespace

TEST_CASE("a day of periodic passes with drift on the fake clock grows nothing beyond retention",
          "[core][engine][soak]") {
  std::string tmpl = (fs::temp_directory_path() / "tend-soak-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  struct Rm {
    std::string p;
    ~Rm() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } rm{tmpl};
  const std::string db = tmpl + "/tend.db";
  auto opened = SqliteStateStore::open(db);
  REQUIRE(opened.ok());
  auto store = std::move(*opened);

  FakeClock clock;
  MemoryProvider mem("memory");
  mem.setClock(&clock);
  EngineDeps d;
  d.state = store.get();  // no metrics sink: the recording one keeps every value
  d.clock = &clock;
  d.providerFor = [&](const std::string& n) -> Provider* { return n == "memory" ? &mem : nullptr; };
  EngineOptions o;
  o.workers = 4;
  o.globalRatePerSecond = 0;
  o.backoffBase = 1s;
  o.backoffCap = 300s;
  o.recheckInterval = 30s;
  auto engine = makeEngine(d, o);
  auto& impl = dynamic_cast<engine::EngineImpl&>(*engine);

  std::vector<DesiredResource> rs;
  for (int i = 0; i < 60; ++i) rs.push_back(res("container/app" + std::to_string(i % 6) + "/c" + std::to_string(i)));
  for (int i = 0; i < 6; ++i) rs.push_back(res("network/local/app" + std::to_string(i)));
  rs.push_back(res("zone/a.test@internal"));
  engine->setDesired(graphOf(rs));
  REQUIRE(engine->run({}).result == "success");

  // 24 h of 30 s periods = 2,880 passes. Each pass: some drift, sometimes an object deleted
  // by hand, now and then a failure that heals (fixed seed: the same day every run).
  std::mt19937 rng(16);
  Sample warm, end;
  auto sample = [&] {
    malloc_trim(0);
    Sample s;
    s.heap = mallinfo2().uordblks;
    s.fds = countDir("/proc/self/fd");
    s.threads = countDir("/proc/self/task");
    s.events = scalar(db, "select count(*) from events");
    s.runs = scalar(db, "select count(*) from runs");
    s.dbBytes = static_cast<int64_t>(fs::file_size(db));
    return s;
  };
  const int passes = 2880, warmAt = 1440;  // retention (10,000 events) is full by the half-day
  int failedRuns = 0;
  for (int p = 1; p <= passes; ++p) {
    // Enough drift that the events retention (10,000) is full well before the half-day.
    std::string victim = rs[rng() % rs.size()].id;
    for (int k = 0; k < 8; ++k) mem.setDrift(rs[rng() % rs.size()].id);
    if (rng() % 3 == 0) mem.erase(victim);
    // Now and then an apply fails (terminal: the run ends failed, the next pass retries it).
    MemoryProvider::Faults f;
    if (p % 97 == 0) {
      f.failApplyIds = {victim};
      f.failTerminal = true;
      mem.setDrift(victim);
    }
    mem.setFaults(f);
    clock.advance(30s);
    impl.wake();
    RunRequest periodic;
    periodic.trigger = "interval";
    auto r = engine->run(periodic);
    if (r.result != "success") ++failedRuns;
    mem.clearLogs();  // the test provider's call log, not tend's memory
    if (p == warmAt) warm = sample();
  }
  mem.setFaults({});
  clock.advance(600s);
  REQUIRE(engine->run({}).result == "success");
  end = sample();
  INFO("warm: heap " << warm.heap << " fds " << warm.fds << " threads " << warm.threads << " events "
                     << warm.events << " runs " << warm.runs << " db " << warm.dbBytes);
  INFO("end:  heap " << end.heap << " fds " << end.fds << " threads " << end.threads << " events "
                     << end.events << " runs " << end.runs << " db " << end.dbBytes);
  CHECK(failedRuns < passes / 50);  // injected failures only, each healed on its retry
  // At most one more handle, once (SQLite opening a file lazily): a per-pass leak would be
  // hundreds over the 1,440 passes.
  CHECK(end.fds <= warm.fds + 1);
  CHECK(end.threads == warm.threads);
  CHECK(end.events <= 10000);
  CHECK(end.runs <= 1000);
  // The second half of the day added ~10,000 events and 1,440 runs that retention dropped:
  // the file reuses their pages. Slack: 10 % for SQLite's page layout.
  CHECK(end.dbBytes <= warm.dbBytes + warm.dbBytes / 10);
  // Heap in use after the second half: within 1 MiB of the half-day mark (no per-pass leak:
  // 1,440 passes of even 1 KiB each would be 1.4 MiB).
  CHECK(end.heap <= warm.heap + (1u << 20));
}
