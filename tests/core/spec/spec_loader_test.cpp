// Loader, references, validation and expansion on small inline specs written to temp dirs.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "core/spec.h"
#include "core/spec/json_hash.h"
#include "core/spec/loader.h"
#include "core/spec/model.h"
#include "tests/core/spec/spec_test_util.h"

using tend::DesiredResource;
using tend::LoadResult;
using tend::test::loadSpec;
using tend::testing::TempSpecDir;
using nlohmann::json;

namespace {

// A loopback-only site shaped like spec-example.md (10.2.20.0/24 -> 127.0.0.0/24).
const char* kEnv = R"(environment: demo
timezone: America/New_York
deploy_path: /opt
network:
  cidr: 127.0.0.0/24
  gateway: 127.0.0.1
  nameservers: [networking]
reconcile:
  interval: 2m
  prune: false
  parallelism: { proxmox: { total: 2, node: 1 }, ssh: 8, docker: 4 }
tiers: [networking, [ca, ntp], apps]
providers:
  proxmox:
    endpoint: https://127.0.0.7:8006
    node: pve
    token_id: tend@pve!reconciler
    token_secret: ${secret:proxmox_token_secret}
    tls: { fingerprint: "AA:BB" }
    storage: local-lvm
    bridge: vmbr0
  ssh:
    user: tend
    private_key_file: keys/id_ed25519
    known_hosts_file: /etc/tend/known_hosts
    accept_new: true
    proxy_jump: tend@127.0.0.8:2222
  docker:
    transport: ssh
  bind9:
    server: networking
    conf_dir: /etc/bind
    reload: rndc
secrets:
  file: secrets.sops.yml
templates:
  base:
    vmid: 9000
    image_url: https://example.invalid/noble.img
    sha256: "…"
    cores: 2
    memory: 2048
dns:
  domains: [lab.test, ext.test]
  reverse_proxy: networking
  forwarders: [127.0.0.53]
  trusted: [localhost, localnets, 127.0.0.0/8]
  views:
    internal: { match_clients: [trusted] }
    external: { match_clients: [any], address: 127.0.0.200 }
  reverse_zones: [0.0.127.in-addr.arpa]
  secondary_zones:
    - { name: other.test, primaries: [127.0.0.99] }
  transfer_clients: [127.0.0.99]
  records:
    - { name: vm, domain: lab.test, type: A, value: 127.0.0.7 }
    - { name: www, domain: ext.test, type: CNAME, value: web.lab.test }
services:
  - { name: pve, domain: lab.test, backend: 127.0.0.7:8006, proxied: true, tls_skip_verify: true }
  - { name: grafana, domain: lab.test, backend: monitoring:3000, proxied: true }
  - { name: hmg, domain: lab.test, backend: 127.0.0.86:443, proxied: false }
  - { name: status, domain: ext.test, backend: 127.0.0.87:80, proxied: false, dns: external }
  - { name: old, domain: lab.test, backend: 127.0.0.88:80, enabled: false }
)";

const char* kHosts = R"(vms:
  networking:
    vmid: 1000
    template: base
    ip: 127.0.0.53
    cores: 2
    memory: 4096
    disk: 50G
    tags: [infrastructure]
    tier: networking
    groups: [infra_networking]
    dns_name: dns.lab.test
  ca:         { vmid: 1003, template: base, ip: 127.0.0.9,  cores: 1, memory: 4096, disk: 20G, tier: ca }
  ntp:        { vmid: 1002, template: base, ip: 127.0.0.123, cores: 1, memory: 1024, disk: 20G, tier: ntp, groups: [infra_ntp] }
  monitoring: { vmid: 1107, template: base, ip: 127.0.0.30, tier: apps }
  work:       { vmid: 1112, template: base, ip: 127.0.0.60, cores: 4, memory: 8192, disk: 256G, tier: apps }
hosts:
  media: { address: 127.0.1.5, ssh_port: 2222, groups: [app_media] }
groups:
  all:
    packages: [docker.io, qemu-guest-agent]
    services: { docker: { enabled: true, state: started } }
  infra_ntp:
    packages: [chrony]
    files:
      /etc/chrony/conf.d/allow.conf:
        content: "allow ${environment.network.cidr}\n"
        mode: "0644"
        on_change: { restart: chrony }
)";

const char* kApps = R"(apps:
  bookstack:
    host: work
    expose:
      - { name: bookstack, domain: lab.test, port: 8074, proxied: true }
    containers:
      bookstack:
        image: lscr.io/linuxserver/bookstack:24.10.20241031
        restart: unless-stopped
        ports: ["8074:80"]
        environment:
          TZ: ${environment.timezone}
          APP_URL: https://bookstack.lab.test
          DB_HOST: bookstack-db
          DB_PASSWORD: ${secret:bookstack_db_password}
          WEB_IP: ${vms.networking.ip}
        volumes: ["${app.dir}/config:/config", "data:/data"]
        depends_on: [bookstack-db]
      bookstack-db:
        image: lscr.io/linuxserver/mariadb:11.4.4
        restart: unless-stopped
        environment: { MYSQL_PASSWORD: "${secret:bookstack_db_password}" }
        volumes: ["${app.dir}/db:/config"]
        healthcheck: { test: ["CMD", "mariadb-admin", "ping"], interval: 10s }
  cyberchef:
    host: work
    expose: [{ name: cyberchef, domain: lab.test, port: 8071, proxied: true }]
    compose: compose/cyberchef.yml
  website:
    host: media
    depends_on: [app/cyberchef]
    containers:
      website: { image: "ghcr.io/sfcal/samuel.computer:1.4.2", ports: ["127.0.0.1:8090:80"] }
)";

const char* kCompose = R"(services:
  cyberchef:
    image: ghcr.io/gchq/cyberchef:10.19.4
    restart: unless-stopped
    ports: ["8071:80"]
    volumes: ["./data:/data:ro"]
)";

const char* kSecrets = R"(proxmox_token_secret: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]
bookstack_db_password: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]
sops:
  age: []
  version: 3.9.0
)";

void writeSite(const TempSpecDir& d) {
  d.write("environment.yml", kEnv);
  d.write("hosts.yml", kHosts);
  d.write("apps.yml", kApps);
  d.write("compose/cyberchef.yml", kCompose);
  d.write("secrets.sops.yml", kSecrets);
}

std::string errorsOf(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += d.str() + "\n";
  return s;
}

const DesiredResource& res(const LoadResult& r, const std::string& id) {
  const DesiredResource* x = r.graph->find(id);
  INFO("resource " << id);
  REQUIRE(x != nullptr);
  return *x;
}

bool dependsOn(const DesiredResource& r, const std::string& id) {
  return std::find(r.dependsOn.begin(), r.dependsOn.end(), id) != r.dependsOn.end();
}

bool hasRecord(const json& zone, const std::string& name, const std::string& type, const std::string& value) {
  for (const auto& r : zone["records"])
    if (r["name"] == name && r["type"] == type && r["value"] == value) return true;
  return false;
}
bool hasName(const json& zone, const std::string& name) {
  for (const auto& r : zone["records"])
    if (r["name"] == name) return true;
  return false;
}

LoadResult loadMinimal(const std::string& env, const std::string& hosts, const std::string& apps) {
  TempSpecDir d;
  d.write("environment.yml", env);
  if (!hosts.empty()) d.write("hosts.yml", hosts);
  if (!apps.empty()) d.write("apps.yml", apps);
  return loadSpec(d.path());
}

}  // namespace

TEST_CASE("a spec shaped like spec-example.md loads clean", "[spec][loader]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  INFO(errorsOf(r));
  REQUIRE(r.ok());
  REQUIRE(r.spec != nullptr);
  const auto& g = *r.graph;
  CHECK(g.environment == "demo");
  CHECK(g.prune == false);
  CHECK(g.intervalSeconds == 120);
  CHECK(g.parallelism.at("docker") == 4);
  CHECK(g.parallelism.at("proxmox") == 2);       // {total: 2, ...}
  CHECK(g.parallelism.at("proxmox/node") == 1);  // a concurrency key class
  CHECK(g.specDir == std::filesystem::canonical(d.path()).string());
  CHECK(g.secretsFile == g.specDir + "/secrets.sops.yml");
  CHECK(g.secretNames == std::vector<std::string>{"bookstack_db_password", "proxmox_token_secret"});
  CHECK(g.providerConfigs.at("proxmox")["token_secret"] == "${secret:proxmox_token_secret}");
  CHECK(g.providerConfigs.at("ssh")["private_key_file"] == g.specDir + "/keys/id_ed25519");
  CHECK(g.providerConfigs.at("ssh")["accept_new"] == true);
  CHECK(g.providerConfigs.at("ssh")["proxy_jump"] == "tend@127.0.0.8:2222");
  CHECK(g.providerConfigs.at("proxmox")["tls"]["fingerprint"] == "AA:BB");
}

TEST_CASE("the model keeps 1-based file:line:col of values", "[spec][loader]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  const tend::Spec& s = *r.spec;
  CHECK(s.environment.loc.line == 1);
  CHECK(s.environment.loc.col == 14);
  CHECK(s.environment.loc.file == d.path() + "/environment.yml");
  const auto* vm = s.vm("networking");
  REQUIRE(vm);
  CHECK(vm->loc.line == 2);
  CHECK(vm->loc.col == 3);
  CHECK(vm->ip.loc.line == 5);
  CHECK(vm->ip.loc.col == 9);
  const auto* app = s.app("cyberchef");
  REQUIRE(app);
  REQUIRE(app->containers.size() == 1);
  CHECK(app->containers[0].loc.file == d.path() + "/compose/cyberchef.yml");
  CHECK(app->containers[0].loc.line == 2);
}

TEST_CASE("references resolve at load time and secrets stay symbolic", "[spec][refs]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  const json& c = res(r, "container/bookstack/bookstack").spec;
  CHECK(c["environment"]["TZ"] == "America/New_York");
  CHECK(c["environment"]["WEB_IP"] == "127.0.0.53");
  CHECK(c["environment"]["DB_PASSWORD"] == "${secret:bookstack_db_password}");
  CHECK(c["volumes"][0]["source"] == "/opt/bookstack/config");
  CHECK(c["volumes"][0]["type"] == "bind");
  CHECK(c["volumes"][1]["type"] == "volume");
  CHECK(c["volumes"][1]["source"] == "bookstack_data");
  CHECK(c["endpoint"] == "ssh://tend@127.0.0.60:22");
  CHECK(c["name"] == "bookstack-bookstack");
  CHECK(c["depends_on"]["bookstack-db"]["condition"] == "service_healthy");
  CHECK(c["depends_on"]["bookstack-db"]["id"] == "container/bookstack/bookstack-db");
  CHECK(c["networks"]["bookstack_default"]["aliases"] == json::array({"bookstack"}));
  CHECK(c["ports"][0] == json({{"host_ip", ""}, {"published", 8074}, {"target", 80}, {"protocol", "tcp"}}));
  // Relative bind sources of a Compose file are relative to the Compose file.
  const json& cc = res(r, "container/cyberchef/cyberchef").spec;
  CHECK(cc["volumes"][0]["source"] == std::filesystem::canonical(d.path()).string() + "/compose/data");
  CHECK(cc["volumes"][0]["read_only"] == true);
  // nameservers: [networking] -> its ip; the template -> its vmid.
  const json& vm = res(r, "vm/networking").spec;
  CHECK(vm["nameservers"] == json::array({"127.0.0.53"}));
  CHECK(vm["template"] == 9000);
  CHECK(vm["node"] == "pve");
  CHECK(vm["gateway"] == "127.0.0.1");
  // Host files see ${environment.*}; groups merge 'all' first.
  const json& h = res(r, "host/ntp").spec;
  CHECK(h["files"]["/etc/chrony/conf.d/allow.conf"]["content"] == "allow 127.0.0.0/24\n");
  CHECK(h["packages"] == json::array({"docker.io", "qemu-guest-agent", "chrony"}));
  CHECK(h["services"]["docker"]["state"] == "started");
  CHECK(res(r, "host/media").spec["ssh_port"] == 2222);
  CHECK(res(r, "host/media").provider == "ssh");
}

TEST_CASE("expansion yields the resource ids, kinds and providers of docs/resources.md", "[spec][expand]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  std::set<std::string> ids;
  for (const auto& x : r.graph->resources) ids.insert(x.id);
  for (const char* id :
       {"template/base", "vm/networking", "vm/work", "host/networking", "host/media", "host/work",
        "image/work/lscr.io/linuxserver/bookstack:24.10.20241031", "network/work/bookstack",
        "volume/work/bookstack_data", "container/bookstack/bookstack", "container/bookstack/bookstack-db",
        "container/cyberchef/cyberchef", "container/website/website", "zone/lab.test@internal",
        "zone/lab.test@external", "zone/ext.test@internal", "zone/ext.test@external",
        "zone/0.0.127.in-addr.arpa@internal", "dnsconf/networking"})
    CHECK(ids.count(id) == 1);
  CHECK(ids.count("zone/0.0.127.in-addr.arpa@external") == 0);
  CHECK(res(r, "vm/work").provider == "proxmox");
  CHECK(res(r, "host/work").provider == "ssh");
  CHECK(res(r, "network/work/bookstack").spec["name"] == "bookstack_default");
  CHECK(res(r, "network/work/bookstack").provider == "docker");
  CHECK(res(r, "zone/lab.test@internal").provider == "bind9");
  CHECK(res(r, "zone/lab.test@internal").host == "networking");
  CHECK(res(r, "container/bookstack/bookstack").host == "work");
}

TEST_CASE("implicit edges, explicit depends_on and tiers as waves", "[spec][expand]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  CHECK(dependsOn(res(r, "vm/networking"), "template/base"));
  CHECK(dependsOn(res(r, "host/work"), "vm/work"));
  CHECK(dependsOn(res(r, "network/work/bookstack"), "host/work"));
  CHECK(dependsOn(res(r, "volume/work/bookstack_data"), "host/work"));
  const auto& c = res(r, "container/bookstack/bookstack");
  CHECK(dependsOn(c, "image/work/lscr.io/linuxserver/bookstack:24.10.20241031"));
  CHECK(dependsOn(c, "network/work/bookstack"));
  CHECK(dependsOn(c, "volume/work/bookstack_data"));
  CHECK(dependsOn(c, "container/bookstack/bookstack-db"));
  // app depends_on: every container of that app.
  CHECK(dependsOn(res(r, "container/website/website"), "container/cyberchef/cyberchef"));
  // [ca, ntp] is one wave after networking; apps (last tier) wait for that wave.
  CHECK(dependsOn(res(r, "vm/ca"), "vm/networking"));
  CHECK(dependsOn(res(r, "vm/ntp"), "host/networking"));
  CHECK_FALSE(dependsOn(res(r, "vm/ntp"), "vm/ca"));
  CHECK(dependsOn(res(r, "container/bookstack/bookstack"), "vm/ca"));
  CHECK(dependsOn(res(r, "container/bookstack/bookstack"), "host/ntp"));
  CHECK(res(r, "vm/ca").tier == res(r, "vm/ntp").tier);
  CHECK(res(r, "container/bookstack/bookstack").tier == 2);
  // DNS after the addresses it publishes exist; named.conf after every zone.
  CHECK(dependsOn(res(r, "zone/lab.test@internal"), "vm/networking"));
  CHECK(dependsOn(res(r, "zone/lab.test@internal"), "container/bookstack/bookstack"));
  CHECK(dependsOn(res(r, "zone/lab.test@internal"), "host/networking"));
  CHECK(dependsOn(res(r, "dnsconf/networking"), "zone/lab.test@external"));
  CHECK(dependsOn(res(r, "dnsconf/networking"), "zone/0.0.127.in-addr.arpa@internal"));
}

TEST_CASE("resources are topologically sorted and hashed canonically", "[spec][expand]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  const auto& g = *r.graph;
  CHECK(g.byId.size() == g.resources.size());
  CHECK(g.find("") == nullptr);
  CHECK(g.find("container/no-such-app/web") == nullptr);
  for (size_t i = 0; i < g.resources.size(); ++i) {
    CHECK(g.find(g.resources[i].id) == &g.resources[i]);
    // Ids not in the graph, including a proper prefix and an extension of one that is.
    CHECK(g.find(g.resources[i].id.substr(0, g.resources[i].id.size() - 1)) != &g.resources[i]);
    CHECK(g.find(g.resources[i].id + "x") == nullptr);
    for (const auto& dep : g.resources[i].dependsOn) {
      INFO(g.resources[i].id << " depends on " << dep);
      REQUIRE(g.find(dep));
      CHECK(g.find(dep) < &g.resources[i]);
    }
    // Fields left out at their default are hashed as if present (docs/resources.md).
    CHECK(g.resources[i].hash ==
          tend::spec::sha256Hex(
              tend::spec::withDefaults(g.resources[i].spec, tend::spec::payloadDefaults(g.resources[i].kind)).dump()));
    CHECK(g.resources[i].hash.size() == 64);
  }
  // Same input, same hashes.
  LoadResult again = loadSpec(d.path());
  REQUIRE(again.ok());
  CHECK(again.graph->resources.size() == g.resources.size());
  CHECK(again.graph->find("container/bookstack/bookstack")->hash == g.find("container/bookstack/bookstack")->hash);
}

TEST_CASE("DNS records are derived from vms, services, exposes and static records", "[spec][expand][dns]") {
  TempSpecDir d;
  writeSite(d);
  LoadResult r = loadSpec(d.path());
  REQUIRE(r.ok());
  const json& in = res(r, "zone/lab.test@internal").spec;
  const json& ex = res(r, "zone/lab.test@external").spec;
  CHECK(in["zone"] == "lab.test");
  CHECK(in["view"] == "internal");
  CHECK(in["soa"]["mname"] == "ns.lab.test.");
  CHECK(hasRecord(in, "@", "NS", "ns.lab.test."));
  CHECK(hasRecord(in, "ns", "A", "127.0.0.53"));
  CHECK(hasRecord(in, "dns", "A", "127.0.0.53"));              // vm dns_name
  CHECK(hasRecord(in, "bookstack", "A", "127.0.0.53"));        // proxied expose -> reverse proxy
  CHECK(hasRecord(in, "grafana", "A", "127.0.0.53"));          // proxied service -> reverse proxy
  CHECK(hasRecord(in, "hmg", "A", "127.0.0.86"));              // not proxied -> backend
  CHECK(hasRecord(in, "vm", "A", "127.0.0.7"));                // static record
  CHECK_FALSE(hasName(in, "old"));                             // enabled: false
  CHECK(hasRecord(ex, "bookstack", "A", "127.0.0.200"));       // external view: the view's address
  CHECK(hasRecord(ex, "ns", "A", "127.0.0.200"));
  CHECK_FALSE(hasName(ex, "dns"));                             // vm names stay internal
  const json& extIn = res(r, "zone/ext.test@internal").spec;
  const json& extEx = res(r, "zone/ext.test@external").spec;
  CHECK_FALSE(hasName(extIn, "status"));                       // dns: external
  CHECK(hasRecord(extEx, "status", "A", "127.0.0.200"));
  CHECK(hasRecord(extIn, "www", "CNAME", "web.lab.test."));
  const json& rev = res(r, "zone/0.0.127.in-addr.arpa@internal").spec;
  CHECK(rev["reverse"] == true);
  CHECK(hasRecord(rev, "53", "PTR", "dns.lab.test."));
  const json& conf = res(r, "dnsconf/networking").spec;
  CHECK(conf["views"][0]["name"] == "internal");
  CHECK(conf["views"][0]["recursion"] == true);
  CHECK(conf["views"][1]["recursion"] == false);
  CHECK(conf["acls"]["trusted"] == json::array({"localhost", "localnets", "127.0.0.0/8"}));
  CHECK(conf["secondary_zones"][0]["name"] == "other.test");
  // Proxy routes stay in the model.
  const auto& routes = r.spec->proxyRoutes;
  auto route = std::find_if(routes.begin(), routes.end(), [](const auto& x) { return x.fqdn == "bookstack.lab.test"; });
  REQUIRE(route != routes.end());
  CHECK(route->backend == "127.0.0.60:8074");
  auto pve = std::find_if(routes.begin(), routes.end(), [](const auto& x) { return x.fqdn == "pve.lab.test"; });
  REQUIRE(pve != routes.end());
  CHECK(pve->tlsSkipVerify);
  auto graf = std::find_if(routes.begin(), routes.end(), [](const auto& x) { return x.fqdn == "grafana.lab.test"; });
  REQUIRE(graf != routes.end());
  CHECK(graf->backend == "127.0.0.30:3000");
}

TEST_CASE("a dependency cycle is reported with its path", "[spec][validate]") {
  LoadResult r = loadMinimal("environment: t\n",
                             "hosts:\n  h: { address: 127.0.0.1 }\n",
                             "apps:\n  a: { host: h, depends_on: [app/b], containers: { x: { image: 'busybox:1' } } }\n"
                             "  b: { host: h, depends_on: [app/c], containers: { x: { image: 'busybox:1' } } }\n"
                             "  c: { host: h, depends_on: [app/a], containers: { x: { image: 'busybox:1' } } }\n");
  REQUIRE_FALSE(r.ok());
  INFO(errorsOf(r));
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "dependency cycle: app/a -> app/b -> app/c -> app/a");
}

TEST_CASE("all errors are reported, sorted by file, line and column", "[spec][validate]") {
  LoadResult r = loadMinimal("environment: t\nbogus: 1\nnetwork: { cidr: nope }\n",
                             "hosts:\n  h: { address: 127.0.0.1, color: red }\n",
                             "apps:\n  a: { host: nowhere, containers: { x: { image: 'busybox:1', ports: ['x'] } } }\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.graph == nullptr);
  std::vector<std::string> lines;
  for (const auto& d : r.diagnostics) lines.push_back(d.str());
  REQUIRE(lines.size() == 5);
  CHECK(std::is_sorted(r.diagnostics.begin(), r.diagnostics.end(), [](const auto& a, const auto& b) {
    return std::tie(a.loc.file, a.loc.line, a.loc.col) < std::tie(b.loc.file, b.loc.line, b.loc.col);
  }));
}

TEST_CASE("a file over 4 MiB is rejected without reading it whole", "[spec][loader][bad-input]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  {
    std::ofstream big(d.file("apps.yml"), std::ios::binary);
    big << "apps:\n";
    std::string pad = "  # " + std::string(1020, 'x') + "\n";
    for (int i = 0; i < 5 * 1024; ++i) big << pad;  // ~5 MiB
  }
  LoadResult r = loadSpec(d.path());
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].loc.file == d.path() + "/apps.yml");
  CHECK(r.diagnostics[0].message.find("file too large") == 0);
}

TEST_CASE("a 50 MB file is rejected quickly", "[spec][loader][bad-input]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  {
    // Sparse: the size is what matters, and the loader must not read it.
    std::ofstream big(d.file("hosts.yml"), std::ios::binary);
    big.seekp(50 * 1000 * 1000 - 1);
    big.put('\n');
  }
  LoadResult r = loadSpec(d.path());
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics.at(0).message.find("file too large") == 0);
}

TEST_CASE("an unreadable file is a located error", "[spec][loader][bad-input]") {
  if (::geteuid() == 0) {
    SUCCEED("running as root: permissions do not stop reads (the corpus covers a directory in its place)");
    return;
  }
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts: {}\n");
  ::chmod(d.file("hosts.yml").c_str(), 0);
  LoadResult r = loadSpec(d.path());
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].str() == d.path() + "/hosts.yml:1:1: cannot read: Permission denied");
}

TEST_CASE("secret names come from the SOPS file keys or from the options", "[spec][refs]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\nsecrets: { file: s.sops.yml }\n");
  d.write("s.sops.yml", "db:\n  password: ENC[x]\ntoken: ENC[y]\nsops: { version: 3.9.0 }\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml",
          "apps:\n  a:\n    host: h\n    containers:\n      x:\n        image: busybox:1\n"
          "        environment: { A: '${secret:db.password}', B: '${secret:token}', C: '${secret:sops}' }\n");
  LoadResult r = loadSpec(d.path());
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "unknown secret 'sops' (not in s.sops.yml)");
  std::vector<std::string> names = {"db.password", "token", "sops"};
  tend::LoadOptions opts;
  opts.secretNames = &names;
  LoadResult r2 = loadSpec(d.path(), opts);
  INFO(errorsOf(r2));
  CHECK(r2.ok());
}

TEST_CASE("revision is a content hash outside git and changes with the files", "[spec][revision]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  LoadResult a = loadSpec(d.path());
  REQUIRE(a.ok());
  CHECK(a.graph->revision.rfind("sha256:", 0) == 0);
  CHECK(a.graph->revision.size() == 7 + 12);
  d.write("environment.yml", "environment: u\n");
  LoadResult b = loadSpec(d.path());
  REQUIRE(b.ok());
  CHECK(a.graph->revision != b.graph->revision);
  tend::LoadOptions opts;
  opts.revision = "fixed";
  CHECK(loadSpec(d.path(), opts).graph->revision == "fixed");
}

TEST_CASE("revision is the git commit inside a work tree, -dirty when changed", "[spec][revision]") {
  if (std::system("git --version >/dev/null 2>&1") != 0) {
    SUCCEED("git is not installed");
    return;
  }
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  std::string cd = "cd '" + d.path() + "' && ";
  REQUIRE(std::system((cd + "git init -q . && git -c user.email=t@t -c user.name=t add -A && "
                            "git -c user.email=t@t -c user.name=t commit -qm init").c_str()) == 0);
  LoadResult a = loadSpec(d.path());
  REQUIRE(a.ok());
  CHECK(a.graph->revision.size() == 40);
  d.write("environment.yml", "environment: u\n");
  LoadResult b = loadSpec(d.path());
  REQUIRE(b.ok());
  CHECK(b.graph->revision == a.graph->revision + "-dirty");
}

TEST_CASE("compose files: supported keys load, harmless top-level keys warn", "[spec][compose]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml }\n");
  d.write("c.yml", R"(version: "3.8"
name: ignored
x-common: &common { restart: always }
services:
  app:
    <<: *common
    image: busybox:1.36
    command: sh -c "echo hi && sleep 1"
    environment: [A=1, B=two]
    labels: { team: ops }
    networks: [back]
    volumes: [{ type: volume, source: data, target: /data }]
    healthcheck: { test: "true", interval: 5s, retries: 2 }
    mem_limit: 512m
    extra_hosts: ["host.docker.internal:host-gateway"]
    logging: { driver: json-file, options: { max-size: 10m } }
volumes:
  data: {}
networks:
  back: { driver: bridge }
)");
  LoadResult r = loadSpec(d.path());
  INFO(errorsOf(r));
  REQUIRE(r.ok());
  int warnings = 0;
  for (const auto& x : r.diagnostics) warnings += x.severity == tend::Severity::Warning;
  CHECK(warnings == 2);
  const json& c = res(r, "container/a/app").spec;
  CHECK(c["restart"] == "always");
  CHECK(c["command"] == json::array({"sh", "-c", "echo hi && sleep 1"}));
  CHECK(c["environment"] == json({{"A", "1"}, {"B", "two"}}));
  CHECK(c["labels"]["team"] == "ops");
  CHECK(c["networks"].contains("a_back"));
  CHECK(c["healthcheck"]["test"] == json::array({"CMD-SHELL", "true"}));
  CHECK(c["mem_limit"] == 512 * 1024 * 1024);
  CHECK(c["logging"]["options"]["max-size"] == "10m");
  CHECK(r.graph->find("network/h/a_back") != nullptr);
  CHECK(r.graph->find("volume/h/a_data") != nullptr);
  CHECK(r.graph->find("network/h/a") == nullptr);  // nobody is on the default network
}

TEST_CASE("same host port on different explicit addresses is not a clash", "[spec][validate]") {
  LoadResult r = loadMinimal("environment: t\n", "hosts:\n  h: { address: 127.0.0.1 }\n",
                             "apps:\n  a: { host: h, containers: { x: { image: 'busybox:1', ports: ['127.0.0.2:80:80'] } } }\n"
                             "  b: { host: h, containers: { x: { image: 'busybox:1', ports: ['127.0.0.3:80:80', '81:81/udp'] } } }\n"
                             "  c: { host: h, containers: { x: { image: 'busybox:1', ports: ['81:81'] } } }\n");
  INFO(errorsOf(r));
  CHECK(r.ok());
}

TEST_CASE("the committed specs validate clean", "[spec][specs]") {
  for (const char* name : {"local", "wil"}) {
    std::string dir = std::string(TEND_SOURCE_DIR) + "/specs/" + name;
    if (!std::filesystem::exists(dir + "/environment.yml")) continue;
    LoadResult r = loadSpec(dir);
    INFO(name << "\n" << errorsOf(r));
    CHECK(r.ok());
  }
}

TEST_CASE("the loader never throws on garbage input", "[spec][loader][bad-input]") {
  const char* inputs[] = {"", "---\n", "[", "{a: [}", "\t- x", "environment: [a, {b: c}]\n", "&a [*a]\n",
                          "environment: t\n---\nenvironment: u\n", "? [a]\n: b\n", "environment: !!binary xx\n",
                          "<<: *nope\n", "environment: t\nnetwork: &n { cidr: 127.0.0.0/8 }\ndns: *n\n"};
  for (const char* in : inputs) {
    TempSpecDir d;
    d.write("environment.yml", in);
    d.write("hosts.yml", in);
    d.write("apps.yml", in);
    LoadResult r;
    REQUIRE_NOTHROW(r = loadSpec(d.path()));
    if (!r.ok()) CHECK_FALSE(r.diagnostics.empty());
  }
}
