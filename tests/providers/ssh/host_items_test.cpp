// Host items without a host: the spec keys expand into one resource per item with the implicit
// edges, bad item entries are located errors, and the probe's output becomes observations.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "core/spec.h"
#include "providers/builtin.h"
#include "providers/ssh/host_items.h"
#include "ssh_fixture.h"

using namespace tend;
using namespace tend::sshtest;

namespace {

LoadResult loadHosts(const std::string& hostsYaml) {
  static ProviderRegistry reg = [] {
    ProviderRegistry r;
    registerBuiltinProviders(r);
    return r;
  }();
  std::string d = tempDir("tend-hostitems-");
  writeText(d + "/environment.yml",
            "environment: t\nnetwork: { cidr: 10.0.0.0/8 }\nproviders:\n  ssh: { user: root, private_key_file: /k }\n");
  writeText(d + "/hosts.yml", hostsYaml);
  LoadOptions lo;
  lo.providers = &reg;
  auto r = loadSpecDir(d, lo);
  fs::remove_all(d);
  return r;
}

bool dependsOn(const DesiredResource* r, const std::string& id) {
  return r && std::find(r->dependsOn.begin(), r->dependsOn.end(), id) != r->dependsOn.end();
}

}  // namespace

TEST_CASE("host items expand into one resource each with their implicit dependencies", "[ssh][host][unit]") {
  auto r = loadHosts(R"(hosts:
  web: { address: 10.0.0.5, groups: [g] }
groups:
  all:
    packages: [chrony]
  g:
    unix_groups: { app: {} }
    users: { deploy: { groups: [app, docker] } }
    directories: { /srv/app: { owner: deploy } }
    files:
      /srv/app/a.conf: { content: "x\n", on_change: { restart: chrony } }
    commands:
      once: { run: "true", creates: /srv/app/done }
)");
  std::string diags;
  for (const auto& d : r.diagnostics) diags += d.str() + "\n";
  INFO(diags);
  REQUIRE(r.ok());
  const auto& g = *r.graph;
  auto* svc = g.find("host/web/service:chrony");  // named only by on_change: restart-only item
  REQUIRE(svc != nullptr);
  CHECK(dependsOn(svc, "host/web/file:/srv/app/a.conf"));
  CHECK(dependsOn(svc, "host/web/package:chrony"));
  CHECK(dependsOn(g.find("host/web/file:/srv/app/a.conf"), "host/web/directory:/srv/app"));
  CHECK(dependsOn(g.find("host/web/directory:/srv/app"), "host/web/user:deploy"));
  CHECK(dependsOn(g.find("host/web/user:deploy"), "host/web/group:app"));
  CHECK(dependsOn(g.find("host/web/user:deploy"), "host/web/package:chrony"));  // docker: a package's group
  CHECK(dependsOn(g.find("host/web/command:once"), "host/web/file:/srv/app/a.conf"));
  CHECK(dependsOn(g.find("host/web"), "host/web/command:once"));
  CHECK(g.find("host/web/file:/srv/app/a.conf")->spec["address"] == "10.0.0.5");
}

TEST_CASE("bad host item entries are located errors", "[ssh][host][unit]") {
  auto r = loadHosts(R"(hosts:
  web: { address: 10.0.0.5, groups: [g] }
groups:
  g:
    mounts: { /mnt/x: { src: nas:/x } }
    directories: { relative/dir: {} }
    packages: [{ name: x, state: newest }]
    timers: { t: { command: "true" } }
)");
  REQUIRE_FALSE(r.ok());
  std::string all;
  for (const auto& d : r.diagnostics) all += d.str() + "\n";
  INFO(all);
  auto at = [&](const std::string& line, const std::string& msg) {
    for (const auto& d : r.diagnostics)
      if (d.message == msg) return d.loc.line == std::stoi(line) && d.loc.file.find("hosts.yml") != std::string::npos;
    return false;
  };
  CHECK(at("5", "mounts '/mnt/x' of group 'g' is missing required key 'fstype'"));
  CHECK(at("6", "directory path 'relative/dir' must be absolute"));
  CHECK(at("7", "package 'state' must be present, absent or latest, got 'newest'"));
  CHECK(at("8", "timers 't' of group 'g' is missing required key 'on_calendar'"));
}

TEST_CASE("the probe's output becomes observations: records own and drift differs", "[ssh][host][unit]") {
  DesiredResource f;
  f.id = "host/web/file:/etc/a.conf";
  f.kind = "file";
  f.hash = "H";
  f.spec = {{"path", "/etc/a.conf"}, {"mode", "0644"}, {"owner", "root"}, {"group", "root"}};
  std::string out = "@\tos\tDebian GNU/Linux 12 (bookworm)\n"
                    "R\thost/web/file:/etc/a.conf\tH\taaa\n"
                    "host/web/file:/etc/a.conf\tsha\tbbb\n"
                    "host/web/file:/etc/a.conf\tstat\t600 root root 0 0\n";
  auto p = tend::ssh::parseProbe(out);
  CHECK(p.facts["os"] == "Debian GNU/Linux 12 (bookworm)");
  auto o = tend::ssh::observeItem(f, p);
  CHECK(o.exists);
  CHECK(o.owned);
  CHECK(o.appliedHash == "H");
  CHECK_FALSE(o.ready);
  CHECK(o.message == "content changed on the host; mode 600, want 0644");
  // No probe script runs anything but reads for these kinds.
  std::string script = tend::ssh::probeScript({&f});
  CHECK(script.find("sha256sum -- \"$@\"") != std::string::npos);
  CHECK(script.find("printf 'M\\t%s\\t%s\\n' 'host/web/file:/etc/a.conf' '/etc/a.conf'") != std::string::npos);
}

TEST_CASE("the batched hash and stat answers map back to their files and directories by path", "[ssh][host][unit]") {
  DesiredResource f, d, odd;
  f.id = "host/web/file:/etc/a.conf";
  f.kind = "file";
  f.spec = {{"path", "/etc/a.conf"}};
  d.id = "host/web/directory:/srv/data";
  d.kind = "directory";
  d.spec = {{"path", "/srv/data"}};
  odd.id = "host/web/file:/etc/we\\ird";
  odd.kind = "file";
  odd.spec = {{"path", "/etc/we\\ird"}};
  std::string script = tend::ssh::probeScript({&f, &d, &odd});
  // One sha256sum and one stat for the batchable ones; a path sha256sum would escape is probed alone.
  CHECK(script.find("sha256sum -- \"$@\"") != std::string::npos);
  CHECK(script.find("stat -c 'F\t%n\t%a %U %G %u %g' -- \"$@\"") != std::string::npos);
  CHECK(script.find("sha256sum <'/etc/we\\ird'") != std::string::npos);
  std::string hash(64, 'a');
  std::string out = "M\thost/web/file:/etc/a.conf\t/etc/a.conf\n"
                    "M\thost/web/directory:/srv/data\t/srv/data\n" +
                    hash + "  /etc/a.conf\n"
                    "F\t/etc/a.conf\t644 root root 0 0\n"
                    "F\t/srv/data\t755 root adm 0 4\n";
  auto p = tend::ssh::parseProbe(out);
  CHECK(p.items[f.id]["sha"] == hash);
  CHECK(p.items[f.id]["stat"] == "644 root root 0 0");
  CHECK(p.items[d.id]["stat"] == "755 root adm 0 4");
  CHECK(p.items[d.id].count("sha") == 0);
}
