// Small parts of the daemon in isolation: durations, tokens, the run queue, metrics.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <catch2/catch.hpp>

#include "daemon/server/auth.h"
#include "daemon/server/daemon.h"
#include "daemon/server/http_server.h"
#include "daemon/server/metrics.h"
#include "daemon/server/run_queue.h"
#include "daemon/server/subprocess.h"
#include "tests/daemon/fixture.h"
#include "tests/support/skip.h"

using namespace tend;
using namespace tend::daemon;

TEST_CASE("durations parse like the spec's (30s, 5m, 1h30m) and reject junk", "[daemon][flags]") {
  std::chrono::seconds d;
  REQUIRE(parseDuration("30s", d));
  CHECK(d.count() == 30);
  REQUIRE(parseDuration("5m", d));
  CHECK(d.count() == 300);
  REQUIRE(parseDuration("1h30m", d));
  CHECK(d.count() == 5400);
  REQUIRE(parseDuration("45", d));
  CHECK(d.count() == 45);
  CHECK_FALSE(parseDuration("", d));
  CHECK_FALSE(parseDuration("5x", d));
  CHECK_FALSE(parseDuration("m5", d));
  CHECK_FALSE(parseDuration("5m3", d));
}

TEST_CASE("bearer tokens compare exactly and in constant time", "[daemon][auth]") {
  CHECK(bearerMatches("Bearer abc123", "abc123"));
  CHECK(bearerMatches("bearer abc123", "abc123"));
  CHECK_FALSE(bearerMatches("Bearer abc12", "abc123"));
  CHECK_FALSE(bearerMatches("Basic abc123", "abc123"));
  CHECK_FALSE(bearerMatches("", "abc123"));
  CHECK_FALSE(bearerMatches("Bearer ", "abc123"));
}

TEST_CASE("listen addresses parse for IPv4, IPv6 and bare ports", "[daemon][flags]") {
  std::string a;
  unsigned short p = 0;
  REQUIRE(parseAddrPort("127.0.0.1:9469", a, p));
  CHECK(a == "127.0.0.1");
  CHECK(p == 9469);
  REQUIRE(parseAddrPort("[::1]:80", a, p));
  CHECK(a == "::1");
  REQUIRE(parseAddrPort(":9469", a, p));
  CHECK(a == "0.0.0.0");
  CHECK_FALSE(parseAddrPort("localhost", a, p));
  CHECK_FALSE(parseAddrPort("1.2.3.4:99999", a, p));
}

TEST_CASE("run queue coalesces waiting jobs: union of resources, all wins", "[daemon][queue]") {
  Job a;
  a.resources = std::set<std::string>{"x"};
  a.onlyIfChanged = true;
  Job b;
  b.resources = std::set<std::string>{"y"};
  a.absorb(std::move(b));
  CHECK(a.resources == std::set<std::string>{"x", "y"});
  CHECK_FALSE(a.onlyIfChanged);
  Job all;
  a.absorb(std::move(all));
  CHECK_FALSE(a.resources.has_value());
}

TEST_CASE("run queue runs jobs in order and tells waiters on close", "[daemon][queue]") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::string> seen;
  RunQueue q([&](Job& j) {
    std::unique_lock lk(mu);
    seen.push_back(j.trigger);
    cv.wait(lk, [&] { return release; });
    for (auto& w : j.waiters) w.finished(JobOutcome{});
  });
  q.start();
  Job first;
  first.trigger = "one";
  q.submit(std::move(first));
  for (int i = 0; i < 100 && !q.busy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::atomic<int> told{0};
  for (int i = 0; i < 3; ++i) {
    Job j;
    j.trigger = "two";
    j.waiters.push_back(Waiter{nullptr, [&](const JobOutcome&) { ++told; }, nullptr});
    q.submit(std::move(j));
  }
  CHECK(q.pending() == 1);
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 200 && told < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(told == 3);
  CHECK(seen == std::vector<std::string>{"one", "two"});
  q.close();
  CHECK(q.join(std::chrono::seconds(2)));
  bool refused = false;
  Job late;
  late.waiters.push_back(Waiter{nullptr, [&](const JobOutcome& o) { refused = !o.ran && !o.error.empty(); }, nullptr});
  CHECK_FALSE(q.submit(std::move(late)));
  CHECK(refused);
}

TEST_CASE("metrics expose every contract series at zero from start-up", "[daemon][metrics]") {
  Metrics m({"docker", "bind9"});
  auto text = m.render();
  for (const char* s :
       {"tend_reconcile_runs_total{result=\"success\"} 0", "tend_reconcile_runs_total{result=\"failed\"} 0",
        "tend_reconcile_runs_total{result=\"partial\"} 0", "tend_reconcile_runs_total{result=\"cancelled\"} 0",
        "tend_reconcile_duration_seconds_count 0", "tend_resources{kind=\"container\",phase=\"ready\"} 0",
        "tend_drift_corrections_total{kind=\"container\"} 0",
        "tend_provider_requests_total{outcome=\"ok\",provider=\"docker\"} 0",
        "tend_provider_requests_total{outcome=\"error\",provider=\"bind9\"} 0",
        "tend_provider_request_duration_seconds_count{provider=\"docker\"} 0",
        "tend_spec_revision_info{revision=\"none\"} 1", "tend_spec_load_errors_total 0",
        "tend_last_success_timestamp_seconds 0", "tend_workqueue_depth 0", "process_resident_memory_bytes ",
        "process_start_time_seconds "})
    CHECK(text.find(s) != std::string::npos);
  CHECK(processResidentBytes() > 1e6);
  CHECK(processStartTimeSeconds() > 1.6e9);
}

TEST_CASE("metrics follow the engine and the spec", "[daemon][metrics]") {
  Metrics m({"docker"});
  m.runFinished("partial", 2.5);
  m.providerRequest("docker", "error", 0.2);
  m.resourceCounts({{{"container", "ready"}, 3}, {{"zone", "failed"}, 1}});
  m.specRevision("abc123");
  m.specLoadError();
  m.workqueueDepth(7);
  auto text = m.render();
  CHECK(text.find("tend_reconcile_runs_total{result=\"partial\"} 1") != std::string::npos);
  CHECK(text.find("tend_provider_requests_total{outcome=\"error\",provider=\"docker\"} 1") != std::string::npos);
  CHECK(text.find("tend_resources{kind=\"container\",phase=\"ready\"} 3") != std::string::npos);
  CHECK(text.find("tend_resources{kind=\"zone\",phase=\"failed\"} 1") != std::string::npos);
  CHECK(text.find("tend_spec_revision_info{revision=\"abc123\"} 1") != std::string::npos);
  CHECK(text.find("revision=\"none\"") == std::string::npos);
  CHECK(text.find("tend_spec_load_errors_total 1") != std::string::npos);
  CHECK(text.find("tend_workqueue_depth 7") != std::string::npos);
  m.resourceCounts({{{"container", "ready"}, 1}});
  CHECK(m.render().find("tend_resources{kind=\"zone\",phase=\"failed\"} 0") != std::string::npos);
}

TEST_CASE("promtool check metrics finds nothing to fix", "[daemon][metrics][promtool]") {
  tend::testing::requirePrograms({"promtool"});
  Metrics m({"docker", "bind9"});
  m.runFinished("success", 1);
  m.specRevision("deadbeef");
  test::TempDir dir;
  test::writeFile(dir.path() + "/metrics.txt", m.render());
  auto r = runProcess({"sh", "-c", "promtool check metrics < " + dir.path() + "/metrics.txt"});
  INFO(r.output);
  CHECK(r.exitCode == 0);
  CHECK(r.output.find("tend_") == std::string::npos);
}

TEST_CASE("subprocesses report exit code and output, and are killed at the deadline", "[daemon][exec]") {
  auto ok = runProcess({"sh", "-c", "echo hi; echo err >&2; exit 3"});
  CHECK(ok.exitCode == 3);
  CHECK(ok.output.find("hi") != std::string::npos);
  CHECK(ok.output.find("err") != std::string::npos);
  auto slow = runProcess({"sleep", "5"}, std::chrono::milliseconds(200));
  CHECK(slow.timedOut);
  auto missing = runProcess({"/nonexistent/prog"});
  CHECK(missing.exitCode != 0);
}

TEST_CASE("a subprocess gets no descriptor but stdin, stdout and stderr (a child of a killed tendd must not "
          "keep its listening socket)",
          "[daemon][exec]") {
  // A listening socket without close-on-exec, as Asio makes them.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd > 2);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0);
  auto r = runProcess({"sh", "-c", "ls /proc/$$/fd; test -e /proc/$$/fd/" + std::to_string(fd) + " && echo inherited"});
  ::close(fd);
  INFO(r.output);
  CHECK(r.exitCode == 1);
  CHECK(r.output.find("inherited") == std::string::npos);
}

TEST_CASE("a sealed memfd holds the body exactly and refuses writes", "[daemon][http][status]") {
  const std::string text = "{\"resources\":[]}\n";
  int fd = daemon::sealedMemfd(text);
  REQUIRE(fd >= 0);
  char buf[64] = {};
  REQUIRE(::pread(fd, buf, sizeof buf, 0) == static_cast<ssize_t>(text.size()));
  CHECK(std::string(buf, text.size()) == text);
  CHECK(::write(fd, "x", 1) < 0);
  CHECK(::ftruncate(fd, 0) != 0);
  ::close(fd);
}

TEST_CASE("sendfile to a peer that has gone reports EPIPE instead of raising SIGPIPE",
          "[daemon][http][status]") {
  // SIGPIPE keeps its default action here: without the guard this test process would die.
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  ::close(sv[1]);
  int fd = daemon::sealedMemfd("some body\n");
  REQUIRE(fd >= 0);
  off_t off = 0;
  errno = 0;
  CHECK(daemon::sendfileNoSignal(sv[0], fd, &off, 10) < 0);
  CHECK(errno == EPIPE);
  sigset_t pending;
  sigpending(&pending);
  CHECK(!sigismember(&pending, SIGPIPE));  // taken back, nothing left to fire later
  ::close(fd);
  ::close(sv[0]);
}
