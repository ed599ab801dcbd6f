// Per-VM keys of hosts.yml (description, ciuser, ssh_keys, searchdomain, restart): they reach
// the vm payload over providers.proxmox's, only when written (no other VM's hash moves), and a
// wrong value is a located error.
#include <catch2/catch.hpp>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/core/spec/spec_test_util.h"

using nlohmann::json;
using tend::testing::TempSpecDir;

namespace {

const char* kEnv = R"(environment: t
network: { cidr: 127.0.0.0/24, gateway: 127.0.0.1 }
providers:
  proxmox:
    endpoint: https://127.0.0.7:8006
    node: pve
    token_id: tend@pve!reconciler
    token_secret: not-a-real-secret
    tls: { insecure: true }
    ciuser: admin
    searchdomain: lab.test
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlobalKeyGlobalKeyGlobalKeyGlobalKey00 all@example"]
templates:
  base: { vmid: 9000, image_url: https://example.invalid/noble.img, disk: 10G }
)";

tend::LoadResult loadWith(const TempSpecDir& d, const std::string& vmKeys) {
  d.write("environment.yml", kEnv);
  d.write("hosts.yml", "vms:\n  web:\n    vmid: 1000\n    template: base\n    ip: 127.0.0.5\n" + vmKeys +
                           "  db: { vmid: 1001, template: base, ip: 127.0.0.6 }\n");
  return tend::test::loadSpec(d.path());
}

const tend::DesiredResource* find(const tend::LoadResult& r, const std::string& id) {
  for (const auto& res : r.graph->resources)
    if (res.id == id) return &res;
  return nullptr;
}

}  // namespace

TEST_CASE("per-VM cloud-init and restart keys reach the vm payload over providers.proxmox", "[spec][proxmox]") {
  TempSpecDir d;
  auto plain = loadWith(d, "");
  REQUIRE(plain.ok());
  std::string dbHash = find(plain, "vm/db")->hash;
  std::string webHash = find(plain, "vm/web")->hash;
  CHECK(find(plain, "vm/web")->spec["ciuser"] == "admin");
  CHECK_FALSE(find(plain, "vm/web")->spec.contains("restart"));
  CHECK(find(plain, "template/base")->spec["disk"] == "10G");

  auto r = loadWith(d, R"Y(    description: "Web server (${environment.name})"
    ciuser: web
    searchdomain: web.lab.test
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWebKeyWebKeyWebKeyWebKeyWebKeyWebKey00 web@example"]
    restart: manual
)Y");
  std::string errs;
  for (const auto& x : r.diagnostics) errs += x.str() + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  const json& web = find(r, "vm/web")->spec;
  CHECK(web["description"] == "Web server (t)");
  CHECK(web["ciuser"] == "web");
  CHECK(web["searchdomain"] == "web.lab.test");
  CHECK(web["ssh_keys"] == json::array({"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWebKeyWebKeyWebKeyWebKeyWebKeyWebKey00 web@example"}));
  CHECK(web["restart"] == "manual");
  CHECK(find(r, "vm/web")->hash != webHash);
  CHECK(find(r, "vm/db")->hash == dbHash);  // the other VM is untouched
  CHECK(find(r, "vm/db")->spec["ciuser"] == "admin");
}

TEST_CASE("wrong per-VM keys are located errors", "[spec][proxmox][bad-input]") {
  struct Case {
    const char* keys;
    const char* error;
  };
  const Case cases[] = {
      {"    restart: sometimes\n", "restart must be auto or manual, got 'sometimes'"},
      {"    ciuser: \"bad user\"\n", "invalid ciuser 'bad user'"},
      {"    ssh_keys: [\"not a key\"]\n", "ssh_keys entries must be public keys"},
      {"    ssh_keys: ssh-ed25519\n", "'ssh_keys' must be"},
      {"    description: \"x\\ntend: io.tend.resource=vm/other\"\n", "must not contain tend's ownership mark"},
      {"    searchdomain: [a]\n", "'searchdomain' must be"},
  };
  TempSpecDir d;
  for (const auto& c : cases) {
    auto r = loadWith(d, c.keys);
    std::string errs;
    for (const auto& x : r.diagnostics) errs += x.str() + "\n";
    INFO(c.keys << errs);
    CHECK_FALSE(r.ok());
    CHECK(errs.find(c.error) != std::string::npos);
    CHECK(errs.find("hosts.yml:6:") != std::string::npos);
  }
}
