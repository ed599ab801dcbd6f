// State store throughput: what the engine pays per recorded apply, per event, per start-up
// load. Run: build/bench/bench_state_bench [N] (default 5000). Writes to a temp directory.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "state/sqlite_state_store.h"

using namespace tend;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

ResourceRecord rec(int i) {
  ResourceRecord r;
  r.id = "container/app" + std::to_string(i % 100) + "/c" + std::to_string(i);
  r.kind = "container";
  r.desiredHash = "sha256:0123456789abcdef0123456789abcdef";
  r.lastAppliedHash = r.desiredHash;
  r.phase = Phase::Ready;
  r.message = "running";
  r.ownerData = {{"container_id", "0123456789ab" + std::to_string(i)}};
  r.dependsOn = {"network/h1/apps"};
  return r;
}

int run(const std::string& label, const std::string& path, int n, bool fullSync) {
  SqliteStateOptions opts;
  opts.fullSync = fullSync;
  auto s = SqliteStateStore::open(path, opts);
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.error().message.c_str());
    return 1;
  }
  auto& store = **s;
  EventRecord ev;
  ev.reason = "Updated";
  ev.message = "applied";

  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (!store.recordApply(rec(i), ev)) return 1;
  }
  double apply = msSince(t0);

  t0 = Clock::now();
  auto all = store.loadResources();
  double load = msSince(t0);
  if (!all || static_cast<int>(all->size()) != n) return 1;

  t0 = Clock::now();
  for (int i = 0; i < 2 * n; ++i) {
    if (!store.appendEvent(ev)) return 1;
  }
  double events = msSince(t0);

  t0 = Clock::now();
  auto page = store.eventsSince(0, 1000);
  double read = msSince(t0);
  if (!page) return 1;

  std::printf(
      "%-22s recordApply %7.1f us/op (%6.0f/s) | appendEvent %6.1f us/op | "
      "loadResources(%d) %6.1f ms | eventsSince 1000 %5.2f ms\n",
      label.c_str(), apply * 1000 / n, n / (apply / 1000), events * 1000 / (2 * n), n, load, read);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  std::string tmpl = (std::filesystem::temp_directory_path() / "tend-state-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  std::filesystem::path dir(tmpl);
  int rc = run(":memory:", ":memory:", n, false);
  rc |= run("file, synchronous=NORMAL", (dir / "normal.db").string(), n, false);
  rc |= run("file, synchronous=FULL", (dir / "full.db").string(), n, true);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
