// The spec loader knows providers only through their registrations: a provider added here,
// with no change to core/, gets its `providers.NAME` section read by its keys, checked by its
// rules, accepted in reconcile.parallelism and listed in messages.
#include <catch2/catch.hpp>
#include <string>

#include "core/spec.h"
#include "core/spec/model.h"
#include "tests/core/spec/spec_test_util.h"

using tend::ConfigKey;
using tend::LoadResult;
using tend::ProviderCheck;
using tend::ProviderRegistration;
using tend::ProviderRegistry;
using tend::testing::TempSpecDir;

namespace {

std::string lines(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

ProviderRegistration acme() {
  ProviderRegistration r;
  r.name = "acme";
  r.config = {{"url", ConfigKey::Type::String},
              {"ca_file", ConfigKey::Type::Path},
              {"limits", ConfigKey::Type::Map, {{"rate", ConfigKey::Type::Integer}}}};
  r.rules = [](const ProviderCheck& c) {
    if (!c.section) return;
    if (const auto* u = c.string("url"); u && u->v.rfind("https://", 0) != 0)
      c.error(u->loc, "providers.acme.url must be https://, got '" + u->v + "'");
    if (!c.path("ca_file")) c.warning(c.section->loc, "providers.acme: no ca_file, the system CAs are trusted");
  };
  r.kinds = {{"widget", 7}};
  return r;
}

LoadResult load(const TempSpecDir& d, const ProviderRegistry& reg) {
  tend::LoadOptions o;
  o.providers = &reg;
  return tend::loadSpecDir(d.path(), o);
}

}  // namespace

TEST_CASE("a registered provider's section is read by its keys and checked by its rules", "[spec][providers]") {
  ProviderRegistry reg;
  tend::registerBuiltinProviders(reg);
  reg.add(acme());
  TempSpecDir d;
  d.write("environment.yml",
          "environment: t\n"
          "reconcile:\n  parallelism: { acme: 2, docker: 1 }\n"
          "providers:\n"
          "  acme:\n"
          "    url: ftp://example.test\n"
          "    limits: { rate: 5, burst: 1 }\n");
  LoadResult r = load(d, reg);
  INFO(lines(r));
  CHECK_FALSE(r.ok());
  auto has = [&](const std::string& line) { return lines(r).find(line) != std::string::npos; };
  CHECK(has("environment.yml:6:10: providers.acme.url must be https://, got 'ftp://example.test'"));
  CHECK(has("environment.yml:7:24: unknown key 'burst' in providers.acme.limits"));
  CHECK(has("environment.yml:5:3: warning: providers.acme: no ca_file, the system CAs are trusted"));
  CHECK_FALSE(has("parallelism"));

  d.write("environment.yml",
          "environment: t\nproviders:\n  acme: { url: 'https://example.test', ca_file: ca.pem, limits: { rate: 5 } }\n");
  LoadResult ok = load(d, reg);
  INFO(lines(ok));
  REQUIRE(ok.ok());
  const auto& cfg = ok.graph->providerConfigs.at("acme");
  CHECK(cfg["url"] == "https://example.test");
  CHECK(cfg["limits"]["rate"] == 5);
  CHECK(ok.spec->providers.at("acme").strings.count("path:ca_file") == 1);
  CHECK(reg.pruneRank("widget") == 7);
  CHECK(reg.providerOfKind("widget") == "acme");
}

TEST_CASE("unregistered providers are unknown keys, listed from the registry", "[spec][providers]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\nproviders:\n  acme: {}\n");
  ProviderRegistry builtin;
  tend::registerBuiltinProviders(builtin);
  LoadResult r = load(d, builtin);
  CHECK(lines(r) == d.path() + "/environment.yml:3:3: unknown key 'acme' in providers (proxmox, ssh, docker, bind9)\n");

  // No registry at all: no provider section is known.
  ProviderRegistry none;
  d.write("environment.yml", "environment: t\nproviders:\n  docker: {}\n");
  LoadResult bare = load(d, none);
  CHECK(lines(bare) == d.path() + "/environment.yml:3:3: unknown key 'docker' in providers (no provider is registered)\n");
}

TEST_CASE("reconcile.call_timeout sets one provider's call deadline, checked like parallelism", "[spec][providers]") {
  ProviderRegistry reg;
  tend::registerBuiltinProviders(reg);
  TempSpecDir d;
  d.write("environment.yml",
          "environment: t\n"
          "reconcile:\n  call_timeout: { docker: 90s, proxmox: 20m }\n");
  LoadResult ok = load(d, reg);
  INFO(lines(ok));
  REQUIRE(ok.ok());
  CHECK(ok.graph->callTimeouts.at("docker") == std::chrono::seconds(90));
  CHECK(ok.graph->callTimeouts.at("proxmox") == std::chrono::minutes(20));
  CHECK_FALSE(ok.graph->callTimeouts.count("ssh"));

  d.write("environment.yml",
          "environment: t\n"
          "reconcile:\n  call_timeout: { dokcer: 90s, docker: 0s, bind9: soon }\n");
  LoadResult bad = load(d, reg);
  CHECK_FALSE(bad.ok());
  auto has = [&](const std::string& line) { return lines(bad).find(line) != std::string::npos; };
  INFO(lines(bad));
  CHECK(has("unknown key 'dokcer' in reconcile.call_timeout"));
  CHECK(has("reconcile.call_timeout.docker must be at least 1s"));
  CHECK(has("bind9"));
}

TEST_CASE("providers.bind9.transport is checked where it is written and picks where zones are written",
          "[spec][providers]") {
  ProviderRegistry reg;
  tend::registerBuiltinProviders(reg);
  TempSpecDir d;
  d.write("hosts.yml", "hosts:\n  ns: { address: 127.0.0.53 }\n");
  const std::string dns = "dns:\n  domains: [a.test]\n  views:\n    internal: { match_clients: [any] }\n";
  d.write("environment.yml",
          "environment: t\n"
          "providers:\n"
          "  bind9: { server: ns, transport: carrier-pigeon }\n" + dns);
  LoadResult bad = load(d, reg);
  INFO(lines(bad));
  CHECK_FALSE(bad.ok());
  CHECK(lines(bad).find("environment.yml:3:35: providers.bind9.transport must be local or ssh, got 'carrier-pigeon'") !=
        std::string::npos);

  d.write("environment.yml",
          "environment: t\n"
          "providers:\n"
          "  bind9: { server: ns, transport: ssh }\n" + dns);
  LoadResult noSsh = load(d, reg);
  INFO(lines(noSsh));
  CHECK_FALSE(noSsh.ok());
  CHECK(lines(noSsh).find("environment.yml:3:35: bind9 transport 'ssh' needs providers.ssh") != std::string::npos);

  // The default without providers.ssh: this machine (no endpoint in the payloads).
  d.write("environment.yml", "environment: t\nproviders:\n  bind9: { server: ns }\n" + dns);
  LoadResult local = load(d, reg);
  INFO(lines(local));
  REQUIRE(local.ok());
  int zones = 0;
  for (const auto& r : local.graph->resources)
    if (r.provider == "bind9") {
      ++zones;
      CHECK_FALSE(r.spec.contains("endpoint"));
    }
  CHECK(zones >= 2);  // the zone and dnsconf
}

TEST_CASE("reconcile.call_timeout errors name the line and column", "[spec][providers]") {
  ProviderRegistry reg;
  tend::registerBuiltinProviders(reg);
  TempSpecDir d;
  d.write("environment.yml", "environment: t\nreconcile:\n  call_timeout: { dokcer: 90s }\n");
  LoadResult bad = load(d, reg);
  INFO(lines(bad));
  CHECK(lines(bad).find("environment.yml:3:19: unknown key 'dokcer' in reconcile.call_timeout") != std::string::npos);
}

TEST_CASE("the resources of a kind go to the provider registered for it, whatever its name", "[spec][providers]") {
  // A registry where another container engine ("podman") serves the Docker kinds: an app's
  // containers, networks and images are its resources, with no change to core/.
  ProviderRegistry reg;
  ProviderRegistration podman;
  podman.name = "podman";
  podman.kinds = {{"container", 0}, {"network", 1}, {"volume", 1}, {"image", 1}};
  reg.add(podman);
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a:\n    host: h\n    containers:\n      web: { image: busybox:1.36 }\n");
  auto r = load(d, reg);
  INFO(lines(r));
  REQUIRE(r.ok());
  int seen = 0;
  for (const auto& res : r.graph->resources)
    if (res.kind == "container" || res.kind == "network" || res.kind == "image") {
      CHECK(res.provider == "podman");
      ++seen;
    }
  CHECK(seen >= 3);
}
