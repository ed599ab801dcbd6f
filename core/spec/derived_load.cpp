// Stage 1 for the keys that feed derived configuration files (docs/derived.md): `proxy:`,
// `dashboard:`, `monitoring:` of environment.yml, an entry's `homepage:`, an app's `files:`,
// and DNS fidelity keys (`dns.soa`, `dns.zones`, `dns.forward_zones`, `dns.options`).
#include <fstream>
#include <sstream>

#include "core/spec/loader.h"
#include "core/spec/walker.h"

namespace tend::spec {

namespace {

// A free-form value (Homepage settings, widgets) as JSON, every string leaf also kept with
// its location so that validation can check its ${} references where they were written.
nlohmann::ordered_json located(Walker& w, const YNode* v, std::vector<Str>& strings) {
  if (!v || v->isNull()) return nullptr;
  if (v->isScalar()) {
    nlohmann::ordered_json j = Walker::toJson(v);
    if (j.is_string()) strings.push_back({v->value, w.loc(v), true});
    return j;
  }
  if (v->isSeq()) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const YNode* it : v->items) a.push_back(located(w, it, strings));
    return a;
  }
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  for (const auto& [k, x] : v->pairs) {
    if (!k->isScalar()) {
      w.typeErr(k, "key", "a string");
      continue;
    }
    o[k->value] = located(w, x, strings);
  }
  return o;
}

nlohmann::json readOnChange(Walker& w, const YNode* z, const std::string& ctx) {
  nlohmann::json oc = nlohmann::json::object();
  if (!w.needMap(z, "on_change")) return oc;
  w.fields(z, "on_change of " + ctx,
           {{"restart", [&](const YNode* q) { oc["restart"] = w.str(q, "restart").v; }},
            {"reload", [&](const YNode* q) { oc["reload"] = w.str(q, "reload").v; }}});
  return oc;
}

Str readMode(Walker& w, const YNode* z) {
  Str m = w.str(z, "mode");
  bool ok = m.set && m.v.size() >= 3 && m.v.size() <= 4 && m.v.find_first_not_of("01234567") == std::string::npos;
  if (m.set && !ok) {
    w.err(z, "'mode' must be an octal string like \"0644\", got '" + m.v + "'");
    m.set = false;
  }
  return m;
}

Str absPathKey(Walker& w, const YNode* z, const char* key) {
  Str p = w.str(z, key);
  if (p.set && (p.v.empty() || p.v[0] != '/')) {
    w.err(z, std::string("'") + key + "' must be an absolute path, got '" + printable(p.v) + "'");
    p.set = false;
  }
  return p;
}

void readTls(Walker& w, const YNode* v, ProxyTls& t, const std::string& ctx) {
  t.set = true;
  t.loc = w.loc(v);
  if (v->isScalar()) {
    Str m = w.str(v, "tls");
    if (m.v != "acme" && m.v != "internal" && m.v != "off")
      w.err(v, "'tls' of " + ctx + " must be acme, internal, off or a mapping with 'dns', got '" + printable(m.v) + "'");
    t.mode = m.v;
    return;
  }
  if (!w.needMap(v, "tls")) return;
  t.mode = "acme";
  w.fields(v, "tls of " + ctx,
           {{"dns", [&](const YNode* y) {
              t.provider = w.str(y, "dns");
              t.mode = "dns";
              if (t.provider.set && !validName(t.provider.v)) w.err(y, "invalid DNS provider name '" + printable(t.provider.v) + "'");
            }},
            {"token", [&](const YNode* y) { t.token = w.str(y, "token"); }},
            {"propagation_delay", [&](const YNode* y) {
               t.propagationDelay = w.str(y, "propagation_delay");
               int64_t ms = 0;
               if (t.propagationDelay.set && !parseDuration(t.propagationDelay.v, ms))
                 w.err(y, "invalid duration '" + printable(t.propagationDelay.v) + "' for 'propagation_delay' (e.g. 2m)");
             }},
            {"propagation_timeout", [&](const YNode* y) {
               t.propagationTimeout = w.str(y, "propagation_timeout");
               int64_t ms = 0;
               if (t.propagationTimeout.set && !parseDuration(t.propagationTimeout.v, ms))
                 w.err(y, "invalid duration '" + printable(t.propagationTimeout.v) + "' for 'propagation_timeout' (e.g. 5m)");
             }},
            {"resolvers", [&](const YNode* y) { t.resolvers = w.strList(y, "resolvers"); }},
            {"email", [&](const YNode* y) { t.email = w.str(y, "email"); }},
            {"wildcard", [&](const YNode* y) { t.wildcard = w.boolean(y, "wildcard").v; }},
            {"internal", [&](const YNode* y) {
               if (w.boolean(y, "internal").v) t.mode = "internal";
             }}});
  if (t.mode == "dns" && !t.provider.set) w.err(v, "tls of " + ctx + ": 'dns' names the DNS provider");
  if (t.mode != "dns" && (t.token.set || !t.resolvers.empty() || t.propagationDelay.set))
    w.err(v, "tls of " + ctx + ": token, resolvers and propagation_delay need 'dns: PROVIDER'");
}

// Seconds: a plain integer, or a duration (1h, 28d).
Val<int64_t> seconds(Walker& w, const YNode* y, const char* key) {
  int64_t n = 0;
  if (y->isScalar() && !y->quoted && parseInt(y->value, n)) {
    Val<int64_t> r{n, w.loc(y), true};
    if (n < 0 || n > 2147483647) {
      w.err(y, std::string("'") + key + "' must be 0..2147483647 seconds");
      r.set = false;
    }
    return r;
  }
  return w.durationS(y, key);
}

void readSoa(Walker& w, const YNode* v, DnsSoa& soa, const std::string& ctx) {
  if (!w.needMap(v, "soa")) return;
  w.fields(v, "soa of " + ctx,
           {{"rname", [&](const YNode* y) { soa.rname = w.str(y, "rname"); }},
            {"refresh", [&](const YNode* y) { soa.refresh = seconds(w, y, "refresh"); }},
            {"retry", [&](const YNode* y) { soa.retry = seconds(w, y, "retry"); }},
            {"expire", [&](const YNode* y) { soa.expire = seconds(w, y, "expire"); }},
            {"minimum", [&](const YNode* y) { soa.minimum = seconds(w, y, "minimum"); }}});
}

}  // namespace

void readProxy(Walker& w, const YNode* x, Spec& s) {
  ProxySpec& p = s.proxy;
  p.set = true;
  p.loc = w.loc(x);
  if (x->isNull()) return;
  if (!w.needMap(x, "proxy")) return;
  w.fields(x, "proxy",
           {{"host", [&](const YNode* y) { p.host = w.str(y, "host"); }},
            {"file", [&](const YNode* y) { p.file = absPathKey(w, y, "file"); }},
            {"admin", [&](const YNode* y) { p.admin = w.str(y, "admin"); }},
            {"email", [&](const YNode* y) { p.email = w.str(y, "email"); }},
            {"http_port", [&](const YNode* y) { p.httpPort = w.integer(y, "http_port", 1, 65535); }},
            {"https_port", [&](const YNode* y) { p.httpsPort = w.integer(y, "https_port", 1, 65535); }},
            {"global", [&](const YNode* y) {
               p.global = w.strList(y, "global");
               for (const auto& g : p.global)
                 if (g.v.find_first_of("\n{}") != std::string::npos)
                   w.err(y, "proxy.global entries are single option lines without braces, got '" + printable(g.v) + "'");
             }},
            {"tls", [&](const YNode* y) { readTls(w, y, p.tls, "proxy"); }},
            {"domains", [&](const YNode* y) {
               w.entries(y, "domains", [&](const YNode* k, const YNode* dv) {
                 ProxyTls t;
                 if (!w.needMap(dv, k->value)) return;
                 w.fields(dv, "proxy.domains." + k->value,
                          {{"tls", [&](const YNode* z) { readTls(w, z, t, "proxy.domains." + k->value); }}});
                 p.domains.emplace_back(Str{k->value, w.loc(k), true}, t);
               });
             }},
            {"on_change", [&](const YNode* y) { p.onChange = readOnChange(w, y, "proxy"); }},
            {"mode", [&](const YNode* y) { p.mode = readMode(w, y); }}});
}

void readDashboard(Walker& w, const YNode* x, Spec& s) {
  DashboardSpec& b = s.dashboard;
  b.set = true;
  b.loc = w.loc(x);
  if (!w.needMap(x, "dashboard")) return;
  w.fields(x, "dashboard",
           {{"host", [&](const YNode* y) { b.host = w.str(y, "host"); }},
            {"dir", [&](const YNode* y) { b.dir = absPathKey(w, y, "dir"); }},
            {"settings", [&](const YNode* y) {
               if (w.needMap(y, "settings")) b.settings = located(w, y, b.strings);
             }},
            {"widgets", [&](const YNode* y) {
               if (w.needSeq(y, "widgets")) b.widgets = located(w, y, b.strings);
             }},
            {"bookmarks", [&](const YNode* y) {
               if (w.needSeq(y, "bookmarks")) b.bookmarks = located(w, y, b.strings);
             }},
            {"node_exporters", [&](const YNode* y) {
               if (!w.needMap(y, "node_exporters")) return;
               b.nodeCards = true;
               w.fields(y, "dashboard.node_exporters",
                        {{"group", [&](const YNode* z) { b.nodeGroup = w.str(z, "group"); }},
                         {"prometheus_url", [&](const YNode* z) { b.nodeUrl = w.str(z, "prometheus_url"); }}});
               if (!b.nodeUrl.set) w.err(y, "dashboard.node_exporters is missing required key 'prometheus_url'");
             }},
            {"on_change", [&](const YNode* y) { b.onChange = readOnChange(w, y, "dashboard"); }},
            {"mode", [&](const YNode* y) { b.mode = readMode(w, y); }}});
  if (!b.host.set) w.err(x, "dashboard is missing required key 'host'");
}

void readMonitoring(Walker& w, const YNode* x, Spec& s) {
  MonitoringSpec& m = s.monitoring;
  m.set = true;
  m.loc = w.loc(x);
  if (!w.needMap(x, "monitoring")) return;
  w.fields(x, "monitoring",
           {{"host", [&](const YNode* y) { m.host = w.str(y, "host"); }},
            {"file_sd_dir", [&](const YNode* y) { m.fileSdDir = absPathKey(w, y, "file_sd_dir"); }},
            {"node_exporter", [&](const YNode* y) {
               if (!w.needMap(y, "node_exporter")) return;
               w.fields(y, "monitoring.node_exporter",
                        {{"port", [&](const YNode* z) { m.nodeExporterPort = w.integer(z, "port", 1, 65535); }},
                         {"exclude", [&](const YNode* z) { m.exclude = w.strList(z, "exclude"); }}});
             }},
            {"tend", [&](const YNode* y) { m.tendTarget = w.str(y, "tend"); }},
            {"grafana", [&](const YNode* y) {
               if (!w.needMap(y, "grafana")) return;
               w.fields(y, "monitoring.grafana",
                        {{"datasources_file", [&](const YNode* z) { m.grafanaFile = absPathKey(w, z, "datasources_file"); }},
                         {"prometheus_url", [&](const YNode* z) { m.prometheusUrl = w.str(z, "prometheus_url"); }}});
             }}});
  if (!m.host.set) w.err(x, "monitoring is missing required key 'host'");
}

void readHomepage(Walker& w, const YNode* x, ServiceEntry& e) {
  e.homepageSet = true;
  e.homepageLoc = w.loc(x);
  if (x->isScalar()) {
    auto b = w.boolean(x, "homepage");
    e.homepageOff = b.set && !b.v;
    return;
  }
  if (!w.needMap(x, "homepage")) return;
  static const char* known[] = {"group", "name", "icon", "description", "href", "site_monitor", "widget", "weight"};
  for (const auto& [k, v] : x->pairs) {
    bool ok = false;
    for (const char* n : known) ok |= k->value == n;
    if (!ok) w.err(k, "unknown key '" + k->value + "' in homepage (group, name, icon, description, href, site_monitor, widget, weight)");
    if (k->value == "widget" && !v->isMap()) w.typeErr(v, "widget", "a mapping");
    if (k->value == "site_monitor" && !v->isScalar()) w.typeErr(v, "site_monitor", "true, false or a URL");
  }
  e.homepage = located(w, x, e.homepageStrings);
}

void readAppFiles(Walker& w, const YNode* x, AppSpec& a, const Spec& s) {
  w.entries(x, "files", [&](const YNode* k, const YNode* fv) {
    AppFile f;
    f.path = {k->value, w.loc(k), true};
    f.loc = w.loc(k);
    std::string fctx = "file '" + k->value + "' of app '" + a.name + "'";
    if (k->value.empty() || k->value.find("..") != std::string::npos)
      w.err(k, "file path '" + printable(k->value) + "' must not be empty or contain '..'");
    if (!w.needMap(fv, k->value)) return;
    w.fields(fv, fctx,
             {{"content", [&](const YNode* z) { f.content = w.str(z, "content"); }},
              {"template", [&](const YNode* z) {
                 f.templ = w.str(z, "template");
                 if (!f.templ.set) return;
                 SpecFile sf = confinePath(s.absDir, s.absDir, f.templ.v);
                 if (!sf.error.empty()) {
                   w.err(z, "template '" + printable(f.templ.v) + "': " + sf.error);
                   return;
                 }
                 std::ifstream in(sf.path, std::ios::binary);
                 if (sf.missing || !in) {
                   w.err(z, "template '" + printable(f.templ.v) + "' does not exist");
                   return;
                 }
                 std::ostringstream ss;
                 ss << in.rdbuf();
                 if (ss.str().size() > kMaxSpecFileBytes) {
                   w.err(z, "template '" + printable(f.templ.v) + "' is larger than 4 MiB");
                   return;
                 }
                 // ${} in a template file is located at the `template:` key.
                 f.content = {ss.str(), w.loc(z), true};
               }},
              {"mode", [&](const YNode* z) {
                 Str m = readMode(w, z);
                 if (m.set) f.mode = m.v;
               }},
              {"owner", [&](const YNode* z) { f.owner = w.str(z, "owner").v; }},
              {"group", [&](const YNode* z) { f.group = w.str(z, "group").v; }}});
    bool hasContent = false, hasTemplate = false;
    for (const auto& [fk2, fv2] : fv->pairs) {
      hasContent |= fk2->value == "content";
      hasTemplate |= fk2->value == "template";
    }
    if (hasContent && hasTemplate) w.err(k, fctx + " has both 'content' and 'template'");
    if (!hasContent && !hasTemplate) w.err(k, fctx + " needs 'content' or 'template'");
    a.files.push_back(std::move(f));
  });
}

bool readDnsExtra(Walker& w, const YNode* k, const YNode* x, DnsSpec& d) {
  const std::string& key = k->value;
  if (key == "soa") {
    readSoa(w, x, d.soa, "dns");
    return true;
  }
  if (key == "zones") {
    w.entries(x, "zones", [&](const YNode* zk, const YNode* zv) {
      DnsZoneOpts z;
      z.name = {zk->value, w.loc(zk), true};
      if (!w.needMap(zv, zk->value)) return;
      w.fields(zv, "dns.zones." + zk->value,
               {{"ttl", [&](const YNode* y) { z.ttl = w.integer(y, "ttl", 1, 2147483647); }},
                {"soa", [&](const YNode* y) { readSoa(w, y, z.soa, "dns.zones." + zk->value); }}});
      d.zones.push_back(std::move(z));
    });
    return true;
  }
  if (key == "forward_zones") {
    if (!w.needSeq(x, "forward_zones")) return true;
    for (const YNode* it : x->items) {
      ForwardZone f;
      if (it->isScalar()) {
        f.name = w.str(it, "forward_zones entry");
      } else if (w.needMap(it, "forward_zones entry")) {
        w.fields(it, "forward zone",
                 {{"name", [&](const YNode* y) { f.name = w.str(y, "name"); }},
                  {"forwarders", [&](const YNode* y) { f.forwarders = w.strList(y, "forwarders"); }}});
        if (!f.name.set) w.err(it, "forward zone is missing required key 'name'");
      }
      if (f.name.set) d.forwardZones.push_back(std::move(f));
    }
    return true;
  }
  if (key == "options") {
    if (!w.needMap(x, "options")) return true;
    w.fields(x, "dns.options",
             {{"querylog", [&](const YNode* y) {
                auto b = w.boolean(y, "querylog");
                if (b.set) d.options["querylog"] = b.v;
              }},
              {"dnssec_validation", [&](const YNode* y) {
                 Str v = y->isScalar() && !y->quoted && (y->value == "true" || y->value == "false")
                             ? Str{y->value == "true" ? "yes" : "no", w.loc(y), true}
                             : w.str(y, "dnssec_validation");
                 if (v.set && v.v != "auto" && v.v != "yes" && v.v != "no")
                   w.err(y, "'dnssec_validation' must be auto, yes or no, got '" + printable(v.v) + "'");
                 else if (v.set) d.options["dnssec_validation"] = v.v;
               }},
              {"listen_on", [&](const YNode* y) {
                 nlohmann::json a = nlohmann::json::array();
                 for (const auto& v : w.strList(y, "listen_on")) a.push_back(v.v);
                 d.options["listen_on"] = a;
               }},
              {"listen_on_v6", [&](const YNode* y) {
                 nlohmann::json a = nlohmann::json::array();
                 for (const auto& v : w.strList(y, "listen_on_v6")) a.push_back(v.v);
                 d.options["listen_on_v6"] = a;
               }},
              {"directory", [&](const YNode* y) {
                 Str v = absPathKey(w, y, "directory");
                 if (v.set) d.options["directory"] = v.v;
               }}});
    return true;
  }
  return false;
}

}  // namespace tend::spec
