// The shipped environments must stay valid: specs/wil (the real site) and specs/local (the
// demo) load clean with their real secrets file, and every spec file carries the
// yaml-language-server modeline that hooks editors to specs/schema/tend.schema.json.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "core/resource.h"
#include "core/spec.h"
#include "tests/support/spec_load.h"

namespace {

std::string specDir(const char* name) { return std::string(TEND_SOURCE_DIR) + "/specs/" + name; }

std::string diagnosticsText(const tend::LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += "  " + d.str() + "\n";
  return out;
}

}  // namespace

TEST_CASE("specs/wil loads without errors or warnings", "[core][spec][schema]") {
  tend::LoadOptions opts;
  opts.revision = "test";
  tend::LoadResult r = tend::test::loadSpec(specDir("wil"), opts);
  INFO(diagnosticsText(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  // The seed's 8 VMs, its one non-VM host, the 14 apps + media + 3 infra stacks.
  size_t vms = 0, hosts = 0;
  for (const auto& res : r.graph->resources) {
    vms += res.kind == "vm";
    hosts += res.kind == "host";
  }
  CHECK(vms == 8);
  CHECK(hosts == 9);
  for (const char* id : {"container/bookstack/bookstack", "container/cyberchef/cyberchef",
                         "container/networking/caddy", "container/ca/step-ca",
                         "container/monitoring/grafana", "zone/wil.5am.cloud@internal",
                         "zone/20.2.10.in-addr.arpa@internal", "template/ubuntu-server-wil-base"}) {
    INFO(id);
    CHECK(r.graph->find(id) != nullptr);
  }
  // Images are pinned: no :latest and no untagged references.
  for (const auto& res : r.graph->resources) {
    if (res.kind != "container") continue;
    std::string image = res.spec.value("image", "");
    INFO(res.id << " image " << image);
    auto colon = image.rfind(':');
    REQUIRE(colon != std::string::npos);
    CHECK(image.find('/', colon) == std::string::npos);
    CHECK(image.substr(colon + 1) != "latest");
  }
}

TEST_CASE("specs/local loads without errors or warnings and only touches loopback", "[core][spec][schema]") {
  tend::LoadOptions opts;
  opts.revision = "test";
  tend::LoadResult r = tend::test::loadSpec(specDir("local"), opts);
  INFO(diagnosticsText(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  for (const auto& res : r.graph->resources) {
    if (res.kind != "container") continue;
    for (const auto& p : res.spec.value("ports", nlohmann::json::array())) {
      INFO(res.id << " publishes " << p.dump());
      CHECK(p.value("host_ip", "") == "127.0.0.1");
    }
  }
}

TEST_CASE("every spec file names the schema for yaml-language-server", "[core][spec][schema]") {
  for (const char* env : {"wil", "local"}) {
    for (const char* file : {"environment.yml", "hosts.yml", "apps.yml"}) {
      std::ifstream in(specDir(env) + "/" + file);
      REQUIRE(in.good());
      std::string first;
      std::getline(in, first);
      INFO(env << "/" << file);
      CHECK(first == "# yaml-language-server: $schema=../schema/tend.schema.json");
    }
  }
}
