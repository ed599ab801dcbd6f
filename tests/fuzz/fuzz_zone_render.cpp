// Fuzzes the BIND9 zone and named.conf renderer with the payloads the provider receives
// (docs/resources.md, zone and dnsconf) and the parsers of what it reads back (the ownership
// header, the SOA serial, `rndc zonestatus`, named's log). The input is a JSON payload; a
// "kind": "dnsconf" payload goes to the named.conf renderer. Properties checked on every
// payload the provider accepts:
//  - the records parsed back from the rendered zone are the records rendered (plan diffs
//    compare them), so no value can add, drop or split a record;
//  - the serial read back is the serial written; the header written is read back owned and
//    intact, with the same resource id and hash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "providers/bind9/render.h"

namespace b = tend::bind9;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s\n%s\n", what, detail.c_str());
  std::abort();
}

void checkZone(const nlohmann::json& j, uint32_t serial) {
  auto z = b::parseZoneSpec(j);
  if (!z) return;
  std::string body = b::renderZoneBody(*z, serial);
  auto keys = b::recordKeys(*z);
  auto back = b::parseRecordKeys(body);
  if (keys != back) {
    std::string d;
    for (auto& k : keys) d += "rendered: " + k + "\n";
    for (auto& k : back) d += "read back: " + k + "\n";
    fail("zone records do not survive a render + read back", d + body);
  }
  auto s = b::parseSoaSerial(body);
  if (!s || *s != serial) fail("SOA serial not read back", body);
  std::string id = b::zoneId(z->zone, z->view);
  std::string file = b::composeFile(";", id, "h", b::sha256Hex(body), body);
  auto h = b::parseHeader(file, ";");
  if (!h.owned || !h.intact || h.id != id || h.hash != "h" || h.rest != body)
    fail("zone header not read back", file);
}

void checkConf(const nlohmann::json& j) {
  auto c = b::parseConfSpec(j);
  if (!c) return;
  std::string body = b::renderConfBody(*c);
  std::string file = b::composeFile("//", "dnsconf/" + c->server, "h", b::sha256Hex(body), body);
  auto h = b::parseHeader(file, "//");
  if (!h.owned || !h.intact || h.rest != body) fail("named.conf header not read back", file);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  // Text parsers first: any bytes.
  (void)b::parseHeader(in, ";");
  (void)b::parseSoaSerial(in);
  (void)b::parseZoneStatusSerial(in);
  (void)b::parseRecordKeys(in);
  (void)b::namedLogReason(in, "home.test", "internal", "/x/zones/internal/home.test.zone");

  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return 0;
  uint32_t serial = size == 0 ? 1 : static_cast<uint32_t>(data[0]) * 16777619u + 2026120100u;
  if (j.value("kind", "") == "dnsconf") {
    j.erase("kind");
    checkConf(j);
  } else {
    checkZone(j, serial);
  }
  (void)b::nextSerial(serial, 20261202);
  return 0;
}
