#pragma once
#include "core/hash.h"
// Pure rendering of zone files and the named.conf fragment (no I/O): payload parsing and
// validation, DNSControl record order, serial arithmetic, and the ownership header.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace tend::bind9 {

// ---- payloads (docs/resources.md, sections zone and dnsconf) ----

struct RndcSpec {
  std::string server;   // "" = rndc's own default (rndc.conf)
  int port = 0;         // 0 = default
  std::string keyFile;  // "" = default
};

struct ZoneRecord {
  std::string name;   // relative owner, "@" for the apex
  std::string type;   // upper case
  std::string rdata;  // canonical presentation form (TXT quoted and chunked)
  std::optional<int64_t> ttl;
};

struct SoaSpec {
  std::string mname, rname;
  int64_t refresh = 3600, retry = 600, expire = 604800, minimum = 300;
};

struct ZoneSpec {
  std::string zone;  // without trailing dot
  std::string view;
  std::string server;
  std::string confDir;
  bool reverse = false;
  int64_t ttl = 300;
  SoaSpec soa;
  std::vector<ZoneRecord> records;  // sorted, deduplicated
  std::optional<RndcSpec> rndc;     // optional override of the provider's rndc settings
  std::string file;                 // <conf_dir>/zones/<view>/<zone>.zone
};

struct ViewSpec {
  std::string name;
  std::vector<std::string> matchClients;
  std::vector<std::string> matchDestinations;
  bool recursion = false;
  std::vector<std::string> zones;
};

struct SecondaryZoneSpec {
  std::string name;
  std::vector<std::string> primaries;
  std::vector<std::string> views;  // empty = the first view
};

// A forward zone (dns.forward_zones): answered by asking these forwarders, declared in every
// view with recursion.
struct ForwardZoneSpec {
  std::string name;
  std::vector<std::string> forwarders;
};

struct ConfSpec {
  std::string server;
  std::string confDir;
  std::string secondaryDir;  // writable by named; default <conf_dir>/secondary
  std::optional<RndcSpec> rndc;
  std::vector<std::pair<std::string, std::vector<std::string>>> acls;  // sorted by name
  std::vector<std::string> forwarders;
  std::string forward;  // "" (named's default: first), "first", "only"
  std::vector<std::string> transferClients;
  std::vector<std::string> alsoNotify;  // default: the transfer clients that are addresses
  std::string notify;                   // "yes" | "no" | "explicit"
  std::vector<ViewSpec> views;
  std::vector<SecondaryZoneSpec> secondaries;
  std::vector<ForwardZoneSpec> forwardZones;  // sorted by name
  std::string file;  // <conf_dir>/named.conf.tend
};

Result<ZoneSpec> parseZoneSpec(const nlohmann::json& spec);
Result<ConfSpec> parseConfSpec(const nlohmann::json& spec);

std::string zoneFilePath(const std::string& confDir, const std::string& view,
                         const std::string& zone);
std::string confFilePath(const std::string& confDir);
std::string zoneId(const std::string& zone, const std::string& view);  // zone/Z@V

// ---- rendering ----

// "@ 300 MX 10 mail.example.com." one per record, in file order. Used for plan diffs.
std::vector<std::string> recordKeys(const ZoneSpec& z);
// Everything below the two header lines, with the given serial.
std::string renderZoneBody(const ZoneSpec& z, uint32_t serial);
std::string renderConfBody(const ConfSpec& c);

// ---- ownership header ----
// Line 1: "<prefix> managed by tend: resource <id> — do not edit"
// Line 2: "<prefix> tend: hash=<resource hash> body=<sha of body with serial 0> sha256=<sha of
//          everything below line 2>" — so a hand edit is detected without the desired spec.
struct FileHeader {
  bool owned = false;
  std::string id;
  std::string hash;
  std::string body;
  std::string sha;
  bool intact = false;  // sha256 matches the content below the header
  std::string rest;     // content below the header
};

std::string composeFile(const std::string& prefix, const std::string& id, const std::string& hash,
                        const std::string& bodyHash, const std::string& rest);
FileHeader parseHeader(const std::string& text, const std::string& prefix);
std::optional<uint32_t> parseSoaSerial(const std::string& text);
// The "serial: N" line of `rndc zonestatus` (the serial named serves).
std::optional<uint32_t> parseZoneStatusSerial(const std::string& out);
// named's log lines about one zone (by "zone Z/IN/V:" or its file name), newest last, without
// the timestamp, deduplicated, at most `max` of them: why named did not load it.
std::vector<std::string> namedLogReason(const std::string& log, const std::string& zone,
                                        const std::string& view, const std::string& file,
                                        size_t max = 4);
// Canonical record keys parsed back from a zone file tend wrote (for plan diffs).
std::vector<std::string> parseRecordKeys(const std::string& rest);

using ::tend::sha256Hex;  // core/hash.h

// ---- serials (RFC 1982, SERIAL_BITS = 32) ----
bool serialLess(uint32_t a, uint32_t b);
// The later of two serials in serial space (a when undefined).
uint32_t serialMax(uint32_t a, uint32_t b);
// YYYYMMDD00 unless that is not ahead of `old` in serial space, then old+1 (never 0).
uint32_t nextSerial(std::optional<uint32_t> old, uint32_t yyyymmdd);

}  // namespace tend::bind9
