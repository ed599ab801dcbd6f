// The test providers pass the same conformance suite real providers must pass.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>

#include "tests/core/engine/engine_fixture.h"
#include "tests/support/file_provider.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
using namespace tend::testing;

TEST_CASE("the in-memory provider passes the provider conformance suite", "[core][conformance]") {
  MemoryProvider p;
  std::vector<DesiredResource> samples = {res("network/h/n"), res("container/app/c", {"network/h/n"})};
  ConformanceOptions o;
  o.createUnowned = [&](const DesiredResource& r) { p.putUnowned(r.id); };
  o.removeUnowned = [&](const DesiredResource& r) { p.erase(r.id); };
  o.changed = [](const DesiredResource& r) { return res(r.id, r.dependsOn, "2"); };
  runProviderConformance(p, samples, conformanceContext(), o);
}

TEST_CASE("the file-backed provider passes the provider conformance suite", "[core][conformance]") {
  char tmpl[] = "/tmp/tend-conformance-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  {
    FileProvider p(std::string(tmpl) + "/objects");
    auto a = res("thing/a", {}, "1", "file");
    auto b = res("thing/b", {"thing/a"}, "1", "file");
    ConformanceOptions o;
    o.createUnowned = [&](const DesiredResource& r) { p.createUnowned(r.id); };
    o.removeUnowned = [&](const DesiredResource& r) { p.removeUnowned(r.id); };
    o.changed = [](const DesiredResource& r) { return res(r.id, r.dependsOn, "2", "file"); };
    runProviderConformance(p, {a, b}, conformanceContext(), o);
    CHECK(p.totalObjects() == 0);
  }
  std::filesystem::remove_all(tmpl);
}
