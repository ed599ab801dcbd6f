#pragma once
// Desired zone/dnsconf resources derived from the `wil` example (all five domains + the
// reverse zone), built by hand following docs/resources.md until spec expansion lands.
// The 10.2.20.x values are DNS data only: nothing ever contacts them. Every address named
// would talk to (forwarders, primaries, notify targets) is on 127.0.0.0/8.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/provider.h"
#include "providers/bind9/render.h"

namespace tend::testing {

using nlohmann::json;

inline json rec(const std::string& name, const std::string& type, json value, json ttl = nullptr) {
  return {{"name", name}, {"type", type}, {"value", std::move(value)}, {"ttl", std::move(ttl)}};
}

inline DesiredResource makeResource(const std::string& id, const std::string& kind, json spec) {
  DesiredResource d;
  d.id = id;
  d.kind = kind;
  d.provider = "bind9";
  d.host = "local";
  d.spec = std::move(spec);
  d.hash = bind9::sha256Hex(d.spec.dump());
  return d;
}

inline void rehash(DesiredResource& d) { d.hash = bind9::sha256Hex(d.spec.dump()); }

struct WilDns {
  std::string confDir;
  std::string rndcServer = "127.0.0.1";
  int rndcPort = 0;
  std::string keyFile;
  // zone -> view -> records
  std::map<std::string, std::map<std::string, json>> records;
  std::vector<std::string> domains{"5am.video", "5am.cloud", "wil.5am.cloud", "ext.5am.cloud",
                                   "sfc.al"};
  std::string reverse = "20.2.10.in-addr.arpa";

  WilDns() {
    const std::string proxy = "10.2.20.53", pub = "203.0.113.10";
    for (const auto& d : domains) {
      records[d]["internal"] =
          json::array({rec("@", "NS", "ns." + d + "."), rec("ns", "A", proxy)});
      records[d]["external"] = json::array({rec("@", "NS", "ns." + d + "."), rec("ns", "A", pub)});
    }
    auto& wi = records["wil.5am.cloud"]["internal"];
    for (auto [n, ip] :
         std::vector<std::pair<std::string, std::string>>{{"dns", "10.2.20.53"},
                                                          {"ca", "10.2.20.9"},
                                                          {"time", "10.2.20.123"},
                                                          {"monitoring", "10.2.20.30"},
                                                          {"web", "10.2.20.45"},
                                                          {"work", "10.2.20.60"},
                                                          {"bookstack", proxy},
                                                          {"grafana", proxy},
                                                          {"vm", proxy},
                                                          {"cyberchef", proxy},
                                                          {"hmg", "10.2.20.186"},
                                                          {"mail", "10.2.20.60"}})
      wi.push_back(rec(n, "A", ip));
    wi.push_back(rec("ns", "AAAA", "fd00:2:20::53"));
    wi.push_back(rec("@", "MX", "10 mail.wil.5am.cloud.", 3600));
    wi.push_back(rec("www", "CNAME", "web.wil.5am.cloud."));
    wi.push_back(rec("_https._tcp", "SRV", "10 5 443 web.wil.5am.cloud."));
    wi.push_back(rec("@", "CAA", "0 issue letsencrypt.org"));
    wi.push_back(rec("@", "TXT", "v=spf1 mx -all"));
    wi.push_back(rec("long", "TXT", std::string(300, 'k') + "\"quoted\""));
    auto& we = records["wil.5am.cloud"]["external"];
    for (auto n : {"bookstack", "grafana", "vm", "cyberchef"}) we.push_back(rec(n, "A", pub));
    we.push_back(rec("@", "CAA", "0 issue letsencrypt.org"));
    records["5am.cloud"]["internal"].push_back(rec("website", "A", proxy));
    records["5am.cloud"]["external"].push_back(rec("website", "A", pub));
    records["5am.video"]["internal"].push_back(rec("jellyfin", "A", proxy));
    records["5am.video"]["external"].push_back(rec("jellyfin", "A", pub));
    records["sfc.al"]["internal"].push_back(rec("@", "A", proxy));
    records["sfc.al"]["external"].push_back(rec("@", "A", pub));
    records["ext.5am.cloud"]["internal"].push_back(rec("status", "A", proxy));
    records["ext.5am.cloud"]["external"].push_back(rec("status", "A", pub));
    records[reverse]["internal"] = json::array({rec("@", "NS", "ns.wil.5am.cloud.")});
    for (auto [o, n] : std::vector<std::pair<std::string, std::string>>{{"9", "ca"},
                                                                        {"53", "dns"},
                                                                        {"123", "time"},
                                                                        {"30", "monitoring"},
                                                                        {"45", "web"},
                                                                        {"60", "work"}})
      records[reverse]["internal"].push_back(rec(o, "PTR", n + ".wil.5am.cloud."));
  }

  json rndc() const { return {{"server", rndcServer}, {"port", rndcPort}, {"key_file", keyFile}}; }

  json zoneSpec(const std::string& zone, const std::string& view) const {
    std::string soaBase = zone == reverse ? "wil.5am.cloud" : zone;
    return {{"zone", zone},
            {"view", view},
            {"server", "local"},
            {"conf_dir", confDir},
            {"reverse", zone == reverse},
            {"ttl", 300},
            {"soa",
             {{"mname", "ns." + soaBase + "."},
              {"rname", "hostmaster." + soaBase + "."},
              {"refresh", 3600},
              {"retry", 600},
              {"expire", 604800},
              {"minimum", 300}}},
            {"records", records.at(zone).at(view)}};
  }

  json confSpec() const {
    json views = json::array();
    for (std::string v : {"internal", "external"}) {
      json zones = json::array();
      for (const auto& [z, byView] : records)
        if (byView.count(v)) zones.push_back(z);
      views.push_back(
          {{"name", v},
           {"match_clients", v == "internal" ? json::array({"trusted"}) : json::array({"any"})},
           {"recursion", v == "internal"},
           {"zones", zones}});
    }
    return {{"server", "local"},
            {"conf_dir", confDir},
            {"rndc", rndc()},
            {"acls", {{"trusted", {"127.0.0.1", "10.2.0.0/16", "10.3.0.0/16", "100.64.0.0/10"}}}},
            {"forwarders", {"127.0.0.1"}},
            {"transfer_clients", {"127.0.0.3", "100.64.0.0/10"}},
            {"views", views},
            {"secondary_zones",
             json::array({{{"name", "ldn.5am.cloud"}, {"primaries", {"127.0.0.4"}}}})}};
  }

  // Zones first, dnsconf last (the engine orders by dependsOn the same way).
  std::vector<DesiredResource> resources() const {
    std::vector<DesiredResource> out;
    for (const auto& [z, byView] : records)
      for (const auto& [v, _] : byView)
        out.push_back(makeResource(bind9::zoneId(z, v), "zone", zoneSpec(z, v)));
    auto conf = makeResource("dnsconf/local", "dnsconf", confSpec());
    for (const auto& r : out) conf.dependsOn.push_back(r.id);
    out.push_back(std::move(conf));
    return out;
  }
};

struct ConvergeResult {
  std::vector<std::string> applied;             // ids with a non-noop action that succeeded
  std::map<std::string, std::string> failures;  // id -> message
  std::map<std::string, PlannedAction> plans;
};

// One pass the way the engine does it: observe all, plan each, apply non-noop actions
// (zones, then dnsconf, then deletions). With `privateData`, it keeps what each apply returned
// and hands it back, as the engine does through its state database.
inline ConvergeResult converge(Provider& p, const std::vector<DesiredResource>& desired,
                               std::map<std::string, nlohmann::json>* privateData = nullptr) {
  ConvergeResult res;
  ObserveRequest oreq;
  for (const auto& d : desired) oreq.desired.push_back(&d);
  oreq.includeOwned = true;
  auto obs = p.observe(oreq);
  for (const auto& [id, e] : obs.errors) res.failures[id] = e.message;
  std::vector<std::pair<PlannedAction, const DesiredResource*>> todo;
  for (const auto& d : desired) {
    if (obs.errors.count(d.id)) continue;
    auto it = obs.observed.find(d.id);
    auto a = p.plan({&d, it == obs.observed.end() ? nullptr : &it->second});
    res.plans[d.id] = a;
    if (a.action != Action::Noop || a.conflict) todo.emplace_back(a, &d);
  }
  for (const auto& [id, o] : obs.observed) {
    if (std::any_of(desired.begin(), desired.end(), [&](const auto& d) { return d.id == id; }))
      continue;
    auto a = p.plan({nullptr, &o});
    res.plans[id] = a;
    if (a.action != Action::Noop) todo.emplace_back(a, nullptr);
  }
  std::stable_sort(todo.begin(), todo.end(), [](const auto& a, const auto& b) {
    auto rank = [](const PlannedAction& x) {
      return x.action == Action::Delete ? 2 : (x.kind == "dnsconf" ? 1 : 0);
    };
    return rank(a.first) < rank(b.first);
  });
  for (const auto& [a, d] : todo) {
    ApplyRequest areq;
    areq.action = a;
    areq.desired = d;
    auto it = obs.observed.find(a.id);
    areq.observed = it == obs.observed.end() ? nullptr : &it->second;
    if (privateData)
      if (auto pd = privateData->find(a.id); pd != privateData->end()) areq.privateData = pd->second;
    auto r = p.apply(areq);
    if (privateData && !r.privateData.is_null()) (*privateData)[a.id] = r.privateData;
    if (r.outcome == Outcome::Ok)
      res.applied.push_back(a.id);
    else
      res.failures[a.id] = r.message;
  }
  return res;
}

}  // namespace tend::testing
