#include "providers/proxmox/normalize.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <set>

#include "providers/proxmox/wire.h"

namespace tend::proxmox {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const std::set<std::string>& nicModels() {
  static const std::set<std::string> m = {
      "e1000",    "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e",
      "i82551",   "i82557b",       "i82559er",      "ne2k_isa",      "ne2k_pci",
      "pcnet",    "rtl8139",       "virtio",        "vmxnet3"};
  return m;
}

bool isIPv4(const std::string& s) {
  in_addr a{};
  return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool isIPv6(const std::string& s) {
  in6_addr a{};
  return ::inet_pton(AF_INET6, s.c_str(), &a) == 1;
}
bool isCidr(const std::string& s, bool v6) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  auto pre = asInt(nlohmann::json(s.substr(slash + 1)));
  if (!pre || *pre < 0 || *pre > (v6 ? 128 : 32)) return false;
  return v6 ? isIPv6(s.substr(0, slash)) : isIPv4(s.substr(0, slash));
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> splitPropertyString(
    const std::string& text, const std::string& defaultKey) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  bool usedDefault = false;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string::npos) {
      if (defaultKey.empty() || usedDefault)
        return makeError("'" + part + "': value without a key", true);
      usedDefault = true;
      out.emplace_back(defaultKey, part);
    } else {
      out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    }
  }
  return out;
}

// ---- net
Result<NetDevice> parseNet(const std::string& text) {
  auto kv = splitPropertyString(text, "model");
  if (!kv) return makeError("net '" + text + "': " + kv.error().message, true);
  NetDevice n;
  for (auto& [k, v] : *kv) {
    if (k == "model") {
      n.model = lower(v);
    } else if (k == "macaddr") {
      n.mac = upper(v);
    } else if (nicModels().count(lower(k))) {
      n.model = lower(k);
      n.mac = upper(v);
    } else if (k == "bridge") {
      n.bridge = v;
    } else {
      n.options[k] = v;
    }
  }
  if (n.model.empty()) return makeError("net '" + text + "': no model", true);
  if (!nicModels().count(n.model))
    return makeError("net '" + text + "': unknown model '" + n.model + "'", true);
  static const std::regex mac("^[0-9A-F]{2}(:[0-9A-F]{2}){5}$");
  if (!n.mac.empty() && !std::regex_match(n.mac, mac))
    return makeError("net '" + text + "': invalid MAC address '" + n.mac + "'", true);
  for (auto& [k, v] : n.options)
    if (k == "firewall" || k == "link_down") {
      auto b = asBool(nlohmann::json(v));
      if (!b) return makeError("net '" + text + "': " + k + " must be 0 or 1", true);
      v = boolParam(*b);
    }
  return n;
}

std::string formatNet(const NetDevice& n) {
  std::string out = n.model;
  if (!n.mac.empty()) out += "=" + n.mac;
  if (!n.bridge.empty()) out += ",bridge=" + n.bridge;
  for (const auto& [k, v] : n.options) out += "," + k + "=" + v;
  return out;
}

std::string netDiff(const NetDevice& actual, const NetDevice& desired) {
  std::vector<std::string> d;
  if (actual.model != desired.model) d.push_back("model " + actual.model + " -> " + desired.model);
  if (!desired.mac.empty() && upper(actual.mac) != upper(desired.mac))
    d.push_back("mac " + actual.mac + " -> " + desired.mac);
  if (actual.bridge != desired.bridge)
    d.push_back("bridge " + (actual.bridge.empty() ? "(none)" : actual.bridge) + " -> " +
                (desired.bridge.empty() ? "(none)" : desired.bridge));
  static const std::map<std::string, std::string> defaults = {{"firewall", "0"},
                                                              {"link_down", "0"}};
  std::set<std::string> keys;
  for (auto& [k, v] : actual.options) keys.insert(k);
  for (auto& [k, v] : desired.options) keys.insert(k);
  for (const auto& k : keys) {
    auto get = [&](const NetDevice& n) {
      auto it = n.options.find(k);
      if (it != n.options.end()) return it->second;
      auto dit = defaults.find(k);
      return dit == defaults.end() ? std::string() : dit->second;
    };
    std::string a = get(actual), b = get(desired);
    if (a != b) d.push_back(k + " " + (a.empty() ? "(unset)" : a) + " -> " + (b.empty() ? "(unset)" : b));
  }
  std::string out;
  for (const auto& s : d) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// ---- memory
Result<int64_t> parseConfigMemoryMiB(const std::string& text) {
  auto kv = splitPropertyString(text, "current");
  if (!kv) return makeError("memory '" + text + "': " + kv.error().message, true);
  for (auto& [k, v] : *kv)
    if (k == "current") {
      auto n = asInt(nlohmann::json(v));
      if (!n || *n < 16) return makeError("memory '" + text + "': not a MiB count >= 16", true);
      return *n;
    }
  return makeError("memory '" + text + "': no current size", true);
}

Result<int64_t> specMemoryMiB(const nlohmann::json& value) {
  if (auto n = asInt(value)) {
    if (*n < 16) return makeError("memory " + value.dump() + ": at least 16 MiB", true);
    return *n;
  }
  if (!value.is_string()) return makeError("memory: expected MiB or a size like 4G", true);
  auto bytes = parseSize(value.get<std::string>());
  if (!bytes) return makeError("memory '" + value.get<std::string>() + "': " + bytes.error().message, true);
  if (*bytes % (1u << 20) != 0)
    return makeError("memory '" + value.get<std::string>() + "': not a whole number of MiB", true);
  int64_t mib = static_cast<int64_t>(*bytes >> 20);
  if (mib < 16) return makeError("memory '" + value.get<std::string>() + "': at least 16 MiB", true);
  return mib;
}

// ---- tags
std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ';' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string normalizeTags(const std::vector<std::string>& tags) {
  std::set<std::string> s;
  for (const auto& t : tags)
    for (const auto& one : splitList(t)) s.insert(lower(one));
  std::string out;
  for (const auto& t : s) out += (out.empty() ? "" : ";") + t;
  return out;
}

std::string normalizeTagString(const std::string& text) { return normalizeTags({text}); }

std::optional<bool> normalizeBool(const nlohmann::json& v) { return asBool(v); }

// ---- sizes
Result<uint64_t> parseSize(const std::string& text) {
  static const std::regex re(R"(^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(text, m, re))
    return makeError("'" + text + "' is not a size (N, NK, NM, NG, NT or NKiB..NTiB)", true);
  double n = std::stod(m[1]);
  std::string unit = upper(m[2]);
  int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : 40;
  double bytes = std::ldexp(n, shift);
  if (bytes > 1.8e19) return makeError("'" + text + "' is too large", true);
  return static_cast<uint64_t>(bytes);
}

std::string formatSize(uint64_t bytes) {
  static const std::pair<int, char> units[] = {{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  for (auto [shift, c] : units) {
    uint64_t mult = uint64_t{1} << shift;
    if (bytes >= mult && bytes % mult == 0) return std::to_string(bytes / mult) + c;
  }
  return std::to_string(bytes);
}

std::optional<uint64_t> diskSizeOf(const std::string& diskValue) {
  auto kv = splitPropertyString(diskValue, "file");
  if (!kv) return std::nullopt;
  for (auto& [k, v] : *kv)
    if (k == "size") {
      auto s = parseSize(v);
      if (s) return *s;
    }
  return std::nullopt;
}

DiskResize planDiskResize(const std::string& disk, uint64_t currentBytes, uint64_t desiredBytes) {
  DiskResize r;
  if (desiredBytes == currentBytes) return r;
  if (desiredBytes < currentBytes) {
    r.kind = DiskResize::Kind::Shrink;
    r.message = "disk " + disk + " is " + formatSize(currentBytes) + ", the spec asks for " +
                formatSize(desiredBytes) +
                ": Proxmox cannot shrink disks; nothing was changed (grow the spec's size back, "
                "or recreate the VM)";
    return r;
  }
  r.kind = DiskResize::Kind::Grow;
  r.size = formatSize(desiredBytes);
  return r;
}

// ---- ipconfig
Result<IpConfig> parseIpConfig(const std::string& text) {
  auto kv = splitPropertyString(text, "");
  if (!kv) return makeError("ipconfig '" + text + "': " + kv.error().message, true);
  IpConfig c;
  for (auto& [k, v] : *kv) {
    std::string* slot = k == "ip" ? &c.ip : k == "gw" ? &c.gw : k == "ip6" ? &c.ip6
                      : k == "gw6" ? &c.gw6 : nullptr;
    if (!slot) return makeError("ipconfig '" + text + "': unknown key '" + k + "'", true);
    if (!slot->empty()) return makeError("ipconfig '" + text + "': duplicate key '" + k + "'", true);
    *slot = v;
  }
  auto bad = [&](const std::string& why) { return makeError("ipconfig '" + text + "': " + why, true); };
  if (!c.ip.empty() && c.ip != "dhcp" && !isCidr(c.ip, false))
    return bad("ip must be dhcp or an IPv4 address with a prefix (10.2.20.53/24)");
  if (!c.gw.empty()) {
    if (!isIPv4(c.gw)) return bad("gw must be an IPv4 address");
    if (c.ip.empty()) return bad("gateway specified without specifying an IP address");
    if (c.ip == "dhcp") return bad("gateway specified together with DHCP");
  }
  if (!c.ip6.empty() && c.ip6 != "dhcp" && c.ip6 != "auto" && !isCidr(c.ip6, true))
    return bad("ip6 must be dhcp, auto or an IPv6 address with a prefix");
  if (!c.gw6.empty()) {
    if (!isIPv6(c.gw6)) return bad("gw6 must be an IPv6 address");
    if (c.ip6.empty()) return bad("gateway specified without specifying an IP address");
    if (c.ip6 == "dhcp" || c.ip6 == "auto") return bad("gateway specified together with DHCP");
  }
  return c;
}

std::string formatIpConfig(const IpConfig& c) {
  std::string out;
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    out += (out.empty() ? "" : ",") + std::string(k) + "=" + v;
  };
  add("ip", c.ip);
  add("gw", c.gw);
  add("ip6", c.ip6);
  add("gw6", c.gw6);
  return out;
}

}  // namespace tend::proxmox
