// Against a real named started as a child on 127.0.0.1 (two views: 127.0.0.1 -> internal,
// anything else -> external, selected with dig -b 127.0.0.2). All traffic stays on loopback.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::bind9;
using nlohmann::json;
using testing::digUntil;
using testing::mtimeNs;
using testing::servedSerial;
using testing::slurp;
namespace fs = std::filesystem;

TEST_CASE("bind9 converges the wil zones into a real named with split horizon",
          "[bind9][integration]") {
  testing::NamedEnv env("tend-bind9-it-");
  testing::NamedFixture& named = env.named;
  testing::WilDns& wil = env.wil;
  auto made = makeBind9Provider(env.config());
  REQUIRE(made.ok());
  Provider& p = **made;

  // 1. First converge while named is down (fresh install): files are checked and written,
  //    the unreachable rndc is not an error; named reads them at start.
  auto desired = wil.resources();
  auto r1 = testing::converge(p, desired);
  INFO(json(r1.failures).dump());
  REQUIRE(r1.failures.empty());
  REQUIRE(r1.applied.size() == desired.size());

  std::string err = env.startNamed();
  INFO(err);
  REQUIRE(err.empty());
  pid_t pid = named.pid();

  // 2. Split horizon: internal (127.0.0.1) vs external (127.0.0.2) answers differ.
  CHECK(named.dig("bookstack.wil.5am.cloud", "A") == "10.2.20.53");
  CHECK(named.dig("bookstack.wil.5am.cloud", "A", "127.0.0.2") == "203.0.113.10");
  CHECK(named.dig("hmg.wil.5am.cloud", "A") == "10.2.20.186");
  CHECK(named.dig("hmg.wil.5am.cloud", "A", "127.0.0.2").empty());  // internal only
  CHECK(named.dig("website.5am.cloud", "A") == "10.2.20.53");
  CHECK(named.dig("website.5am.cloud", "A", "127.0.0.2") == "203.0.113.10");
  CHECK(named.dig("jellyfin.5am.video", "A", "127.0.0.2") == "203.0.113.10");
  CHECK(named.dig("sfc.al", "A") == "10.2.20.53");
  CHECK(named.dig("status.ext.5am.cloud", "A", "127.0.0.2") == "203.0.113.10");
  CHECK(named.dig("www.wil.5am.cloud", "CNAME") == "web.wil.5am.cloud.");
  CHECK(named.dig("wil.5am.cloud", "MX") == "10 mail.wil.5am.cloud.");
  CHECK(named.dig("_https._tcp.wil.5am.cloud", "SRV") == "10 5 443 web.wil.5am.cloud.");
  CHECK(named.dig("wil.5am.cloud", "CAA") == "0 issue \"letsencrypt.org\"");
  CHECK(named.dig("ns.wil.5am.cloud", "AAAA") == "fd00:2:20::53");
  CHECK(named.dig("long.wil.5am.cloud", "TXT") ==
        "\"" + std::string(255, 'k') + "\" \"" + std::string(45, 'k') + "\\\"quoted\\\"\"");
  // PTRs resolve in the internal view; the reverse zone does not exist externally.
  CHECK(named.dig("53.20.2.10.in-addr.arpa", "PTR") == "dns.wil.5am.cloud.");
  CHECK(named.dig("9.20.2.10.in-addr.arpa", "PTR") == "ca.wil.5am.cloud.");
  CHECK(named.dig("53.20.2.10.in-addr.arpa", "PTR", "127.0.0.2").empty());

  // 3. A no-op pass: nothing planned, no file touched, serials unchanged.
  std::map<std::string, int64_t> mtimes;
  for (const auto& d : desired)
    if (d.kind == "zone")
      mtimes[d.id] = mtimeNs(zoneFilePath(wil.confDir, d.spec["view"], d.spec["zone"]));
  mtimes["conf"] = mtimeNs(wil.confDir + "/named.conf.tend");
  std::map<std::string, std::string> serials;
  for (const auto& z : wil.domains) {
    serials[z + "@internal"] = servedSerial(named, z);
    serials[z + "@external"] = servedSerial(named, z, "127.0.0.2");
  }
  auto r2 = testing::converge(p, desired);
  CHECK(r2.applied.empty());
  CHECK(r2.failures.empty());
  for (const auto& d : desired)
    if (d.kind == "zone")
      CHECK(mtimeNs(zoneFilePath(wil.confDir, d.spec["view"], d.spec["zone"])) == mtimes[d.id]);
  CHECK(mtimeNs(wil.confDir + "/named.conf.tend") == mtimes["conf"]);
  for (const auto& z : wil.domains) {
    CHECK(servedSerial(named, z) == serials[z + "@internal"]);
    CHECK(servedSerial(named, z, "127.0.0.2") == serials[z + "@external"]);
  }

  // 4. One new service: exactly one zone's serial moves, named serves it without a restart.
  wil.records["wil.5am.cloud"]["internal"].push_back(testing::rec("paperless", "A", "10.2.20.53"));
  desired = wil.resources();
  auto r3 = testing::converge(p, desired);
  INFO(json(r3.failures).dump());
  CHECK(r3.failures.empty());
  CHECK(r3.applied == std::vector<std::string>{"zone/wil.5am.cloud@internal"});
  CHECK(digUntil(named, "paperless.wil.5am.cloud", "A", "10.2.20.53") == "10.2.20.53");
  CHECK(named.pid() == pid);
  for (const auto& z : wil.domains) {
    if (z == "wil.5am.cloud") {
      CHECK(servedSerial(named, z) == std::to_string(std::stoul(serials[z + "@internal"]) + 1));
    } else {
      CHECK(servedSerial(named, z) == serials[z + "@internal"]);
    }
    CHECK(servedSerial(named, z, "127.0.0.2") == serials[z + "@external"]);
  }

  // 5. An invalid record (CNAME at the apex beside NS/A) never reaches named.
  std::string f5 = zoneFilePath(wil.confDir, "internal", "5am.cloud");
  std::string before = slurp(f5);
  auto bad = wil;
  bad.records["5am.cloud"]["internal"].push_back(testing::rec("@", "CNAME", "web.wil.5am.cloud."));
  bad.records["5am.cloud"]["internal"].push_back(testing::rec("new", "A", "10.2.20.99"));
  auto r4 = testing::converge(p, bad.resources());
  REQUIRE(r4.failures.count("zone/5am.cloud@internal"));
  CHECK(r4.failures["zone/5am.cloud@internal"].find("CNAME and other data") != std::string::npos);
  CHECK(slurp(f5) == before);
  CHECK(named.dig("new.5am.cloud", "A").empty());
  CHECK(named.dig("website.5am.cloud", "A") == "10.2.20.53");
  CHECK(named.dig("5am.cloud", "CNAME").empty());

  // 6. A bad name also stops at named-checkzone.
  auto badName = wil;
  badName.records["sfc.al"]["external"].push_back(testing::rec("bad..name", "A", "10.2.20.98"));
  auto r5 = testing::converge(p, badName.resources());
  REQUIRE(r5.failures.count("zone/sfc.al@external"));
  CHECK(r5.failures["zone/sfc.al@external"].find("named-checkzone rejected") != std::string::npos);
  CHECK(named.dig("sfc.al", "A", "127.0.0.2") == "203.0.113.10");

  // 7. A zone file edited by hand is restored on the next pass and named serves tend's data.
  std::string fw = zoneFilePath(wil.confDir, "external", "wil.5am.cloud");
  { std::ofstream(fw, std::ios::app) << "intruder IN A 10.6.6.6\n"; }
  named.rndc({"reload", "wil.5am.cloud", "IN", "external"});
  digUntil(named, "intruder.wil.5am.cloud", "A", "10.6.6.6", "127.0.0.2");
  auto r6 = testing::converge(p, desired);
  CHECK(r6.plans["zone/wil.5am.cloud@external"].drift);
  CHECK(r6.applied == std::vector<std::string>{"zone/wil.5am.cloud@external"});
  CHECK(digUntil(named, "intruder.wil.5am.cloud", "A", "", "127.0.0.2").empty());

  // 8. A new zone while named runs: the zone's reload finds no zone yet (fine), dnsconf's
  //    reconfig loads it.
  wil.records["21.2.10.in-addr.arpa"]["internal"] =
      json::array({testing::rec("@", "NS", "ns.wil.5am.cloud."),
                   testing::rec("7", "PTR", "vm.wil.5am.cloud.")});
  desired = wil.resources();
  auto r7 = testing::converge(p, desired);
  INFO(json(r7.failures).dump());
  CHECK(r7.failures.empty());
  CHECK(r7.applied.size() == 2);
  CHECK(digUntil(named, "7.21.2.10.in-addr.arpa", "PTR", "vm.wil.5am.cloud.") ==
        "vm.wil.5am.cloud.");

  // 9. A zone leaving the spec: dnsconf drops it (reconfig), its file is pruned.
  wil.records["ext.5am.cloud"].erase("external");
  desired = wil.resources();
  auto r8 = testing::converge(p, desired);
  CHECK(r8.failures.empty());
  CHECK(r8.plans["zone/ext.5am.cloud@external"].action == Action::Delete);
  CHECK_FALSE(fs::exists(zoneFilePath(wil.confDir, "external", "ext.5am.cloud")));
  CHECK(digUntil(named, "status.ext.5am.cloud", "A", "", "127.0.0.2").empty());
  CHECK(named.dig("status.ext.5am.cloud", "A") == "10.2.20.53");
  CHECK(named.pid() == pid);

  named.stop();
}
