// The operator policy over container payloads: the default refuses bind mounts that hand a
// container the host (/, the Docker socket, tend's own directories) and points at the spec
// line asking for it; a policy file allows or forbids the rest.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/spec.h"
#include "providers/docker/policy.h"
#include "tests/support/spec_load.h"

using namespace tend;
using namespace tend::docker;
namespace fs = std::filesystem;

namespace {

struct SpecDir {
  std::string dir;
  SpecDir() {
    char tmpl[] = "/tmp/tend-policy-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    write("environment.yml",
          "environment: pol\nnetwork: { cidr: 127.0.0.0/8 }\nproviders:\n"
          "  docker: { transport: \"unix:/nonexistent/docker.sock\" }\n");
    write("hosts.yml", "hosts:\n  local: { address: 127.0.0.1 }\n");
  }
  ~SpecDir() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir + "/" + name) << text;
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }
};

// Line numbers below refer to this text.
const char* kApps =
    "apps:\n"                                           // 1
    "  box:\n"                                          // 2
    "    host: local\n"                                 // 3
    "    containers:\n"                                 // 4
    "      root:\n"                                     // 5
    "        image: busybox:1.36\n"                     // 6
    "        privileged: true\n"                        // 7
    "        network_mode: host\n"                      // 8
    "        cap_add: [NET_ADMIN, SYS_ADMIN]\n"         // 9
    "        devices: [\"/dev/dri:/dev/dri\"]\n"        // 10
    "        volumes:\n"                                // 11
    "          - /:/host\n"                             // 12
    "          - /var/run/docker.sock:/var/run/docker.sock\n"  // 13
    "          - /srv/data:/data\n"                     // 14
    "          - /run:/hostrun\n"                       // 15
    "          - /etc/tend/age.key:/key:ro\n";          // 16

bool hasAt(const Diagnostics& d, int line, const std::string& text) {
  for (const auto& x : d)
    if (x.loc.line == line && x.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the default policy refuses binds of /, the Docker socket and tend's directories, located",
          "[docker][unit][policy]") {
  SpecDir s;
  s.write("apps.yml", kApps);
  LoadResult r = tend::test::loadSpec(s.dir);
  for (const auto& x : r.diagnostics) UNSCOPED_INFO(x.str());
  REQUIRE(r.ok());
  auto d = checkContainerPolicy(*r.graph, defaultContainerPolicy());
  for (const auto& x : d) INFO(x.str());
  CHECK(d.size() == 4);
  CHECK(hasAt(d, 12, "bind mount of / (the host's root filesystem) is refused by the default policy"));
  CHECK(hasAt(d, 13, "bind mount of /var/run/docker.sock"));
  CHECK(hasAt(d, 15, "bind mount of /run (it contains /run/docker.sock)"));
  CHECK(hasAt(d, 16, "bind mount of /etc/tend/age.key (inside /etc/tend)"));
  for (const auto& x : d) {
    CHECK(x.loc.file.find("apps.yml") != std::string::npos);
    CHECK(x.loc.col > 0);
  }

  // A refused spec is an invalid one: no graph, the errors with the rest.
  LoadResult again = tend::test::loadSpec(s.dir);
  enforceContainerPolicy(again, defaultContainerPolicy());
  CHECK_FALSE(again.ok());
  CHECK(hasErrors(again.diagnostics));

  // The daemon adds its own paths (state directory, credential files).
  auto own = checkContainerPolicy(*r.graph, defaultContainerPolicy({"/srv"}));
  CHECK(hasAt(own, 14, "bind mount of /srv/data (inside /srv)"));
}

TEST_CASE("a policy file allows what the default refuses and forbids the rest",
          "[docker][unit][policy]") {
  SpecDir s;
  s.write("apps.yml", kApps);
  LoadResult r = tend::test::loadSpec(s.dir);
  for (const auto& x : r.diagnostics) UNSCOPED_INFO(x.str());
  REQUIRE(r.ok());

  s.write("allow.yml", "containers:\n  bind_mounts: { deny: [] }\n");
  auto allow = loadContainerPolicy(s.path("allow.yml"), defaultContainerPolicy());
  REQUIRE(allow.policy);
  CHECK(checkContainerPolicy(*r.graph, *allow.policy).empty());
  LoadResult ok = tend::test::loadSpec(s.dir);
  enforcePolicyFile(ok, s.path("allow.yml"), defaultContainerPolicy());
  CHECK(ok.ok());

  s.write("strict.yml",
          "containers:\n"
          "  privileged: false\n"
          "  host_network: false\n"
          "  capabilities: [net_admin]\n"
          "  devices: [/dev/net]\n"
          "  bind_mounts:\n"
          "    allow: [/srv, /opt/appdata]\n"
          "    deny: [/srv/secret]\n");
  auto strict = loadContainerPolicy(s.path("strict.yml"), defaultContainerPolicy());
  REQUIRE(strict.policy);
  auto d = checkContainerPolicy(*r.graph, *strict.policy);
  for (const auto& x : d) INFO(x.str());
  CHECK(hasAt(d, 7, "a privileged container is refused by policy " + s.path("strict.yml")));
  CHECK(hasAt(d, 8, "network_mode: host"));
  CHECK(hasAt(d, 9, "capability SYS_ADMIN"));
  CHECK_FALSE(hasAt(d, 9, "capability NET_ADMIN"));
  CHECK(hasAt(d, 10, "device /dev/dri"));
  CHECK(hasAt(d, 12, "outside the allowed sources"));
  CHECK_FALSE(hasAt(d, 14, "bind mount"));  // /srv/data: allowed
}

TEST_CASE("a broken policy file is reported with its location", "[docker][unit][policy]") {
  SpecDir s;
  s.write("bad.yml", "containers:\n  privileged: maybe\n  bind_mounts: { deny: [relative/path] }\n  colour: red\n");
  auto p = loadContainerPolicy(s.path("bad.yml"), defaultContainerPolicy());
  CHECK_FALSE(p.policy);
  REQUIRE(p.diagnostics.size() >= 3);
  for (const auto& x : p.diagnostics) CHECK(x.loc.file == s.path("bad.yml"));
  CHECK(hasAt(p.diagnostics, 2, ""));
  CHECK(hasAt(p.diagnostics, 3, "not an absolute path"));
  CHECK(hasAt(p.diagnostics, 4, "colour"));
}
