#pragma once
// Shared rig for engine tests: a graph builder, an in-memory provider and store, recording
// metrics, and an engine with millisecond backoffs so nothing sleeps for long.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/engine/engine_impl.h"
#include "tests/support/memory_provider.h"
#include "tests/support/memory_state_store.h"

namespace tend::testing {

inline DesiredResource res(const std::string& id, std::vector<std::string> deps = {},
                           const std::string& version = "1", const std::string& provider = "memory") {
  DesiredResource r;
  r.id = id;
  r.kind = kindOfId(id);
  r.provider = provider;
  r.spec = {{"version", version}};
  r.dependsOn = std::move(deps);
  r.hash = "hash-" + id + "-" + version;
  return r;
}

inline DesiredGraphPtr graphOf(std::vector<DesiredResource> rs, bool prune = true,
                               std::map<std::string, int> parallelism = {}) {
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "test";
  g->revision = "rev1";
  g->resources = std::move(rs);
  g->prune = prune;
  g->parallelism = std::move(parallelism);
  g->reindex();
  return g;
}

// Options for engine tests over real stores and providers: millisecond backoffs, no rate limit.
inline EngineOptions fastEngineOptions(int workers) {
  EngineOptions o;
  o.workers = workers;
  o.globalRatePerSecond = 0;
  o.backoffBase = std::chrono::milliseconds(1);
  o.backoffCap = std::chrono::milliseconds(10);
  return o;
}

class RecordingMetrics : public MetricsSink {
 public:
  void runFinished(const std::string& result, double) override {
    std::lock_guard lk(mu);
    runs.push_back(result);
  }
  void driftCorrected(const std::string& kind) override {
    std::lock_guard lk(mu);
    drift[kind]++;
  }
  void providerRequest(const std::string& provider, const std::string& outcome, double) override {
    std::lock_guard lk(mu);
    requests[{provider, outcome}]++;
  }
  void workqueueDepth(size_t d) override {
    std::lock_guard lk(mu);
    depths.push_back(d);
  }
  void resourceCounts(const std::map<std::pair<std::string, std::string>, int>& c) override {
    std::lock_guard lk(mu);
    counts = c;
  }
  void lastSuccess(double t) override {
    std::lock_guard lk(mu);
    lastSuccessAt = t;
  }
  std::mutex mu;
  std::vector<std::string> runs;
  std::map<std::string, int> drift;
  std::map<std::pair<std::string, std::string>, int> requests;
  std::vector<size_t> depths;
  std::map<std::pair<std::string, std::string>, int> counts;
  double lastSuccessAt = 0;
};

struct Rig {
  MemoryStateStore store;
  MemoryProvider mem{"memory"};
  RecordingMetrics metrics;
  EngineOptions opts;
  std::unique_ptr<Engine> engine;

  Rig() {
    opts.workers = 4;
    opts.backoffBase = std::chrono::milliseconds(1);
    opts.backoffCap = std::chrono::milliseconds(20);
    opts.recheckInterval = std::chrono::milliseconds(5);
    opts.globalRatePerSecond = 0;
    opts.cancelGrace = std::chrono::milliseconds(2000);
  }
  Engine& make() {
    engine.reset();
    EngineDeps d;
    d.state = &store;
    d.metrics = &metrics;
    d.providerFor = [this](const std::string& n) -> Provider* { return n == "memory" ? &mem : nullptr; };
    // The prune order the built-in providers register for the kinds these tests use.
    d.pruneRank = [](const std::string& kind) {
      static const std::map<std::string, int> ranks = {{"container", 0}, {"network", 1}, {"volume", 1},
                                                       {"image", 1},     {"zone", 2},    {"dnsconf", 3},
                                                       {"host", 4},      {"vm", 5},      {"template", 6}};
      auto it = ranks.find(kind);
      return it == ranks.end() ? 0 : it->second;
    };
    engine = makeEngine(d, opts);
    return *engine;
  }
  engine::EngineImpl& impl() { return dynamic_cast<engine::EngineImpl&>(*engine); }
  RunResult run(RunRequest req = {}) { return engine->run(req); }
  ResourceStatus status(const std::string& id) {
    for (auto& s : engine->status())
      if (s.id == id) return s;
    return ResourceStatus{};
  }
  int events(const std::string& reason, const std::string& id = "") {
    int n = 0;
    for (auto& e : store.events())
      if (e.reason == reason && (id.empty() || e.resource == id)) n++;
    return n;
  }
};

}  // namespace tend::testing
