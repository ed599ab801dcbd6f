// Per-call cancellation and scope errors of the Docker provider, against sockets that do not
// need dockerd: one that accepts and never answers (a hung daemon), one that does not exist.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "providers/docker/docker_provider.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
using namespace std::chrono_literals;

namespace {

// Listens on a unix socket, accepts, reads nothing and answers nothing.
struct HungDaemon {
  std::string path;
  int fd = -1;
  std::vector<int> conns;
  std::thread t;
  std::atomic<bool> stop{false};
  HungDaemon() {
    path = "/tmp/tend-hung-" + std::to_string(::getpid()) + "-" + std::to_string(rand()) + ".sock";
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    t = std::thread([this] {
      while (!stop) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) break;
        conns.push_back(c);
      }
    });
  }
  ~HungDaemon() {
    stop = true;
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    t.join();
    for (int c : conns) ::close(c);
    ::unlink(path.c_str());
  }
};

DesiredResource container(const std::string& name) {
  DesiredResource r;
  r.id = "container/cancel/" + name;
  r.kind = "container";
  r.provider = "docker";
  r.spec = {{"name", name}, {"image", "busybox:latest"}};
  r.hash = "h";
  return r;
}

std::unique_ptr<Provider> providerAt(const std::string& transport) {
  ProviderConfig cfg;
  cfg.environment = "cancel";
  cfg.config = {{"transport", transport}};
  auto p = docker::makeDockerProvider(cfg);
  REQUIRE(p.ok());
  return std::move(p).value();
}

}  // namespace

TEST_CASE("a docker call blocked on a hung daemon ends when it is cancelled", "[docker][cancel]") {
  HungDaemon hung;
  auto p = providerAt("unix:" + hung.path);
  auto c = container("x");
  testing::ConformanceOptions o;
  o.blockingCall = [&](const CallContext& ctx) {
    ObserveRequest req;
    req.desired = {&c};
    req.ctx = ctx;
    auto resp = p->observe(req);
    CHECK(resp.scopeError.has_value());
    if (resp.scopeError) CHECK(resp.scopeError->message.find("cancelled") != std::string::npos);
  };
  // Only obligation 13 applies here: the suite with no samples runs just it.
  testing::runProviderConformance(*p, {}, testing::conformanceContext(), o);
}

TEST_CASE("an unreachable docker endpoint is one scope error for all its resources", "[docker][cancel]") {
  auto p = providerAt("unix:/tmp/tend-no-such-docker.sock");
  auto a = container("a"), b = container("b");
  ObserveRequest req;
  req.desired = {&a, &b};
  req.ctx = testing::conformanceContext();
  auto resp = p->observe(req);
  REQUIRE(resp.scopeError.has_value());
  CHECK_FALSE(resp.scopeError->message.empty());
  REQUIRE(resp.errors.size() == 2);
  CHECK(resp.errors[a.id].message == resp.errors[b.id].message);
}
