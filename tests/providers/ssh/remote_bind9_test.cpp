// BIND9 on a DNS server reached over SSH: the bind9 provider's resources carry an ssh://
// endpoint, and every file read, write, rename and every BIND tool (named-checkzone,
// named-checkconf, rndc) goes through the session registry (the daemon's HostSessions). The
// "remote" machine is this one behind a private sshd on 127.0.0.1, and named is a private
// one on loopback ports, so the zones that named serves were written through SSH.
#include <catch2/catch.hpp>

#include "providers/bind9/bind9_provider.h"
#include "providers/ssh/session_registry.h"
#include "ssh_fixture.h"
#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::sshtest;
using nlohmann::json;

TEST_CASE("bind9 on a server reached over ssh: zones written, checked and reloaded through the session",
          "[ssh][bind9][sessions]") {
  PrivateSshd sshd;
  testing::NamedEnv env("tend-bind9-ssh-");
  tend::ssh::SessionRegistry reg;
  reg.configure({{"user", "root"},
                 {"private_key_file", sshd.dir() + "/id_ed25519"},
                 {"known_hosts_file", sshd.dir() + "/known_hosts"}});
  ProviderConfig cfg = env.config();
  cfg.config["server"] = "ns1";
  cfg.hostSessions = &reg;
  auto made = bind9::makeBind9Provider(cfg);
  REQUIRE(made.ok());
  Provider& p = **made;

  const std::string ep = "ssh://root@127.0.0.1:" + std::to_string(sshd.port());
  auto desired = env.wil.resources();
  for (auto& d : desired) {
    d.spec["server"] = "ns1";
    d.spec["endpoint"] = ep;
    testing::rehash(d);
  }
  auto r1 = testing::converge(p, desired);
  INFO(json(r1.failures).dump());
  REQUIRE(r1.failures.empty());
  REQUIRE(r1.applied.size() == desired.size());
  CHECK(testing::slurp(env.wil.confDir + "/named.conf.tend").rfind("// managed by tend: resource dnsconf/", 0) == 0);

  std::string err = env.startNamed();
  INFO(err);
  REQUIRE(err.empty());
  CHECK(env.named.dig("bookstack.wil.5am.cloud", "A") == "10.2.20.53");
  CHECK(env.named.dig("bookstack.wil.5am.cloud", "A", "127.0.0.2") == "203.0.113.10");

  // A no-op pass over SSH changes nothing.
  auto r2 = testing::converge(p, desired);
  CHECK(r2.failures.empty());
  CHECK(r2.applied.empty());

  // A record changes: the zone file is replaced over SSH and rndc (run on the server) reloads it.
  for (auto& d : desired)
    if (d.id == bind9::zoneId("wil.5am.cloud", "internal")) {
      for (auto& r : d.spec["records"])
        if (r["name"] == "hmg") r["value"] = "10.2.20.187";
      testing::rehash(d);
    }
  auto r3 = testing::converge(p, desired);
  INFO(json(r3.failures).dump());
  CHECK(r3.failures.empty());
  CHECK(r3.applied == std::vector<std::string>{bind9::zoneId("wil.5am.cloud", "internal")});
  CHECK(testing::digUntil(env.named, "hmg.wil.5am.cloud", "A", "10.2.20.187") == "10.2.20.187");

  // The files really go through the session: with sshd down, observing the server fails
  // naming it.
  sshd.stop();
  ObserveRequest oreq;
  for (auto& d : desired) oreq.desired.push_back(&d);
  oreq.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto o = p.observe(oreq);
  REQUIRE(o.errors.count(desired.front().id));
  CHECK(o.errors[desired.front().id].message.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("bind9 over ssh without a reachable server fails its resources with the server's address",
          "[ssh][bind9][sessions]") {
  tend::ssh::SessionRegistry reg;
  std::string dir = tempDir("tend-bind9-ssh-down-");
  // Nothing listens there (a free loopback port): a connection refused, quickly.
  int port = freePort();
  writeText(dir + "/known_hosts", "");
  REQUIRE(sh("ssh-keygen -q -t ed25519 -N '' -f " + dir + "/id_ed25519 >/dev/null 2>&1; echo $?") == "0");
  reg.configure({{"user", "root"}, {"private_key_file", dir + "/id_ed25519"}, {"known_hosts_file", dir + "/known_hosts"}});
  ProviderConfig cfg;
  cfg.config = {{"server", "ns1"}, {"conf_dir", "/etc/bind"}, {"reload", "none"}};
  cfg.stateDir = dir + "/state";
  cfg.hostSessions = &reg;
  auto made = bind9::makeBind9Provider(cfg);
  REQUIRE(made.ok());
  auto d = testing::makeResource("zone/a.test@internal", "zone",
                                 {{"zone", "a.test"},
                                  {"view", "internal"},
                                  {"server", "ns1"},
                                  {"endpoint", "ssh://root@127.0.0.1:" + std::to_string(port)},
                                  {"conf_dir", "/etc/bind"}});
  ObserveRequest oreq;
  oreq.desired = {&d};
  oreq.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto o = (*made)->observe(oreq);
  REQUIRE(o.errors.count(d.id));
  const std::string& msg = o.errors[d.id].message;
  INFO(msg);
  CHECK(msg.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  // The connection itself failed (not a configuration error before it).
  CHECK((msg.find("refused") != std::string::npos || msg.find("connect") != std::string::npos));
  CHECK(msg.find("private_key") == std::string::npos);
  fs::remove_all(dir);
}
