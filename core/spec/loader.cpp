// Stage 1 of loading: YAML trees into the typed model. Only shapes are checked here (keys,
// types, value syntax); references between files are checked by validate.cpp.
#include "core/spec/loader.h"

#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/spec/compose.h"
#include "core/spec/host_items_spec.h"
#include "core/spec/compose_env.h"
#include "core/spec/walker.h"

namespace tend::spec {

namespace {

// A provider's `providers.NAME` section, read by the keys it registered: values kept as JSON.
void readSchema(Walker& w, const YNode* v, const std::string& ctx, const std::vector<ConfigKey>& keys,
                nlohmann::json& out, std::map<std::string, Str>& strings, const std::string& prefix) {
  if (!w.needMap(v, prefix.empty() ? ctx : prefix)) return;
  for (const auto& [k, x] : v->pairs) {
    const ConfigKey* key = nullptr;
    for (const ConfigKey& kk : keys)
      if (k->value == kk.name) key = &kk;
    if (!key) {
      w.err(k, "unknown key '" + k->value + "' in " + ctx);
      continue;
    }
    std::string dotted = prefix.empty() ? k->value : prefix + "." + k->value;
    switch (key->type) {
      case ConfigKey::Type::String:
      case ConfigKey::Type::Path: {
        Str s = w.str(x, k->value);
        if (!s.set) break;
        out[k->value] = s.v;
        strings[(key->type == ConfigKey::Type::Path ? "path:" : "") + dotted] = s;
        break;
      }
      case ConfigKey::Type::Integer: {
        auto n = w.integer(x, k->value);
        if (n.set) out[k->value] = n.v;
        break;
      }
      case ConfigKey::Type::Boolean: {
        auto b = w.boolean(x, k->value);
        if (b.set) out[k->value] = b.v;
        break;
      }
      case ConfigKey::Type::Duration: {
        auto d = w.durationS(x, k->value);
        if (d.set) out[k->value + "_s"] = d.v;
        break;
      }
      case ConfigKey::Type::StringList: {
        nlohmann::json a = nlohmann::json::array();
        for (auto& s : w.strList(x, k->value)) a.push_back(s.v);
        out[k->value] = a;
        break;
      }
      case ConfigKey::Type::Map: {
        nlohmann::json sub = nlohmann::json::object();
        readSchema(w, x, ctx + "." + k->value, key->keys, sub, strings, dotted);
        out[k->value] = sub;
        break;
      }
    }
  }
}

void readServiceEntry(Walker& w, const YNode* v, bool isExpose, const std::string& app,
                      std::vector<ServiceEntry>& out) {
  ServiceEntry e;
  e.loc = w.loc(v);
  e.app = app;
  std::string ctx = isExpose ? "expose entry of app '" + app + "'" : "service";
  if (!w.needMap(v, isExpose ? "expose entry" : "services entry")) return;
  for (const auto& [k, x] : v->pairs)
    if (k->value == "name" && x->isScalar()) ctx = isExpose ? ctx : "service '" + x->value + "'";
  bool ok = true;
  w.fields(
      v, ctx,
      {{"name", [&](const YNode* x) { e.name = w.str(x, "name"); }},
       {"domain", [&](const YNode* x) { e.domain = w.str(x, "domain"); }},
       {"proxied", [&](const YNode* x) { e.proxied = w.boolean(x, "proxied").v; }},
       {"dns", [&](const YNode* x) {
          Str s = w.str(x, "dns");
          if (s.set && s.v != "internal" && s.v != "external" && s.v != "both") {
            w.err(x, "'dns' must be internal, external or both, got '" + s.v + "'");
            ok = false;
          }
          if (s.set) e.dns = s.v;
        }},
       {"enabled", [&](const YNode* x) {
          auto b = w.boolean(x, "enabled");
          e.enabled = b.set ? b.v : true;
        }},
       {"tls_skip_verify", [&](const YNode* x) { e.tlsSkipVerify = w.boolean(x, "tls_skip_verify").v; }},
       {"forward_headers", [&](const YNode* x) { e.forwardHeaders = w.boolean(x, "forward_headers").v; }},
       {"host_header", [&](const YNode* x) { e.hostHeader = w.str(x, "host_header").v; }},
       {"encode", [&](const YNode* x) { e.encode = w.str(x, "encode").v; }},
       {"read_buffer", [&](const YNode* x) { e.readBuffer = w.integer(x, "read_buffer", 0).v; }}},
      [&](const YNode* k, const YNode* x) {
        if (isExpose && k->value == "port") {
          e.port = w.integer(x, "port", 1, 65535);
          return true;
        }
        if (k->value == "homepage") {
          readHomepage(w, x, e);
          return true;
        }
        if (!isExpose && k->value == "backend") {
          e.backend = w.str(x, "backend");
          return true;
        }
        return false;
      });
  if (!e.name.set) w.err(v, ctx + " is missing required key 'name'"), ok = false;
  if (!e.domain.set) w.err(v, ctx + " is missing required key 'domain'"), ok = false;
  if (isExpose && !e.port.set && ok) {
    bool had = false;
    for (const auto& [k, x] : v->pairs) had |= k->value == "port";
    if (!had) w.err(v, ctx + " is missing required key 'port'"), ok = false;
  }
  if (!isExpose && !e.backend.set) {
    bool had = false;
    for (const auto& [k, x] : v->pairs) had |= k->value == "backend";
    if (!had) w.err(v, ctx + " is missing required key 'backend'"), ok = false;
  }
  if (ok) out.push_back(std::move(e));
}

void readDns(Walker& w, const YNode* v, Spec& s) {
  if (!w.needMap(v, "dns")) return;
  DnsSpec& d = s.dns;
  d.set = true;
  d.loc = w.loc(v);
  w.fields(
      v, "dns",
      {{"domains", [&](const YNode* x) { d.domains = w.strList(x, "domains"); }},
       {"reverse_proxy", [&](const YNode* x) { d.reverseProxy = w.str(x, "reverse_proxy"); }},
       {"forwarders", [&](const YNode* x) { d.forwarders = w.strList(x, "forwarders"); }},
       {"trusted", [&](const YNode* x) { d.trusted = w.strList(x, "trusted"); }},
       {"reverse_zones", [&](const YNode* x) { d.reverseZones = w.strList(x, "reverse_zones"); }},
       {"transfer_clients", [&](const YNode* x) { d.transferClients = w.strList(x, "transfer_clients"); }},
       {"ttl", [&](const YNode* x) { d.ttl = w.integer(x, "ttl", 1, 2147483647); }},
       {"views", [&](const YNode* x) {
          w.entries(x, "views", [&](const YNode* k, const YNode* vv) {
            DnsView view;
            view.name = k->value;
            view.loc = w.loc(k);
            w.checkName(k, "dns view");
            if (!w.needMap(vv, k->value)) return;
            w.fields(vv, "dns view '" + view.name + "'",
                     {{"match_clients", [&](const YNode* y) { view.matchClients = w.strList(y, "match_clients"); }},
                      {"address", [&](const YNode* y) { view.address = w.str(y, "address"); }}});
            d.views.push_back(std::move(view));
          });
        }},
       {"secondary_zones", [&](const YNode* x) {
          if (!w.needSeq(x, "secondary_zones")) return;
          for (const YNode* it : x->items) {
            if (!w.needMap(it, "secondary_zones entry")) continue;
            SecondaryZone z;
            w.fields(it, "secondary zone",
                     {{"name", [&](const YNode* y) { z.name = w.str(y, "name"); }},
                      {"primaries", [&](const YNode* y) { z.primaries = w.strList(y, "primaries"); }}});
            if (!z.name.set) w.err(it, "secondary zone is missing required key 'name'");
            else if (z.primaries.empty()) w.err(it, "secondary zone '" + z.name.v + "' needs 'primaries'");
            else d.secondaryZones.push_back(std::move(z));
          }
        }},
       {"records", [&](const YNode* x) {
          if (!w.needSeq(x, "records")) return;
          for (const YNode* it : x->items) {
            if (!w.needMap(it, "records entry")) continue;
            DnsRecord r;
            r.loc = w.loc(it);
            w.fields(it, "dns record",
                     {{"name", [&](const YNode* y) { r.name = w.str(y, "name"); }},
                      {"domain", [&](const YNode* y) { r.domain = w.str(y, "domain"); }},
                      {"type", [&](const YNode* y) { r.type = w.str(y, "type"); }},
                      {"value", [&](const YNode* y) { r.value = w.str(y, "value"); }},
                      {"view", [&](const YNode* y) { r.view = w.str(y, "view"); }},
                      {"ttl", [&](const YNode* y) { r.ttl = w.integer(y, "ttl", 1, 2147483647); }}});
            bool ok = true;
            for (auto [have, key] : {std::pair{r.name.set, "name"}, {r.domain.set, "domain"},
                                     {r.type.set, "type"}, {r.value.set, "value"}}) {
              if (!have) {
                bool present = false;
                for (const auto& [k, y] : it->pairs) present |= k->value == key;
                if (!present) w.err(it, std::string("dns record is missing required key '") + key + "'");
                ok = false;
              }
            }
            if (ok) d.records.push_back(std::move(r));
          }
        }}},
      [&](const YNode* k, const YNode* x) { return readDnsExtra(w, k, x, d); });
}

}  // namespace

void readEnvironment(const YDoc& doc, Spec& s, Diagnostics& diags, const ProviderRegistry& providers) {
  Walker w(doc.file, diags);
  if (!doc.root || doc.root->isNull()) {
    w.err(nullptr, "environment.yml is empty: it needs at least 'environment: NAME'");
    return;
  }
  if (!doc.root->isMap()) {
    w.typeErr(doc.root, "environment.yml", "a mapping", true);
    return;
  }
  w.fields(
      doc.root, "environment.yml",
      {{"environment", [&](const YNode* x) { s.environment = w.str(x, "environment"); }},
       {"timezone", [&](const YNode* x) { s.timezone = w.str(x, "timezone"); }},
       {"deploy_path", [&](const YNode* x) {
          s.deployPath = w.str(x, "deploy_path");
          if (s.deployPath.set && (s.deployPath.v.empty() || s.deployPath.v[0] != '/'))
            w.err(x, "'deploy_path' must be an absolute path");
        }},
       {"network", [&](const YNode* x) {
          if (!w.needMap(x, "network")) return;
          w.fields(x, "network",
                   {{"cidr", [&](const YNode* y) { s.cidr = w.str(y, "cidr"); }},
                    {"gateway", [&](const YNode* y) { s.gateway = w.str(y, "gateway"); }},
                    {"nameservers", [&](const YNode* y) { s.nameservers = w.strList(y, "nameservers"); }}});
        }},
       {"reconcile", [&](const YNode* x) {
          if (!w.needMap(x, "reconcile")) return;
          w.fields(x, "reconcile",
                   {{"interval", [&](const YNode* y) {
                      s.intervalS = w.durationS(y, "interval");
                      if (s.intervalS.set && s.intervalS.v < 1) {
                        w.err(y, "'interval' must be at least 1s");
                        s.intervalS.set = false;
                      }
                    }},
                    {"prune", [&](const YNode* y) { s.prune = w.boolean(y, "prune"); }},
                    {"parallelism", [&](const YNode* y) {
                       if (!w.needMap(y, "parallelism")) return;
                       for (const auto& [k, n] : y->pairs) {
                         if (!providers.has(k->value)) {
                           w.err(k, "unknown key '" + k->value + "' in reconcile.parallelism");
                           continue;
                         }
                         if (n->isMap()) {
                           // {total: N, <class>: N}: the provider-wide limit and per-key limits
                           // of a class the provider names (host, node, vm).
                           for (const auto& [ck, cn] : n->pairs) {
                             std::string key = ck->value == "total" ? k->value : k->value + "/" + ck->value;
                             s.parallelism[key] = w.integer(cn, ck->value, 1, 1024);
                           }
                           continue;
                         }
                         s.parallelism[k->value] = w.integer(n, k->value, 1, 1024);
                       }
                     }},
                    {"call_timeout", [&](const YNode* y) {
                       // The deadline of one call of a provider (an observe, a plan, an apply).
                       if (!w.needMap(y, "call_timeout")) return;
                       for (const auto& [k, n] : y->pairs) {
                         if (!providers.has(k->value)) {
                           w.err(k, "unknown key '" + k->value + "' in reconcile.call_timeout");
                           continue;
                         }
                         auto d = w.durationS(n, k->value);
                         if (d.set && d.v < 1) {
                           w.err(n, "reconcile.call_timeout." + k->value + " must be at least 1s");
                           continue;
                         }
                         s.callTimeoutS[k->value] = d;
                       }
                     }}});
        }},
       {"tiers", [&](const YNode* x) {
          if (!w.needSeq(x, "tiers")) return;
          for (const YNode* it : x->items) {
            Tier t;
            if (it->isScalar()) t.names.push_back(w.str(it, "tiers entry"));
            else if (it->isSeq()) t.names = w.strList(it, "tiers entry");
            else w.typeErr(it, "tiers entry", "a name or a list of names");
            if (!t.names.empty()) s.tiers.push_back(std::move(t));
          }
        }},
       {"providers", [&](const YNode* x) {
          if (!w.needMap(x, "providers")) return;
          for (const auto& [k, pv] : x->pairs) {
            const ProviderRegistration* reg = providers.find(k->value);
            if (!reg) {
              std::string known;
              for (const auto& r : providers.all()) known += (known.empty() ? "" : ", ") + r.name;
              w.err(k, "unknown key '" + k->value + "' in providers (" +
                           (known.empty() ? std::string("no provider is registered") : known) + ")");
              continue;
            }
            ProviderSpec p;
            p.name = k->value;
            p.loc = w.loc(k);
            if (pv->isNull()) {
              s.providers[p.name] = std::move(p);
              continue;
            }
            readSchema(w, pv, "providers." + k->value, reg->config, p.config, p.strings, "");
            s.providers[p.name] = std::move(p);
          }
        }},
       {"secrets", [&](const YNode* x) {
          if (!w.needMap(x, "secrets")) return;
          w.fields(x, "secrets", {{"file", [&](const YNode* y) { s.secretsFile = w.str(y, "file"); }}});
        }},
       {"templates", [&](const YNode* x) {
          w.entries(x, "templates", [&](const YNode* k, const YNode* tv) {
            TemplateSpec t;
            t.name = k->value;
            t.loc = w.loc(k);
            w.checkName(k, "template");
            if (!w.needMap(tv, t.name)) return;
            std::string ctx = "template '" + t.name + "'";
            w.fields(tv, ctx,
                     {{"vmid", [&](const YNode* y) { t.vmid = w.integer(y, "vmid", 100, 999999999); }},
                      {"image_url", [&](const YNode* y) { t.imageUrl = w.str(y, "image_url"); }},
                      {"sha256", [&](const YNode* y) { t.sha256 = w.str(y, "sha256"); }},
                      {"cores", [&](const YNode* y) { t.cores = w.integer(y, "cores", 1, 1024); }},
                      {"memory", [&](const YNode* y) { t.memory = w.integer(y, "memory", 16); }},
                      {"disk", [&](const YNode* y) {
                         t.disk = w.str(y, "disk");
                         int64_t b = 0;
                         if (t.disk.set && !parseSize(t.disk.v, b)) w.err(y, "invalid size '" + t.disk.v + "' for 'disk' (use e.g. 512M, 50G)");
                       }}});
            if (!t.vmid.set && !std::any_of(tv->pairs.begin(), tv->pairs.end(), [](auto& p) { return p.first->value == "vmid"; }))
              w.err(k, ctx + " is missing required key 'vmid'");
            s.templates.push_back(std::move(t));
          });
        }},
       {"dns", [&](const YNode* x) { readDns(w, x, s); }},
       {"proxy", [&](const YNode* x) { readProxy(w, x, s); }},
       {"dashboard", [&](const YNode* x) { readDashboard(w, x, s); }},
       {"monitoring", [&](const YNode* x) { readMonitoring(w, x, s); }},
       {"services", [&](const YNode* x) {
          if (!w.needSeq(x, "services")) return;
          for (const YNode* it : x->items) readServiceEntry(w, it, false, "", s.services);
        }}});
  if (!s.environment.set &&
      !std::any_of(doc.root->pairs.begin(), doc.root->pairs.end(), [](auto& p) { return p.first->value == "environment"; }))
    w.err(doc.root, "environment.yml is missing required key 'environment'");
}

void readHosts(const YDoc& doc, Spec& s, Diagnostics& diags) {
  Walker w(doc.file, diags);
  if (!doc.root || doc.root->isNull()) return;
  if (!doc.root->isMap()) {
    w.typeErr(doc.root, "hosts.yml", "a mapping", true);
    return;
  }
  auto sizeStr = [&](const YNode* y, const char* key, Str& dst) {
    dst = w.str(y, key);
    int64_t b = 0;
    if (dst.set && !parseSize(dst.v, b)) {
      w.err(y, "invalid size '" + dst.v + "' for '" + key + "' (use e.g. 512M, 50G)");
      dst.set = false;
    }
  };
  w.fields(
      doc.root, "hosts.yml",
      {{"vms", [&](const YNode* x) {
          if (x->isNull()) return;
          w.entries(x, "vms", [&](const YNode* k, const YNode* vv) {
            VmSpec vm;
            vm.name = k->value;
            vm.loc = w.loc(k);
            w.checkName(k, "vm");
            if (!w.needMap(vv, vm.name)) return;
            std::string ctx = "vm '" + vm.name + "'";
            w.fields(vv, ctx,
                     {{"vmid", [&](const YNode* y) { vm.vmid = w.integer(y, "vmid", 100, 999999999); }},
                      {"template", [&](const YNode* y) { vm.templ = w.str(y, "template"); }},
                      {"ip", [&](const YNode* y) { vm.ip = w.str(y, "ip"); }},
                      {"cores", [&](const YNode* y) { vm.cores = w.integer(y, "cores", 1, 1024); }},
                      {"memory", [&](const YNode* y) { vm.memory = w.integer(y, "memory", 16); }},
                      {"disk", [&](const YNode* y) { sizeStr(y, "disk", vm.disk); }},
                      {"tags", [&](const YNode* y) { vm.tags = w.strList(y, "tags"); }},
                      {"tier", [&](const YNode* y) { vm.tier = w.str(y, "tier"); }},
                      {"groups", [&](const YNode* y) { vm.groups = w.strList(y, "groups"); }},
                      {"dns_name", [&](const YNode* y) { vm.dnsName = w.str(y, "dns_name"); }},
                      {"nameservers", [&](const YNode* y) { vm.nameservers = w.strList(y, "nameservers"); }},
                      {"ssh_port", [&](const YNode* y) { vm.sshPort = w.integer(y, "ssh_port", 1, 65535); }},
                      {"onboot", [&](const YNode* y) { vm.onboot = w.boolean(y, "onboot"); }},
                      {"description", [&](const YNode* y) {
                         vm.description = w.str(y, "description");
                         if (vm.description.v.size() > 7000)
                           w.err(y, ctx + ": description is longer than 7000 characters (Proxmox keeps 8192, tend adds its mark)");
                         if (vm.description.v.find("tend: io.tend.") != std::string::npos)
                           w.err(y, ctx + ": description must not contain tend's ownership mark");
                       }},
                      {"ciuser", [&](const YNode* y) {
                         vm.ciuser = w.str(y, "ciuser");
                         if (vm.ciuser.set && (vm.ciuser.v.empty() || vm.ciuser.v.find_first_of(" :\t\n/") != std::string::npos))
                           w.err(y, ctx + ": invalid ciuser '" + printable(vm.ciuser.v) + "'");
                       }},
                      {"ssh_keys", [&](const YNode* y) {
                         vm.sshKeys = w.strList(y, "ssh_keys");
                         vm.sshKeysSet = true;
                         for (const auto& k : vm.sshKeys)
                           if (k.v.rfind("ssh-", 0) != 0 && k.v.rfind("ecdsa-", 0) != 0 && k.v.rfind("sk-", 0) != 0 &&
                               k.v.find("${secret:") == std::string::npos)
                             w.err(y, ctx + ": ssh_keys entries must be public keys (ssh-ed25519 AAAA…)");
                       }},
                      {"searchdomain", [&](const YNode* y) { vm.searchdomain = w.str(y, "searchdomain"); }},
                      {"restart", [&](const YNode* y) {
                         vm.restart = w.str(y, "restart");
                         if (vm.restart.set && vm.restart.v != "auto" && vm.restart.v != "manual")
                           w.err(y, ctx + ": restart must be auto or manual, got '" + printable(vm.restart.v) + "'");
                       }}});
            for (const char* req : {"vmid", "template", "ip"}) {
              if (!std::any_of(vv->pairs.begin(), vv->pairs.end(), [&](auto& p) { return p.first->value == req; }))
                w.err(k, ctx + " is missing required key '" + req + "'");
            }
            s.vms.push_back(std::move(vm));
          });
        }},
       {"hosts", [&](const YNode* x) {
          if (x->isNull()) return;
          w.entries(x, "hosts", [&](const YNode* k, const YNode* hv) {
            HostSpec h;
            h.name = k->value;
            h.loc = w.loc(k);
            w.checkName(k, "host");
            if (!w.needMap(hv, h.name)) return;
            std::string ctx = "host '" + h.name + "'";
            w.fields(hv, ctx,
                     {{"address", [&](const YNode* y) { h.address = w.str(y, "address"); }},
                      {"ssh_port", [&](const YNode* y) { h.sshPort = w.integer(y, "ssh_port", 1, 65535); }},
                      {"groups", [&](const YNode* y) { h.groups = w.strList(y, "groups"); }},
                      {"tier", [&](const YNode* y) { h.tier = w.str(y, "tier"); }},
                      {"dns_name", [&](const YNode* y) { h.dnsName = w.str(y, "dns_name"); }}});
            if (!std::any_of(hv->pairs.begin(), hv->pairs.end(), [&](auto& p) { return p.first->value == "address"; }))
              w.err(k, ctx + " is missing required key 'address'");
            s.hosts.push_back(std::move(h));
          });
        }},
       {"groups", [&](const YNode* x) {
          if (x->isNull()) return;
          w.entries(x, "groups", [&](const YNode* k, const YNode* gv) {
            GroupSpec g;
            g.name = k->value;
            g.loc = w.loc(k);
            if (gv->isNull()) {
              s.groups.push_back(std::move(g));
              return;
            }
            if (!w.needMap(gv, g.name)) return;
            std::string ctx = "group '" + g.name + "'";
            w.fields(
                gv, ctx,
                {{"packages", [&](const YNode* y) { readGroupPackages(w, y, g); }},
                 {"directories", [&](const YNode* y) { readGroupHostItem(w, "directories", y, g, ctx); }},
                 {"users", [&](const YNode* y) { readGroupHostItem(w, "users", y, g, ctx); }},
                 {"unix_groups", [&](const YNode* y) { readGroupHostItem(w, "unix_groups", y, g, ctx); }},
                 {"mounts", [&](const YNode* y) { readGroupHostItem(w, "mounts", y, g, ctx); }},
                 {"sysctl", [&](const YNode* y) { readGroupHostItem(w, "sysctl", y, g, ctx); }},
                 {"timezone", [&](const YNode* y) { readGroupHostItem(w, "timezone", y, g, ctx); }},
                 {"commands", [&](const YNode* y) { readGroupHostItem(w, "commands", y, g, ctx); }},
                 {"timers", [&](const YNode* y) { readGroupHostItem(w, "timers", y, g, ctx); }},
                 {"services", [&](const YNode* y) {
                    w.entries(y, "services", [&](const YNode* sk, const YNode* sv) {
                      nlohmann::json svc = {{"enabled", true}, {"state", "started"}};
                      if (sv->isMap()) {
                        w.fields(sv, "service '" + sk->value + "' of " + ctx,
                                 {{"enabled", [&](const YNode* z) { svc["enabled"] = w.boolean(z, "enabled").v; }},
                                  {"state", [&](const YNode* z) {
                                     Str st = w.str(z, "state");
                                     if (st.set && st.v != "started" && st.v != "stopped" && st.v != "restarted")
                                       w.err(z, "'state' must be started, stopped or restarted, got '" + st.v + "'");
                                     svc["state"] = st.v;
                                   }}});
                      } else if (!sv->isNull()) {
                        w.typeErr(sv, sk->value, "a mapping");
                      }
                      g.services[sk->value] = svc;
                    });
                  }},
                 {"files", [&](const YNode* y) {
                    w.entries(y, "files", [&](const YNode* fk, const YNode* fv) {
                      std::string fctx = "file '" + fk->value + "' of " + ctx;
                      if (fk->value.empty() || fk->value[0] != '/') w.err(fk, "file path '" + fk->value + "' must be absolute");
                      if (!w.needMap(fv, fk->value)) return;
                      nlohmann::json f = {{"mode", "0644"}, {"owner", "root"}, {"group", "root"}};
                      bool hasContent = false;
                      FileTemplateCtx tf{w, s.absDir, fk->value, fctx, f, g, hasContent};
                      w.fields(fv, fctx,
                               {{"content", [&](const YNode* z) {
                                  Str c = w.str(z, "content");
                                  if (hasContent) w.err(z, fctx + ": use one of 'content', 'source' or 'template'");
                                  hasContent = true;
                                  f["content"] = c.v;
                                  g.fileContents.emplace_back(fk->value, c);
                                }},
                                {"template", [&tf](const YNode* z) { readFileTemplate(tf, z); }},
                                {"mark", [&](const YNode* z) { f["mark"] = w.boolean(z, "mark").v; }},
                                {"source", [&](const YNode* z) {
                                   if (hasContent) w.err(z, fctx + ": use one of 'content', 'source' or 'template'");
                                   hasContent = true;
                                   Str src = w.str(z, "source");
                                   f["source"] = src.v;
                                   // Copied to hosts from the tend host: only from inside the spec.
                                   std::string why = src.set ? confinePath(s.absDir, s.absDir, src.v).error : "";
                                   if (!why.empty()) w.err(z, "source '" + src.v + "': " + why);
                                 }},
                                {"mode", [&](const YNode* z) {
                                   Str m = w.str(z, "mode");
                                   bool ok = m.set && m.v.size() >= 3 && m.v.size() <= 4 &&
                                             m.v.find_first_not_of("01234567") == std::string::npos;
                                   if (m.set && !ok) w.err(z, "'mode' must be an octal string like \"0644\", got '" + m.v + "'");
                                   f["mode"] = m.v;
                                 }},
                                {"owner", [&](const YNode* z) { f["owner"] = w.str(z, "owner").v; }},
                                {"group", [&](const YNode* z) { f["group"] = w.str(z, "group").v; }},
                                {"on_change", [&](const YNode* z) {
                                   if (!w.needMap(z, "on_change")) return;
                                   nlohmann::json oc = nlohmann::json::object();
                                   w.fields(z, "on_change of " + fctx,
                                            {{"restart", [&](const YNode* q) { oc["restart"] = w.str(q, "restart").v; }},
                                             {"reload", [&](const YNode* q) { oc["reload"] = w.str(q, "reload").v; }}});
                                   f["on_change"] = oc;
                                 }}});
                      if (!hasContent) w.err(fk, fctx + " needs 'content', 'source' or 'template'");
                      g.files[fk->value] = f;
                    });
                  }}});
            s.groups.push_back(std::move(g));
          });
        }}});
}

namespace {

// The variables of inline containers: the process environment, then `.env` in the spec dir.
std::unique_ptr<ComposeVars> specComposeVars(const Spec& s, Diagnostics& diags) {
  auto v = std::make_unique<ComposeVars>();
  std::string text, why;
  bool missing = false;
  if (!readComposeText(s.absDir, s.absDir, ".env", text, why, missing)) {
    if (!missing) diags.push_back({Severity::Error, {joinPath(s.dir, ".env"), 1, 1}, "cannot read .env: " + why});
    return v;
  }
  std::vector<std::pair<std::string, std::string>> kv;
  std::string err;
  auto lookup = [](const std::string& n) -> std::optional<std::string> {
    if (const char* x = std::getenv(n.c_str())) return std::string(x);
    return std::nullopt;
  };
  if (!parseDotenv(text, lookup, kv, err)) {
    diags.push_back({Severity::Error, {joinPath(s.dir, ".env"), 1, 1}, ".env: " + err});
    return v;
  }
  for (auto& [k, x] : kv) v->set(k, x);
  return v;
}

}  // namespace

// An app's own `secrets:` / `configs:` (for its inline containers; a Compose file has its own).
static void readAppFileObjects(Walker& w, const YNode* y, bool secret, const Spec& s, AppSpec& a) {
  Diagnostics envDiags;  // a bad .env is reported once, by the containers that read it
  std::unique_ptr<ComposeVars> vars = specComposeVars(s, envDiags);
  std::error_code ec;
  std::string dotenv = (std::filesystem::path(s.absDir) / ".env").string();
  if (!std::filesystem::is_regular_file(dotenv, ec)) dotenv.clear();
  readFileObjects(w, y, secret, s.absDir, s.absDir, vars.get(), dotenv, secret ? a.secrets : a.configs);
}

void readApp(Walker& w, const YNode* k, const YNode* av, Spec& s, Diagnostics& diags) {
  AppSpec a;
  a.name = k->value;
  a.loc = w.loc(k);
  w.checkName(k, "app");
  if (!w.needMap(av, a.name)) return;
  std::string ctx = "app '" + a.name + "'";
  bool hasContainers = false;
  w.fields(av, ctx,
           {{"host", [&](const YNode* y) { a.host = w.str(y, "host"); }},
            {"tier", [&](const YNode* y) { a.tier = w.str(y, "tier"); }},
            {"expose", [&](const YNode* y) {
               if (!w.needSeq(y, "expose")) return;
               for (const YNode* it : y->items) readServiceEntry(w, it, true, a.name, a.expose);
             }},
            {"containers", [&](const YNode* y) {
               hasContainers = true;
               // Exact capacity: a ContainerSpec is large and a spec may hold thousands.
               if (y->isMap()) a.containers.reserve(a.containers.size() + y->pairs.size());
               // Inline containers are Compose services: interpolated the same way (the
               // process environment, then a `.env` in the spec directory).
               std::unique_ptr<ComposeVars> varsOwn = specComposeVars(s, diags);
               const ComposeVars* vars = varsOwn.get();
               std::deque<YNode> arena;
               w.entries(y, "containers", [&](const YNode* ck, const YNode* cv) {
                 ContainerSpec c;
                 const YNode* iv = interpolateTree(cv, *vars, arena, w.file(), diags);
                 readContainer(w, ck, iv, s.absDir, s.absDir, c, vars);
                 a.containers.push_back(std::move(c));
               });
             }},
            {"volumes", [&](const YNode* y) { readNamedVolumes(w, y, a.volumes); }},
            {"networks", [&](const YNode* y) { readNamedNetworks(w, y, a.networks); }},
            {"secrets", [&](const YNode* y) { readAppFileObjects(w, y, true, s, a); }},
            {"configs", [&](const YNode* y) { readAppFileObjects(w, y, false, s, a); }},
            {"compose", [&](const YNode* y) {
               if (y->isSeq()) {
                 a.composeFiles = w.strList(y, "compose");
                 if (a.composeFiles.empty()) w.err(y, "'compose' needs at least one file");
               } else {
                 Str one = w.str(y, "compose");
                 if (one.set) a.composeFiles.push_back(one);
               }
               if (!a.composeFiles.empty()) a.compose = a.composeFiles.front();
             }},
            {"profiles", [&](const YNode* y) { a.profiles = w.strOrList(y, "profiles"); }},
            {"depends_on", [&](const YNode* y) { a.dependsOn = w.strList(y, "depends_on"); }},
            {"files", [&](const YNode* y) { readAppFiles(w, y, a, s); }}});
  if (!std::any_of(av->pairs.begin(), av->pairs.end(), [&](auto& p) { return p.first->value == "host"; }))
    w.err(k, ctx + " is missing required key 'host'");
  if (hasContainers && a.compose.set) w.err(k, ctx + " has both 'containers' and 'compose': use one");
  else if (!hasContainers && !a.compose.set &&
           !std::any_of(av->pairs.begin(), av->pairs.end(), [&](auto& p) { return p.first->value == "compose"; }))
    w.err(k, ctx + " needs 'containers' or 'compose'");
  if (!a.composeFiles.empty()) {
    std::vector<Str> files;
    for (const auto& f : a.composeFiles)
      if (!f.v.empty()) files.push_back(f);
    std::vector<std::string> shown;
    readComposeProject(files, s.absDir, s.dir, a, diags, shown);
    for (auto& f : shown) s.files.push_back(f);
  }
  s.apps.push_back(std::move(a));
}

void readApps(const YDoc& doc, Spec& s, Diagnostics& diags, const std::vector<const YNode*>* alreadyRead) {
  Walker w(doc.file, diags);
  if (!doc.root || doc.root->isNull()) return;
  if (!doc.root->isMap()) {
    w.typeErr(doc.root, "apps.yml", "a mapping", true);
    return;
  }
  size_t skip = 0;  // position in alreadyRead: its keys come in file order
  w.fields(doc.root, "apps.yml", {{"apps", [&](const YNode* x) {
    if (x->isNull()) return;
    if (x->isMap()) s.apps.reserve(s.apps.size() + x->pairs.size());
    w.entries(x, "apps", [&](const YNode* k, const YNode* av) {
      if (alreadyRead && skip < alreadyRead->size() && (*alreadyRead)[skip] == k) {
        ++skip;
        return;
      }
      readApp(w, k, av, s, diags);
    });
  }}});
}

bool readSopsKeyNames(const std::string& path, std::vector<std::string>& out, std::string& err) {
  Diagnostics d;
  bool missing = false;
  auto doc = readYamlFile(path, path, d, true, &missing);
  if (missing) {
    err = "not found";
    return false;
  }
  if (!doc) {
    if (d.empty()) err = "cannot read";
    else if (d.front().loc.line <= 0) err = d.front().message;
    else err = "line " + std::to_string(d.front().loc.line) + ", column " + std::to_string(d.front().loc.col) + ": " + d.front().message;
    return false;
  }
  if (!doc->root || !doc->root->isMap()) return true;
  std::function<void(const YNode*, const std::string&)> walk = [&](const YNode* m, const std::string& prefix) {
    for (const auto& [k, v] : m->pairs) {
      if (prefix.empty() && k->value == "sops") continue;
      std::string name = prefix.empty() ? k->value : prefix + "." + k->value;
      out.push_back(name);
      if (v->isMap()) walk(v, name);
    }
  };
  walk(doc->root, "");
  return true;
}

}  // namespace tend::spec
