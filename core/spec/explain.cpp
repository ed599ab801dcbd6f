// tendctl explain (explain.h).
#include "core/spec/explain.h"

#include "core/spec/derived.h"
#include "core/spec/loader.h"

#include <regex>

namespace tend::spec {

namespace {

std::string relName(const std::string& fqdn, const std::string& zone) {
  if (fqdn == zone) return "@";
  return fqdn.substr(0, fqdn.size() - zone.size() - 1);
}

SpecLoc pick(const SpecLoc& a, const SpecLoc& b) { return a.line > 0 ? a : b; }

void explainApp(const Spec& s, const DesiredGraph& g, const AppSpec& a, const std::string& onlyContainer,
                std::vector<ExplainItem>& out) {
  auto add = [&](std::string kind, std::string id, std::string field, std::string value, const SpecLoc& loc) {
    out.push_back({std::move(kind), std::move(id), std::move(field), std::move(value), loc});
  };
  const std::string& h = a.host.v;
  const VmSpec* vm = s.vm(h);
  const HostSpec* hs = s.host(h);
  SpecLoc addrLoc = vm ? pick(vm->ip.loc, vm->loc) : hs ? pick(hs->address.loc, hs->loc) : a.loc;
  if (onlyContainer.empty()) {
    add("app", "app/" + a.name, "host", h, pick(a.host.loc, a.loc));
    if (vm) {
      add("vm", "vm/" + h, "vmid", std::to_string(vm->vmid.v), pick(vm->vmid.loc, vm->loc));
      add("vm", "vm/" + h, "ip", vm->ip.v, addrLoc);
    }
    add("host", "host/" + h, "address", s.addressOf(h), addrLoc);
  }
  const std::string env = a.name;
  for (const auto& c : a.containers) {
    if (!onlyContainer.empty() && c.name != onlyContainer) continue;
    std::string cid = "container/" + a.name + "/" + c.name;
    const DesiredResource* r = g.find(cid);
    add("container", cid, "name", r ? r->spec.value("name", "") : c.name, pick(c.containerName.loc, c.loc));
    std::string image = r ? r->spec.value("image", "") : c.image.v;
    add("container", cid, "image", image, pick(c.image.loc, c.loc));
    add("image", "image/" + h + "/" + image, "ref", image, pick(c.image.loc, c.loc));
    for (size_t i = 0; i < c.ports.size(); ++i) {
      const auto& p = c.ports[i];
      add("container", cid, "ports/" + std::to_string(i),
          (p.hostIp.empty() ? "" : p.hostIp + ":") + std::to_string(p.published) + ":" + std::to_string(p.target) + "/" + p.protocol,
          pick(p.loc, c.loc));
    }
    if (r && r->spec.contains("volumes"))
      for (size_t i = 0; i < c.volumes.size() && i < r->spec["volumes"].size(); ++i) {
        const auto& v = r->spec["volumes"][i];
        add("container", cid, "volumes/" + std::to_string(i), v.value("source", "") + ":" + v.value("target", ""),
            pick(c.volumes[i].loc, c.loc));
      }
    for (const auto& [k, v] : c.environment) {
      std::string val = r && r->spec.contains("environment") ? r->spec["environment"].value(k, v.v) : v.v;
      add("container", cid, "environment." + k, val, pick(v.loc, c.loc));
    }
    if (c.restart.set) add("container", cid, "restart", c.restart.v, pick(c.restart.loc, c.loc));
    for (const auto& d : c.dependsOn) add("container", cid, "depends_on", "container/" + a.name + "/" + d.service.v, pick(d.service.loc, c.loc));
    if (c.healthcheck) {
      std::string t;
      for (const auto& x : c.healthcheck->test) t += (t.empty() ? "" : " ") + x;
      add("container", cid, "healthcheck", t, pick(c.healthcheck->testLoc, c.loc));
    }
    if (r && r->spec.contains("file_hashes"))
      for (const auto& [p, hsh] : r->spec["file_hashes"].items()) {
        // An app file: its entry; a derived file (the Caddyfile...): the mount that reads it.
        SpecLoc fl = c.loc;
        if (r->spec.contains("volumes") && r->spec["volumes"].is_array())
          for (size_t i = 0; i < r->spec["volumes"].size() && i < c.volumes.size(); ++i)
            if (r->spec["volumes"][i].value("source", "") == p) fl = pick(c.volumes[i].loc, c.loc);
        for (const auto& f : a.files)
          if (appFilePath(s, a, f.path.v) == p) fl = f.loc;
        add("container", cid, "file_hashes." + p, hsh.get<std::string>().substr(0, 12), fl);
      }
  }
  if (!onlyContainer.empty()) return;
  // Networks and volumes of the app.
  for (const auto& r : g.resources)
    if ((r.kind == "network" || r.kind == "volume") && r.spec.value("app", "") == a.name)
      add(r.kind, r.id, "name", r.spec.value("name", ""), SpecLoc{r.loc.file, r.loc.line, r.loc.col});
  (void)env;
  // DNS records, proxy route, dashboard card per expose entry.
  auto routes = proxyRoutes(s);
  for (const auto& e : a.expose) {
    if (!e.enabled) continue;
    std::string fqdn = e.name.v == "@" ? e.domain.v : e.name.v + "." + e.domain.v;
    SpecLoc eloc = pick(e.name.loc, e.loc);
    for (const auto& r : g.resources) {
      if (r.kind != "zone" || r.spec.value("zone", "") != e.domain.v) continue;
      std::string rel = relName(fqdn, e.domain.v);
      for (const auto& rec : r.spec["records"])
        if (rec.value("name", "") == rel && (rec.value("type", "") == "A" || rec.value("type", "") == "AAAA" || rec.value("type", "") == "CNAME"))
          add("dns", r.id, rec.value("type", "") + " " + fqdn, rec.value("value", ""), eloc);
    }
    for (const auto& rt : routes)
      if (rt.entry == &e) {
        add("proxy", fqdn, "backend", rt.backend, pick(e.port.loc, eloc));
        if (s.proxy.set) {
          std::string ph = s.proxy.host.set ? s.proxy.host.v : s.dns.reverseProxy.v;
          add("proxy", fqdn, "file", ph + ":" + (s.proxy.file.set ? s.proxy.file.v : "/etc/caddy/Caddyfile"),
              pick(s.proxy.file.loc, s.proxy.loc));
        }
      }
    if (s.dashboard.set && !e.homepageOff) {
      std::string name = e.homepage.contains("name") && e.homepage["name"].is_string() ? e.homepage["name"].get<std::string>() : e.name.v;
      std::string href = e.proxied ? "https://" + fqdn : "http://" + fqdn + ":" + std::to_string(e.port.v);
      add("dashboard", name, "href", href, e.homepageSet ? e.homepageLoc : eloc);
    }
  }
  // Scrape target of the app's host.
  if (s.monitoring.set) {
    bool excluded = false;
    for (const auto& x : s.monitoring.exclude) excluded |= x.v == h;
    if (!excluded)
      add("scrape", "node.json", "target",
          s.addressOf(h) + ":" + std::to_string(s.monitoring.nodeExporterPort.set ? s.monitoring.nodeExporterPort.v : 9100), addrLoc);
  }
  for (const auto& f : appFiles(s, a))
    add("file", "host/" + h, f.path, std::to_string(f.content.size()) + " bytes sha256:" + sha256Hex(f.content).substr(0, 12), f.loc);
}

}  // namespace

std::vector<ExplainItem> explain(const Spec& s, const DesiredGraph& g, const std::string& what) {
  std::vector<ExplainItem> out;
  if (const AppSpec* a = s.app(what)) {
    explainApp(s, g, *a, "", out);
    return out;
  }
  if (what.rfind("app/", 0) == 0) {
    if (const AppSpec* a = s.app(what.substr(4))) explainApp(s, g, *a, "", out);
    return out;
  }
  if (what.rfind("container/", 0) == 0) {
    std::string rest = what.substr(10);
    auto slash = rest.find('/');
    if (slash != std::string::npos)
      if (const AppSpec* a = s.app(rest.substr(0, slash))) explainApp(s, g, *a, rest.substr(slash + 1), out);
    if (!out.empty()) return out;
  }
  if (const DesiredResource* r = g.find(what)) {
    out.push_back({r->kind, r->id, "provider", r->provider, SpecLoc{r->loc.file, r->loc.line, r->loc.col}});
    for (const auto& [f, l] : r->fieldLocs) {
      std::string v;
      const nlohmann::json* p = &r->spec;
      std::string key = f.substr(0, f.find('/'));
      if (p->contains(key)) v = (*p)[key].dump();
      out.push_back({r->kind, r->id, f, v, SpecLoc{l.file, l.line, l.col}});
    }
    for (const auto& d : r->dependsOn) out.push_back({r->kind, r->id, "depends_on", d, SpecLoc{r->loc.file, r->loc.line, r->loc.col}});
  }
  return out;
}

nlohmann::json explainJson(const std::vector<ExplainItem>& items) {
  static const std::regex secretRef(R"(\$\{secret:[^}]*\})");
  nlohmann::json a = nlohmann::json::array();
  for (const auto& i : items)
    a.push_back({{"kind", i.kind},
                 {"id", i.id},
                 {"field", i.field},
                 {"value", std::regex_replace(i.value, secretRef, "(secret)")},
                 {"source", {{"file", i.source.file}, {"line", i.source.line}, {"col", i.source.col}}}});
  return a;
}

}  // namespace tend::spec
