// `rndc reload` only queues a load: a zone named-checkzone accepted can still be refused by
// named (its own options, file permissions). Against a real named on 127.0.0.1: the refusal is
// seen, the zone fails with named's reason, the previous file is put back, and the next pass
// after the cause is fixed heals it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::bind9;
using nlohmann::json;
using testing::servedSerial;
using testing::slurp;
namespace fs = std::filesystem;

namespace {

// Rewrites the operator's named.conf (outside tend's fragment) and has named re-read it.
void operatorOptions(testing::NamedFixture& n, const std::string& conf, bool maxZoneTtl) {
  std::string text = slurp(conf);
  const std::string line = "  max-zone-ttl 60;\n";
  auto at = text.find(line);
  if (maxZoneTtl && at == std::string::npos)
    text.replace(text.find("  recursion no;\n"), 0, line);
  else if (!maxZoneTtl && at != std::string::npos)
    text.erase(at, line.size());
  std::ofstream(conf) << text;
  auto r = n.rndc({"reconfig"});
  INFO(r.second);
  REQUIRE(r.first == 0);
}

}  // namespace

TEST_CASE(
    "a zone named refuses to load after the check fails with named's reason and heals "
    "once fixed",
    "[bind9][integration][reload]") {
  testing::NamedEnv env("tend-bind9-load-");
  testing::NamedFixture& named = env.named;
  testing::WilDns& wil = env.wil;
  const std::string& dir = env.dir();
  ProviderConfig cfg = env.config();
  Bind9Options opts;
  opts.namedLog = named.logFile();
  opts.loadTimeout = std::chrono::seconds(2);
  auto made = makeBind9ProviderWith(cfg, opts);
  REQUIRE(made.ok());
  Provider& p = **made;

  REQUIRE(testing::converge(p, wil.resources()).failures.empty());
  std::string err = env.startNamed();
  INFO(err);
  REQUIRE(err.empty());
  std::string file = zoneFilePath(wil.confDir, "internal", "sfc.al");
  std::string before = slurp(file);
  std::string serial0 = servedSerial(named, "sfc.al");
  REQUIRE(!serial0.empty());

  // 1. The operator's named.conf caps TTLs at 60 s; tend's zones say 300. named-checkzone
  //    (which knows nothing of named's options) passes the file, named refuses to load it.
  operatorOptions(named, dir + "/named/named.conf", true);
  wil.records["sfc.al"]["internal"].push_back(testing::rec("newsvc", "A", "10.2.20.77"));
  auto r1 = testing::converge(p, wil.resources());
  REQUIRE(r1.failures.count("zone/sfc.al@internal"));
  const std::string& m = r1.failures["zone/sfc.al@internal"];
  INFO(m);
  CHECK(m.find("named did not load serial " + std::to_string(std::stoul(serial0) + 1) +
               " of sfc.al@internal") != std::string::npos);
  CHECK(m.find("still serves serial " + serial0) != std::string::npos);
  CHECK(m.find("zone sfc.al/IN/internal: loading from master file " + file +
               " failed: out of range") != std::string::npos);
  CHECK(m.find("(previous file put back)") != std::string::npos);
  CHECK(r1.failures.size() == 1);
  CHECK(slurp(file) == before);  // disk matches what named serves
  CHECK(servedSerial(named, "sfc.al") == serial0);
  CHECK(named.dig("newsvc.sfc.al", "A").empty());

  // 2. Still broken: the next pass tries again and fails the same way (no silent success).
  auto r2 = testing::converge(p, wil.resources());
  REQUIRE(r2.failures.count("zone/sfc.al@internal"));
  CHECK(r2.plans["zone/sfc.al@internal"].action == Action::Update);
  CHECK(r2.failures["zone/sfc.al@internal"].find("out of range") != std::string::npos);

  // 3. Fixed by the operator: the next pass loads it, named serves the new record.
  operatorOptions(named, dir + "/named/named.conf", false);
  auto r3 = testing::converge(p, wil.resources());
  INFO(json(r3.failures).dump());
  CHECK(r3.failures.empty());
  CHECK(r3.applied == std::vector<std::string>{"zone/sfc.al@internal"});
  CHECK(named.dig("newsvc.sfc.al", "A") == "10.2.20.77");
  auto fileSerial = parseSoaSerial(parseHeader(slurp(file), ";").rest);
  REQUIRE(fileSerial);
  CHECK(servedSerial(named, "sfc.al") == std::to_string(*fileSerial));
  CHECK(testing::converge(p, wil.resources()).applied.empty());

  // 4. A new zone is loaded by the fragment's reconfig, just as asynchronously: with the TTL cap
  //    back, named refuses it; dnsconf fails naming the zone and named's reason, and the
  //    previous fragment goes back. Without the cap the next pass serves it.
  operatorOptions(named, dir + "/named/named.conf", true);
  wil.records["21.2.10.in-addr.arpa"]["internal"] =
      json::array({testing::rec("@", "NS", "ns.wil.5am.cloud."),
                   testing::rec("7", "PTR", "vm.wil.5am.cloud.")});
  std::string frag = wil.confDir + "/named.conf.tend";
  std::string fragBefore = slurp(frag);
  auto r6 = testing::converge(p, wil.resources());
  REQUIRE(r6.failures.count("dnsconf/local"));
  const std::string& m6 = r6.failures["dnsconf/local"];
  INFO(m6);
  CHECK(m6.find("of 21.2.10.in-addr.arpa@internal after rndc reconfig") != std::string::npos);
  CHECK(m6.find("max-zone-ttl") != std::string::npos);
  CHECK(m6.find("(previous fragment put back)") != std::string::npos);
  CHECK(slurp(frag) == fragBefore);
  operatorOptions(named, dir + "/named/named.conf", false);
  auto r7 = testing::converge(p, wil.resources());
  INFO(json(r7.failures).dump());
  CHECK(r7.failures.empty());
  CHECK(r7.applied == std::vector<std::string>{"dnsconf/local"});
  CHECK(testing::digUntil(named, "7.21.2.10.in-addr.arpa", "PTR", "vm.wil.5am.cloud.") ==
        "vm.wil.5am.cloud.");

  // 5. A file permission problem: named (which drops its root capabilities) cannot enter the
  //    view directory tend writes into. Only meaningful when tend itself may still write there.
  if (::geteuid() == 0) {
    std::string ext = wil.confDir + "/zones/external";
    fs::permissions(ext, fs::perms::none);
    wil.records["sfc.al"]["external"].push_back(testing::rec("perm", "A", "203.0.113.77"));
    auto r4 = testing::converge(p, wil.resources());
    REQUIRE(r4.failures.count("zone/sfc.al@external"));
    INFO(r4.failures["zone/sfc.al@external"]);
    CHECK(r4.failures["zone/sfc.al@external"].find("permission denied") != std::string::npos);
    fs::permissions(ext, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    auto r5 = testing::converge(p, wil.resources());
    INFO(json(r5.failures).dump());
    CHECK(r5.failures.empty());
    CHECK(named.dig("perm.sfc.al", "A", "127.0.0.2") == "203.0.113.77");
  }
  named.stop();
}
