// Expansion marks one-shot containers (depends_on condition service_completed_successfully).
#include <catch2/catch.hpp>

#include "core/spec.h"
#include "core/spec/loader.h"
#include "tests/core/spec/spec_test_util.h"

using tend::LoadResult;
using tend::test::loadSpec;
using tend::testing::TempSpecDir;

TEST_CASE("a container waited on with service_completed_successfully gets one_shot: true, "
          "others no one_shot field",
          "[spec][expand][oneshot]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml",
          "apps:\n"
          "  a:\n"
          "    host: h\n"
          "    containers:\n"
          "      migrate: { image: 'busybox:1', command: ['sh', '-c', 'exit 0'] }\n"
          "      db: { image: 'busybox:1' }\n"
          "      web:\n"
          "        image: 'busybox:1'\n"
          "        depends_on:\n"
          "          migrate: { condition: service_completed_successfully }\n"
          "          db: { condition: service_started }\n");
  LoadResult r = loadSpec(d.path());
  std::string errs;
  for (const auto& x : r.diagnostics) errs += x.str() + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  const auto* migrate = r.graph->find("container/a/migrate");
  const auto* db = r.graph->find("container/a/db");
  const auto* web = r.graph->find("container/a/web");
  REQUIRE(migrate);
  REQUIRE(db);
  REQUIRE(web);
  CHECK(migrate->spec.value("one_shot", false) == true);
  CHECK_FALSE(db->spec.contains("one_shot"));  // hash of ordinary containers unchanged
  CHECK_FALSE(web->spec.contains("one_shot"));
  CHECK(web->spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully");
}
