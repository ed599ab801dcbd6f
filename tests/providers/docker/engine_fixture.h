#pragma once
// The docker provider under test, and the real reconcile engine driving it over a memory state
// store: what the integration tests share.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "docker_fixture.h"
#include "providers/docker/docker_provider.h"
#include "tests/support/memory_state_store.h"

namespace tend::dockertest {

inline std::unique_ptr<Provider> makeTestProvider(const std::string& env, const std::string& stateDir = "") {
  ProviderConfig cfg;
  cfg.environment = env;
  cfg.stateDir = stateDir;
  auto p = docker::makeDockerProvider(cfg);
  REQUIRE(p.ok());
  return std::move(*p);
}

// One engine over `rs`, re-checking progressing resources every 200 ms.
struct EngineRun {
  testing::MemoryStateStore store;
  std::unique_ptr<Engine> engine;
  EngineRun(const Run& run, Provider& p, std::vector<DesiredResource> rs, int parallelism = 0,
            std::chrono::milliseconds runTimeout = std::chrono::milliseconds(30000)) {
    auto g = std::make_shared<DesiredGraph>();
    g->environment = run.env;
    g->revision = "r1";
    g->resources = std::move(rs);
    if (parallelism > 0) g->parallelism["docker"] = parallelism;
    g->reindex();
    EngineOptions opts;
    opts.environment = run.env;
    opts.globalRatePerSecond = 0;
    opts.recheckInterval = std::chrono::milliseconds(200);
    opts.runTimeout = runTimeout;
    EngineDeps deps;
    deps.state = &store;
    deps.providerFor = [&p](const std::string& n) -> Provider* { return n == "docker" ? &p : nullptr; };
    deps.pruneRank = [](const std::string& kind) {
      static const ProviderRegistry reg = [] {
        ProviderRegistry r;
        r.add(docker::registration());
        return r;
      }();
      return reg.pruneRank(kind);
    };
    engine = makeEngine(deps, opts);
    engine->setDesired(g);
  }
  RunResult pass() {
    RunRequest rq;
    rq.trigger = "test";
    return engine->run(rq);
  }
  ResourceStatus status(const std::string& id) {
    for (auto& s : engine->status())
      if (s.id == id) return s;
    return {};
  }
};

}  // namespace tend::dockertest
