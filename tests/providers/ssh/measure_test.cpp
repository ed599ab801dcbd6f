// Figures for the README (hidden: run with `tend_ssh_tests "[.ssh-figures]"`). Prints the cost of
// a connection, a pooled exec, atomic writes and reads.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

#include "providers/ssh/host_pool.h"
#include "tests/providers/ssh/ssh_fixture.h"

using namespace tend::ssh;
using namespace std::chrono;

namespace {
// `dir`: a writable directory on the host. bigFile: also time a 16 MiB atomic write.
void measure(const char* label, const HostConfig& cfg, const std::string& dir, bool bigFile) {
  auto within = [](seconds s) { return CallOptions::within(s); };
  auto ms = [](auto d) { return duration<double, std::milli>(d).count(); };
  const int kConnects = 20, kExecs = 200, kFiles = 100;
  auto t0 = steady_clock::now();
  for (int i = 0; i < kConnects; ++i) REQUIRE(Session::open(cfg, within(10s)).ok());
  auto t1 = steady_clock::now();
  HostPool pool(cfg);
  REQUIRE(pool.exec("true", within(10s)).ok());
  auto t2 = steady_clock::now();
  for (int i = 0; i < kExecs; ++i) REQUIRE(pool.exec("true", within(10s)).ok());
  auto t3 = steady_clock::now();
  WriteOptions w;
  std::string small(4096, 'x');
  for (int i = 0; i < kFiles; ++i)
    REQUIRE(pool.writeFileAtomic(dir + "/f", small, w, within(10s)).ok());
  auto t4 = steady_clock::now();
  for (int i = 0; i < kFiles; ++i) REQUIRE(pool.readFile(dir + "/f", within(10s)).ok());
  auto t5 = steady_clock::now();
  std::printf("%s: connect+host key+auth %.2f ms | pooled exec(true) %.2f ms | atomic write 4 KiB "
              "%.2f ms | read 4 KiB %.2f ms\n",
              label, ms(t1 - t0) / kConnects, ms(t3 - t2) / kExecs, ms(t4 - t3) / kFiles,
              ms(t5 - t4) / kFiles);
  if (bigFile) {
    std::string big(16 << 20, 'b');
    auto b0 = steady_clock::now();
    REQUIRE(pool.writeFileAtomic(dir + "/big", big, w, within(120s)).ok());
    std::printf("%s: atomic write 16 MiB %.0f ms\n", label, ms(steady_clock::now() - b0));
  }
}
}  // namespace

TEST_CASE("ssh session layer figures on a private sshd", "[.ssh-figures]") {
  tend::sshtest::PrivateSshd sshd;
  measure("private sshd", sshd.config(), sshd.dir(), true);
}

// A Debian test host has a plain root account: no shell start-up files that cost more than
// the SSH exchange itself.
TEST_CASE("ssh session layer figures on a test host", "[.ssh-figures]") {
  tend::sshtest::TestHosts th(1);
  measure("test host", th.config(0), "/root", false);
}
