#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "providers/bind9/bind9_provider.h"
#include "tests/fixtures/bind9/named_fixture.h"
#include "tests/providers/bind9/wil_zones.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
namespace fs = std::filesystem;

TEST_CASE("bind9 provider passes the conformance suite", "[bind9][conformance]") {
  std::string dir = testing::makeTempDir("tend-bind9-conf-");
  REQUIRE(!dir.empty());
  testing::WilDns wil;
  wil.confDir = dir + "/bind";
  wil.rndcPort = 1;  // reload none: the suite needs no named
  ProviderConfig cfg;
  cfg.config = {{"server", "local"}, {"conf_dir", wil.confDir}, {"reload", "none"}};
  cfg.stateDir = dir + "/state";
  auto p = bind9::makeBind9Provider(cfg);
  REQUIRE(p.ok());

  // A zone, and a dnsconf that names only that zone (the fragment is checked with -z, so the
  // zone file must exist first: samples are applied in order).
  auto zone =
      testing::makeResource("zone/sfc.al@internal", "zone", wil.zoneSpec("sfc.al", "internal"));
  auto confSpec = wil.confSpec();
  confSpec["views"] = nlohmann::json::array({{{"name", "internal"},
                                              {"match_clients", {"trusted"}},
                                              {"recursion", true},
                                              {"zones", {"sfc.al"}}}});
  auto conf = testing::makeResource("dnsconf/local", "dnsconf", confSpec);

  testing::ConformanceOptions o;
  o.changed = [](const DesiredResource& r) {
    DesiredResource c = r;
    if (c.kind == "zone")
      c.spec["records"].push_back(testing::rec("new", "A", "10.2.20.77"));
    else
      c.spec["forwarders"].push_back("127.0.0.2");
    testing::rehash(c);
    return c;
  };
  auto pathOf = [&](const DesiredResource& r) {
    return r.kind == "zone" ? bind9::zoneFilePath(wil.confDir, r.spec["view"], r.spec["zone"])
                            : bind9::confFilePath(wil.confDir);
  };
  o.createUnowned = [&](const DesiredResource& r) {
    fs::create_directories(fs::path(pathOf(r)).parent_path());
    std::ofstream(pathOf(r)) << (r.kind == "zone" ? "; hand-made\n$TTL 60\n" : "// hand-made\n");
  };
  o.removeUnowned = [&](const DesiredResource& r) { fs::remove(pathOf(r)); };
  // A restarted tendd: a new instance on the same directories, given the private data (the
  // zone's serial and file) the first one returned.
  o.restart = [&]() -> std::unique_ptr<Provider> {
    auto fresh = bind9::makeBind9Provider(cfg);
    REQUIRE(fresh.ok());
    return std::move(fresh).value();
  };
  testing::runProviderConformance(**p, {zone, conf}, testing::conformanceContext(), o);
  fs::remove_all(dir);
}
