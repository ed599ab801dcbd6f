// Derived configuration files (core/spec/derived.h): golden files rendered from specs/wil,
// one app added changes exactly the expected lines, explain names a source for every value,
// bad input is located, app files recreate only the containers that mount them.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/spec.h"
#include "core/spec/derived.h"
#include "core/spec/explain.h"
#include "core/spec/model.h"
#include "providers/bind9/render.h"
#include "tests/support/spec_load.h"

namespace fs = std::filesystem;
using tend::spec::DerivedFile;

namespace {

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tend-derived-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string wilDir() { return std::string(TEND_SOURCE_DIR) + "/specs/wil"; }

tend::LoadResult load(const std::string& dir) {
  tend::LoadOptions o;
  o.revision = "derived-test";
  auto r = tend::test::loadSpec(dir, o);
  std::ostringstream msg;
  for (const auto& d : r.diagnostics) msg << d.str() << "\n";
  INFO(msg.str());
  REQUIRE(r.ok());
  return r;
}

// Every file as delivered (host:path -> content): derived files, zone files, named.conf.tend.
std::map<std::string, std::string> rendered(const tend::LoadResult& r) {
  std::map<std::string, std::string> out;
  for (const auto& f : tend::spec::deriveFiles(*r.spec)) out[f.host + f.path] = f.content;
  for (const auto& res : r.graph->resources) {
    if (res.kind == "zone") {
      auto z = tend::bind9::parseZoneSpec(res.spec);
      REQUIRE(z);
      out[z->server + z->file] = tend::bind9::renderZoneBody(*z, 1);
    } else if (res.kind == "dnsconf") {
      auto c = tend::bind9::parseConfSpec(res.spec);
      REQUIRE(c);
      out[c->server + c->file] = tend::bind9::renderConfBody(*c);
    }
  }
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Lines of `after` not matched (in order) by lines of `before`, and lines of `before` left
// unmatched: what an edit added and removed.
std::pair<std::vector<std::string>, std::vector<std::string>> lineDiff(const std::string& before, const std::string& after) {
  auto a = lines(before), b = lines(after);
  // LCS table (files are small).
  std::vector<std::vector<int>> t(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;) t[i][j] = a[i] == b[j] ? t[i + 1][j + 1] + 1 : std::max(t[i + 1][j], t[i][j + 1]);
  std::vector<std::string> added, removed;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) ++i, ++j;
    else if (t[i + 1][j] >= t[i][j + 1]) removed.push_back(a[i++]);
    else added.push_back(b[j++]);
  }
  while (i < a.size()) removed.push_back(a[i++]);
  while (j < b.size()) added.push_back(b[j++]);
  return {added, removed};
}

void copyDir(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

std::vector<std::string> errorsOf(const std::string& dir) {
  tend::LoadOptions o;
  o.revision = "derived-test";
  static const std::vector<std::string> names = {"tok"};
  o.secretNames = &names;
  auto r = tend::test::loadSpec(dir, o);
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics)
    if (d.severity == tend::Severity::Error) out.push_back(d.str());
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& l : v)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& l : v) o += "  " + l + "\n";
  return o;
}

}  // namespace

TEST_CASE("derived files of specs/wil match the golden files", "[core][spec][derived]") {
  auto r = load(wilDir());
  auto files = rendered(r);
  fs::path golden = fs::path(TEND_SOURCE_DIR) / "tests/testdata/derived/wil";
  bool update = std::getenv("TEND_UPDATE_GOLDEN") != nullptr;
  if (update) {
    fs::remove_all(golden);
    for (const auto& [p, c] : files) writeFile(golden / p, c);
  }
  size_t goldenCount = 0;
  for (const auto& e : fs::recursive_directory_iterator(golden))
    if (e.is_regular_file()) ++goldenCount;
  CHECK(goldenCount == files.size());
  for (const auto& [p, c] : files) {
    INFO("golden file " << p << " (TEND_UPDATE_GOLDEN=1 rewrites them)");
    REQUIRE(fs::exists(golden / p));
    CHECK(readFile(golden / p) == c);
  }
  // Each renderer is there.
  std::map<std::string, int> kinds;
  for (const auto& f : tend::spec::deriveFiles(*r.spec)) kinds[f.kind]++;
  CHECK(kinds["caddyfile"] == 1);
  CHECK(kinds["homepage"] == 4);
  CHECK(kinds["file_sd"] == 2);
  CHECK(kinds["grafana"] == 1);
  CHECK(kinds["app_file"] == 2);
  CHECK(kinds["named_options"] == 1);
}

TEST_CASE("the wil Caddyfile has one route per proxied name and the seed's options", "[core][spec][derived]") {
  auto r = load(wilDir());
  std::string cf;
  for (const auto& f : tend::spec::deriveFiles(*r.spec))
    if (f.kind == "caddyfile") cf = f.content;
  auto routes = tend::spec::proxyRoutes(*r.spec);
  CHECK(routes.size() == 33);  // the seed's 33 proxied names
  for (const auto& rt : routes) {
    INFO(rt.fqdn);
    CHECK(cf.find("\t@" + rt.name + " host " + rt.fqdn + "\n") != std::string::npos);
  }
  CHECK(cf.find("\tadmin 0.0.0.0:2019\n") != std::string::npos);
  CHECK(cf.find("\t\tdns cloudflare ${secret:cf_api_token}\n") != std::string::npos);
  CHECK(cf.find("*.sfc.al {") != std::string::npos);
  // plex: every option of the seed's proxy lists.
  auto at = cf.find("handle @plex {");
  REQUIRE(at != std::string::npos);
  std::string plex = cf.substr(at, cf.find("\n\t}\n", at) - at);
  for (const char* want : {"encode gzip", "reverse_proxy 10.2.0.5:32400 {", "header_up X-Real-IP {remote_host}",
                           "header_up Host {upstream_hostport}", "read_buffer 8192"})
    CHECK(plex.find(want) != std::string::npos);
  at = cf.find("handle @vm {");
  CHECK(cf.substr(at, 200).find("tls_insecure_skip_verify") != std::string::npos);
  // Deterministic: a second load renders the same bytes.
  auto r2 = load(wilDir());
  CHECK(rendered(r2) == rendered(r));
}

TEST_CASE("derived files go into their host's files payload", "[core][spec][derived]") {
  auto r = load(wilDir());
  const auto* net = r.graph->find("host/networking");
  REQUIRE(net);
  REQUIRE(net->spec["files"].contains("/opt/networking/caddy/Caddyfile"));
  CHECK(net->spec["files"]["/opt/networking/caddy/Caddyfile"]["mode"] == "0600");
  CHECK(net->spec["files"].contains("/etc/bind/named.conf.options"));
  const auto* mon = r.graph->find("host/monitoring");
  REQUIRE(mon);
  for (const char* p : {"/opt/monitoring/homepage/services.yaml", "/opt/monitoring/homepage/settings.yaml",
                        "/opt/monitoring/prometheus/file_sd/node.json",
                        "/opt/monitoring/grafana/provisioning/datasources/datasources.yml"})
    CHECK(mon->spec["files"].contains(p));
  const auto* media = r.graph->find("host/mediastack");
  REQUIRE(media);
  CHECK(media->spec["files"].contains("/opt/romm/config/config.yml"));
  // Secrets stay symbolic in payloads.
  CHECK(media->spec["files"]["/opt/romm/config/config.yml"]["content"].get<std::string>().find("${secret:romm_igdb_client_id}") !=
        std::string::npos);
}

TEST_CASE("the derived Homepage and Grafana files are valid YAML of the expected shape", "[core][spec][derived]") {
  auto r = load(wilDir());
  std::map<std::string, std::string> byPath;
  for (const auto& f : tend::spec::deriveFiles(*r.spec)) byPath[f.path] = f.content;
  YAML::Node svc = YAML::Load(byPath["/opt/monitoring/homepage/services.yaml"]);
  REQUIRE(svc.IsSequence());
  std::map<std::string, YAML::Node> groups;
  std::vector<std::string> order;
  for (const auto& g : svc) {
    auto it = g.begin();
    order.push_back(it->first.as<std::string>());
    groups[it->first.as<std::string>()] = it->second;
  }
  REQUIRE(groups.count("Media Management"));
  CHECK(groups["Media Management"].size() == 4);
  bool sonarr = false;
  for (const auto& e : groups["Media Management"]) {
    auto it = e.begin();
    if (it->first.as<std::string>() != "Sonarr") continue;
    sonarr = true;
    CHECK(it->second["href"].as<std::string>() == "https://sonarr.5am.video");
    CHECK(it->second["siteMonitor"].as<std::string>() == "http://10.2.0.5:8989");
    CHECK(it->second["widget"]["url"].as<std::string>() == "http://10.2.0.5:8989");
    CHECK(it->second["widget"]["key"].as<std::string>() == "${secret:homepage_sonarr_key}");
  }
  CHECK(sonarr);
  CHECK(groups.count("Monitoring"));
  CHECK(groups.count("apps"));  // every other exposed app, under its tier
  YAML::Node settings = YAML::Load(byPath["/opt/monitoring/homepage/settings.yaml"]);
  CHECK(settings["title"].as<std::string>() == "5am.video");
  CHECK(settings["layout"]["Media Management"]["columns"].as<int>() == 4);
  YAML::Node bm = YAML::Load(byPath["/opt/monitoring/homepage/bookmarks.yaml"]);
  CHECK(bm[0]["Infrastructure"][0]["TrueNAS"][0]["href"].as<std::string>() == "https://nas.sfc.al");
  YAML::Node ds = YAML::Load(byPath["/opt/monitoring/grafana/provisioning/datasources/datasources.yml"]);
  CHECK(ds["datasources"][0]["url"].as<std::string>() == "http://prometheus:9090");
  auto nodes = nlohmann::json::parse(byPath["/opt/monitoring/prometheus/file_sd/node.json"]);
  CHECK(nodes.size() == r.spec->vms.size() + r.spec->hosts.size());
  CHECK(nodes[0]["targets"][0] == "10.2.20.53:9100");
}

TEST_CASE("adding one app to apps.yml changes exactly the expected lines of each derived file", "[core][spec][derived]") {
  TempDir tmp;
  copyDir(wilDir(), tmp.path());
  auto before = rendered(load(tmp.path()));
  {
    std::ofstream a(tmp.path() + "/apps.yml", std::ios::app);
    a << "\n  notes:\n"
         "    host: work\n"
         "    expose: [{ name: notes, domain: wil.5am.cloud, port: 8099, proxied: true }]\n"
         "    containers:\n"
         "      notes: { image: \"nginx:1.27.3\", restart: unless-stopped, ports: [\"8099:80\"] }\n";
  }
  auto after = rendered(load(tmp.path()));
  REQUIRE(before.size() == after.size());
  std::map<std::string, std::vector<std::string>> expected = {
      {"networking/opt/networking/caddy/Caddyfile",
       {"", "\t@notes host notes.wil.5am.cloud", "\thandle @notes {", "\t\treverse_proxy 10.2.20.60:8099", "\t}"}},
      {"monitoring/opt/monitoring/homepage/services.yaml",
       {"  - notes:", "      href: https://notes.wil.5am.cloud"}},
      {"networking/etc/bind/zones/internal/wil.5am.cloud.zone", {"notes IN A 10.2.20.53"}},
      {"networking/etc/bind/zones/external/wil.5am.cloud.zone", {"notes IN A 203.0.113.10"}},
  };
  for (const auto& [p, text] : before) {
    INFO("file " << p);
    REQUIRE(after.count(p));
    auto [added, removed] = lineDiff(text, after[p]);
    CHECK(removed.empty());
    auto it = expected.find(p);
    if (it == expected.end()) {
      INFO("unexpected change:\n" << joined(added));
      CHECK(added.empty());
      continue;
    }
    // Zone lines are column-aligned: compare without runs of blanks.
    auto squeeze = [](std::string s) {
      std::string o;
      for (char c : s)
        if (!(c == ' ' && !o.empty() && o.back() == ' ')) o += c;
      return o;
    };
    std::vector<std::string> got, want;
    for (const auto& l : added) got.push_back(squeeze(l));
    for (const auto& l : it->second) want.push_back(squeeze(l));
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    INFO("added:\n" << joined(added));
    CHECK(got == want);
  }
}

TEST_CASE("explain names a source line for every value of every app of specs/wil", "[core][spec][derived]") {
  auto r = load(wilDir());
  for (const auto& a : r.spec->apps) {
    auto items = tend::spec::explain(*r.spec, *r.graph, a.name);
    INFO("app " << a.name);
    REQUIRE_FALSE(items.empty());
    std::map<std::string, int> kinds;
    for (const auto& i : items) {
      INFO(i.kind << " " << i.id << " " << i.field << " = " << i.value);
      CHECK_FALSE(i.source.file.empty());
      CHECK(i.source.line > 0);
      kinds[i.kind]++;
    }
    CHECK(kinds["container"] > 0);
    CHECK(kinds["scrape"] == 1);
    bool proxied = false, exposed = false;
    for (const auto& e : a.expose) proxied |= e.proxied, exposed = true;
    if (exposed) CHECK(kinds["dns"] > 0);
    if (proxied) CHECK(kinds["proxy"] > 0);
    if (!a.files.empty()) CHECK(kinds["file"] == static_cast<int>(a.files.size()));
  }
  // romm: the config file, and the hash it puts into the container that mounts it.
  auto items = tend::spec::explain(*r.spec, *r.graph, "container/romm/romm");
  bool hash = false;
  for (const auto& i : items) hash |= i.field == "file_hashes./opt/romm/config/config.yml";
  CHECK(hash);
}

TEST_CASE("an app file change recreates only the containers that mount it", "[core][spec][derived]") {
  TempDir tmp;
  copyDir(wilDir(), tmp.path());
  auto a = load(tmp.path());
  std::string path = tmp.path() + "/files/romm/config.yml";
  std::string text = readFile(path);
  writeFile(path, text + "# changed\n");
  auto b = load(tmp.path());
  for (const auto& ra : a.graph->resources) {
    const auto* rb = b.graph->find(ra.id);
    REQUIRE(rb);
    bool changed = ra.hash != rb->hash;
    INFO(ra.id);
    CHECK(changed == (ra.id == "container/romm/romm" || ra.id == "host/mediastack" ||
                      ra.id == "host/mediastack/file:/opt/romm/config/config.yml"));
  }
}

TEST_CASE("a derived file a container mounts as a single file recreates that container when it changes",
          "[core][spec][derived]") {
  // tend replaces files by rename; a single-file bind mount keeps the old inode, so the
  // Caddyfile's hash goes into the caddy container's payload. A directory mount sees the new
  // file (Caddy --watch) and file_sd targets are re-read by Prometheus: neither is recreated;
  // Grafana reads its datasources only when it starts: its directory mount counts.
  TempDir tmp;
  writeFile(tmp.path() + "/environment.yml", R"(environment: mnt
network: { cidr: 127.0.0.0/8 }
secrets: { file: s.yml }
dns: { domains: [home.test], reverse_proxy: local }
proxy: { file: /opt/px/Caddyfile, mode: "0600", tls: { dns: cloudflare, token: "${secret:cf}" } }
monitoring: { host: local, grafana: { datasources_file: /opt/gf/provisioning/datasources/ds.yml } }
)");
  writeFile(tmp.path() + "/s.yml", "cf: x\n");
  writeFile(tmp.path() + "/hosts.yml", "hosts:\n  local: { address: 127.0.0.1 }\n");
  std::string apps = R"(apps:
  px:
    host: local
    containers:
      caddy: { image: "busybox:1.36", volumes: ["/opt/px/Caddyfile:/etc/caddy/Caddyfile:ro"] }
      watcher: { image: "busybox:1.36", volumes: ["/opt/px:/etc/caddy:ro"] }
      prom: { image: "busybox:1.36", volumes: ["/etc/prometheus/file_sd/node.json:/etc/prometheus/node.json:ro"] }
      grafana: { image: "busybox:1.36", volumes: ["/opt/gf/provisioning:/etc/grafana/provisioning:ro"] }
  web:
    host: local
    expose: [{ name: web, domain: home.test, port: 8080, proxied: true }]
    containers:
      web: { image: "busybox:1.36" }
)";
  writeFile(tmp.path() + "/apps.yml", apps);
  auto a = load(tmp.path());
  const auto* caddy = a.graph->find("container/px/caddy");
  REQUIRE(caddy);
  REQUIRE(caddy->spec.contains("file_hashes"));
  std::string h = caddy->spec["file_hashes"].value("/opt/px/Caddyfile", "");
  CHECK(h.size() == 64 + std::string(" ${secret:cf}").size());  // the token's value counts too
  CHECK(h.substr(64) == " ${secret:cf}");
  CHECK_FALSE(a.graph->find("container/px/watcher")->spec.contains("file_hashes"));
  CHECK_FALSE(a.graph->find("container/px/prom")->spec.contains("file_hashes"));
  // Grafana reads its provisioning when it starts: a directory mount counts.
  CHECK(a.graph->find("container/px/grafana")->spec["file_hashes"].contains("/opt/gf/provisioning/datasources/ds.yml"));
  // The file is written before the container is (re)created: the container waits for its host.
  bool waitsForHost = false;
  for (const auto& dep : a.graph->find("image/local/busybox:1.36")->dependsOn) waitsForHost |= dep == "host/local";
  CHECK(waitsForHost);
  // explain: the hash's source is the mount line.
  bool located = false;
  for (const auto& i : tend::spec::explain(*a.spec, *a.graph, "container/px/caddy"))
    if (i.field == "file_hashes./opt/px/Caddyfile") {
      INFO(i.source.file << ":" << i.source.line);
      located = i.source.file.size() >= 8 && i.source.file.substr(i.source.file.size() - 8) == "apps.yml" && i.source.line == 5;
    }
  CHECK(located);

  // A second proxied app: the Caddyfile changes, so does the caddy container; the others not.
  writeFile(tmp.path() + "/apps.yml", apps + R"(  more:
    host: local
    expose: [{ name: more, domain: home.test, port: 8081, proxied: true }]
    containers:
      more: { image: "busybox:1.36" }
)");
  auto b = load(tmp.path());
  CHECK(b.graph->find("container/px/caddy")->hash != caddy->hash);
  for (const char* id : {"container/px/watcher", "container/px/prom", "container/px/grafana", "container/web/web"})
    CHECK(b.graph->find(id)->hash == a.graph->find(id)->hash);
}

TEST_CASE("DNS fidelity: SOA timers, per-zone TTL, options, forward zones, a site without views",
          "[core][spec][derived]") {
  TempDir tmp;
  writeFile(tmp.path() + "/environment.yml", R"(environment: dnsf
network: { cidr: 127.0.0.0/8 }
providers:
  bind9: { server: local, conf_dir: ./var/bind }
dns:
  domains: [home.test, lab.test]
  ttl: 600
  soa: { rname: admin, refresh: 1h, retry: 3600, expire: 28d, minimum: 1h }
  zones:
    lab.test: { ttl: 60, soa: { rname: ops@example.org } }
  forward_zones: [corp.example, { name: ad.example, forwarders: [10.9.9.9] }]
  forwarders: [1.1.1.1]
  options: { querylog: true, dnssec_validation: auto, listen_on: [any], listen_on_v6: [none] }
)");
  writeFile(tmp.path() + "/hosts.yml", "hosts:\n  local: { address: 127.0.0.1 }\n");
  auto r = load(tmp.path());
  const auto* home = r.graph->find("zone/home.test@internal");
  const auto* lab = r.graph->find("zone/lab.test@internal");
  REQUIRE(home);
  REQUIRE(lab);
  CHECK(home->spec["ttl"] == 600);
  CHECK(home->spec["soa"]["rname"] == "admin.home.test.");
  CHECK(home->spec["soa"]["refresh"] == 3600);
  CHECK(home->spec["soa"]["expire"] == 28 * 86400);
  CHECK(lab->spec["ttl"] == 60);
  CHECK(lab->spec["soa"]["rname"] == "ops@example.org");
  auto z = tend::bind9::parseZoneSpec(lab->spec);
  REQUIRE(z);
  CHECK(tend::bind9::renderZoneBody(*z, 1).find("ops.example.org.") != std::string::npos);
  const auto* conf = r.graph->find("dnsconf/local");
  REQUIRE(conf);
  auto c = tend::bind9::parseConfSpec(conf->spec);
  REQUIRE(c);
  std::string body = tend::bind9::renderConfBody(*c);
  CHECK(body.find("view \"internal\"") != std::string::npos);  // no views written: one for everyone
  CHECK(body.find("zone \"corp.example\" {\n        type forward;\n        forward only;\n        forwarders { 1.1.1.1; };") !=
        std::string::npos);
  CHECK(body.find("forwarders { 10.9.9.9; }") != std::string::npos);
  std::string opts;
  for (const auto& f : tend::spec::deriveFiles(*r.spec))
    if (f.kind == "named_options") opts = f.content;
  CHECK(opts.find("querylog yes;") != std::string::npos);
  CHECK(opts.find("dnssec-validation auto;") != std::string::npos);
  CHECK(opts.find("listen-on { any; };") != std::string::npos);
  CHECK(opts.find("listen-on-v6 { none; };") != std::string::npos);
}

TEST_CASE("bad derived-configuration keys are located errors", "[core][spec][derived]") {
  struct Case {
    std::string env, apps, want;
  };
  std::string base = "environment: bad\nnetwork: { cidr: 127.0.0.0/8 }\nsecrets: { file: s.yml }\n"
                     "dns: { domains: [home.test], reverse_proxy: local }\n";
  std::vector<Case> cases = {
      {"proxy: { tls: { token: x } }\n", "", "environment.yml:5:15: tls of proxy: token, resolvers and propagation_delay need 'dns: PROVIDER'"},
      {"proxy: { tls: maybe }\n", "", "environment.yml:5:15: 'tls' of proxy must be acme, internal, off"},
      {"proxy: { tls: { dns: cloudflare, token: \"${secret:nope}\" } }\n", "", "environment.yml:5:41: unknown secret 'nope'"},
      {"proxy: { host: nowhere }\n", "", "environment.yml:5:16: proxy.host names unknown vm or host 'nowhere'"},
      {"proxy: { domains: { other.test: { tls: internal } } }\n", "", "environment.yml:5:21: domain 'other.test' is not in dns.domains"},
      {"dashboard: { dir: /x }\n", "", "environment.yml:5:12: dashboard is missing required key 'host'"},
      {"monitoring: { host: local, tend: \"nowhere:9469\" }\n", "", "monitoring.tend names unknown vm or host 'nowhere'"},
      {"", "    expose: [{ name: a, domain: home.test, port: 80, homepage: { colour: red } }]\n",
       "apps.yml:4:66: unknown key 'colour' in homepage"},
      {"", "    expose: [{ name: a, domain: home.test, port: 80, homepage: { name: A } }]\n",
       "'homepage' is set but there is no dashboard: section"},
      {"", "    files: { a.conf: { content: x, template: y } }\n", "apps.yml:4:14: file 'a.conf' of app 'a' has both 'content' and 'template'"},
      {"", "    files: { a.conf: { template: ../../etc/passwd } }\n", "apps.yml:4:34: template '../../etc/passwd':"},
      {"", "    files: { a.conf: { content: \"${secret:nope}\" } }\n", "apps.yml:4:33: unknown secret 'nope'"},
      {"dns: { domains: [home.test], forward_zones: [{ name: x.test, forwarders: [bogus] }] }\n", "",
       "forwarder 'bogus' of forward zone 'x.test' is not an IP address"},
      {"dns: { domains: [home.test], soa: { refresh: soon } }\n", "", "invalid duration 'soon' for 'refresh'"},
      {"dns: { domains: [home.test], zones: { nothere.test: { ttl: 5 } } }\n", "",
       "dns.zones: 'nothere.test' is neither in dns.domains nor in dns.reverse_zones"},
      {"dns: { domains: [home.test], options: { dnssec_validation: maybe } }\n", "", "'dnssec_validation' must be auto, yes or no"},
      {"proxy: { file: /etc/x.conf }\n", "", "file '/etc/x.conf' on host 'local' is also written by"},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    std::string env = base;
    if (c.env.rfind("dns:", 0) == 0) env = "environment: bad\nnetwork: { cidr: 127.0.0.0/8 }\nsecrets: { file: s.yml }\nproviders: { bind9: { server: local } }\n";
    writeFile(tmp.path() + "/environment.yml", env + c.env);
    writeFile(tmp.path() + "/s.yml", "tok: x\n");
    std::string hosts = "hosts:\n  local: { address: 127.0.0.1, groups: [g] }\n";
    if (c.env.find("/etc/x.conf") != std::string::npos)
      hosts += "groups:\n  g:\n    files:\n      /etc/x.conf: { content: hi }\n";
    writeFile(tmp.path() + "/hosts.yml", hosts);
    writeFile(tmp.path() + "/apps.yml", "apps:\n  a:\n    host: local\n" + c.apps +
                                            "    containers:\n      c: { image: \"busybox:1.36\" }\n");
    auto errs = errorsOf(tmp.path());
    INFO("case: " << c.env << c.apps << "want: " << c.want << "\ngot:\n" << joined(errs));
    CHECK(has(errs, c.want));
  }
}
