// The docker provider passes the engine's provider conformance suite against the real dockerd.
#include <catch2/catch.hpp>

#include "docker_fixture.h"
#include "providers/docker/docker_provider.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
using namespace tend::dockertest;
using nlohmann::json;

TEST_CASE("docker provider passes the conformance suite", "[docker][integration][conformance]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  ProviderConfig cfg;
  cfg.environment = run.env;
  auto p = docker::makeDockerProvider(cfg);
  REQUIRE(p.ok());
  auto ctx = testing::conformanceContext();
  ctx.environment = run.env;

  SECTION("network and container: create, idempotence, change, prune, unowned conflict") {
    testing::ConformanceOptions o;
    o.createUnowned = [&](const DesiredResource& r) {
      if (r.kind == "network") sh("docker network create " + r.spec["name"].get<std::string>() + " >/dev/null");
      else sh("docker create --name " + r.spec["name"].get<std::string>() + " " + run.image + " sleep 60 >/dev/null");
    };
    o.removeUnowned = [&](const DesiredResource& r) {
      if (r.kind == "network") sh("docker network rm " + r.spec["name"].get<std::string>() + " >/dev/null 2>&1");
      else sh("docker rm -f " + r.spec["name"].get<std::string>() + " >/dev/null 2>&1");
    };
    o.changed = [&](const DesiredResource& r) {
      DesiredResource c = r;
      c.spec["labels"]["tend.test/changed"] = "yes";
      return run.finish(c);
    };
    o.pollInterval = std::chrono::milliseconds(200);
    // A restarted tendd builds a new provider: the private data (container id) is all it needs.
    o.restart = [&]() -> std::unique_ptr<Provider> {
      auto fresh = docker::makeDockerProvider(cfg);
      REQUIRE(fresh.ok());
      return std::move(fresh).value();
    };
    testing::runProviderConformance(**p, {run.network(run.env), run.container(run.env, "conf")}, ctx, o);
  }
  SECTION("volume with prune_volumes: create, idempotence, prune, unowned conflict") {
    testing::ConformanceOptions o;
    o.createUnowned = [&](const DesiredResource& r) {
      sh("docker volume create " + r.spec["name"].get<std::string>() + " >/dev/null");
    };
    o.removeUnowned = [&](const DesiredResource& r) {
      sh("docker volume rm -f " + r.spec["name"].get<std::string>() + " >/dev/null 2>&1");
    };
    testing::runProviderConformance(**p, {run.volume(run.env, "confvol", true)}, ctx, o);
  }
}
