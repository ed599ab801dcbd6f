// The SSH session layer against a real sshd started by the test (127.0.0.1, own config).
#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/log.h"
#include "providers/ssh/host_pool.h"
#include "tests/providers/ssh/ssh_fixture.h"

using namespace tend;
using namespace tend::ssh;
using namespace tend::sshtest;
using namespace std::chrono_literals;

namespace {
CallOptions within(std::chrono::milliseconds d) { return CallOptions::within(d); }

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("libssh is mapped at the first SSH use and not when the process starts", "[ssh][session]") {
  // Each test case runs in its own process (ctest), so nothing has used SSH yet here.
  auto loaded = [] {
    void* h = ::dlopen("libssh.so.4", RTLD_NOW | RTLD_NOLOAD);
    if (h) ::dlclose(h);
    return h != nullptr;
  };
  CHECK_FALSE(loaded());
  auto fp = fingerprintOfPublicKey(
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkztuH09u9fdv5brY6qdi7oas+1MaFKWvrOP60aTdgG tend-test");
  REQUIRE(fp.ok());
  CHECK(*fp == "SHA256:8z9WQaNEXoT4u9gEo9/8TEMWD7XlI3YRsSQZuEYmGHU");  // as ssh-keygen -l prints it
  CHECK(loaded());
}

TEST_CASE("key file auth runs commands with stdin, stdout, stderr and exit status",
          "[ssh][session]") {
  PrivateSshd sshd;
  auto s = Session::open(sshd.config(), within(10s));
  REQUIRE(s.ok());
  auto r = (*s)->exec("echo out; echo err >&2; exit 3", within(10s));
  REQUIRE(r.ok());
  CHECK(r->out == "out\n");
  CHECK(r->err == "err\n");
  CHECK(r->exitStatus == 3);

  auto ok = (*s)->exec("true", within(10s));
  REQUIRE(ok.ok());
  CHECK(ok->exitStatus == 0);

  // stdin larger than the channel window: written as the window opens, never deadlocks
  // against a command that writes while it reads.
  std::string big(3 << 20, 'x');
  auto cat = (*s)->exec("cat", within(30s), big);
  REQUIRE(cat.ok());
  CHECK(cat->out.size() == big.size());
  CHECK(cat->exitStatus == 0);
}

TEST_CASE("key material given in memory authenticates and is never quoted", "[ssh][session]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  std::string key = readText(cfg.privateKeyFile);
  cfg.privateKeyFile.clear();
  cfg.privateKey = SecretString(key);
  auto s = Session::open(cfg, within(10s));
  REQUIRE(s.ok());
  auto r = (*s)->exec("echo hi", within(10s));
  REQUIRE(r.ok());
  CHECK(r->out == "hi\n");

  // A damaged key: the error names the problem, never the material.
  std::string damaged = key.substr(0, key.size() / 2) + "\n";
  cfg.privateKey = SecretString(damaged);
  Result<std::unique_ptr<Session>> bad = makeError("not run");
  std::string log = captureStderr([&] {
    bad = Session::open(cfg, within(10s));
    REQUIRE(Session::open(sshd.config(), within(10s)).ok());
  });
  REQUIRE_FALSE(bad.ok());
  // Nothing of either key reached the log.
  CHECK_FALSE(contains(log, key.substr(40, 30)));
  CHECK_FALSE(contains(log, "PRIVATE KEY"));
  CHECK(contains(bad.error().message, "not a private key"));
  CHECK_FALSE(contains(bad.error().message, damaged.substr(40, 30)));
}

TEST_CASE("a key the host does not authorize is refused with a clear reason", "[ssh][session]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  REQUIRE(keygen(sshd.dir() + "/other_key", "other"));
  cfg.privateKeyFile = sshd.dir() + "/other_key";
  auto s = Session::open(cfg, within(10s));
  REQUIRE_FALSE(s.ok());
  CHECK(contains(s.error().message, "authentication as root refused"));
}

TEST_CASE("a changed host key is refused with the expected and offered fingerprints",
          "[ssh][session][hostkey]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  // known_hosts holds another key for this host.
  REQUIRE(keygen(sshd.dir() + "/impostor", "impostor"));
  std::string expectedLine = pubKeyLine(sshd.dir() + "/impostor.pub");
  REQUIRE(keygen(sshd.dir() + "/unrelated", "unrelated"));
  std::string unrelatedLine = pubKeyLine(sshd.dir() + "/unrelated.pub");
  writeText(cfg.knownHostsFile,
            "# comment\n127.0.0.9 " + unrelatedLine + "\n[127.0.0.1]:" +
                std::to_string(sshd.port()) + " " + expectedLine + "\n",
            0600);
  auto expected = fingerprintOfPublicKey(expectedLine);
  REQUIRE(expected.ok());
  std::string offered = sshd.hostKeyFingerprint();
  REQUIRE(!offered.empty());

  // accept_new never overrides a mismatch.
  cfg.acceptNew = true;
  auto s = Session::open(cfg, within(10s));
  REQUIRE_FALSE(s.ok());
  INFO(s.error().message);
  CHECK(s.error().terminal);
  CHECK(contains(s.error().message, "host key mismatch"));
  CHECK(contains(s.error().message, *expected));
  CHECK(contains(s.error().message, offered));
  CHECK_FALSE(contains(s.error().message, *fingerprintOfPublicKey(unrelatedLine)));
  CHECK(contains(s.error().message, "nothing was executed"));
  // The file is left as it was.
  CHECK(readText(cfg.knownHostsFile).find(expectedLine) != std::string::npos);
}

TEST_CASE("an unknown host is refused unless accept_new, which records and logs its key",
          "[ssh][session][hostkey]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  cfg.knownHostsFile = sshd.dir() + "/fresh/known_hosts";  // does not exist yet
  auto refused = Session::open(cfg, within(10s));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().terminal);
  CHECK(contains(refused.error().message, "unknown host key"));
  CHECK(contains(refused.error().message, sshd.hostKeyFingerprint()));
  CHECK_FALSE(fs::exists(cfg.knownHostsFile));

  cfg.acceptNew = true;
  Result<std::unique_ptr<Session>> s = makeError("not run");
  std::string log = captureStderr([&] { s = Session::open(cfg, within(10s)); });
  REQUIRE(s.ok());
  CHECK(contains(log, "accept_new recorded the host key"));
  CHECK(contains(log, sshd.hostKeyFingerprint()));
  std::string recorded = readText(cfg.knownHostsFile);
  CHECK(contains(recorded, pubKeyLine(sshd.dir() + "/host_key.pub").substr(12)));
  struct stat st {};
  REQUIRE(::stat(cfg.knownHostsFile.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);

  // Recorded: strict mode now accepts it, and a second accept adds no line.
  cfg.acceptNew = false;
  auto again = Session::open(cfg, within(10s));
  REQUIRE(again.ok());
  cfg.acceptNew = true;
  REQUIRE(Session::open(cfg, within(10s)).ok());
  CHECK(readText(cfg.knownHostsFile) == recorded);
}

TEST_CASE("SFTP reads and atomically writes files with mode and owner", "[ssh][sftp]") {
  PrivateSshd sshd;
  auto s = Session::open(sshd.config(), within(10s));
  REQUIRE(s.ok());
  std::string dir = sshd.dir() + "/files";
  fs::create_directories(dir);
  std::string path = dir + "/app.conf";

  auto missing = (*s)->readFile(path, within(10s));
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  WriteOptions w;
  w.mode = 0640;
  w.uid = 1000;
  w.gid = 1000;
  REQUIRE((*s)->writeFileAtomic(path, "first\n", w, within(10s)).ok());
  CHECK(readText(path) == "first\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1000);

  // Replacing keeps mode and owner when none are given.
  std::string content(200 * 1024, 'y');
  REQUIRE((*s)->writeFileAtomic(path, content, WriteOptions{}, within(10s)).ok());
  auto back = (*s)->readFile(path, within(10s));
  REQUIRE(back.ok());
  REQUIRE(back->has_value());
  CHECK(**back == content);
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_uid == 1000);
  // No temporary file is left beside it.
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++n;
  CHECK(n == 1);

  auto rel = (*s)->writeFileAtomic("relative/path", "x", WriteOptions{}, within(10s));
  REQUIRE_FALSE(rel.ok());
  CHECK(contains(rel.error().message, "not an absolute file path"));
  auto nodir = (*s)->writeFileAtomic(sshd.dir() + "/nope/f", "x", WriteOptions{}, within(10s));
  REQUIRE_FALSE(nodir.ok());
  CHECK(contains(nodir.error().message, "cannot create a temporary file"));
}

TEST_CASE("a write cut off half way leaves the old file intact", "[ssh][sftp]") {
  PrivateSshd sshd;
  HostPool pool(sshd.config());
  std::string dir = sshd.dir() + "/files";
  fs::create_directories(dir);
  std::string path = dir + "/named.conf";
  writeText(path, "old contents\n", 0644);
  std::string content(2 << 20, 'n');

  SECTION("cancelled after the first chunk") {
    std::atomic<bool> cancel{false};
    WriteOptions w;
    w.onProgress = [&](size_t) { cancel = true; };
    auto r = pool.writeFileAtomic(path, content, w, CallOptions{Clock::time_point::max(), &cancel});
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, "cancelled (old file kept)"));
  }
  SECTION("the deadline passes mid-write") {
    WriteOptions w;
    w.onProgress = [&](size_t n) {
      if (n > 64 * 1024) std::this_thread::sleep_for(200ms);
    };
    auto r = pool.writeFileAtomic(path, content, w, within(300ms));
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, "deadline exceeded"));
  }
  SECTION("the connection drops mid-write") {
    WriteOptions w;
    bool killed = false;
    w.onProgress = [&](size_t n) {
      if (n > 64 * 1024 && !killed) {
        killed = true;
        sshd.stop();
      }
    };
    auto r = pool.writeFileAtomic(path, content, w, within(10s));
    REQUIRE_FALSE(r.ok());
    sshd.start();
  }
  CHECK(readText(path) == "old contents\n");
  // The pool still works afterwards.
  auto again = pool.exec("echo ok", within(10s));
  REQUIRE(again.ok());
  CHECK(again->out == "ok\n");
}

TEST_CASE("a stream to a remote unix socket carries the Docker API (GET /_ping)",
          "[ssh][streamlocal]") {
  if (::access("/var/run/docker.sock", R_OK | W_OK) != 0 ||
      sh("curl -s --max-time 5 --unix-socket /var/run/docker.sock http://d/_ping") != "OK")
    skipTest("no dockerd answering on /var/run/docker.sock (tests/fixtures/docker/ensure-dockerd.sh)",
             true);
  PrivateSshd sshd;
  HostPool pool(sshd.config());
  for (int i = 0; i < 2; ++i) {
    auto st = pool.openStreamLocal("/var/run/docker.sock", within(10s));
    REQUIRE(st.ok());
    REQUIRE((**st)->write("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n", within(10s)).ok());
    auto body = (**st)->readAll(within(10s));
    REQUIRE(body.ok());
    CHECK(body->rfind("HTTP/1.0 200 OK", 0) == 0);
    CHECK(body->size() >= 2);
    CHECK(body->substr(body->size() - 2) == "OK");
  }
  // Both streams ran on one pooled connection.
  CHECK(pool.stats().connects == 1);

  auto none = pool.openStreamLocal(sshd.dir() + "/no.sock", within(10s));
  REQUIRE_FALSE(none.ok());
  CHECK(contains(none.error().message, "cannot open a stream"));
}

TEST_CASE("a host that is down fails with a clear error within the deadline", "[ssh][faults]") {
  auto cfg = HostConfig{};
  cfg.name = "down";
  cfg.address = "127.0.0.1";
  cfg.privateKeyFile = "/nonexistent";
  cfg.knownHostsFile = "/nonexistent";

  SECTION("nothing listens: refused at once") {
    cfg.port = freePort();
    auto t0 = Clock::now();
    auto s = Session::open(cfg, within(5s));
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.error().message, "cannot connect"));
    CHECK(contains(s.error().message, "127.0.0.1:" + std::to_string(cfg.port)));
    CHECK(Clock::now() - t0 < 2s);
  }
  SECTION("something accepts but never speaks SSH: the deadline holds") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    cfg.port = ntohs(a.sin_port);
    auto t0 = Clock::now();
    auto s = Session::open(cfg, within(1500ms));
    auto took = Clock::now() - t0;
    ::close(fd);
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.error().message, "cannot connect"));
    CHECK(took >= 1200ms);
    CHECK(took < 3s);
  }
}

TEST_CASE("exec honours its deadline and cancellation", "[ssh][session]") {
  PrivateSshd sshd;
  HostPool pool(sshd.config());
  auto t0 = Clock::now();
  auto r = pool.exec("sleep 30", within(700ms));
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message, "deadline"));
  CHECK(Clock::now() - t0 < 3s);

  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  t0 = Clock::now();
  auto c = pool.exec("sleep 30", CallOptions{Clock::now() + 20s, &cancel});
  t.join();
  REQUIRE_FALSE(c.ok());
  CHECK(contains(c.error().message, "cancelled"));
  CHECK(Clock::now() - t0 < 3s);

  auto after = pool.exec("echo still", within(10s));
  REQUIRE(after.ok());
  CHECK(after->out == "still\n");
}

TEST_CASE("the pool reuses sessions, keeps them alive and reconnects after sshd restarts",
          "[ssh][pool]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  cfg.keepAliveInterval = 100ms;
  HostPool pool(cfg, 2);
  for (int i = 0; i < 3; ++i) REQUIRE(pool.exec("true", within(10s)).ok());
  CHECK(pool.stats().connects == 1);

  std::this_thread::sleep_for(150ms);
  pool.keepAlive(within(5s));
  CHECK(pool.stats().idle == 1);
  REQUIRE(pool.exec("true", within(10s)).ok());
  CHECK(pool.stats().connects == 1);

  // Concurrent callers get separate sessions, never more than the limit.
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      if (auto r = pool.exec("sleep 0.2; echo x", within(20s)); r.ok() && r->out == "x\n") ++ok;
    });
  for (auto& t : ts) t.join();
  CHECK(ok == 4);
  CHECK(pool.stats().connects == 2);

  sshd.restart();
  cfg.keepAliveInterval = std::chrono::hours(1);  // the pool's copy still probes at 100 ms
  auto r = pool.exec("echo back", within(10s));
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->out == "back\n");
  CHECK(pool.stats().connects >= 3);
}

TEST_CASE("the pool retries once on a fresh session when an idle one died unnoticed",
          "[ssh][pool]") {
  PrivateSshd sshd;
  auto cfg = sshd.config();
  cfg.keepAliveInterval = std::chrono::hours(1);  // no probe: the call itself finds it dead
  HostPool pool(cfg);
  REQUIRE(pool.exec("true", within(10s)).ok());
  sshd.restart();
  auto r = pool.exec("echo again", within(10s));
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->out == "again\n");
  CHECK(pool.stats().reconnects == 1);

  // Host down: the pool's error says so, within the deadline.
  sshd.stop();
  auto t0 = Clock::now();
  auto down = pool.exec("true", within(3s));
  REQUIRE_FALSE(down.ok());
  CHECK(contains(down.error().message, "cannot connect"));
  CHECK(Clock::now() - t0 < 4s);
  sshd.start();
}
