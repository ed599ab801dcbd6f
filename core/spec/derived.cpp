// Derived configuration files (derived.h, docs/derived.md).
#include "core/spec/derived.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/hash.h"
#include "core/spec/loader.h"
#include "core/spec/walker.h"

namespace tend::spec {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const char* kHeader = "managed by tend — derived from the spec, do not edit";

std::string hostPartOf(const std::string& b, std::string& port) {
  if (!b.empty() && b[0] == '[') {
    auto close = b.find(']');
    if (close == std::string::npos || close + 1 >= b.size() || b[close + 1] != ':') return "";
    port = b.substr(close + 2);
    return b.substr(1, close - 1);
  }
  auto c = b.rfind(':');
  if (c == std::string::npos) return "";
  port = b.substr(c + 1);
  return b.substr(0, c);
}

std::string hostPort(const std::string& addr, const std::string& port) {
  return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + port;
}

int domainIndex(const Spec& s, const std::string& d) {
  for (size_t i = 0; i < s.dns.domains.size(); ++i)
    if (s.dns.domains[i].v == d) return static_cast<int>(i);
  return static_cast<int>(s.dns.domains.size());
}

std::string fqdnOf(const ServiceEntry& e) { return e.name.v == "@" ? e.domain.v : e.name.v + "." + e.domain.v; }

const ProxyTls& tlsFor(const Spec& s, const std::string& domain) {
  for (const auto& [d, t] : s.proxy.domains)
    if (d.v == domain && t.set) return t;
  return s.proxy.tls;
}

std::string tlsMode(const ProxyTls& t) { return t.set && !t.mode.empty() ? t.mode : "acme"; }

// ${} resolution of a free-form value (strings only), secrets kept symbolic.
ojson interpolateJson(const Spec& s, const ojson& v, const SpecLoc& loc, const std::string& app,
                      std::vector<std::string>* secrets) {
  if (v.is_string()) return interpolate(s, v.get<std::string>(), loc, app, nullptr, secrets);
  if (v.is_array()) {
    ojson a = ojson::array();
    for (const auto& x : v) a.push_back(interpolateJson(s, x, loc, app, secrets));
    return a;
  }
  if (v.is_object()) {
    ojson o = ojson::object();
    for (const auto& [k, x] : v.items()) o[k] = interpolateJson(s, x, loc, app, secrets);
    return o;
  }
  return v;
}

// ---- YAML ------------------------------------------------------------------------------
bool plainOk(const std::string& v) {
  if (v.empty()) return false;
  static const std::set<std::string> reserved = {"true", "false", "yes", "no", "on", "off", "null", "~",
                                                 "True", "False", "Yes", "No", "On", "Off", "Null",
                                                 "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "NULL", "y", "n", "Y", "N"};
  if (reserved.count(v)) return false;
  // Numbers (and things YAML 1.1 reads as numbers or dates) are quoted.
  if (v.find_first_not_of("0123456789+-.:_eEoxXabcdefABCDEF") == std::string::npos &&
      v.find_first_of("0123456789") != std::string::npos)
    return false;
  if (std::string("-?:,[]{}#&*!|>'\"%@`").find(v[0]) != std::string::npos) return false;
  if (v.back() == ' ' || v.front() == ' ' || v.back() == ':') return false;
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == ':' && i + 1 < v.size() && v[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && v[i - 1] == ' ') return false;
    if (c == '$' || c == '{' || c == '}' || c == '\\' || c == '"') return false;
  }
  return true;
}

std::string scalarYaml(const ojson& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return plainOk(s) ? s : ojson(s).dump();  // a JSON string is a valid double-quoted YAML scalar
  }
  return v.dump();
}

void yamlInto(std::string& out, const ojson& v, int indent);

void yamlValueAfterKey(std::string& out, const ojson& x, int indent) {
  if ((x.is_object() || x.is_array()) && !x.empty()) {
    out += "\n";
    yamlInto(out, x, x.is_array() ? indent : indent + 2);
  } else if (x.is_object()) {
    out += " {}\n";
  } else if (x.is_array()) {
    out += " []\n";
  } else {
    out += " " + scalarYaml(x) + "\n";
  }
}

void yamlInto(std::string& out, const ojson& v, int indent) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      out += pad + scalarYaml(ojson(k)) + ":";
      yamlValueAfterKey(out, x, indent);
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (x.is_object() && !x.empty()) {
        // "- key: value" then the other keys aligned under the first.
        bool first = true;
        for (const auto& [k, y] : x.items()) {
          out += (first ? pad + "- " : pad + "  ") + scalarYaml(ojson(k)) + ":";
          yamlValueAfterKey(out, y, indent + 2);
          first = false;
        }
      } else if (x.is_array() && !x.empty()) {
        out += pad + "-\n";
        yamlInto(out, x, indent + 2);
      } else {
        out += pad + "- " + (x.is_object() ? std::string("{}") : x.is_array() ? std::string("[]") : scalarYaml(x)) + "\n";
      }
    }
  } else {
    out += pad + scalarYaml(v) + "\n";
  }
}

// ---- Caddyfile -------------------------------------------------------------------------
std::string caddyRoute(const Route& r, const std::string& in) {
  const ServiceEntry& e = *r.entry;
  std::string out;
  if (!e.encode.empty()) out += in + "encode " + e.encode + "\n";
  std::vector<std::string> opts;
  if (e.forwardHeaders) {
    opts.push_back("header_up X-Real-IP {remote_host}");
    opts.push_back("header_up X-Forwarded-For {remote_host}");
    opts.push_back("header_up X-Forwarded-Proto {scheme}");
  }
  if (!e.hostHeader.empty())
    opts.push_back("header_up Host " + (e.hostHeader == "upstream" ? std::string("{upstream_hostport}") : e.hostHeader));
  std::vector<std::string> transport;
  if (e.tlsSkipVerify) {
    transport.push_back("tls");
    transport.push_back("tls_insecure_skip_verify");
  }
  if (e.readBuffer > 0) transport.push_back("read_buffer " + std::to_string(e.readBuffer));
  if (opts.empty() && transport.empty()) return out + in + "reverse_proxy " + r.backend + "\n";
  out += in + "reverse_proxy " + r.backend + " {\n";
  for (const auto& o : opts) out += in + "\t" + o + "\n";
  if (!transport.empty()) {
    out += in + "\ttransport http {\n";
    for (const auto& t : transport) out += in + "\t\t" + t + "\n";
    out += in + "\t}\n";
  }
  return out + in + "}\n";
}

std::string caddyTls(const Spec& s, const ProxyTls& t, const std::string& in, std::vector<std::string>* secrets) {
  std::string mode = tlsMode(t);
  if (mode == "internal") return in + "tls internal\n";
  if (mode != "dns") return t.email.set ? in + "tls " + t.email.v + "\n" : "";
  std::string out = in + "tls" + (t.email.set ? " " + t.email.v : "") + " {\n";
  std::string tok = t.token.set ? " " + interpolate(s, t.token.v, t.token.loc, "", nullptr, secrets) : "";
  out += in + "\tdns " + t.provider.v + tok + "\n";
  if (t.propagationDelay.set) out += in + "\tpropagation_delay " + t.propagationDelay.v + "\n";
  if (t.propagationTimeout.set) out += in + "\tpropagation_timeout " + t.propagationTimeout.v + "\n";
  if (!t.resolvers.empty()) {
    out += in + "\tresolvers";
    for (const auto& r : t.resolvers) out += " " + r.v;
    out += "\n";
  }
  return out + in + "}\n";
}

std::string renderCaddyfile(const Spec& s, std::vector<std::string>* secrets) {
  const ProxySpec& p = s.proxy;
  std::string out = "# " + std::string(kHeader) + "\n# environment " + s.environment.v +
                    ": one route per proxied services/expose entry\n";
  std::vector<std::string> global;
  if (p.admin.set) global.push_back("admin " + p.admin.v);
  if (p.email.set) global.push_back("email " + interpolate(s, p.email.v, p.email.loc, "", nullptr, secrets));
  if (p.httpPort.set) global.push_back("http_port " + std::to_string(p.httpPort.v));
  if (p.httpsPort.set) global.push_back("https_port " + std::to_string(p.httpsPort.v));
  for (const auto& g : p.global) global.push_back(interpolate(s, g.v, g.loc, "", nullptr, secrets));
  if (!global.empty()) {
    out += "{\n";
    for (const auto& g : global) out += "\t" + g + "\n";
    out += "}\n";
  }
  // Blocks follow the header comments directly and each other after one blank line (caddy fmt).
  auto sep = [&]() -> std::string { return out.size() >= 2 && out.compare(out.size() - 2, 2, "}\n") == 0 ? "\n" : ""; };
  auto routes = proxyRoutes(s);
  // Domains in dns.domains order; a DNS-01 domain with wildcard: one *.DOMAIN site holding a
  // host matcher per name (one certificate for all), apex names in a site of their own.
  std::vector<std::string> domains;
  for (const auto& d : s.dns.domains) domains.push_back(d.v);
  for (const auto& d : domains) {
    const ProxyTls& t = tlsFor(s, d);
    std::string mode = tlsMode(t);
    std::vector<const Route*> mine;
    for (const auto& r : routes)
      if (r.domain == d) mine.push_back(&r);
    bool wildcard = mode == "dns" && t.wildcard;
    if (mine.empty() && !wildcard) continue;
    std::string scheme = mode == "off" ? "http://" : "";
    if (wildcard) {
      out += sep() + "*." + d + " {\n" + caddyTls(s, t, "\t", secrets);
      for (const Route* r : mine) {
        if (r->name == "@") continue;
        out += "\n\t@" + r->name + " host " + r->fqdn + "\n\thandle @" + r->name + " {\n";
        out += caddyRoute(*r, "\t\t");
        out += "\t}\n";
      }
      out += "}\n";
    }
    for (const Route* r : mine) {
      if (wildcard && r->name != "@") continue;
      out += sep() + scheme + r->fqdn + " {\n" + caddyTls(s, t, "\t", secrets) + caddyRoute(*r, "\t") + "}\n";
    }
  }
  return out;
}

// ---- Homepage --------------------------------------------------------------------------
struct Card {
  std::string group;
  int tier;
  size_t seq;
  std::string name;
  ojson body;
};

std::string tierName(const Spec& s, const AppSpec& a) {
  if (a.tier.set) return a.tier.v;
  if (s.tiers.empty() || s.tiers.back().names.empty()) return "apps";
  return s.tiers.back().names.front().v;
}

std::string renderServicesYaml(const Spec& s, std::vector<std::string>* secrets) {
  std::vector<Card> cards;
  auto card = [&](const ServiceEntry& e, const std::string& backend, const std::string& group, int tier,
                  const std::string& app) {
    if (!e.enabled || e.homepageOff) return;
    ojson h = e.homepageSet ? interpolateJson(s, e.homepage, e.homepageLoc, app, secrets) : ojson::object();
    Card c;
    c.group = h.contains("group") && h["group"].is_string() ? h["group"].get<std::string>() : group;
    c.name = h.contains("name") && h["name"].is_string() ? h["name"].get<std::string>() : e.name.v;
    c.tier = tier;
    c.seq = cards.size();
    std::string fqdn = fqdnOf(e);
    bool httpOnly = e.proxied && tlsMode(tlsFor(s, e.domain.v)) == "off";
    std::string href = e.proxied ? (httpOnly ? "http://" : "https://") + fqdn
                                 : "http://" + fqdn + ":" + (backend.empty() ? "" : backend.substr(backend.rfind(':') + 1));
    ojson b = ojson::object();
    b["href"] = h.contains("href") ? h["href"] : ojson(href);
    for (const char* k : {"icon", "description", "weight"})
      if (h.contains(k)) b[k] = h[k];
    if (h.contains("site_monitor")) {
      const ojson& sm = h["site_monitor"];
      if (sm.is_string()) b["siteMonitor"] = sm;
      else if (sm.is_boolean() && sm.get<bool>() && !backend.empty()) b["siteMonitor"] = "http://" + backend;
    }
    if (h.contains("widget") && h["widget"].is_object()) {
      ojson w = h["widget"];
      if (!w.contains("url") && !backend.empty()) {
        ojson w2 = ojson::object();
        for (const auto& [k, v] : w.items()) {
          w2[k] = v;
          if (k == "type") w2["url"] = "http://" + backend;
        }
        if (!w2.contains("url")) w2["url"] = "http://" + backend;
        w = w2;
      }
      b["widget"] = w;
    }
    c.body = std::move(b);
    cards.push_back(std::move(c));
  };
  for (const auto& e : s.services)
    if (e.homepageSet) card(e, entryBackend(s, e, ""), "Services", 0, "");
  for (const auto& a : s.apps) {
    int tier = s.tierIndex(tierName(s, a));
    for (const auto& e : a.expose) card(e, entryBackend(s, e, a.host.v), tierName(s, a), tier < 0 ? 0 : tier, a.name);
  }
  // A card per node exporter target, after the apps' (monitoring.node_exporter's targets).
  if (s.dashboard.nodeCards && s.monitoring.set) {
    std::string url = interpolate(s, s.dashboard.nodeUrl.v, s.dashboard.nodeUrl.loc, "", nullptr, secrets);
    std::string group = s.dashboard.nodeGroup.set ? s.dashboard.nodeGroup.v : "Node Exporters";
    std::string port = std::to_string(s.monitoring.nodeExporterPort.set ? s.monitoring.nodeExporterPort.v : 9100);
    std::set<std::string> excluded;
    for (const auto& x : s.monitoring.exclude) excluded.insert(x.v);
    auto node = [&](const std::string& name, const std::string& addr) {
      if (excluded.count(name) || addr.empty()) return;
      std::string target = hostPort(addr, port);
      ojson w = ojson::object();
      w["type"] = "prometheusmetric";
      w["url"] = url;
      w["label"] = "CPU Usage";
      w["query"] = "100 - (avg by (instance) (irate(node_cpu_seconds_total{mode=\"idle\", instance=\"" + target +
                   "\"}[5m])) * 100)";
      ojson b = ojson::object();
      b["icon"] = "prometheus.png";
      b["siteMonitor"] = "http://" + target;
      b["widget"] = w;
      cards.push_back({group, static_cast<int>(s.tiers.size()), cards.size(), name, std::move(b)});
    };
    for (const auto& v : s.vms) node(v.name, v.ip.v);
    for (const auto& h : s.hosts) node(h.name, h.address.v);
  }
  // Groups: lowest tier first, then first appearance.
  std::map<std::string, std::pair<int, size_t>> rank;
  for (const auto& c : cards) {
    auto it = rank.find(c.group);
    if (it == rank.end()) rank[c.group] = {c.tier, c.seq};
    else it->second = std::min(it->second, std::make_pair(c.tier, c.seq));
  }
  std::vector<std::string> groups;
  for (const auto& [g, r] : rank) groups.push_back(g);
  std::sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return rank[a] < rank[b]; });
  ojson doc = ojson::array();
  for (const auto& g : groups) {
    ojson items = ojson::array();
    for (const auto& c : cards)
      if (c.group == g) items.push_back(ojson{{c.name, c.body}});
    doc.push_back(ojson{{g, items}});
  }
  return "# " + std::string(kHeader) + "\n---\n" + (doc.empty() ? "[]\n" : toYaml(doc));
}

std::string yamlDoc(const ojson& v) {
  std::string body = v.empty() ? (v.is_array() ? "[]\n" : "{}\n") : toYaml(v);
  return "# " + std::string(kHeader) + "\n---\n" + body;
}

}  // namespace

std::string toYaml(const ojson& v) {
  std::string out;
  yamlInto(out, v, 0);
  return out;
}

std::string entryBackend(const Spec& s, const ServiceEntry& e, const std::string& appHost) {
  if (!e.app.empty()) {
    std::string addr = s.addressOf(appHost);
    if (addr.empty() || !e.port.set) return "";
    return hostPort(addr, std::to_string(e.port.v));
  }
  std::string b = interpolate(s, e.backend.v, e.backend.loc, "", nullptr);
  std::string port;
  std::string h = hostPartOf(b, port);
  int64_t n = 0;
  if (h.empty() || !parseInt(port, n) || n < 1 || n > 65535) return "";
  std::string addr = isIp(h) ? h : s.addressOf(h);
  if (addr.empty()) return "";
  return hostPort(addr, port);
}

std::vector<Route> proxyRoutes(const Spec& s) {
  std::vector<Route> out;
  auto add = [&](const ServiceEntry& e, const std::string& appHost, const std::string& app) {
    if (!e.enabled || !e.proxied) return;
    std::string b = entryBackend(s, e, appHost);
    if (b.empty()) return;
    out.push_back({e.name.v, e.domain.v, fqdnOf(e), b, &e, app});
  };
  for (const auto& e : s.services) add(e, "", "");
  for (const auto& a : s.apps)
    for (const auto& e : a.expose) add(e, a.host.v, a.name);
  std::stable_sort(out.begin(), out.end(), [&](const Route& a, const Route& b) {
    int da = domainIndex(s, a.domain), db = domainIndex(s, b.domain);
    if (da != db) return da < db;
    return a.name < b.name;
  });
  return out;
}

std::string appFilePath(const Spec& s, const AppSpec& a, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  std::string base = (s.deployPath.set ? s.deployPath.v : std::string("/opt")) + "/" + a.name;
  std::string p = path;
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  return base + "/" + p;
}

std::vector<DerivedFile> appFiles(const Spec& s, const AppSpec& a, std::vector<std::string>* secrets) {
  std::vector<DerivedFile> out;
  for (const auto& f : a.files) {
    if (!f.content.set) continue;
    DerivedFile d;
    d.kind = "app_file";
    d.host = a.host.v;
    d.path = appFilePath(s, a, f.path.v);
    d.content = interpolate(s, f.content.v, f.content.loc, a.name, nullptr, secrets);
    d.mode = f.mode;
    d.owner = f.owner;
    d.group = f.group;
    d.app = a.name;
    d.loc = f.loc;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<DerivedFile> deriveFiles(const Spec& s, std::vector<std::string>* secrets) {
  std::vector<DerivedFile> out;
  auto push = [&](std::string kind, std::string host, std::string path, std::string content, const SpecLoc& loc,
                  const json& onChange, const Str& mode) {
    DerivedFile f;
    f.kind = std::move(kind);
    f.host = std::move(host);
    f.path = std::move(path);
    f.content = std::move(content);
    f.onChange = onChange;
    if (mode.set) f.mode = mode.v;
    f.loc = loc;
    out.push_back(std::move(f));
  };
  if (s.proxy.set) {
    std::string host = s.proxy.host.set ? s.proxy.host.v : s.dns.reverseProxy.v;
    if (!host.empty())
      push("caddyfile", host, s.proxy.file.set ? s.proxy.file.v : "/etc/caddy/Caddyfile", renderCaddyfile(s, secrets),
           s.proxy.loc, s.proxy.onChange, s.proxy.mode);
  }
  if (s.dashboard.set && s.dashboard.host.set) {
    const auto& b = s.dashboard;
    std::string dir = b.dir.set ? b.dir.v : (s.deployPath.set ? s.deployPath.v : std::string("/opt")) + "/homepage";
    push("homepage", b.host.v, dir + "/bookmarks.yaml", yamlDoc(interpolateJson(s, b.bookmarks, b.loc, "", secrets)), b.loc,
         b.onChange, b.mode);
    push("homepage", b.host.v, dir + "/services.yaml", renderServicesYaml(s, secrets), b.loc, b.onChange, b.mode);
    push("homepage", b.host.v, dir + "/settings.yaml", yamlDoc(interpolateJson(s, b.settings, b.loc, "", secrets)), b.loc,
         b.onChange, b.mode);
    push("homepage", b.host.v, dir + "/widgets.yaml", yamlDoc(interpolateJson(s, b.widgets, b.loc, "", secrets)), b.loc,
         b.onChange, b.mode);
  }
  if (s.monitoring.set && s.monitoring.host.set) {
    const auto& m = s.monitoring;
    std::string dir = m.fileSdDir.set ? m.fileSdDir.v : "/etc/prometheus/file_sd";
    int64_t port = m.nodeExporterPort.set ? m.nodeExporterPort.v : 9100;
    std::set<std::string> excluded;
    for (const auto& x : m.exclude) excluded.insert(x.v);
    json nodes = json::array();
    auto node = [&](const std::string& name, const std::string& addr) {
      if (excluded.count(name) || addr.empty()) return;
      nodes.push_back({{"labels", {{"host", name}}}, {"targets", {hostPort(addr, std::to_string(port))}}});
    };
    for (const auto& v : s.vms) node(v.name, v.ip.v);
    for (const auto& h : s.hosts) node(h.name, h.address.v);
    Str noMode;
    push("file_sd", m.host.v, dir + "/node.json", nodes.dump(2) + "\n", m.loc, json::object(), noMode);
    if (m.tendTarget.set) {
      std::string port2;
      std::string h = hostPartOf(m.tendTarget.v, port2);
      std::string addr = isIp(h) ? h : s.addressOf(h);
      json tend = json::array();
      if (!addr.empty()) tend.push_back({{"labels", {{"host", isIp(h) ? addr : h}}}, {"targets", {hostPort(addr, port2)}}});
      push("file_sd", m.host.v, dir + "/tend.json", tend.dump(2) + "\n", m.tendTarget.loc, json::object(), noMode);
    }
    if (m.grafanaFile.set) {
      ojson ds = ojson::object();
      ds["apiVersion"] = 1;
      ojson one = ojson::object();
      one["name"] = "Prometheus";
      one["type"] = "prometheus";
      one["access"] = "proxy";
      one["url"] = m.prometheusUrl.set ? interpolate(s, m.prometheusUrl.v, m.prometheusUrl.loc, "", nullptr, secrets)
                                       : std::string("http://prometheus:9090");
      one["isDefault"] = true;
      one["editable"] = true;
      ds["datasources"] = ojson::array({one});
      push("grafana", m.host.v, m.grafanaFile.v, "# " + std::string(kHeader) + "\n" + toYaml(ds), m.grafanaFile.loc,
           json::object(), noMode);
    }
  }
  // BIND's global options (dns.options): Debian's named.conf includes named.conf.options, which
  // holds the one `options { }` block; named.conf.tend (views, zones) cannot carry them.
  if (!s.dns.options.empty()) {
    auto it = s.providers.find("bind9");
    if (it != s.providers.end()) {
      const json& b = it->second.config;
      std::string server = b.value("server", std::string());
      std::string confDir = absPath(s, b.value("conf_dir", std::string("/etc/bind")));
      const json& o = s.dns.options;
      std::string c = "// " + std::string(kHeader) + "\noptions {\n";
      c += "    directory \"" + o.value("directory", std::string("/var/cache/bind")) + "\";\n";
      if (o.contains("querylog")) c += std::string("    querylog ") + (o["querylog"].get<bool>() ? "yes" : "no") + ";\n";
      if (o.contains("dnssec_validation")) c += "    dnssec-validation " + o["dnssec_validation"].get<std::string>() + ";\n";
      for (const char* k : {"listen_on", "listen_on_v6"}) {
        if (!o.contains(k)) continue;
        c += std::string("    ") + (std::string(k) == "listen_on" ? "listen-on" : "listen-on-v6") + " {";
        for (const auto& a : o[k]) c += " " + a.get<std::string>() + ";";
        c += " };\n";
      }
      c += "};\n";
      Str noMode;
      if (!server.empty()) push("named_options", server, confDir + "/named.conf.options", c, s.dns.loc, json{{"reload", "named"}}, noMode);
    }
  }
  for (const auto& a : s.apps)
    for (auto& f : appFiles(s, a, secrets)) out.push_back(std::move(f));
  std::stable_sort(out.begin(), out.end(), [](const DerivedFile& a, const DerivedFile& b) {
    return std::tie(a.host, a.path) < std::tie(b.host, b.path);
  });
  return out;
}

void validateDerived(const Spec& s, Diagnostics& d) {
  auto err = [&](const SpecLoc& l, std::string m) { d.push_back({Severity::Error, l, std::move(m)}); };
  auto machine = [&](const Str& n, const std::string& what) {
    if (n.set && !s.vm(n.v) && !s.host(n.v)) err(n.loc, what + " names unknown vm or host '" + n.v + "'");
  };
  auto knownDomain = [&](const std::string& dm) {
    for (const auto& x : s.dns.domains)
      if (x.v == dm) return true;
    return false;
  };
  const ProxySpec& p = s.proxy;
  if (p.set) {
    machine(p.host, "proxy.host");
    if (!p.host.set && !s.dns.reverseProxy.set) err(p.loc, "proxy needs 'host' (or dns.reverse_proxy)");
    if (p.host.set && s.dns.reverseProxy.set && p.host.v != s.dns.reverseProxy.v)
      err(p.host.loc, "proxy.host '" + p.host.v + "' is not dns.reverse_proxy '" + s.dns.reverseProxy.v +
                          "': proxied names resolve to the reverse proxy");
    for (const auto& [dm, t] : p.domains)
      if (!knownDomain(dm.v)) err(dm.loc, "domain '" + dm.v + "' is not in dns.domains");
    auto checkTls = [&](const ProxyTls& t) {
      if (t.token.set) interpolate(s, t.token.v, t.token.loc, "", &d);
    };
    checkTls(p.tls);
    for (const auto& [dm, t] : p.domains) checkTls(t);
    if (p.email.set) interpolate(s, p.email.v, p.email.loc, "", &d);
    for (const auto& g : p.global) interpolate(s, g.v, g.loc, "", &d);
  }
  auto checkEntry = [&](const ServiceEntry& e, const std::string& app) {
    if (!e.encode.empty() && e.encode.find_first_not_of("abcdefghijklmnopqrstuvwxyz ") != std::string::npos)
      err(e.loc, "'encode' must be encodings like 'gzip' or 'zstd gzip', got '" + printable(e.encode) + "'");
    if (!e.hostHeader.empty() && e.hostHeader.find_first_of(" \t\n{};\"") != std::string::npos && e.hostHeader != "upstream")
      err(e.loc, "'host_header' must be 'upstream' or a host name, got '" + printable(e.hostHeader) + "'");
    if (e.homepageSet && !e.homepageOff) {
      if (!s.dashboard.set) err(e.homepageLoc, "'homepage' is set but there is no dashboard: section in environment.yml");
      for (const auto& str : e.homepageStrings) interpolate(s, str.v, str.loc, app, &d);
    }
  };
  for (const auto& e : s.services) checkEntry(e, "");
  for (const auto& a : s.apps)
    for (const auto& e : a.expose) checkEntry(e, a.name);
  if (s.dashboard.set) {
    machine(s.dashboard.host, "dashboard.host");
    if (s.dashboard.nodeCards && !s.monitoring.set)
      err(s.dashboard.loc, "dashboard.node_exporters needs a monitoring: section (its targets)");
    if (s.dashboard.nodeUrl.set) interpolate(s, s.dashboard.nodeUrl.v, s.dashboard.nodeUrl.loc, "", &d);
    for (const auto& str : s.dashboard.strings) interpolate(s, str.v, str.loc, "", &d);
  }
  if (s.monitoring.set) {
    const auto& m = s.monitoring;
    machine(m.host, "monitoring.host");
    for (const auto& x : m.exclude) machine(x, "monitoring.node_exporter.exclude");
    if (m.tendTarget.set) {
      std::string port;
      std::string h = hostPartOf(m.tendTarget.v, port);
      int64_t n = 0;
      if (h.empty() || !parseInt(port, n) || n < 1 || n > 65535)
        err(m.tendTarget.loc, "invalid monitoring.tend '" + printable(m.tendTarget.v) + "' (MACHINE:PORT or IP:PORT)");
      else if (!isIp(h) && !s.vm(h) && !s.host(h))
        err(m.tendTarget.loc, "monitoring.tend names unknown vm or host '" + h + "'");
    }
    if (m.prometheusUrl.set) interpolate(s, m.prometheusUrl.v, m.prometheusUrl.loc, "", &d);
  }
  for (const auto& a : s.apps)
    for (const auto& f : a.files)
      if (f.content.set) interpolate(s, f.content.v, f.content.loc, a.name, &d);
  for (const auto& v : s.vms)
    for (const auto& n : v.nameservers)
      if (!isIp(n.v) && !s.vm(n.v) && !s.host(n.v))
        err(n.loc, "nameserver '" + n.v + "' of vm '" + v.name + "' is neither a vm, a host nor an IP address");
  // DNS fidelity keys.
  for (const auto& z : s.dns.zones) {
    bool known = knownDomain(z.name.v);
    for (const auto& r : s.dns.reverseZones) known |= r.v == z.name.v;
    if (!known) err(z.name.loc, "dns.zones: '" + z.name.v + "' is neither in dns.domains nor in dns.reverse_zones");
  }
  for (const auto* soa : {&s.dns.soa}) {
    if (soa->rname.set && soa->rname.v.find_first_of(" \t;\"()") != std::string::npos)
      err(soa->rname.loc, "invalid soa rname '" + printable(soa->rname.v) + "' (a mailbox like hostmaster@example.org)");
  }
  for (const auto& z : s.dns.zones)
    if (z.soa.rname.set && z.soa.rname.v.find_first_of(" \t;\"()") != std::string::npos)
      err(z.soa.rname.loc, "invalid soa rname '" + printable(z.soa.rname.v) + "' (a mailbox like hostmaster@example.org)");
  for (const auto& f : s.dns.forwardZones) {
    if (f.name.v.empty() || f.name.v.find_first_of(" \t;\"{}/") != std::string::npos)
      err(f.name.loc, "invalid forward zone name '" + printable(f.name.v) + "'");
    for (const auto& a : f.forwarders)
      if (!isIp(a.v)) err(a.loc, "forwarder '" + printable(a.v) + "' of forward zone '" + f.name.v + "' is not an IP address");
    if (f.forwarders.empty() && s.dns.forwarders.empty())
      err(f.name.loc, "forward zone '" + f.name.v + "' has no forwarders (and dns.forwarders is empty)");
  }
  for (const char* k : {"listen_on", "listen_on_v6"})
    if (s.dns.options.contains(k))
      for (const auto& a : s.dns.options[k])
        if (a.get<std::string>().find_first_of(" \t;\"{}") != std::string::npos || a.get<std::string>().empty())
          err(s.dns.loc, std::string("invalid dns.options.") + k + " entry '" + printable(a.get<std::string>()) + "'");
  if (!s.dns.options.empty() && s.providers.find("bind9") == s.providers.end())
    err(s.dns.loc, "dns.options needs providers.bind9 (the server whose named.conf.options it writes)");
  // One path per host: derived files against each other and against the groups' files.
  std::map<std::pair<std::string, std::string>, SpecLoc> seen;
  auto groupFilesOf = [&](const std::vector<Str>& groups, const std::string& host) {
    std::vector<std::string> order = {"all"};
    for (const auto& g : groups) order.push_back(g.v);
    for (const auto& gname : order) {
      const GroupSpec* g = s.group(gname);
      if (!g) continue;
      for (auto& [path, f] : g->files.items()) seen.emplace(std::make_pair(host, path), g->loc);
    }
  };
  for (const auto& v : s.vms) groupFilesOf(v.groups, v.name);
  for (const auto& h : s.hosts) groupFilesOf(h.groups, h.name);
  for (const auto& f : deriveFiles(s)) {
    auto [it, fresh] = seen.emplace(std::make_pair(f.host, f.path), f.loc);
    if (!fresh)
      err(f.loc, "file '" + f.path + "' on host '" + f.host + "' is also written by " + it->second.str());
  }
}

}  // namespace tend::spec
