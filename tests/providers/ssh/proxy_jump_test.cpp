// proxy_jump: a session to a host reached through a bastion's direct-tcpip channel.
#include <catch2/catch.hpp>
#include <filesystem>

#include "providers/ssh/host_pool.h"
#include "tests/providers/ssh/ssh_fixture.h"

using namespace tend;
using namespace tend::ssh;
using namespace tend::sshtest;
using namespace std::chrono_literals;

namespace {
size_t openFds() {
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, ++n;
  return n;
}
}  // namespace

TEST_CASE("proxy_jump reaches a host through a bastion, with both host keys checked",
          "[ssh][proxyjump]") {
  PrivateSshd bastion;
  PrivateSshd target;
  auto cfg = target.config();
  cfg.proxyJump = std::make_shared<HostConfig>(bastion.config());

  // Warm-up without a jump: libssh and OpenSSL keep a few descriptors of their own.
  REQUIRE(HostPool(bastion.config()).exec("true", CallOptions::within(20s)).ok());
  size_t fdsBefore = openFds();
  {
    HostPool pool(cfg);
    auto r = pool.exec("echo through; echo $SSH_CONNECTION", CallOptions::within(20s));
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    CHECK(r->out.rfind("through\n", 0) == 0);
    // SFTP and a second session over another jump.
    WriteOptions w;
    REQUIRE(pool.writeFileAtomic(target.dir() + "/via-jump.txt", "jumped\n", w,
                                 CallOptions::within(20s))
                .ok());
    CHECK(readText(target.dir() + "/via-jump.txt") == "jumped\n");
    std::string big(1 << 20, 'j');
    auto cat = pool.exec("cat", CallOptions::within(30s), big);
    REQUIRE(cat.ok());
    CHECK(cat->out.size() == big.size());
  }
  // Every pipe and socket of the jump is closed with the session.
  CHECK(openFds() == fdsBefore);
}

TEST_CASE("proxy_jump failures name the hop that failed", "[ssh][proxyjump]") {
  SECTION("the bastion forbids forwarding") {
    PrivateSshd bastion("PermitOpen none\n");
    PrivateSshd target;
    auto cfg = target.config();
    cfg.proxyJump = std::make_shared<HostConfig>(bastion.config());
    auto s = Session::open(cfg, CallOptions::within(20s));
    REQUIRE_FALSE(s.ok());
    INFO(s.error().message);
    CHECK(s.error().message.find("through proxy_jump") != std::string::npos);
    CHECK(s.error().message.find("direct-tcpip refused") != std::string::npos);
  }
  SECTION("the bastion's host key changed") {
    PrivateSshd bastion;
    PrivateSshd target;
    auto jump = bastion.config();
    jump.knownHostsFile = target.dir() + "/known_hosts";  // holds only the target's key
    auto cfg = target.config();
    cfg.proxyJump = std::make_shared<HostConfig>(jump);
    auto s = Session::open(cfg, CallOptions::within(20s));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().terminal);
    CHECK(s.error().message.find("proxy_jump") != std::string::npos);
    CHECK(s.error().message.find("unknown host key") != std::string::npos);
  }
}
