// providers.ssh -> HostConfig: defaults, secrets resolved at configuration time, bad input.
#include <catch2/catch.hpp>

#include "providers/ssh/settings.h"

using namespace tend;
using namespace tend::ssh;
using nlohmann::json;

namespace {
class OneSecret : public SecretResolver {
 public:
  std::vector<std::string> names() const override { return {"ssh_private_key"}; }
  Result<SecretString> get(const std::string& name) const override {
    if (name == "ssh_private_key") return SecretString("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n");
    return makeError("no secret " + name);
  }
};
}  // namespace

TEST_CASE("providers.ssh settings become a host's connection settings", "[ssh][settings]") {
  OneSecret secrets;
  json cfg = {{"user", "sfcal"},
              {"private_key", "${secret:ssh_private_key}"},
              {"known_hosts_file", "/etc/tend/known_hosts"},
              {"connect_timeout_s", 7}};
  auto c = hostConfigFor(cfg, "networking", "10.2.20.10", 2222, &secrets);
  REQUIRE(c.ok());
  CHECK(c->user == "sfcal");
  CHECK(c->port == 2222);
  CHECK(c->address == "10.2.20.10");
  CHECK(c->knownHostsFile == "/etc/tend/known_hosts");
  CHECK_FALSE(c->acceptNew);
  CHECK(c->connectTimeout == std::chrono::seconds(7));
  CHECK(c->privateKey.reveal().rfind("-----BEGIN", 0) == 0);
  CHECK(c->target() == "sfcal@10.2.20.10:2222 (networking)");
  // The key is registered with the redactor as soon as it is resolved.
  CHECK(Redactor::instance().redact(c->privateKey.reveal()).find("AAAA") == std::string::npos);

  SECTION("defaults: port from providers.ssh, else 22; root; /etc/tend/known_hosts") {
    auto d = hostConfigFor({{"private_key_file", "/k"}, {"port", 2200}}, "h", "127.0.0.1", 0, nullptr);
    REQUIRE(d.ok());
    CHECK(d->port == 2200);
    CHECK(d->user == "root");
    CHECK(d->knownHostsFile == kDefaultKnownHostsFile);
    auto e = hostConfigFor({{"private_key_file", "/k"}, {"accept_new", true}}, "h", "127.0.0.1", 0,
                           nullptr);
    REQUIRE(e.ok());
    CHECK(e->port == 22);
    CHECK(e->acceptNew);
  }
  SECTION("proxy_jump: [user@]host[:port] with the same key and known_hosts") {
    json j = {{"private_key_file", "/k"}, {"user", "sfcal"}, {"proxy_jump", "jump@bastion.example:2022"}};
    auto p = hostConfigFor(j, "h", "10.0.0.5", 22, nullptr);
    REQUIRE(p.ok());
    REQUIRE(p->proxyJump);
    CHECK(p->proxyJump->user == "jump");
    CHECK(p->proxyJump->address == "bastion.example");
    CHECK(p->proxyJump->port == 2022);
    CHECK(p->proxyJump->privateKeyFile == "/k");
    CHECK(p->proxyJump->knownHostsFile == kDefaultKnownHostsFile);
    CHECK_FALSE(p->proxyJump->proxyJump);
    j["proxy_jump"] = "bastion";
    auto q = hostConfigFor(j, "h", "10.0.0.5", 22, nullptr);
    REQUIRE(q.ok());
    CHECK(q->proxyJump->user == "sfcal");
    CHECK(q->proxyJump->port == 22);
    for (const char* bad : {"bastion:0", "bastion:x", "@bastion", "u@", "bastion:99999"}) {
      j["proxy_jump"] = bad;
      auto r = hostConfigFor(j, "h", "10.0.0.5", 22, nullptr);
      INFO(bad);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().message.find("providers.ssh.proxy_jump") != std::string::npos);
    }
  }
  SECTION("bad input is a terminal error that names the key") {
    auto both = hostConfigFor({{"private_key", "x"}, {"private_key_file", "/k"}}, "h", "a", 0, nullptr);
    REQUIRE_FALSE(both.ok());
    CHECK(both.error().terminal);
    CHECK(both.error().message.find("either 'private_key' or 'private_key_file'") != std::string::npos);
    auto none = hostConfigFor(json::object(), "h", "a", 0, nullptr);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message.find("set private_key or private_key_file") != std::string::npos);
    auto missing = hostConfigFor({{"private_key", "${secret:nope}"}}, "h", "a", 0, &secrets);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("nope") != std::string::npos);
    auto noResolver = hostConfigFor({{"private_key", "${secret:ssh_private_key}"}}, "h", "a", 0, nullptr);
    REQUIRE_FALSE(noResolver.ok());
    auto noAddr = hostConfigFor({{"private_key_file", "/k"}}, "h", "", 0, nullptr);
    REQUIRE_FALSE(noAddr.ok());
  }
}
