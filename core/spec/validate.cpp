// Stage 2: rules that span files (references, uniqueness, address plans, DNS names, ports).
#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/spec/compose.h"
#include "core/spec/derived.h"
#include "core/spec/loader.h"
#include "core/spec/walker.h"

namespace tend {

void Spec::buildIndex() {
  auto idx = [](auto& vec, auto& map) {
    map.clear();
    for (size_t i = 0; i < vec.size(); ++i) map.emplace(vec[i].name, i);
  };
  idx(vms, vmIdx);
  idx(hosts, hostIdx);
  idx(apps, appIdx);
  idx(templates, templIdx);
  idx(groups, groupIdx);
  tierIdx.clear();
  for (size_t i = 0; i < tiers.size(); ++i)
    for (const auto& n : tiers[i].names) tierIdx.emplace(n.v, i);
}

const spec::VmSpec* Spec::vm(const std::string& n) const {
  auto it = vmIdx.find(n);
  return it == vmIdx.end() ? nullptr : &vms[it->second];
}
const spec::HostSpec* Spec::host(const std::string& n) const {
  auto it = hostIdx.find(n);
  return it == hostIdx.end() ? nullptr : &hosts[it->second];
}
const spec::AppSpec* Spec::app(const std::string& n) const {
  auto it = appIdx.find(n);
  return it == appIdx.end() ? nullptr : &apps[it->second];
}
const spec::TemplateSpec* Spec::templ(const std::string& n) const {
  auto it = templIdx.find(n);
  return it == templIdx.end() ? nullptr : &templates[it->second];
}
const spec::GroupSpec* Spec::group(const std::string& n) const {
  auto it = groupIdx.find(n);
  return it == groupIdx.end() ? nullptr : &groups[it->second];
}
std::string Spec::addressOf(const std::string& m) const {
  if (auto* v = vm(m)) return v->ip.v;
  if (auto* h = host(m)) return h->address.v;
  return "";
}
int Spec::tierIndex(const std::string& t) const {
  auto it = tierIdx.find(t);
  return it == tierIdx.end() ? -1 : static_cast<int>(it->second);
}

namespace spec {

std::string domainOf(const Spec& s, const std::string& fqdn) {
  std::string best;
  for (const auto& dm : s.dns.domains) {
    const std::string& x = dm.v;
    bool under = fqdn.size() > x.size() &&
                 fqdn.compare(fqdn.size() - x.size(), x.size(), x) == 0 &&
                 fqdn[fqdn.size() - x.size() - 1] == '.';
    if ((fqdn == x || under) && x.size() > best.size()) best = x;
  }
  return best;
}


bool ipv4ToU32(const std::string& s, uint32_t& out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  out = ntohl(a.s_addr);
  return true;
}
bool isIpv4(const std::string& s) {
  uint32_t x;
  return ipv4ToU32(s, x);
}
bool isIp(const std::string& s) {
  in6_addr a6{};
  return isIpv4(s) || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}
bool parseCidr(const std::string& s, uint32_t& net, int& prefix) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  int64_t p = 0;
  if (!ipv4ToU32(s.substr(0, slash), net) || !parseInt(s.substr(slash + 1), p) || p < 0 || p > 32) return false;
  prefix = static_cast<int>(p);
  return true;
}
namespace {
bool isCidrAny(const std::string& s) {
  uint32_t n;
  int p;
  if (parseCidr(s, n, p)) return true;
  auto slash = s.find('/');
  in6_addr a6{};
  int64_t pl = 0;
  return slash != std::string::npos && inet_pton(AF_INET6, s.substr(0, slash).c_str(), &a6) == 1 &&
         parseInt(s.substr(slash + 1), pl) && pl >= 0 && pl <= 128;
}
bool inCidr(uint32_t ip, uint32_t net, int prefix) {
  uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
  return (ip & mask) == (net & mask);
}
// DNS label rules (letters, digits, '-' inside a label, '_' for service labels, 1-63 each),
// and '*' only as a whole first label: a name reaches zone files, named.conf and the command
// lines of named-checkzone, where a leading '-' would read as an option.
bool validDnsName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t end = s.find('.', start);
    std::string_view label(s.data() + start, (end == std::string::npos ? s.size() : end) - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (label == "*") {
      if (start != 0) return false;
    } else {
      for (char ch : label)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')) return false;
    }
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}
}  // namespace

std::string joinPath(const std::string& dir, const std::string& rel) {
  if (!rel.empty() && rel[0] == '/') return rel;
  if (dir.empty() || dir == ".") return rel;
  if (rel.empty() || rel == ".") return dir;
  std::string r = rel;
  while (r.rfind("./", 0) == 0) r = r.substr(2);
  return dir.back() == '/' ? dir + r : dir + "/" + r;
}

SpecFile confinePath(const std::string& root, const std::string& base, const std::string& rel) {
  SpecFile f;
  if (rel.empty()) {
    f.error = "an empty path";
    return f;
  }
  if (rel[0] == '/') {
    f.error = "an absolute path: files the spec reads must be inside the spec directory";
    return f;
  }
  auto inside = [&](const std::string& p) {
    return p == root || (p.size() > root.size() && p.compare(0, root.size(), root) == 0 &&
                         (root.back() == '/' || p[root.size()] == '/'));
  };
  std::string joined = joinPath(base, rel);
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(joined, ec);
  bool absent = ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  if (!ec) {
    if (!inside(real.string())) {
      f.error = "leads outside the spec directory";
      return f;
    }
    f.path = real.string();
    return f;
  }
  // Not there (or not reachable): where it would be must still be inside, symlinks on the
  // way resolved as far as they exist.
  std::filesystem::path weak = std::filesystem::weakly_canonical(joined, ec);
  std::string near = ec ? std::filesystem::path(joined).lexically_normal().string() : weak.string();
  if (!inside(near)) {
    f.error = "leads outside the spec directory";
    return f;
  }
  f.path = joined;
  f.missing = absent;  // otherwise reading it tells why it cannot be read
  return f;
}

std::string absPath(const Spec& s, const std::string& rel) {
  if (rel.empty()) return rel;
  std::string p = rel[0] == '/' ? rel : joinPath(s.absDir, rel);
  std::string n = std::filesystem::path(p).lexically_normal().string();
  if (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::string interpolate(const Spec& s, const std::string& text, const SpecLoc& loc,
                        const std::string& app, Diagnostics* d, std::vector<std::string>* secrets) {
  if (text.find('$') == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (ch != '$' || i + 1 >= text.size()) {
      out += ch;
      continue;
    }
    if (text[i + 1] == '$') {  // Compose escape: $$ is a literal $
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += ch;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      if (d) d->push_back({Severity::Error, loc, "unterminated '${' in '" + text + "'"});
      out += text.substr(i);
      break;
    }
    std::string expr = text.substr(i + 2, close - i - 2);
    i = close;
    auto fail = [&](const std::string& why) {
      if (d) d->push_back({Severity::Error, loc, why});
      out += "${" + expr + "}";
    };
    if (expr.rfind("secret:", 0) == 0) {
      std::string name = expr.substr(7);
      if (name.empty()) {
        fail("empty secret name in '${" + expr + "}'");
        continue;
      }
      if (d) {
        if (!s.secretNamesAvailable) {
          d->push_back({Severity::Error, loc, "secret '" + name + "' is referenced but no secrets.file is configured"});
        } else if (!std::binary_search(s.secretNamesKnown.begin(), s.secretNamesKnown.end(), name)) {
          std::string where = s.secretsFile.set ? s.secretsFile.v : "the known secrets";
          d->push_back({Severity::Error, loc, "unknown secret '" + name + "' (not in " + where + ")"});
        }
      }
      if (secrets) secrets->push_back(name);
      out += "${secret:" + name + "}";
      continue;
    }
    if (expr.rfind("vms.", 0) == 0 || expr.rfind("hosts.", 0) == 0) {
      bool isVm = expr[0] == 'v';
      std::string rest = expr.substr(isVm ? 4 : 6);
      auto dot = rest.rfind('.');
      std::string name = rest.substr(0, dot == std::string::npos ? rest.size() : dot);
      std::string field = dot == std::string::npos ? "" : rest.substr(dot + 1);
      if (isVm) {
        const VmSpec* v = s.vm(name);
        if (!v) fail("reference '${" + expr + "}': unknown vm '" + name + "'");
        else if (field == "ip") out += v->ip.v;
        else if (field == "vmid") out += std::to_string(v->vmid.v);
        else if (field == "name") out += v->name;
        else if (field == "dns_name") out += v->dnsName.v;
        else fail("unknown reference '${" + expr + "}' (vms.NAME.ip, .vmid, .dns_name)");
      } else {
        const HostSpec* h = s.host(name);
        if (!h) fail("reference '${" + expr + "}': unknown host '" + name + "'");
        else if (field == "address" || field == "ip") out += h->address.v;
        else if (field == "name") out += h->name;
        else fail("unknown reference '${" + expr + "}' (hosts.NAME.address)");
      }
      continue;
    }
    if (expr.rfind("environment.", 0) == 0) {
      std::string k = expr.substr(12);
      const Str* v = nullptr;
      if (k == "environment" || k == "name") v = &s.environment;
      else if (k == "timezone") v = &s.timezone;
      else if (k == "deploy_path") {
        out += s.deployPath.set ? s.deployPath.v : "/opt";
        continue;
      } else if (k == "network.cidr") v = &s.cidr;
      else if (k == "network.gateway") v = &s.gateway;
      if (!v) fail("unknown reference '${" + expr + "}'");
      else if (!v->set) fail("reference '${" + expr + "}': '" + k + "' is not set in environment.yml");
      else out += v->v;
      continue;
    }
    if (expr == "app.dir" || expr == "app.name") {
      if (app.empty()) {
        fail("'${" + expr + "}' is only available inside an app");
        continue;
      }
      if (expr == "app.name") out += app;
      else out += (s.deployPath.set ? s.deployPath.v : std::string("/opt")) + "/" + app;
      continue;
    }
    fail("unknown reference '${" + expr + "}'");
  }
  return out;
}

namespace {

struct V {
  V(Spec& spec, Diagnostics& diags, const ProviderRegistry& registry) : s(spec), d(diags), providers(registry) {}
  Spec& s;
  Diagnostics& d;
  const ProviderRegistry& providers;
  void err(const SpecLoc& l, std::string m) { d.push_back({Severity::Error, l, std::move(m)}); }
  void warn(const SpecLoc& l, std::string m) { d.push_back({Severity::Warning, l, std::move(m)}); }

  bool machineExists(const std::string& n) const { return s.vm(n) || s.host(n); }

  // The domain of an fqdn among dns.domains (longest suffix), "" when none.
  std::string domainOf(const std::string& fqdn) const { return spec::domainOf(s, fqdn); }
  bool knownDomain(const std::string& dm) const {
    for (const auto& x : s.dns.domains)
      if (x.v == dm) return true;
    return false;
  }

  void checkTier(const Str& t, const std::string& who) {
    if (t.set && s.tierIndex(t.v) < 0) err(t.loc, who + " names unknown tier '" + t.v + "'");
  }

  void run() {
    // Environment basics.
    uint32_t net = 0;
    int prefix = 0;
    bool haveCidr = false;
    if (s.cidr.set) {
      haveCidr = parseCidr(s.cidr.v, net, prefix);
      if (!haveCidr) err(s.cidr.loc, "invalid CIDR '" + s.cidr.v + "' for 'network.cidr'");
    }
    if (s.gateway.set && !isIpv4(s.gateway.v)) err(s.gateway.loc, "invalid IP address '" + s.gateway.v + "' for 'network.gateway'");
    for (const auto& ns : s.nameservers)
      if (!isIp(ns.v) && !machineExists(ns.v)) err(ns.loc, "nameserver '" + ns.v + "' is neither a vm, a host nor an IP address");
    {
      std::unordered_map<std::string, SpecLoc> seen;
      for (const auto& t : s.tiers)
        for (const auto& n : t.names) {
          auto [it, fresh] = seen.emplace(n.v, n.loc);
          if (!fresh) err(n.loc, "tier '" + n.v + "' is listed twice");
        }
    }
    if (s.environment.set && !validDnsName(s.environment.v))
      err(s.environment.loc, "invalid environment name '" + s.environment.v + "'");

    // Providers: each checks its own section (and what it needs from the rest of the spec).
    for (const auto& reg : providers.all()) {
      if (!reg.rules) continue;
      auto it = s.providers.find(reg.name);
      reg.rules(ProviderCheck(s, it == s.providers.end() ? nullptr : &it->second, d));
    }

    // Templates.
    std::unordered_map<int64_t, SpecLoc> vmids;
    for (const auto& t : s.templates)
      if (t.vmid.set) {
        auto [it, fresh] = vmids.emplace(t.vmid.v, t.vmid.loc);
        if (!fresh) err(t.vmid.loc, "duplicate vmid " + std::to_string(t.vmid.v) + " (also at " + it->second.str() + ")");
      }

    // Machines: names, ids, addresses.
    std::unordered_map<std::string, SpecLoc> names, ips;
    for (const auto& v : s.vms) {
      auto [it, fresh] = names.emplace(v.name, v.loc);
      if (!fresh) err(v.loc, "duplicate vm name '" + v.name + "' (also at " + it->second.str() + ")");
      if (v.vmid.set) {
        auto [jt, f2] = vmids.emplace(v.vmid.v, v.vmid.loc);
        if (!f2) err(v.vmid.loc, "duplicate vmid " + std::to_string(v.vmid.v) + " (also at " + jt->second.str() + ")");
      }
      if (v.ip.set) {
        uint32_t ip = 0;
        if (!ipv4ToU32(v.ip.v, ip)) {
          err(v.ip.loc, "invalid IP address '" + v.ip.v + "' for vm '" + v.name + "'");
        } else {
          if (haveCidr && !inCidr(ip, net, prefix))
            err(v.ip.loc, "ip " + v.ip.v + " of vm '" + v.name + "' is outside network.cidr " + s.cidr.v);
          auto [jt, f3] = ips.emplace(v.ip.v, v.ip.loc);
          if (!f3) err(v.ip.loc, "duplicate IP address " + v.ip.v + " (also at " + jt->second.str() + ")");
        }
      }
      if (v.templ.set && !s.templ(v.templ.v)) err(v.templ.loc, "vm '" + v.name + "' names unknown template '" + v.templ.v + "'");
      checkTier(v.tier, "vm '" + v.name + "'");
      checkDnsName(v.dnsName);
    }
    if (!s.vms.empty() && !s.cidr.set) err(s.vms.front().loc, "vms need 'network.cidr' in environment.yml");
    for (const auto& h : s.hosts) {
      auto [it, fresh] = names.emplace(h.name, h.loc);
      if (!fresh) {
        bool isVm = s.vm(h.name) != nullptr;
        err(h.loc, std::string("duplicate name '") + h.name + "': " + (isVm ? "a vm" : "another host") +
                       " has it (" + it->second.str() + ")");
      }
      if (h.address.set) {
        if (h.address.v.empty() || (!isIp(h.address.v) && !validDnsName(h.address.v))) {
          err(h.address.loc, "invalid address '" + h.address.v + "' for host '" + h.name + "'");
        } else if (isIp(h.address.v)) {
          auto [jt, f3] = ips.emplace(h.address.v, h.address.loc);
          if (!f3) err(h.address.loc, "duplicate IP address " + h.address.v + " (also at " + jt->second.str() + ")");
        }
      }
      checkTier(h.tier, "host '" + h.name + "'");
      checkDnsName(h.dnsName);
    }

    // Secrets referenced in provider settings and host files (containers are checked while expanding).
    for (auto& [pname, p] : s.providers)
      for (auto& [k, v] : p.strings) interpolate(s, v.v, v.loc, "", &d);
    for (const auto& g : s.groups)
      for (const auto& [path, c] : g.fileContents) interpolate(s, c.v, c.loc, "", &d);

    checkDns();
    checkServices();
    checkApps();
  }

  void checkDnsName(const Str& n) {
    if (!n.set) return;
    if (!validDnsName(n.v)) {
      err(n.loc, "invalid DNS name '" + n.v + "'");
      return;
    }
    if (s.dns.set && domainOf(n.v).empty()) err(n.loc, "dns_name '" + n.v + "' is not in any of dns.domains");
  }

  void checkDns() {
    const DnsSpec& dn = s.dns;
    std::set<std::string> seen;
    for (const auto& x : dn.domains) {
      if (!validDnsName(x.v)) err(x.loc, "invalid domain '" + printable(x.v) + "'");
      if (!seen.insert(x.v).second) err(x.loc, "domain '" + x.v + "' is listed twice");
    }
    if (dn.reverseProxy.set && !machineExists(dn.reverseProxy.v))
      err(dn.reverseProxy.loc, "dns.reverse_proxy: unknown vm or host '" + dn.reverseProxy.v + "'");
    for (const auto& f : dn.forwarders)
      if (!isIp(f.v)) err(f.loc, "invalid IP address '" + f.v + "' in dns.forwarders");
    auto aclOk = [&](const std::string& a) {
      std::string x = a.rfind('!', 0) == 0 ? a.substr(1) : a;
      return x == "any" || x == "none" || x == "localhost" || x == "localnets" || (x == "trusted" && !dn.trusted.empty()) ||
             isIp(x) || isCidrAny(x);
    };
    for (const auto& t : dn.trusted)
      if (!aclOk(t.v) || t.v == "trusted") err(t.loc, "invalid address match '" + t.v + "' in dns.trusted");
    for (const auto& t : dn.transferClients)
      if (!isIp(t.v) && !isCidrAny(t.v)) err(t.loc, "invalid address '" + t.v + "' in dns.transfer_clients");
    std::set<std::string> views;
    for (const auto& v : dn.views) {
      views.insert(v.name);
      for (const auto& m : v.matchClients)
        if (!aclOk(m.v)) err(m.loc, "invalid match_clients entry '" + m.v + "' in dns view '" + v.name + "'");
      if (v.matchClients.empty()) err(v.loc, "dns view '" + v.name + "' needs 'match_clients'");
      if (v.address.set && !isIp(v.address.v)) err(v.address.loc, "invalid IP address '" + v.address.v + "' for dns view '" + v.name + "'");
    }
    for (const auto& z : dn.reverseZones) {
      auto endsWith = [&](const std::string& suf) {
        return z.v.size() > suf.size() && z.v.compare(z.v.size() - suf.size(), suf.size(), suf) == 0;
      };
      if (!validDnsName(z.v) || !(endsWith(".in-addr.arpa") || endsWith(".ip6.arpa")))
        err(z.loc, "invalid reverse zone '" + z.v + "' (e.g. 20.2.10.in-addr.arpa)");
    }
    for (const auto& z : dn.secondaryZones) {
      if (!validDnsName(z.name.v)) err(z.name.loc, "invalid zone name '" + printable(z.name.v) + "'");
      for (const auto& p : z.primaries)
        if (!isIp(p.v)) err(p.loc, "invalid IP address '" + p.v + "' in primaries of '" + z.name.v + "'");
    }
    static const std::set<std::string> types = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "CAA", "PTR"};
    for (const auto& r : dn.records) {
      if (!knownDomain(r.domain.v)) err(r.domain.loc, "domain '" + r.domain.v + "' is not in dns.domains");
      if (!types.count(r.type.v)) {
        err(r.type.loc, "unsupported record type '" + r.type.v + "' (A, AAAA, CNAME, MX, TXT, SRV, NS, CAA, PTR)");
        continue;
      }
      if (r.name.v != "@" && !validDnsName(r.name.v)) err(r.name.loc, "invalid record name '" + r.name.v + "'");
      std::string val = interpolate(s, r.value.v, r.value.loc, "", &d);
      if (r.type.v == "A" && !isIpv4(val) && !machineExists(val))
        err(r.value.loc, "A record value '" + r.value.v + "' is neither an IPv4 address nor a vm or host");
      if (r.type.v == "AAAA" && (isIpv4(val) || !isIp(val))) err(r.value.loc, "AAAA record value '" + r.value.v + "' is not an IPv6 address");
      if (r.view.set && !views.count(r.view.v)) err(r.view.loc, "unknown dns view '" + r.view.v + "'");
    }
  }

  struct Claim {
    SpecLoc loc;
  };
  std::unordered_map<std::string, SpecLoc> claims_;

  void claim(const std::string& fqdn, const SpecLoc& loc) {
    auto [it, fresh] = claims_.emplace(fqdn, loc);
    if (!fresh) err(loc, "name '" + fqdn + "' is already claimed at " + it->second.str());
  }

  void checkEntry(const ServiceEntry& e, const std::string& hostForExpose) {
    if (!knownDomain(e.domain.v)) err(e.domain.loc, "domain '" + e.domain.v + "' is not in dns.domains");
    if (e.name.v != "@" && !validDnsName(e.name.v)) err(e.name.loc, "invalid name '" + e.name.v + "'");
    std::string fqdn = e.name.v == "@" ? e.domain.v : e.name.v + "." + e.domain.v;
    if (e.enabled) claim(fqdn, e.loc);
    if (e.enabled && e.proxied && !s.dns.reverseProxy.set)
      err(e.loc, "'" + fqdn + "' is proxied but dns.reverse_proxy is not set");
    std::string backend;
    if (e.app.empty()) {
      std::string b = interpolate(s, e.backend.v, e.backend.loc, "", &d);
      std::string hostPart, portPart;
      if (!b.empty() && b[0] == '[') {
        auto close = b.find(']');
        if (close != std::string::npos && close + 1 < b.size() && b[close + 1] == ':') {
          hostPart = b.substr(1, close - 1);
          portPart = b.substr(close + 2);
        }
      } else if (auto c = b.rfind(':'); c != std::string::npos) {
        hostPart = b.substr(0, c);
        portPart = b.substr(c + 1);
      }
      int64_t port = 0;
      if (hostPart.empty() || !parseInt(portPart, port) || port < 1 || port > 65535) {
        err(e.backend.loc, "invalid backend '" + e.backend.v + "' (HOST:PORT, HOST a vm, host or IP address)");
        return;
      }
      std::string addr = hostPart;
      if (!isIp(hostPart)) {
        if (!machineExists(hostPart)) {
          err(e.backend.loc, "backend '" + e.backend.v + "' names unknown vm or host '" + hostPart + "'");
          return;
        }
        addr = s.addressOf(hostPart);
      }
      backend = (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
    } else {
      std::string addr = s.addressOf(hostForExpose);
      if (addr.empty()) return;
      backend = addr + ":" + std::to_string(e.port.v);
    }
    if (e.enabled && e.proxied && s.dns.reverseProxy.set) {
      ProxyRoute r;
      r.fqdn = fqdn;
      r.backend = backend;
      r.tlsSkipVerify = e.tlsSkipVerify;
      r.forwardHeaders = e.forwardHeaders;
      r.hostHeader = e.hostHeader;
      r.encode = e.encode;
      r.readBuffer = e.readBuffer;
      r.loc = e.loc;
      s.proxyRoutes.push_back(r);
    }
  }

  void checkServices() {
    for (const auto& v : s.vms)
      if (v.dnsName.set) claim(v.dnsName.v, v.dnsName.loc);
    for (const auto& h : s.hosts)
      if (h.dnsName.set) claim(h.dnsName.v, h.dnsName.loc);
    for (const auto& e : s.services) checkEntry(e, "");
  }

  void checkApps() {
    struct PortUse {
      std::string ip;
      SpecLoc loc;
      std::string who;
    };
    std::unordered_map<std::string, std::vector<PortUse>> ports;  // host|port|proto -> uses
    std::unordered_map<std::string, SpecLoc> containerNames;    // host|name
    for (auto& a : s.apps) {
      std::string ctx = "app '" + a.name + "'";
      bool hostOk = a.host.set && machineExists(a.host.v);
      if (a.host.set && !hostOk) err(a.host.loc, ctx + " names unknown vm or host '" + a.host.v + "'");
      checkTier(a.tier, ctx);
      for (const auto& dep : a.dependsOn) {
        std::string t = dep.v;
        if (t.rfind("app/", 0) == 0) {
          if (!s.app(t.substr(4))) err(dep.loc, ctx + " depends on unknown app '" + t.substr(4) + "'");
          else if (t.substr(4) == a.name) err(dep.loc, "dependency cycle: app/" + a.name + " -> app/" + a.name);
        } else if (t.rfind("vm/", 0) == 0) {
          if (!s.vm(t.substr(3))) err(dep.loc, ctx + " depends on unknown vm '" + t.substr(3) + "'");
        } else if (t.rfind("host/", 0) == 0) {
          if (!machineExists(t.substr(5))) err(dep.loc, ctx + " depends on unknown host '" + t.substr(5) + "'");
        } else if (t.find('/') == std::string::npos) {
          err(dep.loc, ctx + ": depends_on entries are resource ids like 'app/" + t + "'");
        }
        // Other ids (container/…, zone/…) are checked against the expanded graph.
      }
      for (const auto& e : a.expose) checkEntry(e, hostOk ? a.host.v : "");
      std::set<std::string> svcNames, netNames = {"default"}, volNames;
      for (const auto& n : a.networks) netNames.insert(n.key);
      for (const auto& v : a.volumes) volNames.insert(v.key);
      std::unordered_map<std::string, const ContainerSpec*> byName;
      for (const auto& c : a.containers) {
        if (!byName.emplace(c.name, &c).second) err(c.loc, "duplicate container '" + c.name + "' in " + ctx);
      }
      for (const auto& c : a.containers) {
        std::string cctx = "container '" + c.name + "' of " + ctx;
        if (c.image.set) {
          std::string img = interpolate(s, c.image.v, c.image.loc, a.name, nullptr);
          if (!validImageRef(img)) err(c.image.loc, "invalid image reference '" + c.image.v + "'");
        }
        std::string dockerName = c.containerName.set ? c.containerName.v : a.name + "-" + c.name;
        if (hostOk) {
          auto [it, fresh] = containerNames.emplace(a.host.v + "|" + dockerName, c.containerName.set ? c.containerName.loc : c.loc);
          if (!fresh) err(c.containerName.set ? c.containerName.loc : c.loc,
                          "container name '" + dockerName + "' on host '" + a.host.v + "' is already used at " + it->second.str());
          for (const auto& p : c.ports) {
            if (p.published == 0) continue;
            std::string key = a.host.v + "|" + std::to_string(p.published) + "/" + p.protocol;
            auto& uses = ports[key];
            for (const auto& u : uses) {
              bool overlap = u.ip.empty() || p.hostIp.empty() || u.ip == p.hostIp;
              if (overlap) {
                err(p.loc, "host port " + std::to_string(p.published) + "/" + p.protocol + " on host '" + a.host.v +
                               "' is already published by " + u.who + " at " + u.loc.str());
                break;
              }
            }
            uses.push_back({p.hostIp, p.loc, "container/" + a.name + "/" + c.name});
          }
        }
        for (const auto& dep : c.dependsOn)
          if (dep.required && !byName.count(dep.service.v)) err(dep.service.loc, cctx + " depends on unknown container '" + dep.service.v + "'");
        if (c.networksSet && !c.networkMode.v.empty())
          err(c.loc, cctx + " sets both 'networks' and 'network_mode'");
        for (const auto& [n, al] : c.networks)
          if (!netNames.count(n.v)) err(n.loc, cctx + " uses undeclared network '" + n.v + "'");
        if (c.networkMode.set) {
          const std::string& m = c.networkMode.v;
          bool ok = m == "host" || m == "none" || m == "bridge" || m.rfind("service:", 0) == 0 || m.rfind("container:", 0) == 0;
          if (!ok) err(c.networkMode.loc, "invalid network_mode '" + m + "' (host, none, bridge, service:NAME)");
          if (m.rfind("service:", 0) == 0 && !byName.count(m.substr(8)))
            err(c.networkMode.loc, cctx + " network_mode names unknown container '" + m.substr(8) + "'");
        }
      }
      // Container depends_on cycles within the app.
      std::unordered_map<std::string, int> state;
      std::vector<std::string> path;
      std::function<bool(const ContainerSpec*)> dfs = [&](const ContainerSpec* c) -> bool {
        state[c->name] = 1;
        path.push_back(c->name);
        for (const auto& dep : c->dependsOn) {
          auto it = byName.find(dep.service.v);
          if (it == byName.end()) continue;
          int st = state[dep.service.v];
          if (st == 1) {
            std::string msg = "dependency cycle: ";
            auto from = std::find(path.begin(), path.end(), dep.service.v);
            for (auto p = from; p != path.end(); ++p) msg += "container/" + a.name + "/" + *p + " -> ";
            msg += "container/" + a.name + "/" + dep.service.v;
            err(dep.service.loc, msg);
            return true;
          }
          if (st == 0 && dfs(it->second)) return true;
        }
        state[c->name] = 2;
        path.pop_back();
        return false;
      };
      for (const auto& c : a.containers)
        if (state[c.name] == 0) {
          path.clear();
          if (dfs(&c)) break;
        }
    }
    checkAppCycles();
  }

  void checkAppCycles() {
    std::unordered_map<std::string, int> state;
    std::vector<std::string> path;
    std::vector<std::string> reported;
    std::function<void(const AppSpec&)> dfs = [&](const AppSpec& a) {
      state[a.name] = 1;
      path.push_back(a.name);
      for (const auto& dep : a.dependsOn) {
        if (dep.v.rfind("app/", 0) != 0) continue;
        std::string t = dep.v.substr(4);
        const AppSpec* b = s.app(t);
        if (!b || t == a.name) continue;
        int st = state[t];
        if (st == 1) {
          std::string msg = "dependency cycle: ";
          auto from = std::find(path.begin(), path.end(), t);
          for (auto p = from; p != path.end(); ++p) msg += "app/" + *p + " -> ";
          msg += "app/" + t;
          err(dep.loc, msg);
        } else if (st == 0) {
          dfs(*b);
        }
      }
      state[a.name] = 2;
      path.pop_back();
    };
    for (const auto& a : s.apps)
      if (state[a.name] == 0) dfs(a);
  }

  static bool validImageRef(const std::string& r) {
    if (r.empty() || r.size() > 512) return false;
    std::string ref = r, digest;
    if (auto at = ref.find('@'); at != std::string::npos) {
      digest = ref.substr(at + 1);
      ref = ref.substr(0, at);
      if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71 ||
          digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos)
        return false;
    }
    std::string name = ref, tag;
    auto slash = ref.rfind('/');
    auto colon = ref.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      name = ref.substr(0, colon);
      tag = ref.substr(colon + 1);
      if (tag.empty() || tag.size() > 128) return false;
      for (char ch : tag)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-') return false;
    }
    if (name.empty()) return false;
    // Path components: lowercase alnum with . _ - separators; the first may be a registry host[:port].
    size_t start = 0;
    bool first = true;
    while (start <= name.size()) {
      auto end = name.find('/', start);
      std::string comp = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (comp.empty()) return false;
      bool registry = first && end != std::string::npos &&
                      (comp.find('.') != std::string::npos || comp.find(':') != std::string::npos || comp == "localhost");
      for (char ch : comp) {
        bool ok = std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) ||
                  ch == '.' || ch == '_' || ch == '-' || (registry && (ch == ':' || std::isupper(static_cast<unsigned char>(ch))));
        if (!ok) return false;
      }
      first = false;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return true;
  }
};

}  // namespace

void validateSpec(Spec& s, Diagnostics& d, const ProviderRegistry& providers) {
  V v(s, d, providers);
  v.run();
  validateDerived(s, d);
}

}  // namespace spec
}  // namespace tend
