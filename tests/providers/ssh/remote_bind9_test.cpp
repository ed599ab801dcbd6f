// BIND9 on a DNS server reached over SSH: the bind9 provider's resources carry an ssh://
// endpoint, and every file read, write, rename and every BIND tool (named-checkzone,
// named-checkconf, rndc) goes through the session registry (the daemon's HostSessions). The
// "remote" machine is this one behind a private sshd on 127.0.0.1, and named is a private
// one on loopback ports, so the zones that named serves were written through SSH. A tend
// killed in the middle of an SFTP write leaves the served zone as it was.
#include <sys/wait.h>
#include <utime.h>

#include <catch2/catch.hpp>

#include "providers/bind9/bind9_provider.h"
#include "providers/bind9/temp_files.h"
#include "providers/ssh/session_registry.h"
#include "ssh_fixture.h"
#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::sshtest;
using nlohmann::json;

namespace {

// BIND9 "ns1" behind a private sshd on 127.0.0.1 (this machine's root account) with a private
// named: the bind9 provider reaches it through a session registry, and the wil zones carry the
// ssh:// endpoint.
struct RemoteNs1 {
  PrivateSshd sshd;
  testing::NamedEnv env;
  tend::ssh::SessionRegistry reg;
  std::unique_ptr<Provider> provider;
  std::vector<DesiredResource> desired;

  explicit RemoteNs1(const std::string& prefix) : env(prefix) {
    reg.configure({{"user", "root"},
                   {"private_key_file", sshd.dir() + "/id_ed25519"},
                   {"known_hosts_file", sshd.dir() + "/known_hosts"}});
    ProviderConfig cfg = env.config();
    cfg.config["server"] = "ns1";
    cfg.hostSessions = &reg;
    auto made = bind9::makeBind9Provider(cfg);
    REQUIRE(made.ok());
    provider = std::move(made).value();
    desired = env.wil.resources();
    for (auto& d : desired) {
      d.spec["server"] = "ns1";
      d.spec["endpoint"] = "ssh://root@127.0.0.1:" + std::to_string(sshd.port());
      testing::rehash(d);
    }
  }
};

}  // namespace

TEST_CASE("bind9 on a server reached over ssh: zones written, checked and reloaded through the session",
          "[ssh][bind9][sessions]") {
  RemoteNs1 ns1("tend-bind9-ssh-");
  PrivateSshd& sshd = ns1.sshd;
  testing::NamedEnv& env = ns1.env;
  Provider& p = *ns1.provider;
  auto& desired = ns1.desired;
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

TEST_CASE("bind9 over ssh: a tend killed in the middle of an SFTP zone write leaves the served zone "
          "intact and a temp the next passes sweep once it is stale",
          "[ssh][bind9][sessions][crash]") {
  RemoteNs1 ns1("tend-bind9-ssh-kill-");
  PrivateSshd& sshd = ns1.sshd;
  testing::NamedEnv& env = ns1.env;
  Provider& p = *ns1.provider;
  auto& desired = ns1.desired;
  REQUIRE(testing::converge(p, desired).failures.empty());
  std::string err = env.startNamed();
  INFO(err);
  REQUIRE(err.empty());
  const std::string zone = bind9::zoneFilePath(env.wil.confDir, "internal", "wil.5am.cloud");
  const std::string before = testing::slurp(zone);
  REQUIRE_FALSE(before.empty());

  // The tend that dies: its own connection to the server, replacing the zone with 256 MiB
  // through the same writer the provider uses. Once 1 MiB is on the server the parent kills
  // it with SIGKILL (no destructor, no cleanup, the connection simply gone).
  int progress[2];
  REQUIRE(::pipe(progress) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(progress[0]);
    tend::ssh::CallOptions opts;
    opts.deadline = tend::ssh::Clock::now() + std::chrono::seconds(60);
    auto s = tend::ssh::Session::open(sshd.config(), opts);
    if (!s.ok()) ::_exit(3);
    std::string content(256u << 20, ';');
    tend::ssh::WriteOptions w;
    bool told = false;
    w.onProgress = [&](size_t n) {
      if (n >= (1u << 20) && !told) {
        told = true;
        char c = 'w';
        if (::write(progress[1], &c, 1) != 1) ::_exit(5);
      }
    };
    (void)(*s)->writeFileAtomic(zone, content, w, opts);
    ::_exit(4);  // the write was not cut off
  }
  ::close(progress[1]);
  char c = 0;
  const bool writing = ::read(progress[0], &c, 1) == 1;
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(progress[0]);
  REQUIRE(writing);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // The served zone is the old one, and named still answers from it.
  CHECK(testing::slurp(zone) == before);
  CHECK(env.named.dig("bookstack.wil.5am.cloud", "A") == "10.2.20.53");
  // What the cut-off write left: one temp beside the zone, recognised as the writer's.
  const std::string dir = zone.substr(0, zone.rfind('/'));
  const std::string base = zone.substr(zone.rfind('/') + 1);
  std::vector<std::string> temps;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("." + base + ".tend-", 0) == 0) temps.push_back(e.path().string());
  }
  REQUIRE(temps.size() == 1);
  const std::string temp = temps.front();
  const std::string tempName = temp.substr(temp.rfind('/') + 1);
  auto parsed = bind9::parseTempName(tempName);
  REQUIRE(parsed);
  CHECK(parsed->target == base);
  const auto partial = fs::file_size(temp);
  CHECK(partial > 0);
  CHECK(partial < (256u << 20));

  // A fresh temp may be another tend's write in flight: the next pass keeps it, changes nothing.
  auto r1 = testing::converge(p, desired);
  CHECK(r1.failures.empty());
  CHECK(r1.applied.empty());
  CHECK(fs::exists(temp));
  // Once it is older than the sweep age (an hour here) the next pass removes it.
  struct utimbuf t;
  t.actime = t.modtime = ::time(nullptr) - 3600;
  REQUIRE(::utime(temp.c_str(), &t) == 0);
  auto r2 = testing::converge(p, desired);
  CHECK(r2.failures.empty());
  CHECK(r2.applied.empty());
  CHECK_FALSE(fs::exists(temp));
  CHECK(testing::slurp(zone) == before);
  CHECK(env.named.dig("bookstack.wil.5am.cloud", "A") == "10.2.20.53");
}
