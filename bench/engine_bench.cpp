// Benchmark: a no-op reconcile pass over N in-memory resources (all already applied; the
// provider's one observe call returns matching hashes). Targets: 5,000 < 50 ms, 10,000 < 100 ms.
// `--waiting N`: N resources parked on a requeue delay (progressing, re-check in an hour); the
// CPU the whole process uses while they wait (target < 1 % of one core at 10,000), and the
// latency from enqueueing one key (a run of one resource) to its observe call on a worker
// (target < 1 ms at 1,000 keys).
// Measures the engine with three stores: a plain in-memory store, SQLite ":memory:", and a
// SQLite file (WAL) — a no-op pass writes no resource rows, only the run record.
//
//   bench_engine_bench [--sizes 5000,10000] [--passes 20] [--stores memory,sqlite-mem,sqlite-file]
// Prints one line per (size, store) and a machine-readable "RESULT" line.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine.h"
#include "core/log.h"
#include "state/sqlite_state_store.h"

using namespace tend;

namespace {

// The smallest honest provider: objects in a map, one observe returns all of them.
class BenchProvider : public Provider {
 public:
  std::string name() const override { return "bench"; }
  std::vector<std::string> kinds() const override { return {"container", "network"}; }
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse resp;
    std::lock_guard lk(mu_);
    for (const auto* d : req.desired) {
      auto it = applied_.find(d->id);
      if (it == applied_.end()) continue;
      ObservedResource o;
      o.id = d->id;
      o.exists = o.owned = o.ready = true;
      o.appliedHash = it->second;
      o.message = "running";
      resp.observed.emplace(d->id, std::move(o));
    }
    return resp;
  }
  PlannedAction plan(const PlanRequest& req) const override {
    PlannedAction a;
    if (req.desired) {
      a.id = req.desired->id;
      if (!req.observed || !req.observed->exists) a.action = Action::Create;
      else if (req.observed->appliedHash != req.desired->hash) a.action = Action::Update;
    } else if (req.observed) {
      a.id = req.observed->id;
      a.action = Action::Delete;
    }
    return a;
  }
  ApplyResponse apply(const ApplyRequest& req) override {
    std::lock_guard lk(mu_);
    if (req.action.action == Action::Delete) applied_.erase(req.action.id);
    else if (req.desired) applied_[req.action.id] = req.desired->hash;
    return {};
  }
  void preload(const DesiredGraph& g) {
    std::lock_guard lk(mu_);
    for (auto& r : g.resources) applied_[r.id] = r.hash;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> applied_;
};

// Every object exists and is still starting: each key is parked on the requeue delay. Records
// when its last observe call began.
class WaitingProvider : public Provider {
 public:
  std::string name() const override { return "bench"; }
  std::vector<std::string> kinds() const override { return {"container", "network"}; }
  ObserveResponse observe(const ObserveRequest& req) override {
    lastObserve.store(std::chrono::steady_clock::now().time_since_epoch().count());
    calls++;
    ObserveResponse resp;
    for (const auto* d : req.desired) {
      ObservedResource o;
      o.id = d->id;
      o.exists = o.owned = true;
      o.ready = false;
      o.appliedHash = d->hash;
      o.message = "starting";
      resp.observed.emplace(d->id, std::move(o));
    }
    return resp;
  }
  PlannedAction plan(const PlanRequest& req) const override {
    PlannedAction a;
    a.id = req.desired ? req.desired->id : req.observed->id;
    return a;
  }
  ApplyResponse apply(const ApplyRequest&) override { return {}; }
  std::atomic<int64_t> lastObserve{0};
  std::atomic<int> calls{0};
};

// A plain in-memory store (no SQL) to separate engine cost from store cost.
class MapStore : public StateStore {
 public:
  Result<std::vector<ResourceRecord>> loadResources() override {
    std::lock_guard lk(mu_);
    std::vector<ResourceRecord> v;
    for (auto& [k, r] : res_) v.push_back(r);
    return v;
  }
  Result<std::optional<ResourceRecord>> getResource(const std::string& id) override {
    std::lock_guard lk(mu_);
    auto it = res_.find(id);
    if (it == res_.end()) return std::optional<ResourceRecord>{};
    return std::optional<ResourceRecord>{it->second};
  }
  Result<void> recordApply(const ResourceRecord& rec, const EventRecord&) override {
    std::lock_guard lk(mu_);
    res_[rec.id] = rec;
    ++writes;
    return {};
  }
  Result<void> putResource(const ResourceRecord& rec) override {
    std::lock_guard lk(mu_);
    res_[rec.id] = rec;
    ++writes;
    return {};
  }
  Result<void> deleteResource(const std::string& id) override {
    std::lock_guard lk(mu_);
    res_.erase(id);
    ++writes;
    return {};
  }
  Result<int64_t> beginRun(const RunRecord&) override { return ++runs_; }
  Result<void> finishRun(const RunRecord&) override { return {}; }
  Result<std::optional<RunRecord>> lastRun() override { return std::optional<RunRecord>{}; }
  Result<int64_t> appendEvent(const EventRecord&) override {
    ++writes;
    return ++events_;
  }
  Result<std::vector<EventRecord>> eventsSince(int64_t, int) override { return std::vector<EventRecord>{}; }
  Result<std::optional<std::string>> getMeta(const std::string& k) override {
    std::lock_guard lk(mu_);
    auto it = meta_.find(k);
    if (it == meta_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<void> setMeta(const std::string& k, const std::string& v) override {
    std::lock_guard lk(mu_);
    meta_[k] = v;
    return {};
  }
  long writes = 0;

 private:
  std::mutex mu_;
  std::map<std::string, ResourceRecord> res_;
  std::map<std::string, std::string> meta_;
  int64_t runs_ = 0, events_ = 0;
};

DesiredGraphPtr makeGraph(int n) {
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "bench";
  g->revision = "bench";
  int hosts = std::max(1, n / 100);
  for (int h = 0; h < hosts; ++h) {
    DesiredResource r;
    r.id = "network/h" + std::to_string(h) + "/default";
    r.kind = "network";
    r.provider = "bench";
    r.host = "h" + std::to_string(h);
    r.spec = {{"name", "default"}};
    r.hash = "net-" + std::to_string(h);
    g->resources.push_back(std::move(r));
  }
  for (int i = hosts; i < n; ++i) {
    DesiredResource r;
    int h = i % hosts;
    r.id = "container/app" + std::to_string(i) + "/main";
    r.kind = "container";
    r.provider = "bench";
    r.host = "h" + std::to_string(h);
    r.spec = {{"image", "busybox"}, {"n", i}};
    r.hash = "c-" + std::to_string(i);
    r.dependsOn = {"network/h" + std::to_string(h) + "/default"};
    g->resources.push_back(std::move(r));
  }
  g->reindex();
  return g;
}

// CPU time of the whole process (all threads): on a loaded machine wall time includes waiting
// for a core; CPU time shows the work the pass itself costs.
double cpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) out.push_back(x);
  return out;
}

}  // namespace

int waitingBench(int n) {
  auto graph = makeGraph(n);
  WaitingProvider provider;
  MapStore store;
  EngineDeps deps;
  deps.state = &store;
  deps.providerFor = [&](const std::string&) -> Provider* { return &provider; };
  EngineOptions opts;
  opts.recheckInterval = std::chrono::hours(1);
  auto engine = makeEngine(deps, opts);
  engine->setDesired(graph);
  RunRequest all;
  all.untilSettled = false;  // ends once every key was looked at: all are parked then
  auto r = engine->run(all);
  std::printf("waiting: %d keys parked (%s)\n", n, r.result.c_str());
  // CPU of the whole process while they wait.
  double c0 = cpuMs();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  double cpu = cpuMs() - c0;
  double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("RESULT waiting=%d cpu_ms=%.2f wall_ms=%.0f core_percent=%.3f\n", n, cpu, wall, 100.0 * cpu / wall);
  // Enqueue-to-worker latency: a run of one parked key, until its observe call starts.
  std::vector<double> lat;
  for (int i = 0; i < 200; ++i) {
    RunRequest one;
    one.untilSettled = false;
    one.resources = {graph->resources[graph->resources.size() - 1 - (i % 50)].id};
    int before = provider.calls.load();
    auto t = std::chrono::steady_clock::now();
    engine->start(one, nullptr);
    while (provider.calls.load() == before) std::this_thread::yield();
    auto at = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(provider.lastObserve.load()));
    lat.push_back(std::chrono::duration<double, std::micro>(at - t).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::sort(lat.begin(), lat.end());
  std::printf("RESULT enqueue_to_worker keys=%d median_us=%.1f p99_us=%.1f max_us=%.1f\n", n,
              lat[lat.size() / 2], lat[lat.size() * 99 / 100], lat.back());
  return 0;
}

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--waiting") {
      log::configure(log::Level::Warn, log::Format::Text);
      return waitingBench(std::atoi(argv[i + 1]));
    }
  std::vector<int> sizes = {5000, 10000};
  int passes = 20;
  std::vector<std::string> stores = {"memory", "sqlite-mem", "sqlite-file"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      for (auto& s : split(argv[++i])) sizes.push_back(std::atoi(s.c_str()));
    } else if (a == "--passes" && i + 1 < argc) {
      passes = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--stores" && i + 1 < argc) {
      stores = split(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--sizes 5000,10000] [--passes N] [--stores memory,sqlite-mem,sqlite-file]\n", argv[0]);
      return 2;
    }
  }
  log::configure(log::Level::Warn, log::Format::Text);

  std::printf("%-8s %-12s %10s %10s %10s %10s %10s  %s\n", "size", "store", "min_ms", "median_ms", "p90_ms",
              "cpu_ms", "first_ms", "writes/pass");
  for (int n : sizes) {
    auto graph = makeGraph(n);
    for (auto& storeName : stores) {
      BenchProvider provider;
      provider.preload(*graph);
      std::unique_ptr<StateStore> owned;
      MapStore* mapStore = nullptr;
      std::string tmpDir;
      if (storeName == "memory") {
        auto m = std::make_unique<MapStore>();
        mapStore = m.get();
        owned = std::move(m);
      } else {
        std::string path = ":memory:";
        if (storeName == "sqlite-file") {
          char tmpl[] = "/tmp/tend-bench-XXXXXX";
          if (!mkdtemp(tmpl)) return 1;
          tmpDir = tmpl;
          path = tmpDir + "/tend.db";
        }
        auto s = openSqliteStateStore(path);
        if (!s) {
          std::printf("%-8d %-12s skipped: %s\n", n, storeName.c_str(), s.error().message.c_str());
          continue;
        }
        owned = std::move(*s);
      }
      EngineDeps deps;
      deps.state = owned.get();
      deps.providerFor = [&](const std::string& name) -> Provider* { return name == "bench" ? &provider : nullptr; };
      EngineOptions opts;
      opts.workers = 8;
      auto engine = makeEngine(deps, opts);
      engine->setDesired(graph);

      // First pass: adopts every object (writes each record once). Not part of the target.
      auto t0 = std::chrono::steady_clock::now();
      auto first = engine->run(RunRequest{});
      double firstMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (first.result != "success" || first.ready != n) {
        std::fprintf(stderr, "first pass: %s (%d ready of %d)\n", first.result.c_str(), first.ready, n);
        return 1;
      }
      long writesBefore = mapStore ? mapStore->writes : 0;
      std::vector<double> ms, cpu;
      for (int p = 0; p < passes; ++p) {
        auto t = std::chrono::steady_clock::now();
        double c0 = cpuMs();
        auto r = engine->run(RunRequest{});
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
        cpu.push_back(cpuMs() - c0);
        if (r.result != "success" || r.changed != 0) {
          std::fprintf(stderr, "no-op pass changed something: %s changed=%d\n", r.result.c_str(), r.changed);
          return 1;
        }
      }
      std::sort(ms.begin(), ms.end());
      std::sort(cpu.begin(), cpu.end());
      double cpuMedian = cpu[cpu.size() / 2];
      double median = ms[ms.size() / 2];
      double p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
      std::string writes = mapStore ? std::to_string((mapStore->writes - writesBefore) / passes) : "-";
      std::printf("%-8d %-12s %10.2f %10.2f %10.2f %10.2f %10.1f  %s\n", n, storeName.c_str(), ms.front(),
                  median, p90, cpuMedian, firstMs, writes.c_str());
      std::printf("RESULT size=%d store=%s median_ms=%.3f min_ms=%.3f p90_ms=%.3f cpu_ms=%.3f\n", n,
                  storeName.c_str(), median, ms.front(), p90, cpuMedian);
      engine.reset();
      owned.reset();
      if (!tmpDir.empty()) std::filesystem::remove_all(tmpDir);
    }
  }
  return 0;
}
