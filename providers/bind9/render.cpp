#include "providers/bind9/render.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <set>
#include <sstream>
#include <tuple>

namespace tend::bind9 {

using nlohmann::json;

namespace {

const char* kMarkPrefix = " managed by tend: resource ";
const char* kMarkSuffix = " \xE2\x80\x94 do not edit";  // em dash

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string stripDot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool hasControl(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// Characters that would change zone-file or named.conf syntax if they reached the output
// unescaped: record separators, comments, grouping, quoting, directives.
bool unsafeToken(const std::string& s) {
  if (s.empty() || hasControl(s)) return true;
  for (char c : s)
    if (c == ' ' || c == ';' || c == '(' || c == ')' || c == '"' || c == '{' || c == '}')
      return true;
  return s[0] == '$';
}

Result<std::string> getString(const json& j, const char* key, bool required,
                              const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return makeError(what + ": missing '" + key + "'", true);
    return std::string();
  }
  if (!it->is_string())
    return makeError(what + ": '" + std::string(key) + "' must be a string", true);
  return it->get<std::string>();
}

Result<int64_t> getInt(const json& j, const char* key, int64_t def, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer())
    return makeError(what + ": '" + std::string(key) + "' must be an integer", true);
  int64_t v = it->get<int64_t>();
  if (v < 0 || v > 2147483647)
    return makeError(what + ": '" + std::string(key) + "' out of range", true);
  return v;
}

Result<std::vector<std::string>> getList(const json& j, const char* key, const std::string& what) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return makeError(what + ": '" + std::string(key) + "' must be a list", true);
  for (const auto& e : *it) {
    if (!e.is_string())
      return makeError(what + ": '" + std::string(key) + "' must hold strings", true);
    std::string s = e.get<std::string>();
    // An address-match element: "10.0.0.0/8", "!1.2.3.4", "localnets", "key NAME".
    std::string check = s.rfind("key ", 0) == 0 ? s.substr(4) : s;
    if (unsafeToken(check)) return makeError(what + ": invalid entry '" + s + "' in " + key, true);
    out.push_back(s);
  }
  return out;
}

Result<std::optional<RndcSpec>> parseRndc(const json& j, const std::string& what) {
  auto it = j.find("rndc");
  if (it == j.end() || it->is_null()) return std::optional<RndcSpec>{};
  if (!it->is_object()) return makeError(what + ": 'rndc' must be a mapping", true);
  RndcSpec r;
  auto s = getString(*it, "server", false, what + ": rndc");
  if (!s) return s.error();
  r.server = *s;
  auto p = getInt(*it, "port", 0, what + ": rndc");
  if (!p) return p.error();
  r.port = static_cast<int>(*p);
  auto k = getString(*it, "key_file", false, what + ": rndc");
  if (!k) return k.error();
  r.keyFile = *k;
  return std::optional<RndcSpec>(r);
}

// ---- TXT / CAA quoting ----

void appendEscaped(std::string& out, const std::string& bytes) {
  out += '"';
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// One TXT string is at most 255 bytes (RFC 1035 <character-string>): split longer values.
std::string quoteTxt(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) {
      if (!out.empty()) out += ' ';
      out += "\"\"";
      continue;
    }
    for (size_t i = 0; i < p.size(); i += 255) {
      if (!out.empty()) out += ' ';
      appendEscaped(out, p.substr(i, 255));
    }
  }
  if (out.empty()) out = "\"\"";
  return out;
}

// ---- sort keys (pkg/prettyzone/sorting.go order) ----

int typeRank(const std::string& t) {
  static const std::array<const char*, 8> order = {"SOA",  "NS", "CNAME", "A",
                                                   "AAAA", "MX", "SRV",   "TXT"};
  for (size_t i = 0; i < order.size(); ++i)
    if (t == order[i]) return static_cast<int>(i);
  return 100;
}

std::vector<std::string> labelsReversed(const std::string& name) {
  std::vector<std::string> out;
  if (name == "@") return out;
  std::string cur;
  for (char c : name) {
    if (c == '.') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  std::reverse(out.begin(), out.end());
  return out;
}

bool isNumber(const std::string& s) {
  return !s.empty() && s.size() < 19 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// <0, 0, >0 like strcmp
int compareLabel(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (a == "*") return -1;
  if (b == "*") return 1;
  bool na = isNumber(a), nb = isNumber(b);
  if (na && nb) {
    long long x = std::stoll(a), y = std::stoll(b);
    if (x != y) return x < y ? -1 : 1;
  }
  std::string la = lower(a), lb = lower(b);
  if (la != lb) return la < lb ? -1 : 1;
  return a < b ? -1 : 1;
}

std::vector<std::string> splitWs(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  std::string t;
  while (is >> t) out.push_back(t);
  return out;
}

std::string addressBytes(const std::string& type, const std::string& v) {
  unsigned char buf[16] = {};
  int fam = type == "A" ? AF_INET : AF_INET6;
  if (inet_pton(fam, v.c_str(), buf) != 1) return "\xff" + v;  // invalid ones last
  return std::string(reinterpret_cast<char*>(buf), type == "A" ? 4 : 16);
}

// Within one owner and type: numeric fields numerically (padded), else the text.
std::string valueKey(const ZoneRecord& r) {
  char buf[64];
  if (r.type == "A" || r.type == "AAAA") return addressBytes(r.type, r.rdata);
  auto f = splitWs(r.rdata);
  if (r.type == "MX" && f.size() == 2) {
    std::snprintf(buf, sizeof buf, "%010lld ", std::atoll(f[0].c_str()));
    return buf + lower(f[1]);
  }
  if (r.type == "SRV" && f.size() == 4) {
    std::snprintf(buf, sizeof buf, "%010lld %010lld %010lld ", std::atoll(f[2].c_str()),
                  std::atoll(f[0].c_str()), std::atoll(f[1].c_str()));
    return buf + lower(f[3]);
  }
  if (r.type == "CAA" && f.size() >= 3) {
    std::snprintf(buf, sizeof buf, " %03lld ", std::atoll(f[0].c_str()));
    return f[1] + buf + r.rdata;
  }
  return r.rdata;
}

int compareLabels(const std::string& a, const std::vector<std::string>& la, const std::string& b,
                  const std::vector<std::string>& lb) {
  if (a == b) return 0;
  if (a == "@") return -1;
  if (b == "@") return 1;
  for (size_t i = 0; i < std::min(la.size(), lb.size()); ++i) {
    int c = compareLabel(la[i], lb[i]);
    if (c != 0) return c;
  }
  if (la.size() != lb.size()) return la.size() < lb.size() ? -1 : 1;
  return 0;
}

bool recordLessKeyed(const ZoneRecord& a, const std::vector<std::string>& la, const std::string& ka,
                     const ZoneRecord& b, const std::vector<std::string>& lb,
                     const std::string& kb) {
  int c = compareLabels(a.name, la, b.name, lb);
  if (c != 0) return c < 0;
  int ra = typeRank(a.type), rb = typeRank(b.type);
  if (ra != rb) return ra < rb;
  if (a.type != b.type) return a.type < b.type;
  if (ka != kb) return ka < kb;
  if (a.rdata != b.rdata) return a.rdata < b.rdata;
  return a.ttl.value_or(-1) < b.ttl.value_or(-1);
}

Result<std::string> relativeOwner(const std::string& raw, const std::string& zone,
                                  const std::string& what) {
  std::string n = raw;
  if (n.empty()) return makeError(what + ": empty record name", true);
  if (hasControl(n) || n.find_first_of(" ;()\"{}") != std::string::npos || n[0] == '$')
    return makeError(what + ": invalid record name '" + raw + "'", true);
  if (n == "@") return n;
  if (n.back() == '.') {
    std::string abs = lower(stripDot(n)), z = lower(zone);
    if (abs == z) return std::string("@");
    if (abs.size() > z.size() && abs.compare(abs.size() - z.size(), z.size(), z) == 0 &&
        abs[abs.size() - z.size() - 1] == '.')
      return stripDot(n).substr(0, abs.size() - z.size() - 1);
    return makeError(what + ": record name '" + raw + "' is outside the zone", true);
  }
  return n;
}

Result<ZoneRecord> parseRecord(const json& r, const std::string& zone, const std::string& what) {
  if (!r.is_object()) return makeError(what + ": each record must be a mapping", true);
  ZoneRecord out;
  auto name = getString(r, "name", true, what);
  if (!name) return name.error();
  auto type = getString(r, "type", true, what);
  if (!type) return type.error();
  std::string w = what + ": record " + *name + " " + *type;
  auto owner = relativeOwner(*name, zone, what);
  if (!owner) return owner.error();
  out.name = *owner;
  out.type = type->empty() ? "" : type.value();
  for (auto& c : out.type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (out.type.empty() || !std::all_of(out.type.begin(), out.type.end(),
                                       [](unsigned char c) { return std::isalnum(c); }))
    return makeError(w + ": invalid type", true);
  if (out.type == "SOA") return makeError(w + ": the SOA comes from 'soa', not from records", true);
  auto tit = r.find("ttl");
  if (tit != r.end() && !tit->is_null()) {
    if (!tit->is_number_integer() || tit->get<int64_t>() < 0 || tit->get<int64_t>() > 2147483647)
      return makeError(w + ": ttl must be an integer 0..2147483647", true);
    out.ttl = tit->get<int64_t>();
  }
  auto vit = r.find("value");
  if (vit == r.end() || vit->is_null()) return makeError(w + ": missing 'value'", true);

  if (out.type == "TXT") {
    std::vector<std::string> parts;
    if (vit->is_string()) {
      parts.push_back(vit->get<std::string>());
    } else if (vit->is_array()) {
      for (const auto& p : *vit) {
        if (!p.is_string()) return makeError(w + ": TXT values must be strings", true);
        parts.push_back(p.get<std::string>());
      }
    } else {
      return makeError(w + ": TXT value must be a string or a list of strings", true);
    }
    out.rdata = quoteTxt(parts);
    return out;
  }
  if (!vit->is_string()) return makeError(w + ": value must be a string", true);
  std::string v = vit->get<std::string>();
  if (hasControl(v)) return makeError(w + ": value contains control characters", true);
  auto fields = splitWs(v);
  if (out.type == "CAA") {
    // flags tag value; the value is quoted here whether or not the spec quoted it.
    std::istringstream is(v);
    std::string flag, tag;
    is >> flag >> tag;
    std::string rest;
    std::getline(is, rest);
    size_t b = rest.find_first_not_of(' ');
    rest = b == std::string::npos ? "" : rest.substr(b);
    if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"')
      rest = rest.substr(1, rest.size() - 2);
    if (!isNumber(flag) || std::stoll(flag) > 255 || tag.empty() ||
        !std::all_of(tag.begin(), tag.end(), [](unsigned char c) { return std::isalnum(c); }))
      return makeError(w + ": CAA value must be 'FLAGS TAG VALUE'", true);
    out.rdata = flag + " " + lower(tag) + " ";
    appendEscaped(out.rdata, rest);
    return out;
  }
  for (const auto& f : fields)
    if (unsafeToken(f)) return makeError(w + ": invalid value '" + v + "'", true);
  size_t want = 0;
  if (out.type == "A" || out.type == "AAAA" || out.type == "CNAME" || out.type == "NS" ||
      out.type == "PTR")
    want = 1;
  else if (out.type == "MX")
    want = 2;
  else if (out.type == "SRV")
    want = 4;
  if (want && fields.size() != want)
    return makeError(w + ": value '" + v + "' must have " + std::to_string(want) + " field(s)",
                     true);
  if (fields.empty()) return makeError(w + ": empty value", true);
  if (out.type == "MX" && !isNumber(fields[0]))
    return makeError(w + ": MX preference must be a number", true);
  if (out.type == "SRV" && !(isNumber(fields[0]) && isNumber(fields[1]) && isNumber(fields[2])))
    return makeError(w + ": SRV value must be 'PRIORITY WEIGHT PORT TARGET'", true);
  std::string joined;
  for (const auto& f : fields) joined += (joined.empty() ? "" : " ") + f;
  out.rdata = joined;
  return out;
}

bool isAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

std::string zoneFilePath(const std::string& confDir, const std::string& view,
                         const std::string& zone) {
  return confDir + "/zones/" + view + "/" + zone + ".zone";
}
std::string confFilePath(const std::string& confDir) { return confDir + "/named.conf.tend"; }
std::string zoneId(const std::string& zone, const std::string& view) {
  return "zone/" + zone + "@" + view;
}

// Where a payload's files go: the DNS server's name and conf_dir (absolute, no trailing slash,
// nothing that would break out of a quoted named.conf string).
static Result<void> parsePlacement(const json& spec, const std::string& what, std::string& server,
                                   std::string& confDir) {
  auto sv = getString(spec, "server", false, what);
  if (!sv) return sv.error();
  server = *sv;
  auto cd = getString(spec, "conf_dir", true, what);
  if (!cd) return cd.error();
  confDir = *cd;
  while (confDir.size() > 1 && confDir.back() == '/') confDir.pop_back();
  if (confDir.empty() || confDir[0] != '/' || hasControl(confDir) ||
      confDir.find('"') != std::string::npos)
    return makeError(what + ": conf_dir must be an absolute path", true);
  return {};
}

Result<ZoneSpec> parseZoneSpec(const json& spec) {
  if (!spec.is_object()) return makeError("zone payload must be a mapping", true);
  ZoneSpec z;
  auto zone = getString(spec, "zone", true, "zone");
  if (!zone) return zone.error();
  z.zone = stripDot(*zone);
  std::string what = "zone " + z.zone;
  if (unsafeToken(z.zone) || z.zone.find('/') != std::string::npos)
    return makeError(what + ": invalid zone name", true);
  auto view = getString(spec, "view", true, what);
  if (!view) return view.error();
  z.view = *view;
  if (unsafeToken(z.view) || z.view.find('/') != std::string::npos || z.view[0] == '.')
    return makeError(what + ": invalid view name '" + z.view + "'", true);
  what += "@" + z.view;
  if (auto r = parsePlacement(spec, what, z.server, z.confDir); !r) return r.error();
  if (auto it = spec.find("reverse"); it != spec.end() && it->is_boolean())
    z.reverse = it->get<bool>();
  auto ttl = getInt(spec, "ttl", 300, what);
  if (!ttl) return ttl.error();
  z.ttl = *ttl;

  auto sit = spec.find("soa");
  if (sit == spec.end() || !sit->is_object()) return makeError(what + ": missing 'soa'", true);
  auto mname = getString(*sit, "mname", true, what + ": soa");
  if (!mname) return mname.error();
  auto rname = getString(*sit, "rname", true, what + ": soa");
  if (!rname) return rname.error();
  z.soa.mname = *mname;
  z.soa.rname = *rname;
  if (auto at = z.soa.rname.find('@'); at != std::string::npos) {
    // RFC 5322 mailbox -> BIND form: dots in the local part escaped, '@' becomes '.'.
    std::string local = z.soa.rname.substr(0, at), dom = z.soa.rname.substr(at + 1), esc;
    for (char c : local) esc += c == '.' ? std::string("\\.") : std::string(1, c);
    z.soa.rname = esc + "." + stripDot(dom) + ".";
  }
  if (unsafeToken(z.soa.mname) || unsafeToken(z.soa.rname))
    return makeError(what + ": invalid soa mname/rname", true);
  for (auto [key, field] :
       {std::pair{"refresh", &z.soa.refresh}, std::pair{"retry", &z.soa.retry},
        std::pair{"expire", &z.soa.expire}, std::pair{"minimum", &z.soa.minimum}}) {
    auto v = getInt(*sit, key, *field, what + ": soa");
    if (!v) return v.error();
    *field = *v;
  }

  auto rit = spec.find("records");
  if (rit != spec.end() && !rit->is_null()) {
    if (!rit->is_array()) return makeError(what + ": 'records' must be a list", true);
    for (const auto& r : *rit) {
      auto rec = parseRecord(r, z.zone, what);
      if (!rec) return rec.error();
      z.records.push_back(std::move(rec.value()));
    }
  }
  // Decorate-sort: the value key (address bytes, padded numbers) is computed once per record.
  {
    std::vector<std::pair<std::string, size_t>> keys;
    keys.reserve(z.records.size());
    for (size_t i = 0; i < z.records.size(); ++i) keys.emplace_back(valueKey(z.records[i]), i);
    std::vector<size_t> order(z.records.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::vector<std::vector<std::string>> labels(z.records.size());
    for (size_t i = 0; i < z.records.size(); ++i) labels[i] = labelsReversed(z.records[i].name);
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return recordLessKeyed(z.records[x], labels[x], keys[x].first, z.records[y], labels[y],
                             keys[y].first);
    });
    std::vector<ZoneRecord> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) sorted.push_back(std::move(z.records[i]));
    z.records = std::move(sorted);
  }
  z.records.erase(std::unique(z.records.begin(), z.records.end(),
                              [](const ZoneRecord& a, const ZoneRecord& b) {
                                return a.name == b.name && a.type == b.type && a.rdata == b.rdata &&
                                       a.ttl == b.ttl;
                              }),
                  z.records.end());
  auto rndc = parseRndc(spec, what);
  if (!rndc) return rndc.error();
  z.rndc = *rndc;
  z.file = zoneFilePath(z.confDir, z.view, z.zone);
  return z;
}

Result<ConfSpec> parseConfSpec(const json& spec) {
  if (!spec.is_object()) return makeError("dnsconf payload must be a mapping", true);
  ConfSpec c;
  std::string what = "dnsconf";
  if (auto r = parsePlacement(spec, what, c.server, c.confDir); !r) return r.error();
  auto sdir = getString(spec, "secondary_dir", false, what);
  if (!sdir) return sdir.error();
  c.secondaryDir = sdir->empty() ? c.confDir + "/secondary" : *sdir;
  if (c.secondaryDir[0] != '/' || hasControl(c.secondaryDir) ||
      c.secondaryDir.find('"') != std::string::npos)
    return makeError(what + ": secondary_dir must be an absolute path", true);
  auto rndc = parseRndc(spec, what);
  if (!rndc) return rndc.error();
  c.rndc = *rndc;

  if (auto it = spec.find("acls"); it != spec.end() && !it->is_null()) {
    if (!it->is_object()) return makeError(what + ": 'acls' must be a mapping", true);
    for (const auto& [name, _] : it->items()) {
      if (unsafeToken(name)) return makeError(what + ": invalid acl name '" + name + "'", true);
      auto l = getList(*it, name.c_str(), what + ": acls");
      if (!l) return l.error();
      c.acls.emplace_back(name, *l);
    }
  }
  for (auto [key, field] : {std::pair{"forwarders", &c.forwarders},
                            std::pair{"transfer_clients", &c.transferClients}}) {
    auto l = getList(spec, key, what);
    if (!l) return l.error();
    *field = *l;
  }
  auto fwd = getString(spec, "forward", false, what);
  if (!fwd) return fwd.error();
  c.forward = *fwd;
  if (!c.forward.empty() && c.forward != "first" && c.forward != "only")
    return makeError(what + ": 'forward' must be first or only", true);
  if (spec.contains("also_notify") && !spec["also_notify"].is_null()) {
    auto l = getList(spec, "also_notify", what);
    if (!l) return l.error();
    c.alsoNotify = *l;
  } else {
    // also-notify takes addresses only, never prefixes: notify the clients that are hosts.
    for (const auto& t : c.transferClients)
      if (isAddress(t)) c.alsoNotify.push_back(t);
  }
  for (const auto& a : c.alsoNotify)
    if (!isAddress(a))
      return makeError(what + ": also_notify entry '" + a + "' is not an address", true);
  auto notify = getString(spec, "notify", false, what);
  if (!notify) return notify.error();
  // Default "explicit": with split horizon the NS names resolve to internal addresses, so
  // notifying them is noise; the secondaries that need a NOTIFY are listed in also-notify.
  c.notify = notify->empty() ? (c.alsoNotify.empty() ? "no" : "explicit") : *notify;
  if (c.notify != "yes" && c.notify != "no" && c.notify != "explicit")
    return makeError(what + ": 'notify' must be yes, no or explicit", true);

  auto vit = spec.find("views");
  if (vit == spec.end() || !vit->is_array() || vit->empty())
    return makeError(what + ": 'views' must be a non-empty list", true);
  std::set<std::string> viewNames;
  for (const auto& v : *vit) {
    if (!v.is_object()) return makeError(what + ": each view must be a mapping", true);
    ViewSpec vs;
    auto name = getString(v, "name", true, what + ": view");
    if (!name) return name.error();
    vs.name = *name;
    if (unsafeToken(vs.name) || vs.name.find('/') != std::string::npos)
      return makeError(what + ": invalid view name '" + vs.name + "'", true);
    if (!viewNames.insert(vs.name).second)
      return makeError(what + ": duplicate view '" + vs.name + "'", true);
    auto mc = getList(v, "match_clients", what + ": view " + vs.name);
    if (!mc) return mc.error();
    vs.matchClients = mc->empty() ? std::vector<std::string>{"any"} : *mc;
    auto md = getList(v, "match_destinations", what + ": view " + vs.name);
    if (!md) return md.error();
    vs.matchDestinations = *md;
    if (auto r = v.find("recursion"); r != v.end() && r->is_boolean())
      vs.recursion = r->get<bool>();
    auto zones = getList(v, "zones", what + ": view " + vs.name);
    if (!zones) return zones.error();
    for (auto& z : *zones) z = stripDot(z);
    std::sort(zones->begin(), zones->end());
    zones->erase(std::unique(zones->begin(), zones->end()), zones->end());
    vs.zones = *zones;
    c.views.push_back(std::move(vs));
  }
  if (auto sit = spec.find("secondary_zones"); sit != spec.end() && !sit->is_null()) {
    if (!sit->is_array()) return makeError(what + ": 'secondary_zones' must be a list", true);
    for (const auto& s : *sit) {
      if (!s.is_object()) return makeError(what + ": each secondary zone must be a mapping", true);
      SecondaryZoneSpec sz;
      auto name = getString(s, "name", true, what + ": secondary zone");
      if (!name) return name.error();
      sz.name = stripDot(*name);
      if (unsafeToken(sz.name) || sz.name.find('/') != std::string::npos)
        return makeError(what + ": invalid secondary zone '" + sz.name + "'", true);
      auto prim = getList(s, "primaries", what + ": secondary zone " + sz.name);
      if (!prim) return prim.error();
      if (prim->empty())
        return makeError(what + ": secondary zone " + sz.name + " needs primaries", true);
      sz.primaries = *prim;
      auto views = getList(s, "views", what + ": secondary zone " + sz.name);
      if (!views) return views.error();
      sz.views = *views;
      for (const auto& vn : sz.views)
        if (!viewNames.count(vn))
          return makeError(
              what + ": secondary zone " + sz.name + " names unknown view '" + vn + "'", true);
      c.secondaries.push_back(std::move(sz));
    }
    std::sort(c.secondaries.begin(), c.secondaries.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  if (auto fit = spec.find("forward_zones"); fit != spec.end() && !fit->is_null()) {
    if (!fit->is_array()) return makeError(what + ": 'forward_zones' must be a list", true);
    for (const auto& f : *fit) {
      if (!f.is_object()) return makeError(what + ": each forward zone must be a mapping", true);
      ForwardZoneSpec fz;
      auto name = getString(f, "name", true, what + ": forward zone");
      if (!name) return name.error();
      fz.name = stripDot(*name);
      if (unsafeToken(fz.name) || fz.name.find('/') != std::string::npos)
        return makeError(what + ": invalid forward zone '" + fz.name + "'", true);
      auto fw = getList(f, "forwarders", what + ": forward zone " + fz.name);
      if (!fw) return fw.error();
      fz.forwarders = fw->empty() ? c.forwarders : *fw;
      if (fz.forwarders.empty())
        return makeError(what + ": forward zone " + fz.name + " needs forwarders", true);
      for (const auto& a : fz.forwarders)
        if (!isAddress(a))
          return makeError(what + ": forward zone " + fz.name + ": '" + a + "' is not an address", true);
      c.forwardZones.push_back(std::move(fz));
    }
    std::sort(c.forwardZones.begin(), c.forwardZones.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  c.file = confFilePath(c.confDir);
  return c;
}

// ---- rendering ----

std::vector<std::string> recordKeys(const ZoneSpec& z) {
  std::vector<std::string> out;
  out.reserve(z.records.size());
  for (const auto& r : z.records)
    out.push_back(r.name + " " + (r.ttl ? std::to_string(*r.ttl) : std::string("-")) + " " +
                  r.type + " " + r.rdata);
  return out;
}

std::string renderZoneBody(const ZoneSpec& z, uint32_t serial) {
  std::string out;
  out.reserve(128 + z.records.size() * 64);
  out += "$ORIGIN " + z.zone + ".\n";
  out += "$TTL " + std::to_string(z.ttl) + "\n";
  out += "@ IN SOA " + z.soa.mname + " " + z.soa.rname + " (\n";
  out += "        " + std::to_string(serial) + " ; serial\n";
  out += "        " + std::to_string(z.soa.refresh) + " ; refresh\n";
  out += "        " + std::to_string(z.soa.retry) + " ; retry\n";
  out += "        " + std::to_string(z.soa.expire) + " ; expire\n";
  out += "        " + std::to_string(z.soa.minimum) + " ) ; minimum\n";

  size_t ownerW = 1, ttlW = 0, typeW = 1;
  for (const auto& r : z.records) {
    ownerW = std::max(ownerW, r.name.size());
    if (r.ttl) ttlW = std::max(ttlW, std::to_string(*r.ttl).size());
    typeW = std::max(typeW, r.type.size());
  }
  ownerW = std::min<size_t>(ownerW, 40);
  const std::string* prev = nullptr;
  for (const auto& r : z.records) {
    // A repeated owner is left blank (zone-file syntax: blank owner = previous owner).
    std::string owner = (prev && *prev == r.name) ? "" : r.name;
    prev = &r.name;
    std::string line = owner;
    line.append(owner.size() < ownerW ? ownerW - owner.size() : 0, ' ');
    line += ' ';
    if (ttlW) {
      std::string t = r.ttl ? std::to_string(*r.ttl) : "";
      line += t;
      line.append(ttlW - t.size(), ' ');
      line += ' ';
    }
    line += "IN ";
    line += r.type;
    line.append(typeW - r.type.size(), ' ');
    line += ' ';
    line += r.rdata;
    line += '\n';
    out += line;
  }
  return out;
}

namespace {
void appendList(std::string& out, const std::vector<std::string>& items) {
  out += "{";
  for (const auto& i : items) out += " " + i + ";";
  out += " }";
}

// "<lead>{ a; b; };\n" — the shape of every address-list statement.
void appendStatement(std::string& out, const std::string& lead,
                     const std::vector<std::string>& items) {
  out += lead;
  appendList(out, items);
  out += ";\n";
}
}  // namespace

std::string renderConfBody(const ConfSpec& c) {
  std::string out;
  out += "// Included from the operator's named.conf. tend owns every statement in this file.\n";
  for (const auto& [name, items] : c.acls) appendStatement(out, "\nacl \"" + name + "\" ", items);
  for (const auto& v : c.views) {
    out += "\nview \"" + v.name + "\" {\n";
    appendStatement(out, "    match-clients ", v.matchClients);
    if (!v.matchDestinations.empty())
      appendStatement(out, "    match-destinations ", v.matchDestinations);
    out += std::string("    recursion ") + (v.recursion ? "yes" : "no") + ";\n";
    if (v.recursion) {
      // Without these, named (9.18) only recurses for localhost/localnets.
      appendStatement(out, "    allow-recursion ", v.matchClients);
      appendStatement(out, "    allow-query-cache ", v.matchClients);
      if (!c.forwarders.empty()) {
        appendStatement(out, "    forwarders ", c.forwarders);
        if (!c.forward.empty()) out += "    forward " + c.forward + ";\n";
      }
    }
    appendStatement(
        out, "    allow-transfer ",
        c.transferClients.empty() ? std::vector<std::string>{"none"} : c.transferClients);
    out += "    notify " + c.notify + ";\n";
    if (!c.alsoNotify.empty() && c.notify != "no")
      appendStatement(out, "    also-notify ", c.alsoNotify);
    for (const auto& z : v.zones) {
      out += "\n    zone \"" + z + "\" {\n        type primary;\n        file \"" +
             zoneFilePath(c.confDir, v.name, z) + "\";\n    };\n";
    }
    for (size_t i = 0; i < c.secondaries.size(); ++i) {
      const auto& s = c.secondaries[i];
      bool here = s.views.empty()
                      ? (&v == &c.views.front())
                      : std::find(s.views.begin(), s.views.end(), v.name) != s.views.end();
      if (!here) continue;
      out += "\n    zone \"" + s.name + "\" {\n        type secondary;\n        primaries ";
      appendList(out, s.primaries);
      // One writable file per zone and view: named refuses a shared one.
      out += ";\n        file \"" + c.secondaryDir + "/" + v.name + "/" + s.name +
             ".zone\";\n    };\n";
    }
    if (v.recursion)
      for (const auto& f : c.forwardZones) {
        out += "\n    zone \"" + f.name + "\" {\n        type forward;\n        forward only;\n        forwarders ";
        appendList(out, f.forwarders);
        out += ";\n    };\n";
      }
    out += "};\n";
  }
  return out;
}

// ---- header ----

std::string composeFile(const std::string& prefix, const std::string& id, const std::string& hash,
                        const std::string& bodyHash, const std::string& rest) {
  std::string out = prefix + kMarkPrefix + id + kMarkSuffix + "\n";
  out += prefix + " tend: hash=" + hash + " body=" + bodyHash + " sha256=" + sha256Hex(rest) + "\n";
  out += rest;
  return out;
}

FileHeader parseHeader(const std::string& text, const std::string& prefix) {
  FileHeader h;
  size_t nl1 = text.find('\n');
  if (nl1 == std::string::npos) return h;
  std::string l1 = text.substr(0, nl1);
  std::string head = prefix + kMarkPrefix;
  // The mark is "<prefix> managed by tend: resource <id>" followed by anything (tend writes
  // " — do not edit"; deploy/quickstart.sh's bootstrap fragment writes another note).
  if (l1.size() <= head.size() || l1.compare(0, head.size(), head) != 0) return h;
  size_t idEnd = l1.find_first_of(" \t", head.size());
  h.id =
      l1.substr(head.size(), idEnd == std::string::npos ? std::string::npos : idEnd - head.size());
  if (h.id.empty()) return h;
  h.owned = true;
  size_t nl2 = text.find('\n', nl1 + 1);
  if (nl2 == std::string::npos) return h;
  std::string l2 = text.substr(nl1 + 1, nl2 - nl1 - 1);
  h.rest = text.substr(nl2 + 1);
  std::string p2 = prefix + " tend: ";
  if (l2.compare(0, p2.size(), p2) != 0) return h;
  for (const auto& kv : splitWs(l2.substr(p2.size()))) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "hash") h.hash = v;
    if (k == "body") h.body = v;
    if (k == "sha256") h.sha = v;
  }
  h.intact = !h.sha.empty() && sha256Hex(h.rest) == h.sha;
  return h;
}

std::optional<uint32_t> parseSoaSerial(const std::string& text) {
  // tend's own layout: the serial sits on its own line tagged "; serial". Hand-edited files in
  // another layout simply yield no serial (the state file still has one).
  size_t pos = text.find(" ; serial");
  if (pos == std::string::npos) return std::nullopt;
  size_t b = text.rfind('\n', pos);
  b = b == std::string::npos ? 0 : b + 1;
  std::string num = text.substr(b, pos - b);
  size_t s = num.find_first_not_of(" \t");
  if (s == std::string::npos) return std::nullopt;
  num = num.substr(s);
  if (!isNumber(num)) return std::nullopt;
  unsigned long long v = std::stoull(num);
  if (v > 0xffffffffULL) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<uint32_t> parseZoneStatusSerial(const std::string& out) {
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) {
    if (line.rfind("serial: ", 0) != 0) continue;
    std::string num = line.substr(8);
    while (!num.empty() && (num.back() == '\r' || num.back() == ' ')) num.pop_back();
    if (!isNumber(num) || num.size() > 10) return std::nullopt;
    unsigned long long v = std::stoull(num);
    if (v > 0xffffffffULL) return std::nullopt;
    return static_cast<uint32_t>(v);
  }
  return std::nullopt;
}

std::vector<std::string> namedLogReason(const std::string& log, const std::string& zone,
                                        const std::string& view, const std::string& file,
                                        size_t max) {
  std::string tag = "zone " + zone + "/IN/" + view + ":";
  std::vector<std::string> out;
  std::istringstream is(log);
  for (std::string line; std::getline(is, line);) {
    size_t at = line.find(tag);
    if (at == std::string::npos) {
      // dns_master_load names the file, not the zone: "dns_master_load: F:2: out of range".
      if (file.empty() || line.find(file + ":") == std::string::npos) continue;
      at = line.find("dns_master_load:");
      if (at == std::string::npos) at = line.find(file);
    }
    std::string m = line.substr(at);
    while (!m.empty() && (m.back() == '\r' || m.back() == ' ')) m.pop_back();
    // The success lines are not a reason.
    if (m.find(": loaded serial ") != std::string::npos) continue;
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.size() > max) out.erase(out.begin(), out.end() - static_cast<long>(max));
  return out;
}

std::vector<std::string> parseRecordKeys(const std::string& rest) {
  std::vector<std::string> out;
  std::istringstream is(rest);
  std::string line, prevOwner;
  bool inSoa = false;
  while (std::getline(is, line)) {
    if (line.empty() || line[0] == '$' || line[0] == ';') continue;
    if (inSoa) {
      if (line.find(')') != std::string::npos) inSoa = false;
      continue;
    }
    bool blankOwner = line[0] == ' ' || line[0] == '\t';
    std::istringstream ls(line);
    std::string owner, tok;
    if (!blankOwner)
      ls >> owner;
    else
      owner = prevOwner;
    ls >> tok;
    std::string ttl = "-";
    if (isNumber(tok)) {
      ttl = tok;
      ls >> tok;
    }
    if (tok != "IN") continue;
    std::string type;
    ls >> type;
    if (type == "SOA") {
      inSoa = line.find(')') == std::string::npos;
      prevOwner = owner;
      continue;
    }
    std::string rdata;
    std::getline(ls, rdata);
    size_t s = rdata.find_first_not_of(' ');
    rdata = s == std::string::npos ? "" : rdata.substr(s);
    prevOwner = owner;
    out.push_back(owner + " " + ttl + " " + type + " " + rdata);
  }
  return out;
}

// ---- serials ----

bool serialLess(uint32_t a, uint32_t b) {
  return (a < b && b - a < 0x80000000u) || (a > b && a - b > 0x80000000u);
}

uint32_t serialMax(uint32_t a, uint32_t b) { return serialLess(a, b) ? b : a; }

uint32_t nextSerial(std::optional<uint32_t> old, uint32_t yyyymmdd) {
  uint64_t draft64 = static_cast<uint64_t>(yyyymmdd) * 100;
  uint32_t draft = static_cast<uint32_t>(draft64 & 0xffffffffu);
  if (!old) return draft == 0 ? 1 : draft;
  if (serialLess(*old, draft)) return draft;
  // Same day (nn overflow past 99 simply continues) or the clock went backwards.
  uint32_t n = *old + 1;
  return n == 0 ? 1 : n;
}

}  // namespace tend::bind9
