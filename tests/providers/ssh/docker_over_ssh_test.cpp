// Docker over SSH: the Docker provider's ssh:// endpoints reach a host's /var/run/docker.sock
// through a direct-streamlocal channel of the session registry configured from providers.ssh
// (the daemon's HostSessions). The test host has the local dockerd's socket mounted, so the
// containers the provider makes through sshd are the local dockerd's.
#include <catch2/catch.hpp>

#include "providers/docker/docker_provider.h"
#include "providers/ssh/session_registry.h"
#include "ssh_fixture.h"

using namespace tend;
using namespace tend::sshtest;

TEST_CASE("docker over ssh: the docker provider manages a network through a test host's sshd",
          "[ssh][docker][sessions]") {
  if (::access("/var/run/docker.sock", W_OK) != 0) skipTest("no local docker socket", true);
  TestHosts hosts(1, "-v /var/run/docker.sock:/var/run/docker.sock");
  tend::ssh::SessionRegistry reg;
  auto cfg = hosts.config(0);
  reg.configure({{"user", "root"}, {"private_key_file", cfg.privateKeyFile}, {"known_hosts_file", cfg.knownHostsFile}});

  ProviderConfig pc;
  pc.config = {{"transport", "ssh"}};
  pc.environment = "sshdocker";
  pc.hostSessions = &reg;
  auto p = docker::makeDockerProvider(pc);
  REQUIRE(p.ok());
  std::string name = "tend-sshdocker-" + std::to_string(::getpid());
  DesiredResource d;
  d.id = "network/h1/" + name;
  d.kind = "network";
  d.provider = "docker";
  d.host = "h1";
  d.hash = "hash1";
  d.spec = {{"endpoint", "ssh://root@" + cfg.address + ":22"}, {"name", name}, {"driver", "bridge"},
            {"environment", "sshdocker"}, {"host", "h1"}, {"app", "x"}, {"labels", nlohmann::json::object()},
            {"external", false}};
  CallContext ctx;
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  ctx.environment = "sshdocker";
  ObserveRequest oreq;
  oreq.desired = {&d};
  oreq.ctx = ctx;
  auto o = (*p)->observe(oreq);
  REQUIRE_FALSE(o.scopeError.has_value());
  CHECK_FALSE(o.observed[d.id].exists);
  PlanRequest preq;
  preq.desired = &d;
  auto plan = (*p)->plan(preq);
  CHECK(plan.action == Action::Create);
  ApplyRequest areq;
  areq.action = plan;
  areq.desired = &d;
  areq.ctx = ctx;
  auto a = (*p)->apply(areq);
  INFO(a.message);
  REQUIRE(a.outcome == Outcome::Ok);
  // The local dockerd has it, with tend's mark.
  CHECK(sh("docker network inspect -f '{{index .Labels \"io.tend.resource\"}}' " + name + " 2>&1") == d.id);
  CHECK(reg.streamsOpened() >= 2);
  auto o2 = (*p)->observe(oreq);
  CHECK(o2.observed[d.id].exists);
  CHECK(o2.observed[d.id].owned);
  sh("docker network rm " + name + " >/dev/null 2>&1");
}

TEST_CASE("docker over ssh without providers.ssh names the host", "[ssh][docker][sessions]") {
  tend::ssh::SessionRegistry reg;
  auto s = reg.openStream(HostAddress{"root", "127.2.0.250", 22}, "/var/run/docker.sock",
                          std::chrono::steady_clock::now() + std::chrono::seconds(2));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "no SSH session to ssh://root@127.2.0.250:22: providers.ssh is not configured");
}
