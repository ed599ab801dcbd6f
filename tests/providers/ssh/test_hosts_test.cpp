// The session layer against the Debian test hosts (containers on 127.2.0.x:22).
#include <catch2/catch.hpp>
#include <thread>

#include "providers/ssh/host_pool.h"
#include "tests/providers/ssh/ssh_fixture.h"

using namespace tend;
using namespace tend::ssh;
using namespace tend::sshtest;
using namespace std::chrono_literals;

TEST_CASE("test hosts: Debian containers take key auth, exec, sudo and SFTP writes",
          "[ssh][testhosts]") {
  TestHosts th(2);
  for (size_t i = 0; i < th.hosts().size(); ++i) {
    HostPool pool(th.config(i));
    auto os = pool.exec("cat /etc/debian_version; hostname", CallOptions::within(20s));
    REQUIRE(os.ok());
    CHECK(os->out.rfind("12.", 0) == 0);
    CHECK(os->out.find(th.hosts()[i].name) != std::string::npos);
    auto py = pool.exec("command -v python3", CallOptions::within(20s));
    REQUIRE(py.ok());
    CHECK(py->exitStatus != 0);  // the hosts have no python: tend must not need it

    WriteOptions w;
    w.mode = 0600;
    REQUIRE(pool.writeFileAtomic("/etc/tend-test.conf", "managed\n", w, CallOptions::within(20s)).ok());
    auto st = pool.exec("stat -c '%a %U' /etc/tend-test.conf; cat /etc/tend-test.conf",
                        CallOptions::within(20s));
    REQUIRE(st.ok());
    CHECK(st->out == "600 root\nmanaged\n");
  }
  // The sudo user the VM templates create.
  HostPool user(th.config(0, "tend"));
  auto sudo = user.exec("sudo -n id -u", CallOptions::within(20s));
  REQUIRE(sudo.ok());
  CHECK(sudo->out == "0\n");
}

TEST_CASE("test hosts: one host down fails on its own, the other goes on, and it comes back",
          "[ssh][testhosts][faults]") {
  TestHosts th(2);
  HostPool a(th.config(0)), b(th.config(1));
  REQUIRE(a.exec("true", CallOptions::within(20s)).ok());
  REQUIRE(b.exec("true", CallOptions::within(20s)).ok());

  sh("docker stop -t 1 " + th.hosts()[0].container + " 2>&1");
  auto t0 = Clock::now();
  auto down = a.exec("true", CallOptions::within(4s));
  REQUIRE_FALSE(down.ok());
  CHECK(Clock::now() - t0 < 6s);
  INFO(down.error().message);
  CHECK(down.error().message.find(th.hosts()[0].address) != std::string::npos);
  auto other = b.exec("echo fine", CallOptions::within(20s));
  REQUIRE(other.ok());
  CHECK(other->out == "fine\n");

  sh("docker start " + th.hosts()[0].container + " 2>&1");
  for (int i = 0; i < 100 && !sshBanner(th.hosts()[0].address, 22); ++i)
    std::this_thread::sleep_for(100ms);
  auto back = a.exec("echo back", CallOptions::within(20s));
  INFO((back.ok() ? std::string() : back.error().message));
  REQUIRE(back.ok());
  CHECK(back->out == "back\n");
}

TEST_CASE("test hosts: a host whose key changed is refused, nothing runs on it",
          "[ssh][testhosts][hostkey]") {
  TestHosts th(2);
  // Host 1 answers on host 0's address in the known_hosts file: as if host 0 were replaced.
  auto cfg = th.config(1);
  std::string kh = readText(cfg.knownHostsFile);
  std::string wrong = cfg.knownHostsFile + ".swapped";
  std::string line0 = kh.substr(0, kh.find('\n'));
  std::string line1 = kh.substr(kh.find('\n') + 1);
  line1 = line1.substr(0, line1.find('\n'));
  // The address of host 1 with the key of host 0.
  writeText(wrong, th.hosts()[1].address + line0.substr(line0.find(' ')) + "\n", 0600);
  cfg.knownHostsFile = wrong;
  HostPool pool(cfg);
  auto r = pool.exec("touch /tmp/should-not-exist", CallOptions::within(20s));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().terminal);
  CHECK(r.error().message.find("host key mismatch") != std::string::npos);
  auto fp0 = fingerprintOfPublicKey(line0.substr(line0.find(' ') + 1));
  auto fp1 = fingerprintOfPublicKey(line1.substr(line1.find(' ') + 1));
  REQUIRE(fp0.ok());
  REQUIRE(fp1.ok());
  CHECK(r.error().message.find(*fp0) != std::string::npos);
  CHECK(r.error().message.find(*fp1) != std::string::npos);
  HostPool good(th.config(1));
  auto check = good.exec("test -e /tmp/should-not-exist", CallOptions::within(20s));
  REQUIRE(check.ok());
  CHECK(check->exitStatus == 1);
}
