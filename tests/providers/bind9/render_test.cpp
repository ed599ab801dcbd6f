#include "providers/bind9/render.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

#include "tests/providers/bind9/wil_zones.h"

using namespace tend;
using namespace tend::bind9;
using nlohmann::json;

TEST_CASE("serial starts at today's YYYYMMDD00 and bumps within the day", "[bind9][serial]") {
  CHECK(nextSerial(std::nullopt, 20261125) == 2026112500u);
  CHECK(nextSerial(2026112500u, 20261125) == 2026112501u);
  CHECK(nextSerial(2026112407u, 20261125) == 2026112500u);
  // nn past 99 continues +1 into the next day's space instead of wrapping.
  CHECK(nextSerial(2026112599u, 20261125) == 2026112600u);
}

TEST_CASE("serial stays monotonic when the clock goes backwards", "[bind9][serial]") {
  CHECK(nextSerial(2026112503u, 20261120) == 2026112504u);
  CHECK(serialLess(2026112503u, nextSerial(2026112503u, 19700101)));
}

TEST_CASE("serial arithmetic follows RFC 1982 around the 2^32 wrap", "[bind9][serial]") {
  CHECK(serialLess(0xfffffff0u, 5u));  // 5 is "after" 0xfffffff0
  CHECK_FALSE(serialLess(5u, 0xfffffff0u));
  CHECK(serialLess(1u, 2u));
  CHECK(serialMax(0xfffffff0u, 5u) == 5u);
  // A serial far ahead of today (e.g. an epoch-seconds serial from the seed's templates, or a
  // value that wrapped) is only incremented, never reset.
  CHECK(nextSerial(4000000000u, 20261125) == 4000000001u);
  CHECK(nextSerial(0xffffffffu, 30000101) == 1u);           // wraps, never 0
  CHECK(nextSerial(0xffffffffu, 20261125) == 2026112500u);  // today is ahead of 2^32-1
}

TEST_CASE("zone rendering is deterministic whatever the record order", "[bind9][render]") {
  testing::WilDns w;
  w.confDir = "/etc/bind";
  json spec = w.zoneSpec("wil.5am.cloud", "internal");
  auto a = parseZoneSpec(spec);
  REQUIRE(a.ok());
  std::string first = renderZoneBody(*a, 2026112500u);
  std::mt19937 rng(42);
  for (int i = 0; i < 5; ++i) {
    auto recs = spec["records"].get<std::vector<json>>();
    std::shuffle(recs.begin(), recs.end(), rng);
    json s2 = spec;
    s2["records"] = recs;
    auto b = parseZoneSpec(s2);
    REQUIRE(b.ok());
    CHECK(renderZoneBody(*b, 2026112500u) == first);
  }
}

TEST_CASE("records sort apex first, then by name, type order SOA NS CNAME A AAAA MX SRV TXT",
          "[bind9][render]") {
  json spec = {
      {"zone", "example.test"},
      {"view", "internal"},
      {"conf_dir", "/etc/bind"},
      {"soa", {{"mname", "ns.example.test."}, {"rname", "admin@example.test"}}},
      {"records",
       json::array({testing::rec("b", "A", "10.0.0.2"), testing::rec("@", "TXT", "x"),
                    testing::rec("a", "A", "10.0.0.10"), testing::rec("a", "A", "10.0.0.9"),
                    testing::rec("@", "MX", "20 b.example.test."),
                    testing::rec("@", "MX", "10 z.example.test."),
                    testing::rec("@", "NS", "ns.example.test."),
                    testing::rec("x.a", "A", "10.0.0.1"), testing::rec("10", "PTR", "h."),
                    testing::rec("9", "PTR", "h."), testing::rec("*", "A", "10.0.0.3"),
                    testing::rec("b", "A", "10.0.0.2")})}};
  auto z = parseZoneSpec(spec);
  REQUIRE(z.ok());
  std::vector<std::string> want = {"@ - NS ns.example.test.",
                                   "@ - MX 10 z.example.test.",
                                   "@ - MX 20 b.example.test.",
                                   "@ - TXT \"x\"",
                                   "* - A 10.0.0.3",
                                   "9 - PTR h.",
                                   "10 - PTR h.",
                                   "a - A 10.0.0.9",
                                   "a - A 10.0.0.10",
                                   "x.a - A 10.0.0.1",
                                   "b - A 10.0.0.2"};
  CHECK(recordKeys(*z) == want);  // duplicate b A collapsed
  // RFC 5322 mailbox converted to the SOA form.
  CHECK(z->soa.rname == "admin.example.test.");
  // What is rendered parses back to the same keys (observe uses this for plan diffs).
  CHECK(parseRecordKeys(renderZoneBody(*z, 1)) == want);
}

TEST_CASE("TXT values are quoted, escaped and split into 255-byte strings", "[bind9][render]") {
  json spec = {{"zone", "example.test"},
               {"view", "v"},
               {"conf_dir", "/x"},
               {"soa", {{"mname", "ns."}, {"rname", "h."}}},
               {"records", json::array({testing::rec("t", "TXT", std::string(300, 'a') + "\"\\"),
                                        testing::rec("u", "TXT", json::array({"one", "two"}))})}};
  auto z = parseZoneSpec(spec);
  REQUIRE(z.ok());
  CHECK(z->records[0].rdata ==
        "\"" + std::string(255, 'a') + "\" \"" + std::string(45, 'a') + "\\\"\\\\\"");
  CHECK(z->records[1].rdata == "\"one\" \"two\"");
}

TEST_CASE("values that would change zone-file syntax are rejected before rendering",
          "[bind9][render]") {
  auto bad = [](json r) {
    json spec = {{"zone", "example.test"},
                 {"view", "v"},
                 {"conf_dir", "/x"},
                 {"soa", {{"mname", "ns."}, {"rname", "h."}}},
                 {"records", json::array({r})}};
    return parseZoneSpec(spec);
  };
  CHECK_FALSE(bad(testing::rec("a", "A", "10.0.0.1\n$INCLUDE /etc/shadow")).ok());
  CHECK_FALSE(bad(testing::rec("$INCLUDE", "A", "10.0.0.1")).ok());
  CHECK_FALSE(bad(testing::rec("a b", "A", "10.0.0.1")).ok());
  CHECK_FALSE(bad(testing::rec("a", "A", "10.0.0.1 ; x")).ok());
  CHECK_FALSE(bad(testing::rec("a", "MX", "mail.example.test.")).ok());
  CHECK_FALSE(bad(testing::rec("a.other.test.", "A", "10.0.0.1")).ok());
  CHECK(bad(testing::rec("a.example.test.", "A", "10.0.0.1"))->records[0].name == "a");
  CHECK(bad(testing::rec("@", "CAA", "0 issue \"letsencrypt.org\""))->records[0].rdata ==
        "0 issue \"letsencrypt.org\"");
}

TEST_CASE("the ownership header detects a hand edit without the desired spec", "[bind9][render]") {
  std::string text =
      composeFile(";", "zone/a.test@internal", "h1", "b1", "$TTL 300\n@ IN A 1.2.3.4\n");
  CHECK(text.rfind("; managed by tend: resource zone/a.test@internal \xE2\x80\x94 do not edit\n",
                   0) == 0);
  auto h = parseHeader(text, ";");
  CHECK(h.owned);
  CHECK(h.intact);
  CHECK(h.id == "zone/a.test@internal");
  CHECK(h.hash == "h1");
  auto edited = parseHeader(text + "x IN A 1.1.1.1\n", ";");
  CHECK(edited.owned);
  CHECK_FALSE(edited.intact);
  CHECK_FALSE(parseHeader("$TTL 300\n@ IN A 1.2.3.4\n", ";").owned);
}

TEST_CASE("named.conf fragment has acls, ordered views, primaries and secondaries",
          "[bind9][render]") {
  testing::WilDns w;
  w.confDir = "/etc/bind";
  w.rndcPort = 953;
  auto c = parseConfSpec(w.confSpec());
  REQUIRE(c.ok());
  std::string body = renderConfBody(*c);
  CHECK(body.find("acl \"trusted\" { 127.0.0.1; 10.2.0.0/16;") != std::string::npos);
  auto vi = body.find("view \"internal\""), ve = body.find("view \"external\"");
  REQUIRE(vi != std::string::npos);
  REQUIRE(ve != std::string::npos);
  CHECK(vi < ve);  // first matching view wins: order is the spec's
  CHECK(body.find("file \"/etc/bind/zones/internal/wil.5am.cloud.zone\"") != std::string::npos);
  CHECK(body.find("file \"/etc/bind/zones/external/wil.5am.cloud.zone\"") != std::string::npos);
  CHECK(body.find("primaries { 127.0.0.4; }") != std::string::npos);
  CHECK(body.find("/etc/bind/secondary/internal/ldn.5am.cloud.zone") != std::string::npos);
  CHECK(body.find("also-notify { 127.0.0.3; }") != std::string::npos);  // prefixes left out
  CHECK(body.find("allow-transfer { 127.0.0.3; 100.64.0.0/10; }") != std::string::npos);
  CHECK(body.find("forwarders { 127.0.0.1; }") < ve);  // only in the recursive view
  CHECK(body.find("forwarders", ve) == std::string::npos);
  CHECK(body.find("20.2.10.in-addr.arpa", ve) == std::string::npos);
}
