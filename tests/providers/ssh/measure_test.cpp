// Figures for the README (hidden: run with `tend_ssh_tests "[.ssh-figures]"`). Prints the cost of
// a connection, a pooled exec, atomic writes and reads against a private sshd on loopback.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

#include "providers/ssh/host_pool.h"
#include "tests/providers/ssh/ssh_fixture.h"

using namespace tend::ssh;
using namespace std::chrono;

TEST_CASE("ssh session layer figures", "[.ssh-figures]") {
  tend::sshtest::PrivateSshd sshd;
  auto within = [](seconds s) { return CallOptions::within(s); };
  auto ms = [](auto d) { return duration<double, std::milli>(d).count(); };
  const int kConnects = 20, kExecs = 200, kFiles = 100;
  auto t0 = steady_clock::now();
  for (int i = 0; i < kConnects; ++i) REQUIRE(Session::open(sshd.config(), within(10s)).ok());
  auto t1 = steady_clock::now();
  HostPool pool(sshd.config());
  REQUIRE(pool.exec("true", within(10s)).ok());
  auto t2 = steady_clock::now();
  for (int i = 0; i < kExecs; ++i) REQUIRE(pool.exec("true", within(10s)).ok());
  auto t3 = steady_clock::now();
  WriteOptions w;
  std::string small(4096, 'x');
  for (int i = 0; i < kFiles; ++i)
    REQUIRE(pool.writeFileAtomic(sshd.dir() + "/f", small, w, within(10s)).ok());
  auto t4 = steady_clock::now();
  std::string big(16 << 20, 'b');
  REQUIRE(pool.writeFileAtomic(sshd.dir() + "/big", big, w, within(120s)).ok());
  auto t5 = steady_clock::now();
  for (int i = 0; i < kFiles; ++i) REQUIRE(pool.readFile(sshd.dir() + "/f", within(10s)).ok());
  auto t6 = steady_clock::now();
  std::printf(
      "connect+host key+auth %.2f ms | pooled exec(true) %.2f ms | atomic write 4 KiB %.2f ms | "
      "atomic write 16 MiB %.0f ms (%.1f MiB/s) | read 4 KiB %.2f ms\n",
      ms(t1 - t0) / kConnects, ms(t3 - t2) / kExecs, ms(t4 - t3) / kFiles, ms(t5 - t4),
      16 / (ms(t5 - t4) / 1000), ms(t6 - t5) / kFiles);
}

// The same against a Debian test host (a plain root account: no shell start-up files that
// cost more than the SSH exchange itself).
TEST_CASE("ssh session layer figures on a test host", "[.ssh-figures]") {
  tend::sshtest::TestHosts th(1);
  auto within = [](seconds s) { return CallOptions::within(s); };
  auto ms = [](auto d) { return duration<double, std::milli>(d).count(); };
  const int kConnects = 20, kExecs = 200, kFiles = 100;
  auto t0 = steady_clock::now();
  for (int i = 0; i < kConnects; ++i) REQUIRE(Session::open(th.config(0), within(10s)).ok());
  auto t1 = steady_clock::now();
  HostPool pool(th.config(0));
  REQUIRE(pool.exec("true", within(10s)).ok());
  auto t2 = steady_clock::now();
  for (int i = 0; i < kExecs; ++i) REQUIRE(pool.exec("true", within(10s)).ok());
  auto t3 = steady_clock::now();
  WriteOptions w;
  std::string small(4096, 'x');
  for (int i = 0; i < kFiles; ++i) REQUIRE(pool.writeFileAtomic("/root/f", small, w, within(10s)).ok());
  auto t4 = steady_clock::now();
  for (int i = 0; i < kFiles; ++i) REQUIRE(pool.readFile("/root/f", within(10s)).ok());
  auto t5 = steady_clock::now();
  std::printf("test host: connect+host key+auth %.2f ms | pooled exec(true) %.2f ms | atomic write "
              "4 KiB %.2f ms | read 4 KiB %.2f ms\n",
              ms(t1 - t0) / kConnects, ms(t3 - t2) / kExecs, ms(t4 - t3) / kFiles,
              ms(t5 - t4) / kFiles);
}
